/**
 * The checks of a layer file judge the bytes that go up under its digest, never another version
 * of the file: a file changed between the digest pass, the upload and the checks' own reads is
 * refused, by the checks or as an integrity error, and no manifest is written.
 *
 * Each test swaps the file's content at a chosen moment through the library: right after the
 * digest pass, and when the upload opens the blob.
 *
 * @module
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { IntegrityError, UnsafeContentError } from "../src/errors/mod.ts";
import type { PreparedLayer } from "../src/image/blob.ts";
import { imagePlan } from "../src/image/plan.ts";
import type { FileBlobSource, StartedLayer } from "../src/push/write.ts";
import { LayerFileChecks } from "../src/push/check.ts";
import { startLayer } from "../src/push/mod.ts";
import { writeStartedLayers } from "../src/push/write.ts";
import { parseRegistryReference } from "../src/ref/mod.ts";
import { RegistryTarget } from "../src/remote/registry.ts";
import { startProxy } from "./helpers/fault_proxy.ts";
import { sha256Digest } from "./helpers/hash.ts";
import { pythonTar } from "./helpers/layers.ts";
import { startRegistry } from "./helpers/registry.ts";
import { withTempDir } from "./helpers/tree.ts";

/** Over 32 MiB, so that a registry streams the blob in one `PATCH` and resumes it from a file. */
const ZEROS = 33 * 1024 * 1024;

/**
 * A hostile layer (an entry that leaves the root) and a benign one, plain tars of one size that
 * differ in their first entry only.
 */
async function layers(dir: string): Promise<{ hostile: Uint8Array; benign: Uint8Array }> {
  const hostile = await pythonTar(`${dir}/hostile.tar`, [
    { type: "file", name: "../escaped", data: "x" },
    { type: "zeros", name: "padding", size: ZEROS },
  ]);
  const benign = await pythonTar(`${dir}/benign.tar`, [
    { type: "file", name: "escaped", data: "x" },
    { type: "zeros", name: "padding", size: ZEROS },
  ]);
  assert.equal(hostile.byteLength, benign.byteLength);
  return { hostile, benign };
}

function plan(prepared: PreparedLayer[]) {
  return imagePlan(prepared, {
    platform: { os: "linux", architecture: "amd64" },
    created: "1970-01-01T00:00:00Z",
  });
}

/**
 * The layer, whose file runs `beforeOpen(offset)` each time an upload opens it: through its
 * early reads (a registry takes the bytes before the digest is known), or its blob.
 */
function hooked(layer: StartedLayer, beforeOpen: (offset: number) => void): StartedLayer {
  const early = layer.early!;
  return {
    ...layer,
    early: {
      openAt: (offset) => {
        beforeOpen(offset);
        return early.openAt(offset);
      },
      dropped: () => early.dropped(),
    },
    blob: layer.blob.then((blob): FileBlobSource => {
      const openAt = (offset: number) => {
        beforeOpen(offset);
        return blob.openAt(offset);
      };
      return { ...blob, open: () => openAt(0), openAt };
    }),
  };
}

async function manifestPuts(registry: { requests(): Promise<{ method: string; path: string }[]> }) {
  return (await registry.requests()).filter((r) => r.method === "PUT" && /manifests/.test(r.path));
}

Deno.test("the checks read the bytes the upload sends: a file benign when read alone, hostile when uploaded, is refused", async () => {
  const registry = await startRegistry();
  try {
    await withTempDir("ocisync-bound-", async (dir) => {
      const { hostile, benign } = await layers(dir);
      const path = `${dir}/layer.tar`;
      await Deno.writeFile(path, hostile);
      const started = await startLayer({ kind: "file", path }, dir, 0);
      assert.equal((await started.blob).descriptor.digest, sha256Digest(hostile));
      // Any read from now on sees the benign tar, but the upload's: it sends the hostile one,
      // whose digest is the blob's, so the registry takes it.
      Deno.writeFileSync(path, benign);
      const layer = hooked(started, () => Deno.writeFileSync(path, hostile));
      const target = new RegistryTarget(parseRegistryReference(`${registry.host}/bound/a`));
      const refused = await writeStartedLayers(target, [layer], [layer], plan, ["v1"])
        .catch((error) => error);
      assert.ok(refused instanceof UnsafeContentError, String(refused));
      assert.match(refused.message, /entry "\.\.\/escaped" leaves the image's root/);
      assert.deepEqual(await manifestPuts(registry), [], "no manifest");
    });
  } finally {
    await registry.stop();
  }
});

Deno.test("a blob the registry has: the upload is dropped, and the checks verify the file against its digest", async () => {
  const registry = await startRegistry();
  try {
    await withTempDir("ocisync-bound-", async (dir) => {
      const { hostile, benign } = await layers(dir);
      const target = new RegistryTarget(parseRegistryReference(`${registry.host}/bound/b`));
      const descriptor = {
        mediaType: "application/vnd.oci.image.layer.v1.tar",
        digest: sha256Digest(hostile) as `sha256:${string}`,
        size: hostile.byteLength,
      };
      assert.equal(await target.pushBlob(descriptor, ReadableStream.from([hostile])), true);
      const path = `${dir}/layer.tar`;
      await Deno.writeFile(path, hostile);
      const layer = await startLayer({ kind: "file", path }, dir, 0);
      assert.equal((await layer.blob).descriptor.digest, descriptor.digest);
      // The upload's read, and so the checks', sees the benign tar; the registry has the hostile
      // blob, which the image would reference.
      Deno.writeFileSync(path, benign);
      const before = (await registry.requests()).length;
      const refused = await writeStartedLayers(target, [layer], [layer], plan, ["v1"])
        .catch((error) => error);
      assert.ok(refused instanceof IntegrityError, String(refused));
      assert.match(refused.message, /layer file .*layer\.tar sha256:[0-9a-f]{64} has digest/);
      assert.deepEqual(await manifestPuts(registry), [], "no manifest");
      // The upload that began before the digest was known is dropped, its session deleted.
      const sent = (await registry.requests()).slice(before).map((r) => r.method);
      assert.ok(!sent.includes("PUT"), sent.join(" "));
      assert.ok(sent.includes("DELETE"), sent.join(" "));
    });
  } finally {
    await registry.stop();
  }
});

Deno.test("an upload that resumes reads the file twice: the checks run again on verified bytes", async () => {
  const registry = await startRegistry();
  const proxy = startProxy(registry.host);
  const uploads = /\/blobs\/uploads\//;
  try {
    await withTempDir("ocisync-bound-", async (dir) => {
      const { benign } = await layers(dir);
      const path = `${dir}/layer.tar`;
      const target = new RegistryTarget(parseRegistryReference(`${proxy.host}/bound/c`));
      // Unchanged, plain or gzipped (stored, to stay over 32 MiB): the push succeeds, with the
      // diffId of the tar.
      for (
        const [name, bytes] of [["plain", benign], [
          "gzip",
          gzipSync(benign, { level: 0 }),
        ]] as const
      ) {
        await Deno.writeFile(path, bytes);
        proxy.inject({ method: "PATCH", path: uploads, fault: { kind: "reset", after: 1 << 20 } });
        const opened: number[] = [];
        const layer = hooked(
          await startLayer({ kind: "file", path }, dir, 0),
          (at) => opened.push(at),
        );
        const pushed = await writeStartedLayers(target, [layer], [layer], plan, [name]);
        // Read again from the offset the registry reports (Distribution keeps none of a broken
        // request: from the start).
        assert.equal(opened.length, 2, `${name}: opened at ${opened}`);
        const config = JSON.parse(
          new TextDecoder().decode(
            await new Response(await target.fetchBlob(pushed.config)).bytes(),
          ),
        );
        assert.deepEqual(config.rootfs.diff_ids, [sha256Digest(benign)], name);
      }

      // Changed when the upload resumes: the registry gets bytes of two versions, and refuses
      // them; no manifest is written.
      const changed = benign.slice();
      changed[changed.length - 2048] ^= 1; // in the end-of-archive blocks
      proxy.inject({ method: "PATCH", path: uploads, fault: { kind: "reset", after: 1 << 20 } });
      const puts = (await manifestPuts(registry)).length;
      let opens = 0;
      const again = hooked(await startLayer({ kind: "file", path }, dir, 0), () => {
        if (++opens === 2) Deno.writeFileSync(path, changed);
      });
      await again.blob; // the digest of the first version
      const target2 = new RegistryTarget(parseRegistryReference(`${proxy.host}/bound/d`));
      const refused = await writeStartedLayers(target2, [again], [again], plan, ["v1"])
        .catch((error) => error);
      assert.ok(refused instanceof IntegrityError, String(refused));
      assert.equal((await manifestPuts(registry)).length, puts, "no manifest");
    });
  } finally {
    await proxy.close();
    await registry.stop();
  }
});

Deno.test("a read of the blob cancelled mid-way leaves the checks part of the bytes: they read the file again", async () => {
  await withTempDir("ocisync-bound-", async (dir) => {
    const { benign } = await layers(dir);
    const path = `${dir}/layer.tar.gz`;
    const gzipped = gzipSync(benign);
    await Deno.writeFile(path, gzipped);
    const checks = new LayerFileChecks(
      path,
      Promise.resolve({
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        digest: sha256Digest(gzipped) as `sha256:${string}`,
        size: gzipped.byteLength,
      }),
    );
    // An upload that reads a piece, then fails: the decoder sees a stream cut short.
    const upload = (await checks.openAt(0)).getReader();
    await upload.read();
    await upload.cancel(new Error("connection reset"));
    assert.equal((await checks.verdict()).diffId, sha256Digest(benign));
  });
});
