/**
 * Re-chunking into fixed-size blocks. Compressors emit different bytes for
 * the same input split into different writes, so everything that feeds a
 * compressor goes through here first.
 *
 * @example
 * ```ts
 * import { fixedBlocks } from "./blocks.ts";
 * const sizes = [];
 * for await (const b of fixedBlocks([new Uint8Array(5), new Uint8Array(7)], 4)) sizes.push(b.length);
 * console.log(sizes); // [4, 4, 4]
 * ```
 * @module
 */

/**
 * Yields blocks of exactly `size` bytes, and a shorter last block when the
 * input does not divide evenly. Each block is a buffer from `allocate` that
 * the consumer owns (it may transfer it to a worker, or hand it back to the
 * pool `allocate` draws from).
 */
export async function* fixedBlocks(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  size: number,
  allocate: () => Uint8Array<ArrayBuffer> = () => new Uint8Array(size),
): AsyncGenerator<Uint8Array<ArrayBuffer>> {
  let block = allocate();
  let filled = 0;
  for await (const chunk of source) {
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(size - filled, chunk.length - offset);
      block.set(chunk.subarray(offset, offset + n), filled);
      filled += n;
      offset += n;
      if (filled === size) {
        yield block;
        block = allocate();
        filled = 0;
      }
    }
  }
  if (filled > 0) yield block.subarray(0, filled);
}
