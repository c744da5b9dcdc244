/**
 * Layer compression: gzip, zstd or none, each deterministic, and the OCI
 * layer media type that goes with each.
 *
 * @example
 * ```ts
 * import { compressStream, layerMediaType } from "./mod.ts";
 * console.log(layerMediaType("zstd")); // "application/vnd.oci.image.layer.v1.tar+zstd"
 * const gzip = await Array.fromAsync(compressStream(ReadableStream.from([new Uint8Array(3)]), "gzip"));
 * ```
 * @module
 */
import { MediaType } from "../oci/mediatypes.ts";
import { gzipStream } from "./gzip.ts";
import type { CompressionOptions } from "./pool.ts";
import { zstdStream } from "./zstd.ts";
import { checkCompression, type Compression } from "./names.ts";

export { GZIP_BLOCK_SIZE, type GzipOptions, gzipStream } from "./gzip.ts";
export { type CompressionOptions, defaultConcurrency } from "./pool.ts";
export { GZIP_LEVEL } from "./deflate.ts";
export { ZSTD_FRAME_SIZE, ZSTD_LEVEL, zstdStream } from "./zstd.ts";

export { checkCompression, type Compression, COMPRESSIONS } from "./names.ts";

/**
 * The OCI layer media type for a compression.
 *
 * @throws {UsageError} for a value that is no {@linkcode Compression}.
 */
export function layerMediaType(compression: Compression): string {
  return {
    gzip: MediaType.OciLayerGzip,
    zstd: MediaType.OciLayerZstd,
    none: MediaType.OciLayer,
  }[checkCompression(compression)];
}

/**
 * Compresses a stream with the given compression; `none` passes it through. `options` are the
 * compressors' (threads, and freeing each block once the consumer has taken it).
 *
 * @throws {UsageError} for a value that is no {@linkcode Compression}.
 */
export function compressStream(
  source: AsyncIterable<Uint8Array>,
  compression: Compression,
  options: CompressionOptions = {},
): AsyncIterable<Uint8Array> {
  switch (checkCompression(compression)) {
    case "gzip":
      return gzipStream(source, options);
    case "zstd":
      return zstdStream(source, options);
    case "none":
      return source;
  }
}
