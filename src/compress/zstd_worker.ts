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

// The frame is ended only once every block has been compressed: a stream that is ending hands its
// last buffered block to zstd with the end directive instead of "continue", which changes the
// bytes, so ending at once would make them depend on timing.
let pending = 0;
let ending = false;

self.onmessage = (event: MessageEvent<{ block?: Uint8Array<ArrayBuffer> }>) => {
  const { block } = event.data;
  if (!block) {
    ending = true;
    if (pending === 0) compressor.end();
    return;
  }
  pending++;
  compressor.write(block, () => {
    pending--;
    self.postMessage({ type: "taken", block } satisfies ZstdMessage, [block.buffer]);
    if (ending && pending === 0) compressor.end();
  });
};
