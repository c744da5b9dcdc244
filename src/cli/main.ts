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
import { version, versionSpec } from "./commands/version.ts";
import { ExitCode, exitCodeOf, OcisyncError, UsageError } from "../errors/mod.ts";

interface Command {
  spec: CommandSpec;
  run(args: ParsedArgs, out: Output): Promise<void>;
}

const COMMANDS: Command[] = [
  { spec: packSpec, run: pack },
  { spec: versionSpec, run: version },
];

/** Commands on the roadmap: they say so and fail, rather than pretend. */
const PLANNED: Record<string, string> = {
  push: "push layers or files to a registry or an oci: layout",
  pull: "pull an image or artifact into a folder",
  copy: "copy an image between registries and oci: layouts",
  inspect: "show a manifest, index or config",
  tags: "list a repository's tags",
  login: "save registry credentials",
  logout: "remove saved registry credentials",
  gc: "remove unreachable blobs from an oci: layout",
  sync: "keep a host in step with a reference",
  build: "build and push an image from an ocisync.yaml recipe",
  deps: "install Python dependencies into a layer",
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
