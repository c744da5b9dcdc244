/**
 * Tests of the archive targets (src/archive) against real peers: skopeo reads
 * the `oci-archive:` files ocisync writes and ocisync reads skopeo's; podman
 * loads the `docker-archive:` files ocisync writes and ocisync reads skopeo's;
 * GNU tar makes the hostile archives. Test images are made here: GNU tar
 * layers, node:crypto digests, configs and manifests by hand.
 */
import assert from "node:assert/strict";
import { DockerArchiveTarget, OciArchiveTarget, openArchiveTarget } from "../src/archive/mod.ts";
import { IntegrityError, UnsafeContentError, UsageError } from "../src/errors/mod.ts";
import { type Descriptor, LayoutTarget } from "../src/layout/mod.ts";
import { MediaType } from "../src/oci/mediatypes.ts";
import { isBlobRangeFetcher, type Target } from "../src/oci/target.ts";
import { type Manifest, parseManifestOrIndex } from "../src/oci/types.ts";
import { parseArchiveReference } from "../src/ref/mod.ts";
import { runOk } from "./helpers/cli.ts";
import { sha256Hex } from "./helpers/hash.ts";
import { type Blob, blob, imageDocuments, jsonBlob } from "./helpers/images.ts";
import { podmanArgs } from "./helpers/podman.ts";
import { requireTool } from "./helpers/tools.ts";
import { withTempDir } from "./helpers/tree.ts";

requireTool("skopeo", "skopeo");
requireTool("tar", "tar");
requireTool("gzip", "gzip");

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A single-platform image: manifest, config, layers, and the layers' diff_ids. */
interface TestImage {
  manifest: Blob;
  config: Blob;
  layers: Blob[];
  diffIds: string[];
}

function sha256(bytes: Uint8Array): Descriptor["digest"] {
  return `sha256:${sha256Hex(bytes)}`;
}

/**
 * An image of two layers made by GNU tar: one gzip-compressed (`gzip -n`, so the bytes are the
 * same each time), one a plain tar. `label` makes images differ.
 */
async function makeImage(work: string, label: string): Promise<TestImage> {
  const dir = await Deno.makeTempDir({ dir: work });
  const layers: Blob[] = [];
  const diffIds: string[] = [];
  for (const [i, compress] of [true, false].entries()) {
    await Deno.writeTextFile(`${dir}/file-${label}-${i}.txt`, `${label} layer ${i}\n`);
    const tarball = `${dir}/layer${i}.tar`;
    await runOk("tar", [
      "--create",
      "--file",
      tarball,
      "--directory",
      dir,
      "--mtime=@0",
      "--owner=0",
      "--group=0",
      "--numeric-owner",
      `file-${label}-${i}.txt`,
    ]);
    const plain = await Deno.readFile(tarball);
    diffIds.push(sha256(plain));
    if (compress) {
      await runOk("sh", ["-c", 'gzip -n -c "$0" > "$0.gz"', tarball]);
      layers.push(blob(MediaType.OciLayerGzip, await Deno.readFile(`${tarball}.gz`)));
    } else {
      layers.push(blob(MediaType.OciLayer, plain));
    }
  }
  const { config, manifest } = imageDocuments(layers, diffIds, {
    Labels: { label },
    Cmd: ["/bin/sh"],
  });
  return { manifest, config, layers, diffIds };
}

/** Pushes an image the way the writer does: blobs first, the manifest last. */
async function pushImage(target: Target, image: TestImage, tags: string[]): Promise<void> {
  for (const { descriptor, bytes } of [image.config, ...image.layers]) {
    await target.pushBlob(descriptor, ReadableStream.from([bytes]));
  }
  await target.pushManifest(image.manifest.descriptor, image.manifest.bytes, tags);
}

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return await new Response(stream).bytes();
}

async function listing(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name).sort();
}

async function skopeoInspect(reference: string): Promise<{ Digest: string; Labels: unknown }> {
  return JSON.parse(await runOk("skopeo", ["inspect", reference]));
}

async function writeOciArchive(path: string, images: [TestImage, string[]][]): Promise<void> {
  const archive = await OciArchiveTarget.open(path, { create: true });
  for (const [image, tags] of images) await pushImage(archive, image, tags);
  await archive.close();
}

Deno.test("skopeo reads the oci-archive ocisync writes, and copies it to a layout", async () => {
  await withTempDir("ocisync-archive-", async (tmp) => {
    const image = await makeImage(tmp, "one");
    // Into a folder that does not exist yet, as a layout would be.
    await writeOciArchive(`${tmp}/out/app.tar`, [[image, ["v1"]]]);
    // Only the archive is left: the staging layout is gone.
    assert.deepEqual(await listing(`${tmp}/out`), ["app.tar"]);

    const inspected = await skopeoInspect(`oci-archive:${tmp}/out/app.tar:v1`);
    assert.equal(inspected.Digest, image.manifest.descriptor.digest);
    assert.deepEqual(inspected.Labels, { label: "one" });

    // skopeo would gzip the plain layer on the way into a layout without --preserve-digests.
    await runOk("skopeo", [
      "copy",
      "--preserve-digests",
      `oci-archive:${tmp}/out/app.tar:v1`,
      `oci:${tmp}/layout:v1`,
    ]);
    const layout = await LayoutTarget.open(`${tmp}/layout`);
    assert.equal((await layout.resolve("v1")).digest, image.manifest.descriptor.digest);
    for (const { descriptor, bytes } of [image.config, ...image.layers]) {
      assert.deepEqual(await bytesOf(await layout.fetchBlob(descriptor)), bytes);
    }
  });
});

Deno.test("the same images give the same oci-archive bytes, in a fixed order", async () => {
  await withTempDir("ocisync-archive-", async (tmp) => {
    const one = await makeImage(tmp, "one");
    const two = await makeImage(tmp, "two");
    await writeOciArchive(`${tmp}/a.tar`, [[one, ["v1"]], [two, ["v2"]]]);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // another second on the clock
    await writeOciArchive(`${tmp}/b.tar`, [[one, ["v1"]], [two, ["v2"]]]);
    assert.deepEqual(await Deno.readFile(`${tmp}/a.tar`), await Deno.readFile(`${tmp}/b.tar`));

    const lines = (await runOk("tar", [
      "--list",
      "--verbose",
      "--numeric-owner",
      "--full-time",
      "--file",
      `${tmp}/a.tar`,
    ])).trim().split("\n").map((line) => line.split(/\s+/));
    const blobs = [one, two]
      .flatMap((image) => [image.manifest, image.config, ...image.layers])
      .map((b) => `blobs/sha256/${b.descriptor.digest.slice(7)}`)
      .sort();
    assert.deepEqual(lines.map((fields) => fields[5]), [
      "oci-layout",
      "index.json",
      "blobs/",
      "blobs/sha256/",
      ...blobs,
    ]);
    for (const [mode, owner, , date, time, name] of lines) {
      assert.equal(mode, name.endsWith("/") ? "drwxr-xr-x" : "-rw-r--r--", name);
      assert.equal(owner, "0/0", name);
      assert.equal(`${date} ${time}`, "1970-01-01 00:00:00", name);
    }
  });
});

Deno.test("ocisync reads the oci-archive skopeo writes, with the same manifest digest", async () => {
  await withTempDir("ocisync-archive-", async (tmp) => {
    const image = await makeImage(tmp, "one");
    const layout = await LayoutTarget.open(`${tmp}/layout`, { create: true });
    await pushImage(layout, image, ["v1"]);
    await runOk("skopeo", [
      "copy",
      "--preserve-digests",
      `oci:${tmp}/layout:v1`,
      `oci-archive:${tmp}/app.tar:v1`,
    ]);

    const before = await listing(tmp);
    const ref = parseArchiveReference(`oci-archive:${tmp}/app.tar:v1`);
    const archive = await openArchiveTarget(ref);
    const descriptor = await archive.resolve(ref.tag);
    assert.equal(descriptor.digest, image.manifest.descriptor.digest);
    assert.equal((await archive.resolve()).digest, descriptor.digest);
    assert.equal((await archive.resolve(descriptor.digest)).digest, descriptor.digest);
    assert.deepEqual(await Array.fromAsync(archive.tags()), ["v1"]);
    assert.deepEqual(await archive.fetchManifest(descriptor), image.manifest.bytes);
    assert.ok(isBlobRangeFetcher(archive), "an upload of its blobs can resume");
    for (const { descriptor, bytes } of [image.config, ...image.layers]) {
      assert.ok(await archive.hasBlob(descriptor));
      assert.deepEqual(await bytesOf(await archive.fetchBlob(descriptor)), bytes);
      for (const offset of [1, bytes.length - 1, bytes.length, bytes.length + 1]) {
        const rest = await bytesOf(await archive.fetchBlobFrom(descriptor, offset));
        assert.deepEqual(rest, bytes.subarray(offset), `${descriptor.digest} from ${offset}`);
      }
    }
    await archive.close();
    assert.deepEqual(await listing(tmp), before, "reading wrote nothing");
  });
});

Deno.test("pushing into an existing oci-archive keeps its other images", async () => {
  await withTempDir("ocisync-archive-", async (tmp) => {
    const [one, two, three] = [
      await makeImage(tmp, "one"),
      await makeImage(tmp, "two"),
      await makeImage(tmp, "three"),
    ];
    const layout = await LayoutTarget.open(`${tmp}/layout`, { create: true });
    await pushImage(layout, one, ["v1"]);
    await runOk("skopeo", [
      "copy",
      "--preserve-digests",
      `oci:${tmp}/layout:v1`,
      `oci-archive:${tmp}/app.tar:v1`,
    ]);

    await writeOciArchive(`${tmp}/app.tar`, [[two, ["v2"]]]);
    assert.equal(
      (await skopeoInspect(`oci-archive:${tmp}/app.tar:v1`)).Digest,
      one.manifest.descriptor.digest,
    );
    assert.equal(
      (await skopeoInspect(`oci-archive:${tmp}/app.tar:v2`)).Digest,
      two.manifest.descriptor.digest,
    );

    // Retagging v1 drops the blobs only its old image used.
    await writeOciArchive(`${tmp}/app.tar`, [[three, ["v1"]]]);
    const archive = await OciArchiveTarget.open(`${tmp}/app.tar`);
    assert.deepEqual(await Array.fromAsync(archive.tags()), ["v1", "v2"]);
    assert.equal((await archive.resolve("v1")).digest, three.manifest.descriptor.digest);
    assert.equal(await archive.hasBlob(one.config.descriptor), false);
    assert.equal(await archive.hasBlob(two.config.descriptor), true);
    assert.equal(
      (await skopeoInspect(`oci-archive:${tmp}/app.tar:v1`)).Digest,
      three.manifest.descriptor.digest,
    );
  });
});

Deno.test("an oci-archive opened for reading refuses writes, as a docker-archive does", async () => {
  // Only a writer holds the archive's lock: a file written anew without it could drop what
  // another writer added meanwhile.
  await withTempDir("ocisync-archive-", async (tmp) => {
    const image = await makeImage(tmp, "one");
    await writeOciArchive(`${tmp}/app.tar`, [[image, ["v1"]]]);
    const before = sha256Hex(await Deno.readFile(`${tmp}/app.tar`));
    const layer = blob(MediaType.OciLayer, enc.encode("more"));
    const reader = await OciArchiveTarget.open(`${tmp}/app.tar`);
    await assert.rejects(
      reader.pushBlob(layer.descriptor, ReadableStream.from([layer.bytes])),
      (error: Error) => error instanceof UsageError && /opened for reading/.test(error.message),
    );
    await assert.rejects(
      reader.pushManifest(image.manifest.descriptor, image.manifest.bytes, ["v2"]),
      UsageError,
    );
    await reader.close();
    assert.equal(sha256Hex(await Deno.readFile(`${tmp}/app.tar`)), before);
  });
});

Deno.test("ocisync reads the docker-archive skopeo writes", async () => {
  await withTempDir("ocisync-archive-", async (tmp) => {
    const image = await makeImage(tmp, "one");
    const layout = await LayoutTarget.open(`${tmp}/layout`, { create: true });
    await pushImage(layout, image, ["v1"]);
    const file = `${tmp}/docker.tar`;
    await runOk("skopeo", [
      "copy",
      `oci:${tmp}/layout:v1`,
      `docker-archive:${file}:app:v1`,
    ]);

    const ref = parseArchiveReference(`docker-archive:${file}:app:v1`);
    const archive = await openArchiveTarget(ref);
    const descriptor = await archive.resolve(ref.tag);
    assert.equal((await archive.resolve("app:v1")).digest, descriptor.digest);
    assert.equal((await archive.resolve()).digest, descriptor.digest);
    assert.deepEqual(await Array.fromAsync(archive.tags()), ["docker.io/library/app:v1"]);
    await assert.rejects(
      archive.resolve("app:v2"),
      /not found.*RepoTags are docker.io\/library\/app:v1/,
    );

    const parsed = parseManifestOrIndex(await archive.fetchManifest(descriptor));
    assert.equal(parsed.kind, "manifest");
    const manifest = (parsed as { manifest: Manifest }).manifest;
    assert.equal(parsed.mediaType, MediaType.OciManifest);
    // The config is skopeo's unchanged; each layer is the plain tar, named by its diff_id.
    assert.deepEqual(manifest.config, {
      ...image.config.descriptor,
      mediaType: MediaType.OciConfig,
    });
    assert.deepEqual(manifest.layers.map((layer) => layer.mediaType), [
      MediaType.OciLayer,
      MediaType.OciLayer,
    ]);
    assert.deepEqual(manifest.layers.map((layer) => layer.digest), image.diffIds);
    assert.deepEqual(await bytesOf(await archive.fetchBlob(manifest.config)), image.config.bytes);
    for (const layer of manifest.layers) {
      assert.equal(sha256(await bytesOf(await archive.fetchBlob(layer))), layer.digest);
    }

    // The image as read goes on into a layout, which skopeo then reads.
    const copy = await LayoutTarget.open(`${tmp}/copy`, { create: true });
    for (const blob of [manifest.config, ...manifest.layers]) {
      await copy.pushBlob(blob, await archive.fetchBlob(blob));
    }
    await copy.pushManifest(descriptor, await archive.fetchManifest(descriptor), ["v1"]);
    assert.equal((await skopeoInspect(`oci:${tmp}/copy:v1`)).Digest, descriptor.digest);
  });
});

Deno.test("podman loads the docker-archive ocisync writes, with the layers' diff_ids", async () => {
  await withTempDir("ocisync-archive-", async (tmp) => {
    const image = await makeImage(tmp, "one");
    const write = async (file: string) => {
      const ref = parseArchiveReference(`docker-archive:${file}:localhost/app:v1`);
      const archive = await openArchiveTarget(ref, { create: true });
      await pushImage(archive, image, [ref.tag!]);
      await archive.close();
    };
    await write(`${tmp}/a.tar`);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await write(`${tmp}/b.tar`);
    assert.deepEqual(await Deno.readFile(`${tmp}/a.tar`), await Deno.readFile(`${tmp}/b.tar`));
    assert.deepEqual((await listing(tmp)).filter((name) => name.startsWith(".")), []);

    const hex = (digest: string) => digest.slice("sha256:".length);
    const lines = (await runOk("tar", ["-tvf", `${tmp}/a.tar`, "--numeric-owner", "--full-time"]))
      .trim().split("\n").map((line) => line.split(/\s+/));
    assert.deepEqual(lines.map((fields) => fields[5]), [
      "manifest.json",
      `${hex(image.config.descriptor.digest)}.json`,
      ...image.diffIds.map((id) => `${hex(id)}.tar`),
    ]);
    for (const [mode, owner, , date, time] of lines) {
      assert.deepEqual([mode, owner, `${date} ${time}`], [
        "-rw-r--r--",
        "0/0",
        "1970-01-01 00:00:00",
      ]);
    }
    const manifestJson = JSON.parse(await runOk("tar", ["-xOf", `${tmp}/a.tar`, "manifest.json"]));
    assert.deepEqual(manifestJson, [{
      Config: `${hex(image.config.descriptor.digest)}.json`,
      RepoTags: ["localhost/app:v1"],
      Layers: image.diffIds.map((id) => `${hex(id)}.tar`),
    }]);

    const podman = podmanArgs(`${tmp}/podman`);
    await runOk("podman", [...podman, "load", "-i", `${tmp}/a.tar`]);
    const inspected = JSON.parse(
      await runOk("podman", [...podman, "image", "inspect", "localhost/app:v1"]),
    )[0];
    assert.deepEqual(inspected.RootFS.Layers, image.diffIds);
    assert.equal(inspected.Id, hex(image.config.descriptor.digest));

    // And ocisync reads it back.
    const archive = await DockerArchiveTarget.open(`${tmp}/a.tar`, { name: "localhost/app" });
    const manifest = JSON.parse(
      dec.decode(await archive.fetchManifest(await archive.resolve("v1"))),
    );
    assert.deepEqual(manifest.layers.map((layer: Descriptor) => layer.digest), image.diffIds);
  });
});

Deno.test("an index pushed into a docker-archive is refused, naming --platform", async () => {
  await withTempDir("ocisync-archive-", async (tmp) => {
    const image = await makeImage(tmp, "one");
    const index = jsonBlob(MediaType.OciIndex, {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [{
        ...image.manifest.descriptor,
        platform: { architecture: "amd64", os: "linux" },
      }],
    });
    const archive = await DockerArchiveTarget.open(`${tmp}/out.tar`, {
      create: true,
      name: "docker.io/library/app",
    });
    await pushImage(archive, image, []); // the child, as a copy pushes it first
    await assert.rejects(
      archive.pushManifest(index.descriptor, index.bytes, ["v1"]),
      (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, /is an index of 1: copy one platform of it, with --platform/);
        return true;
      },
    );
    await archive.close();
    const nothingWritten = async () => {
      const names = await listing(tmp);
      assert.ok(!names.includes("out.tar") && !names.some((n) => n.startsWith(".")), `${names}`);
    };
    await nothingWritten();

    // A second image is refused the same way.
    const other = await makeImage(tmp, "two");
    const second = await DockerArchiveTarget.open(`${tmp}/out.tar`, { create: true });
    await pushImage(second, image, []);
    await assert.rejects(pushImage(second, other, []), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, /holds one image/);
      assert.match(error.hint ?? "", /--platform/);
      return true;
    });
    await second.close();
    await nothingWritten();
  });
});

/** A layout of one image, made by ocisync, for GNU tar to pack in hostile ways. */
async function hostileSource(tmp: string, image: TestImage): Promise<string> {
  const dir = `${tmp}/source`;
  const layout = await LayoutTarget.open(dir, { create: true });
  await pushImage(layout, image, ["v1"]);
  await Deno.remove(`${dir}/index.json.lock`).catch(() => {});
  return dir;
}

async function assertRefused(
  file: string,
  error: new (...args: never[]) => Error,
  fragment: RegExp,
) {
  const dir = file.slice(0, file.lastIndexOf("/"));
  const before = await listing(dir);
  const bytes = await Deno.readFile(file);
  for (const create of [false, true]) {
    await assert.rejects(OciArchiveTarget.open(file, { create }), (e: unknown) => {
      assert.ok(e instanceof error, `${e}`);
      assert.match((e as Error).message, fragment);
      return true;
    });
  }
  assert.deepEqual(await listing(dir), before);
  assert.deepEqual(await Deno.readFile(file), bytes);
}

Deno.test("hostile oci-archives are refused, and nothing is written", async () => {
  await withTempDir("ocisync-archive-", async (tmp) => {
    const image = await makeImage(tmp, "one");
    const source = await hostileSource(tmp, image);
    const layoutFiles = ["oci-layout", "index.json", "blobs"];
    await Deno.mkdir(`${tmp}/out`);

    // An entry that climbs out with "..".
    await runOk("tar", ["-cf", `${tmp}/out/dotdot.tar`, "-C", source, ...layoutFiles]);
    await runOk("tar", [
      "-rf",
      `${tmp}/out/dotdot.tar`,
      "-P",
      "--transform",
      "s,^,../,",
      "-C",
      source,
      "oci-layout",
    ]);
    await assertRefused(
      `${tmp}/out/dotdot.tar`,
      UnsafeContentError,
      /"\.\.\/oci-layout" has a \.\. component/,
    );

    // An absolute entry.
    await runOk("tar", [
      "-cf",
      `${tmp}/out/absolute.tar`,
      "-P",
      "-C",
      source,
      ...layoutFiles,
      `${source}/oci-layout`,
    ]);
    await assertRefused(`${tmp}/out/absolute.tar`, UnsafeContentError, /is an absolute path/);

    // A blob that is a symlink, here to a file outside.
    const linked = `${tmp}/linked`;
    await runOk("cp", ["-r", source, linked]);
    const configPath = `${linked}/blobs/sha256/${image.config.descriptor.digest.slice(7)}`;
    await Deno.remove(configPath);
    await Deno.symlink("/etc/passwd", configPath);
    await runOk("tar", ["-cf", `${tmp}/out/link.tar`, "-C", linked, ...layoutFiles]);
    await assertRefused(`${tmp}/out/link.tar`, UnsafeContentError, /is a link to "\/etc\/passwd"/);

    // A layer whose bytes do not match its name: found when it is read, before it is kept.
    const corrupt = `${tmp}/corrupt`;
    await runOk("cp", ["-r", source, corrupt]);
    const layer = image.layers[1];
    const bad = layer.bytes.slice();
    bad[bad.length - 1] ^= 1;
    await Deno.writeFile(`${corrupt}/blobs/sha256/${layer.descriptor.digest.slice(7)}`, bad);
    const corruptTar = `${tmp}/out/corrupt.tar`;
    await runOk("tar", ["-cf", corruptTar, "-C", corrupt, ...layoutFiles]);
    const archive = await OciArchiveTarget.open(corruptTar);
    const copy = await LayoutTarget.open(`${tmp}/copy`, { create: true });
    await assert.rejects(
      (async () => {
        for (const blob of [image.config, ...image.layers]) {
          await copy.pushBlob(blob.descriptor, await archive.fetchBlob(blob.descriptor));
        }
      })(),
      IntegrityError,
    );
    assert.equal(await copy.hasBlob(layer.descriptor), false);
    assert.deepEqual(await copy.listEntries(), []);

    // Pushing into it fails when the bad blob would be copied; the file stays as it was.
    const before = await Deno.readFile(corruptTar);
    const into = await OciArchiveTarget.open(corruptTar, { create: true });
    await pushImage(into, await makeImage(tmp, "two"), ["v2"]);
    await assert.rejects(into.close(), IntegrityError);
    assert.deepEqual(await Deno.readFile(corruptTar), before);
    assert.deepEqual(await listing(`${tmp}/out`), [
      "absolute.tar",
      "corrupt.tar",
      "dotdot.tar",
      "link.tar",
    ]);
  });
});

Deno.test("a docker-archive whose layer link leads outside is refused", async () => {
  await withTempDir("ocisync-archive-", async (tmp) => {
    const dir = `${tmp}/src`;
    await Deno.mkdir(`${dir}/abc`, { recursive: true });
    const config = enc.encode(JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [sha256(enc.encode("x"))] },
    }));
    await Deno.writeFile(`${dir}/config.json`, config);
    await Deno.writeTextFile(
      `${dir}/manifest.json`,
      JSON.stringify([{ Config: "config.json", RepoTags: ["app:v1"], Layers: ["abc/layer.tar"] }]),
    );
    await Deno.symlink("../../../etc/passwd", `${dir}/abc/layer.tar`);
    await runOk("tar", [
      "-cf",
      `${tmp}/evil.tar`,
      "-C",
      dir,
      "manifest.json",
      "config.json",
      "abc",
    ]);
    await assert.rejects(
      DockerArchiveTarget.open(`${tmp}/evil.tar`),
      (error: unknown) =>
        error instanceof UnsafeContentError && /leads outside/.test(error.message),
    );
    // And a Layers path with ".." is refused the same way.
    await Deno.writeTextFile(
      `${dir}/manifest.json`,
      JSON.stringify([{ Config: "config.json", RepoTags: [], Layers: ["../layer.tar"] }]),
    );
    await runOk("tar", ["-cf", `${tmp}/evil2.tar`, "-C", dir, "manifest.json", "config.json"]);
    await assert.rejects(DockerArchiveTarget.open(`${tmp}/evil2.tar`), UnsafeContentError);
  });
});
