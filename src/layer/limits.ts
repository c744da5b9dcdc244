/**
 * Limits of a layer's entries, apart from the code that packs: the command line checks
 * `--mtime` and `SOURCE_DATE_EPOCH` with these without loading the folder walk or the
 * compressors.
 *
 * @example
 * ```ts
 * import { MAX_MTIME } from "./limits.ts";
 * 1700000000 <= MAX_MTIME; // true
 * ```
 * @module
 */

/** The largest mtime a ustar header holds. */
export const MAX_MTIME = 0o77777777777;
