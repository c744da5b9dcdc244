/**
 * Where a blob to write comes from: a layer file, a blob of another target, or bytes in
 * memory. Apart from the plans (`./plan.ts`), so that a copy, which writes another target's
 * blobs, loads no builder (and no synchronous hash) to start.
 *
 * @example
 * ```ts
 * import { targetBlob } from "./blob.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const from = await LayoutTarget.open("./bundle");
 * const blob = targetBlob(from, {
 *   mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
 *   digest: `sha256:${"0".repeat(64)}`,
 *   size: 1,
 * });
 * ```
 * @module
 */
import { openFileAt } from "../fs/read.ts";
import { type CallOptions, isBlobRangeFetcher, type Target } from "../oci/target.ts";
import type { Descriptor } from "../oci/types.ts";
import type { ImageLayer, JsonBlob } from "./build.ts";

/**
 * A blob to write, and how to read it: a layer file, a blob of another target,
 * or bytes in memory. Nothing is opened until a writer finds that the
 * destination lacks the blob.
 */
export interface BlobSource {
  /** What the blob is, as the manifest lists it. */
  descriptor: Descriptor;
  /** Opens the bytes; called only when the destination lacks the blob. */
  open(): Promise<ReadableStream<Uint8Array>>;
  /**
   * The bytes from `offset` to the end, for a blob that can be read again from anywhere (a file):
   * a registry then sends a large one in one streamed request, and resumes it from the offset
   * it reports. The destination verifies the whole against the digest.
   */
  openAt?(offset: number): Promise<ReadableStream<Uint8Array>>;
  /**
   * The target the bytes are read from, for a blob of another target: a writer may link the
   * blob from there (a registry mount) rather than send it.
   */
  from?: Target;
}

/** A layer built or read to a file: its descriptor, its `diffId`, and the file that is its blob. */
export interface PreparedLayer extends ImageLayer {
  /** The layer blob on disk. */
  path: string;
}

/**
 * The blob of a file on disk.
 *
 * @example
 * ```ts
 * import { fileBlob } from "./blob.ts";
 * const blob = fileBlob(
 *   { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
 *     digest: `sha256:${"0".repeat(64)}`, size: 1 },
 *   "./layer.tar.gz",
 * );
 * ```
 */
export function fileBlob(descriptor: Descriptor, path: string): BlobSource {
  return { descriptor, open: () => openFileAt(path, 0, descriptor.size) };
}

/**
 * The blob of bytes in memory, such as a config.
 *
 * @example
 * ```ts
 * import { bytesBlob } from "./blob.ts";
 * import { EMPTY_CONFIG } from "./build.ts";
 * const blob = bytesBlob(EMPTY_CONFIG);
 * ```
 */
export function bytesBlob(blob: JsonBlob): BlobSource {
  return {
    descriptor: blob.descriptor,
    open: () => Promise.resolve(ReadableStream.from([blob.bytes])),
  };
}

/**
 * A blob of `target`, read from it (verified as it streams), or mounted from it where the
 * writer's destination allows. A target that reads blobs from any offset (a layout) lends the
 * blob {@linkcode BlobSource.openAt}. Every read gets `options` (a signal that stops it).
 *
 * @example
 * ```ts
 * import { targetBlob } from "./blob.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const from = await LayoutTarget.open("./bundle");
 * const blob = targetBlob(from, {
 *   mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
 *   digest: `sha256:${"0".repeat(64)}`,
 *   size: 1,
 * });
 * ```
 */
export function targetBlob(
  target: Target,
  descriptor: Descriptor,
  options: CallOptions = {},
): BlobSource {
  const blob: BlobSource = {
    descriptor,
    open: () => target.fetchBlob(descriptor, options),
    from: target,
  };
  if (isBlobRangeFetcher(target)) {
    blob.openAt = (offset) => target.fetchBlobFrom(descriptor, offset, options);
  }
  return blob;
}
