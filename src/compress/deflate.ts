/**
 * Deflating one block of a pigz-style gzip stream. Shared by the main thread
 * and the workers.
 *
 * @module
 */
import zlib from "node:zlib";
import { endWith } from "./node_stream.ts";
import type { BlockRequest } from "./pool.ts";

/** The deflate level ocisync uses; part of the byte-for-byte output contract. */
export const GZIP_LEVEL = 6;

/** One block to deflate. */
export interface DeflateRequest extends BlockRequest {
  /** The 32 KiB of input before the block, so matches can reach back into it. */
  dictionary: Uint8Array;
}

/**
 * Raw-deflates a block and ends it with a sync flush (no final bit), so blocks
 * concatenate into one deflate stream. The result owns its whole buffer, so the
 * caller can transfer it between threads. zlib writes 16 KiB pieces, and that
 * size must stay: zlib's bytes change with it.
 *
 * @example
 * ```ts
 * import { deflateBlock } from "./deflate.ts";
 * await deflateBlock({ block: new Uint8Array(10), dictionary: new Uint8Array() });
 * ```
 */
export function deflateBlock(request: DeflateRequest): Promise<Uint8Array<ArrayBuffer>> {
  const engine = zlib.createDeflateRaw({
    level: GZIP_LEVEL,
    // The block is the stream's only write: it is deflated with a sync flush,
    // and the flush at the stream's end adds nothing.
    flush: zlib.constants.Z_SYNC_FLUSH,
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
    ...(request.dictionary.length ? { dictionary: request.dictionary } : {}),
  });
  return endWith(engine, request.block);
}
