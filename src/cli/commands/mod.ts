/**
 * Every command of the CLI, in the order `ocisync --help` lists them. The dispatcher, the shell
 * completions and the reference in `docs/cli.md` all read this one list.
 *
 * @example
 * ```ts
 * import { COMMANDS } from "./mod.ts";
 * console.log(COMMANDS.map((command) => command.spec.name).join(" "));
 * ```
 * @module
 */
import type { CommandSpec, ParsedArgs } from "../args.ts";
import type { Output } from "../output.ts";
import {
  buildSpec,
  completionsSpec,
  copySpec,
  depsSpec,
  gcSpec,
  inspectSpec,
  loginSpec,
  logoutSpec,
  packSpec,
  pullSpec,
  pushSpec,
  signSpec,
  syncSpec,
  tagsSpec,
  verifySpec,
} from "../specs.ts";
import { version, versionSpec } from "./version.ts";

/**
 * A command: its spec, which drives parsing, `--help` and completions, and what it runs.
 *
 * @example
 * ```ts
 * import type { Command } from "./mod.ts";
 * import { version, versionSpec } from "./version.ts";
 * const command: Command = { spec: versionSpec, run: version };
 * ```
 */
export interface Command {
  /** The options, positionals and help of the command. */
  spec: CommandSpec;
  /**
   * Runs the command with parsed arguments, reporting through `out`. What it returns, if
   * anything, is the exit code of a run that threw nothing (`sync --once` stopped by a signal).
   */
  run(args: ParsedArgs, out: Output): Promise<number | undefined | void>;
}

/**
 * The commands, in the order `ocisync --help` lists them.
 *
 * @example
 * ```ts
 * import { COMMANDS } from "./mod.ts";
 * const pack = COMMANDS.find((command) => command.spec.name === "pack");
 * ```
 */
export const COMMANDS: readonly Command[] = [
  // Each command's code, and what it imports (the YAML parser, the ignore-file matcher, the
  // compression workers, the registry client), loads only when that command runs: the specs come
  // from one light module, so `version`, `--help` and the completions start as fast as the
  // runtime does. The specifiers are literals, so `deno compile` still embeds every module.
  { spec: packSpec, run: async (args, out) => (await import("./pack.ts")).pack(args, out) },
  { spec: pushSpec, run: async (args, out) => (await import("./push.ts")).push(args, out) },
  { spec: pullSpec, run: async (args, out) => (await import("./pull.ts")).pull(args, out) },
  { spec: copySpec, run: async (args, out) => (await import("./copy.ts")).copy(args, out) },
  {
    spec: inspectSpec,
    run: async (args, out) => (await import("./inspect.ts")).inspect(args, out),
  },
  { spec: tagsSpec, run: async (args, out) => (await import("./inspect.ts")).tags(args, out) },
  { spec: gcSpec, run: async (args, out) => (await import("./gc.ts")).gc(args, out) },
  { spec: loginSpec, run: async (args, out) => (await import("./login.ts")).login(args, out) },
  { spec: logoutSpec, run: async (args, out) => (await import("./login.ts")).logout(args, out) },
  { spec: syncSpec, run: async (args, out) => (await import("./sync.ts")).sync(args, out) },
  { spec: signSpec, run: async (args, out) => (await import("./sign.ts")).sign(args, out) },
  {
    spec: verifySpec,
    run: async (args, out) => (await import("./verify.ts")).verify(args, out),
  },
  { spec: versionSpec, run: version },
  { spec: depsSpec, run: async (args, out) => (await import("./deps.ts")).deps(args, out) },
  { spec: buildSpec, run: async (args, out) => (await import("./build.ts")).build(args, out) },
  // The completions describe this very list; passing it in keeps completions.ts free of a cycle.
  {
    spec: completionsSpec,
    run: async (args, out) =>
      (await import("./completions.ts")).completions(
        args,
        out,
        COMMANDS.map((command) => command.spec),
      ),
  },
];
