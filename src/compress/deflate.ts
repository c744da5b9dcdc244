/**
 * Deflating one block of a pigz-style gzip stream. Shared by the main thread
 * and the workers.
 *
 * @module
 */
import zlib from "node:zlib";

/** The deflate level ocisync uses; part of the byte-for-byte output contract. */
export const GZIP_LEVEL = 6;

/** One block to deflate. */
export interface DeflateRequest {
  /** The uncompressed block. */
  block: Uint8Array<ArrayBuffer>;
  /** The 32 KiB of input before the block, so matches can reach back into it. */
  dictionary: Uint8Array;
}

/** A worker's answer: the deflated bytes, and the input block handed back for reuse. */
export interface DeflateResult {
  output: Uint8Array<ArrayBuffer>;
  block: Uint8Array<ArrayBuffer>;
}

/**
 * Raw-deflates a block and ends it with a sync flush (no final bit), so blocks
 * concatenate into one deflate stream.
 *
 * @example
 * ```ts
 * import { deflateBlock } from "./deflate.ts";
 * deflateBlock({ block: new Uint8Array(10), dictionary: new Uint8Array() });
 * ```
 */
export function deflateBlock(request: DeflateRequest): Uint8Array<ArrayBuffer> {
  const output = zlib.deflateRawSync(request.block, {
    level: GZIP_LEVEL,
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
    ...(request.dictionary.length ? { dictionary: request.dictionary } : {}),
  });
  // Small results may share Node's buffer pool; copy them so the caller owns
  // the whole ArrayBuffer and can transfer it between threads.
  return output.byteOffset === 0 && output.byteLength === output.buffer.byteLength
    ? new Uint8Array(output.buffer as ArrayBuffer)
    : new Uint8Array(output);
}
