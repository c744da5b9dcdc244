import assert from "node:assert/strict";
import { compressBlocks } from "./pool.ts";
import { deflateBlock, type DeflateRequest } from "./deflate.ts";

/** A worker that fails as it loads, as one whose script cannot be read would. */
const FAILING_WORKER = new URL(`data:application/javascript,throw new Error("no worker")`);

function blocks(count: number): DeflateRequest[] {
  return Array.from({ length: count }, (_, i) => ({
    block: new TextEncoder().encode(`block ${i} `.repeat(1000)),
    dictionary: new Uint8Array(),
  }));
}

Deno.test("compressBlocks: an input of one block starts no worker", async () => {
  // A worker would fail as it loads: one block never starts one, two do, and fail.
  const outputs = await Array.fromAsync(
    compressBlocks(blocks(1), {
      script: FAILING_WORKER,
      concurrency: 2,
      sharesThisThread: true,
      inline: deflateBlock,
    }),
  );
  assert.equal(outputs.length, 1);
  await assert.rejects(() =>
    Array.fromAsync(
      compressBlocks(blocks(2), {
        script: FAILING_WORKER,
        concurrency: 2,
        sharesThisThread: true,
        inline: deflateBlock,
      }),
    )
  );
});

Deno.test("compressBlocks: with a second block, the first goes to a worker too, in order", async () => {
  const expected = await Promise.all(blocks(2).map(deflateBlock));
  let inline = 0;
  const outputs = await Array.fromAsync(
    compressBlocks(blocks(2), {
      script: new URL("./deflate_worker.ts", import.meta.url),
      concurrency: 2,
      sharesThisThread: true,
      inline: (request) => {
        inline++;
        return deflateBlock(request);
      },
    }),
  );
  // The one worker takes two blocks before this thread compresses any.
  assert.equal(inline, 0);
  assert.deepEqual(outputs, expected);
});
