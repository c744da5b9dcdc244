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
 * concatenate into one deflate stream. The result owns its whole buffer, so the
 * caller can transfer it between threads.
 *
 * zlib writes 16 KiB pieces (that size must stay: zlib's bytes change with
 * it). `deflateRawSync` would join them and leave them as garbage, which V8
 * frees late: measured, about 50 MB per worker. A stream hands the pieces
 * over, so they are freed here as soon as they are joined.
 *
 * @example
 * ```ts
 * import { deflateBlock } from "./deflate.ts";
 * await deflateBlock({ block: new Uint8Array(10), dictionary: new Uint8Array() });
 * ```
 */
export function deflateBlock(request: DeflateRequest): Promise<Uint8Array<ArrayBuffer>> {
  return new Promise((resolve, reject) => {
    const engine = zlib.createDeflateRaw({
      level: GZIP_LEVEL,
      // The block is the stream's only write: it is deflated with a sync flush,
      // and the flush at the stream's end adds nothing.
      flush: zlib.constants.Z_SYNC_FLUSH,
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
      ...(request.dictionary.length ? { dictionary: request.dictionary } : {}),
    });
    const pieces: Uint8Array<ArrayBuffer>[] = [];
    engine.on("data", (piece: Uint8Array<ArrayBuffer>) => pieces.push(piece));
    engine.on("error", reject);
    engine.on("end", () => {
      const output = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
      let offset = 0;
      for (const piece of pieces) {
        output.set(piece, offset);
        offset += piece.length;
      }
      // The pieces are views of zlib's 16 KiB output buffers (never Node's shared pool; two
      // pieces may share one): all copied, each buffer is freed now.
      for (const buffer of new Set(pieces.map((piece) => piece.buffer))) buffer.transfer(0);
      resolve(output);
    });
    engine.end(request.block);
  });
}
