/**
 * A large blob from a file goes up in one streamed `PATCH`, without being hashed on the way: the
 * registry's own digest check is what refuses bytes that changed after they were hashed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { IntegrityError } from "../src/errors/mod.ts";
import { MediaType } from "../src/oci/mediatypes.ts";
import { parseRegistryReference } from "../src/ref/mod.ts";
import { RegistryTarget, reopenable } from "../src/remote/registry.ts";
import { sha256Digest } from "./helpers/hash.ts";
import { startRegistry } from "./helpers/registry.ts";

/** Over the size from which a reopenable body is streamed in one request. */
const SIZE = 33 * 1024 * 1024;

function randomBytes(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  return bytes;
}

/** A body read from `bytes`, and again from any offset, as a file's is. */
function fileLike(bytes: Uint8Array): ReadableStream<Uint8Array> {
  const from = (offset: number) => ReadableStream.from([bytes.subarray(offset)]);
  return reopenable(from(0), (offset) => Promise.resolve(from(offset)));
}

Deno.test("a streamed file blob whose bytes changed after hashing is refused by the registry", async () => {
  const registry = await startRegistry();
  try {
    const target = new RegistryTarget(parseRegistryReference(`${registry.host}/t/stream`));
    const bytes = randomBytes(SIZE);
    const descriptor = {
      mediaType: MediaType.OciLayer,
      digest: sha256Digest(bytes) as `sha256:${string}`,
      size: SIZE,
    };
    const changed = bytes.slice();
    changed[SIZE - 1] ^= 1;
    const refused = await target.pushBlob(descriptor, fileLike(changed)).catch((error) => error);
    assert.ok(refused instanceof IntegrityError, String(refused));
    assert.match(refused.message, /DIGEST_INVALID|digest/i);
    assert.equal(await target.hasBlob(descriptor), false);

    assert.equal(await target.pushBlob(descriptor, fileLike(bytes)), true);
    const stored = new Uint8Array(
      await new Response(await target.fetchBlob(descriptor)).arrayBuffer(),
    );
    assert.equal(sha256Digest(stored), descriptor.digest);
    const patches = (await registry.requests()).filter((r) => r.method === "PATCH");
    assert.equal(patches.length, 2, "one streamed PATCH per attempt");
  } finally {
    await registry.stop();
  }
});
