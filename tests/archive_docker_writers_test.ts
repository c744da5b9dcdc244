/**
 * Writers of one `docker-archive:` take turns, as those of an `oci-archive:` do: a second writer
 * waits for the first's lock (`FILE.lock`), then replaces what it wrote (a docker archive holds
 * one image), as when they run one after the other; a file that another tool writes while a
 * writer works is refused, not overwritten. Images are built by hand, and archives read back
 * with GNU tar and node:crypto, not with ocisync.
 */
import assert from "node:assert/strict";
import { DockerArchiveTarget } from "../src/archive/mod.ts";
import { OcisyncError } from "../src/errors/mod.ts";
import { FileLock } from "../src/fs/lock.ts";
import { MediaType } from "../src/oci/mediatypes.ts";
import { ocisync, runOk, shown } from "./helpers/cli.ts";
import { sha256Hex } from "./helpers/hash.ts";
import { blob, imageDocuments } from "./helpers/images.ts";
import { writeImage } from "./helpers/layers.ts";
import { requireTool } from "./helpers/tools.ts";
import { withTempDir } from "./helpers/tree.ts";

requireTool("tar", "tar");
requireTool("mkfifo", "coreutils");

const enc = new TextEncoder();

/**
 * Pushes, as a copy does, an image of one plain layer whose content is `label` (its digest is
 * its diff_id, which is all a docker archive checks of it), tagged `app:TAG`.
 */
async function push(target: DockerArchiveTarget, label: string, tag = label): Promise<void> {
  const layer = blob(MediaType.OciLayer, enc.encode(`${label}\n`));
  const { config, manifest } = imageDocuments([layer], [layer.descriptor.digest], {
    Labels: { label },
  });
  for (const { descriptor, bytes } of [config, layer]) {
    await target.pushBlob(descriptor, ReadableStream.from([bytes]));
  }
  await target.pushManifest(manifest.descriptor, manifest.bytes, [`app:${tag}`]);
}

/** One entry of a docker archive's `manifest.json`. */
interface ArchivedImage {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

/** A file of the archive, as GNU tar reads it. */
async function member(archive: string, name: string): Promise<string> {
  return await runOk("tar", ["--extract", "--to-stdout", "--file", archive, name]);
}

/**
 * The images of a docker archive, each checked whole: its config and layers are in the file,
 * each matching the sha256 its name says, and the config's diff_ids are the layers'.
 */
async function imagesOf(archive: string): Promise<ArchivedImage[]> {
  const images: ArchivedImage[] = JSON.parse(await member(archive, "manifest.json"));
  for (const image of images) {
    const config = await member(archive, image.Config);
    assert.equal(`${sha256Hex(config)}.json`, image.Config);
    const diffIds = image.Layers.map((name) => `sha256:${name.replace(/\.tar$/, "")}`);
    assert.deepEqual(JSON.parse(config).rootfs.diff_ids, diffIds);
    for (const layer of image.Layers) {
      assert.equal(`${sha256Hex(await member(archive, layer))}.tar`, layer);
    }
  }
  return images;
}

/** The names in a folder, sorted: a lock, staging folder or temporary file left behind shows. */
async function names(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name).sort();
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("two ocisync copies into one new docker-archive at once take turns: one whole image, the later one's", async () => {
  await withTempDir("ocisync-docker-writers-", async (tmp) => {
    await writeImage(`${tmp}/a`, [new Uint8Array(1024)]);
    await writeImage(`${tmp}/b`, [new Uint8Array(2048)]);
    await Deno.mkdir(`${tmp}/out`);
    const archive = `${tmp}/out/app.tar`;
    // Held here, so that both copies start before either may write: they run at once.
    const held = await FileLock.acquire(`${archive}.lock`);
    const copies = ["a", "b"].map((name) =>
      ocisync(["copy", `oci:${tmp}/${name}:v1`, `docker-archive:${archive}:app:${name}`])
    );
    await delay(3000);
    await assert.rejects(Deno.stat(archive), Deno.errors.NotFound, "written under another's lock");
    assert.deepEqual(await names(`${tmp}/out`), ["app.tar.lock"], "staged under another's lock");
    await held.release();

    for (const result of await Promise.all(copies)) assert.equal(result.code, 0, shown(result));
    const images = await imagesOf(archive);
    assert.equal(images.length, 1);
    // Which copy went second is up to the lock; its image replaced the first's whole.
    const [tags] = images.map((image) => image.RepoTags);
    assert.ok(
      ["a", "b"].some((name) => tags.join() === `docker.io/library/app:${name}`),
      `RepoTags ${tags}`,
    );
    assert.deepEqual(await names(`${tmp}/out`), ["app.tar"]);
  });
});

Deno.test("a docker-archive that another tool writes while a writer works is left as it is: close fails clearly", async () => {
  await withTempDir("ocisync-docker-writers-", async (tmp) => {
    const archive = `${tmp}/app.tar`;
    const foreign = "written by another tool\n";
    // A new archive that appears meanwhile.
    const fresh = await DockerArchiveTarget.open(archive, { create: true });
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
    const seed = await DockerArchiveTarget.open(archive, { create: true });
    await push(seed, "one");
    await seed.close();
    const existing = await DockerArchiveTarget.open(archive, { create: true });
    await push(existing, "two");
    await Deno.writeTextFile(`${tmp}/other.tar`, foreign);
    await Deno.rename(`${tmp}/other.tar`, archive);
    await assert.rejects(
      existing.close(),
      /app\.tar was changed by another writer after it was opened/,
    );
    assert.equal(await Deno.readTextFile(archive), foreign);
    assert.deepEqual(await names(tmp), ["app.tar"]);

    // Unchanged since it was opened, the file is replaced, as ever: the archive holds one image.
    const after = await DockerArchiveTarget.open(archive, { create: true });
    await push(after, "three");
    await after.close();
    assert.deepEqual((await imagesOf(archive)).map((image) => image.RepoTags), [
      ["docker.io/library/app:three"],
    ]);
    assert.deepEqual(await names(tmp), ["app.tar"]);
  });
});

Deno.test("a dropped docker-archive write releases the lock and leaves nothing", async () => {
  await withTempDir("ocisync-docker-writers-", async (tmp) => {
    const archive = `${tmp}/app.tar`;
    const dropped = await DockerArchiveTarget.open(archive, { create: true });
    await push(dropped, "one");
    await dropped.discard();
    // Would wait 30 s for the lock, had discard() kept it.
    const lock = await FileLock.tryAcquire(`${archive}.lock`);
    assert.ok(lock, "the lock is still held after discard()");
    await lock.release();
    assert.deepEqual(await names(tmp), []);
  });
});

Deno.test("a docker-archive written through a fifo is not taken for a file another writer changed", async () => {
  await withTempDir("ocisync-docker-writers-", async (tmp) => {
    // Over the 1 MiB that the writer buffers: the fifo's mtime moves before the write ends.
    await writeImage(`${tmp}/image`, [new Uint8Array(3 * 1024 * 1024)]);
    const fifo = `${tmp}/pipe`;
    await runOk("mkfifo", [fifo]);
    const read = Deno.readFile(fifo);
    const result = await ocisync(["copy", `oci:${tmp}/image:v1`, `docker-archive:${fifo}:app:v1`]);
    assert.equal(result.code, 0, shown(result));
    await Deno.writeFile(`${tmp}/read.tar`, await read);
    assert.deepEqual((await imagesOf(`${tmp}/read.tar`)).map((image) => image.RepoTags), [
      ["docker.io/library/app:v1"],
    ]);
    assert.deepEqual(await names(tmp), ["image", "pipe", "read.tar"]);
  });
});
