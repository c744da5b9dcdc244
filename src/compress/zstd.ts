/**
 * Deterministic, parallel zstd through `node:zlib`, at a fixed level.
 *
 * The input is cut into fixed 2 MiB blocks, and each block becomes one zstd frame of its own,
 * compressed on any core. The frames are joined in order: a stream of several frames is one
 * zstd stream (RFC 8878, section 3.1), which every decoder reads (`zstd -d`, containerd, CRI-O,
 * podman). The bytes therefore depend only on the input, the block size, the level and the zstd
 * in the Deno runtime, never on the number of threads or on how the input arrived.
 *
 * @example
 * ```ts
 * import { zstdStream } from "./zstd.ts";
 * const frames = await Array.fromAsync(zstdStream([new TextEncoder().encode("hi")]));
 * ```
 * @module
 */
import zlib from "node:zlib";
import { fixedBlocks } from "./blocks.ts";
import { endWith } from "./node_stream.ts";
import {
  type BlockRequest,
  compressBlocks,
  type CompressionOptions,
  defaultConcurrency,
} from "./pool.ts";

/** The zstd level ocisync uses; part of the byte-for-byte output contract. */
export const ZSTD_LEVEL = 3;
/**
 * The input of one frame; part of the output contract. Larger frames compressed no better in a
 * measurement (a 330 MB tree and a 40 MB one, 1 MiB to one frame for all), and smaller ones let
 * a layer of a few megabytes use every core.
 */
export const ZSTD_FRAME_SIZE = 2 * 1024 * 1024;

/**
 * One block as one zstd frame: level {@linkcode ZSTD_LEVEL} and a checksum in the frame. The
 * result owns its whole buffer, so the caller can transfer it between threads.
 *
 * @example
 * ```ts
 * import { zstdFrame } from "./zstd.ts";
 * const frame = await zstdFrame(new TextEncoder().encode("hi"));
 * ```
 */
export function zstdFrame(block: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  const engine = zlib.createZstdCompress({
    params: {
      [zlib.constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL,
      [zlib.constants.ZSTD_c_checksumFlag]: 1,
    },
  });
  return endWith(engine, block);
}

/** Compresses a byte stream to zstd frames, on up to `concurrency` threads. */
export async function* zstdStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: CompressionOptions = {},
): AsyncGenerator<Uint8Array> {
  // Blocks come back once compressed, and are filled again.
  const spare: Uint8Array<ArrayBuffer>[] = [];
  const allocate = () => spare.pop() ?? new Uint8Array(ZSTD_FRAME_SIZE);
  const requests = (async function* (): AsyncGenerator<BlockRequest> {
    for await (const block of fixedBlocks(source, ZSTD_FRAME_SIZE, allocate)) yield { block };
  })();
  yield* compressBlocks(requests, {
    script: new URL("./zstd_worker.ts", import.meta.url),
    concurrency: options.concurrency ?? defaultConcurrency(),
    inline: ({ block }) => zstdFrame(block),
    recycle: (block) => spare.push(new Uint8Array(block.buffer)),
    releaseOutputs: options.releaseChunks,
  });
}
