import assert from "node:assert/strict";
import zlib from "node:zlib";
import { gzipStream } from "./gzip.ts";

/** Three and a half blocks of compressible, not trivially repetitive bytes. */
function input(): Uint8Array {
  const bytes = new Uint8Array(3.5 * 1024 * 1024);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 9)) % 251;
  return bytes;
}

/** Reads a stream the way a file writer does: copies each chunk before asking for the next. */
async function copyAll(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const copies: Uint8Array[] = [];
  for await (const chunk of chunks) copies.push(chunk.slice());
  const out = new Uint8Array(copies.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of copies) out.set(c, (offset += c.length) - c.length);
  return out;
}

Deno.test("releaseChunks changes no byte, and frees each chunk once the next is asked for", async () => {
  const bytes = input();
  for (const concurrency of [1, 2]) {
    const kept = await copyAll(gzipStream([bytes], { concurrency }));
    const released = await copyAll(gzipStream([bytes], { concurrency, releaseChunks: true }));
    assert.deepEqual(released, kept);
    assert.deepEqual(new Uint8Array(zlib.gunzipSync(released)), bytes);
  }
  const held: Uint8Array[] = [];
  for await (const chunk of gzipStream([bytes], { releaseChunks: true })) held.push(chunk);
  // The header, end block and trailer are not the stream's to free; the deflated blocks are.
  assert.deepEqual(held.slice(1, -2).every((chunk) => chunk.length === 0), true);
});
