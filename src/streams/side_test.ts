import assert from "node:assert/strict";
import { IncompleteSideError, withSideReader } from "./side.ts";

const chunks = (n: number, size: number) =>
  Array.from({ length: n }, (_, i) => new Uint8Array(size).fill(i));

Deno.test("side: both ends get the same chunks, the very arrays", async () => {
  const source = chunks(5, 10);
  const { stream, side } = withSideReader(ReadableStream.from(source), 25);
  const [sent, seen] = await Promise.all([Array.fromAsync(stream), Array.fromAsync(side)]);
  assert.equal(sent.length, 5);
  sent.forEach((chunk, i) => {
    assert.equal(chunk, source[i]);
    assert.equal(seen[i], source[i]);
  });
});

Deno.test("side: the stream waits while the side holds `limit` unread bytes", async () => {
  let pulled = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (++pulled > 10) controller.close();
      else controller.enqueue(new Uint8Array(10));
    },
  }, { highWaterMark: 0 });
  const { stream, side } = withSideReader(source, 30);
  const reader = stream.getReader();
  for (let i = 0; i < 2; i++) await reader.read();
  const third = reader.read();
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(pulled, 3, "the third chunk waits for the side");
  const sideReader = side.getReader();
  await sideReader.read();
  await third;
  // A cancelled side lets the stream go on alone.
  await sideReader.cancel();
  let rest = 0;
  for (let next = await reader.read(); !next.done; next = await reader.read()) rest++;
  assert.equal(rest, 7);
});

Deno.test("side: a stream cancelled before its end errors the side", async () => {
  const { stream, side } = withSideReader(ReadableStream.from(chunks(3, 4)), 100);
  const reader = stream.getReader();
  await reader.read();
  await reader.cancel(new Error("upload failed"));
  const seen = side.getReader();
  assert.equal((await seen.read()).value?.byteLength, 4, "what passed is still read");
  await assert.rejects(seen.read(), IncompleteSideError);
});
