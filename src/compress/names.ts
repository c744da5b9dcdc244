/**
 * The names of the layer compressions, apart from the code that compresses: the command line
 * checks `--compression` with these without loading zlib or the compression workers.
 *
 * @example
 * ```ts
 * import { COMPRESSIONS } from "./names.ts";
 * COMPRESSIONS.includes("zstd"); // true
 * ```
 * @module
 */

/** A layer compression. */
export type Compression = "gzip" | "zstd" | "none";

/** The accepted values of {@linkcode Compression}. */
export const COMPRESSIONS: readonly Compression[] = ["gzip", "zstd", "none"];
