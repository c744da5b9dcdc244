/**
 * The command dispatcher: finds the command, parses its options, runs it, and
 * turns any error into one message and its documented exit code.
 *
 * @module
 */
import { closest, type CommandSpec, formatHelp, parseArgs, type ParsedArgs } from "./args.ts";
import { outputMode } from "./common.ts";
import { Output } from "./output.ts";
import { pack, packSpec } from "./commands/pack.ts";
import { copy, copySpec } from "./commands/copy.ts";
import { gc, gcSpec } from "./commands/gc.ts";
import { inspect, inspectSpec, tags, tagsSpec } from "./commands/inspect.ts";
import { login, loginSpec, logout, logoutSpec } from "./commands/login.ts";
import { pull, pullSpec } from "./commands/pull.ts";
import { push, pushSpec } from "./commands/push.ts";
import { sync, syncSpec } from "./commands/sync.ts";
import { version, versionSpec } from "./commands/version.ts";
import { deps, depsSpec } from "./commands/deps.ts";
import { build, buildSpec } from "./commands/build.ts";
import { ExitCode, exitCodeOf, OcisyncError, UsageError } from "../errors/mod.ts";

interface Command {
  spec: CommandSpec;
  run(args: ParsedArgs, out: Output): Promise<void>;
}

const COMMANDS: Command[] = [
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
];

/** Commands on the roadmap: they say so and fail, rather than pretend. */
const PLANNED: Record<string, string> = {
  completions: "print shell completions",
};

function usage(): string {
  const rows = [
    ...COMMANDS.map((c) => [c.spec.name, c.spec.summary]),
    ...Object.entries(PLANNED).map(([name, summary]) => [name, `${summary} (not built yet)`]),
  ];
  return [
    "ocisync: move code and its dependencies through OCI registries, without Docker",
    "",
    "Usage: ocisync COMMAND [options]",
    "",
    "Commands:",
    ...rows.map(([name, summary]) => `  ${name.padEnd(12)} ${summary}`),
    "",
    "Run `ocisync COMMAND --help` for a command's options and examples.",
  ].join("\n");
}

/**
 * Runs the CLI with `args` and returns the exit code. It never calls
 * `Deno.exit`, so tests can call it in-process.
 *
 * @example
 * ```ts
 * import { main } from "./main.ts";
 * const code = await main(["version"]);
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    new Output({}).result({ human: usage(), json: usage(), quiet: usage() });
    return name === undefined ? ExitCode.Usage : ExitCode.Ok;
  }
  const command = COMMANDS.find((c) => c.spec.name === name) ??
    (name === "--version" ? COMMANDS.find((c) => c.spec.name === "version") : undefined);
  if (!command) {
    const out = new Output({});
    if (name in PLANNED) {
      out.error(
        new OcisyncError(`\`ocisync ${name}\` is not built yet in this version`, {
          hint: "see the README's roadmap",
        }),
      );
      return ExitCode.Other;
    }
    const suggestion = closest(name, [
      ...COMMANDS.map((c) => c.spec.name),
      ...Object.keys(PLANNED),
    ]);
    out.error(
      new UsageError(`unknown command "${name}"`, {
        hint: suggestion ? `did you mean \`ocisync ${suggestion}\`?` : "see `ocisync --help`",
      }),
    );
    return ExitCode.Usage;
  }
  let out = new Output({});
  try {
    const parsed = parseArgs(command.spec, rest);
    out = new Output(outputMode(parsed.options));
    if (parsed.options.help) {
      out.result({
        human: formatHelp(command.spec),
        json: command.spec,
        quiet: command.spec.usage,
      });
      return ExitCode.Ok;
    }
    await command.run(parsed, out);
    return ExitCode.Ok;
  } catch (error) {
    out.error(error);
    return exitCodeOf(error);
  }
}
