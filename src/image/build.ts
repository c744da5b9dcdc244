/**
 * Assembles image and artifact documents: the config and the manifest, as
 * deterministic JSON, so that the same inputs give the same digests.
 *
 * @example
 * ```ts
 * import { imageConfig, jsonBlob } from "./build.ts";
 * const config = jsonBlob(imageConfig({
 *   platform: { os: "linux", architecture: "amd64" },
 *   created: "1970-01-01T00:00:00Z",
 *   layers: [],
 * }), "application/vnd.oci.image.config.v1+json");
 * console.log(config.descriptor.digest);
 * ```
 * @module
 */
import { type Digest, sha256Digest } from "../digest/mod.ts";
import { MediaType } from "../oci/mediatypes.ts";
import type { Descriptor, ImageConfig, Manifest, Platform } from "../oci/types.ts";

/** A layer as an image lists it. */
export interface ImageLayer {
  /** The blob's descriptor, as it goes into the manifest. */
  descriptor: Descriptor;
  /** The uncompressed digest, as it goes into the config. */
  diffId: Digest;
}

/**
 * A layer's entry in the config's history. It names no source, path or file: the same layer
 * must give the same config however it was supplied, a folder or a layer file of any name.
 */
export function historyEntry(created: string): { created: string; created_by: string } {
  return { created, created_by: "ocisync" };
}

/** What an image config is made of. */
export interface ImageConfigSpec {
  /** The platform written into the config. */
  platform: Platform;
  /** RFC 3339, e.g. from `SOURCE_DATE_EPOCH`. */
  created: string;
  /** The layers, from the base up. */
  layers: ImageLayer[];
  /** Config labels. */
  labels?: Record<string, string>;
}

/** A JSON document with its bytes and descriptor. */
export interface JsonBlob {
  /** The exact bytes that are stored and hashed. */
  bytes: Uint8Array;
  /** The descriptor of those bytes. */
  descriptor: Descriptor;
}

/** The empty config of artifacts: `{}`. */
export const EMPTY_CONFIG: JsonBlob = jsonBlob({}, MediaType.OciEmpty);

/**
 * Serialises a document as compact JSON and describes it.
 *
 * @example
 * ```ts
 * import { jsonBlob } from "./build.ts";
 * jsonBlob({}, "application/vnd.oci.empty.v1+json").descriptor.size; // 2
 * ```
 */
export function jsonBlob(document: unknown, mediaType: string): JsonBlob {
  const bytes = new TextEncoder().encode(JSON.stringify(document));
  return { bytes, descriptor: { mediaType, digest: sha256Digest(bytes), size: bytes.length } };
}

/**
 * An image config: platform, `rootfs.diff_ids` in layer order, one history
 * entry per layer, and sorted labels.
 */
export function imageConfig(spec: ImageConfigSpec): ImageConfig {
  return {
    created: spec.created,
    architecture: spec.platform.architecture,
    os: spec.platform.os,
    ...(spec.platform.variant ? { variant: spec.platform.variant } : {}),
    config: spec.labels && Object.keys(spec.labels).length ? { Labels: sorted(spec.labels) } : {},
    rootfs: { type: "layers", diff_ids: spec.layers.map((l) => l.diffId) },
    history: spec.layers.map(() => historyEntry(spec.created)),
  };
}

/** An OCI image manifest for a config and layers. */
export function imageManifest(
  config: Descriptor,
  layers: Descriptor[],
  annotations?: Record<string, string>,
): Manifest {
  return {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config,
    layers,
    ...(annotations && Object.keys(annotations).length ? { annotations: sorted(annotations) } : {}),
  };
}

/**
 * An artifact manifest in the ORAS style: `artifactType`, the empty config,
 * and one layer per file.
 */
export function artifactManifest(
  artifactType: string,
  layers: Descriptor[],
  annotations?: Record<string, string>,
): Manifest {
  return { ...imageManifest(EMPTY_CONFIG.descriptor, layers, annotations), artifactType };
}

/**
 * The `created` time for reproducible images: `SOURCE_DATE_EPOCH` seconds,
 * or the epoch.
 *
 * @example
 * ```ts
 * import { createdAt } from "./build.ts";
 * createdAt(0); // "1970-01-01T00:00:00Z"
 * ```
 */
export function createdAt(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace(/\.000Z$/, "Z");
}

/**
 * A copy of a string map with its keys in code-unit order, so that labels and
 * annotations serialise the same whatever order they were given in.
 *
 * @example
 * ```ts
 * import { sorted } from "./build.ts";
 * Object.keys(sorted({ b: "1", a: "2" })); // ["a", "b"]
 * ```
 */
export function sorted(map: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0));
}
