/**
 * A worker that deflates one block at a time for {@linkcode gzipStream}.
 * It runs in its own thread so that two cores compress two blocks at once.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { deflateBlock, type DeflateRequest } from "./deflate.ts";
import type { BlockResult } from "./pool.ts";

self.onmessage = async (event: MessageEvent<DeflateRequest & { id: number }>) => {
  const { id, ...request } = event.data;
  const output = await deflateBlock(request);
  const result: BlockResult = { output, block: request.block };
  self.postMessage({ id, ...result }, [output.buffer, request.block.buffer]);
};
