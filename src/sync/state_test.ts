import assert from "node:assert/strict";
import { removeStateLeftovers, SyncState } from "./state.ts";
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

Deno.test("SyncState.open: a fifo at the state's path is refused at once; a file too large to be a state is set aside", async () => {
  await withTempDir("ocisync-state-", async (dir) => {
    const fifo = `${dir}/fifo.json`;
    const mkfifo = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(mkfifo.success);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("still waiting on the fifo")), 10_000);
    });
    try {
      await assert.rejects(
        Promise.race([SyncState.open(fifo, { setAside: () => {} }), late]),
        /cannot read the state file .*fifo\.json: it is a fifo, not a regular file/,
      );
    } finally {
      clearTimeout(timer);
    }
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
