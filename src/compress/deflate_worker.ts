/**
 * A worker that deflates one block at a time for {@linkcode gzipStream}.
 * It runs in its own thread so that two cores compress two blocks at once.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { deflateBlock, type DeflateRequest } from "./deflate.ts";

self.onmessage = (event: MessageEvent<DeflateRequest & { id: number }>) => {
  const { id, ...request } = event.data;
  const output = deflateBlock(request);
  self.postMessage({ id, output }, [output.buffer]);
};
