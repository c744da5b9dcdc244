import assert from "node:assert/strict";
import { IntegrityError } from "../errors/mod.ts";
import { sha256Digest as expectedDigest } from "../../tests/helpers/hash.ts";
import { sha256DigestAsync, verifyBytes, verifyingStream, WHOLE_BODY_LIMIT } from "./verify.ts";

/** Bytes that differ at every position, so that a dropped or repeated chunk changes the hash. */
function pattern(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 8)) & 0xff;
  return bytes;
}

/** `bytes` in pieces of `piece` bytes, as a file or a response body arrives. */
function chunked(bytes: Uint8Array, piece: number): ReadableStream<Uint8Array> {
  const chunks = [];
  for (let at = 0; at < bytes.length; at += piece) chunks.push(bytes.slice(at, at + piece));
  return ReadableStream.from(chunks);
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  let size = 0;
  for await (const chunk of stream) size += chunk.byteLength;
  return size;
}

Deno.test("sha256DigestAsync matches an independent sha256", async () => {
  assert.equal(
    await sha256DigestAsync(new Uint8Array()),
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  const bytes = pattern(70_001);
  assert.equal(await sha256DigestAsync(bytes), expectedDigest(bytes));
  // A view into a larger buffer hashes its own bytes only.
  assert.equal(
    await sha256DigestAsync(bytes.subarray(5, 900)),
    expectedDigest(bytes.slice(5, 900)),
  );
});

// Both ways of hashing: a body held whole (Web Crypto), and one streamed (node:crypto) because
// it is larger than the limit or its size is unknown.
const BODIES = [
  { name: "held", size: 1000, declared: true },
  { name: "held at the limit", size: WHOLE_BODY_LIMIT, declared: true },
  { name: "streamed", size: WHOLE_BODY_LIMIT + 1, declared: true },
  { name: "of unknown size", size: 3000, declared: false },
];

for (const { name, size, declared } of BODIES) {
  Deno.test(`verifyingStream, ${name}: passes the bytes through, refuses any change`, async () => {
    const bytes = pattern(size);
    const expected = { digest: expectedDigest(bytes), size: declared ? size : undefined };
    assert.equal(await drain(chunked(bytes, 65_536).pipeThrough(verifyingStream(expected))), size);

    const changed = bytes.slice();
    changed[size - 1] ^= 1;
    await assert.rejects(
      drain(chunked(changed, 65_536).pipeThrough(verifyingStream(expected, "blob"))),
      (error) =>
        error instanceof IntegrityError &&
        error.message === `blob ${expected.digest} has digest ${expectedDigest(changed)}`,
    );
    if (!declared) return;
    await assert.rejects(
      drain(chunked(bytes.subarray(1), 65_536).pipeThrough(verifyingStream(expected, "blob"))),
      (error) =>
        error instanceof IntegrityError &&
        error.message === `blob ${expected.digest} has ${size - 1} bytes, expected ${size}`,
    );
    const longer = new Uint8Array(size + 1);
    longer.set(bytes);
    await assert.rejects(
      drain(chunked(longer, 65_536).pipeThrough(verifyingStream(expected, "blob"))),
      (error) =>
        error instanceof IntegrityError &&
        error.message === `blob ${expected.digest} is larger than its declared size ${size}`,
    );
  });
}

Deno.test("verifyingStream refuses an unsupported algorithm before any byte", () => {
  assert.throws(
    () => verifyingStream({ digest: `sha512:${"a".repeat(128)}` }),
    (error) =>
      error instanceof IntegrityError && /unsupported digest algorithm sha512/.test(error.message),
  );
});

Deno.test("verifyBytes checks size and digest with the stream's messages", async () => {
  const bytes = new TextEncoder().encode('{"schemaVersion":2}');
  const digest = expectedDigest(bytes);
  await verifyBytes(bytes, { digest, size: bytes.length });
  await verifyBytes(bytes, { digest });
  await assert.rejects(
    verifyBytes(bytes, { digest, size: bytes.length - 1 }, "manifest"),
    (error) =>
      error instanceof IntegrityError &&
      error.message === `manifest ${digest} is larger than its declared size ${bytes.length - 1}`,
  );
  await assert.rejects(
    verifyBytes(bytes.subarray(1), { digest, size: bytes.length }, "manifest"),
    (error) =>
      error instanceof IntegrityError &&
      error.message ===
        `manifest ${digest} has ${bytes.length - 1} bytes, expected ${bytes.length}`,
  );
  await assert.rejects(
    verifyBytes(bytes, { digest: expectedDigest("other") }, "manifest"),
    (error) => error instanceof IntegrityError && /has digest sha256:/.test(error.message),
  );
  await assert.rejects(
    verifyBytes(bytes, { digest: `sha512:${"a".repeat(128)}` }),
    (error) =>
      error instanceof IntegrityError && /unsupported digest algorithm/.test(error.message),
  );
});
