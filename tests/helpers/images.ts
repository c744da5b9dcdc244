/**
 * Test images built by hand: blobs with their descriptors, and the config and manifest of a
 * single-platform image, with digests from `node:crypto` (./hash.ts), never ocisync's own.
 *
 * @module
 */
import { MediaType } from "../../src/oci/mediatypes.ts";
import type { Descriptor } from "../../src/oci/types.ts";
import { sha256Hex } from "./hash.ts";

/** A blob and its descriptor. */
export interface Blob {
  descriptor: Descriptor;
  bytes: Uint8Array;
}

/** `bytes` as a blob of `mediaType`. */
export function blob(mediaType: string, bytes: Uint8Array): Blob {
  return {
    descriptor: { mediaType, digest: `sha256:${sha256Hex(bytes)}`, size: bytes.length },
    bytes,
  };
}

/** `value`, as JSON, as a blob of `mediaType`. */
export function jsonBlob(mediaType: string, value: unknown): Blob {
  return blob(mediaType, new TextEncoder().encode(JSON.stringify(value)));
}

/**
 * The config and manifest of a linux/amd64 image of `layers`, whose uncompressed digests are
 * `diffIds`; `config` is the config's own `config` (labels, command).
 */
export function imageDocuments(
  layers: Blob[],
  diffIds: string[],
  config: Record<string, unknown>,
): { config: Blob; manifest: Blob } {
  const configBlob = jsonBlob(MediaType.OciConfig, {
    architecture: "amd64",
    os: "linux",
    config,
    rootfs: { type: "layers", diff_ids: diffIds },
  });
  const manifest = jsonBlob(MediaType.OciManifest, {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: configBlob.descriptor,
    layers: layers.map((layer) => layer.descriptor),
  });
  return { config: configBlob, manifest };
}
