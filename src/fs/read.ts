/**
 * Reading files: a file opened only once what its path names is known, the start of an open file
 * with plain reads, and a file from an offset as a stream of large pieces.
 *
 * @module
 */
import { OcisyncError } from "../errors/mod.ts";
import { sameFile } from "./stat.ts";

/**
 * Up to `size` bytes from the file's current position: fewer only at its end. Plain reads, not
 * the file's `readable`: the first stream of a process costs Deno about 5 ms to set up, and the
 * file stays open for the caller (a lock, for one, is dropped when its file closes).
 *
 * @example
 * ```ts
 * import { readUpTo } from "./read.ts";
 * using file = await Deno.open("./deno.json");
 * const head = await readUpTo(file, 16); // 16 bytes, or the whole file if it is shorter
 * ```
 */
export async function readUpTo(file: Deno.FsFile, size: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(size);
  let filled = 0;
  while (filled < size) {
    const read = await file.read(buffer.subarray(filled));
    if (read === null) break;
    filled += read;
  }
  return buffer.subarray(0, filled);
}

/**
 * The file at `path`, open for reading, and its `stat`, once `look` has accepted what the path
 * names (through links) before it is opened: opening a fifo waits for a writer, and a device may
 * read without end, so a caller that wants a regular file must refuse them unopened. What opened
 * is checked to be the file looked at (device and inode). A fifo put in its place between the
 * look and the open is still waited on: Deno's open has no `O_NONBLOCK`.
 *
 * @throws what `look` throws; {@linkcode OcisyncError} when another file was put in the path's
 * place meanwhile; `Deno.errors.NotFound` as it is.
 * @example
 * ```ts
 * import { openLookedAt } from "./read.ts";
 * const { file, info } = await openLookedAt("./app.tar", (found) => {
 *   if (!found.isFile) throw new Error("./app.tar is not a regular file");
 * });
 * console.log(info.size);
 * file.close();
 * ```
 */
export async function openLookedAt(
  path: string,
  look: (found: Deno.FileInfo) => void,
): Promise<{ file: Deno.FsFile; info: Deno.FileInfo }> {
  const found = await Deno.stat(path);
  look(found);
  const file = await Deno.open(path);
  try {
    const info = await file.stat();
    if (!sameFile(found, info)) {
      throw new OcisyncError(`${path} was replaced while it was opened: open it again`);
    }
    return { file, info };
  } catch (error) {
    file.close();
    throw error;
  }
}

/** The size of the pieces {@linkcode openFileAt} reads: large, for few calls and hashing steps. */
const FILE_READ_SIZE = 1024 * 1024;

/** The smallest piece {@linkcode openFileAt} reads. */
const MIN_READ_SIZE = 4096;

/**
 * The bytes of the file at `path` from `offset` to its end, read in large pieces. `expected`, the
 * bytes the caller expects (a blob's size less the offset), keeps the pieces of a small file small:
 * each is a buffer of its own. A file longer than expected is still read to its end. `path` may
 * be a file the caller opened already (after checking what it is): the stream then owns it.
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
  try {
    if (offset > 0) await file.seek(offset, Deno.SeekMode.Start);
  } catch (error) {
    file.close();
    throw error;
  }
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      // A fresh buffer each time: the bytes are handed on, to hashing and to the socket.
      const buffer = new Uint8Array(readSize);
      const read = await file.read(buffer);
      if (read === null) {
        file.close();
        controller.close();
      } else controller.enqueue(buffer.subarray(0, read));
    },
    cancel() {
      file.close();
    },
  });
}
