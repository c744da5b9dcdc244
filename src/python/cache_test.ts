import assert from "node:assert/strict";
import { LayerCache } from "./cache.ts";
import { writeLayerFile } from "../layer/mod.ts";
import { UsageError } from "../errors/mod.ts";
import { withTmpfs } from "../../tests/helpers/tmpfs.ts";
import { withTempDir } from "../../tests/helpers/tree.ts";

const DAY_MS = 24 * 3_600_000;

/**
 * Runs `fn` with a layer of one file written at `layerPath`, its description `layer`, an empty
 * cache folder (0700), and `aged`, which writes a file there last changed `ageMs` ago.
 */
async function withAgedCache(
  fn: (scene: {
    tmp: string;
    cache: string;
    layerPath: string;
    layer: Awaited<ReturnType<typeof writeLayerFile>>;
    aged: (name: string, ageMs: number) => Promise<void>;
  }) => Promise<void>,
): Promise<void> {
  await withTempDir("ocisync-cache-test-", async (tmp) => {
    await Deno.mkdir(`${tmp}/src`);
    await Deno.writeTextFile(`${tmp}/src/a.py`, "A = 1\n");
    const layerPath = `${tmp}/layer.tar`;
    const layer = await writeLayerFile(`${tmp}/src`, layerPath);
    const cache = `${tmp}/cache`;
    await Deno.mkdir(cache, { mode: 0o700 });
    const aged = async (name: string, ageMs: number) => {
      await Deno.writeTextFile(`${cache}/${name}`, "a layer, or half of one");
      const then = new Date(Date.now() - ageMs);
      await Deno.utime(`${cache}/${name}`, then, then);
    };
    await fn({ tmp, cache, layerPath, layer, aged });
  });
}

Deno.test("put removes the temporary files that killed writers left a day ago, and no other", () =>
  withAgedCache(async ({ tmp, cache, layerPath, layer, aged }) => {
    const key = "a".repeat(64);
    const old = `.${"b".repeat(64)}.layer.0123abcd.tmp`;
    await aged(old, DAY_MS + 3_600_000);
    const young = `.${"c".repeat(64)}.layer.4567cdef.tmp`;
    await aged(young, DAY_MS - 3_600_000);
    const notOurs = ".notes.tmp";
    await aged(notOurs, 2 * DAY_MS);
    await new LayerCache(cache).put(key, layerPath, layer);
    const names = await Array.fromAsync(Deno.readDir(cache), (e) => e.name);
    assert.deepEqual(names.sort(), [notOurs, young, `${key}.json`, `${key}.layer`].sort());
    assert.deepEqual(await new LayerCache(cache).get(key, `${tmp}/out.tar`), layer);
  }));

Deno.test({
  name:
    "get takes only entries of this user's own, from a folder no other user can replace (as root)",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    await withTempDir("ocisync-cache-test-", async (tmp) => {
      await Deno.mkdir(`${tmp}/src`);
      await Deno.writeTextFile(`${tmp}/src/a.py`, "A = 1\n");
      const layer = await writeLayerFile(`${tmp}/src`, `${tmp}/layer.tar`);
      const key = "a".repeat(64);
      const cache = `${tmp}/cache`;
      await new LayerCache(cache).put(key, `${tmp}/layer.tar`, layer);
      assert.deepEqual(await new LayerCache(cache).get(key, `${tmp}/out.tar`), layer);

      // Entries of another user's, as a swap of the folder for a link to theirs would show
      // them, or links to entries elsewhere: misses, never read as the layer they describe.
      for (const name of [`${key}.json`, `${key}.layer`]) {
        await Deno.chown(`${cache}/${name}`, 65534, 65534);
        assert.equal(await new LayerCache(cache).get(key, `${tmp}/out.tar`), undefined, name);
        await Deno.chown(`${cache}/${name}`, 0, 0);
      }
      await Deno.rename(`${cache}/${key}.layer`, `${tmp}/elsewhere.layer`);
      await Deno.symlink(`${tmp}/elsewhere.layer`, `${cache}/${key}.layer`);
      assert.equal(await new LayerCache(cache).get(key, `${tmp}/out.tar`), undefined);

      // root's cache folder inside another user's folder: they could swap it at any time.
      const theirs = `${tmp}/theirs`;
      await Deno.mkdir(theirs);
      await Deno.chown(theirs, 65534, 65534);
      await assert.rejects(
        new LayerCache(`${theirs}/deps`).get(key, `${tmp}/out.tar`),
        (error: Error) =>
          error instanceof UsageError &&
          /refusing the cache folder .*can be replaced by another user/.test(error.message),
      );
    });
  },
});

Deno.test("put removes a layer blob left without its description a day ago, and no other", () =>
  withAgedCache(async ({ cache, layerPath, layer, aged }) => {
    // A put stopped between the blob and its description, by a full disk or a kill.
    const orphan = `${"b".repeat(64)}.layer`;
    await aged(orphan, DAY_MS + 3_600_000);
    // Maybe a put under way: its description comes next.
    const young = `${"c".repeat(64)}.layer`;
    await aged(young, DAY_MS - 3_600_000);
    const whole = "d".repeat(64);
    await aged(`${whole}.layer`, 2 * DAY_MS);
    await aged(`${whole}.json`, 2 * DAY_MS);
    const key = "a".repeat(64);
    await new LayerCache(cache).put(key, layerPath, layer);
    const names = await Array.fromAsync(Deno.readDir(cache), (e) => e.name);
    assert.deepEqual(
      names.sort(),
      [young, `${whole}.layer`, `${whole}.json`, `${key}.json`, `${key}.layer`].sort(),
    );
  }));

Deno.test({
  name: "put on a disk with room for the layer but not its description leaves no blob (as root)",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    const tmp = await Deno.makeTempDir();
    const disk = `${tmp}/disk`;
    try {
      await Deno.mkdir(`${tmp}/src`);
      await Deno.writeFile(`${tmp}/src/a.bin`, crypto.getRandomValues(new Uint8Array(20_000)));
      const layer = await writeLayerFile(`${tmp}/src`, `${tmp}/layer.tar`);
      await withTmpfs(disk, "size=1m", async () => {
        // The pages of the blob are all that is left: its description finds none.
        const pages = Math.ceil(layer.size / 4096);
        await Deno.writeFile(`${disk}/fill`, new Uint8Array(1024 * 1024 - pages * 4096));
        const cache = `${disk}/deps`;
        await assert.rejects(
          new LayerCache(cache).put("a".repeat(64), `${tmp}/layer.tar`, layer),
          /No space left on device/,
        );
        assert.deepEqual(await Array.fromAsync(Deno.readDir(cache), (e) => e.name), []);
      });
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name: "get on a read-only disk without the cache folder is a miss, not an error (as root)",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    const tmp = await Deno.makeTempDir();
    const disk = `${tmp}/disk`;
    try {
      await withTmpfs(disk, "ro,size=1m", async () => {
        // Before, `deps` failed here: `Read-only file system (os error 30): mkdir …/deps`.
        const cache = new LayerCache(`${disk}/deps`);
        assert.equal(await cache.get("a".repeat(64), `${tmp}/out.tar`), undefined);
        await assert.rejects(Deno.lstat(`${tmp}/out.tar`), Deno.errors.NotFound);
      });
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("a scratch get links the entry's file, which keeps its bytes when the output goes", () =>
  withAgedCache(async ({ tmp, cache, layerPath, layer }) => {
    const key = "a".repeat(64);
    await new LayerCache(cache).put(key, layerPath, layer);
    const out = `${tmp}/scratch.tar`;
    assert.deepEqual(await new LayerCache(cache).get(key, out, { scratch: true }), layer);
    const [entry, output] = [Deno.lstatSync(`${cache}/${key}.layer`), Deno.lstatSync(out)];
    assert.ok(output.isFile);
    assert.equal(output.ino, entry.ino, "one file under two names");
    assert.deepEqual(await Deno.readFile(out), await Deno.readFile(layerPath));
    await Deno.remove(out);
    // A later get, either way, finds the entry whole.
    assert.deepEqual(await new LayerCache(cache).get(key, `${tmp}/copy.tar`), layer);
    assert.notEqual(Deno.lstatSync(`${tmp}/copy.tar`).ino, entry.ino, "without scratch, a copy");
    assert.deepEqual(await Deno.readFile(`${tmp}/copy.tar`), await Deno.readFile(layerPath));
  }));

Deno.test("a scratch get of a damaged entry is a miss that leaves neither the output nor the entry", () =>
  withAgedCache(async ({ tmp, cache, layerPath, layer }) => {
    const key = "a".repeat(64);
    await new LayerCache(cache).put(key, layerPath, layer);
    // Damaged in place: the same size, one byte changed.
    const blob = await Deno.readFile(`${cache}/${key}.layer`);
    blob[blob.length - 1] ^= 1;
    await Deno.writeFile(`${cache}/${key}.layer`, blob);
    const out = `${tmp}/scratch.tar`;
    assert.equal(await new LayerCache(cache).get(key, out, { scratch: true }), undefined);
    await assert.rejects(Deno.lstat(out), Deno.errors.NotFound);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(cache), (e) => e.name), []);
  }));

Deno.test({
  name: "a scratch get onto another file system copies the layer (as root)",
  ignore: Deno.uid() !== 0,
  fn: () =>
    withAgedCache(async ({ tmp, cache, layerPath, layer }) => {
      const key = "a".repeat(64);
      await new LayerCache(cache).put(key, layerPath, layer);
      await withTmpfs(`${tmp}/disk`, "size=1m", async () => {
        const out = `${tmp}/disk/scratch.tar`;
        assert.deepEqual(await new LayerCache(cache).get(key, out, { scratch: true }), layer);
        assert.equal(Deno.lstatSync(out).nlink, 1, "a copy of its own");
        assert.deepEqual(await Deno.readFile(out), await Deno.readFile(layerPath));
      });
    }),
});

Deno.test("a scratch put links the work file where no entry is, and copies over one that is", () =>
  withAgedCache(async ({ tmp, cache, layerPath, layer }) => {
    const [key, other] = ["a".repeat(64), "b".repeat(64)];
    await Deno.copyFile(layerPath, `${tmp}/work.tar`);
    await new LayerCache(cache).put(key, `${tmp}/work.tar`, layer, { scratch: true });
    const work = Deno.lstatSync(`${tmp}/work.tar`);
    assert.equal(Deno.lstatSync(`${cache}/${key}.layer`).ino, work.ino, "one file, two names");
    await Deno.remove(`${tmp}/work.tar`);
    assert.deepEqual(await new LayerCache(cache).get(key, `${tmp}/out.tar`), layer);
    assert.deepEqual(await Deno.readFile(`${tmp}/out.tar`), await Deno.readFile(layerPath));
    // An entry already there (a damaged one, or a link) is replaced by a copy, not written through.
    await Deno.symlink(`${tmp}/elsewhere`, `${cache}/${other}.layer`);
    await new LayerCache(cache).put(other, layerPath, layer, { scratch: true });
    const entry = Deno.lstatSync(`${cache}/${other}.layer`);
    assert.ok(entry.isFile && entry.ino !== Deno.lstatSync(layerPath).ino, "a copy of its own");
    await assert.rejects(Deno.lstat(`${tmp}/elsewhere`), Deno.errors.NotFound);
    assert.deepEqual(await new LayerCache(cache).get(other, `${tmp}/other.tar`), layer);
  }));

Deno.test("under a umask of 0, entries are stored as no other user may write them, and read back", () =>
  withAgedCache(async ({ tmp, cache, layerPath, layer }) => {
    const umask = Deno.umask(0);
    try {
      const [copied, linked] = ["a".repeat(64), "b".repeat(64)];
      await new LayerCache(cache).put(copied, layerPath, layer);
      await Deno.copyFile(layerPath, `${tmp}/work.tar`);
      await Deno.chmod(`${tmp}/work.tar`, 0o666);
      await new LayerCache(cache).put(linked, `${tmp}/work.tar`, layer, { scratch: true });
      for (const key of [copied, linked]) {
        for (const suffix of [".layer", ".json"]) {
          const mode = Deno.lstatSync(`${cache}/${key}${suffix}`).mode! & 0o777;
          assert.equal(mode, 0o644, `${key.slice(0, 1)}${suffix}: ${mode.toString(8)}`);
        }
        assert.deepEqual(await new LayerCache(cache).get(key, `${tmp}/${key}.tar`), layer);
      }
    } finally {
      Deno.umask(umask);
    }
  }));

Deno.test("a description that is no layer's, or another key's, is a miss that removes the entry", () =>
  withAgedCache(async ({ tmp, cache, layerPath, layer }) => {
    const key = "a".repeat(64);
    const other = "b".repeat(64);
    const descriptions: [string, unknown][] = [
      ["null", null],
      ["an empty object", {}],
      ["a size alone", { size: layer.size }],
      ["a string", "x"],
      ["no diffId nor media type", { key, digest: layer.digest, size: layer.size }],
      ["a negative size", { key, ...layer, size: -1 }],
      ["a digest of another algorithm", { key, ...layer, digest: `sha512:${"0".repeat(128)}` }],
      ["another key's", { ...layer, key: other }],
      ["the layer without its key (before keys were kept)", layer],
    ];
    for (const [what, description] of descriptions) {
      for (const scratch of [false, true]) {
        await new LayerCache(cache).put(key, layerPath, layer);
        await Deno.writeTextFile(`${cache}/${key}.json`, JSON.stringify(description));
        const out = `${tmp}/out.tar`;
        const got = await new LayerCache(cache).get(key, out, { scratch });
        assert.equal(got, undefined, `${what}, scratch ${scratch}`);
        await assert.rejects(Deno.lstat(out), Deno.errors.NotFound);
        assert.deepEqual(await Array.fromAsync(Deno.readDir(cache), (e) => e.name), [], what);
      }
    }
  }));

Deno.test("an entry renamed to another key, or that its group may rewrite, is a miss", () =>
  withAgedCache(async ({ tmp, cache, layerPath, layer }) => {
    const [key, other] = ["a".repeat(64), "b".repeat(64)];
    // Whoever may write the folder (its group) renames one key's entry to another's: both
    // files stay this user's, and the bytes match the digest they give.
    await new LayerCache(cache).put(key, layerPath, layer);
    for (const suffix of [".layer", ".json"]) {
      await Deno.rename(`${cache}/${key}${suffix}`, `${cache}/${other}${suffix}`);
    }
    assert.equal(await new LayerCache(cache).get(other, `${tmp}/renamed.tar`), undefined);
    // An entry that the group may write could be rewritten in place.
    await new LayerCache(cache).put(key, layerPath, layer);
    await Deno.chmod(`${cache}/${key}.json`, 0o664);
    assert.equal(await new LayerCache(cache).get(key, `${tmp}/writable.tar`), undefined);
    await Deno.chmod(`${cache}/${key}.json`, 0o644);
    assert.deepEqual(await new LayerCache(cache).get(key, `${tmp}/whole.tar`), layer);
  }));
