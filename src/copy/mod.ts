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
import { IntegrityError } from "../errors/mod.ts";
import { targetBlob } from "../image/plan.ts";
import { selectManifest } from "../image/platform.ts";
import { isReferrerLister, type Target } from "../oci/target.ts";
import { type Descriptor, parseManifestOrIndex, type Platform } from "../oci/types.ts";
import type { BlobListener } from "../progress/mod.ts";
import { pushBlobs, type TransferStats } from "../push/write.ts";

/** Options of {@linkcode copyImage}. */
export interface CopyOptions {
  /** Copy only this platform of an index (the digest then changes). */
  platform?: Platform;
  /**
   * Also copy referrers: signatures, SBOMs and other manifests whose `subject` is the image,
   * from a source that lists them (a registry, a layout).
   */
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

/**
 * How many indexes may nest, the one copied included. Real images nest one or two (an index of
 * platforms, sometimes inside another); a deeper chain is hostile, and refused before anything is
 * written.
 */
export const MAX_INDEX_DEPTH = 8;

/**
 * Copies the image or index that `descriptor` names from `source` to `destination`.
 *
 * The whole tree is read first: each manifest and index once, however often indexes list it, and
 * indexes nested at most {@linkcode MAX_INDEX_DEPTH} deep. Then every blob is sent, and the
 * manifests last, children before the indexes that list them. So a refused tree writes nothing,
 * and a failed blob leaves no manifest, and no `index.json` entry in a layout. The manifests of
 * one copy are held in memory meanwhile (each at most 4 MiB).
 *
 * @throws {IntegrityError} when a manifest or index is invalid, or indexes nest too deep.
 * @example
 * ```ts
 * import { copyImage } from "./mod.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const from = await LayoutTarget.open("./bundle");
 * const to = await LayoutTarget.open("./mirror", { create: true });
 * const result = await copyImage(from, await from.resolve("v1"), to, ["v1"]);
 * console.log(result.manifests, result.stats.pushed);
 * ```
 */
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
  // Shared with the referrers, so that nothing is copied twice.
  const seen = new Set<string>();
  await copyTree(source, root, destination, tags, options, result, seen);
  result.digest = root.digest;
  if (options.referrers && isReferrerLister(source)) {
    // Listed in full before any is copied: a listing that fails half-way writes none of them.
    for (const referrer of await Array.fromAsync(source.referrers(root))) {
      await copyTree(source, referrer, destination, [], options, result, seen);
      result.referrers++;
    }
  }
  return result;
}

/** A manifest or index to copy, read and checked. */
interface PlannedManifest {
  /** Its descriptor, as its parent (or the caller) gives it. */
  descriptor: Descriptor;
  /** Its exact bytes, which keep its digest. */
  bytes: Uint8Array;
  /** Its media type, as the document says. */
  mediaType: string;
  /** The config and layers of an image manifest; none for an index. */
  blobs: Descriptor[];
}

/** Copies `root` and all it reaches that `seen` does not hold: blobs first, then manifests. */
async function copyTree(
  source: Target,
  root: Descriptor,
  destination: Target,
  tags: string[],
  options: CopyOptions,
  result: CopyResult,
  seen: Set<string>,
): Promise<void> {
  const planned = await planTree(source, root, seen);
  // The writer's blob stage: it mounts a blob of another repository of the same registry.
  const blobs = planned.flatMap((manifest) =>
    manifest.blobs.map((blob) => targetBlob(source, blob))
  );
  const stats = await pushBlobs(destination, blobs, {
    concurrency: options.concurrency,
    onBlob: options.onBlob,
  });
  for (const key of ["pushed", "skipped", "mounted", "bytes"] as const) {
    result.stats[key] += stats[key];
  }
  for (const { descriptor, bytes, mediaType } of planned) {
    await destination.pushManifest(
      { mediaType, digest: descriptor.digest, size: bytes.length },
      bytes,
      descriptor === root ? tags : [],
    );
    result.manifests++;
  }
}

/**
 * The manifests and indexes under `root` that `seen` does not hold yet, each once, children
 * before their parents (the order they are pushed in). `seen` gains them all.
 *
 * @throws {IntegrityError} when one is invalid, or indexes nest more than
 * {@linkcode MAX_INDEX_DEPTH} deep.
 */
async function planTree(
  source: Target,
  root: Descriptor,
  seen: Set<string>,
): Promise<PlannedManifest[]> {
  const planned: PlannedManifest[] = [];
  // Depth-first, one manifest in flight: `indexes` counts the indexes above `descriptor`.
  const visit = async (descriptor: Descriptor, indexes: number): Promise<void> => {
    if (seen.has(descriptor.digest)) return;
    seen.add(descriptor.digest);
    const bytes = await source.fetchManifest(descriptor);
    const parsed = parseManifestOrIndex(bytes, descriptor.mediaType);
    if (parsed.kind === "index") {
      if (indexes + 1 > MAX_INDEX_DEPTH) {
        throw new IntegrityError(
          `index ${descriptor.digest} is nested ${indexes + 1} indexes deep, under ` +
            `${root.digest}; ocisync copies at most ${MAX_INDEX_DEPTH}`,
        );
      }
      for (const child of parsed.index.manifests) await visit(child, indexes + 1);
    }
    const { mediaType } = parsed;
    const blobs = parsed.kind === "manifest"
      ? [parsed.manifest.config, ...parsed.manifest.layers]
      : [];
    planned.push({ descriptor, bytes, mediaType, blobs });
  };
  await visit(root, 0);
  return planned;
}
