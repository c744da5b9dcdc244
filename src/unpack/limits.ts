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
import { UnsafeContentError, UsageError } from "../errors/mod.ts";

/** The default of `UnpackOptions.maxEntries` (`./mod.ts`): how many entries a pull creates. */
export const DEFAULT_MAX_ENTRIES = 1_000_000;

/**
 * The default of `UnpackOptions.maxSize` (`./mod.ts`): how many bytes a pull's layers may
 * decompress to, all together, as the command line's `--max-extract-size 32GiB` and a
 * `docker-archive:` writer's bound.
 */
export const DEFAULT_MAX_EXTRACT_BYTES = 32 * 1024 ** 3;

/**
 * The most bytes compressed layers may declare, all together, when they may decompress to at
 * most `maxExtractBytes`: that limit, plus 1/64 of it, plus 1 MiB.
 *
 * Only decompressed bytes are counted as they are extracted, and some compressed data
 * decompresses to nothing (zstd's skippable frames, empty gzip members): without a bound on the
 * compressed bytes too, a layer could stream them for ever. Compression makes data larger only
 * by its framing: 5 bytes per 64 KiB stored block of gzip, 3 per 128 KiB raw block of zstd, a
 * few dozen per gzip member or zstd frame, and the index that zstd:chunked and eStargz add, a
 * fraction of the tar headers it lists. 1/64 and 1 MiB are far above all of these. Every read
 * of a blob stops at its declared size (`verifyingStream` of `../digest/verify.ts`), so a
 * layer's read ends within this bound.
 *
 * @example
 * ```ts
 * import { compressedLimit } from "./limits.ts";
 * compressedLimit(64 * 1024 ** 2); // 64 MiB + 1 MiB + 1 MiB
 * ```
 */
export function compressedLimit(maxExtractBytes: number): number {
  return maxExtractBytes + Math.ceil(maxExtractBytes / 64) + 1024 ** 2;
}

/**
 * Refuses layers, before any is fetched, whose declared sizes add up to more than
 * {@linkcode compressedLimit} of `maxExtractBytes`: they cannot decompress to no more than that,
 * and reading them would not end within the limit. `counted.bytes` holds the sizes of layers
 * already accepted (by an earlier call of the same extraction), and grows.
 *
 * @throws {UnsafeContentError} naming the layer that goes over.
 * @example
 * ```ts
 * import { checkDeclaredSizes } from "./limits.ts";
 * const layer = { digest: `sha256:${"2".repeat(64)}`, size: 2 ** 52 };
 * checkDeclaredSizes([layer], 32 * 1024 ** 3, { bytes: 0 }); // throws
 * ```
 */
export function checkDeclaredSizes(
  layers: readonly { digest: string; size: number }[],
  maxExtractBytes: number,
  counted: { bytes: number } = { bytes: 0 },
): void {
  const limit = compressedLimit(maxExtractBytes);
  for (const layer of layers) {
    const before = counted.bytes;
    counted.bytes += layer.size;
    if (counted.bytes <= limit) continue;
    const others = before > 0 ? ` (${counted.bytes} with the layers before it)` : "";
    throw new UnsafeContentError(
      `layer ${layer.digest} declares ${layer.size} bytes${others}: over the ${limit} bytes ` +
        `of compressed layers that the limit of ${maxExtractBytes} extracted bytes allows`,
      { hint: "raise the size limit if the image is really this large", option: "maxExtractSize" },
    );
  }
}

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
