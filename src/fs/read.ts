/**
 * Reading the start of an open file with plain reads.
 *
 * @module
 */

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
