/**
 * Options shared by every command, so each flag means the same everywhere.
 *
 * @module
 */
import { flagPlatform } from "./platforms.ts";
import type { ParsedOptions } from "./args.ts";
import { type Bounds, parseWholeNumber, POSITIVE_BOUNDS } from "../units/mod.ts";
import { type Compression, COMPRESSIONS } from "../compress/names.ts";
import { UsageError } from "../errors/mod.ts";
import { destinationOf, type WriteMode } from "../fs/atomic.ts";
import type { Output } from "./output.ts";
import { MAX_MTIME } from "../layer/limits.ts";
import { DEFAULT_MAX_ENTRIES } from "../unpack/limits.ts";
import type { Platform } from "../oci/types.ts";

// The option specs live in a light module of their own, so that `--help` and the completions
// load no command's code; they are re-exported here for the commands.
export { COMPRESSION_OPTION, OUTPUT_OPTIONS, outputMode, REGISTRY_OPTIONS } from "./options.ts";

/**
 * Seconds since the epoch from `flag` (named `option`), else from
 * `SOURCE_DATE_EPOCH`, else 0: the mtime of packed entries and an image's
 * `created`, so builds are reproducible.
 */
export function sourceDateEpoch(flag?: string, option = "--mtime"): number {
  const source = flag !== undefined ? option : "SOURCE_DATE_EPOCH";
  const value = flag ?? Deno.env.get("SOURCE_DATE_EPOCH");
  if (value === undefined || value === "") return 0;
  if (!/^\d+$/.test(value) || Number(value) > MAX_MTIME) {
    throw new UsageError(`${source} must be whole seconds since the epoch, from 0 to ${MAX_MTIME}`);
  }
  return Number(value);
}

/**
 * `--concurrency`: each transfer holds buffers and a connection; a million of them is a crash
 * ("Invalid array length"), not speed.
 */
export const CONCURRENCY_BOUNDS: Bounds = { min: 1, max: 64 };

/**
 * The ranges of whole-number flags, by flag, so that every command that takes one checks the
 * same range through {@linkcode positiveInteger}. Other flags take 1 or more.
 */
const WHOLE_NUMBER_BOUNDS: Record<string, Bounds> = { "--concurrency": CONCURRENCY_BOUNDS };

/**
 * A whole-number option of 1 or more, or undefined when absent; a flag listed in the shared
 * ranges (`--concurrency`, 1 to 64) is held to its range.
 *
 * @throws {UsageError} naming the option and its range.
 * @example
 * ```ts
 * import { positiveInteger } from "./common.ts";
 * positiveInteger("8", "--concurrency"); // 8
 * ```
 */
export function positiveInteger(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  return parseWholeNumber(value, option, WHOLE_NUMBER_BOUNDS[option] ?? POSITIVE_BOUNDS);
}

/**
 * The value of `--max-entries`: a whole number, 1 or more, or the default of pull and sync.
 *
 * @example
 * ```ts
 * import { parseMaxEntries } from "./common.ts";
 * parseMaxEntries({ "max-entries": "5000" }); // 5000
 * ```
 */
export function parseMaxEntries(options: ParsedOptions): number {
  const text = options["max-entries"] as string | undefined;
  return text === undefined
    ? DEFAULT_MAX_ENTRIES
    : parseWholeNumber(text, "--max-entries", POSITIVE_BOUNDS);
}

/**
 * The `--platform` option parsed, or undefined when absent; errors name the flag.
 *
 * @throws {UsageError} for a value that is not `os/arch[/variant]`.
 * @example
 * ```ts
 * import { platformOption } from "./common.ts";
 * platformOption({ platform: "linux/arm64" }); // { os: "linux", architecture: "arm64", variant: "v8" }
 * ```
 */
export function platformOption(options: ParsedOptions): Platform | undefined {
  const value = options.platform as string | undefined;
  return value === undefined ? undefined : flagPlatform(value);
}

/** The `--compression` value, checked; `gzip` when absent. */
export function compressionOption(options: ParsedOptions): Compression {
  const value = options.compression as string | undefined ?? "gzip";
  if (!(COMPRESSIONS as readonly string[]).includes(value)) {
    throw new UsageError(`--compression must be one of ${COMPRESSIONS.join(", ")}`);
  }
  return value as Compression;
}

/**
 * Where a command writes a layer or an archive named `value`, how (see `destinationOf`), and
 * the output that reports it. `-` is standard output, as for tar; when the bytes go to stdout
 * (`-`, `/dev/stdout`, a link to it), the result is printed on stderr so that it does not
 * corrupt them, and a terminal is refused with `example` as the hint.
 *
 * @throws {UsageError} when the bytes would be written to a terminal.
 * @example
 * ```ts
 * import { streamOutput } from "./common.ts";
 * import { Output } from "./output.ts";
 * const { path } = await streamOutput("flows.tar.gz", new Output({}), "ocisync pack SRC -o -");
 * ```
 */
export async function streamOutput(
  value: string,
  out: Output,
  example: string,
): Promise<{ path: string; mode: WriteMode; out: Output }> {
  const path = value === "-" ? "/dev/stdout" : value;
  const { mode } = await destinationOf(path);
  if (mode === "stderr" && Deno.stderr.isTerminal()) {
    throw new UsageError("refusing to write binary data to a terminal", {
      hint: `give -o a file, or redirect standard output: ${example}`,
    });
  }
  if (mode !== "stdout") return { path, mode, out };
  if (Deno.stdout.isTerminal()) {
    throw new UsageError("refusing to write binary data to a terminal", {
      hint: `redirect standard output: ${example}`,
    });
  }
  return { path, mode, out: out.resultOnStderr() };
}
