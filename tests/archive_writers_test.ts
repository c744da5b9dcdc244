/**
 * Writers of one archive file take turns: a second writer waits for the first's lock
 * (`FILE.lock`), then adds to what it wrote (`oci-archive:`) or replaces it (`docker-archive:`,
 * which holds one image), as when they run one after the other; a file that another tool writes
 * while a writer works is refused, not overwritten. Images are built by hand, and archives read
 * back with GNU tar and node:crypto, not with ocisync.
 */
import assert from "node:assert/strict";
import { DockerArchiveTarget, OciArchiveTarget } from "../src/archive/mod.ts";
import { OcisyncError } from "../src/errors/mod.ts";
import { FileLock } from "../src/fs/lock.ts";
import { MediaType } from "../src/oci/mediatypes.ts";
import type { Target } from "../src/oci/target.ts";
import { ocisync, runOk, shown } from "./helpers/cli.ts";
import { sha256Hex } from "./helpers/hash.ts";
import { type Blob, blob, imageDocuments } from "./helpers/images.ts";
import { writeImage } from "./helpers/layers.ts";
import { requireTool } from "./helpers/tools.ts";
import { withTempDir } from "./helpers/tree.ts";

requireTool("tar", "tar");
requireTool("mkfifo", "coreutils");

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

/** How a test opens an archive for writing, and pushes an image of `label` onto `tag` in it. */
interface ArchiveKind {
  open(path: string): Promise<OciArchiveTarget | DockerArchiveTarget>;
  tag(name: string): string;
}

const OCI: ArchiveKind = {
  open: (path) => OciArchiveTarget.open(path, { create: true }),
  tag: (name) => name,
};
const DOCKER: ArchiveKind = {
  open: (path) => DockerArchiveTarget.open(path, { create: true }),
  tag: (name) => `app:${name}`,
};

/**
 * A new archive that another tool writes meanwhile, and an existing one that it replaces by a
 * rename (as skopeo writes): either writer's close fails, naming the change, and leaves the
 * file as the other tool left it. `onto` is the tag the second image goes onto.
 */
async function foreignWrites(kind: ArchiveKind, tmp: string, onto: string): Promise<void> {
  const archive = `${tmp}/app.tar`;
  const foreign = "written by another tool\n";
  const fresh = await kind.open(archive);
  await push(fresh, "one", kind.tag("one"));
  await Deno.writeTextFile(archive, foreign);
  await assert.rejects(fresh.close(), (error: Error) => {
    assert.ok(error instanceof OcisyncError, String(error));
    assert.match(error.message, /app\.tar was created by another writer after it was opened/);
    return true;
  });
  assert.equal(await Deno.readTextFile(archive), foreign);
  assert.deepEqual(await names(tmp), ["app.tar"]);

  await Deno.remove(archive);
  const seed = await kind.open(archive);
  await push(seed, "one", kind.tag("one"));
  await seed.close();
  const existing = await kind.open(archive);
  await push(existing, "two", kind.tag(onto));
  await Deno.writeTextFile(`${tmp}/other.tar`, foreign);
  await Deno.rename(`${tmp}/other.tar`, archive);
  await assert.rejects(
    existing.close(),
    /app\.tar was changed by another writer after it was opened/,
  );
  assert.equal(await Deno.readTextFile(archive), foreign);
  assert.deepEqual(await names(tmp), ["app.tar"]);
}

Deno.test("an oci-archive that another tool writes while a writer works is left as it is: close fails clearly", async () => {
  // Onto the tag: no blob of the old file is read again, whose reads would notice the change.
  await withTempDir("ocisync-writers-", (tmp) => foreignWrites(OCI, tmp, "one"));
});

/**
 * Two `ocisync copy` runs of images `a` and `b` into one new archive at `tmp/out/app.tar`
 * (`destination` names it, with the tag), started while the test holds the archive's lock:
 * neither writes or stages anything until it is released; both exit 0. Returns the archive.
 */
async function concurrentCopies(
  tmp: string,
  destination: (archive: string, name: string) => string,
): Promise<string> {
  await writeImage(`${tmp}/a`, [new Uint8Array(1024)]);
  await writeImage(`${tmp}/b`, [new Uint8Array(2048)]);
  await Deno.mkdir(`${tmp}/out`);
  const archive = `${tmp}/out/app.tar`;
  const held = await FileLock.acquire(`${archive}.lock`);
  const copies = ["a", "b"].map((name) =>
    ocisync(["copy", `oci:${tmp}/${name}:v1`, destination(archive, name)])
  );
  await delay(3000);
  await assert.rejects(Deno.stat(archive), Deno.errors.NotFound, "written under another's lock");
  assert.deepEqual(await names(`${tmp}/out`), ["app.tar.lock"], "staged under another's lock");
  await held.release();
  for (const result of await Promise.all(copies)) assert.equal(result.code, 0, shown(result));
  assert.deepEqual(await names(`${tmp}/out`), ["app.tar"]);
  return archive;
}

Deno.test("two ocisync copies into one new oci-archive at once both land in it", async () => {
  await withTempDir("ocisync-writers-", async (tmp) => {
    const archive = await concurrentCopies(tmp, (file, name) => `oci-archive:${file}:${name}`);
    assert.deepEqual(await tagsOf(archive), ["a", "b"]);
  });
});

Deno.test("two ocisync copies into one new docker-archive at once take turns: one whole image, the later one's", async () => {
  await withTempDir("ocisync-docker-writers-", async (tmp) => {
    const archive = await concurrentCopies(
      tmp,
      (file, name) => `docker-archive:${file}:app:${name}`,
    );
    const images = await imagesOf(archive);
    assert.equal(images.length, 1);
    // Which copy went second is up to the lock; its image replaced the first's whole.
    const [tags] = images.map((image) => image.RepoTags);
    assert.ok(
      ["a", "b"].some((name) => tags.join() === `docker.io/library/app:${name}`),
      `RepoTags ${tags}`,
    );
  });
});

Deno.test("a docker-archive that another tool writes while a writer works is left as it is: close fails clearly", async () => {
  await withTempDir("ocisync-docker-writers-", async (tmp) => {
    await foreignWrites(DOCKER, tmp, "two");
    const archive = `${tmp}/app.tar`;
    // What the other tool left is no docker archive: it is not replaced at all.
    await assert.rejects(
      DockerArchiveTarget.open(archive, { create: true }),
      /refusing to replace .*app\.tar: it is not a docker archive/,
    );
    assert.equal(await Deno.readTextFile(archive), "written by another tool\n");
    // An archive of one image, unchanged since it was opened, is replaced, as ever.
    await Deno.remove(archive);
    const seed = await DockerArchiveTarget.open(archive, { create: true });
    await push(seed, "two", "app:two");
    await seed.close();
    const after = await DockerArchiveTarget.open(archive, { create: true });
    await push(after, "three", "app:three");
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
    await push(dropped, "one", "app:one");
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
