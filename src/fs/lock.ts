/**
 * Lock files that make one process the only one to do something across processes: the
 * read-modify-write of an image layout's `index.json`, or a `sync` that owns a folder and a
 * state file for its whole life.
 *
 * The lock is the file itself: it is created with `createNew` (O_EXCL), holds
 * `{"pid", "hostname", "time"}` for whoever has to find out who is holding it,
 * and is removed on release.
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
 * before writing its name). A holder on a full disk, which has no room for its
 * name, holds the empty file, guarded by the kernel lock alone: an empty file
 * whose kernel lock is free is broken once it is two seconds old (younger, its
 * maker may be between creating and locking it). A holder refreshes the file's
 * mtime while it holds the lock, so a long-held lock never looks stale to
 * another host. A file system without `flock` keeps O_EXCL exclusion, but its
 * locks are never broken automatically.
 *
 * @example
 * ```ts
 * import { FileLock, withLock } from "./lock.ts";
 * const count = await withLock("/tmp/counter.lock", async () => 42);
 * const lock = await FileLock.tryAcquire("/tmp/owner.lock"); // undefined when held
 * await lock?.release();
 * ```
 * @module
 */
import { OcisyncError } from "../errors/mod.ts";
import { isOutOfSpace } from "../errors/os.ts";
import { markTemporary, unmarkTemporary } from "./interrupted.ts";
import { readUpTo } from "./read.ts";
import { fileKind, lstatOrUndefined, sameFile, statOrUndefined, tryLstat } from "./stat.ts";

/** Options of {@linkcode FileLock.acquire} and {@linkcode withLock}. */
export interface LockOptions {
  /** How long to wait for another holder, in milliseconds. Default: 30 000. */
  timeoutMs?: number;
  /** The age after which a lock from another host is broken, in milliseconds. Default: 5 min. */
  staleMs?: number;
}

/**
 * What a lock file says about its holder; a field is missing when the holder did not write it
 * (yet).
 *
 * @example
 * ```ts
 * import type { LockHolder } from "./lock.ts";
 * const holder: LockHolder = { pid: 42, hostname: "worker-1", time: "2025-01-01T00:00:00.000Z" };
 * ```
 */
export interface LockHolder {
  /** The holder's process id. */
  pid?: number;
  /** The holder's host name. */
  hostname?: string;
  /** When it took the lock, as an ISO 8601 time. */
  time?: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_STALE_MS = 5 * 60_000;
const MAX_SLEEP_MS = 200;
/** Breaking a stale lock and creating a new one can lose to another process; this many times. */
const MAX_BREAKS = 10;
/**
 * How old an empty lock file must be before a free kernel lock on it breaks it: its maker creates
 * it, then locks it and writes its name at once, or keeps it empty and locked on a full disk.
 */
const EMPTY_GRACE_MS = 2_000;
/** A holder record is a line of JSON: more than this is not one of ours. */
const HOLDER_READ_BYTES = 4096;
/**
 * How long the open of a lock file that looked like a regular file may take: anything but a
 * fifo put in its place since opens at once (a fifo waits for a writer without end).
 */
const LOCK_OPEN_MS = 5_000;

/**
 * A lock file held by this process, until {@linkcode FileLock.release}.
 *
 * @example
 * ```ts
 * import { FileLock } from "./lock.ts";
 * const lock = await FileLock.acquire("/tmp/work.lock", { timeoutMs: 5_000 });
 * try {
 *   // only one process at a time gets here
 * } finally {
 *   await lock.release();
 * }
 * ```
 */
export class FileLock implements AsyncDisposable {
  /** The lock file. */
  readonly path: string;
  #file: Deno.FsFile;
  /** The first refresh's web timer, and what it calls, until it fires or the lock goes. */
  #first?: { signal: AbortSignal; fire: () => void };
  #refresh?: ReturnType<typeof setInterval>;
  #released = false;

  private constructor(path: string, file: Deno.FsFile, staleMs: number) {
    this.path = path;
    this.#file = file;
    // Keeps the lock young for other hosts, which judge it by its age. The first refresh waits
    // on a web timer: Deno's `setInterval` loads part of its Node layer (`node:timers`, 10 ms
    // or more), which a command that ends before the first refresh, as most do, never needs. While
    // that timer is pending, a held lock keeps the process alive (for up to `staleMs / 3`).
    const every = Math.max(1000, staleMs / 3);
    const refresh = () => {
      const now = new Date();
      file.utime(now, now).catch(() => {});
    };
    const fire = () => {
      this.#first = undefined;
      refresh();
      this.#refresh = setInterval(refresh, every);
      Deno.unrefTimer(this.#refresh);
    };
    this.#first = { signal: AbortSignal.timeout(every), fire };
    this.#first.signal.addEventListener("abort", fire, { once: true });
  }

  /**
   * Takes the lock `path`, waiting up to `options.timeoutMs` for another holder, and breaking a
   * stale lock at once.
   *
   * @throws {OcisyncError} when another process still holds the lock after the timeout; the
   * message names that process. Also when the lock file cannot be created.
   * @example
   * ```ts
   * import { FileLock } from "./lock.ts";
   * const lock = await FileLock.acquire("/tmp/layout/index.json.lock");
   * await lock.release();
   * ```
   */
  static async acquire(path: string, options: LockOptions = {}): Promise<FileLock> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0;; attempt++) {
      const lock = await FileLock.tryAcquire(path, options);
      if (lock) return lock;
      if (Date.now() >= deadline) {
        const holder = await readLockHolder(path);
        throw new OcisyncError(
          `timed out after ${timeoutMs / 1000} s waiting for the lock ${path}` +
            (holder ? `, held by ${describeLockHolder(holder)}` : ""),
          { hint: `if no ocisync process is using it any more, delete ${path}` },
        );
      }
      // Jittered, so that waiters started together do not retry in step.
      const sleep = Math.min(5 * 2 ** attempt, MAX_SLEEP_MS) * (0.5 + Math.random());
      await new Promise((resolve) => setTimeout(resolve, sleep));
    }
  }

  /**
   * Takes the lock `path` at once, breaking a stale lock first; `undefined` when a live process
   * holds it. {@linkcode readLockHolder} then tells who.
   *
   * @throws {OcisyncError} when the lock file cannot be created.
   * @example
   * ```ts
   * import { FileLock } from "./lock.ts";
   * const lock = await FileLock.tryAcquire("/srv/flows/.ocisync.lock");
   * if (!lock) console.error("another process owns /srv/flows");
   * ```
   */
  static async tryAcquire(
    path: string,
    options: Pick<LockOptions, "staleMs"> = {},
  ): Promise<FileLock | undefined> {
    const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
    for (let breaks = 0; breaks <= MAX_BREAKS; breaks++) {
      const file = await tryCreate(path);
      if (file) return new FileLock(path, file, staleMs);
      if (!await breakIfStale(path, staleMs)) return undefined;
    }
    return undefined;
  }

  /**
   * Removes the lock file, if the path still names it, and drops the kernel lock. A lock file
   * deleted by hand (as the timeout's hint offers) may have been replaced by another process's
   * since: that one is left alone. Calling it again does nothing.
   *
   * @example
   * ```ts
   * import { FileLock } from "./lock.ts";
   * const lock = await FileLock.acquire("/tmp/work.lock");
   * await lock.release();
   * ```
   */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    unmarkTemporary(this.path);
    this.#first?.signal.removeEventListener("abort", this.#first.fire);
    // Only when set: `clearInterval` alone loads the Node layer's timers too.
    if (this.#refresh !== undefined) clearInterval(this.#refresh);
    // Remove before closing: the kernel lock keeps breakers away until the path is gone.
    const [held, named] = await Promise.all([
      this.#file.stat(),
      Deno.lstat(this.path).catch(() => undefined),
    ]);
    if (sameFile(held, named)) await Deno.remove(this.path).catch(() => {});
    this.#file.close();
  }

  /**
   * Whether the path still names the file this lock holds: false once it was removed (by hand,
   * with the folder it was in) or replaced. Another process may then take the lock at that path,
   * so a holder for life asks this before each step that the lock guards.
   *
   * @example
   * ```ts
   * import { FileLock } from "./lock.ts";
   * const lock = await FileLock.acquire("/tmp/work.lock");
   * await Deno.remove("/tmp/work.lock");
   * await lock.named(); // false
   * ```
   */
  async named(): Promise<boolean> {
    if (this.#released) return false;
    // A folder on the way replaced by a file (ENOTDIR) names no file either.
    return sameFile(await this.#file.stat(), tryLstat(this.path));
  }

  /** Releases the lock, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

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
  const lock = await FileLock.acquire(path, options);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/**
 * What the lock file `path` says about its holder; `undefined` when it is gone or says nothing
 * yet.
 *
 * @example
 * ```ts
 * import { readLockHolder } from "./lock.ts";
 * const holder = await readLockHolder("/srv/flows/.ocisync.lock");
 * console.log(holder?.pid);
 * ```
 */
export async function readLockHolder(path: string): Promise<LockHolder | undefined> {
  try {
    const opened = await openLockFile(path);
    if (opened === undefined) return undefined;
    using file = opened.file;
    return parseHolder(await readUpTo(file, HOLDER_READ_BYTES, true));
  } catch {
    return undefined;
  }
}

/**
 * A holder in words: `pid 42 on host worker-1 since 2025-01-01T00:00:00.000Z`, with `?` for
 * what it did not write.
 *
 * @example
 * ```ts
 * import { describeLockHolder } from "./lock.ts";
 * describeLockHolder({ pid: 42 }); // "pid 42 on host ? since ?"
 * ```
 */
export function describeLockHolder(holder: LockHolder): string {
  return `pid ${holder.pid ?? "?"} on host ${holder.hostname ?? "?"} since ${holder.time ?? "?"}`;
}

/** Creates the lock file; `undefined` when another process has it. */
async function tryCreate(path: string): Promise<Deno.FsFile | undefined> {
  let file: Deno.FsFile;
  try {
    // Made synchronously, and marked in the same turn: a stop signal handled in between, while
    // the runtime's thread pool made it, would leave it. A stopped process removes it, unless
    // it is no longer this lock's (see `release`).
    file = Deno.openSync(path, { read: true, write: true, createNew: true });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return undefined;
    throw new OcisyncError(`cannot create the lock ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  markTemporary(path, () => {
    try {
      return sameFile(file.statSync(), Deno.lstatSync(path));
    } catch {
      return false;
    }
  });
  try {
    // Kernel lock first, name second: a breaker that reads no name waits `EMPTY_GRACE_MS`, and
    // then for the kernel lock.
    const locked = await file.tryLock(true).catch(() => true);
    if (locked && sameFile(await file.stat(), statOrUndefined(path))) {
      const holder: LockHolder = {
        pid: Deno.pid,
        hostname: hostname(),
        time: new Date().toISOString(),
      };
      await file.write(new TextEncoder().encode(JSON.stringify(holder))).catch((error) => {
        // A full disk has no room for the name, but the lock needs none: the kernel lock holds
        // this host's waiters off, and the empty file is removed on release (or, once its kernel
        // lock is free, broken at once), so that gc can still free space.
        if (!isOutOfSpace(error)) throw error;
      });
      return file;
    }
  } catch (error) {
    unmarkTemporary(path);
    // A lock that failed is not held: it goes, while it is still the file made here.
    const made = await file.stat().catch(() => undefined);
    if (made && sameFile(made, tryLstat(path))) {
      await Deno.remove(path).catch(() => {});
    }
    file.close();
    throw new OcisyncError(`cannot write the lock ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  // A breaker took this inode before us and removes it: retry.
  unmarkTemporary(path);
  file.close();
  return undefined;
}

/**
 * The lock file at `path`, open for reading, and its `stat`; `undefined` when it is gone, or was
 * replaced while it was opened. Anything but a regular file there is no lock of ours, and is
 * refused unopened: a fifo (or a link to one, or to a terminal) would make the open wait for a
 * writer without end, whoever may write the folder put it there (a lock beside an archive in
 * `/tmp`). One put in place of a regular file after the look is waited for `LOCK_OPEN_MS`.
 *
 * @throws {OcisyncError} naming what is there instead.
 */
async function openLockFile(
  path: string,
): Promise<{ file: Deno.FsFile; info: Deno.FileInfo } | undefined> {
  const found = lstatOrUndefined(path);
  if (found === undefined) return undefined;
  if (!found.isFile) {
    throw new OcisyncError(`${path} is a ${fileKind(found)}, not a lock file`, {
      hint: `if no ocisync process is using it, delete ${path}`,
    });
  }
  // Through the thread pool, so that the wait below can end it.
  const opening = Deno.open(path, { read: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let file: Deno.FsFile;
  try {
    file = await new Promise<Deno.FsFile>((resolve, reject) => {
      timer = setTimeout(() => {
        reject(
          new OcisyncError(`${path} did not open in ${LOCK_OPEN_MS / 1000} s: no lock file does`, {
            hint: `if no ocisync process is using it, delete ${path}`,
          }),
        );
      }, LOCK_OPEN_MS);
      opening.then(resolve, reject);
    });
  } catch (error) {
    // Closed should it ever open.
    opening.then((late) => late.close(), () => {});
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  } finally {
    clearTimeout(timer);
  }
  const info = await file.stat();
  if (sameFile(info, found)) return { file, info };
  file.close();
  return undefined;
}

/** Removes the lock file when its holder is gone; true when the caller should retry at once. */
async function breakIfStale(path: string, staleMs: number): Promise<boolean> {
  const opened = await openLockFile(path);
  if (opened === undefined) return true;
  const { file, info } = opened;
  try {
    const said = await readUpTo(file, HOLDER_READ_BYTES, true);
    const holder = parseHolder(said);
    const local = holder?.hostname !== undefined && holder.hostname === hostname();
    const age = Date.now() - (info.mtime?.getTime() ?? 0);
    // Empty: a holder on a full disk, which the kernel lock alone says is alive.
    const unnamed = said.length === 0 && age > EMPTY_GRACE_MS;
    if (!local && !unnamed && age <= staleMs) return false;
    if (!await file.tryLock(true).catch(() => false)) return false;
    if (sameFile(info, statOrUndefined(path))) await Deno.remove(path);
    return true;
  } finally {
    file.close();
  }
}

function parseHolder(bytes: Uint8Array): LockHolder | undefined {
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes));
    return typeof value === "object" && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

/** This host's name, when the permission to read it was granted (no prompt). */
function hostname(): string | undefined {
  const permission = Deno.permissions.querySync({ name: "sys", kind: "hostname" });
  return permission.state === "granted" ? Deno.hostname() : undefined;
}
