/**
 * A document of a type ocisync does not read never loses what it refers to: `gc` of a layout,
 * and the rewrite of an `oci-archive:` that a copy adds to, keep the `blobs` and `subject` of an
 * image-spec 1.1-rc artifact manifest (and what the subject needs), and the `fsLayers` of a
 * Docker schema 1 manifest; a listed document whose media type says JSON but that is not JSON
 * stops both, with nothing removed and nothing written. Layouts are written by hand here and
 * archives made from them by GNU tar; blobs are checked with node:crypto.
 */
import assert from "node:assert/strict";
import { MediaType } from "../src/oci/mediatypes.ts";
import type { Descriptor } from "../src/oci/types.ts";
import { ocisync, runOk, shown } from "./helpers/cli.ts";
import { sha256Hex } from "./helpers/hash.ts";
import { type Blob, blob, imageDocuments, jsonBlob } from "./helpers/images.ts";
import { writeImage } from "./helpers/layers.ts";
import { requireTool } from "./helpers/tools.ts";
import { withTempDir } from "./helpers/tree.ts";

requireTool("tar", "tar");

const enc = new TextEncoder();
const ARTIFACT_MANIFEST = "application/vnd.oci.artifact.manifest.v1+json";
const SCHEMA1_MANIFEST = "application/vnd.docker.distribution.manifest.v1+prettyjws";
const REF_NAME = "org.opencontainers.image.ref.name";
/** Bytes that are no JSON (a PNG's signature). */
const NOT_JSON = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** `index.json` entries, and every blob they reach, by the image-spec and by schema 1. */
interface Documents {
  entries: Descriptor[];
  blobs: Blob[];
}

function tagged(descriptor: Descriptor, tag: string): Descriptor {
  return { ...descriptor, annotations: { [REF_NAME]: tag } };
}

/**
 * An artifact manifest (tag `art`) whose `blobs` are a payload that is no JSON and an SBOM that
 * is, and whose `subject` is an image listed nowhere else; and a schema 1 manifest (tag `old`)
 * of two layers.
 */
function unknownDocuments(): Documents {
  const layer = blob(MediaType.OciLayer, enc.encode("the subject's layer\n"));
  const subject = imageDocuments([layer], [layer.descriptor.digest], { Labels: { of: "subject" } });
  const payload = blob("application/vnd.example.payload", enc.encode("a payload, not JSON\n"));
  const sbom = jsonBlob("application/spdx+json", { spdxVersion: "SPDX-2.3", name: "app" });
  const artifact = jsonBlob(ARTIFACT_MANIFEST, {
    mediaType: ARTIFACT_MANIFEST,
    artifactType: "application/vnd.example.sbom",
    blobs: [payload.descriptor, sbom.descriptor],
    subject: subject.manifest.descriptor,
  });
  const fsLayers = ["base", "top"].map((name) =>
    blob(MediaType.DockerLayerGzip, enc.encode(`schema 1 layer ${name}\n`))
  );
  // Schema 1 lists the top layer first, by `blobSum` alone: no size, no media type.
  const schema1 = blob(
    SCHEMA1_MANIFEST,
    enc.encode(JSON.stringify(
      {
        schemaVersion: 1,
        name: "library/old",
        tag: "1",
        architecture: "amd64",
        fsLayers: fsLayers.toReversed().map((l) => ({ blobSum: l.descriptor.digest })),
        history: fsLayers.map(() => ({ v1Compatibility: "{}" })),
      },
      null,
      3,
    )),
  );
  return {
    entries: [tagged(artifact.descriptor, "art"), tagged(schema1.descriptor, "old")],
    blobs: [
      artifact,
      payload,
      sbom,
      subject.manifest,
      subject.config,
      layer,
      schema1,
      ...fsLayers,
    ],
  };
}

/** Writes an OCI layout at `dir` holding `blobs`, whose `index.json` lists `entries`. */
async function writeLayout(dir: string, blobs: Blob[], entries: Descriptor[]): Promise<void> {
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  for (const { descriptor, bytes } of blobs) {
    await Deno.writeFile(`${dir}/blobs/sha256/${descriptor.digest.slice(7)}`, bytes);
  }
  await Deno.writeTextFile(`${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
  await Deno.writeTextFile(
    `${dir}/index.json`,
    JSON.stringify({ schemaVersion: 2, manifests: entries }),
  );
}

/** Makes `archive`, a tar of the layout at `dir`, with GNU tar. */
async function tarLayout(dir: string, archive: string): Promise<void> {
  await runOk("tar", [
    "--create",
    "--file",
    archive,
    "--directory",
    dir,
    "oci-layout",
    "index.json",
    "blobs",
  ]);
}

/** Checks that the layout at `dir` holds each blob, whole: its sha256 is its name. */
async function assertBlobs(dir: string, blobs: Blob[]): Promise<void> {
  for (const { descriptor } of blobs) {
    const hex = descriptor.digest.slice(7);
    const bytes = await Deno.readFile(`${dir}/blobs/sha256/${hex}`).catch(() => undefined);
    assert.ok(bytes, `${descriptor.mediaType} ${descriptor.digest} is missing`);
    assert.equal(sha256Hex(bytes), hex, `${descriptor.mediaType} ${descriptor.digest}`);
  }
}

/** The names in a folder, sorted. */
async function names(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name).sort();
}

/** How ocisync names a listed document that it cannot read, and why. */
function refusal(descriptor: Descriptor, why: string): RegExp {
  const mediaType = descriptor.mediaType.replace(/[.+]/g, "\\$&");
  return new RegExp(`manifest ${descriptor.digest} \\(${mediaType}\\) ${why}`);
}

/** A document listed with `mediaType`, whose bytes are no JSON. */
function brokenEntry(mediaType: string): { blob: Blob; entry: Descriptor } {
  const broken = blob(mediaType, NOT_JSON);
  return { blob: broken, entry: tagged(broken.descriptor, "broken") };
}

Deno.test("gc keeps what an artifact manifest and a schema 1 manifest refer to", async () => {
  await withTempDir("ocisync-gc-unknown-", async (tmp) => {
    const layout = `${tmp}/layout`;
    const { entries, blobs } = unknownDocuments();
    const stray = blob(MediaType.OciLayer, enc.encode("reached by nothing\n"));
    await writeLayout(layout, [...blobs, stray], entries);

    const result = await ocisync(["gc", `oci:${layout}`, "--grace", "0", "--json"]);
    assert.equal(result.code, 0, shown(result));
    // The stray blob proves gc ran and removed what nothing reaches; nothing else went.
    assert.deepEqual(JSON.parse(result.stdout).removed, [
      { digest: stray.descriptor.digest, size: stray.bytes.length },
    ]);
    assert.deepEqual(
      await names(`${layout}/blobs/sha256`),
      blobs.map((b) => b.descriptor.digest.slice(7)).sort(),
    );
    await assertBlobs(layout, blobs);
  });
});

Deno.test("gc refuses a listed manifest that says it is JSON but is not, and removes nothing", async () => {
  await withTempDir("ocisync-gc-unknown-", async (tmp) => {
    for (const mediaType of [ARTIFACT_MANIFEST, SCHEMA1_MANIFEST, MediaType.OciManifest]) {
      const layout = `${tmp}/${mediaType.replace(/\W/g, "-")}`;
      const { entries, blobs } = unknownDocuments();
      const broken = brokenEntry(mediaType);
      const stray = blob(MediaType.OciLayer, enc.encode("reached by nothing\n"));
      await writeLayout(layout, [...blobs, broken.blob, stray], [...entries, broken.entry]);
      const before = await names(`${layout}/blobs/sha256`);

      const result = await ocisync(["gc", `oci:${layout}`, "--grace", "0"]);
      // 1: "any failure without a more specific code", docs/cli.md.
      assert.equal(result.code, 1, `${mediaType}: ${shown(result)}`);
      assert.match(result.stderr, new RegExp(`cannot collect garbage in ${layout}`));
      assert.match(result.stderr, refusal(broken.blob.descriptor, "is not"));
      assert.match(result.stderr, /the blobs it refers to cannot be known/);
      assert.deepEqual(await names(`${layout}/blobs/sha256`), before, mediaType);
    }
  });
});

Deno.test("copy into an oci-archive that holds an artifact and a schema 1 manifest keeps what they refer to", async () => {
  await withTempDir("ocisync-archive-unknown-", async (tmp) => {
    const { entries, blobs } = unknownDocuments();
    await writeLayout(`${tmp}/held`, blobs, entries);
    await Deno.mkdir(`${tmp}/archive`);
    const archive = `${tmp}/archive/app.tar`;
    await tarLayout(`${tmp}/held`, archive);
    await writeImage(`${tmp}/src`, [new Uint8Array(2048)]);

    const copy = await ocisync(["copy", `oci:${tmp}/src:v1`, `oci-archive:${archive}:other`]);
    assert.equal(copy.code, 0, shown(copy));
    assert.deepEqual(await names(`${tmp}/archive`), ["app.tar"]);
    await Deno.mkdir(`${tmp}/out`);
    await runOk("tar", ["--extract", "--file", archive, "--directory", `${tmp}/out`]);
    const index = JSON.parse(await Deno.readTextFile(`${tmp}/out/index.json`));
    assert.deepEqual(
      index.manifests.map((entry: Descriptor) => entry.annotations?.[REF_NAME]).sort(),
      ["art", "old", "other"],
    );
    await assertBlobs(`${tmp}/out`, blobs);
    // And the image copied in, every blob of it.
    for (const hex of await names(`${tmp}/src/blobs/sha256`)) {
      assert.ok((await names(`${tmp}/out/blobs/sha256`)).includes(hex), hex);
    }
  });
});

Deno.test("copy into an oci-archive whose listed manifest says JSON but is not writes nothing", async () => {
  await withTempDir("ocisync-archive-unknown-", async (tmp) => {
    const { entries, blobs } = unknownDocuments();
    const broken = brokenEntry(ARTIFACT_MANIFEST);
    await writeLayout(`${tmp}/held`, [...blobs, broken.blob], [...entries, broken.entry]);
    await Deno.mkdir(`${tmp}/archive`);
    const archive = `${tmp}/archive/app.tar`;
    await tarLayout(`${tmp}/held`, archive);
    const before = sha256Hex(await Deno.readFile(archive));
    await writeImage(`${tmp}/src`, [new Uint8Array(2048)]);

    const copy = await ocisync(["copy", `oci:${tmp}/src:v1`, `oci-archive:${archive}:other`]);
    // 5: "a digest or size did not match: bytes were refused, never written", docs/cli.md.
    assert.equal(copy.code, 5, shown(copy));
    assert.match(copy.stderr, refusal(broken.blob.descriptor, "is not JSON"));
    assert.equal(sha256Hex(await Deno.readFile(archive)), before);
    // No staging folder, no lock left.
    assert.deepEqual(await names(`${tmp}/archive`), ["app.tar"]);
  });
});
