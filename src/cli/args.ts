/**
 * A small, spec-driven argument parser. Each command declares its options
 * once; the same declaration drives parsing, `--help` and "did you mean".
 *
 * @example
 * ```ts
 * import { parseArgs, type CommandSpec } from "./args.ts";
 * const spec: CommandSpec = {
 *   name: "pack", summary: "…", usage: "ocisync pack SRC -o FILE", positionals: [1, 1],
 *   options: [{ name: "output", short: "o", type: "string", description: "…" }], examples: [],
 * };
 * parseArgs(spec, ["src", "-o", "x.tar.gz"]); // { options: { output: "x.tar.gz" }, positionals: ["src"] }
 * ```
 * @module
 */
import { UsageError } from "../errors/mod.ts";
import { closest } from "../units/closest.ts";
import { redactCredentials } from "../ref/mod.ts";

// The commands suggest options and commands with it; it lives below the library, which suggests
// config keys with it too.

/** One option of a command. */
export interface OptionSpec {
  /** The long name, without dashes. */
  name: string;
  /** A one-letter alias. */
  short?: string;
  /** `boolean` is a flag, `string` takes a value, `list` takes a value and repeats. */
  type: "boolean" | "string" | "list";
  description: string;
  /** The default, as shown in `--help`. */
  default?: string;
  /** The placeholder in `--help`, e.g. FILE. */
  value?: string;
  /**
   * Whether `""` is a meaningful value (`--entrypoint ""`: none). Otherwise an empty value is
   * refused: for a path it would mean the working directory, or `/` once joined, and for any
   * other value it would be taken as if the option were absent.
   */
  allowEmpty?: boolean;
}

/** A command: its options, its positionals and its help. */
export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  /** The minimum and maximum count of positional arguments. */
  positionals: [number, number];
  options: OptionSpec[];
  examples: string[];
}

/** Parsed options by long name: true for flags, a string, or a string list. */
export type ParsedOptions = Record<string, string | boolean | string[]>;

/** The result of {@linkcode parseArgs}. */
export interface ParsedArgs {
  options: ParsedOptions;
  positionals: string[];
}

/**
 * Parses `argv` against a command's spec: `--name value`, `--name=value`,
 * `-x value`, bundled short flags (`-qv`), `--flag=true` or `--flag=false`, and
 * `--` to end options.
 *
 * @throws {UsageError} for an unknown option (with a "did you mean" hint), a
 * missing or empty value, an empty argument, or a wrong count of positionals.
 */
export function parseArgs(spec: CommandSpec, argv: string[]): ParsedArgs {
  const options: ParsedOptions = {};
  const positionals: string[] = [];
  const byName = new Map(spec.options.map((o) => [o.name, o]));
  const byShort = new Map(spec.options.filter((o) => o.short).map((o) => [o.short!, o]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let found: { spec: OptionSpec; inline?: string }[];
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const option = byName.get(name);
      if (!option) throw unknownOption(spec, `--${name}`, spec.options.map((o) => `--${o.name}`));
      found = [{ spec: option, inline: eq < 0 ? undefined : arg.slice(eq + 1) }];
    } else if (arg.startsWith("-") && arg.length > 1) {
      found = [];
      for (let j = 1; j < arg.length; j++) {
        const option = byShort.get(arg[j]);
        if (!option) {
          throw unknownOption(spec, `-${arg[j]}`, spec.options.map((o) => `--${o.name}`));
        }
        // A short option that takes a value consumes the rest: -ofile.tar.
        if (option.type !== "boolean" && j < arg.length - 1) {
          found.push({ spec: option, inline: arg.slice(j + 1) });
          break;
        }
        found.push({ spec: option });
      }
    } else {
      positionals.push(arg);
      continue;
    }
    for (const { spec: option, inline } of found) {
      if (option.type === "boolean") {
        // `--flag=true` and `--flag=false`, as Go's flag packages take them: scripts written
        // for cosign, crane or ORAS spell flags so.
        if (inline === undefined || inline === "true") options[option.name] = true;
        else if (inline === "false") delete options[option.name];
        else {
          throw new UsageError(
            `--${option.name} is a flag: give it alone, or as --${option.name}=true or =false`,
          );
        }
        continue;
      }
      const value = inline ?? argv[++i];
      if (value === undefined || (value === "" && !option.allowEmpty)) {
        throw new UsageError(
          `--${option.name} needs a value${value === "" ? ", not an empty string" : ""}`,
          { hint: `ocisync ${spec.name} --${option.name} ${option.value ?? "VALUE"}` },
        );
      }
      if (option.type === "list") {
        options[option.name] = [...(options[option.name] as string[] | undefined ?? []), value];
      } else {
        options[option.name] = value;
      }
    }
  }
  const [min, max] = spec.positionals;
  if (positionals.includes("")) {
    // An empty path means the working directory to some calls and nothing to others.
    throw new UsageError(`${spec.name}: argument ${positionals.indexOf("") + 1} is empty`, {
      hint: `usage: ${spec.usage}`,
    });
  }
  if (positionals.length < min || positionals.length > max) {
    throw new UsageError(
      positionals.length < min
        ? `${spec.name}: missing arguments`
        : `${spec.name}: unexpected argument ${
          JSON.stringify(redactCredentials(positionals[max]))
        }`,
      { hint: `usage: ${spec.usage}` },
    );
  }
  return { options, positionals };
}

function unknownOption(spec: CommandSpec, given: string, known: string[]): UsageError {
  const suggestion = closest(given, known);
  return new UsageError(`unknown option ${given} for ${spec.name}`, {
    hint: suggestion ? `did you mean ${suggestion}?` : `see ocisync ${spec.name} --help`,
  });
}

/**
 * Renders a command's `--help`: synopsis, every option with its default, and
 * examples.
 */
export function formatHelp(spec: CommandSpec): string {
  const rows = spec.options.map((o) => {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${o.name}${
      o.type === "boolean" ? "" : ` ${o.value ?? "VALUE"}`
    }`;
    const extra = [o.type === "list" ? "repeatable" : "", o.default ? `default: ${o.default}` : ""]
      .filter(Boolean).join("; ");
    return [flag, extra ? `${o.description} (${extra})` : o.description];
  });
  const width = Math.max(...rows.map(([flag]) => flag.length));
  return [
    `ocisync ${spec.name}: ${spec.summary}`,
    "",
    `Usage: ${spec.usage}`,
    "",
    "Options:",
    ...rows.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`),
    "",
    "Examples:",
    ...spec.examples.map((e) => `  ${e}`),
  ].join("\n");
}
