/**
 * Reading files: a file opened only once what its path names is known (never a fifo or a device
 * by mistake, nor a link where none belongs), the start of an open file with plain reads, and a
 * file from an offset as a stream of 64 KiB pieces, read synchronously from a regular file.
 *
 * @module
 */
import { IntegrityError, OcisyncError } from "../errors/mod.ts";
import { fileKind, sameFile } from "./stat.ts";

/**
 * Up to `size` bytes from the file's current position: fewer only at its end. Plain reads, not
 * the file's `readable`: the first stream of a process costs Deno about 5 ms to set up, and the
 * file stays open for the caller (a lock, for one, is dropped when its file closes). `regular`
 * says that the file is a regular file, read synchronously, as {@linkcode readPiece} reads one.
 *
 * @example
 * ```ts
 * import { readUpTo } from "./read.ts";
 * using file = await Deno.open("./deno.json");
 * const head = await readUpTo(file, 16); // 16 bytes, or the whole file if it is shorter
 * ```
 */
export async function readUpTo(
  file: Deno.FsFile,
  size: number,
  regular = false,
): Promise<Uint8Array> {
  const buffer = new Uint8Array(size);
  let filled = 0;
  while (filled < size) {
    const rest = buffer.subarray(filled);
    const read = regular ? file.readSync(rest) : await file.read(rest);
    if (read === null) break;
    filled += read;
  }
  return buffer.subarray(0, filled);
}

/**
 * The file at `path`, open for reading, and its `stat`, once `look` has accepted what the path
 * names before it is opened: opening a fifo waits for a writer, and a device may read without
 * end, so a caller that wants a regular file must refuse them unopened.
 *
 * With `links: "follow"` (the default), `look` sees what the path leads to, as for a path the
 * user named, and what opened must be that file (device and inode). With `links: "refuse"`,
 * `look` sees the path itself, a link as a link; since Deno's open follows links (it has no
 * `O_NOFOLLOW`), what opened must also be what the path names just after, so that a link put in
 * its place meanwhile is closed unread. A file replaced meanwhile (a writer's rename) is looked
 * at again, up to 5 times. A fifo put in its place between the look and the open is still
 * waited on (Deno's open has no `O_NONBLOCK`), and when the look saw a regular file, which is
 * opened synchronously, with the whole thread: callers that must not hang read only what no
 * other user may change, or what the user named.
 *
 * @throws what `look` throws; {@linkcode IntegrityError} when the path was replaced each time;
 * `Deno.errors.NotFound` as it is.
 * @example
 * ```ts
 * import { openLookedAt } from "./read.ts";
 * const { file, info } = await openLookedAt("./deno.json", (found) => {
 *   if (!found.isFile) throw new Error("./deno.json is not a regular file");
 * });
 * console.log(info.size);
 * file.close();
 * ```
 */
export async function openLookedAt(
  path: string,
  look: (found: Deno.FileInfo) => void,
  options: { links?: "follow" | "refuse" } = {},
): Promise<{ file: Deno.FsFile; info: Deno.FileInfo }> {
  const follow = options.links !== "refuse";
  for (let attempt = 1;; attempt++) {
    // The looks are synchronous: microseconds each, where a trip through the runtime's thread
    // pool costs more than the call (a command's start-up opens a layout's files this way).
    const found = follow ? Deno.statSync(path) : Deno.lstatSync(path);
    look(found);
    // A regular file opens at once, and synchronously for the same reason; anything else (a
    // fifo waits for a writer) through the pool, so that the thread is not held meanwhile.
    const file = found.isFile ? Deno.openSync(path) : await Deno.open(path);
    try {
      const info = file.statSync();
      if (sameFile(info, follow ? found : Deno.lstatSync(path))) return { file, info };
    } catch (error) {
      file.close();
      throw error;
    }
    file.close();
    if (attempt === MAX_OPEN_ATTEMPTS) {
      throw new IntegrityError(`${path} was replaced each time it was opened`);
    }
  }
}

/** How often {@linkcode openLookedAt} looks again at a file replaced while it was opened. */
const MAX_OPEN_ATTEMPTS = 5;

/**
 * The most bytes {@linkcode readPiece} reads at once. Each piece is a fresh buffer, and a buffer
 * of 128 KiB or more is memory of its own, mapped and unmapped each time: with 1 MiB pieces, a
 * push of a 128 MiB layer took 32,000 page faults (12,000 now) and 10 to 20 % more time.
 */
export const FILE_READ_SIZE = 64 * 1024;

/** The smallest piece {@linkcode openFileAt} reads. */
const MIN_READ_SIZE = 4096;

/**
 * One read of at most `size` bytes from the file's position, into a buffer of its own (the bytes
 * are handed on, to hashing and to the socket): fewer at its end, `null` past it. `regular` says
 * that the file is a regular file (its `stat`), which is read synchronously: a read from the page
 * cache takes microseconds, where a trip through the runtime's thread pool costs two switches of
 * thread (a push of a 128 MiB layer made 5,000 switches, now 950, and took 7 % less time).
 * Anything else (a fifo) may wait on another process, and is read through the pool, so that the
 * thread is not held meanwhile.
 *
 * @example
 * ```ts
 * import { readPiece } from "./read.ts";
 * using file = await Deno.open("./deno.json");
 * const first = await readPiece(file, 4096, file.statSync().isFile);
 * ```
 */
export async function readPiece(
  file: Deno.FsFile,
  size: number,
  regular: boolean,
): Promise<Uint8Array | null> {
  const buffer = new Uint8Array(size);
  const read = regular ? file.readSync(buffer) : await file.read(buffer);
  return read === null ? null : buffer.subarray(0, read);
}

/**
 * Reads `file` from its position to its end into one buffer, and hands each piece to `use`, which
 * must be done with it when it returns, as a hash is: the next read overwrites it. For such a
 * reader, one buffer spares the fresh buffer per piece of {@linkcode openFileAt}, whose memory a
 * short run must first fault in: hashing 64 MB of wheels took 250 ms so, 50 ms with one buffer.
 * A regular file is read synchronously ({@linkcode readPiece}), but every 64th piece (4 MiB)
 * through the runtime's thread pool, which lets a stop signal in, and a timer at most such turns
 * (a turn that finds the read already done may resolve it first); anything else, every piece.
 *
 * @returns the number of bytes read.
 * @example
 * ```ts
 * import { readEachPiece } from "./read.ts";
 * using file = await Deno.open("./deno.json");
 * let lines = 0;
 * await readEachPiece(file, (piece) => lines += piece.filter((byte) => byte === 10).length);
 * ```
 */
export async function readEachPiece(
  file: Deno.FsFile,
  use: (piece: Uint8Array) => void,
): Promise<number> {
  const regular = file.statSync().isFile;
  const buffer = new Uint8Array(FILE_READ_SIZE);
  let total = 0;
  for (let pieces = 1;; pieces++) {
    const read = regular && pieces % YIELD_EVERY !== 0
      ? file.readSync(buffer)
      : await file.read(buffer);
    if (read === null) return total;
    use(buffer.subarray(0, read));
    total += read;
  }
}

/** Every how many pieces {@linkcode readEachPiece} reads a regular file through the pool. */
const YIELD_EVERY = 64;

/**
 * The bytes of the file at `path` from `offset` to its end, read in 64 KiB pieces
 * ({@linkcode readPiece}). `expected`, the bytes the caller expects (a blob's size less the
 * offset), keeps the pieces of a small file small: each is a buffer of its own. A file longer
 * than expected is still read to its end. `path` may be a file the caller opened already (after
 * checking what it is): the stream then owns it.
 *
 * @example
 * ```ts
 * import { openFileAt } from "./read.ts";
 * const tail = await openFileAt("./layer.tar.gz", 1024);
 * ```
 */
export async function openFileAt(
  path: string | Deno.FsFile,
  offset: number,
  expected?: number,
): Promise<ReadableStream<Uint8Array>> {
  const readSize = expected === undefined
    ? FILE_READ_SIZE
    : Math.min(FILE_READ_SIZE, Math.max(MIN_READ_SIZE, expected));
  const file = typeof path === "string" ? await Deno.open(path) : path;
  let regular: boolean;
  try {
    regular = file.statSync().isFile;
    if (offset > 0) await file.seek(offset, Deno.SeekMode.Start);
  } catch (error) {
    file.close();
    throw error;
  }
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let piece: Uint8Array | null;
      try {
        piece = await readPiece(file, readSize, regular);
      } catch (error) {
        // The stream errors, and nobody cancels an errored stream: closed here, or never.
        file.close();
        throw error;
      }
      if (piece === null) {
        file.close();
        controller.close();
      } else controller.enqueue(piece);
    },
    cancel() {
      file.close();
    },
  });
}

/**
 * The regular file at `path`, open for reading, looked at before it is opened
 * ({@linkcode openLookedAt} with `links: "refuse"`):
 * - not a link: root reading a folder that another user owns would follow it to root's own
 *   files;
 * - not a fifo or a device: opening a fifo waits for a writer, and `/dev/zero` never ends.
 *
 * @param rule what the caller expects of the file, said after what it found instead.
 * @throws {IntegrityError} `PATH is a symlink: RULE` (or `is not a regular file`).
 * @throws {Deno.errors.NotFound} when nothing is at `path`.
 * @example
 * ```ts
 * import { openRegularFile } from "./read.ts";
 * using file = await openRegularFile("./deno.json", "a project's files are its own");
 * ```
 */
export async function openRegularFile(path: string, rule: string): Promise<Deno.FsFile> {
  return (await openRegular(path, rule)).file;
}

/** {@linkcode openRegularFile}, with what the open file's `stat` said. */
function openRegular(
  path: string,
  rule: string,
): Promise<{ file: Deno.FsFile; info: Deno.FileInfo }> {
  const look = (found: Deno.FileInfo) => {
    if (found.isFile) return;
    const what = found.isSymlink ? "a symlink" : "not a regular file";
    throw new IntegrityError(`${path} is ${what}: ${rule}`);
  };
  return openLookedAt(path, look, { links: "refuse" });
}

/**
 * The bytes of the regular file at `path` (opened as {@linkcode openRegularFile} opens it),
 * refused unread when it is larger than `limit`, and refused when it grows while it is read
 * rather than read cut short.
 *
 * @throws {IntegrityError} when it is no regular file, over `limit`, or grew.
 * @throws {Deno.errors.NotFound} when nothing is at `path`.
 * @example
 * ```ts
 * import { readRegularFile } from "./read.ts";
 * const bytes = await readRegularFile("./images/oci-layout", 64 * 1024, "a layout's own file");
 * ```
 */
export async function readRegularFile(
  path: string,
  limit: number,
  rule: string,
): Promise<Uint8Array> {
  const { file: opened, info: { size } } = await openRegular(path, rule);
  using file = opened;
  if (size > limit) {
    throw new IntegrityError(`${path} has ${size} bytes, over the limit of ${limit}`);
  }
  // One byte more than its size, to tell a file that grew without reading the rest; read
  // synchronously, as a regular file of at most `limit` bytes never makes a read wait.
  const bytes = new Uint8Array(size + 1);
  let filled = 0;
  while (filled < bytes.length) {
    const read = file.readSync(bytes.subarray(filled));
    if (read === null) break;
    filled += read;
  }
  if (filled > size) throw new IntegrityError(`${path} grew while it was read`);
  return bytes.subarray(0, filled);
}

/** The most bytes {@linkcode readNamedFile} reads: far above any config, key or CA bundle. */
export const MAX_NAMED_FILE_BYTES = 4 * 1024 * 1024;

/**
 * The bytes of a file the user named (a config, a recipe, a key, a credentials or CA file), read
 * through links as any path the user gives, and bounded: a regular file, or a pipe (a key
 * passed as `<(vault read …)`), looked at before it is opened, never a device (`/dev/zero`
 * never ends) nor a folder; and at most {@linkcode MAX_NAMED_FILE_BYTES}: a file by its size,
 * unread, and refused if it grows while it is read; a pipe counted as it is read. A pipe nobody
 * writes to is waited on, as any program reading it would.
 *
 * @param what what the file is, for the message: `"the sync config"`.
 * @throws {OcisyncError} when it is a device or a folder, holds more than the limit, or grew:
 * an unreadable file, exit 1 at the command line.
 * @throws what `Deno.open` throws (`NotFound`, `PermissionDenied`), as it is, for the caller to
 * word.
 * @example
 * ```ts
 * import { readNamedFile } from "./read.ts";
 * const bytes = await readNamedFile("./deno.json", "the project's config");
 * ```
 */
export async function readNamedFile(path: string, what: string): Promise<Uint8Array> {
  const look = (found: Deno.FileInfo) => {
    if (found.isFile || found.isFifo) return;
    throw new OcisyncError(
      `cannot read ${what} ${path}: it is a ${fileKind(found)}, not a regular file`,
      { hint: "name a regular file, or a pipe" },
    );
  };
  const { file: opened, info } = await openLookedAt(path, look);
  using file = opened;
  const tooLarge = () =>
    new OcisyncError(
      `cannot read ${what} ${path}: it holds more than ${MAX_NAMED_FILE_BYTES} bytes, the most ` +
        "such a file is read to",
    );
  // A regular file is refused by its size, unread, and read to its size (a key or a config
  // takes a few KB, not the bound); a pipe's size is unknown until it ends.
  if (info.isFile && info.size > MAX_NAMED_FILE_BYTES) throw tooLarge();
  const expected = info.isFile ? info.size : MAX_NAMED_FILE_BYTES;
  // One byte more, to tell a file that grew, or a pipe past the bound, without reading on.
  const bytes = await readUpTo(file, expected + 1);
  if (bytes.byteLength <= expected) return bytes;
  if (!info.isFile) throw tooLarge();
  throw new OcisyncError(`cannot read ${what} ${path}: it grew while it was read`, {
    hint: "read it again once it is written",
  });
}

/**
 * {@linkcode readNamedFile}, as UTF-8 text.
 *
 * @example
 * ```ts
 * import { readNamedText } from "./read.ts";
 * const text = await readNamedText("./deno.json", "the project's config");
 * ```
 */
export async function readNamedText(path: string, what: string): Promise<string> {
  return new TextDecoder().decode(await readNamedFile(path, what));
}
