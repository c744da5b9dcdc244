import assert from "node:assert/strict";
import { schedule } from "./timer.ts";

const TIMER = new URL("./timer.ts", import.meta.url).href;

Deno.test("schedule: deadlines fire in order, whatever order they were set in", async () => {
  const fired: number[] = [];
  const done = Promise.withResolvers<void>();
  for (const ms of [60, 20, 40, 0]) {
    schedule(ms, () => {
      fired.push(ms);
      if (fired.length === 4) done.resolve();
    });
  }
  await done.promise;
  assert.deepEqual(fired, [0, 20, 40, 60]);
});

Deno.test("schedule: a cancelled deadline never fires, the others still do", async () => {
  let cancelled = false;
  const cancel = schedule(10, () => cancelled = true);
  const later = new Promise<void>((resolve) => schedule(50, resolve));
  cancel();
  await later;
  assert.equal(cancelled, false);
});

Deno.test("schedule: an earlier deadline set after a later one is not held back by it", async () => {
  const start = performance.now();
  const cancel = schedule(5000, () => {});
  await new Promise<void>((resolve) => schedule(20, resolve));
  cancel();
  assert.ok(performance.now() - start < 2000);
});

/**
 * Runs `code`, which may use `schedule`, as a script of a fresh process: its stdout, its stderr
 * and how long it took.
 */
async function inProcess(
  code: string,
  env: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string; ms: number }> {
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(script, `import { schedule } from "${TIMER}";\n${code}\n`);
    const start = performance.now();
    const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", script],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoded = new TextDecoder().decode(stderr);
    assert.ok(success, decoded);
    return {
      stdout: new TextDecoder().decode(stdout),
      stderr: decoded,
      ms: performance.now() - start,
    };
  } finally {
    await Deno.remove(script);
  }
}

Deno.test("schedule: a pending deadline keeps the process alive, a cancelled one does not", async () => {
  // What setTimeout and clearTimeout do, which the transport's timeouts rely on: a timeout of
  // 30 s must neither hold a finished command for 30 s nor let it exit during a backoff.
  const alive = await inProcess(`schedule(300, () => console.log("fired"));`);
  assert.equal(alive.stdout, "fired\n");
  const gone = await inProcess(
    `const cancel = schedule(10_000, () => console.log("fired")); schedule(20, cancel);`,
  );
  assert.equal(gone.stdout, "");
  assert.ok(gone.ms < 5000, `exited after ${gone.ms} ms`);
});

Deno.test("schedule: a deadline set after all were cancelled reuses the timer and still fires", async () => {
  const { stdout } = await inProcess(`
    schedule(10_000, () => {})();
    schedule(10_000, () => {})();
    schedule(50, () => console.log("fired"));
  `);
  assert.equal(stdout, "fired\n");
});

Deno.test("schedule loads no node: module (the reason it exists)", async () => {
  const { stderr } = await inProcess("schedule(1, () => {});", { DENO_LOG: "debug" });
  assert.match(stderr, /for ES module: \S*timer\.ts/, "no module log");
  assert.doesNotMatch(stderr, /for ES module: ext:deno_node\//);
  // The check sees the Node layer when it loads.
  const timeout = await inProcess("setTimeout(() => {}, 1);", { DENO_LOG: "debug" });
  assert.match(timeout.stderr, /for ES module: ext:deno_node\//);
});

Deno.test("schedule: a NaN delay is refused before it joins the shared timers; the others still fire", async () => {
  // It was kept, and made the shared timer's next setting throw for every later caller.
  assert.throws(() => schedule(NaN, () => {}), RangeError);
  await new Promise<void>((resolve) => schedule(5, resolve));
});
