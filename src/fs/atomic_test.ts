import assert from "node:assert/strict";
import { destinationOf, temporaryTarget, writeFileAtomic } from "./atomic.ts";
import { withTempDir } from "../../tests/helpers/tree.ts";

Deno.test("temporaryTarget: only the names writeFileAtomic gives its temporary files", () => {
  assert.equal(temporaryTarget(".app.tar.3c4d5e6f.tmp"), "app.tar");
  assert.equal(temporaryTarget(".state.json.0123abcd.tmp"), "state.json");
  // A user's own files, which whoever tidies leftovers must leave alone.
  for (const name of [".state.json.keep.tmp", ".app.tar.backup.tmp", ".app.tar.3C4D5E6F.tmp"]) {
    assert.equal(temporaryTarget(name), undefined, name);
  }
});

Deno.test("writeFileAtomic: its temporary file is a name temporaryTarget knows", async () => {
  await withTempDir("ocisync-atomic-", async (dir) => {
    const seen: string[] = [];
    const bytes = (function* () {
      // Written while the temporary file is there: list the folder then.
      seen.push(...[...Deno.readDirSync(dir)].map((entry) => entry.name));
      yield new TextEncoder().encode("{}");
    })();
    await writeFileAtomic(`${dir}/state.json`, bytes);
    assert.equal(seen.length, 1);
    assert.equal(temporaryTarget(seen[0]), "state.json");
  });
});

Deno.test({
  name: "writeFileAtomic: a link whose name holds a backslash leads to its own target",
  // On Windows `\` is a separator; elsewhere it is a character of a name.
  ignore: Deno.build.os === "windows",
}, async () => {
  // The link `a\b.txt` is in the folder, and its relative target, `real.txt`, beside it.
  await withTempDir("ocisync-atomic-", async (dir) => {
    await Deno.writeTextFile(`${dir}/real.txt`, "old");
    await Deno.symlink("real.txt", `${dir}/a\\b.txt`);
    assert.equal((await destinationOf(`${dir}/a\\b.txt`)).path, `${dir}/real.txt`);
    await writeFileAtomic(`${dir}/a\\b.txt`, [new TextEncoder().encode("new")]);
    assert.equal(await Deno.readTextFile(`${dir}/real.txt`), "new");
    const names = [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
    assert.deepEqual(names, ["a\\b.txt", "real.txt"]);
  });
});
