import assert from "node:assert/strict";
import { LayerCache } from "./cache.ts";
import { writeLayerFile } from "../layer/mod.ts";
import { UsageError } from "../errors/mod.ts";

const DAY_MS = 24 * 3_600_000;

Deno.test("put removes the temporary files that killed writers left a day ago, and no other", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${tmp}/src`);
    await Deno.writeTextFile(`${tmp}/src/a.py`, "A = 1\n");
    const layer = await writeLayerFile(`${tmp}/src`, `${tmp}/layer.tar`);
    const cache = `${tmp}/cache`;
    await Deno.mkdir(cache, { mode: 0o700 });
    const key = "a".repeat(64);
    const leftover = async (name: string, ageMs: number) => {
      await Deno.writeTextFile(`${cache}/${name}`, "half a layer");
      const then = new Date(Date.now() - ageMs);
      await Deno.utime(`${cache}/${name}`, then, then);
    };
    const old = `.${"b".repeat(64)}.layer.0123abcd.tmp`;
    await leftover(old, DAY_MS + 3_600_000);
    const young = `.${"c".repeat(64)}.layer.4567cdef.tmp`;
    await leftover(young, DAY_MS - 3_600_000);
    const notOurs = ".notes.tmp";
    await leftover(notOurs, 2 * DAY_MS);
    await new LayerCache(cache).put(key, `${tmp}/layer.tar`, layer);
    const names = await Array.fromAsync(Deno.readDir(cache), (e) => e.name);
    assert.deepEqual(names.sort(), [notOurs, young, `${key}.json`, `${key}.layer`].sort());
    assert.deepEqual(await new LayerCache(cache).get(key, `${tmp}/out.tar`), layer);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test({
  name:
    "get takes only entries of this user's own, from a folder no other user can replace (as root)",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    const tmp = await Deno.makeTempDir();
    try {
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
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
