/**
 * A lock file that serialises writers across processes, such as the
 * read-modify-write of an image layout's `index.json`.
 *
 * The lock is the file itself: it is created with `createNew` (O_EXCL), holds
 * `{"pid", "hostname", "time"}` for whoever has to find out who is holding it,
 * and is removed on release. Waiters retry with short, growing sleeps until a
 * timeout.
 *
 * A holder that dies leaves the file behind. To tell such a stale lock from a
 * live one without races, the holder also keeps an exclusive kernel lock
 * (`flock`) on the file's inode, which the kernel drops when the process dies:
 *
 * - The holder creates the file, takes the kernel lock, then checks that the
 *   path still names its inode; only then does it hold the lock. It removes the
 *   path before closing the file.
 * - A waiter breaks a lock only while it holds that inode's kernel lock itself,
 *   and only if the path still names that inode. Holding the kernel lock proves
 *   that no process holds the lock file, and that nobody else can remove it
 *   meanwhile, so the removal never hits a newer lock.
 *
 * A lock is broken when its holder wrote this host's name (the kernel lock is
 * then authoritative), or when the file is older than `staleMs` (another host,
 * where a network file system may not share kernel locks, or a holder that died
 * before writing its name). A file system without `flock` keeps O_EXCL
 * exclusion, but its locks are never broken automatically.
 *
 * @example
 * ```ts
 * import { withLock } from "./lock.ts";
 * const count = await withLock("/tmp/counter.lock", async () => 42);
 * ```
 * @module
 */
import { OcisyncError } from "../errors/mod.ts";
import { statOrUndefined } from "./stat.ts";

/** Options of {@linkcode withLock}. */
export interface LockOptions {
  /** How long to wait for another holder, in milliseconds. Default: 30 000. */
  timeoutMs?: number;
  /** The age after which a lock from another host is broken, in milliseconds. Default: 5 min. */
  staleMs?: number;
}

/** What a lock file says about its holder. */
interface Holder {
  pid?: number;
  hostname?: string;
  time?: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_STALE_MS = 5 * 60_000;
const MAX_SLEEP_MS = 200;

/**
 * Runs `fn` while holding the lock file `path`, and always releases it.
 *
 * @throws {OcisyncError} when the lock is still held by another process after
 * `options.timeoutMs`; the message names that process.
 * @example
 * ```ts
 * import { withLock } from "./lock.ts";
 * await withLock("/tmp/layout/index.json.lock", async () => {
 *   // read, change and write index.json
 * }, { timeoutMs: 5_000 });
 * ```
 */
export async function withLock<T>(
  path: string,
  fn: () => Promise<T>,
  options: LockOptions = {},
): Promise<T> {
  const file = await acquire(path, options);
  try {
    return await fn();
  } finally {
    // Remove before closing: the kernel lock keeps breakers away until the path is gone.
    await Deno.remove(path).catch(() => {});
    file.close();
  }
}

async function acquire(path: string, options: LockOptions): Promise<Deno.FsFile> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0;; attempt++) {
    const file = await tryCreate(path);
    if (file) return file;
    if (await breakIfStale(path, options.staleMs ?? DEFAULT_STALE_MS)) continue;
    if (Date.now() >= deadline) {
      const holder = await readHolder(path);
      throw new OcisyncError(
        `timed out after ${timeoutMs / 1000} s waiting for the lock ${path}` +
          (holder ? `, held by ${describe(holder)}` : ""),
        { hint: `if no ocisync process is using it any more, delete ${path}` },
      );
    }
    // Jittered, so that waiters started together do not retry in step.
    const sleep = Math.min(5 * 2 ** attempt, MAX_SLEEP_MS) * (0.5 + Math.random());
    await new Promise((resolve) => setTimeout(resolve, sleep));
  }
}

/** Creates the lock file; `undefined` when another process has it. */
async function tryCreate(path: string): Promise<Deno.FsFile | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true, write: true, createNew: true });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return undefined;
    throw new OcisyncError(`cannot create the lock ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    // Kernel lock first, name second: a breaker that reads no host name waits `staleMs`.
    const locked = await file.tryLock(true).catch(() => true);
    if (locked && sameFile(await file.stat(), await statOrUndefined(path))) {
      const holder: Holder = {
        pid: Deno.pid,
        hostname: hostname(),
        time: new Date().toISOString(),
      };
      await file.write(new TextEncoder().encode(JSON.stringify(holder)));
      return file;
    }
  } catch (error) {
    file.close();
    throw error;
  }
  // A breaker took this inode before us and removes it: retry.
  file.close();
  return undefined;
}

/** Removes the lock file when its holder is gone; true when the caller should retry at once. */
async function breakIfStale(path: string, staleMs: number): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return true;
    throw error;
  }
  try {
    const info = await file.stat();
    const holder = parseHolder(await readSmall(file));
    const local = holder?.hostname !== undefined && holder.hostname === hostname();
    const old = Date.now() - (info.mtime?.getTime() ?? 0) > staleMs;
    if (!local && !old) return false;
    if (!await file.tryLock(true).catch(() => false)) return false;
    if (sameFile(info, await statOrUndefined(path))) await Deno.remove(path);
    return true;
  } finally {
    file.close();
  }
}

/** The first bytes of a file, read without closing it (closing would drop the kernel lock). */
async function readSmall(file: Deno.FsFile): Promise<Uint8Array> {
  const buffer = new Uint8Array(4096);
  let length = 0;
  while (length < buffer.length) {
    const n = await file.read(buffer.subarray(length));
    if (n === null) break;
    length += n;
  }
  return buffer.subarray(0, length);
}

async function readHolder(path: string): Promise<Holder | undefined> {
  return parseHolder(await Deno.readFile(path).catch(() => new Uint8Array()));
}

function parseHolder(bytes: Uint8Array): Holder | undefined {
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes));
    return typeof value === "object" && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

function describe(holder: Holder): string {
  return `pid ${holder.pid ?? "?"} on host ${holder.hostname ?? "?"} since ${holder.time ?? "?"}`;
}

/** This host's name, when the permission to read it was granted (no prompt). */
function hostname(): string | undefined {
  const permission = Deno.permissions.querySync({ name: "sys", kind: "hostname" });
  return permission.state === "granted" ? Deno.hostname() : undefined;
}

function sameFile(a: Deno.FileInfo, b: Deno.FileInfo | undefined): boolean {
  return b !== undefined && a.dev === b.dev && a.ino === b.ino;
}
