import assert from "node:assert/strict";
import { LayerCache } from "./cache.ts";
import { writeLayerFile } from "../layer/mod.ts";

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
