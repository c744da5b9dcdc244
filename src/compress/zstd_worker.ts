/**
 * A worker that compresses one block at a time into a zstd frame for {@linkcode zstdStream}.
 * It runs in its own thread so that every core compresses a frame at once.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { serveBlocks } from "./pool.ts";
import { zstdFrame } from "./zstd.ts";

serveBlocks(self, ({ block }) => zstdFrame(block));
