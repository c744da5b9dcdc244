/**
 * What a pull keeps about the paths it makes does not multiply by their length: a second layer
 * of many files under one path of nearly 4 KB, and a layer of many read-only folders there, are
 * pulled in a bounded amount of memory, and so is a pull again into the folder that holds them,
 * which merges into it. Measured as the process's peak resident memory (`ru_maxrss`), never by
 * time. The old code kept each full path (as a path the layer made, which an opaque whiteout must
 * spare, or as a folder whose mode waits for the end): some 5 KB an entry, 1.1 GB for the audit's
 * 200,000 entries; and its merge kept a step to undo for each move, with its two full paths.
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { expectExit, ocisyncPeakMemory, runOk } from "./helpers/cli.ts";
import { sha256Digest } from "./helpers/hash.ts";
import { deepTreeLayer, type Entry, pythonTar, writeImageOfLayers } from "./helpers/layers.ts";
import { withTempDir } from "./helpers/tree.ts";
import { UnsafeContentError } from "../src/errors/mod.ts";
import { readTar } from "../src/tar/reader.ts";
import { Unpacker } from "../src/unpack/mod.ts";

/** Entries in the hostile layer: enough for the old code to go far over the bound. */
const COUNT = 30_000;
/** Folders of 250 characters above them: a path of 3.8 KB, below Linux's `PATH_MAX`. */
const DEPTH = 15;
/**
 * The bound on the pull's peak resident memory: these pulls peak near 145 MB; the old code's
 * near 270 MB (and at 50,000 entries 350–370 MB, against 145 MB). Pulled again, 20,000 files
 * peak near 135 MB; the old merge near 260 MB.
 */
const PEAK_BOUND = 200 * 1024 ** 2;

/**
 * Entries in the layer pulled again into the folder that holds them: fewer, as each is moved
 * twice (aside, then in), enough for the old merge to go past the bound.
 */
const REPULL_COUNT = 20_000;

/** The folder that holds the entries, below the image's root. */
const FOLDER = Array.from({ length: DEPTH }, (_, i) => `d${i}${"x".repeat(245)}`).join("/");

async function pullPeak(tmp: string, layout: string): Promise<number> {
  const result = await ocisyncPeakMemory(["pull", `oci:${layout}:v1`, "-o", `${tmp}/out`]);
  expectExit(result, 0);
  return result.peakBytes;
}

/** How many entries the folder holds in the pulled tree, and the mode of one. */
async function pulled(tmp: string): Promise<{ count: number; mode: number }> {
  const folder = `${tmp}/out/${FOLDER}`;
  let count = 0;
  for await (const _ of Deno.readDir(folder)) count++;
  return { count, mode: (await Deno.lstat(`${folder}/e0000000`)).mode! & 0o777 };
}

Deno.test({
  name: "pull: a second layer of 30,000 files under a 3.8 KB path stays in bounded memory",
  sanitizeResources: false,
  async fn() {
    const tmp = await Deno.makeTempDir();
    try {
      const first = await pythonTar(`${tmp}/first.tar`, [{ type: "file", name: "a.txt" }]);
      const second = await deepTreeLayer(`${tmp}/second.tar.gz`, {
        count: COUNT,
        depth: DEPTH,
        kind: "file",
      });
      await writeImageOfLayers(`${tmp}/layout`, [{
        bytes: gzipSync(first),
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        diffId: sha256Digest(first),
      }, second]);
      const peak = await pullPeak(tmp, `${tmp}/layout`);
      assert.deepEqual(await pulled(tmp), { count: COUNT, mode: 0o644 });
      assert.ok(peak < PEAK_BOUND, `peak resident memory ${(peak / 1024 ** 2).toFixed(0)} MB`);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name: "pull: 30,000 read-only folders (0555) under a 3.8 KB path stay in bounded memory",
  sanitizeResources: false,
  async fn() {
    const tmp = await Deno.makeTempDir();
    try {
      const layer = await deepTreeLayer(`${tmp}/dirs.tar.gz`, {
        count: COUNT,
        depth: DEPTH,
        kind: "dir",
      });
      await writeImageOfLayers(`${tmp}/layout`, [layer]);
      const peak = await pullPeak(tmp, `${tmp}/layout`);
      // Their modes, which waited for the end, were set all the same.
      assert.deepEqual(await pulled(tmp), { count: COUNT, mode: 0o555 });
      assert.ok(peak < PEAK_BOUND, `peak resident memory ${(peak / 1024 ** 2).toFixed(0)} MB`);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "pull again: a merge that replaces 20,000 files under a 3.8 KB path stays in bounded memory",
  sanitizeResources: false,
  async fn() {
    const tmp = await Deno.makeTempDir();
    try {
      const layer = await deepTreeLayer(`${tmp}/files.tar.gz`, {
        count: REPULL_COUNT,
        depth: DEPTH,
        kind: "file",
      });
      await writeImageOfLayers(`${tmp}/layout`, [layer]);
      // The folder as an earlier pull of the image left it (GNU tar makes it faster): each file
      // of the image is there, so the merge puts each aside and moves the image's in its place.
      await Deno.mkdir(`${tmp}/out`);
      await runOk("tar", ["-xzf", `${tmp}/files.tar.gz`, "-C", `${tmp}/out`]);
      await Deno.writeTextFile(`${tmp}/out/${FOLDER}/e0000000`, "the user's\n");
      const peak = await pullPeak(tmp, `${tmp}/layout`);
      assert.deepEqual(await pulled(tmp), { count: REPULL_COUNT, mode: 0o644 });
      assert.equal(await Deno.readTextFile(`${tmp}/out/${FOLDER}/e0000000`), "", "replaced");
      assert.deepEqual(
        [...Deno.readDirSync(`${tmp}/out`)].map((entry) => entry.name),
        [FOLDER.split("/")[0]],
        "no staging folder is left",
      );
      assert.ok(peak < PEAK_BOUND, `peak resident memory ${(peak / 1024 ** 2).toFixed(0)} MB`);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("unpack: past maxRetainedBytes, what is kept about paths is refused as unsafe content", async () => {
  await withTempDir("ocisync-unpack-", async (tmp) => {
    const many = (entry: (name: string) => Entry) =>
      Array.from({ length: 100 }, (_, i) => entry(`folder/${i}`.padEnd(150, "n")));
    const cases: Entry[][][] = [
      // The paths a second layer makes, which an opaque whiteout must spare.
      [[{ type: "file", name: "a" }], many((name) => ({ type: "file", name }))],
      // Folders whose mode waits for the end, in the first layer.
      [many((name) => ({ type: "dir", name, mode: 0o555 }))],
    ];
    for (const [n, layers] of cases.entries()) {
      const root = `${tmp}/root${n}`;
      await Deno.mkdir(root);
      const unpacker = new Unpacker(root, { maxRetainedBytes: 10_000 });
      await assert.rejects(
        async () => {
          for (const [i, entries] of layers.entries()) {
            const tar = await pythonTar(`${tmp}/layer${n}-${i}.tar`, entries);
            await unpacker.apply(readTar(ReadableStream.from([tar])));
          }
        },
        (error) =>
          error instanceof UnsafeContentError &&
          /more paths to keep track of than the limit of 10000 bytes/.test(error.message),
      );
    }
  });
});
