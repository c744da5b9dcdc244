/**
 * Decompression for layers of any origin: gzip (one member or many), zstd
 * (one frame or many) or plain tar, detected from the first bytes.
 *
 * @example
 * ```ts
 * import { decompressStream } from "./decompress.ts";
 * import { gzipStream } from "./gzip.ts";
 * const plain = await Array.fromAsync(decompressStream(gzipStream([new Uint8Array(5)])));
 * ```
 * @module
 */
import zlib from "node:zlib";
import { OcisyncError, UnsafeContentError } from "../errors/mod.ts";
import type { Compression } from "./mod.ts";
import { throughTransform } from "./node_stream.ts";
import {
  startsZstd,
  ZSTD_WINDOW_LOG_MAX,
  zstdPieces,
  type ZstdPiecesOptions,
} from "./zstd_frames.ts";

/**
 * The compression that the first bytes of a blob show: gzip's `1f 8b`,
 * zstd's `28 b5 2f fd` (or a skippable frame's `5X 2a 4d 18`, as `pzstd` writes), anything
 * else is taken as plain tar.
 *
 * @example
 * ```ts
 * import { detectCompression } from "./decompress.ts";
 * detectCompression(new Uint8Array([0x1f, 0x8b, 8])); // "gzip"
 * ```
 */
export function detectCompression(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (startsZstd(head)) return "zstd";
  return "none";
}

/**
 * The size of the pieces the decoder gives: zlib's default of 16 KiB costs a step of every
 * consumer (hashing, the tar reader) per 16 KiB, which shows on layers of hundreds of MB.
 */
const OUTPUT_CHUNK_SIZE = 256 * 1024;

/**
 * Decompresses a stream, detecting its compression from its first bytes.
 *
 * @throws {UnsafeContentError} when the compressed data is corrupt or cut short, for gzip and
 * zstd alike ("corrupt gzip data: …", "corrupt zstd data: …"), and for a zstd frame whose window
 * is over 2^{@linkcode ZSTD_WINDOW_LOG_MAX} bytes (named by `options.what`). Errors of the
 * source (an abort's reason, a network error, whatever it throws) pass as they are.
 */
export async function* decompressStream(
  source: AsyncIterable<Uint8Array>,
  options: ZstdPiecesOptions = {},
): AsyncGenerator<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  // Gather four bytes to detect the format; the chunks are replayed after.
  const head: Uint8Array[] = [];
  let headLength = 0;
  while (headLength < 4) {
    const { value, done } = await iterator.next();
    if (done) break;
    head.push(value);
    headLength += value.length;
  }
  const first = new Uint8Array(headLength);
  head.reduce((offset, chunk) => (first.set(chunk, offset), offset + chunk.length), 0);
  // What the source threw, if it did: it reaches the decoder as its error, but is no fault of
  // the data (an abort's reason, a network error) and must not be reported as corrupt data.
  let failed: { error: unknown } | undefined;
  const replay = (async function* () {
    yield* head;
    while (true) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await iterator.next();
      } catch (error) {
        failed = { error };
        throw error;
      }
      if (next.done) return;
      yield next.value;
    }
  })();
  const compression = detectCompression(first);
  if (compression === "none") {
    yield* replay;
    return;
  }
  const transform = compression === "gzip"
    ? zlib.createGunzip({ chunkSize: OUTPUT_CHUNK_SIZE })
    : zlib.createZstdDecompress({
      chunkSize: OUTPUT_CHUNK_SIZE,
      params: { [zlib.constants.ZSTD_d_windowLogMax]: ZSTD_WINDOW_LOG_MAX },
    });
  // gunzip reports a stream cut short itself; the zstd decoder does not, and errs safely only at
  // the start of a write, so zstd goes in frame by frame and block by block (zstd_frames.ts).
  let fed = 0;
  const input = compression === "zstd" ? zstdPieces(replay, options) : (async function* () {
    for await (const chunk of replay) {
      fed += chunk.length;
      yield chunk;
    }
  })();
  try {
    yield* throughTransform(input, transform);
    // gunzip stops at bytes after a member that start no other member, and says nothing when
    // they came in the member's chunk (it errs when they came in a later one): the same blob
    // would pass or fail with the network's chunking. Go's reader, which containerd uses,
    // refuses them; so does this one, whatever the chunks.
    const left = fed - (transform as zlib.Gunzip).bytesWritten;
    if (compression === "gzip" && left > 0) {
      throw new UnsafeContentError(
        `corrupt gzip data: ${left} bytes after its last member, which start no other`,
      );
    }
  } catch (error) {
    // Errors of the source (an abort, integrity, network) pass through as they are, and so do
    // the frame reader's; the rest is the decoder's.
    if (failed) throw failed.error;
    if (error instanceof OcisyncError) throw error;
    throw new UnsafeContentError(`corrupt ${compression} data: ${(error as Error).message}`);
  }
}
