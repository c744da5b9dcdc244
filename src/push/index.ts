/**
 * Multi-platform images: a base index read platform by platform
 * ({@linkcode openBaseIndex}), the same layers appended to each of its
 * platforms ({@linkcode appendToIndex}, for `push --base IMAGE --platform
 * all`), and an index plan written ({@linkcode writeIndexPlan}): each
 * platform's image through `writePlan`, untagged, then the index under the
 * tags. A blob shared by several manifests (a code layer) is sent once: the
 * writer skips what the target already has.
 *
 * @example
 * ```ts
 * import { appendToIndex, openBaseIndex, writeIndexPlan } from "./index.ts";
 * import { closeTarget, openTarget } from "../target/mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const base = await openBaseIndex(parseReference("docker.io/library/python:3.12-slim"));
 * const plan = await appendToIndex(base, [], {
 *   platforms: "all",
 *   created: "1970-01-01T00:00:00Z",
 *   edits: { env: ["PYTHONPATH=/opt/ocisync/deps"] },
 * });
 * const target = await openTarget(parseReference("localhost:5000/app:v1"), { create: true });
 * const result = await writeIndexPlan(target, plan, ["v1"]);
 * console.log(result.digest, result.manifests.map((m) => m.digest));
 * await closeTarget(target);
 * await closeTarget(base.target);
 * ```
 * @module
 */
import type { Digest } from "../digest/mod.ts";
import { IntegrityError, NotFoundError, UsageError } from "../errors/mod.ts";
import {
  type AppendOptions,
  appendPlan,
  baseAnnotations,
  type BaseImage,
} from "../image/append.ts";
import { fetchConfigBytes } from "../image/config.ts";
import { type PreparedLayer, targetBlob } from "../image/blob.ts";
import { type ImagePlan, type IndexPlan, indexPlan } from "../image/plan.ts";
import {
  formatPlatform,
  isPlatformEntry,
  normalizePlatform,
  selectManifest,
} from "../image/platform.ts";
import type { Target } from "../oci/target.ts";
import { type Descriptor, type Index, parseManifestOrIndex, type Platform } from "../oci/types.ts";
import { fetchBase, fetchBaseEntry } from "../pull/read.ts";
import { formatReference, type Reference } from "../ref/mod.ts";
import { closeTarget, openTarget, type OpenTargetOptions, resolveToRead } from "../target/mod.ts";
import {
  checkDestinationDigest,
  type PushResult,
  type TransferStats,
  type WriteOptions,
  writePlan,
} from "./write.ts";

/** A base read for a multi-platform append: its index (or its one image), and its platforms. */
export interface OpenedBaseIndex {
  /** The base's reference, for the `org.opencontainers.image.base.name` annotation. */
  name: string;
  /** What the reference resolved to: the index, or a single image's manifest. */
  descriptor: Descriptor;
  /** The index; absent for a single-platform base. */
  index?: Index;
  /**
   * The platforms of its images, in the index's order: the entries that are images
   * (attestations and entries without a platform left out), or a single image's own.
   */
  platforms: Platform[];
  /** The index's other entries: attestations (`vnd.docker.reference.type`, `unknown/unknown`). */
  otherEntries: Descriptor[];
  /** The target the base's layers are read or mounted from; close it when done. */
  target: Target;
  /** The target its manifests and configs are read through: `target`, or a cache over it. */
  documents: Target;
  /**
   * The base image of `platform` (an index's entry for it, chosen as `pull --platform` chooses).
   *
   * @throws {NotFoundError} naming the platform and the base's platforms, when it has none.
   */
  image(platform: Platform): Promise<BaseImage>;
  /** The base image of each of its platforms, in order. */
  images(): Promise<BaseImage[]>;
}

/**
 * Opens the target of a base reference and reads its index (or its single image), without
 * choosing a platform: each is read when asked for. `documents`, when given, wraps the target
 * for reading manifests and configs only (a cache, say), as `openBase` of `../pull/read.ts`
 * does; layers are always read or mounted from the target itself.
 *
 * @example
 * ```ts
 * import { openBaseIndex } from "./index.ts";
 * import { closeTarget } from "../target/mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const base = await openBaseIndex(parseReference("localhost:5000/base/python:3.12"));
 * console.log(base.platforms);
 * await closeTarget(base.target);
 * ```
 */
export async function openBaseIndex(
  reference: Reference,
  options: OpenTargetOptions = {},
  documents?: (target: Target) => Target,
): Promise<OpenedBaseIndex> {
  const target = await openTarget(reference, options);
  try {
    const reader = documents?.(target) ?? target;
    const name = formatReference(reference);
    const descriptor = await resolveToRead(reader, reference);
    const parsed = parseManifestOrIndex(
      await reader.fetchManifest(descriptor),
      descriptor.mediaType,
    );
    // The layers are read, or mounted, from the target itself, not through `documents`.
    const fromTarget = (base: BaseImage): BaseImage => ({
      ...base,
      blob: (layer) => targetBlob(target, layer),
    });
    if (parsed.kind === "manifest") {
      const single = fromTarget(await fetchBase(reader, name, descriptor));
      const own = platformOf(single);
      return {
        name,
        descriptor,
        platforms: [own],
        otherEntries: [],
        target,
        documents: reader,
        image: (platform) => {
          const [want, have] = [platform, own].map((p) => formatPlatform(p));
          if (!samePlatform(platform, own)) {
            return Promise.reject(
              new NotFoundError(`the base ${name} is a ${have} image: it has no ${want} image`, {
                hint: `build for ${have}, or choose a base that has ${want}`,
              }),
            );
          }
          return Promise.resolve(single);
        },
        images: () => Promise.resolve([single]),
      };
    }
    const { index } = parsed;
    const entries = index.manifests.filter(isPlatformEntry);
    const read = async (entry: Descriptor) => fromTarget(await fetchBaseEntry(reader, name, entry));
    return {
      name,
      descriptor,
      index,
      platforms: entries.map((entry) => entry.platform!),
      otherEntries: index.manifests.filter((entry) => !isPlatformEntry(entry)),
      target,
      documents: reader,
      image: async (platform) => {
        let entry: Descriptor;
        try {
          entry = selectManifest(entries, platform);
        } catch (error) {
          if (!(error instanceof NotFoundError)) throw error;
          throw missingPlatforms(name, [platform], entries.map((e) => e.platform!));
        }
        return await read(entry);
      },
      images: async () => {
        refuseTwice(name, entries);
        return await Promise.all(entries.map(read));
      },
    };
  } catch (error) {
    await closeTarget(target);
    throw error;
  }
}

/**
 * Throws unless the base has an image for each of `platforms`, before anything is built or
 * sent.
 *
 * @throws {NotFoundError} naming the platforms it lacks and those it has.
 * @example
 * ```ts
 * import { openBaseIndex, requireBasePlatforms } from "./index.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const base = await openBaseIndex(parseReference("localhost:5000/base/python:3.12"));
 * requireBasePlatforms(base, [{ os: "linux", architecture: "arm64" }]);
 * ```
 */
export function requireBasePlatforms(base: OpenedBaseIndex, platforms: Platform[]): void {
  const missing = platforms.filter((wanted) => {
    try {
      selectManifest(base.platforms.map((platform) => ({ ...FAKE, platform })), wanted);
      return false;
    } catch (error) {
      if (error instanceof NotFoundError) return true;
      throw error;
    }
  });
  if (missing.length > 0) throw missingPlatforms(base.name, missing, base.platforms);
}

const FAKE: Descriptor = { mediaType: "", digest: `sha256:${"0".repeat(64)}`, size: 0 };

function missingPlatforms(name: string, missing: Platform[], has: Platform[]): NotFoundError {
  const list = (platforms: Platform[]) => platforms.map(formatPlatform).join(", ") || "none";
  return new NotFoundError(
    `the base ${name} has no image for ${list(missing)}; it has ${list(has)}`,
    { hint: "build for the base's platforms only, or choose a base that has them all" },
  );
}

function samePlatform(a: Platform, b: Platform): boolean {
  try {
    selectManifest([{ ...FAKE, platform: b }], a);
    return true;
  } catch {
    return false;
  }
}

/**
 * Throws when two of a base index's image entries are of one platform: its images, all taken,
 * would make an index that cannot tell them apart. (One chosen platform takes the first, as
 * the image-spec says a client does.)
 */
function refuseTwice(name: string, entries: Descriptor[]): void {
  const seen = new Set<string>();
  for (const { platform } of entries) {
    const key = JSON.stringify([
      formatPlatform(normalizePlatform(platform!)),
      platform!["os.version"] ?? "",
      [...platform!["os.features"] ?? []].sort(),
    ]);
    if (seen.has(key)) {
      throw new IntegrityError(
        `the base ${name} lists two images for ${formatPlatform(platform!)}: an index of ` +
          "both would not tell them apart",
        {
          hint: "name the platforms (the first image of each is taken), or choose a base that " +
            "lists each once",
        },
      );
    }
    seen.add(key);
  }
}

/** The platform of a base image: its index entry's, else its config's. */
function platformOf(base: BaseImage): Platform {
  if (base.descriptor.platform) return base.descriptor.platform;
  const { os, architecture, variant } = base.config;
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** Options of {@linkcode appendToIndex}. */
export interface AppendToIndexOptions extends AppendOptions {
  /**
   * The platforms to append to: `"all"` of the base's (`--platform all`), or those listed,
   * each of which the base must have.
   */
  platforms: "all" | Platform[];
  /**
   * Keep the base index's other entries (`--keep-index-entries`): attestations, written
   * beside the new images as they are (they still describe the base's images). Default false:
   * they are left out.
   */
  keepIndexEntries?: boolean;
  /**
   * The index's annotations. Default: the base's name and its index's digest
   * (`org.opencontainers.image.base.name`, `.base.digest`), with `annotations` over them.
   */
  indexAnnotations?: Record<string, string>;
}

/**
 * Appends the same `layers` to each chosen platform's image of a base index, as `appendPlan`
 * of `../image/append.ts` appends to one, and plans the index of the results, in the base
 * index's order. Each image's entry keeps the base entry's platform. Write the plan with
 * {@linkcode writeIndexPlan}; nothing is sent here (a dry run stops at the plan).
 *
 * @throws {NotFoundError} before anything is planned, when the base lacks a listed platform.
 * @throws {UsageError} for an edit that is not valid, or an empty list of platforms.
 * @example
 * ```ts
 * import { appendToIndex, openBaseIndex } from "./index.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const base = await openBaseIndex(parseReference("localhost:5000/base/python:3.12"));
 * const plan = await appendToIndex(base, [], {
 *   platforms: [{ os: "linux", architecture: "amd64" }, { os: "linux", architecture: "arm64" }],
 *   created: "1970-01-01T00:00:00Z",
 * });
 * console.log(plan.index.descriptor.digest);
 * ```
 */
export async function appendToIndex(
  baseIndex: OpenedBaseIndex,
  layers: PreparedLayer[],
  options: AppendToIndexOptions,
): Promise<IndexPlan> {
  const { platforms, keepIndexEntries, indexAnnotations, ...append } = options;
  if (platforms !== "all") {
    if (platforms.length === 0) throw new UsageError("no platform to append to");
    requireBasePlatforms(baseIndex, platforms);
  }
  // In the base index's order, whatever order the platforms were named in: one set of
  // platforms, one index digest, as `copy --platform` gives.
  const position = (base: BaseImage) =>
    baseIndex.index?.manifests.findIndex((entry) => entry.digest === base.descriptor.digest) ?? 0;
  const bases = platforms === "all"
    ? await baseIndex.images()
    : (await Promise.all(platforms.map((platform) => baseIndex.image(platform))))
      .sort((a, b) => position(a) - position(b));
  const images = bases.map((base) => ({
    ...appendPlan(base, layers, append),
    entry: { platform: platformOf(base) },
  }));
  const kept = keepIndexEntries ? await keptEntries(baseIndex) : [];
  return indexPlan(
    [...images, ...kept],
    indexAnnotations ?? baseIndexAnnotations(baseIndex, append.annotations),
  );
}

/**
 * The annotations of an index built on a base: its name and digest (the index's, or the single
 * image's), then `annotations` over them.
 *
 * @example
 * ```ts
 * import { baseIndexAnnotations, openBaseIndex } from "./index.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const base = await openBaseIndex(parseReference("localhost:5000/base/python:3.12"));
 * baseIndexAnnotations(base, { "org.opencontainers.image.revision": "abc" });
 * ```
 */
export function baseIndexAnnotations(
  base: Pick<OpenedBaseIndex, "name" | "descriptor">,
  annotations: Record<string, string> = {},
): Record<string, string> {
  return { ...baseAnnotations(base), ...annotations };
}

/** Plans of the base index's other entries, to write as they are; nested indexes are left out. */
async function keptEntries(base: OpenedBaseIndex): Promise<ImagePlan[]> {
  const reader = base.documents;
  const plans: ImagePlan[] = [];
  for (const entry of base.otherEntries) {
    const bytes = await reader.fetchManifest(entry);
    const parsed = parseManifestOrIndex(bytes, entry.mediaType);
    if (parsed.kind !== "manifest") continue;
    const { manifest } = parsed;
    const config = await fetchConfigBytes(reader, manifest.config).catch((error) => {
      throw error instanceof IntegrityError
        ? new IntegrityError(`base ${base.name}, entry ${entry.digest}: ${error.message}`, {
          cause: error,
        })
        : error;
    });
    plans.push({
      manifest: {
        bytes,
        descriptor: { mediaType: entry.mediaType, digest: entry.digest, size: entry.size },
      },
      config: { bytes: config, descriptor: manifest.config },
      blobs: manifest.layers.map((layer) => targetBlob(base.target, layer)),
      entry: {
        ...(entry.platform ? { platform: entry.platform } : {}),
        ...(entry.annotations ? { annotations: entry.annotations } : {}),
        ...(entry.artifactType ? { artifactType: entry.artifactType } : {}),
      },
    });
  }
  return plans;
}

/** What {@linkcode writeIndexPlan} did. */
export interface IndexPushResult {
  /** The index's digest. */
  digest: Digest;
  /** The index's descriptor. */
  index: Descriptor;
  /** Each manifest's write, in the index's order. */
  manifests: PushResult[];
  /** What was sent and skipped over all of them: a shared blob counts once as sent. */
  stats: TransferStats;
}

/**
 * Writes an index plan to `target`: each manifest's blobs, config and manifest through
 * `writePlan`, by digest only, one manifest after the other (so that a blob several share is
 * sent once, and found on the target by the next), then the index under each of `tags`. A
 * reader never sees the index before all its manifests.
 *
 * @throws the first write's error; the index is then not written.
 * @throws {IntegrityError} before anything is sent, when `destinationDigest` is not the index's
 * digest.
 * @example
 * ```ts
 * import { writeIndexPlan } from "./index.ts";
 * import { imagePlan, indexPlan } from "../image/plan.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const created = "1970-01-01T00:00:00Z";
 * const plan = indexPlan([
 *   imagePlan([], { platform: { os: "linux", architecture: "amd64" }, created }),
 *   imagePlan([], { platform: { os: "linux", architecture: "arm64" }, created }),
 * ]);
 * const target = await LayoutTarget.open("./bundle", { create: true });
 * await writeIndexPlan(target, plan, ["v1"]);
 * ```
 */
export async function writeIndexPlan(
  target: Target,
  plan: IndexPlan,
  tags: string[],
  options: WriteOptions = {},
): Promise<IndexPushResult> {
  const { destinationDigest, ...manifestOptions } = options;
  checkDestinationDigest(target, plan.index.descriptor, destinationDigest);
  const manifests: PushResult[] = [];
  const stats: TransferStats = { pushed: 0, skipped: 0, mounted: 0, bytes: 0 };
  for (const image of plan.manifests) {
    const result = await writePlan(target, image, [], manifestOptions);
    manifests.push(result);
    for (const key of Object.keys(stats) as (keyof TransferStats)[]) {
      stats[key] += result.stats[key];
    }
  }
  options.signal?.throwIfAborted();
  await target.pushManifest(plan.index.descriptor, plan.index.bytes, tags, {
    signal: options.signal,
  });
  return {
    digest: plan.index.descriptor.digest,
    index: plan.index.descriptor,
    manifests,
    stats,
  };
}
