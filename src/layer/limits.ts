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
import { UsageError } from "../errors/mod.ts";

/** The largest mtime a ustar header holds. */
export const MAX_MTIME = 0o77777777777;

/**
 * Returns `mtime` when it is whole seconds from 0 to {@linkcode MAX_MTIME}: a library caller's
 * `NaN`, fraction or negative number would otherwise end in a raw `RangeError` from a date,
 * or a header that other tars read otherwise.
 *
 * @throws {UsageError} naming the option `mtime`.
 * @example
 * ```ts
 * import { checkedMtime } from "./limits.ts";
 * checkedMtime(1700000000); // 1700000000
 * ```
 */
export function checkedMtime(mtime: number): number {
  if (!Number.isSafeInteger(mtime) || mtime < 0 || mtime > MAX_MTIME) {
    throw new UsageError(
      `mtime must be whole seconds since the epoch, from 0 to ${MAX_MTIME}, not ${mtime}`,
      { option: "mtime" },
    );
  }
  return mtime;
}
