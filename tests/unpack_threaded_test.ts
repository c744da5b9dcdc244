/**
 * The unpacker on its worker thread (`ThreadedUnpacker`, which `pull` uses) against the one in
 * this thread and against GNU tar, with layers written by Python's `tarfile`: the same tree
 * (content, modes, mtimes, links), the same stats, the same refusals with the same classes and
 * options, an error keeping its place in the stream, and every replacement of what an earlier
 * entry made (by a link, then a write through it) refused or done without following the link.
 */
import assert from "node:assert/strict";
import { runOk } from "./helpers/cli.ts";
import { type Entry, pythonTar } from "./helpers/layers.ts";
import { requireTool } from "./helpers/tools.ts";
import { snapshot, withTempDir } from "./helpers/tree.ts";
import { OcisyncError, UnsafeContentError } from "../src/errors/mod.ts";
import { readTar } from "../src/tar/reader.ts";
import { Unpacker, type UnpackOptions } from "../src/unpack/mod.ts";
import { BATCH_BYTES, ThreadedUnpacker } from "../src/unpack/threaded.ts";

requireTool("python3", "python3");

/** Applies `layers` to `root` with one unpacker or the other; returns its stats. */
async function unpack(
  threaded: boolean,
  root: string,
  layers: Uint8Array[],
  options: UnpackOptions = {},
): Promise<Unpacker["stats"]> {
  await Deno.mkdir(root);
  const unpacker = threaded ? new ThreadedUnpacker(root, options) : new Unpacker(root, options);
  try {
    for (const layer of layers) {
      // Odd-sized chunks, so that headers and bodies straddle them.
      const chunks = [];
      for (let i = 0; i < layer.length; i += 7777) chunks.push(layer.subarray(i, i + 7777));
      await unpacker.apply(readTar(unpacker.meter(ReadableStream.from(chunks))));
    }
    await unpacker.finish();
    return unpacker.stats;
  } finally {
    if (unpacker instanceof ThreadedUnpacker) unpacker.close();
  }
}

/** Every path's type, mode, content and (for files and links) mtime. */
async function tree(root: string): Promise<Record<string, unknown>> {
  const entries = await snapshot(root);
  return Object.fromEntries(
    Object.entries(entries).map(([path, entry]) => {
      const info = Deno.lstatSync(`${root}/${path}`);
      return [path, { ...entry, mtime: entry.type === "file" ? info.mtime?.getTime() : undefined }];
    }),
  );
}

/** The layers' tars, written by Python into `tmp`. */
async function tars(tmp: string, layers: Entry[][]): Promise<Uint8Array[]> {
  const result = [];
  for (const [i, entries] of layers.entries()) {
    result.push(await pythonTar(`${tmp}/layer${i}.tar`, entries));
  }
  return result;
}

/** A scratch folder with `outside/` (0750, holding `secret`, 0640) beside `out`. */
async function scratch(tmp: string): Promise<void> {
  await Deno.mkdir(`${tmp}/outside`);
  await Deno.chmod(`${tmp}/outside`, 0o750);
  await Deno.writeTextFile(`${tmp}/outside/secret`, "secret\n");
  await Deno.chmod(`${tmp}/outside/secret`, 0o640);
}

function outsideUntouched(tmp: string): void {
  assert.deepEqual(
    [...Deno.readDirSync(`${tmp}/outside`)].map((e) => e.name),
    ["secret"],
    "nothing written outside",
  );
  assert.equal(Deno.readTextFileSync(`${tmp}/outside/secret`), "secret\n");
  assert.equal(Deno.lstatSync(`${tmp}/outside`).mode! & 0o7777, 0o750);
  assert.equal(Deno.lstatSync(`${tmp}/outside/secret`).mode! & 0o7777, 0o640);
}

Deno.test("threaded unpack: the same tree as in this thread and as GNU tar, bodies across batches", async () => {
  await withTempDir("ocisync-unpack-", async (tmp) => {
    const big = "0123456789abcdef".repeat((3 * BATCH_BYTES) / 16 + 5); // four batches and more
    const entries: Entry[] = [
      { type: "dir", name: "d", mode: 0o750 },
      { type: "dir", name: "d/ro", mode: 0o555 },
      { type: "file", name: "d/ro/inside", data: "in a read-only folder", mode: 0o400 },
      { type: "file", name: "d/big", data: big, mode: 0o600 },
      { type: "file", name: "d/empty", mode: 0o000 },
      { type: "fifo", name: "d/fifo" },
      { type: "symlink", name: "d/link", link: "big" },
      { type: "hardlink", name: "d/hard", link: "d/big" },
      { type: "file", name: "implicit/parent/file", data: "x", mode: 0o777 },
    ];
    for (let i = 0; i < 600; i++) {
      entries.push({ type: "file", name: `many/f${i}`, data: `${i}`.repeat(i), mode: 0o644 });
    }
    const layers = await tars(tmp, [entries, [
      { type: "file", name: "d/big", data: "smaller now" },
      { type: "file", name: "many/.wh.f7" },
    ]]);
    const here = await unpack(false, `${tmp}/here`, layers);
    const there = await unpack(true, `${tmp}/there`, layers);
    assert.deepEqual(there, here);
    assert.equal(here.files, 605);
    assert.deepEqual(await tree(`${tmp}/there`), await tree(`${tmp}/here`));
    // GNU tar, layer by layer, with the whiteout applied by hand: the same files and mtimes.
    await Deno.mkdir(`${tmp}/gnu`);
    for (const i of [0, 1]) {
      await runOk("tar", ["-xf", `${tmp}/layer${i}.tar`, "-C", `${tmp}/gnu`, "--no-same-owner"]);
    }
    await Deno.remove(`${tmp}/gnu/many/.wh.f7`);
    await Deno.remove(`${tmp}/gnu/many/f7`);
    await Deno.remove(`${tmp}/gnu/d/fifo`); // a fifo is not created
    const gnu = await tree(`${tmp}/gnu`);
    const ours = await tree(`${tmp}/there`);
    assert.deepEqual(ours, gnu);
  });
});

/** What an earlier entry made, replaced by a later one: never written or changed through. */
const REPLACEMENTS: {
  name: string;
  layers: Entry[][];
  /** The path that must end as this, or the refusal. */
  expect: { path: string; type: "file" | "dir" | "symlink"; mode?: number; text?: string } | RegExp;
}[] = [
  {
    name: "a file over a link to a file outside",
    layers: [[
      { type: "symlink", name: "l", link: "../../outside/secret" },
      { type: "file", name: "l", data: "pwned", mode: 0o777 },
    ]],
    expect: { path: "l", type: "file", mode: 0o777, text: "pwned" },
  },
  {
    name: "a folder over a link to a folder outside, over two layers",
    layers: [
      [{ type: "symlink", name: "d", link: "../../outside" }],
      [{ type: "dir", name: "d", mode: 0o777 }],
    ],
    expect: { path: "d", type: "dir", mode: 0o777 },
  },
  {
    name: "a hard link over a link to a file outside",
    layers: [[
      { type: "file", name: "f", data: "mine" },
      { type: "symlink", name: "h", link: "../../outside/secret" },
      { type: "hardlink", name: "h", link: "f" },
    ]],
    expect: { path: "h", type: "file", mode: 0o644, text: "mine" },
  },
  {
    name: "a link over a link to outside",
    layers: [[
      { type: "symlink", name: "s", link: "../../outside" },
      { type: "symlink", name: "s", link: "elsewhere" },
    ]],
    expect: { path: "s", type: "symlink" },
  },
  {
    // The folder was made by this unpack, and its files too: none of that makes a write
    // below it safe once a later entry has put a link in its place.
    name: "a folder made in this layer, replaced by a link, then written through",
    layers: [[
      { type: "dir", name: "d", mode: 0o755 },
      { type: "file", name: "d/a", data: "a" },
      { type: "symlink", name: "d", link: "../../outside" },
      { type: "file", name: "d/pwned", data: "x" },
    ]],
    expect: /refusing layer entry "d\/pwned": it leaves the target through a symlink/,
  },
  {
    name: "a folder made by the layer before, replaced by a link, then written through",
    layers: [
      [{ type: "dir", name: "d", mode: 0o755 }, { type: "file", name: "d/a", data: "a" }],
      [{ type: "symlink", name: "d", link: "../../outside" }, { type: "dir", name: "d/sub" }],
    ],
    expect: /refusing layer entry "d\/sub\/": it leaves the target through a symlink/,
  },
  {
    name: "a file's parent folder replaced by a link to the root, then the file again",
    layers: [[
      { type: "dir", name: "p", mode: 0o700 },
      { type: "file", name: "p/f", data: "one" },
      { type: "symlink", name: "p", link: "/" },
      { type: "file", name: "p/f", data: "two", mode: 0o600 },
    ]],
    expect: { path: "f", type: "file", mode: 0o600, text: "two" },
  },
];

for (const threaded of [false, true]) {
  const which = threaded ? "on its thread" : "in this thread";
  for (const { name, layers, expect } of REPLACEMENTS) {
    Deno.test(`unpack ${which}: ${name}`, async () => {
      await withTempDir("ocisync-unpack-", async (tmp) => {
        await scratch(tmp);
        const root = `${tmp}/out/root`;
        await Deno.mkdir(`${tmp}/out`);
        const applied = unpack(threaded, root, await tars(tmp, layers));
        if (expect instanceof RegExp) {
          await assert.rejects(applied, (error) => {
            assert.ok(error instanceof UnsafeContentError, String(error));
            assert.match(error.message, expect);
            return true;
          });
        } else {
          await applied;
          const info = Deno.lstatSync(`${root}/${expect.path}`);
          const type = info.isSymlink ? "symlink" : info.isDirectory ? "dir" : "file";
          assert.equal(type, expect.type);
          if (expect.mode !== undefined) assert.equal(info.mode! & 0o7777, expect.mode);
          if (expect.text !== undefined) {
            assert.equal(Deno.readTextFileSync(`${root}/${expect.path}`), expect.text);
          }
        }
        outsideUntouched(tmp);
      });
    });
  }
}

/** The error a promise rejects with. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a rejection");
}

/** `count` names of 100 characters. */
function names(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${i}`.padStart(100, "n"));
}

Deno.test("threaded unpack: refusals cross the thread as the same class, message, hint, option and code", async () => {
  await withTempDir("ocisync-unpack-", async (tmp) => {
    const cases: { layers: Entry[][]; options?: UnpackOptions }[] = [
      {
        layers: [[{ type: "file", name: "a" }, { type: "file", name: "b" }]],
        options: { maxEntries: 1 },
      },
      {
        layers: [[{ type: "file", name: "a", data: "x".repeat(2000) }]],
        options: { maxSize: 1500 },
      },
      { layers: [[{ type: "file", name: "x".repeat(300), data: "long" }]] },
      { layers: [[{ type: "hardlink", name: "h", link: "missing" }]] },
      { layers: [[{ type: "file", name: "up/.wh.." }]] },
      {
        layers: [[{ type: "file", name: "a" }], names(40).map((name) => ({ type: "file", name }))],
        options: { maxRetainedBytes: 2000 },
      },
      {
        layers: [names(40).map((name) => ({ type: "dir", name, mode: 0o555 }))],
        options: { maxRetainedBytes: 2000 },
      },
    ];
    for (const { layers, options } of cases) {
      const bytes = await tars(tmp, layers);
      // One root after the other, so that the messages, which name paths, can be equal.
      const here = await rejection(unpack(false, `${tmp}/root`, bytes, options));
      await Deno.remove(`${tmp}/root`, { recursive: true });
      const there = await rejection(unpack(true, `${tmp}/root`, bytes, options));
      await Deno.remove(`${tmp}/root`, { recursive: true });
      assert.equal(there.constructor, here.constructor, here.message);
      assert.equal(there.name, here.name);
      assert.equal(there.message, here.message);
      for (const field of ["kind", "hint", "option", "code"]) {
        assert.equal(
          (there as unknown as Record<string, unknown>)[field],
          (here as unknown as Record<string, unknown>)[field],
          `${field} of ${here.message}`,
        );
      }
      if (here instanceof OcisyncError) assert.ok(there instanceof OcisyncError);
    }
  });
});

Deno.test("threaded unpack: a refused entry's error wins over a truncation read ahead of it", async () => {
  await withTempDir("ocisync-unpack-", async (tmp) => {
    // With one file after it, the refused entry is still in the batch being filled when the
    // stream ends; with 40, batches go to the worker while this thread reads on.
    for (const after of [1, 40]) {
      const entries: Entry[] = [
        { type: "file", name: "first", data: "ok" },
        { type: "file", name: "../escaped", data: "x" },
      ];
      for (let i = 0; i < after; i++) {
        entries.push({ type: "file", name: `later${i}`, data: "y".repeat(20_000) });
      }
      const [whole] = await tars(tmp, [entries]);
      const truncated = whole.subarray(0, whole.length - 15_000);
      for (const threaded of [false, true]) {
        const error = await rejection(
          unpack(threaded, `${tmp}/out${after}${threaded}`, [truncated]),
        );
        assert.match(error.message, /refusing layer entry "\.\.\/escaped": it contains \.\./);
      }
      assert.deepEqual(
        await snapshot(`${tmp}/out${after}true`),
        await snapshot(`${tmp}/out${after}false`),
      );
    }
    // The stream alone is cut short: that is the error, from either thread.
    const [plain] = await tars(tmp, [[{ type: "file", name: "a", data: "z".repeat(20_000) }]]);
    for (const threaded of [false, true]) {
      const error = await rejection(
        unpack(threaded, `${tmp}/cut${threaded}`, [plain.subarray(0, 10_000)]),
      );
      assert.match(error.message, /tar archive is truncated/);
    }
  });
});
