/**
 * Runs the ocisync CLI as a subprocess, through `deno run` with exactly the
 * permissions the compiled binary gets (`scripts/permissions.ts`), so a
 * missing permission fails a test.
 *
 * @module
 */
import assert from "node:assert/strict";
import { RUN_FLAGS } from "../../scripts/permissions.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** What a finished process printed and returned. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@linkcode ocisync} and {@linkcode run}. */
export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  stdin?: string;
}

/**
 * Runs `ocisync ARGS…` and waits for it.
 *
 * @example
 * ```ts
 * import { ocisync } from "./cli.ts";
 * const { code, stdout } = await ocisync(["version", "--json"]);
 * ```
 */
export async function ocisync(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run(Deno.execPath(), ["run", ...RUN_FLAGS, MAIN, ...args], await withDenoDir(options));
}

/** The path of Deno's own cache folder, as this process uses it (`deno info`), asked once. */
let denoDirFound: Promise<string> | undefined;

/**
 * The folder where Deno keeps its own cache for this process: compiled modules and npm packages.
 * A child that is given `XDG_CACHE_HOME` (for ocisync's caches) would otherwise keep Deno's
 * under that folder too, and so compile every module again and fetch its npm packages from the
 * network, which a compiled binary, carrying its modules, never does; pass it as `DENO_DIR`.
 *
 * @example
 * ```ts
 * import { denoDir } from "./cli.ts";
 * const env = { XDG_CACHE_HOME: "/tmp/cache", DENO_DIR: await denoDir() };
 * ```
 */
export function denoDir(): Promise<string> {
  denoDirFound ??= new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
    .output()
    .then((info) => JSON.parse(new TextDecoder().decode(info.stdout)).denoDir);
  return denoDirFound;
}

/**
 * `options`, whose child keeps Deno's cache where this process keeps it (see `denoDir`) when
 * they move the folders that Deno would find it under; Deno is asked only then.
 */
async function withDenoDir(options: RunOptions): Promise<RunOptions> {
  const env = options.env ?? {};
  const moved = "XDG_CACHE_HOME" in env || "HOME" in env;
  if (!moved || "DENO_DIR" in env) return options;
  return { ...options, env: { DENO_DIR: await denoDir(), ...env } };
}

/**
 * Runs the CLI as {@linkcode ocisync} does, and returns its stdout once it has exited 0.
 *
 * @throws {Error} showing the run (exit code, stdout, stderr) for any other exit code.
 * @example
 * ```ts
 * import { ocisyncOk } from "./cli.ts";
 * const version = await ocisyncOk(["version"]);
 * ```
 */
export async function ocisyncOk(args: string[], options: RunOptions = {}): Promise<string> {
  const result = await ocisync(args, options);
  if (result.code !== 0) throw new Error(`ocisync ${args.join(" ")}: ${shown(result)}`);
  return result.stdout;
}

/**
 * `result`, once it is known to have exited with `expected`.
 *
 * @throws {AssertionError} showing the run (exit code, stdout, stderr) for another code.
 * @example
 * ```ts
 * import { expectExit, ocisync } from "./cli.ts";
 * const { stdout } = expectExit(await ocisync(["version"]), 0);
 * ```
 */
export function expectExit(result: RunResult, expected: number): RunResult {
  assert.equal(result.code, expected, shown(result));
  return result;
}

/**
 * Runs `ocisync ARGS…` as {@linkcode ocisync} does, and returns, with what it printed, its peak
 * resident memory (the kernel's `ru_maxrss`, read by a Python parent once it has exited): a
 * measure that does not depend on timing or on sampling.
 *
 * @example
 * ```ts
 * import { ocisyncPeakMemory } from "./cli.ts";
 * const { code, peakBytes } = await ocisyncPeakMemory(["version"]);
 * ```
 */
export async function ocisyncPeakMemory(
  args: string[],
  options: RunOptions = {},
): Promise<RunResult & { peakBytes: number }> {
  const script = `
import resource, subprocess, sys
code = subprocess.run(sys.argv[2:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=open(sys.argv[1], "w"))
sys.exit(code)
`;
  const report = await Deno.makeTempFile({ prefix: "ocisync-peak-" });
  try {
    const result = await run(
      "python3",
      ["-c", script, report, Deno.execPath(), "run", ...RUN_FLAGS, MAIN, ...args],
      await withDenoDir(options),
    );
    // Linux counts ru_maxrss in KiB.
    return { ...result, peakBytes: Number(await Deno.readTextFile(report)) * 1024 };
  } finally {
    await Deno.remove(report);
  }
}

/**
 * Runs any program and captures its output. Standard input is empty unless
 * `options.stdin` is given.
 *
 * @example
 * ```ts
 * import { run } from "./cli.ts";
 * const { stdout } = await run("tar", ["--version"]);
 * ```
 */
export async function run(
  program: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  // A tester's own NO_COLOR turns off the live progress that the terminal tests look for: a
  // child sees NO_COLOR only when a test sets it.
  const { NO_COLOR: _tester, ...inherited } = Deno.env.toObject();
  const child = new Deno.Command(program, {
    args,
    cwd: options.cwd,
    clearEnv: true,
    env: { ...inherited, ...options.env },
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/**
 * Runs a program and fails with its stderr when it exits non-zero.
 *
 * @example
 * ```ts
 * import { runOk } from "./cli.ts";
 * const listing = await runOk("tar", ["-tf", "layer.tar"]);
 * ```
 */
export async function runOk(
  program: string,
  args: string[],
  options: RunOptions = {},
): Promise<string> {
  const result = await run(program, args, options);
  if (result.code !== 0) {
    throw new Error(`${program} ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
  }
  return result.stdout;
}

/**
 * A finished run as an assertion message: its exit code, stdout and stderr.
 *
 * @example
 * ```ts
 * import { ocisync, shown } from "./cli.ts";
 * const result = await ocisync(["version"]);
 * if (result.code !== 0) throw new Error(shown(result));
 * ```
 */
export function shown(result: RunResult): string {
  return `exit ${result.code}\n${result.stdout}\n${result.stderr}`;
}

/**
 * `text` without the cursor moves, line clears and colours (`ESC [ N A`, `ESC [ 2 K`,
 * `ESC [ 38;5;245 m`) of a terminal display, as a screen shows the lines it drew.
 *
 * @example
 * ```ts
 * import { stripEscapes } from "./cli.ts";
 * stripEscapes("\u001b[2Kdone"); // "done"
 * ```
 */
export function stripEscapes(text: string): string {
  const [first, ...rest] = text.split("\u001b");
  return first + rest.map((part) => part.replace(/^\[[0-9;]*[A-Km]/, "")).join("");
}
