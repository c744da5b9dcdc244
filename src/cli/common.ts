/**
 * Options shared by every command, so each flag means the same everywhere.
 *
 * @module
 */
import type { OptionSpec, ParsedOptions } from "./args.ts";
import type { OutputMode } from "./output.ts";

/** `--json`, `-q`, `--verbose` and `--help`. */
export const OUTPUT_OPTIONS: OptionSpec[] = [
  { name: "json", type: "boolean", description: "print one JSON document" },
  { name: "quiet", short: "q", type: "boolean", description: "print only the main value" },
  { name: "verbose", short: "v", type: "boolean", description: "log details on stderr" },
  { name: "help", short: "h", type: "boolean", description: "show this help" },
];

/** The output mode that the parsed options select. */
export function outputMode(options: ParsedOptions): OutputMode {
  return {
    json: options.json === true,
    quiet: options.quiet === true,
    verbose: options.verbose === true,
  };
}
