/**
 * Writers of one `oci-archive:` never lose each other's images: a second writer waits for the
 * first's lock (`FILE.lock`), then adds to what it wrote; a file that another tool writes while
 * a writer works is refused, not overwritten. Images are built by hand, and archives read back
 * with GNU tar, not with ocisync.
 */
import assert from "node:assert/strict";
import { OciArchiveTarget } from "../src/archive/mod.ts";
import { OcisyncError } from "../src/errors/mod.ts";
import { FileLock } from "../src/fs/lock.ts";
import { MediaType } from "../src/oci/mediatypes.ts";
import type { Target } from "../src/oci/target.ts";
import { ocisync, runOk, shown } from "./helpers/cli.ts";
import { type Blob, blob, imageDocuments } from "./helpers/images.ts";
import { writeImage } from "./helpers/layers.ts";
import { requireTool } from "./helpers/tools.ts";
import { withTempDir } from "./helpers/tree.ts";

requireTool("tar", "tar");

const enc = new TextEncoder();

/** An image of one layer, whose content is `label`. */
function image(label: string): { blobs: Blob[]; manifest: Blob } {
  const layer = blob(MediaType.OciLayer, enc.encode(`${label}\n`));
  const { config, manifest } = imageDocuments([layer], [layer.descriptor.digest], {
    Labels: { label },
  });
  return { blobs: [config, layer], manifest };
}

/** Pushes an image as a copy does: blobs first, the manifest last, tagged `tag`. */
async function push(target: Target, label: string, tag = label): Promise<void> {
  const { blobs, manifest } = image(label);
  for (const { descriptor, bytes } of blobs) {
    await target.pushBlob(descriptor, ReadableStream.from([bytes]));
  }
  await target.pushManifest(manifest.descriptor, manifest.bytes, [tag]);
}

/** The tags an archive's `index.json` lists, sorted, as GNU tar reads it. */
async function tagsOf(archive: string): Promise<string[]> {
  const index = JSON.parse(
    await runOk("tar", ["--extract", "--to-stdout", "--file", archive, "index.json"]),
  );
  return index.manifests.map((entry: { annotations?: Record<string, string> }) =>
    entry.annotations?.["org.opencontainers.image.ref.name"]
  ).sort();
}

/** The names in a folder, sorted: a lock or staging folder left behind shows. */
async function names(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name).sort();
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("a second writer of a new oci-archive waits for the first, then adds to what it wrote", async () => {
  await withTempDir("ocisync-writers-", async (tmp) => {
    const archive = `${tmp}/out/app.tar`;
    const first = await OciArchiveTarget.open(archive, { create: true });
    await push(first, "one");
    let opened = false;
    const opening = OciArchiveTarget.open(archive, { create: true }).then((target) => {
      opened = true;
      return target;
    });
    await delay(500);
    assert.equal(opened, false, "the second writer opened the archive while the first wrote it");

    await first.close();
    const second = await opening;
    await push(second, "two");
    await second.close();
    assert.deepEqual(await tagsOf(archive), ["one", "two"]);
    assert.deepEqual(await names(`${tmp}/out`), ["app.tar"]);
  });
});

Deno.test("a file another tool writes while a writer works is left as it is: close fails clearly", async () => {
  await withTempDir("ocisync-writers-", async (tmp) => {
    const archive = `${tmp}/app.tar`;
    const foreign = "written by another tool\n";
    // A new archive that appears meanwhile.
    const fresh = await OciArchiveTarget.open(archive, { create: true });
    await push(fresh, "one");
    await Deno.writeTextFile(archive, foreign);
    await assert.rejects(fresh.close(), (error: Error) => {
      assert.ok(error instanceof OcisyncError, String(error));
      assert.match(error.message, /app\.tar was created by another writer after it was opened/);
      return true;
    });
    assert.equal(await Deno.readTextFile(archive), foreign);
    assert.deepEqual(await names(tmp), ["app.tar"]);

    // An existing archive replaced meanwhile, by a rename as skopeo writes.
    await Deno.remove(archive);
    const seed = await OciArchiveTarget.open(archive, { create: true });
    await push(seed, "one");
    await seed.close();
    const existing = await OciArchiveTarget.open(archive, { create: true });
    // Onto the tag: no blob of the old file is read again, whose reads would notice the change.
    await push(existing, "two", "one");
    await Deno.writeTextFile(`${tmp}/other.tar`, foreign);
    await Deno.rename(`${tmp}/other.tar`, archive);
    await assert.rejects(
      existing.close(),
      /app\.tar was changed by another writer after it was opened/,
    );
    assert.equal(await Deno.readTextFile(archive), foreign);
    assert.deepEqual(await names(tmp), ["app.tar"]);
  });
});

Deno.test("two ocisync copies into one new oci-archive at once both land in it", async () => {
  await withTempDir("ocisync-writers-", async (tmp) => {
    await writeImage(`${tmp}/a`, [new Uint8Array(1024)]);
    await writeImage(`${tmp}/b`, [new Uint8Array(2048)]);
    await Deno.mkdir(`${tmp}/out`);
    const archive = `${tmp}/out/app.tar`;
    // Held here, so that both copies start before either may write: they run at once.
    const held = await FileLock.acquire(`${archive}.lock`);
    const copies = ["a", "b"].map((name) =>
      ocisync(["copy", `oci:${tmp}/${name}:v1`, `oci-archive:${archive}:${name}`])
    );
    await delay(3000);
    await assert.rejects(Deno.stat(archive), Deno.errors.NotFound, "written under another's lock");
    await held.release();

    for (const result of await Promise.all(copies)) assert.equal(result.code, 0, shown(result));
    assert.deepEqual(await tagsOf(archive), ["a", "b"]);
    assert.deepEqual(await names(`${tmp}/out`), ["app.tar"]);
  });
});
