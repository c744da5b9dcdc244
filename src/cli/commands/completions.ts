/**
 * `ocisync completions bash|zsh|fish`: shell completions, generated from the command specs, so
 * every command and every option completes, and none that does not exist.
 *
 * @module
 */
import type { CommandSpec, OptionSpec, ParsedArgs } from "../args.ts";
import { closest } from "../../units/closest.ts";
import { OUTPUT_OPTIONS } from "../options.ts";
import type { Output } from "../output.ts";
import { UsageError } from "../../errors/mod.ts";

/**
 * The shells that completions are written for.
 *
 * @example
 * ```ts
 * import { SHELLS } from "./completions.ts";
 * SHELLS.includes("zsh"); // true
 * ```
 */
export const SHELLS = ["bash", "zsh", "fish"] as const;

/**
 * One of {@linkcode SHELLS}.
 *
 * @example
 * ```ts
 * import type { Shell } from "./completions.ts";
 * const shell: Shell = "fish";
 * ```
 */
export type Shell = typeof SHELLS[number];

/**
 * The spec of `completions`.
 *
 * @example
 * ```ts
 * import { completionsSpec } from "./completions.ts";
 * import { parseArgs } from "../args.ts";
 * parseArgs(completionsSpec, ["bash"]); // { options: {}, positionals: ["bash"] }
 * ```
 */
export const completionsSpec: CommandSpec = {
  name: "completions",
  summary: "print shell completions for bash, zsh or fish",
  usage: "ocisync completions bash|zsh|fish",
  positionals: [1, 1],
  options: OUTPUT_OPTIONS.filter((option) => option.name === "help"),
  examples: [
    "source <(ocisync completions bash)      # in ~/.bashrc",
    'ocisync completions zsh > "${fpath[1]}/_ocisync"',
    "ocisync completions fish > ~/.config/fish/completions/ocisync.fish",
  ],
};

/**
 * Runs `completions`: prints the script for the shell named by the one argument, covering the
 * commands `specs`.
 *
 * @throws {UsageError} for a shell other than bash, zsh and fish.
 * @example
 * ```ts
 * import { completions } from "./completions.ts";
 * import { versionSpec } from "./version.ts";
 * import { Output } from "../output.ts";
 * await completions({ options: {}, positionals: ["fish"] }, new Output({}), [versionSpec]);
 * ```
 */
export function completions(
  args: ParsedArgs,
  out: Output,
  specs: readonly CommandSpec[],
): Promise<void> {
  const shell = args.positionals[0];
  if (!(SHELLS as readonly string[]).includes(shell)) {
    const suggestion = closest(shell, [...SHELLS]);
    throw new UsageError(`no completions for the shell "${shell}"`, {
      hint: suggestion ? `did you mean ${suggestion}?` : `give one of ${SHELLS.join(", ")}`,
    });
  }
  const script = completionScript(shell as Shell, specs);
  out.result({ human: script, json: script, quiet: script });
  return Promise.resolve();
}

/** The words a command's positionals complete to, where they are not files or references. */
const POSITIONAL_CHOICES: Record<string, readonly string[]> = { completions: SHELLS };

/** Top-level words besides the commands, as the dispatcher accepts them. */
const GLOBAL_WORDS = ["help", "--help", "--version"];

/** Value placeholders that name a local file or folder, which complete to files. */
const PATH_VALUES = new Set(["FILE", "DIR"]);

/**
 * The completion script for `shell`, covering every command of `specs` and every option.
 *
 * @example
 * ```ts
 * import { completionScript } from "./completions.ts";
 * import { versionSpec } from "./version.ts";
 * const script = completionScript("bash", [versionSpec]);
 * console.log(script.includes("complete -o default -F _ocisync ocisync")); // true
 * ```
 */
export function completionScript(shell: Shell, specs: readonly CommandSpec[]): string {
  switch (shell) {
    case "bash":
      return bashScript(specs);
    case "zsh":
      return zshScript(specs);
    case "fish":
      return fishScript(specs);
  }
}

/** The values an option takes from a fixed set, written as `a|b` in its placeholder. */
function choicesOf(option: OptionSpec): string[] | undefined {
  return option.value?.includes("|") ? option.value.split("|") : undefined;
}

/** `--name` and `-s` of an option. */
function flagsOf(option: OptionSpec): string[] {
  return [`--${option.name}`, ...(option.short ? [`-${option.short}`] : [])];
}

/** Quotes a word for sh, bash and zsh. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * Bash: commands at the first word, then the command's options after a `-`, fixed values
 * after an option that has them, and the shells after `completions`. Anything else is left to
 * readline's file names (`-o default`), which handles spaces and `~` better than `compgen -f`.
 */
function bashScript(specs: readonly CommandSpec[]): string {
  const commands = [...specs.map((spec) => spec.name), ...GLOBAL_WORDS];
  const cases = specs.map((spec) => {
    const withValue = spec.options.filter((option) => option.type !== "boolean");
    return [
      `    ${spec.name})`,
      `      options=${shellQuote(spec.options.flatMap(flagsOf).join(" "))}`,
      `      valued=${shellQuote(` ${withValue.flatMap(flagsOf).join(" ")} `)}`,
      "      ;;",
    ].join("\n");
  });
  const valueCases = specs.flatMap((spec) =>
    spec.options.flatMap((option) => {
      const choices = choicesOf(option);
      if (!choices) return [];
      return flagsOf(option).map((flag) =>
        `    ${shellQuote(`${spec.name} ${flag}`)}) words=${shellQuote(choices.join(" "))} ;;`
      );
    })
  );
  const positionalCases = Object.entries(POSITIONAL_CHOICES).map(([name, choices]) =>
    `      ${name}) words=${shellQuote(choices.join(" "))} ;;`
  );
  return [
    "# bash completion for ocisync, generated by `ocisync completions bash`.",
    "# Load it with: source <(ocisync completions bash)",
    "_ocisync() {",
    '  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
    "  local options valued words",
    "  COMPREPLY=()",
    "  if ((COMP_CWORD == 1)); then",
    `    COMPREPLY=($(compgen -W ${shellQuote(commands.join(" "))} -- "$cur"))`,
    "    return",
    "  fi",
    '  case "${COMP_WORDS[1]}" in',
    ...cases,
    "    *) return ;;",
    "  esac",
    '  case "${COMP_WORDS[1]} $prev" in',
    ...valueCases,
    "  esac",
    '  if [[ -z "$words" && "$valued" == *" $prev "* ]]; then',
    "    return",
    '  elif [[ -z "$words" && "$cur" == -* ]]; then',
    '    words="$options"',
    '  elif [[ -z "$words" ]]; then',
    '    case "${COMP_WORDS[1]}" in',
    ...positionalCases,
    "    esac",
    "  fi",
    '  [[ -n "$words" ]] && COMPREPLY=($(compgen -W "$words" -- "$cur"))',
    "  return 0",
    "}",
    "complete -o default -F _ocisync ocisync",
  ].join("\n");
}

/** Escapes `pattern`'s characters with a backslash, for zsh's completion specs. */
function zshEscape(text: string, pattern: RegExp): string {
  return text.replace(pattern, (c) => `\\${c}`);
}

/** Zsh: `_arguments` specs per command, with descriptions, values and repeatable options. */
function zshScript(specs: readonly CommandSpec[]): string {
  // `_describe` splits NAME:DESCRIPTION at the first colon; `_arguments` ends an option's
  // explanation at `]` and its value's message at `:`.
  const commands = specs.map((spec) => `    ${shellQuote(`${spec.name}:${spec.summary}`)}`);
  const cases = specs.map((spec) => {
    const optionSpecs = spec.options.flatMap((option) => {
      const repeat = option.type === "list" ? "*" : "";
      const choices = choicesOf(option);
      const action = option.type === "boolean"
        ? ""
        : `:${zshEscape(option.value ?? "VALUE", /[\\:]/g)}:${
          choices ? `(${choices.join(" ")})` : PATH_VALUES.has(option.value ?? "") ? "_files" : " "
        }`;
      return flagsOf(option).map((flag) =>
        shellQuote(`${repeat}${flag}[${zshEscape(option.description, /[\\[\]]/g)}]${action}`)
      );
    });
    const choices = POSITIONAL_CHOICES[spec.name];
    const positional = choices
      ? `1:argument:(${choices.join(" ")})`
      : spec.positionals[1] > 0
      ? "*:argument:_files"
      : undefined;
    return [
      `        ${spec.name})`,
      `          _arguments -s \\`,
      ...[...optionSpecs, ...(positional ? [shellQuote(positional)] : [])].map((s, i, all) =>
        `            ${s}${i < all.length - 1 ? " \\" : ""}`
      ),
      "          ;;",
    ].join("\n");
  });
  return [
    "#compdef ocisync",
    "# zsh completion for ocisync, generated by `ocisync completions zsh`.",
    '# Install it with: ocisync completions zsh > "${fpath[1]}/_ocisync"',
    "_ocisync() {",
    "  local -a commands",
    "  commands=(",
    ...commands,
    "  )",
    "  local state",
    "  _arguments -C '1: :->command' '*:: :->argument'",
    "  case $state in",
    "    command)",
    "      _describe -t commands 'ocisync command' commands",
    "      ;;",
    "    argument)",
    "      case $words[1] in",
    ...cases,
    "      esac",
    "      ;;",
    "  esac",
    "}",
    'if [[ "$funcstack[1]" == _ocisync ]]; then',
    '  _ocisync "$@"',
    "else",
    "  compdef _ocisync ocisync",
    "fi",
  ].join("\n");
}

/** Quotes a word for fish, whose single quotes take `\\` and `\'` escapes. */
function fishQuote(text: string): string {
  return `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

/** Fish: one `complete` line per command and per option, conditioned on the command. */
function fishScript(specs: readonly CommandSpec[]): string {
  const top = "complete -c ocisync -n __fish_use_subcommand -f";
  const lines = [
    "# fish completion for ocisync, generated by `ocisync completions fish`.",
    "# Install it with: ocisync completions fish > ~/.config/fish/completions/ocisync.fish",
    ...specs.map((spec) => `${top} -a ${spec.name} -d ${fishQuote(spec.summary)}`),
    `${top} -l help -d 'show the commands'`,
    `${top} -l version -d 'print the version'`,
  ];
  for (const spec of specs) {
    const when = `complete -c ocisync -n ${fishQuote(`__fish_seen_subcommand_from ${spec.name}`)}`;
    for (const option of spec.options) {
      const choices = choicesOf(option);
      const value = option.type === "boolean"
        ? ""
        : choices
        ? ` -x -a ${fishQuote(choices.join(" "))}`
        : " -r";
      const short = option.short ? ` -s ${option.short}` : "";
      lines.push(`${when}${short} -l ${option.name}${value} -d ${fishQuote(option.description)}`);
    }
    const positional = POSITIONAL_CHOICES[spec.name];
    if (positional) lines.push(`${when} -f -a ${fishQuote(positional.join(" "))}`);
  }
  return lines.join("\n");
}
