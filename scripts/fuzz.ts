/**
 * A long fuzzing run of the parsers that read untrusted input (see `tests/helpers/fuzz.ts`):
 * references, tar, manifests and indexes, `WWW-Authenticate`. CI runs a short fixed-seed run in
 * `tests/fuzz_test.ts`; this runs as long as asked, with a new seed unless one is given, and
 * prints the seed so that a failure can be replayed.
 *
 * ```sh
 * deno run -A scripts/fuzz.ts --iterations 200000
 * deno run -A scripts/fuzz.ts --seed 1234 --iterations 5000 --target tar
 * ```
 *
 * Exits 1 with the seed, the iteration and the input when a parser throws an untyped error,
 * gives an invalid result or takes longer than `--timeout` milliseconds on one input.
 *
 * @module
 */
import { fuzz, FUZZ_TARGETS } from "../tests/helpers/fuzz.ts";

const USAGE = "usage: deno run -A scripts/fuzz.ts [--seed N] [--iterations N] " +
  `[--target ${FUZZ_TARGETS.map((t) => t.name).join("|")}] [--timeout MS]`;

/** `--name value` pairs, each a whole number but `target`. */
function parseFlags(args: string[]): Record<string, string> {
  const flags: Record<string, string> = {};
  for (let i = 0; i < args.length; i += 2) {
    const name = /^--(seed|iterations|target|timeout)$/.exec(args[i])?.[1];
    const value = args[i + 1];
    if (name === undefined || value === undefined) throw new Error(USAGE);
    if (name !== "target" && !/^\d+$/.test(value)) throw new Error(`--${name} takes a number`);
    flags[name] = value;
  }
  return flags;
}

if (import.meta.main) {
  try {
    const flags = parseFlags(Deno.args);
    const seed = Number(flags.seed ?? Math.floor(Math.random() * 2 ** 31));
    const iterations = Number(flags.iterations ?? 10_000);
    const targets = FUZZ_TARGETS.filter((t) =>
      flags.target === undefined || t.name === flags.target
    );
    if (targets.length === 0) throw new Error(USAGE);
    console.log(`fuzzing with --seed ${seed}, ${iterations} inputs per parser`);
    for (const target of targets) {
      const started = performance.now();
      const report = await fuzz(target, {
        seed,
        iterations,
        timeoutMs: flags.timeout === undefined ? undefined : Number(flags.timeout),
      });
      console.log(
        `${report.target}: ${report.results} results, ${report.errors} typed errors, ` +
          `slowest ${report.slowestMs.toFixed(1)} ms, ` +
          `${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
    }
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(1);
  }
}
