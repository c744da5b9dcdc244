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
import { redactCredentials } from "../ref/mod.ts";
import { ExitCode, exitCodeOf, STOP_SIGNALS } from "./exit.ts";
import { onFirstMark, removeInterrupted, stopWhenSafe } from "../fs/interrupted.ts";

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
  // `ocisync help pack` is `ocisync pack --help`, as git and docker read it.
  if (args[0] === "help" && COMMANDS.some((c) => c.spec.name === args[1])) {
    return await main([args[1], "--help", ...args.slice(2)]);
  }
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    // Without a command, the usage is an error's, on stderr: stdout stays for results.
    const output = new Output({});
    (name === undefined ? output.resultOnStderr() : output).result({
      human: usage(),
      json: usage(),
      quiet: usage(),
    });
    return name === undefined ? ExitCode.Usage : ExitCode.Ok;
  }
  // `-v` and `--version` alone print the version, as docker's do.
  const command = COMMANDS.find((c) => c.spec.name === name) ??
    (name === "--version" || name === "-v"
      ? COMMANDS.find((c) => c.spec.name === "version")
      : undefined);
  if (!command) {
    const suggestion = closest(name, COMMANDS.map((c) => c.spec.name));
    new Output({}).error(
      new UsageError(`unknown command ${JSON.stringify(redactCredentials(name))}`, {
        hint: suggestion ? `did you mean \`ocisync ${suggestion}\`?` : "see `ocisync --help`",
      }),
    );
    return ExitCode.Usage;
  }
  // `--help` wins over every other word before `--`, as git's and docker's does, so that
  // `--help --json` prints the spec of a command that takes no `--json` (sync, completions).
  const words = rest.indexOf("--") < 0 ? rest : rest.slice(0, rest.indexOf("--"));
  if (words.includes("--help") || words.includes("-h")) {
    const json = words.includes("--json");
    const quiet = !json && (words.includes("-q") || words.includes("--quiet"));
    new Output({ json, quiet }).result({
      human: formatHelp(command.spec),
      json: command.spec,
      quiet: command.spec.usage,
    });
    return ExitCode.Ok;
  }
  let out = new Output({});
  let parsed: ParsedArgs | undefined;
  try {
    parsed = parseArgs(command.spec, rest);
    out = new Output(outputMode(parsed.options));
    // sync stops on its own: it ends the tick under way, whose pull then cleans up.
    using _stopped = command.spec.name === "sync" ? undefined : exitOnStopSignal();
    return (await command.run(parsed, out)) ?? ExitCode.Ok;
  } catch (error) {
    // Errors of Deno's file calls reach here unwrapped from deep in the library: reword them
    // so that each message names the path and the operation.
    // The hints load the registry client and the credential store: only on the way out of an
    // error, so that a command that succeeds never pays for them.
    const reported = explainError(
      parsed
        ? await (await import("./hints.ts")).withHint(error, parsed, out.credentialRegistry)
        : error,
    );
    out.error(reported);
    return exitCodeOf(reported);
  }
}

/**
 * Until disposed of, a stop signal (Ctrl-C, a closed terminal, a CI job's timeout) removes the
 * temporary files and folders the command has made and not yet put in place, and exits with
 * 128 and the signal's number, as a shell reports: without it the process dies at once, and
 * leaves a pull's staging folder or a half-written layer file behind. While a pull puts its tree
 * in place, the exit waits for it (a second signal does not). The signals are listened for from
 * the first such file on: a command that makes none dies as any process does.
 */
function exitOnStopSignal(): Disposable {
  const handlers: { signal: Deno.Signal; handler: () => void }[] = [];
  let waiting = false;
  onFirstMark(() => {
    for (const [name, number] of Object.entries(STOP_SIGNALS)) {
      const signal = name as Deno.Signal;
      const stop = () => {
        removeInterrupted();
        console.error(`ocisync: stopped by ${signal}`);
        Deno.exit(128 + number);
      };
      const handler = () => {
        if (waiting) return stop();
        waiting = stopWhenSafe(stop);
        if (waiting) {
          console.error(
            `ocisync: ${signal}: stopping once the files are in place (again: at once)`,
          );
        }
      };
      Deno.addSignalListener(signal, handler);
      handlers.push({ signal, handler });
    }
  });
  return {
    [Symbol.dispose]() {
      onFirstMark(undefined);
      for (const { signal, handler } of handlers) Deno.removeSignalListener(signal, handler);
    },
  };
}
