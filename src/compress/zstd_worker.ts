/**
 * A worker that compresses one block at a time into a zstd frame for {@linkcode zstdStream}.
 * It runs in its own thread so that every core compresses a frame at once.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import type { BlockRequest, BlockResult } from "./pool.ts";
import { zstdFrame } from "./zstd.ts";

self.onmessage = async (event: MessageEvent<BlockRequest & { id: number }>) => {
  const { id, block } = event.data;
  const output = await zstdFrame(block);
  const result: BlockResult = { output, block };
  self.postMessage({ id, ...result }, [output.buffer, block.buffer]);
};
