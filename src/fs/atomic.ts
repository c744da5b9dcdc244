/**
 * Atomic file writes: write to a temporary file beside the target, then
 * rename. Readers see the old file or the whole new one, never a part, and a
 * failure leaves nothing behind.
 *
 * Only a regular file (or a path that does not exist yet) is replaced that
 * way. A symlink to a regular file stays a link: its target is replaced. A
 * fifo or a device (`/dev/null`) is written through, the way `tar -f` writes
 * to one: a rename over it would turn it into a regular file, which as root
 * could replace `/dev/null` for the whole host. The names of the process's
 * own standard output and error (`/dev/stdout`, `/proc/self/fd/2`, or a link
 * to one) write to that stream, whatever it is: the runtime allows no other
 * access to `/proc` and `/dev/fd` without every permission. A write through
 * cannot be atomic.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./atomic.ts";
 * await writeFileAtomic("state.json", [new TextEncoder().encode("{}")]);
 * ```
 * @module
 */
import { NotFoundError, OcisyncError, UsageError } from "../errors/mod.ts";
import { lstatOrUndefined, processUid } from "./stat.ts";
import { markTemporary, unmarkTemporary } from "./interrupted.ts";
import { isAbsolute, lastSeparator } from "./paths.ts";

const WRITE_SIZE = 1024 * 1024;
/** The longest file name most file systems take (NAME_MAX), in bytes. */
const NAME_MAX = 255;
/** Linux's own limit on the symlinks followed in one path (MAXSYMLINKS). */
const MAX_LINKS = 40;
const encoder = new TextEncoder();

/** Options of {@linkcode writeFileAtomic}. */
export interface AtomicWriteOptions {
  /**
   * The file mode, e.g. 0o600 for credentials. Default: the mode of the regular file replaced
   * (a 0600 file stays private), else 0o666; less the umask either way, as `cp` and `tar` make
   * files (under a umask of 0, a new file is one that every user may write).
   */
  mode?: number;
  /**
   * Replace `path` itself, whatever is there but a folder: a symlink is replaced, never
   * followed, and a fifo or a device is replaced, never written through. For the files of a
   * store that ocisync keeps (a layout's blobs, `index.json`, `oci-layout`): whoever may write
   * into the store must not be able to lead a write out of it with a link.
   */
  replacePath?: boolean;
}

/**
 * How {@linkcode writeFileAtomic} writes a path: `replace` a regular file (or
 * create one) by a rename; write `through` a fifo or a device in place; or
 * write to the process's own `stdout` or `stderr`.
 */
export type WriteMode = "replace" | "through" | "stdout" | "stderr";

/** Where and how a path is written. */
export interface Destination {
  /** The path to write: the final target of any symlinks. */
  path: string;
  /** How it is written. */
  mode: WriteMode;
}

/** The names of this process's open files: `/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N`. */
const STREAM_NAME =
  /^\/(?:dev\/(?<dev>stdin|stdout|stderr)|dev\/fd\/(?<fd>\d+)|proc\/(?<proc>self|thread-self|\d+)\/fd\/(?<procFd>\d+))$/;
const STREAMS: Record<string, WriteMode> = {
  stdout: "stdout",
  stderr: "stderr",
  "1": "stdout",
  "2": "stderr",
};

/**
 * Writes a stream of bytes to `path` atomically. The temporary file is named
 * `.<name>.<random>.tmp` in the same folder, so the rename never crosses file
 * systems. A `path` that is not a regular file, such as a fifo or
 * `/dev/null`, is written through instead and never replaced; a symlink to a
 * regular file stays a link, and its target is replaced; `/dev/stdout` (or a
 * link to it) writes to standard output.
 *
 * @throws {NotFoundError} naming `path` when its folder does not exist.
 * @throws {OcisyncError} naming `path` when it cannot be written, e.g. a folder.
 * Errors of `bytes` itself pass unchanged.
 */
export async function writeFileAtomic(
  path: string,
  bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const destination = options.replacePath ? pathItself(path) : await destinationOf(path);
  switch (destination.mode) {
    case "replace":
      return await writeReplacing(path, destination.path, bytes, options);
    case "through":
      return await writeThrough(path, destination.path, bytes);
    case "stdout":
      return await writeAll(Deno.stdout, bytes, path);
    case "stderr":
      return await writeAll(Deno.stderr, bytes, path);
  }
}

/**
 * Where and how {@linkcode writeFileAtomic} would write `path`: the final target of its links,
 * and the mode. Only `replace` leaves a file that can be read back afterwards; its temporary
 * file is made beside that target.
 *
 * @throws {OcisyncError} naming `path` when it cannot be written, e.g. a folder.
 * @example
 * ```ts
 * import { destinationOf } from "./atomic.ts";
 * (await destinationOf("/dev/null")).mode; // "through"
 * (await destinationOf("/dev/stdout")).mode; // "stdout"
 * ```
 */
export async function destinationOf(path: string): Promise<Destination> {
  let current = path;
  for (let links = 0; links <= MAX_LINKS; links++) {
    const stream = streamOf(current, path);
    if (stream) return { path: current, mode: stream };
    const info = lstatWriting(current, path);
    if (info === undefined || info.isFile) return { path: current, mode: "replace" };
    if (info.isDirectory) throw new OcisyncError(`cannot write ${path}: it is a folder`);
    if (!info.isSymlink) return { path: current, mode: "through" };
    refuseOthersLinkAsRoot(path, current, info);
    current = linkTarget(current, await osCall(path, () => Deno.readLink(current)));
  }
  throw new OcisyncError(`cannot write ${path}: more than ${MAX_LINKS} symbolic links`);
}

/**
 * As root, refuses to follow `link`, a link of another user's on the way to `path`: the link is
 * read, never opened, so the kernel's `protected_symlinks` does not stop root from replacing the
 * file it names (another user's `/tmp/out.tar.gz -> /etc/shadow`). Root's own links are followed,
 * as dotfile managers link files.
 */
function refuseOthersLinkAsRoot(path: string, link: string, info: Deno.FileInfo): void {
  if (processUid() !== 0 || info.uid === 0 || info.uid === null) return;
  throw new UsageError(
    `refusing to write ${path} as root through ${link}, a symbolic link of user ${info.uid}: ` +
      "it chooses which file root replaces",
    { hint: `write to a path of root's own, or remove the link ${link}` },
  );
}

/** `path` itself, to be replaced by a rename, unless it is a folder. */
function pathItself(path: string): Destination {
  if (lstatWriting(path, path)?.isDirectory) {
    throw new OcisyncError(`cannot write ${path}: it is a folder`);
  }
  return { path, mode: "replace" };
}

/**
 * `stdout` or `stderr` when `current` names one of this process's streams, by its name in
 * `/dev` or `/proc`; undefined for any other path.
 *
 * @throws {OcisyncError} for another open file by such a name, which cannot be written.
 */
function streamOf(current: string, path: string): WriteMode | undefined {
  const name = STREAM_NAME.exec(current.replace(/\/(?:\.?\/)+/g, "/"))?.groups;
  if (!name || (name.proc !== undefined && /^\d+$/.test(name.proc) && +name.proc !== Deno.pid)) {
    return undefined;
  }
  const stream = STREAMS[name.dev ?? name.fd ?? name.procFd];
  if (stream) return stream;
  throw new OcisyncError(
    `cannot write ${path}: of the open files, only standard output and error can be written`,
    { hint: "give a file, a fifo or a device, or /dev/stdout" },
  );
}

/** {@linkcode lstatOrUndefined} of `current`, whose other failures name `path`, the one written. */
function lstatWriting(current: string, path: string): Deno.FileInfo | undefined {
  try {
    return lstatOrUndefined(current);
  } catch (error) {
    throw cannotWrite(path, error);
  }
}

/** A symlink's target as a path: relative targets are relative to the link's folder. */
function linkTarget(link: string, target: string): string {
  if (isAbsolute(target)) return target;
  return `${parentOf(link)}${target}`;
}

/**
 * The folder part of `path` with its trailing separator (`a/b/` of `a/b/c`), or "".
 *
 * @example
 * ```ts
 * import { parentOf } from "./atomic.ts";
 * parentOf("out/layer.tar"); // "out/"
 * ```
 */
export function parentOf(path: string): string {
  const slash = lastSeparator(path);
  return slash >= 0 ? path.slice(0, slash + 1) : "";
}

/**
 * Writes `target` (`path` itself, or the regular file its links lead to) by a
 * temporary file and a rename. The file replaced lends its mode, without the setuid, setgid
 * and sticky bits, unless a mode is given; not its owner, which only a by-path `chown` could
 * set, and that would follow a link that another user put at the temporary file's name.
 */
async function writeReplacing(
  path: string,
  target: string,
  bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: AtomicWriteOptions,
): Promise<void> {
  const dir = parentOf(target);
  const temp = `${dir}${temporaryName(target.slice(dir.length))}`;
  const replaced = lstatWriting(target, path);
  const mode = options.mode ?? (replaced?.isFile ? replaced.mode! & 0o777 : undefined);
  let file: Deno.FsFile;
  // Marked before it exists, and made in the same turn, synchronously: a stop signal handled
  // between the two would leave it, whether it came after the making (unmarked) or before the
  // runtime's thread pool got to it (removed before it was made).
  markTemporary(temp);
  try {
    file = Deno.openSync(temp, { write: true, createNew: true, mode });
  } catch (error) {
    unmarkTemporary(temp);
    throw cannotCreate(path, dir, error);
  }
  try {
    await writeAll(file, bytes, path);
    await osCall(path, () => file.sync());
    file.close();
    await osCall(path, () => Deno.rename(temp, target));
  } catch (error) {
    try {
      file.close();
    } catch { /* already closed */ }
    await Deno.remove(temp).catch(() => {});
    throw error;
  } finally {
    unmarkTemporary(temp);
  }
}

/**
 * How long a temporary file or staging folder must have gone unmodified to be taken as left by
 * a writer that died, and removed: a day. A live writer keeps modifying its temporary file as it
 * writes; a day is far beyond any stall of one that is still to finish. (An archive's staging
 * folder is removed only by a writer that holds the archive's lock as well: see `lockArchive`
 * of `../archive/staging.ts`.)
 */
export const LEFTOVER_AGE_MS = 24 * 3_600_000;

/**
 * The name that a temporary file of {@linkcode writeFileAtomic} was to become, if `name` is one
 * (`.<name>.<random>.tmp`; a long name comes back as shortened for the temporary file), else
 * `undefined`: for those who remove what a killed writer left.
 *
 * @example
 * ```ts
 * import { temporaryTarget } from "./atomic.ts";
 * temporaryTarget(".app.tar.3c4d5e6f.tmp"); // "app.tar"
 * temporaryTarget("app.tar"); // undefined
 * ```
 */
export function temporaryTarget(name: string): string | undefined {
  // Exactly the eight hex digits of temporaryName: a user's own `.state.json.keep.tmp` is no
  // leftover, and those who remove leftovers must never take it for one.
  return /^\.(.+)\.[0-9a-f]{8}\.tmp$/.exec(name)?.[1];
}

/**
 * `.<name>.<random>.tmp`, with `name` shortened so the whole stays within
 * NAME_MAX: a target name of 242 to 255 bytes is valid, and so must its
 * temporary file be.
 */
function temporaryName(name: string): string {
  const suffix = `.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const room = NAME_MAX - 1 - suffix.length;
  let kept = name;
  // Cut whole characters, never a UTF-8 sequence in half.
  while (encoder.encode(kept).length > room) kept = [...kept].slice(0, -1).join("");
  return `.${kept}${suffix}`;
}

/** Writes into a file that is not replaced: a fifo or a device. */
async function writeThrough(
  path: string,
  target: string,
  bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<void> {
  let file: Deno.FsFile;
  try {
    // Neither create nor truncate: the file exists and is not ours to replace. A fifo blocks
    // here until a reader opens it, as it does for tar.
    file = await Deno.open(target, { write: true });
  } catch (error) {
    throw cannotWrite(path, error);
  }
  try {
    await writeAll(file, bytes, path);
  } finally {
    file.close();
  }
}

/**
 * Writes every chunk of `bytes`, in large writes: tar headers come 512 bytes at a time, and a
 * system call each would be slow. Small chunks are gathered into a buffer of `WRITE_SIZE`; a
 * chunk as large as that is written as it is, without a copy. Only the sizes of the writes
 * depend on this, never the file's bytes. (This is a write buffer, not the compressors'
 * `fixedBlocks`: their blocks must have exact sizes, and this folder sits below theirs.)
 */
async function writeAll(
  file: { write(bytes: Uint8Array): Promise<number> },
  bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  path: string,
): Promise<void> {
  const write = async (block: Uint8Array) => {
    let offset = 0;
    while (offset < block.length) {
      offset += await osCall(path, () => file.write(block.subarray(offset)));
    }
  };
  const buffer = new Uint8Array(WRITE_SIZE);
  let filled = 0;
  for await (const chunk of bytes) {
    if (filled + chunk.length > WRITE_SIZE && filled > 0) {
      await write(buffer.subarray(0, filled));
      filled = 0;
    }
    if (chunk.length >= WRITE_SIZE) {
      await write(chunk);
      continue;
    }
    buffer.set(chunk, filled);
    filled += chunk.length;
  }
  if (filled > 0) await write(buffer.subarray(0, filled));
}

/** Runs a call on the file, naming `path` in its error: Deno's write errors name none. */
async function osCall<T>(path: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw cannotWrite(path, error);
  }
}

/**
 * The error of creating the temporary file in `dir` for `path`. Deno's message names the
 * temporary file, which the user never named: a missing folder is said in the user's terms, and
 * is exit 4.
 */
function cannotCreate(path: string, dir: string, error: unknown): OcisyncError {
  if (!(error instanceof Deno.errors.NotFound)) return cannotWrite(path, error);
  const folder = dir.length > 1 ? dir.slice(0, -1) : dir || ".";
  return new NotFoundError(`cannot write ${path}: the folder ${folder} does not exist`, {
    hint: "create the folder first, or give a path in one that exists",
    cause: error,
  });
}

function cannotWrite(path: string, error: unknown): OcisyncError {
  return new OcisyncError(`cannot write ${path}: ${(error as Error).message}`, { cause: error });
}
