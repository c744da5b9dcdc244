/**
 * Copies images between any two {@linkcode Target}s: registry to registry,
 * registry to layout and back, the air-gapped workflow.
 *
 * Manifest bytes are copied unchanged, so digests are preserved. An index is
 * copied with every platform, unless a platform is chosen: then only that
 * platform's manifest is copied, and the destination gets its digest rather
 * than the index's. Blobs the destination has are skipped; within one
 * registry they are mounted rather than sent again.
 *
 * @example
 * ```ts
 * import { copyImage } from "./mod.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const from = await LayoutTarget.open("./bundle");
 * const to = await LayoutTarget.open("./mirror", { create: true });
 * const result = await copyImage(from, await from.resolve("v1"), to, ["v1"]);
 * console.log(result.digest, result.stats.pushed);
 * ```
 * @module
 */
import { selectManifest } from "../image/platform.ts";
import type { Target } from "../oci/target.ts";
import { type Descriptor, parseManifestOrIndex, type Platform } from "../oci/types.ts";
import type { BlobListener } from "../progress/mod.ts";
import { type BlobSource, pushBlobs, type TransferStats } from "../push/mod.ts";
import { RegistryTarget } from "../remote/registry.ts";

/** Options of {@linkcode copyImage}. */
export interface CopyOptions {
  /** Copy only this platform of an index (the digest then changes). */
  platform?: Platform;
  /** Also copy referrers: signatures, SBOMs and other manifests whose `subject` is the image. */
  referrers?: boolean;
  /** Blobs transferred at once. Default 4. */
  concurrency?: number;
  /** Progress events. */
  onBlob?: BlobListener;
}

/** What a copy did. */
export interface CopyResult {
  /** The digest the destination has: the source's, unless a platform was chosen. */
  digest: Descriptor["digest"];
  /** Manifests and indexes written. */
  manifests: number;
  /** Referrers copied. */
  referrers: number;
  /** Blob transfers. */
  stats: TransferStats;
}

/** Copies the image or index that `descriptor` names from `source` to `destination`. */
export async function copyImage(
  source: Target,
  descriptor: Descriptor,
  destination: Target,
  tags: string[],
  options: CopyOptions = {},
): Promise<CopyResult> {
  const result: CopyResult = {
    digest: descriptor.digest,
    manifests: 0,
    referrers: 0,
    stats: { pushed: 0, skipped: 0, mounted: 0, bytes: 0 },
  };
  let root = descriptor;
  if (options.platform) {
    const parsed = parseManifestOrIndex(
      await source.fetchManifest(descriptor),
      descriptor.mediaType,
    );
    if (parsed.kind === "index") root = selectManifest(parsed.index.manifests, options.platform);
  }
  await copyManifest(source, root, destination, tags, options, result);
  result.digest = root.digest;
  if (options.referrers && source instanceof RegistryTarget) {
    for (const referrer of await source.referrers(root.digest)) {
      await copyManifest(source, referrer, destination, [], options, result);
      result.referrers++;
    }
  }
  return result;
}

async function copyManifest(
  source: Target,
  descriptor: Descriptor,
  destination: Target,
  tags: string[],
  options: CopyOptions,
  result: CopyResult,
): Promise<void> {
  const bytes = await source.fetchManifest(descriptor);
  const parsed = parseManifestOrIndex(bytes, descriptor.mediaType);
  if (parsed.kind === "index") {
    for (const child of parsed.index.manifests) {
      await copyManifest(source, child, destination, [], options, result);
    }
  } else {
    const { manifest } = parsed;
    const blobs = [manifest.config, ...manifest.layers].map((blob) =>
      blobSource(source, destination, blob)
    );
    const stats = await pushBlobs(destination, blobs, options.concurrency ?? 4, options.onBlob);
    for (const key of ["pushed", "skipped", "mounted", "bytes"] as const) {
      result.stats[key] += stats[key];
    }
  }
  await destination.pushManifest(
    { mediaType: parsed.mediaType, digest: descriptor.digest, size: bytes.length },
    bytes,
    tags,
  );
  result.manifests++;
}

/**
 * A blob read from `source`, mounted instead when both ends are one registry.
 *
 * @example
 * ```ts
 * import { blobSource } from "./mod.ts";
 * import { pushBlobs } from "../push/mod.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const from = await LayoutTarget.open("./bundle");
 * const to = await LayoutTarget.open("./mirror", { create: true });
 * const layer = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
 *   digest: "sha256:" + "0".repeat(64) as const, size: 1 };
 * await pushBlobs(to, [blobSource(from, to, layer)], 4);
 * ```
 */
export function blobSource(
  source: Target,
  destination: Target,
  descriptor: Descriptor,
): BlobSource {
  const sameRegistry = source instanceof RegistryTarget && destination instanceof RegistryTarget &&
    source.registry === destination.registry && source.repository !== destination.repository;
  return {
    descriptor,
    open: () => source.fetchBlob(descriptor),
    ...(sameRegistry ? { mount: () => destination.mountBlob(descriptor, source.repository) } : {}),
  };
}
