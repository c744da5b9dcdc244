/**
 * Deterministic zstd through `node:zlib`, at a fixed level, fed fixed-size
 * blocks so the output does not depend on how the input arrived.
 *
 * @example
 * ```ts
 * import { zstdStream } from "./zstd.ts";
 * const frame = await Array.fromAsync(zstdStream([new TextEncoder().encode("hi")]));
 * ```
 * @module
 */
import zlib from "node:zlib";
import { fixedBlocks } from "./blocks.ts";
import { throughTransform } from "./node_stream.ts";

/** The zstd level ocisync uses; part of the byte-for-byte output contract. */
export const ZSTD_LEVEL = 3;
const BLOCK_SIZE = 1024 * 1024;

/** Compresses a byte stream to one zstd frame. */
export async function* zstdStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const compressor = zlib.createZstdCompress({
    params: {
      [zlib.constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL,
      [zlib.constants.ZSTD_c_checksumFlag]: 1,
    },
  });
  yield* throughTransform(fixedBlocks(source, BLOCK_SIZE), compressor);
}
