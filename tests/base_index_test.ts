/**
 * Base indexes that do not list one image per platform, read by a multi-platform `build` and by
 * `push --base INDEX --platform all|LIST`: an entry that is itself an index (whose own choice,
 * linux/amd64, used to be taken for the platform its entry claims), and a platform listed twice.
 * The layouts are written by hand, with digests from `node:crypto`.
 */
import assert from "node:assert/strict";
import { ExitCode } from "../src/cli/exit.ts";
import { MediaType } from "../src/oci/mediatypes.ts";
import type { Descriptor, Platform } from "../src/oci/types.ts";
import { expectExit, ocisync, shown } from "./helpers/cli.ts";
import { type Blob, blob, jsonBlob } from "./helpers/images.ts";
import { pythonTar, writeLayoutIndex } from "./helpers/layers.ts";
import { sha256Digest } from "./helpers/hash.ts";

const AMD64: Platform = { os: "linux", architecture: "amd64" };
const ARM64: Platform = { os: "linux", architecture: "arm64" };
const PPC64LE: Platform = { os: "linux", architecture: "ppc64le" };

/** A layout being written by hand at `dir`. */
async function layout(dir: string) {
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  const put = async (blob: Blob): Promise<Descriptor> => {
    await Deno.writeFile(`${dir}/blobs/sha256/${blob.descriptor.digest.slice(7)}`, blob.bytes);
    return blob.descriptor;
  };
  let images = 0;
  return {
    put,
    /** An image of `platform` whose one layer holds `arch.txt`, saying `text`. */
    async image(platform: Platform, text: string): Promise<Descriptor> {
      const path = `${dir}.layer${images++}.tar`;
      const tar = await pythonTar(path, [{ type: "file", name: "arch.txt", data: text }]);
      await Deno.remove(path);
      const layer = await put(blob(MediaType.OciLayer, tar));
      const config = await put(jsonBlob(MediaType.OciConfig, {
        ...platform,
        rootfs: { type: "layers", diff_ids: [sha256Digest(tar)] },
        config: {},
      }));
      return await put(jsonBlob(MediaType.OciManifest, {
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config,
        layers: [layer],
      }));
    },
    /** An index of `entries`, each with its platform. */
    async index(entries: [Descriptor, Platform][]) {
      return await put(jsonBlob(MediaType.OciIndex, {
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: entries.map(([descriptor, platform]) => ({ ...descriptor, platform })),
      }));
    },
    /** Tags `descriptor` v1. */
    tag: (descriptor: Descriptor) => writeLayoutIndex(dir, descriptor),
  };
}

/** Runs `body` in a folder with code to append, `flows/`. */
async function withTmp(body: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${tmp}/flows`);
    await Deno.writeTextFile(`${tmp}/flows/hello.py`, "print('hello')\n");
    await body(tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** A recipe building `platforms` on the layout `base`, into `tmp/out`. */
async function recipe(tmp: string, platforms: string): Promise<string> {
  const path = `${tmp}/ocisync.yaml`;
  await Deno.writeTextFile(
    path,
    [
      `image: oci:${tmp}/out:v1`,
      `base: oci:${tmp}/base:v1`,
      `platforms: [${platforms}]`,
      "layers:",
      "  - source: flows",
      "    dest: /opt/flows",
      "",
    ].join("\n"),
  );
  return path;
}

/** Whether anything was tagged in the layout `dir`. */
async function tagged(dir: string): Promise<boolean> {
  const index = await Deno.readTextFile(`${dir}/index.json`).catch(() => undefined);
  return index !== undefined && JSON.parse(index).manifests.length > 0;
}

/** `push` of `tmp/flows` onto the layout `tmp/base:v1` for `platform`, into `tmp/out:v1`. */
function pushOnBase(tmp: string, platform: string, ...more: string[]) {
  return ocisync([
    "push",
    `oci:${tmp}/out:v1`,
    `${tmp}/flows`,
    "--base",
    `oci:${tmp}/base:v1`,
    "--platform",
    platform,
    ...more,
  ]);
}

Deno.test("base index: an entry that is an index is refused, never chosen from", () =>
  withTmp(async (tmp) => {
    const base = await layout(`${tmp}/base`);
    const ppc = await base.image(PPC64LE, "ppc64le");
    // Labelled arm64 in the parent, holding an amd64 image: the old read took it for arm64.
    const nested = await base.index([[await base.image(AMD64, "amd64 in the arm64 slot"), AMD64]]);
    await base.tag(await base.index([[ppc, PPC64LE], [nested, ARM64]]));
    const refused = new RegExp(
      `base oci:${tmp}/base:v1: its linux/arm64 entry ${nested.digest} is an index, ` +
        "not an image manifest",
    );

    const build = await ocisync(["build", "-f", await recipe(tmp, "linux/arm64, linux/ppc64le")]);
    expectExit(build, ExitCode.Integrity);
    assert.match(build.stderr, refused, shown(build));
    const all = await pushOnBase(tmp, "all");
    expectExit(all, ExitCode.Integrity);
    assert.match(all.stderr, refused, shown(all));
    const listed = await pushOnBase(tmp, "linux/arm64,linux/ppc64le");
    expectExit(listed, ExitCode.Integrity);
    assert.equal(await tagged(`${tmp}/out`), false, "nothing is tagged");

    // The platform the index lists as an image is still built on.
    const ppcOnly = await ocisync(["build", "-f", await recipe(tmp, "linux/ppc64le")]);
    expectExit(ppcOnly, 0);
  }));

Deno.test("base index: an entry whose descriptor says image manifest but which holds an index is refused", () =>
  withTmp(async (tmp) => {
    const base = await layout(`${tmp}/base`);
    // Only the document's own mediaType says that it is an index.
    const nested = await base.index([[await base.image(AMD64, "amd64 in the arm64 slot"), AMD64]]);
    const disguised = { ...nested, mediaType: MediaType.OciManifest };
    await base.tag(
      await base.index([[await base.image(AMD64, "amd64"), AMD64], [disguised, ARM64]]),
    );
    const all = await pushOnBase(tmp, "all");
    expectExit(all, ExitCode.Integrity);
    assert.match(all.stderr, new RegExp(`${nested.digest} is an index`), shown(all));
    assert.equal(await tagged(`${tmp}/out`), false);
  }));

Deno.test("base index: a platform listed twice is the base's fault, exit 5, unless platforms are named", () =>
  withTmp(async (tmp) => {
    const base = await layout(`${tmp}/base`);
    const first = await base.image(ARM64, "first arm64");
    const second = await base.image(ARM64, "second arm64");
    await base.tag(
      await base.index([[await base.image(AMD64, "amd64"), AMD64], [first, ARM64], [
        second,
        ARM64,
      ]]),
    );
    const push = (platform: string) => pushOnBase(tmp, platform, "--json");
    const all = await push("all");
    expectExit(all, ExitCode.Integrity);
    assert.match(
      all.stderr,
      new RegExp(`the base oci:${tmp}/base:v1 lists two images for linux/arm64`),
      shown(all),
    );
    assert.equal(await tagged(`${tmp}/out`), false);
    // Named, a platform takes the index's first image of it, as the image-spec says.
    const named = JSON.parse(expectExit(await push("linux/amd64,linux/arm64"), 0).stdout);
    const arm = named.platforms.find((p: { platform: string }) =>
      p.platform.startsWith("linux/arm64")
    );
    const firstLayer = JSON.parse(
      await Deno.readTextFile(`${tmp}/base/blobs/sha256/${first.digest.slice(7)}`),
    ).layers[0].digest;
    assert.equal(arm.layers[0].digest, firstLayer, shown(all));
  }));

Deno.test("base: a layout base's path is in no pushed byte; any spelling of it gives one digest", () =>
  withTmp(async (tmp) => {
    const base = await layout(`${tmp}/base`);
    await base.tag(
      await base.index([[await base.image(AMD64, "amd64"), AMD64], [
        await base.image(ARM64, "arm64"),
        ARM64,
      ]]),
    );
    const digests = [];
    for (
      const [i, spelling] of [`oci:${tmp}/base:v1`, "oci:base:v1", "oci:./base/:v1"].entries()
    ) {
      for (
        const platform of ["linux/amd64", "linux/amd64,linux/arm64", "linux/arm64,linux/amd64"]
      ) {
        const pushed = await ocisync(
          ["push", `oci:${tmp}/out${i}:v1`, "flows", "--base", spelling, "--platform", platform],
          { cwd: tmp },
        );
        expectExit(pushed, 0);
        const index = JSON.parse(await Deno.readTextFile(`${tmp}/out${i}/index.json`));
        const digest: string = index.manifests.find((m: Descriptor) =>
          m.annotations?.["org.opencontainers.image.ref.name"] === "v1"
        ).digest;
        digests.push(`${platform.split(",").sort()}: ${digest}`);
        const bytes = await Deno.readTextFile(`${tmp}/out${i}/blobs/sha256/${digest.slice(7)}`);
        assert.ok(!bytes.includes(tmp), `no path in ${bytes}`);
        assert.ok(!bytes.includes("org.opencontainers.image.base.name"), bytes);
        assert.match(bytes, /org\.opencontainers\.image\.base\.digest/);
      }
    }
    assert.equal(new Set(digests).size, 2, digests.join("\n"));
  }));
