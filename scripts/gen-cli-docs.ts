/**
 * `deno run --allow-read --allow-write --allow-run scripts/gen-cli-docs.ts [--check]`: renders
 * `docs/cli.md`, the command reference, from the command specs that drive the parser and
 * `--help`, so the two cannot drift apart. With `--check`, it writes nothing and exits 1 when
 * the committed file differs from what it would write.
 *
 * @module
 */
import type { CommandSpec, OptionSpec } from "../src/cli/args.ts";
import { COMMANDS } from "../src/cli/commands/mod.ts";
import { OUTPUT_OPTIONS, REGISTRY_OPTIONS } from "../src/cli/common.ts";
import { ExitCode } from "../src/cli/exit.ts";

const ROOT = new URL("..", import.meta.url);
const TARGET = new URL("docs/cli.md", ROOT);

/** What each exit code means; every key of `ExitCode` needs one. */
const EXIT_CODE_MEANINGS: Record<keyof typeof ExitCode, string> = {
  Ok: "success",
  Other: "any other failure: an unreadable file, a failed hook",
  Usage: "usage: an unknown command or option, a malformed value",
  Auth: "auth: credentials missing or refused",
  NotFound: "not found: a file, folder, repository, tag or blob",
  Integrity: "integrity: a digest or size did not match; nothing was written",
  Network: "network: connection, TLS, timeout, or server errors that outlived the retries",
  UnsafeContent: "unsafe content: path escapes, devices, fifos, sockets, whiteout names",
  Verification:
    "verification: no signature over the digest verified with the given keys or identity",
};

/** Commands whose `--json` document has another command's shape. */
const SHARED_SCHEMAS: Record<string, string> = { build: "push" };

/** The JSON lines that `sync` writes, which have schemas of their own. */
const SYNC_SCHEMAS = { "--events": "sync-events", "--log-format json": "sync-log" };

/**
 * The schema, under `docs/schemas/`, of a command's `--json` document: `NAME.schema.json`, or
 * undefined for a command without `--json`.
 *
 * @example
 * ```ts
 * import { schemaOf } from "./gen-cli-docs.ts";
 * import { buildSpec } from "../src/cli/commands/build.ts";
 * schemaOf(buildSpec); // "push.schema.json"
 * ```
 */
export function schemaOf(spec: CommandSpec): string | undefined {
  if (!spec.options.some((option) => option.name === "json")) return undefined;
  return `${SHARED_SCHEMAS[spec.name] ?? spec.name}.schema.json`;
}

/**
 * The schemas of JSON lines, which no `--json` names: those of `sync`.
 *
 * @example
 * ```ts
 * import { lineSchemas } from "./gen-cli-docs.ts";
 * lineSchemas(); // ["sync-events.schema.json", "sync-log.schema.json"]
 * ```
 */
export function lineSchemas(): string[] {
  return Object.values(SYNC_SCHEMAS).map((name) => `${name}.schema.json`);
}

/** A table cell: pipes escaped, as GitHub's tables need, and `<` kept from reading as HTML. */
function cell(text: string): string {
  return text.replace(/[|<]/g, (c) => `\\${c}`);
}

function flag(option: OptionSpec): string {
  const value = option.type === "boolean" ? "" : ` ${option.value ?? "VALUE"}`;
  return `${option.short ? `-${option.short}, ` : ""}--${option.name}${value}`;
}

function optionTable(options: readonly OptionSpec[]): string[] {
  return [
    "| option | meaning | default |",
    "| --- | --- | --- |",
    ...options.map((option) => {
      const meaning = option.type === "list"
        ? `${option.description}; repeatable`
        : option.description;
      return `| \`${cell(flag(option))}\` | ${cell(meaning)} | ${cell(option.default ?? "")} |`;
    }),
  ];
}

/** Which of a shared set of options a command takes: all, all but a few, or a few. */
function sharedOptions(spec: CommandSpec, shared: readonly OptionSpec[], anchor: string): string {
  const names = (options: OptionSpec[]) => {
    const quoted = options.map((option) => `\`--${option.name}\``);
    return quoted.length === 1
      ? quoted[0]
      : `${quoted.slice(0, -1).join(", ")} and ${quoted.at(-1)}`;
  };
  const taken = shared.filter((option) => spec.options.includes(option));
  const missing = shared.filter((option) => !spec.options.includes(option));
  const link = `[${anchor.replaceAll("-", " ")}](#${anchor})`;
  if (taken.length === 0) return "";
  if (missing.length === 0) return `the ${link}`;
  return missing.length <= taken.length
    ? `the ${link} except ${names(missing)}`
    : `${names(taken)} of the ${link}`;
}

function commandSection(spec: CommandSpec): string[] {
  const own = spec.options.filter((o) =>
    !OUTPUT_OPTIONS.includes(o) && !REGISTRY_OPTIONS.includes(o)
  );
  const shared = [
    sharedOptions(spec, REGISTRY_OPTIONS, "registry-options"),
    sharedOptions(spec, OUTPUT_OPTIONS, "output-options"),
  ].filter((text) => text !== "");
  const schema = schemaOf(spec);
  return [
    `## ocisync ${spec.name}`,
    "",
    `${spec.summary[0].toUpperCase()}${spec.summary.slice(1)}.`,
    "",
    "```sh",
    spec.usage,
    "```",
    "",
    ...(own.length > 0 ? [...optionTable(own), ""] : []),
    ...(shared.length > 0 ? [`It also takes ${shared.join(" and ")}.`, ""] : []),
    "```sh",
    ...spec.examples,
    "```",
    "",
    ...(schema ? [`\`--json\` prints one document: [${schema}](schemas/${schema}).`, ""] : []),
    ...(spec.name === "sync"
      ? [
        ...Object.entries(SYNC_SCHEMAS).map(([option, name]) =>
          `\`${option}\` writes JSON lines: [${name}.schema.json](schemas/${name}.schema.json).`
        ),
        "",
      ]
      : []),
  ];
}

/**
 * The reference, as markdown before formatting: the output options, the registry options,
 * the exit codes, then each command.
 *
 * @example
 * ```ts
 * import { renderCliDocs } from "./gen-cli-docs.ts";
 * console.log(renderCliDocs().startsWith("# ocisync command reference")); // true
 * ```
 */
export function renderCliDocs(): string {
  const exitCodes = Object.entries(ExitCode).map(([key, code]) =>
    `| ${code} | \`${key}\` | ${EXIT_CODE_MEANINGS[key as keyof typeof ExitCode]} |`
  );
  return [
    "# ocisync command reference",
    "",
    "<!-- Generated from the command specs in src/cli/commands/ by scripts/gen-cli-docs.ts:",
    "     edit those, then run `deno run -A scripts/gen-cli-docs.ts`. -->",
    "",
    "Every command prints its options, their defaults and examples with `--help`;",
    "`ocisync --help` lists the commands. A typo in a command or an option exits with code 2",
    "and a one-line `did you mean`. Durations take `30s`, `5m`, `1h30m` or `250ms`; sizes take",
    "`512MiB` or `2GB`. `ocisync COMMAND --help --json` prints a command's spec as JSON.",
    "",
    ...COMMANDS.map(({ spec }) => `- [\`${spec.name}\`](#ocisync-${spec.name}): ${spec.summary}`),
    "",
    "## Output options",
    "",
    "Results go to stdout and everything else to stderr, so stdout stays machine-readable.",
    "Progress is drawn on stderr only when it is a terminal and `NO_COLOR` is unset: a line for",
    "each step (packing a folder, installing dependencies) and each blob moved, with its bytes,",
    "its rate over the last 3 seconds and an ETA where the size is known, and a total for the",
    "blobs moved (those skipped or mounted count in no rate). The first line appears as soon as",
    "the work starts;",
    "otherwise there are no escape codes at all. Given both `--json` and `-q`, `--json` wins, in",
    "every command; a command's own data flags (`inspect --raw` and `--config`) outrank both.",
    "",
    ...optionTable(OUTPUT_OPTIONS),
    "",
    "`--debug` logs each request's and response's headers as `[N] > name: value` and",
    "`[N] < name: value`. `Authorization` keeps only its scheme (`Bearer ***`); cookies and any",
    "header named like a token, a secret or a signature become `***`; query values in URLs",
    "other than the distribution API's own (`digest`, `n`, `last`, `scope`…) become `***`.",
    "Bodies are never logged, so the `token`, `access_token` and `refresh_token` of token",
    "responses never are either.",
    "",
    "## Registry options",
    "",
    "Commands that talk to registries take these. Credentials are looked for in the order the",
    "README describes; `localhost`, `127.0.0.1` and `[::1]` use plain HTTP without asking.",
    "",
    ...optionTable(REGISTRY_OPTIONS),
    "",
    "## Exit codes",
    "",
    "Every command exits with one of these codes. An error is one line on stderr,",
    "`ocisync: error: …`, with the registry's error code and message when there is one,",
    "followed by a `hint:` line where one helps: `ocisync login HOST` after a 401, `--ca-file`",
    "after a TLS failure, that the repository does not exist after `NAME_UNKNOWN`, and the",
    "tags that do exist (up to 10) after a tag that does not.",
    "",
    "| code | name | meaning |",
    "| --- | --- | --- |",
    ...exitCodes,
    "",
    ...COMMANDS.flatMap(({ spec }) => commandSection(spec)),
  ].join("\n");
}

/** The reference as `deno fmt` would leave it, so that `deno fmt --check` passes. */
async function formatted(markdown: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=md", "-"],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(markdown));
  await writer.close();
  const { success, stdout } = await child.output();
  if (!success) throw new Error("deno fmt failed on the generated reference");
  return new TextDecoder().decode(stdout);
}

if (import.meta.main) {
  const text = await formatted(renderCliDocs());
  if (Deno.args.includes("--check")) {
    const current = await Deno.readTextFile(TARGET).catch(() => "");
    if (current !== text) {
      console.error("docs/cli.md is out of date: run `deno run -A scripts/gen-cli-docs.ts`");
      Deno.exit(1);
    }
  } else {
    await Deno.writeTextFile(TARGET, text);
    console.log(`wrote ${TARGET.pathname}`);
  }
}
