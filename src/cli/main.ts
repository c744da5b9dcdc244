/**
 * The command dispatcher: finds the command, parses its options, runs it, and
 * turns any error into one message, with a hint where one helps, and its
 * documented exit code. An OS error's message names its path and operation.
 *
 * @module
 */
import { formatHelp, parseArgs, type ParsedArgs } from "./args.ts";
import { closest } from "../units/closest.ts";
import { outputMode } from "./options.ts";
import { explainError, Output } from "./output.ts";
import { COMMANDS } from "./commands/mod.ts";
import { UsageError } from "../errors/mod.ts";
import { ExitCode, exitCodeOf } from "./exit.ts";

function usage(): string {
  const rows = COMMANDS.map((c) => [c.spec.name, c.spec.summary]);
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
    const suggestion = closest(name, COMMANDS.map((c) => c.spec.name));
    new Output({}).error(
      new UsageError(`unknown command "${name}"`, {
        hint: suggestion ? `did you mean \`ocisync ${suggestion}\`?` : "see `ocisync --help`",
      }),
    );
    return ExitCode.Usage;
  }
  let out = new Output({});
  let parsed: ParsedArgs | undefined;
  try {
    parsed = parseArgs(command.spec, rest);
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
    // Errors of Deno's file calls reach here unwrapped from deep in the library: reword them
    // so that each message names the path and the operation.
    // The hints load the registry client and the credential store: only on the way out of an
    // error, so that a command that succeeds never pays for them.
    const reported = explainError(
      parsed ? await (await import("./hints.ts")).withHint(error, parsed) : error,
    );
    out.error(reported);
    return exitCodeOf(reported);
  }
}
