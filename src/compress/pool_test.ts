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

/**
 * A worker that compresses as the deflate worker does, but fails on the third block it is sent,
 * as a zlib error would.
 */
function workerFailingOnThirdBlock(): URL {
  const pool = new URL("./pool.ts", import.meta.url).href;
  const deflate = new URL("./deflate.ts", import.meta.url).href;
  const source = `import { serveBlocks } from "${pool}";
import { deflateBlock } from "${deflate}";
let count = 0;
serveBlocks(self, (request) =>
  count++ === 2 ? Promise.reject(new Error("fails on its third block")) : deflateBlock(request));`;
  return new URL(`data:application/javascript,${encodeURIComponent(source)}`);
}

Deno.test("compressBlocks: a worker's error ends the stream with it, whatever this thread was doing", async () => {
  // The error rejects every block out at once; the generator may then be reading its source, or
  // waiting while its consumer writes. None of those rejections may go unhandled (which would
  // end the process, past the caller's catch and every finally).
  const slow = () => new Promise((resolve) => setTimeout(resolve, 30));
  for (const waits of ["the source", "the consumer"]) {
    const requests = async function* () {
      for (const request of blocks(16)) {
        if (waits === "the source") await slow();
        yield request;
      }
    };
    let outputs = 0;
    await assert.rejects(
      async () => {
        for await (
          const _ of compressBlocks(requests(), {
            script: workerFailingOnThirdBlock(),
            concurrency: 3,
            sharesThisThread: true,
            inline: deflateBlock,
          })
        ) {
          outputs++;
          if (waits === "the consumer") await slow();
        }
      },
      /fails on its third block/,
      waits,
    );
    assert.ok(outputs < 16, waits);
  }
});
