/**
 * Media types of the OCI image-spec and of Docker's schema 2.
 *
 * @example
 * ```ts
 * import { MediaType } from "./mediatypes.ts";
 * console.log(MediaType.OciManifest); // "application/vnd.oci.image.manifest.v1+json"
 * ```
 * @module
 */

/** The media types ocisync reads and writes. */
export const MediaType = {
  OciManifest: "application/vnd.oci.image.manifest.v1+json",
  OciIndex: "application/vnd.oci.image.index.v1+json",
  OciConfig: "application/vnd.oci.image.config.v1+json",
  OciEmpty: "application/vnd.oci.empty.v1+json",
  OciLayer: "application/vnd.oci.image.layer.v1.tar",
  OciLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  OciLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  DockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  DockerConfig: "application/vnd.docker.container.image.v1+json",
  DockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

/**
 * Every manifest media type, for the `Accept` header of manifest requests.
 * Registries answer 404, or rewrite the manifest, when one is missing.
 */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaType.OciManifest,
  MediaType.OciIndex,
  MediaType.DockerManifest,
  MediaType.DockerManifestList,
];

/**
 * Whether a media type is an index (OCI index or Docker manifest list).
 *
 * @example
 * ```ts
 * import { isIndexMediaType } from "./mediatypes.ts";
 * isIndexMediaType("application/vnd.oci.image.index.v1+json"); // true
 * ```
 */
export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.OciIndex || mediaType === MediaType.DockerManifestList;
}
