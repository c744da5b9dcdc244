import assert from "node:assert/strict";

import { readBounded } from "./mod.ts";

Deno.test("streams: readBounded stops at the limit", async () => {
  const chunk = new Uint8Array(10);
  assert.equal((await readBounded(ReadableStream.from([chunk, chunk]), 20))?.length, 20);
  assert.equal(await readBounded(ReadableStream.from([chunk, chunk, chunk]), 20), undefined);
});

Deno.test("streams: readBounded cancels a stream past the limit", async () => {
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull: (controller) => controller.enqueue(new Uint8Array(8)),
    cancel: () => {
      cancelled = true;
    },
  });
  assert.equal(await readBounded(stream, 20), undefined);
  assert.equal(cancelled, true);
});
