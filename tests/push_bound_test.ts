/**
 * The checks of a layer file judge the bytes that go up under its digest, never another version
 * of the file: one pass hashes the file and checks the same bytes, and the registry refuses
 * what it is sent (`DIGEST_INVALID`) unless it has that digest; no manifest is written then.
 *
 * Each test swaps the file's content at a chosen moment through the library: after the file was
 * described, when the upload opens it, or when the upload resumes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { IntegrityError, UnsafeContentError, UsageError } from "../src/errors/mod.ts";
import type { PreparedLayer } from "../src/image/blob.ts";
import { imagePlan } from "../src/image/plan.ts";
import type { StartedLayer } from "../src/push/write.ts";
import { describeLayerFileOnWorker } from "../src/push/check.ts";
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

/** The layer, whose file runs `beforeOpen(offset)` each time its upload opens it. */
function hooked(layer: StartedLayer, beforeOpen: (offset: number) => void): StartedLayer {
  const openAt = layer.openAt!;
  return {
    ...layer,
    openAt: (offset: number) => {
      beforeOpen(offset);
      return openAt(offset);
    },
  };
}

async function manifestPuts(registry: { requests(): Promise<{ method: string; path: string }[]> }) {
  return (await registry.requests()).filter((r) => r.method === "PUT" && /manifests/.test(r.path));
}

Deno.test("a file benign when checked and hostile when uploaded is refused by its digest", async () => {
  const registry = await startRegistry();
  try {
    await withTempDir("ocisync-bound-", async (dir) => {
      const { hostile, benign } = await layers(dir);
      const path = `${dir}/layer.tar`;
      await Deno.writeFile(path, benign);
      const started = await startLayer({ kind: "file", path }, dir, 0);
      assert.equal((await started.checked).descriptor.digest, sha256Digest(benign));
      // The upload reads the hostile tar; the digest it is stored under is the benign one's.
      const layer = hooked(started, () => Deno.writeFileSync(path, hostile));
      const target = new RegistryTarget(parseRegistryReference(`${registry.host}/bound/a`));
      const refused = await writeStartedLayers(target, [layer], [layer], plan, ["v1"])
        .catch((error) => error);
      assert.ok(refused instanceof IntegrityError, String(refused));
      assert.match(refused.message, /DIGEST_INVALID|digest/i);
      assert.deepEqual(await manifestPuts(registry), [], "no manifest");
    });
  } finally {
    await registry.stop();
  }
});

Deno.test("the description of a large file on a worker refuses as the same pass here does", async () => {
  await withTempDir("ocisync-bound-", async (dir) => {
    const { hostile, benign } = await layers(dir);
    await Deno.writeFile(`${dir}/hostile.tar.gz`, gzipSync(hostile));
    const unsafe = await describeLayerFileOnWorker(`${dir}/hostile.tar.gz`).catch((e) => e);
    assert.ok(unsafe instanceof UnsafeContentError, String(unsafe));
    assert.match(unsafe.message, /entry "\.\.\/escaped" leaves the image's root/);
    assert.ok(unsafe.hint, "the hint crosses too");
    await Deno.writeTextFile(`${dir}/notes.txt`, "not a tar\n".repeat(100));
    const usage = await describeLayerFileOnWorker(`${dir}/notes.txt`).catch((e) => e);
    assert.ok(usage instanceof UsageError, String(usage));
    const missing = await describeLayerFileOnWorker(`${dir}/missing.tar`).catch((e) => e);
    assert.ok(missing instanceof Deno.errors.NotFound, String(missing));
    // And a benign one: the digests of another implementation.
    await Deno.writeFile(`${dir}/benign.tar.gz`, gzipSync(benign));
    const layer = await describeLayerFileOnWorker(`${dir}/benign.tar.gz`);
    assert.equal(layer.descriptor.digest, sha256Digest(gzipSync(benign)));
    assert.equal(layer.diffId, sha256Digest(benign));
  });
});

Deno.test("an upload that resumes reads the file twice; bytes of two versions are refused", async () => {
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
      await again.checked; // described: the first version
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
