/**
 * A worker that runs one zstd stream for {@linkcode zstdStream}, so that
 * compression overlaps with reading, tarring and hashing on the main thread.
 * It receives blocks in order and sends back each block (for reuse) once
 * the compressor has taken it, and the compressed chunks as they come.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import zlib from "node:zlib";
import { type ZstdMessage, zstdParameters } from "./zstd.ts";

const compressor = zlib.createZstdCompress({ params: zstdParameters() });
compressor.on("data", (chunk: Uint8Array) => {
  const copy = new Uint8Array(chunk);
  self.postMessage({ type: "data", chunk: copy } satisfies ZstdMessage, [copy.buffer]);
});
compressor.on("end", () => self.postMessage({ type: "end" } satisfies ZstdMessage));
compressor.on("error", (error: Error) => {
  self.postMessage({ type: "error", message: error.message } satisfies ZstdMessage);
});

self.onmessage = (event: MessageEvent<{ block?: Uint8Array<ArrayBuffer> }>) => {
  const { block } = event.data;
  if (!block) {
    compressor.end();
    return;
  }
  compressor.write(block, () => {
    self.postMessage({ type: "taken", block } satisfies ZstdMessage, [block.buffer]);
  });
};
