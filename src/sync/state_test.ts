import assert from "node:assert/strict";
import { removeStateLeftovers } from "./state.ts";
import { withTempDir } from "../../tests/helpers/tree.ts";

Deno.test("removeStateLeftovers: a killed writer's temporary file goes; a user's file named alike stays", async () => {
  await withTempDir("ocisync-state-", async (dir) => {
    const names = [".state.json.keep.tmp", ".state.json.0123abcd.tmp", "state.json"];
    for (const name of names) await Deno.writeTextFile(`${dir}/${name}`, name);
    await removeStateLeftovers(`${dir}/state.json`);
    const left = [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
    assert.deepEqual(left, [".state.json.keep.tmp", "state.json"]);
  });
});
