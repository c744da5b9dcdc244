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

/** The default of `UnpackOptions.maxEntries` (`./mod.ts`): how many entries a pull creates. */
export const DEFAULT_MAX_ENTRIES = 1_000_000;
