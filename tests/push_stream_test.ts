/**
 * A large blob from a file goes up in one streamed `PATCH`, without being hashed on the way: the
 * registry's own digest check is what refuses bytes that changed after they were hashed. A large
 * layer file goes up while its digest is still being computed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { IntegrityError } from "../src/errors/mod.ts";
import { MediaType } from "../src/oci/mediatypes.ts";
import { parseRegistryReference } from "../src/ref/mod.ts";
import { RegistryTarget, reopenable } from "../src/remote/registry.ts";
import { ocisync, shown } from "./helpers/cli.ts";
import { sha256Digest } from "./helpers/hash.ts";
import { pythonTar } from "./helpers/layers.ts";
import { startRegistry } from "./helpers/registry.ts";
import { randomBytes } from "./helpers/random.ts";

/** Over the size from which a reopenable body is streamed in one request. */
const SIZE = 33 * 1024 * 1024;

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

Deno.test("push of a large layer file: the upload starts before the digest is known, and a blob the registry has is dropped", async () => {
  const registry = await startRegistry();
  const dir = await Deno.makeTempDir({ prefix: "ocisync-early-" });
  try {
    // A plain tar, over the size from which a layer file goes up while it is checked.
    const tar = await pythonTar(`${dir}/layer.tar`, [{ type: "zeros", name: "data", size: SIZE }]);
    const digest = sha256Digest(tar);
    const pushTo = async (tag: string) => {
      const push = await ocisync([
        "push",
        `${registry.host}/early/app:${tag}`,
        `${dir}/layer.tar`,
        "--json",
      ]);
      assert.equal(push.code, 0, shown(push));
      return push;
    };

    const push = await pushTo("v1");
    const pushed = JSON.parse(push.stdout);
    assert.equal(pushed.layers[0].digest, digest);
    assert.equal(pushed.uploaded, 2, "the layer and the config");
    const requests = (await registry.requests()).map((r) => `${r.method} ${r.path}`);
    const session = requests.findIndex((r) => r.startsWith("POST /v2/early/app/blobs/uploads/"));
    const asked = requests.indexOf(`HEAD /v2/early/app/blobs/${digest}`);
    assert.ok(session >= 0 && asked > session, `the upload began first:\n${requests.join("\n")}`);

    // Again, under another tag: the registry has the blob; the upload begun meanwhile is
    // dropped, and its session deleted.
    const before = requests.length;
    const again = await pushTo("v2");
    assert.equal(JSON.parse(again.stdout).digest, pushed.digest);
    assert.equal(JSON.parse(again.stdout).skipped, 2);
    const second = (await registry.requests()).slice(before).map((r) => `${r.method} ${r.path}`);
    assert.ok(
      second.some((r) => r.startsWith("DELETE /v2/early/app/blobs/uploads/")),
      second.join("\n"),
    );
    assert.ok(!second.some((r) => /^PUT .*\/blobs\/uploads\//.test(r)), second.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
    await registry.stop();
  }
});
