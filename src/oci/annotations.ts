/**
 * The annotation keys ocisync writes and reads, from the image-spec and from ORAS. They live
 * here, with the other names of the formats, because builders write them and pullers read them:
 * both sides import them from below, never from each other.
 *
 * @example
 * ```ts
 * import { TITLE_ANNOTATION } from "./annotations.ts";
 * const layer = { annotations: { [TITLE_ANNOTATION]: "config/app.yaml" } };
 * console.log(layer.annotations[TITLE_ANNOTATION]);
 * ```
 * @module
 */

/** The image-spec's annotation that names an artifact's file: the path a puller writes. */
export const TITLE_ANNOTATION = "org.opencontainers.image.title";
/** ORAS: this tar+gzip blob is a packed directory. */
export const ORAS_UNPACK_ANNOTATION = "io.deis.oras.content.unpack";
/** ORAS: the digest of a packed directory's uncompressed tar. */
export const ORAS_DIGEST_ANNOTATION = "io.deis.oras.content.digest";
/** The image-spec's annotation naming the base image. */
export const BASE_NAME_ANNOTATION = "org.opencontainers.image.base.name";
/** The image-spec's annotation holding the base image's manifest digest. */
export const BASE_DIGEST_ANNOTATION = "org.opencontainers.image.base.digest";
