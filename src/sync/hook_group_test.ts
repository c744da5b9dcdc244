/**
 * The record of a hook's process group, and its end at the next start: real processes, real
 * files, and records forged here from what `/proc` says.
 */
import assert from "node:assert/strict";
import { endLeftHooks, recordHookGroup } from "./hook_group.ts";
import { execOutput, type SyncChange } from "./outputs.ts";
import { groupMembers, startTime } from "../../tests/helpers/processes.ts";
import { withTempDir } from "../../tests/helpers/tree.ts";

/** Where a sync holding `state.json.lock` in `dir` keeps its hooks' records. */
const lockIn = (dir: string) => `${dir}/state.json.lock`;
const recordName = (n: number) => `state.json.hook-${n.toString(16).padStart(16, "0")}`;

const BOOT = (await Deno.readTextFile("/proc/sys/kernel/random/boot_id").catch(() => "")).trim();

/** A process spawned here, killed with its group at the end of the test if still running. */
function spawn(command: string, args: string[], detached: boolean): Deno.ChildProcess {
  return new Deno.Command(command, { args, detached, stdin: "null", stdout: "null" }).spawn();
}

async function ended(child: Deno.ChildProcess): Promise<Deno.CommandStatus> {
  try {
    child.kill("SIGKILL");
  } catch { /* it has ended */ }
  return await child.status;
}

/** Whether `child` still runs 100 ms from now. */
async function stillRuns(child: Deno.ChildProcess): Promise<boolean> {
  const timer = new Promise<boolean>((done) => setTimeout(() => done(true), 100));
  return await Promise.race([child.status.then(() => false), timer]);
}

const linux = BOOT !== "";

Deno.test({
  name: "a hook group left running is ended, children too, TERM then KILL; its record goes",
  ignore: !linux,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ocisync-hook-group-" });
    // A hook that ends on SIGTERM, with a child of its own; one that ignores it.
    const polite = spawn("sh", ["-c", "sleep 30 & sleep 30; wait"], true);
    const stubborn = spawn("sh", ["-c", "trap '' TERM; sleep 30"], true);
    try {
      // Its processes are all started once the group has two (the shell and a sleep).
      while ((await groupMembers(polite.pid)).length < 3) {
        await new Promise((done) => setTimeout(done, 10));
      }
      const records = [
        await recordHookGroup(lockIn(dir), polite.pid),
        await recordHookGroup(lockIn(dir), stubborn.pid),
      ];
      for (const record of records) {
        assert.ok(record !== undefined, "recorded");
        assert.match(record.path, /\/state\.json\.hook-[0-9a-f]{16}$/);
        assert.equal((await Deno.lstat(record.path)).mode! & 0o777, 0o600);
      }
      const lines: string[] = [];
      const startedAt = Date.now();
      await endLeftHooks(lockIn(dir), { log: (line) => lines.push(line), killAfter: 500 });
      const took = Date.now() - startedAt;

      assert.equal((await polite.status).signal, "SIGTERM");
      assert.equal((await stubborn.status).signal, "SIGKILL", "SIGKILL after killAfter");
      assert.ok(took >= 500 && took < 5_000, `${took} ms`);
      assert.deepEqual(await groupMembers(polite.pid), [], "the hook's children are gone too");
      assert.deepEqual(await groupMembers(stubborn.pid), []);
      assert.equal(lines.length, 2);
      for (const [i, pid] of [polite.pid, stubborn.pid].entries()) {
        assert.ok(
          lines.includes(
            `ended hook process group ${pid}, left running by an earlier sync that was killed ` +
              `while the hook ran (recorded in ${records[i]!.path})`,
          ),
          lines.join("\n"),
        );
      }
      assert.deepEqual([...Deno.readDirSync(dir)], [], "the records are removed");
    } finally {
      await ended(polite);
      await ended(stubborn);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "records that name no hook of this user's, or that are not records, end no process",
  ignore: !linux || Deno.uid() !== 0,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ocisync-hook-group-" });
    // A group leader of this user's, one that leads no group, and one of another user's.
    const victim = spawn("sleep", ["30"], true);
    const member = spawn("sleep", ["30"], false);
    const foreign = spawn(
      "setpriv",
      ["--reuid=65534", "--regid=65534", "--clear-groups", "sleep", "30"],
      true,
    );
    try {
      // setpriv has become sleep, as nobody, once its start has settled.
      while (!(await Deno.readTextFile(`/proc/${foreign.pid}/status`)).match(/^Uid:\s+65534/m)) {
        await new Promise((done) => setTimeout(done, 10));
      }
      const record = async (pid: number, fields: object = {}) =>
        JSON.stringify({ pid, start: await startTime(pid), boot: BOOT, ...fields });
      const removed: Record<string, string> = {
        garbage: "not a record\n",
        "a pid used again since": await record(victim.pid, {
          start: String(Number(await startTime(victim.pid)) + 1),
        }),
        "another boot": await record(victim.pid, {
          boot: "00000000-0000-4000-8000-000000000000",
        }),
        "pid 0, this process's own group": JSON.stringify({ pid: 0, start: "1", boot: BOOT }),
        "a pid as a string": JSON.stringify({
          pid: String(victim.pid),
          start: await startTime(victim.pid),
          boot: BOOT,
        }),
        "a process that leads no group": await record(member.pid),
        "another user's process": await record(foreign.pid),
        "a process that has ended": JSON.stringify({ pid: 2 ** 22 + 7, start: "5", boot: BOOT }),
      };
      const names = Object.keys(removed);
      for (const [i, name] of names.entries()) {
        await Deno.writeTextFile(`${dir}/${recordName(i)}`, removed[name]);
      }
      // A write of a record cut short by a kill: its temporary file.
      const leftover = `.${recordName(99)}.1a2b3c4d.tmp`;
      await Deno.writeTextFile(`${dir}/${leftover}`, "{");
      // Named like records, but a link (to a true record), another user's file, and a folder.
      const elsewhere = `${dir}/elsewhere.json`;
      await Deno.writeTextFile(elsewhere, await record(victim.pid));
      const kept = [recordName(100), recordName(101), recordName(102), "elsewhere.json"];
      await Deno.symlink(elsewhere, `${dir}/${kept[0]}`);
      await Deno.writeTextFile(`${dir}/${kept[1]}`, await record(victim.pid));
      await Deno.chown(`${dir}/${kept[1]}`, 65534, 65534);
      await Deno.mkdir(`${dir}/${kept[2]}`);

      const lines: string[] = [];
      await endLeftHooks(lockIn(dir), { log: (line) => lines.push(line), killAfter: 200 });

      assert.deepEqual(lines, [], "no group was ended");
      for (const child of [victim, member, foreign]) {
        assert.ok(await stillRuns(child), `pid ${child.pid} runs on`);
      }
      const left = [...Deno.readDirSync(dir)].map((entry) => entry.name).toSorted();
      assert.deepEqual(left, kept.toSorted(), "the forged records are removed; the rest stays");
      assert.equal(await Deno.readTextFile(elsewhere), await record(victim.pid));
    } finally {
      for (const child of [victim, member, foreign]) await ended(child);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "recordHookGroup: nothing is recorded for a process that has ended",
  ignore: !linux,
  async fn() {
    await withTempDir("ocisync-hook-group-", async (dir) => {
      const done = spawn("true", [], true);
      await done.status;
      assert.equal(await recordHookGroup(lockIn(dir), done.pid), undefined);
      assert.deepEqual([...Deno.readDirSync(dir)], []);
      // A folder that is gone: the record cannot be written, and says where.
      const live = spawn("sleep", ["30"], true);
      try {
        await assert.rejects(
          recordHookGroup(`${dir}/gone/state.json.lock`, live.pid),
          /cannot record the hook's process group in .*\/gone\/state\.json\.hook-/,
        );
      } finally {
        await ended(live);
      }
    });
  },
});

Deno.test({
  name: "execOutput: the command runs once its group is recorded, and not at all if it cannot be",
  ignore: !linux,
  async fn() {
    await withTempDir("ocisync-hook-group-", async (dir) => {
      const change = {
        reference: "localhost:5000/app:v1",
        digest: `sha256:${"0".repeat(64)}`,
        signal: new AbortController().signal,
      } as unknown as SyncChange;
      // What the folder holds while the command runs: its record, in place already.
      const seen = `${dir}/seen.txt`;
      const listing = execOutput(`ls -a ${dir} > ${seen}`, { recordBeside: lockIn(dir) });
      await listing.apply(change);
      assert.match(await Deno.readTextFile(seen), /^state\.json\.hook-[0-9a-f]{16}$/m);
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["seen.txt"], "removed");

      const ran = `${dir}/ran`;
      const unrecorded = execOutput(`touch ${ran}`, {
        recordBeside: `${dir}/gone/state.json.lock`,
      });
      await assert.rejects(
        unrecorded.apply(change),
        /^OcisyncError: cannot record the hook's process group in \S+: .+: the hook was not run$/,
      );
      await assert.rejects(Deno.lstat(ran), Deno.errors.NotFound, "the command never ran");
    });
  },
});
