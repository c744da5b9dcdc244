/**
 * `ocisync version`: the version, the Deno and V8 versions, and the platform.
 *
 * @module
 */
import type { CommandSpec, ParsedArgs } from "../args.ts";
import { OUTPUT_OPTIONS } from "../options.ts";
import type { Output } from "../output.ts";
import { VERSION } from "../../version.ts";

/** The spec of `version`. */
export const versionSpec: CommandSpec = {
  name: "version",
  summary: "print the version, the Deno and V8 versions, and the platform",
  usage: "ocisync version [--json]",
  positionals: [0, 0],
  options: OUTPUT_OPTIONS,
  examples: ["ocisync version", "ocisync version --json"],
};

/** Runs `version`. */
export function version(_args: ParsedArgs, out: Output): Promise<void> {
  const info = {
    version: VERSION,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    platform: `${Deno.build.os}/${Deno.build.arch}`,
  };
  out.result({
    human: `ocisync ${info.version} (deno ${info.deno}, v8 ${info.v8}, ${info.platform})`,
    json: info,
    quiet: info.version,
  });
  return Promise.resolve();
}
