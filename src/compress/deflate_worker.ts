/**
 * A worker that deflates one block at a time for {@linkcode gzipStream}.
 * It runs in its own thread so that two cores compress two blocks at once.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { deflateBlock } from "./deflate.ts";
import { serveBlocks } from "./pool.ts";

serveBlocks(self, deflateBlock);
