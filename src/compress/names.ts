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
import { UsageError } from "../errors/mod.ts";

/** A layer compression. */
export type Compression = "gzip" | "zstd" | "none";

/** The accepted values of {@linkcode Compression}. */
export const COMPRESSIONS: readonly Compression[] = ["gzip", "zstd", "none"];

/**
 * `value`, checked to be one of {@linkcode COMPRESSIONS}: a library caller's value is not
 * checked by the type system at run time.
 *
 * @throws {UsageError} naming the value and the compressions there are.
 * @example
 * ```ts
 * import { checkCompression } from "./names.ts";
 * checkCompression("zstd"); // "zstd"
 * ```
 */
export function checkCompression(value: unknown): Compression {
  if ((COMPRESSIONS as readonly unknown[]).includes(value)) return value as Compression;
  throw new UsageError(
    `compression must be one of ${COMPRESSIONS.join(", ")}, not ${
      JSON.stringify(value) ?? String(value)
    }`,
    { option: "compression" },
  );
}
