/**
 * `sync --events` writes to a stream it does not control: a disk that fills up under the file
 * stdout goes to, and a consumer that stops reading a pipe. A failed write fails one tick, never
 * the ticks after it, and never joins the next batch to a line it cut short; a write that blocks
 * does not keep a stop signal from ending the sync.
 */
import assert from "node:assert/strict";
import { RUN_FLAGS } from "../scripts/permissions.ts";
import { ocisyncOk, runOk } from "./helpers/cli.ts";
import { withTempDir, writeTree } from "./helpers/tree.ts";
import { until } from "./helpers/wait.ts";
import { parseReference } from "../src/ref/mod.ts";
import { eventsOutput, type EventsSink, syncLoop, type SyncTick } from "../src/sync/mod.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** Pushes one file of `size` bytes of `x` as `oci:DIR/layout:v1`, and returns that reference. */
async function artifact(dir: string, size: number): Promise<string> {
  await writeTree(`${dir}/src`, { "big.txt": { type: "file", content: "x".repeat(size) } });
  await ocisyncOk(["push", `oci:${dir}/layout:v1`, "--files", `${dir}/src/big.txt`]);
  return `oci:${dir}/layout:v1`;
}

/** The command line of `ocisync sync ARGS…`, quoted for `sh`. */
function syncCommand(args: string[]): string {
  return [Deno.execPath(), "run", ...RUN_FLAGS, MAIN, "sync", ...args]
    .map((word) => `'${word}'`).join(" ");
}

Deno.test("library: a write that fails part-way fails its tick; the next batch starts on a line of its own", async () => {
  await withTempDir("ocisync-events-", async (tmp) => {
    const reference = await artifact(tmp, 10_000);
    const written: number[] = [];
    let calls = 0;
    // As a full disk does: 4 KiB of the first write go out, then the next write fails.
    const sink: EventsSink = {
      write: (bytes) => {
        calls++;
        if (calls === 2) return Promise.reject(new Error("No space left on device (os error 28)"));
        const count = calls === 1 ? 4096 : bytes.length;
        written.push(...bytes.subarray(0, count));
        return Promise.resolve(count);
      },
    };
    const ticks = syncLoop({
      reference: parseReference(reference),
      outputs: [eventsOutput(sink)],
      interval: 10,
      maxFailures: 5,
    });
    const seen: SyncTick[] = [];
    for await (const tick of ticks) {
      seen.push(tick);
      if (tick.status === "changed") break;
    }
    assert.deepEqual(seen.map((t) => t.status), ["failed", "changed"]);
    const lines = new TextDecoder().decode(new Uint8Array(written)).split("\n");
    assert.equal(lines[0], "", "the process's first batch starts with a line break");
    assert.equal(lines[1].length, 4095, "the line cut short ends where the next batch begins");
    const batch = lines.slice(2, -1).map((line) => JSON.parse(line).action);
    assert.deepEqual(batch, ["put", "synced"]);
    assert.equal(lines.at(-1), "");
  });
});

Deno.test("library: a batch written for a change not recorded still has its paths deleted by the next", async () => {
  await withTempDir("ocisync-events-", async (tmp) => {
    const push = async (files: Record<string, string>) => {
      await Deno.remove(`${tmp}/src`, { recursive: true }).catch(() => {});
      await writeTree(
        `${tmp}/src`,
        Object.fromEntries(
          Object.entries(files).map(([name, content]) => [name, {
            type: "file" as const,
            content,
          }]),
        ),
      );
      await ocisyncOk(
        ["push", `oci:${tmp}/layout:prod`, "--files", ...Object.keys(files)],
        { cwd: `${tmp}/src` },
      );
    };
    const lines: { action: string; path?: string }[] = [];
    const sink: EventsSink = {
      write: (bytes) => {
        const text = new TextDecoder().decode(bytes);
        lines.push(
          ...text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line)),
        );
        return Promise.resolve(bytes.length);
      },
    };
    // A hook after the events that fails once: the change's batch is out, the change unrecorded.
    let failHook = false;
    const hook = {
      id: "hook",
      description: "running the hook",
      apply: () => failHook ? Promise.reject(new Error("the hook exited 1")) : Promise.resolve(),
    };
    await push({ "x.yaml": "x: 1\n" });
    const ticks = syncLoop({
      reference: parseReference(`oci:${tmp}/layout:prod`),
      outputs: [eventsOutput(sink), hook],
      interval: 10,
      maxFailures: 5,
    });
    try {
      assert.equal((await ticks.next()).value?.status, "changed");
      await push({ "x.yaml": "x: 1\n", "y.yaml": "y: 1\n" });
      failHook = true;
      assert.equal((await ticks.next()).value?.status, "failed");
      assert.ok(lines.some((line) => line.action === "put" && line.path === "y.yaml"));
      /** The next tick's batch, a line a word or two each, once `files` are pushed. */
      const nextBatch = async (files: Record<string, string>) => {
        await push(files);
        lines.length = 0;
        assert.equal((await ticks.next()).value?.status, "changed");
        return lines.map((line) => `${line.action} ${line.path ?? ""}`.trim());
      };
      // The tag moves on before the failed change is delivered again.
      failHook = false;
      assert.deepEqual(await nextBatch({ "x.yaml": "x: 2\n" }), [
        "put x.yaml",
        "delete y.yaml",
        "synced",
      ]);
      // That change recorded, the next batch deletes against it alone: y.yaml is not again.
      assert.deepEqual(await nextBatch({ "x.yaml": "x: 2\n", "w.yaml": "w: 1\n" }), [
        "put x.yaml",
        "put w.yaml",
        "synced",
      ]);
    } finally {
      await ticks.return();
    }
  });
});

Deno.test("a new process's first batch is not glued to a line that a killed predecessor cut short", async () => {
  await withTempDir("ocisync-events-", async (tmp) => {
    const reference = await artifact(tmp, 100);
    // What a sync SIGKILLed in the middle of a batch leaves: a put without its end.
    const stream = `${tmp}/events.jsonl`;
    await Deno.writeTextFile(stream, '{"action":"put","path":"big.txt","content":"xxxx');
    const command = syncCommand([reference, "--events", "--once"]);
    await runOk("sh", ["-c", `${command} >> '${stream}'`]);
    // As a consumer reads: it skips empty lines and lines that are not JSON.
    const events = (await Deno.readTextFile(stream)).split("\n").flatMap((line) => {
      try {
        return [JSON.parse(line)];
      } catch {
        return [];
      }
    });
    assert.deepEqual(events.map((e) => [e.action, e.path]), [
      ["put", "big.txt"],
      ["synced", undefined],
    ]);
    assert.equal(events[0].content, "x".repeat(100));
  });
});

Deno.test({
  name:
    "stdout on a disk that fills up: the tick fails, the ticks after it write whole batches once there is room",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    await withTempDir("ocisync-events-", async (tmp) => {
      const reference = await artifact(tmp, 10_000);
      const disk = `${tmp}/small`;
      await Deno.mkdir(disk);
      await runOk("mount", ["-t", "tmpfs", "-o", "size=64k", "none", disk]);
      try {
        // One 4 KiB page left: a part of the 10 KB `put` line fits, not the line.
        await runOk("dd", ["if=/dev/zero", `of=${disk}/filler`, "bs=1k", "count=60"]);
        const command = syncCommand([reference, "--events", "--interval", "200ms"]);
        const child = new Deno.Command("sh", {
          args: ["-c", `exec ${command} > '${disk}/events.jsonl' 2> '${tmp}/stderr'`],
        }).spawn();
        const stderr = () => Deno.readTextFile(`${tmp}/stderr`).catch(() => "");
        try {
          await until(async () => /failed.*No space left/.test(await stderr()), "a failed write");
          await Deno.remove(`${disk}/filler`);
          await until(async () => / changed /.test(await stderr()), "a tick with room again");
        } finally {
          child.kill("SIGTERM");
          await child.status;
        }
        const lines = (await Deno.readTextFile(`${disk}/events.jsonl`)).split("\n");
        assert.equal(lines[0], "", "the process's first batch starts with a line break");
        assert.ok(lines[1].length >= 4095 && !lines[1].endsWith("}"), "the first line was cut");
        assert.deepEqual(lines.slice(2, -1).map((l) => JSON.parse(l).action), ["put", "synced"]);
      } finally {
        await runOk("umount", [disk]);
      }
    });
  },
});

for (const once of [false, true]) {
  Deno.test(`SIGTERM stops ${once ? "--once" : "a sync"} whose events consumer stopped reading`, async () => {
    await withTempDir("ocisync-events-", async (tmp) => {
      // More than a pipe holds (64 KiB): the write blocks until the consumer reads.
      const reference = await artifact(tmp, 200_000);
      const args = [reference, "--events", "--state", `${tmp}/state.json`, "--interval", "1h"];
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", ...RUN_FLAGS, MAIN, "sync", ...args, ...(once ? ["--once"] : [])],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const stderr = new Response(child.stderr).text();
      const reader = child.stdout.getReader();
      try {
        // The batch has begun; no more is read.
        assert.equal((await reader.read()).done, false);
        await new Promise((resolve) => setTimeout(resolve, 500));
        child.kill("SIGTERM");
        const exited = await Promise.race([
          child.status,
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 10_000)),
        ]);
        assert.ok(exited, "still running 10 s after SIGTERM");
        assert.equal(exited.code, once ? 143 : 0, await stderr);
        const state = await Deno.readTextFile(`${tmp}/state.json`).catch(() => "");
        assert.doesNotMatch(state, /sha256:/, "the change is not recorded");
      } finally {
        try {
          child.kill("SIGKILL");
        } catch { /* it has exited */ }
        await child.status;
        await reader.cancel();
        await stderr;
      }
    });
  });
}
