/**
 * Archive files as {@linkcode Target}s: `oci-archive:FILE` (a tar of an OCI
 * image layout, as skopeo writes it) and `docker-archive:FILE` (the format of
 * `docker save`). Both read blobs as byte ranges of the file, verified as they
 * stream, without extracting anything; both write on `close()`, atomically and
 * deterministically, from a staging layout beside the file.
 *
 * @example
 * ```ts
 * import { openArchiveTarget } from "./mod.ts";
 * import { parseArchiveReference } from "../ref/mod.ts";
 * const ref = parseArchiveReference("oci-archive:app.tar:v1");
 * const archive = await openArchiveTarget(ref);
 * const manifest = await archive.fetchManifest(await archive.resolve(ref.tag));
 * await archive.close();
 * ```
 * @module
 */
import type { ArchiveReference } from "../ref/mod.ts";
import { DockerArchiveTarget } from "./docker.ts";
import { OciArchiveTarget } from "./oci.ts";

export {
  DEFAULT_MAX_EXTRACT_BYTES,
  type DockerArchiveOpenOptions,
  DockerArchiveTarget,
} from "./docker.ts";
export { type ArchiveOpenOptions, EXPECTED_BLOBS_ANNOTATION, OciArchiveTarget } from "./oci.ts";
// Re-exported so that this module's documentation is complete on its own.
export type { ArchiveReference } from "../ref/mod.ts";
export type { CallOptions, Closer, Target } from "../oci/target.ts";
export type { Descriptor, Platform } from "../oci/types.ts";
export type { Digest } from "../digest/mod.ts";

/** Options of {@linkcode openArchiveTarget}. */
export interface OpenArchiveOptions {
  /** Open for writing: a missing file is created on `close()`. */
  create?: boolean;
  /**
   * For a `docker-archive:` opened for writing: the most bytes the image's layers may
   * decompress to. Default {@linkcode DEFAULT_MAX_EXTRACT_BYTES}.
   */
  maxExtractSize?: number;
}

/**
 * Opens the archive an `oci-archive:` or `docker-archive:` reference names. A
 * `docker-archive:FILE:NAME:TAG` target keeps NAME, so that the reference's bare tag (what
 * `referenceString` gives) resolves and pushes as `NAME:TAG`.
 *
 * Close the target with `close()` when done: that is when a written archive is written. After
 * a failed copy, `discard()` drops what was pushed instead.
 *
 * @throws {NotFoundError} when the file does not exist and `create` is not set.
 * @throws {UnsafeContentError} when the archive is unsafe to read (see the targets).
 * @example
 * ```ts
 * import { openArchiveTarget } from "./mod.ts";
 * import { parseArchiveReference } from "../ref/mod.ts";
 * const ref = parseArchiveReference("docker-archive:out.tar:app:v1");
 * const archive = await openArchiveTarget(ref, { create: true });
 * // …push blobs, then the manifest with the tag ["v1"]…
 * await archive.close();
 * ```
 */
export async function openArchiveTarget(
  reference: ArchiveReference,
  options: OpenArchiveOptions = {},
): Promise<OciArchiveTarget | DockerArchiveTarget> {
  if (reference.format === "oci") {
    return await OciArchiveTarget.open(reference.path, { create: options.create });
  }
  return await DockerArchiveTarget.open(reference.path, {
    create: options.create,
    maxExtractSize: options.maxExtractSize,
    name: reference.name,
  });
}
