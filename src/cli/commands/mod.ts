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
import { build, buildSpec } from "./build.ts";
import { completions, completionsSpec } from "./completions.ts";
import { copy, copySpec } from "./copy.ts";
import { deps, depsSpec } from "./deps.ts";
import { gc, gcSpec } from "./gc.ts";
import { inspect, inspectSpec, tags, tagsSpec } from "./inspect.ts";
import { login, loginSpec, logout, logoutSpec } from "./login.ts";
import { pack, packSpec } from "./pack.ts";
import { pull, pullSpec } from "./pull.ts";
import { push, pushSpec } from "./push.ts";
import { sync, syncSpec } from "./sync.ts";
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
  /** Runs the command with parsed arguments, reporting through `out`. */
  run(args: ParsedArgs, out: Output): Promise<void>;
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
  { spec: packSpec, run: pack },
  { spec: pushSpec, run: push },
  { spec: pullSpec, run: pull },
  { spec: copySpec, run: copy },
  { spec: inspectSpec, run: inspect },
  { spec: tagsSpec, run: tags },
  { spec: gcSpec, run: gc },
  { spec: loginSpec, run: login },
  { spec: logoutSpec, run: logout },
  { spec: syncSpec, run: sync },
  { spec: versionSpec, run: version },
  { spec: depsSpec, run: deps },
  { spec: buildSpec, run: build },
  // The completions describe this very list; passing it in keeps completions.ts free of a cycle.
  {
    spec: completionsSpec,
    run: (args, out) => completions(args, out, COMMANDS.map((command) => command.spec)),
  },
];
