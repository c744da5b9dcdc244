/**
 * The defaults of unpacking, apart from the unpacker, so that the command line shows and
 * applies them without loading it.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_ENTRIES } from "./limits.ts";
 * console.log(`at most ${DEFAULT_MAX_ENTRIES} entries`);
 * ```
 * @module
 */
import { UsageError } from "../errors/mod.ts";

/** The default of `UnpackOptions.maxEntries` (`./mod.ts`): how many entries a pull creates. */
export const DEFAULT_MAX_ENTRIES = 1_000_000;

/**
 * The default of `UnpackOptions.maxSize` (`./mod.ts`): how many bytes a pull's layers may
 * decompress to, all together, as the command line's `--max-extract-size 32GiB` and a
 * `docker-archive:` writer's bound.
 */
export const DEFAULT_MAX_EXTRACT_BYTES = 32 * 1024 ** 3;

/**
 * `value` as a bound (`maxSize`, `maxEntries`), or `fallback` when it is not given. A value that
 * is not a number of 0 or more is refused: `NaN` compares false with everything, so it would
 * turn the bound off.
 *
 * @throws {UsageError} naming `name` and the value.
 * @example
 * ```ts
 * import { boundOf, DEFAULT_MAX_ENTRIES } from "./limits.ts";
 * boundOf(undefined, DEFAULT_MAX_ENTRIES, "maxEntries"); // 1000000
 * boundOf(NaN, DEFAULT_MAX_ENTRIES, "maxEntries"); // throws
 * ```
 */
export function boundOf(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || Number.isNaN(value) || value < 0) {
    throw new UsageError(`${name} must be a number of 0 or more, not ${value}`);
  }
  return value;
}
