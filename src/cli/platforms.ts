/**
 * `--platform` as every command reads it: one value, or a list (comma-separated or the flag
 * repeated). A light module, so that a command that only needs these does not load another
 * command's code.
 *
 * @example
 * ```ts
 * import { parsePlatforms, platformList } from "./platforms.ts";
 * parsePlatforms(platformList({ platform: ["linux/amd64,linux/arm64"] })!).length; // 2
 * ```
 * @module
 */
import type { ParsedOptions } from "./args.ts";
import { UsageError } from "../errors/mod.ts";
import { formatPlatform, parsePlatform } from "../image/platform.ts";
import type { Platform } from "../oci/types.ts";

/**
 * The values of a repeatable `--platform` (or `name`), each split at commas; undefined when it
 * is not given.
 *
 * @example
 * ```ts
 * import { platformList } from "./platforms.ts";
 * platformList({ platform: ["linux/amd64,linux/arm64"] }); // ["linux/amd64", "linux/arm64"]
 * ```
 */
export function platformList(options: ParsedOptions, name = "platform"): string[] | undefined {
  const values = options[name] as string[] | string | undefined;
  if (values === undefined) return undefined;
  const list = [values].flat().flatMap((value) => value.split(",")).map((value) => value.trim())
    .filter((value) => value !== "");
  if (list.length === 0) throw new UsageError(`--${name} needs a value`);
  if (list.length > 1 && list.includes("all")) {
    throw new UsageError(`--${name} all stands alone: it means every platform of the image`);
  }
  return list;
}

/**
 * `--platform` of a command that can take every platform of an image (`push --base`, `copy`):
 * `"all"`, given alone, or the platforms, each once; undefined when it is not given. What `all`
 * is allowed with is the command's to say.
 *
 * @throws {UsageError} as {@linkcode platformList} and {@linkcode parsePlatforms} do.
 * @example
 * ```ts
 * import { platformChoice } from "./platforms.ts";
 * platformChoice({ platform: ["all"] }); // "all"
 * platformChoice({ platform: ["linux/amd64"] }); // [{ os: "linux", architecture: "amd64" }]
 * ```
 */
export function platformChoice(options: ParsedOptions): Platform[] | "all" | undefined {
  const list = platformList(options);
  if (list === undefined) return undefined;
  return list.length === 1 && list[0] === "all" ? "all" : parsePlatforms(list);
}

/**
 * One `--platform` value as an OCI platform; the error names the flag.
 *
 * @example
 * ```ts
 * import { flagPlatform } from "./platforms.ts";
 * flagPlatform("linux/arm64"); // { os: "linux", architecture: "arm64", variant: "v8" }
 * ```
 */
export function flagPlatform(value: string): Platform {
  try {
    return parsePlatform(value);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    throw new UsageError(`--platform: ${error.message}`, { hint: error.hint });
  }
}

/**
 * OCI platforms, each once.
 *
 * @throws {UsageError} for a value that is not `os/arch[/variant]`, or a platform given twice.
 * @example
 * ```ts
 * import { parsePlatforms } from "./platforms.ts";
 * parsePlatforms(["linux/amd64", "linux/arm64"]);
 * ```
 */
export function parsePlatforms(values: string[]): Platform[] {
  const platforms = values.map(flagPlatform);
  const seen = new Set<string>();
  for (const platform of platforms) {
    const text = formatPlatform(platform);
    if (seen.has(text)) throw new UsageError(`--platform lists ${text} twice`);
    seen.add(text);
  }
  return platforms;
}
