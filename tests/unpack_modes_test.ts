/**
 * What the unpacker leaves on disk while it works and after, with layers written by Python's
 * `tarfile`: nothing it makes is writable by group or others before `finish` (folders that should
 * be wait for it, deepest first); an opaque whiteout removes every lower path below its folder,
 * at any depth, without following links; and nothing is removed but by a whiteout or by an entry
 * at that path. Expected trees are written out here, and checked against umoci where it applies.
 */
import assert from "node:assert/strict";
import { ocisync, runOk, shown } from "./helpers/cli.ts";
import { type Entry, pythonTar, writeImage } from "./helpers/layers.ts";
import { requireTool } from "./helpers/tools.ts";
import { snapshot, withTempDir } from "./helpers/tree.ts";
import { asNobody } from "./helpers/unprivileged.ts";
import { UnsafeContentError } from "../src/errors/mod.ts";
import { readTar } from "../src/tar/reader.ts";
import { Unpacker } from "../src/unpack/mod.ts";
import { ThreadedUnpacker } from "../src/unpack/threaded.ts";

requireTool("python3", "python3");
requireTool("umoci", "umoci");

/** The layers' tars, written by Python into `tmp`. */
async function tars(tmp: string, layers: Entry[][]): Promise<Uint8Array[]> {
  const result = [];
  for (const [i, entries] of layers.entries()) {
    result.push(await pythonTar(`${tmp}/layer${i}.tar`, entries));
  }
  return result;
}

/** Applies `layers` to the new folder `root`, and hands the unpacker, not yet finished, to `body`. */
async function applied(
  threaded: boolean,
  root: string,
  layers: Uint8Array[],
  body: (unpacker: Unpacker | ThreadedUnpacker) => Promise<void>,
): Promise<void> {
  await Deno.mkdir(root);
  const unpacker = threaded ? new ThreadedUnpacker(root) : new Unpacker(root);
  try {
    for (const layer of layers) {
      await unpacker.apply(readTar(unpacker.meter(ReadableStream.from([layer]))));
    }
    await body(unpacker);
  } finally {
    if (unpacker instanceof ThreadedUnpacker) unpacker.close();
  }
}

/** Each path below `root` with its permission bits (0 for a link). */
async function modes(root: string): Promise<Record<string, number>> {
  const tree = await snapshot(root);
  return Object.fromEntries(Object.entries(tree).map(([path, entry]) => [path, entry.mode]));
}

const SHARED_FOLDERS: Entry[][] = [
  [
    { type: "dir", name: "tmp", mode: 0o1777 },
    { type: "dir", name: "tmp/d", mode: 0o777 },
    { type: "file", name: "tmp/d/f", data: "f", mode: 0o644 },
    { type: "file", name: "tmp/d/run", data: "#!/bin/sh\n", mode: 0o755 },
    { type: "dir", name: "tmp/d/e", mode: 0o755 },
    { type: "file", name: "tmp/d/e/g", data: "g", mode: 0o600 },
    { type: "symlink", name: "tmp/d/link", link: "e" },
    { type: "dir", name: "group", mode: 0o775 },
    { type: "dir", name: "group/ro", mode: 0o555 },
    { type: "file", name: "group/ro/file", data: "ro", mode: 0o444 },
    { type: "dir", name: "drop", mode: 0o733 },
  ],
  // A later layer names the shared folders again, and writes into them.
  [
    { type: "dir", name: "tmp", mode: 0o1777 },
    { type: "file", name: "tmp/later", data: "later", mode: 0o640 },
    { type: "dir", name: "tmp/d", mode: 0o777 },
    { type: "file", name: "tmp/d/e/h", data: "h", mode: 0o644 },
  ],
];

/** The image's modes: what the tree ends as (a folder keeps its sticky bit). */
const SHARED_FOLDERS_FINAL: Record<string, number> = {
  "drop": 0o733,
  "group": 0o775,
  "group/ro": 0o555,
  "group/ro/file": 0o444,
  "tmp": 0o1777,
  "tmp/d": 0o777,
  "tmp/d/e": 0o755,
  "tmp/d/e/g": 0o600,
  "tmp/d/e/h": 0o644,
  "tmp/d/f": 0o644,
  "tmp/d/link": 0,
  "tmp/d/run": 0o755,
  "tmp/later": 0o640,
};

for (const threaded of [false, true]) {
  const which = threaded ? "on its thread" : "in this thread";
  Deno.test(`unpack ${which}: nothing is writable by group or others before finish`, async () => {
    await withTempDir("ocisync-modes-", async (tmp) => {
      const root = `${tmp}/root`;
      await applied(threaded, root, await tars(tmp, SHARED_FOLDERS), async (unpacker) => {
        const before = await modes(root);
        assert.deepEqual(Object.keys(before), Object.keys(SHARED_FOLDERS_FINAL));
        for (const [path, mode] of Object.entries(before)) {
          assert.equal(mode & 0o022, 0, `${path} is ${mode.toString(8)} before finish`);
        }
        await unpacker.finish();
        assert.deepEqual(await modes(root), SHARED_FOLDERS_FINAL);
      });
    });
  });
}

/** Opaque whiteouts, and the paths that must be left. */
const OPAQUE: { name: string; layers: Entry[][]; expect: string[] }[] = [
  {
    // "-d" sorts before ".wh.", so a tar writer puts the folder's new content before the whiteout.
    name: "in a folder, with lower files below a folder this layer names again",
    layers: [
      [
        { type: "dir", name: "a" },
        { type: "dir", name: "a/-d" },
        { type: "file", name: "a/-d/secret", data: "lower" },
        { type: "dir", name: "a/-d/deep" },
        { type: "file", name: "a/-d/deep/old", data: "lower" },
        { type: "file", name: "a/old", data: "lower" },
        { type: "dir", name: "keep" },
        { type: "file", name: "keep/precious", data: "not below a" },
      ],
      [
        { type: "dir", name: "a" },
        { type: "dir", name: "a/-d" },
        { type: "file", name: "a/-d/new", data: "upper" },
        // A link this layer made is kept, and not followed to what it points at.
        { type: "symlink", name: "a/-d/ln", link: "../../keep" },
        { type: "file", name: "a/.wh..wh..opq" },
      ],
    ],
    expect: ["a", "a/-d", "a/-d/ln", "a/-d/new", "keep", "keep/precious"],
  },
  {
    name: "at the root",
    layers: [
      [
        { type: "dir", name: "-keep" },
        { type: "file", name: "-keep/old", data: "lower" },
        { type: "dir", name: "-keep/sub" },
        { type: "file", name: "-keep/sub/old", data: "lower" },
        { type: "file", name: "gone", data: "lower" },
      ],
      [
        { type: "dir", name: "-keep" },
        { type: "dir", name: "-keep/sub" },
        { type: "file", name: "-keep/sub/new", data: "upper" },
        { type: "file", name: ".wh..wh..opq" },
      ],
    ],
    expect: ["-keep", "-keep/sub", "-keep/sub/new"],
  },
];

for (const { name, layers, expect } of OPAQUE) {
  Deno.test(`unpack: an opaque whiteout ${name} removes every lower path below it`, async () => {
    await withTempDir("ocisync-modes-", async (tmp) => {
      const bytes = await tars(tmp, layers);
      for (const threaded of [false, true]) {
        const root = `${tmp}/root${threaded}`;
        await applied(threaded, root, bytes, (unpacker) => Promise.resolve(unpacker.finish()));
        assert.deepEqual(Object.keys(await snapshot(root)), expect, `threaded: ${threaded}`);
      }
      // The command line, against umoci.
      await writeImage(`${tmp}/layout`, bytes);
      const pulled = await ocisync(["pull", `oci:${tmp}/layout:v1`, "-o", `${tmp}/out`]);
      assert.equal(pulled.code, 0, shown(pulled));
      await runOk("umoci", ["unpack", "--image", `${tmp}/layout:v1`, `${tmp}/bundle`]);
      assert.deepEqual(await snapshot(`${tmp}/out`), await snapshot(`${tmp}/bundle/rootfs`));
    });
  });
}

/** Entries that would remove a file they do not name, and their refusal. */
const NO_REMOVAL: { name: string; entries: Entry[]; message: RegExp }[] = [
  {
    name: "a hard link whose target's folder is a file",
    entries: [
      { type: "file", name: "f", data: "kept" },
      { type: "hardlink", name: "h", link: "f/x" },
    ],
    message: /refusing layer entry "h": it links to f\/x, which is not a file/,
  },
  {
    name: "a hard link through a link whose target passes a file",
    entries: [
      { type: "file", name: "f", data: "kept" },
      { type: "file", name: "g", data: "g" },
      { type: "symlink", name: "s", link: "f/.." },
      { type: "hardlink", name: "h", link: "s/g" },
    ],
    message: /refusing layer entry "h": it links to s\/g, which is not a file/,
  },
  {
    name: "a file written through a link whose target passes a file",
    entries: [
      { type: "file", name: "f", data: "kept" },
      { type: "symlink", name: "s", link: "f/.." },
      { type: "file", name: "s/x", data: "x" },
    ],
    message: /refusing layer entry "s\/x": it passes through f, which is a file/,
  },
];

for (const { name, entries, message } of NO_REMOVAL) {
  Deno.test(`unpack refuses ${name}, and removes nothing`, async () => {
    await withTempDir("ocisync-modes-", async (tmp) => {
      const bytes = await tars(tmp, [entries]);
      for (const threaded of [false, true]) {
        const root = `${tmp}/root${threaded}`;
        await assert.rejects(applied(threaded, root, bytes, () => Promise.resolve()), (error) => {
          assert.ok(error instanceof UnsafeContentError, String(error));
          assert.match(error.message, message);
          return true;
        });
        assert.equal(await Deno.readTextFile(`${root}/f`), "kept");
      }
    });
  });
}

Deno.test("a pull merges into a folder that an earlier pull made read-only, as an unprivileged user", async () => {
  // root enters any folder; nobody, with a copy of the program, needs write permission on
  // both sides of each move: the image's 0555 folder, and the one an earlier pull made so.
  await withTempDir("ocisync-merge-modes-", async (tmp) => {
    await Deno.chmod(tmp, 0o755);
    const images = [
      [
        { type: "dir", name: "d", mode: 0o555 },
        { type: "file", name: "d/f", data: "first", mode: 0o644 },
      ],
      [
        { type: "dir", name: "d", mode: 0o555 },
        { type: "file", name: "d/f", data: "second", mode: 0o644 },
        { type: "file", name: "d/g", data: "added", mode: 0o644 },
      ],
    ] satisfies Entry[][];
    for (const [i, entries] of images.entries()) {
      await writeImage(`${tmp}/image${i}`, [await pythonTar(`${tmp}/layer${i}.tar`, entries)]);
    }
    await runOk("chmod", ["-R", "a+rX", `${tmp}/image0`, `${tmp}/image1`]);
    // The staging folder goes beside the destination: both in a folder of nobody's. The
    // destination holds a file of the user's, so the first pull merges too: its new 0555
    // folder must be opened for the move into another folder, which changes its `..`.
    await Deno.mkdir(`${tmp}/own/out`, { recursive: true });
    await Deno.writeTextFile(`${tmp}/own/out/notes.txt`, "the user's\n");
    await runOk("chown", ["-R", "65534:65534", `${tmp}/own`]);
    const cli = await asNobody(tmp);
    for (const i of [0, 1]) {
      const pulled = await cli(["pull", `oci:${tmp}/image${i}:v1`, "-o", `${tmp}/own/out`]);
      assert.equal(pulled.code, 0, shown(pulled));
    }
    assert.deepEqual(await modes(`${tmp}/own/out`), {
      "d": 0o555,
      "d/f": 0o644,
      "d/g": 0o644,
      "notes.txt": 0o644,
    });
    assert.equal(await Deno.readTextFile(`${tmp}/own/out/d/f`), "second");
    assert.equal(await Deno.readTextFile(`${tmp}/own/out/d/g`), "added");
    assert.deepEqual((await Array.fromAsync(Deno.readDir(`${tmp}/own`))).map((e) => e.name), [
      "out",
    ]);
    await runOk("chmod", ["-R", "u+w", `${tmp}/own`]);
  });
});
