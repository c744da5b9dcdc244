/**
 * Tests of the OCI image layout store (src/layout) against real peers: umoci
 * and skopeo read what it writes, and it reads what they write. Test images
 * are built by hand: GNU tar layers, configs and manifests.
 */
import { withTempDir } from "./helpers/tree.ts";
import assert from "node:assert/strict";
import { sha256Digest } from "../src/digest/mod.ts";
import { IntegrityError, NotFoundError, OcisyncError, UsageError } from "../src/errors/mod.ts";
import { withLock } from "../src/layout/lock.ts";
import { type Descriptor, gcLayout, LayoutTarget, REF_NAME_ANNOTATION } from "../src/layout/mod.ts";
import { MediaType } from "../src/oci/mediatypes.ts";
import { type Manifest, parseManifestOrIndex } from "../src/oci/types.ts";
import { expectExit, ocisync, ocisyncOk, runOk, shown } from "./helpers/cli.ts";
import { ExitCode } from "../src/cli/exit.ts";
import { type Blob, blob, imageDocuments, jsonBlob } from "./helpers/images.ts";
import { requireTool } from "./helpers/tools.ts";

requireTool("skopeo", "skopeo");
requireTool("umoci", "umoci");
requireTool("tar", "tar");
requireTool("gzip", "gzip");
requireTool("sha256sum", "coreutils");

const enc = new TextEncoder();
const dec = new TextDecoder();
const MOD_URL = new URL("../src/layout/mod.ts", import.meta.url).href;
const LOCK_URL = new URL("../src/layout/lock.ts", import.meta.url).href;
const DIGEST_URL = new URL("../src/digest/mod.ts", import.meta.url).href;

/** A single-platform image: manifest, config, layers. */
interface TestImage {
  manifest: Blob;
  config: Blob;
  layers: Blob[];
}

/** A layer and the digest of its uncompressed tar. */
interface TestLayer {
  blob: Blob;
  diffId: string;
}

/** A gzip tar made by GNU tar, holding `files`; its diff_id from `gzip -dc | sha256sum`. */
async function makeLayer(work: string, files: Record<string, string>): Promise<TestLayer> {
  const dir = await Deno.makeTempDir({ dir: work });
  for (const [name, content] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${name}`, content);
  }
  const tarball = `${dir}.tar.gz`;
  await runOk("tar", ["czf", tarball, "-C", dir, "."]);
  const sum = await runOk("sh", ["-c", 'gzip -dc "$0" | sha256sum', tarball]);
  return {
    blob: blob(MediaType.OciLayerGzip, await Deno.readFile(tarball)),
    diffId: `sha256:${sum.split(" ")[0]}`,
  };
}

function makeImage(layers: TestLayer[], label = "test"): TestImage {
  const blobs = layers.map((l) => l.blob);
  const { config, manifest } = imageDocuments(blobs, layers.map((l) => l.diffId), {
    Labels: { label },
  });
  return { manifest, config, layers: blobs };
}

async function storeBlobs(layout: LayoutTarget, blobs: Blob[]): Promise<void> {
  for (const { descriptor, bytes } of blobs) {
    await layout.pushBlob(descriptor, ReadableStream.from([bytes]));
  }
}

async function pushImage(layout: LayoutTarget, image: TestImage, tags: string[]): Promise<void> {
  await storeBlobs(layout, [...image.layers, image.config]);
  await layout.pushManifest(image.manifest.descriptor, image.manifest.bytes, tags);
}

/** Reads a manifest and every blob it names through the layout, so that each is verified. */
async function readImage(layout: LayoutTarget, reference: string): Promise<Manifest> {
  const descriptor = await layout.resolve(reference);
  const doc = parseManifestOrIndex(await layout.fetchManifest(descriptor));
  assert.ok(doc.kind === "manifest");
  const { manifest } = doc;
  for (const child of [manifest.config, ...manifest.layers]) {
    const bytes = await new Response(await layout.fetchBlob(child)).bytes();
    assert.equal(bytes.length, child.size);
  }
  return manifest;
}

async function blobFiles(root: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(`${root}/blobs/sha256`))).map((e) => e.name).sort();
}

async function readIndexJson(root: string): Promise<{ manifests: Descriptor[] }> {
  return JSON.parse(await Deno.readTextFile(`${root}/index.json`));
}

Deno.test("umoci and skopeo read a layout that LayoutTarget wrote", async () => {
  await withTempDir("ocisync-layout-", async (work) => {
    const image = makeImage([await makeLayer(work, { "hello.txt": "hello from ocisync\n" })]);
    const dir = `${work}/layout`;
    await pushImage(await LayoutTarget.open(dir, { create: true }), image, ["v1"]);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/oci-layout`)), {
      imageLayoutVersion: "1.0.0",
    });

    await runOk("umoci", ["unpack", "--rootless", "--image", `${dir}:v1`, `${work}/bundle`]);
    assert.equal(
      await Deno.readTextFile(`${work}/bundle/rootfs/hello.txt`),
      "hello from ocisync\n",
    );

    const inspected = JSON.parse(await runOk("skopeo", ["inspect", `oci:${dir}:v1`]));
    assert.equal(inspected.Digest, image.manifest.descriptor.digest);
    assert.equal(inspected.Architecture, "amd64");

    await runOk("skopeo", ["--insecure-policy", "copy", `oci:${dir}:v1`, `oci:${work}/copy:v2`]);
    const copy = await LayoutTarget.open(`${work}/copy`);
    assert.equal((await copy.resolve("v2")).digest, image.manifest.descriptor.digest);
  });
});

Deno.test("LayoutTarget reads layouts that umoci and skopeo wrote", async () => {
  await withTempDir("ocisync-layout-", async (work) => {
    const theirs = `${work}/umoci`;
    await runOk("umoci", ["init", "--layout", theirs]);
    await runOk("umoci", ["new", "--image", `${theirs}:t`]);
    const empty = (await (await LayoutTarget.open(theirs)).resolve("t")).digest;
    await Deno.writeTextFile(`${work}/f.txt`, "inserted\n");
    await runOk("umoci", [
      "insert",
      "--rootless",
      "--image",
      `${theirs}:t`,
      `${work}/f.txt`,
      "/etc/f.txt",
    ]);
    const umoci = await LayoutTarget.open(theirs);
    assert.equal((await readImage(umoci, "t")).layers.length, 1);
    assert.deepEqual(await Array.fromAsync(umoci.tags()), ["t"]);
    // umoci keeps the replaced manifest as an unlisted blob: found by digest, typed from its JSON.
    const unlisted = await umoci.resolve(empty);
    assert.equal(unlisted.mediaType, MediaType.OciManifest);
    assert.equal(unlisted.size, (await Deno.stat(`${theirs}/blobs/sha256/${empty.slice(7)}`)).size);

    const mine = `${work}/mine`;
    const image = makeImage([await makeLayer(work, { "a.txt": "a\n" })]);
    await pushImage(await LayoutTarget.open(mine, { create: true }), image, ["v1"]);
    await runOk("skopeo", ["--insecure-policy", "copy", `oci:${mine}:v1`, `oci:${work}/other:x`]);
    const skopeo = await LayoutTarget.open(`${work}/other`);
    assert.equal((await skopeo.resolve("x")).digest, image.manifest.descriptor.digest);
    assert.equal((await readImage(skopeo, "x")).layers.length, 1);
    await assert.rejects(skopeo.resolve(image.config.descriptor.digest), NotFoundError);
  });
});

Deno.test("a blob that does not match its digest is refused and leaves no file", async () => {
  await withTempDir("ocisync-layout-", async (dir) => {
    const layout = await LayoutTarget.open(dir, { create: true });
    const good = blob(MediaType.OciLayer, enc.encode("the real bytes"));
    const bad = enc.encode("other bytes!!!");
    assert.equal(bad.length, good.bytes.length);
    await assert.rejects(
      layout.pushBlob(good.descriptor, ReadableStream.from([bad])),
      IntegrityError,
    );
    // Too many bytes, in several chunks.
    await assert.rejects(
      layout.pushBlob(good.descriptor, ReadableStream.from([good.bytes, enc.encode("+")])),
      IntegrityError,
    );
    await assert.rejects(
      layout.pushManifest(good.descriptor, bad, ["v1"]),
      IntegrityError,
    );
    assert.deepEqual(await blobFiles(dir), []);
    assert.equal(await layout.hasBlob(good.descriptor), false);
    assert.deepEqual((await readIndexJson(dir)).manifests, []);

    // A blob corrupted on disk is noticed when it is read.
    const image = makeImage([]);
    await pushImage(layout, image, ["v1"]);
    const configPath = `${dir}/blobs/sha256/${image.config.descriptor.digest.slice(7)}`;
    await Deno.writeFile(configPath, new Uint8Array(image.config.bytes.length));
    await assert.rejects(
      new Response(await layout.fetchBlob(image.config.descriptor)).bytes(),
      IntegrityError,
    );
    await assert.rejects(layout.fetchManifest(image.config.descriptor), IntegrityError);
    await assert.rejects(
      layout.fetchBlob(blob(MediaType.OciLayer, enc.encode("absent")).descriptor),
      NotFoundError,
    );
  });
});

Deno.test("an existing blob is not written again", async () => {
  await withTempDir("ocisync-layout-", async (dir) => {
    const layout = await LayoutTarget.open(dir, { create: true });
    const { descriptor, bytes } = blob(MediaType.OciLayer, enc.encode("once"));
    await layout.pushBlob(descriptor, ReadableStream.from([bytes]));
    const path = `${dir}/blobs/sha256/${descriptor.digest.slice(7)}`;
    const before = await Deno.stat(path);
    await new Promise((resolve) => setTimeout(resolve, 20));
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      pull() {
        throw new Error("the body of a stored blob must not be read");
      },
      cancel() {
        cancelled = true;
      },
    }, { highWaterMark: 0 }); // pull only when read
    await layout.pushBlob(descriptor, body);
    const after = await Deno.stat(path);
    assert.ok(cancelled);
    assert.equal(after.ino, before.ino);
    assert.equal(after.mtime?.getTime(), before.mtime?.getTime());
    assert.deepEqual(await blobFiles(dir), [descriptor.digest.slice(7)]);
  });
});

Deno.test("a blob is read from any offset, for an upload that resumes", async () => {
  await withTempDir("ocisync-layout-", async (dir) => {
    const layout = await LayoutTarget.open(dir, { create: true });
    const { descriptor, bytes } = blob(MediaType.OciLayer, enc.encode("0123456789"));
    await layout.pushBlob(descriptor, ReadableStream.from([bytes]));
    const from = async (offset: number) =>
      new TextDecoder().decode(
        await new Response(await layout.fetchBlobFrom(descriptor, offset)).bytes(),
      );
    assert.equal(await from(0), "0123456789");
    assert.equal(await from(7), "789");
    assert.equal(await from(10), "");
    assert.equal(await from(11), "");
    // A part is not verified (only the whole can be); it is the bytes as they are on disk.
    await Deno.writeFile(
      `${dir}/blobs/sha256/${descriptor.digest.slice(7)}`,
      enc.encode("abcdefghij"),
    );
    assert.equal(await from(7), "hij");
    await assert.rejects(
      layout.fetchBlobFrom(blob(MediaType.OciLayer, enc.encode("absent")).descriptor, 0),
      NotFoundError,
    );
  });
});

Deno.test("8 processes tag one layout at once without losing an update", async () => {
  await withTempDir("ocisync-layout-", async (work) => {
    const script = `${work}/push.ts`;
    await Deno.writeTextFile(
      script,
      `import { sha256Digest } from ${JSON.stringify(DIGEST_URL)};
import { LayoutTarget } from ${JSON.stringify(MOD_URL)};
const [dir, tag, startAt] = Deno.args;
const enc = new TextEncoder();
const config = enc.encode(JSON.stringify({
  architecture: "amd64",
  os: "linux",
  config: { Labels: { tag } },
  rootfs: { type: "layers", diff_ids: [] },
}));
const configDescriptor = {
  mediaType: "${MediaType.OciConfig}",
  digest: sha256Digest(config),
  size: config.length,
};
const manifest = enc.encode(JSON.stringify({
  schemaVersion: 2,
  mediaType: "${MediaType.OciManifest}",
  config: configDescriptor,
  layers: [],
}));
// Start together, so that the processes contend for the lock.
await new Promise((resolve) => setTimeout(resolve, Number(startAt) - Date.now()));
const layout = await LayoutTarget.open(dir, { create: true });
await layout.pushBlob(configDescriptor, ReadableStream.from([config]));
const descriptor = {
  mediaType: "${MediaType.OciManifest}",
  digest: sha256Digest(manifest),
  size: manifest.length,
};
await layout.pushManifest(descriptor, manifest, [tag]);
`,
    );
    const dir = `${work}/layout`;
    const tags = Array.from({ length: 8 }, (_, i) => `p${i}`);
    const startAt = String(Date.now() + 1500);
    const results = await Promise.all(tags.map((tag) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-config",
          "--no-lock",
          "-RW",
          "--allow-sys=hostname",
          script,
          dir,
          tag,
          startAt,
        ],
        cwd: work,
        stdout: "piped",
        stderr: "piped",
      }).output()
    ));
    for (const result of results) assert.equal(result.code, 0, dec.decode(result.stderr));
    const index = await readIndexJson(dir);
    assert.deepEqual(
      index.manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION]).sort(),
      tags,
    );
    assert.equal(new Set(index.manifests.map((d) => d.digest)).size, 8);
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort(),
      ["blobs", "index.json", "oci-layout"],
    );
    assert.equal((await blobFiles(dir)).length, 16);
  });
});

Deno.test("gc removes exactly the blobs that index.json no longer reaches", async () => {
  await withTempDir("ocisync-layout-", async (work) => {
    const dir = `${work}/layout`;
    const layout = await LayoutTarget.open(dir, { create: true });
    const shared = await makeLayer(work, { "shared.txt": "shared\n" });
    const oldOnly = await makeLayer(work, { "old.txt": "old\n" });
    const newOnly = await makeLayer(work, { "new.txt": "new\n" });
    const oldImage = makeImage([shared, oldOnly], "old");
    const newImage = makeImage([shared, newOnly], "new");
    await pushImage(layout, oldImage, ["v1"]);
    await pushImage(layout, newImage, ["v1"]);

    // A tagged index whose children are not listed in index.json themselves.
    const child = makeImage([await makeLayer(work, { "child.txt": "child\n" })], "child");
    const unknown = blob("application/vnd.example.unknown", enc.encode("opaque"));
    await storeBlobs(layout, [...child.layers, child.config, child.manifest, unknown]);
    const index = jsonBlob(MediaType.OciIndex, {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        { ...child.manifest.descriptor, platform: { architecture: "amd64", os: "linux" } },
        unknown.descriptor,
      ],
    });
    await layout.pushManifest(index.descriptor, index.bytes, ["multi"]);
    // Not listed, so described from the blob itself.
    assert.deepEqual(
      await layout.resolve(child.manifest.descriptor.digest),
      child.manifest.descriptor,
    );

    // Referrers of the new image: one listed (kept), one only stored (removed).
    const empty = blob(MediaType.OciEmpty, enc.encode("{}"));
    await storeBlobs(layout, [empty]);
    const referrer = (note: string): Blob =>
      jsonBlob(MediaType.OciManifest, {
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        artifactType: "application/vnd.example.note",
        config: empty.descriptor,
        layers: [empty.descriptor],
        subject: newImage.manifest.descriptor,
        annotations: { note },
      });
    const listedReferrer = referrer("listed");
    await layout.pushManifest(listedReferrer.descriptor, listedReferrer.bytes, []);
    const storedReferrer = referrer("stored");
    const stray = blob(MediaType.OciLayer, enc.encode("stray"));
    await storeBlobs(layout, [storedReferrer, stray]);
    const staleTemp = `${dir}/blobs/sha256/.${"0".repeat(64)}.deadbeef.tmp`;
    const freshTemp = `${dir}/blobs/sha256/.${"1".repeat(64)}.cafebabe.tmp`;
    await Deno.writeTextFile(staleTemp, "partial");
    await Deno.writeTextFile(freshTemp, "in progress");
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await Deno.utime(staleTemp, twoHoursAgo, twoHoursAgo);

    const before = await blobFiles(dir);
    // No grace period: nothing else writes to this layout.
    const result = await gcLayout(dir, { graceMs: 0 });

    const expected = [oldImage.manifest, oldImage.config, oldOnly.blob, storedReferrer, stray]
      .map((b) => ({ digest: b.descriptor.digest, size: b.bytes.length }))
      .sort((a, b) => a.digest < b.digest ? -1 : 1);
    assert.deepEqual(result.removed, expected);
    assert.equal(
      result.freedBytes,
      expected.reduce((sum, b) => sum + b.size, 0),
    );
    const after = await blobFiles(dir);
    // Temporary files are never gc's to remove, however old.
    assert.deepEqual(
      after,
      before.filter((name) => !expected.some((b) => b.digest === `sha256:${name}`)),
    );
    assert.equal(await Deno.readTextFile(staleTemp), "partial");
    assert.equal(result.kept, after.length - 2); // less the two temporary files
    assert.deepEqual(result.withinGrace, []);
    for (const kept of [shared, newOnly]) assert.ok(await layout.hasBlob(kept.blob.descriptor));
    assert.ok(await layout.hasBlob(unknown.descriptor));
    await readImage(layout, "v1");
    await readImage(layout, child.manifest.descriptor.digest);
    await runOk("umoci", ["unpack", "--rootless", "--image", `${dir}:v1`, `${work}/bundle`]);
    assert.equal(await Deno.readTextFile(`${work}/bundle/rootfs/new.txt`), "new\n");

    const again = await gcLayout(dir, { graceMs: 0 });
    assert.deepEqual(again.removed, []);
    assert.equal(again.freedBytes, 0);
  });
});

Deno.test("tags, resolve and the default image", async () => {
  await withTempDir("ocisync-layout-", async (dir) => {
    const layout = await LayoutTarget.open(dir, { create: true });
    await assert.rejects(layout.resolveOrDefault(undefined), NotFoundError);
    const images = Array.from({ length: 12 }, (_, i) => makeImage([], `image ${i}`));
    await storeBlobs(layout, images.map((image) => image.config));
    const [a, b] = images;
    // Untagged: listed once, however often it is pushed.
    await layout.pushManifest(a.manifest.descriptor, a.manifest.bytes, []);
    await layout.pushManifest(a.manifest.descriptor, a.manifest.bytes, []);
    assert.equal((await layout.listEntries()).length, 1);
    assert.equal((await layout.resolveOrDefault(undefined)).digest, a.manifest.descriptor.digest);

    // Tagging replaces the untagged entry; the platform and other annotations are kept, a
    // source's ref.name is not.
    await layout.pushManifest(
      {
        ...a.manifest.descriptor,
        platform: { architecture: "amd64", os: "linux" },
        annotations: { [REF_NAME_ANNOTATION]: "from-source", "org.example": "x" },
      },
      a.manifest.bytes,
      ["v1", "latest"],
    );
    await layout.pushManifest(b.manifest.descriptor, b.manifest.bytes, ["v2"]);
    assert.deepEqual(await Array.fromAsync(layout.tags()), ["v1", "latest", "v2"]);
    const v1 = await layout.resolve("v1");
    assert.deepEqual(v1.platform, { architecture: "amd64", os: "linux" });
    assert.deepEqual(v1.annotations, { "org.example": "x", [REF_NAME_ANNOTATION]: "v1" });
    assert.equal(
      (await layout.resolve(a.manifest.descriptor.digest)).annotations?.[REF_NAME_ANNOTATION],
      "v1",
    );

    // Moving a tag keeps its place in the index.
    await layout.pushManifest(b.manifest.descriptor, b.manifest.bytes, ["v1"]);
    assert.deepEqual(await Array.fromAsync(layout.tags()), ["v1", "latest", "v2"]);
    assert.equal((await layout.resolve("v1")).digest, b.manifest.descriptor.digest);

    await assert.rejects(layout.resolve("nope"), (error: Error) => {
      assert.ok(error instanceof NotFoundError);
      assert.match(error.message, /tag "nope" not found in oci:.*: its tags are v1, latest, v2$/);
      return true;
    });
    await assert.rejects(layout.resolveOrDefault(undefined), UsageError);
    assert.equal((await layout.resolveOrDefault("v2")).digest, b.manifest.descriptor.digest);
    await assert.rejects(
      layout.pushManifest(a.manifest.descriptor, a.manifest.bytes, ["-x"]),
      UsageError,
    );

    await layout.removeTag("latest");
    assert.deepEqual(await Array.fromAsync(layout.tags()), ["v1", "v2"]);
    await assert.rejects(layout.removeTag("latest"), NotFoundError);

    for (const [i, image] of images.entries()) {
      await layout.pushManifest(image.manifest.descriptor, image.manifest.bytes, [`t${i}`]);
    }
    await assert.rejects(layout.resolve("nope"), /: it has 14 tags$/);
    await assert.rejects(layout.resolve(sha256Digest(enc.encode("absent"))), NotFoundError);
  });
});

Deno.test("opening a missing or invalid layout fails clearly", async () => {
  await withTempDir("ocisync-layout-", async (work) => {
    await assert.rejects(LayoutTarget.open(`${work}/missing`), (error: Error) => {
      assert.ok(error instanceof NotFoundError);
      assert.ok(error.message.includes(`${work}/missing`));
      return true;
    });
    await Deno.mkdir(`${work}/plain`);
    await assert.rejects(LayoutTarget.open(`${work}/plain`), NotFoundError);

    const created = await LayoutTarget.open(`${work}/new/layout/`, { create: true });
    assert.equal(created.name, `oci:${work}/new/layout`);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${work}/new/layout/index.json`)), {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [],
    });
    assert.ok((await Deno.stat(`${work}/new/layout/blobs/sha256`)).isDirectory);

    const future = `${work}/future`;
    await Deno.mkdir(future);
    await Deno.writeTextFile(`${future}/oci-layout`, '{"imageLayoutVersion":"2.0.0"}');
    for (const create of [false, true]) {
      await assert.rejects(LayoutTarget.open(future, { create }), (error: Error) => {
        assert.ok(error instanceof OcisyncError);
        assert.match(error.message, /imageLayoutVersion "2\.0\.0"; only 1\.0\.0 is supported/);
        return true;
      });
    }
    const broken = `${work}/broken`;
    await LayoutTarget.open(broken, { create: true });
    await Deno.writeTextFile(`${broken}/index.json`, '{"schemaVersion":2,"manifests":[');
    await assert.rejects(LayoutTarget.open(broken), /index\.json is not a valid image index/);
    await assert.rejects(gcLayout(broken), /index\.json is not a valid image index/);
  });
});

Deno.test("the index.json lock waits for live holders and breaks dead ones", async () => {
  await withTempDir("ocisync-layout-", async (dir) => {
    const lock = `${dir}/index.json.lock`;
    const holderScript = `${dir}/hold.ts`;
    await Deno.writeTextFile(
      holderScript,
      `import { withLock } from ${JSON.stringify(LOCK_URL)};
await withLock(Deno.args[0], async () => {
  console.log("locked");
  await new Promise((resolve) => setTimeout(resolve, 60_000));
});
`,
    );
    const holder = new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--no-lock", "-RW", "--allow-sys=hostname", holderScript, lock],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let said = "";
    while (!said.includes("locked")) said += (await reader.read()).value ?? "";
    await assert.rejects(
      withLock(lock, () => Promise.resolve(), { timeoutMs: 300 }),
      (error: Error) => {
        assert.ok(error instanceof OcisyncError);
        assert.match(error.message, new RegExp(`held by pid ${holder.pid} on host `));
        return true;
      },
    );

    // A holder killed while holding leaves the file; on the same host it is broken at once.
    holder.kill("SIGKILL");
    await holder.status;
    await reader.cancel();
    assert.ok(await Deno.stat(lock));
    const started = Date.now();
    assert.equal(await withLock(lock, () => Promise.resolve(42), { timeoutMs: 2000 }), 42);
    assert.ok(Date.now() - started < 1000);
    await assert.rejects(Deno.stat(lock), Deno.errors.NotFound);

    // Another host's lock is respected until it is older than staleMs.
    const foreign = { pid: 1, hostname: "elsewhere.invalid", time: new Date().toISOString() };
    await Deno.writeTextFile(lock, JSON.stringify(foreign));
    await assert.rejects(
      withLock(lock, () => Promise.resolve(), { timeoutMs: 200 }),
      /held by pid 1 on host elsewhere\.invalid/,
    );
    const old = new Date(Date.now() - 10 * 60_000);
    await Deno.utime(lock, old, old);
    await withLock(lock, () => Promise.resolve());
    await assert.rejects(Deno.stat(lock), Deno.errors.NotFound);
  });
});

Deno.test("writes into a layout replace links and special files, never write through them", async () => {
  await withTempDir("ocisync-layout-links-", async (work) => {
    await Deno.mkdir(`${work}/flows`);
    await Deno.writeTextFile(`${work}/flows/flow.py`, "print('hi')\n");
    await ocisyncOk(["push", `oci:${work}/src:v1`, `${work}/flows`]);
    await ocisyncOk(["copy", `oci:${work}/src:v1`, `oci:${work}/dst:v1`]);
    // Whoever may write into dst puts links to files outside, and a fifo, where its blobs and
    // its index.json are.
    const outside = `${work}/outside`;
    await Deno.mkdir(outside);
    await Deno.writeTextFile(`${outside}/victim`, "not a blob");
    await Deno.copyFile(`${work}/dst/index.json`, `${outside}/index.json`);
    const blobs = [...Deno.readDirSync(`${work}/dst/blobs/sha256`)].map((e) => e.name).sort();
    assert.equal(blobs.length, 3);
    const [first, second, third] = blobs.map((hex) => `${work}/dst/blobs/sha256/${hex}`);
    await Deno.remove(first);
    await Deno.symlink(`${outside}/victim`, first);
    await Deno.remove(second);
    await Deno.symlink(`${outside}/created`, second);
    await Deno.remove(third);
    await runOk("mkfifo", [third]);
    await Deno.remove(`${work}/dst/index.json`);
    await Deno.symlink(`${outside}/index.json`, `${work}/dst/index.json`);
    const indexBefore = await Deno.readTextFile(`${outside}/index.json`);

    // index.json is read before it is written: through a link, it is refused unread.
    const refused = expectExit(
      await ocisync(["copy", `oci:${work}/src:v1`, `oci:${work}/dst:v2`]),
      ExitCode.Integrity,
    );
    assert.match(refused.stderr, /dst\/index\.json is a symlink: a layout's files are regular/);
    assert.equal(await Deno.readTextFile(`${outside}/index.json`), indexBefore);
    await Deno.remove(`${work}/dst/index.json`);
    await Deno.writeTextFile(`${work}/dst/index.json`, indexBefore);

    await ocisyncOk(["copy", `oci:${work}/src:v1`, `oci:${work}/dst:v2`]);

    assert.equal(await Deno.readTextFile(`${outside}/victim`), "not a blob");
    await assert.rejects(Deno.lstat(`${outside}/created`), Deno.errors.NotFound);
    assert.equal(await Deno.readTextFile(`${outside}/index.json`), indexBefore);
    for (const [hex, path] of blobs.map((hex, i) => [hex, [first, second, third][i]])) {
      assert.ok((await Deno.lstat(path)).isFile, path);
      assert.equal(sha256Digest(await Deno.readFile(path)), `sha256:${hex}`);
    }
    assert.ok((await Deno.lstat(`${work}/dst/index.json`)).isFile);
    const tags = await ocisyncOk(["tags", `oci:${work}/dst`]);
    assert.deepEqual(tags.trim().split("\n").sort(), ["v1", "v2"]);
  });
});

Deno.test("a fifo in a layout is refused by its readers, never waited on", async () => {
  await withTempDir("ocisync-layout-fifo-", async (work) => {
    await Deno.mkdir(`${work}/flows`);
    await Deno.writeTextFile(`${work}/flows/flow.py`, "print('hi')\n");
    await ocisyncOk(["push", `oci:${work}/a:v1`, `${work}/flows`]);
    await ocisyncOk(["copy", `oci:${work}/a:v1`, `oci:${work}/b:v1`]);
    // In a: the layer's blob is a fifo; in b: index.json is.
    const index = JSON.parse(await Deno.readTextFile(`${work}/a/index.json`));
    const manifest = JSON.parse(
      await Deno.readTextFile(`${work}/a/blobs/${index.manifests[0].digest.replace(":", "/")}`),
    );
    const layer = `${work}/a/blobs/${manifest.layers[0].digest.replace(":", "/")}`;
    await Deno.remove(layer);
    await runOk("mkfifo", [layer]);
    await Deno.remove(`${work}/b/index.json`);
    await runOk("mkfifo", [`${work}/b/index.json`]);

    const pulled = await ocisync(["pull", `oci:${work}/a:v1`, "-o", `${work}/out`]);
    assert.equal(pulled.code, 5, shown(pulled));
    assert.match(pulled.stderr, /is not a regular file/);
    const inspected = await ocisync(["inspect", `oci:${work}/b:v1`]);
    assert.equal(inspected.code, 5, shown(inspected));
    assert.match(inspected.stderr, /index\.json is not a regular file/);
  });
});

Deno.test("a manifest whose blobs the layout lacks is refused: index.json lists only what can be pulled", async () => {
  // A NaN concurrency in the library pushed no blob, and the layout listed the manifest anyway.
  await withTempDir("ocisync-layout-blobs-", async (dir) => {
    const layout = await LayoutTarget.open(dir, { create: true });
    const layer = blob(MediaType.OciLayer, new TextEncoder().encode("not pushed"));
    const image = imageDocuments([layer], [layer.descriptor.digest], {});
    await layout.pushBlob(image.config.descriptor, ReadableStream.from([image.config.bytes]));
    const before = await Deno.readTextFile(`${dir}/index.json`);
    await assert.rejects(
      layout.pushManifest(image.manifest.descriptor, image.manifest.bytes, ["v1"]),
      (error: Error) =>
        error instanceof NotFoundError &&
        error.message.includes(`needs blob ${layer.descriptor.digest}`),
    );
    assert.equal(await Deno.readTextFile(`${dir}/index.json`), before);
    await layout.pushBlob(layer.descriptor, ReadableStream.from([layer.bytes]));
    await layout.pushManifest(image.manifest.descriptor, image.manifest.bytes, ["v1"]);
    assert.equal((await layout.resolve("v1")).digest, image.manifest.descriptor.digest);
  });
});
