import assert from "node:assert/strict";
import { removeStateLeftovers, stateFile, SyncState } from "./state.ts";
import { withTempDir } from "../../tests/helpers/tree.ts";
import { within } from "../../tests/helpers/wait.ts";

Deno.test("removeStateLeftovers: a killed writer's temporary file goes; a user's file named alike stays", async () => {
  await withTempDir("ocisync-state-", async (dir) => {
    const names = [".state.json.keep.tmp", ".state.json.0123abcd.tmp", "state.json"];
    for (const name of names) await Deno.writeTextFile(`${dir}/${name}`, name);
    await removeStateLeftovers(`${dir}/state.json`);
    const left = [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
    assert.deepEqual(left, [".state.json.keep.tmp", "state.json"]);
  });
});

Deno.test("SyncState.open: a fifo at the state's path is refused at once; a file too large to be a state is set aside", async () => {
  await withTempDir("ocisync-state-", async (dir) => {
    const fifo = `${dir}/fifo.json`;
    const mkfifo = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(mkfifo.success);
    await assert.rejects(
      within(10_000, SyncState.open(fifo, { setAside: () => {} })),
      /cannot read the state file .*fifo\.json: it is a fifo, not a regular file/,
    );
    // 16 MiB and a byte of spaces: read to its bound, not whole, and set aside.
    const large = `${dir}/large.json`;
    await Deno.writeFile(large, new Uint8Array(16 * 1024 * 1024 + 1).fill(0x20));
    await assert.rejects(SyncState.open(large), /holds more than 16777216 bytes/);
    const told: string[] = [];
    const state = await SyncState.open(large, { setAside: (message) => told.push(message) });
    assert.equal(state.get("localhost:5000/app:v1"), undefined);
    assert.match(told[0], /holds more than 16777216 bytes: kept as .*large\.json\.invalid-/);
    await assert.rejects(Deno.lstat(large), Deno.errors.NotFound);
  });
});

Deno.test("stateFile: one file by every name; SyncState sets aside and writes the file, not a link to it", async () => {
  await withTempDir("ocisync-state-", async (dir) => {
    const real = await Deno.realPath(dir);
    await Deno.mkdir(`${dir}/persist`);
    // A link to a file not there yet names where the state is written.
    await Deno.symlink("persist/state.json", `${dir}/link.json`);
    await Deno.symlink("link.json", `${dir}/chain.json`);
    for (
      const name of [
        "link.json",
        "chain.json",
        "persist/state.json",
        "persist/../persist/state.json",
      ]
    ) {
      assert.equal(await stateFile(`${dir}/${name}`), `${real}/persist/state.json`, name);
    }
    // An invalid state by its link: the file is set aside, the link stays, and leads to the next.
    await Deno.writeTextFile(`${dir}/persist/state.json`, "garbage");
    const told: string[] = [];
    const state = await SyncState.open(`${dir}/link.json`, { setAside: (m) => told.push(m) });
    assert.equal(state.path, `${real}/persist/state.json`);
    assert.ok((await Deno.lstat(`${dir}/link.json`)).isSymlink, "the link is kept");
    const names = [...Deno.readDirSync(`${dir}/persist`)].map((entry) => entry.name);
    assert.equal(names.length, 1);
    assert.match(names[0], /^state\.json\.invalid-/);
    assert.match(told[0], /kept as .*\/persist\/state\.json\.invalid-/);
    await state.set("localhost:5000/app:v1", {
      digest: `sha256:${"a".repeat(64)}`,
      paths: [],
      outputs: "events:utf-8",
      syncedAt: new Date().toISOString(),
    });
    assert.ok((await Deno.lstat(`${dir}/link.json`)).isSymlink, "still a link");
    const reread = await SyncState.open(`${dir}/chain.json`);
    assert.ok(reread.get("localhost:5000/app:v1"));
  });
});
