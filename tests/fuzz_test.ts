/**
 * The fixed-seed fuzzing run for CI (the generators are in tests/helpers/fuzz.ts; `deno task
 * fuzz` runs longer): every parser of untrusted input gives a valid result or its typed error,
 * within a time bound, and, in a process with a small heap, without allocating without bound.
 */
import assert from "node:assert/strict";
import { RUN_FLAGS } from "../scripts/permissions.ts";
import { fuzz, FUZZ_TARGETS } from "./helpers/fuzz.ts";

const SEED = 0x5eed;
const ITERATIONS = 10_000;

for (const target of FUZZ_TARGETS) {
  Deno.test(`fuzz ${target.name}: valid results or typed errors, seed ${SEED}`, async () => {
    const report = await fuzz(target, { seed: SEED, iterations: ITERATIONS, timeoutMs: 1000 });
    // Both outcomes must be common, or the generator tests too little.
    for (const outcome of ["results", "errors"] as const) {
      assert.ok(report[outcome] > ITERATIONS / 30, `${report[outcome]} ${outcome}: ${report}`);
    }
  });
}

Deno.test("fuzz: the long run's script, in a 64 MiB heap, replays a seed", async () => {
  const script = new URL("../scripts/fuzz.ts", import.meta.url).pathname;
  const run = async () => {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        ...["run", ...RUN_FLAGS, "--v8-flags=--max-old-space-size=64", script],
        ...["--seed", "7", "--iterations", "1500"],
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const deadline = setTimeout(() => child.kill("SIGKILL"), 40_000);
    const output = await child.output();
    clearTimeout(deadline);
    const text = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, `${text}${new TextDecoder().decode(output.stderr)}`);
    // Timings aside, the same seed gives the same counts.
    return text.replace(/, slowest .*/g, "");
  };
  const first = await run();
  assert.match(first, /^fuzzing with --seed 7, 1500 inputs per parser\n/);
  for (const target of FUZZ_TARGETS) {
    assert.match(first, new RegExp(`^${target.name}: \\d+ results`, "m"));
  }
  assert.equal(await run(), first);

  const bad = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...RUN_FLAGS, script, "--seed", "x"],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(bad.code, 1);
  assert.match(new TextDecoder().decode(bad.stderr), /--seed takes a number/);
});
