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
import { sha256DigestAsync } from "../digest/verify.ts";
import { IntegrityError, NotFoundError, UsageError } from "../errors/mod.ts";
import { targetBlob } from "../image/blob.ts";
import { selectManifest } from "../image/platform.ts";
import { MediaType } from "../oci/mediatypes.ts";
import {
  collectReferrers,
  isDigestTag,
  referrersFallbackTag,
  signatureTag,
} from "../oci/referrers.ts";
import { type CallOptions, isReferrerLister, type Target } from "../oci/target.ts";
import { type Descriptor, parseManifestOrIndex, type Platform } from "../oci/types.ts";
import type { BlobListener } from "../progress/mod.ts";
import type { ImageVerifier, VerifiedImage } from "../pull/read.ts";
import { checkDestinationDigest, pushBlobs, type TransferStats } from "../push/write.ts";
import { formatReference, type Reference } from "../ref/mod.ts";
import {
  checkSeveralSources,
  checkTags,
  copyDestinationTags,
  resolveToRead,
  type Session,
} from "../target/mod.ts";

/** Options of {@linkcode copyImage}. */
export interface CopyOptions {
  /** Copy only this platform of an index (the digest then changes). */
  platform?: Platform;
  /**
   * Copy only these platforms of an index: their manifests, and a reduced index that lists
   * them alone (its annotations and the kept entries unchanged), whose digest is then new. One
   * platform is as {@linkcode CopyOptions.platform}; a source that is not an index is copied
   * whole.
   */
  platforms?: Platform[];
  /**
   * Digests of blobs (configs and layers) to leave out: the other side has them. Only for a
   * destination that can record them as expected ({@linkcode BlobExpecter}, an
   * `oci-archive:`); see {@linkcode collectBlobs}.
   */
  skipBlobs?: ReadonlySet<string>;
  /**
   * Also copy referrers: signatures, SBOMs and other manifests whose `subject` is the image,
   * from a source that lists them (a registry, a layout).
   */
  referrers?: boolean;
  /**
   * Also copy the image's signatures, so that the destination verifies too: the classic
   * `sha256-<hex>.sig` manifest (tagged so) with its blobs, and the Sigstore bundle referrers.
   * Where the destination does not list a copied referrer (a registry without the referrers
   * API), its `sha256-<hex>` fallback index is written, keeping the entries it had.
   */
  signatures?: boolean;
  /**
   * Verify a signature at the source before anything is copied (`Verifier` of
   * `../trust/verifier.ts`). The copy then uses the digest that verified: the index's, or the
   * chosen platform's manifest's alone when only it is signed. With several platforms and no
   * valid signature of the index, each platform's manifest must verify, and the reduced index
   * lists them. When one does not, it throws (a `SignatureError`, exit 8 in the CLI) and nothing
   * is written.
   */
  verifier?: ImageVerifier;
  /** Blobs transferred at once. Default 4. */
  concurrency?: number;
  /** Progress events. */
  onBlob?: BlobListener;
  /**
   * The digest the destination reference names: the manifest (or index) the copy writes, after
   * any platform is chosen and any signature verified, must have it, or nothing is written.
   * See `checkDestinationDigest` of `../push/write.ts`.
   */
  destinationDigest?: string;
  /**
   * Stops the copy: every read, write, mount, referrer listing and manifest write gets it, so
   * that the one under way ends where its target can, and nothing more is written (no tag after
   * an abort); the abort's reason is thrown.
   */
  signal?: AbortSignal;
}

/** What a copy did. */
export interface CopyResult {
  /** The digest the destination has: the source's, unless a platform was chosen. */
  digest: Descriptor["digest"];
  /** With platforms chosen from an index: the source index's digest, which `digest` is not. */
  sourceIndex?: Descriptor["digest"];
  /** With `skipBlobs`: the blobs left out, that the destination lists as expected. */
  expected?: Descriptor[];
  /** Manifests and indexes written. */
  manifests: number;
  /** Referrers copied (bundles copied for `signatures` included). */
  referrers: number;
  /** With `signatures`: the signature manifests copied, `.sig` and bundle referrers. */
  signatures: number;
  /**
   * With a verifier: what it verified at the source (with several platforms verified one by
   * one, the first of them).
   */
  verified?: VerifiedImage;
  /**
   * With a verifier: every verification made, in order: the index's alone when its own
   * signature covered the copy, else each platform's manifest's (the first is `verified`).
   */
  verifications?: VerifiedImage[];
  /** Blob transfers. */
  stats: TransferStats;
}

/**
 * A target that can hold an image without some of its blobs, listing them as expected on the
 * other side: an `oci-archive:` written as a delta.
 */
export interface BlobExpecter {
  /** Records blobs that are left out, and will be found where the archive is copied to. */
  expectBlobs(descriptors: Descriptor[]): void;
  /** The digests listed as expected (those of the archive as opened, and recorded since). */
  expectedBlobs(): ReadonlySet<string>;
}

/** Whether `target` is a {@linkcode BlobExpecter}. */
export function isBlobExpecter<T extends Target>(target: T): target is T & BlobExpecter {
  const t = target as unknown as Record<string, unknown>;
  return typeof t.expectBlobs === "function" && typeof t.expectedBlobs === "function";
}

/**
 * The digests of every manifest, index, config and layer that `roots` reach in `target`: what
 * a delta archive may leave out when the other side has `roots` already. Blobs a delta archive
 * lists as expected are included (the other side has them too).
 *
 * @example
 * ```ts
 * import { collectBlobs } from "./mod.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const there = await LayoutTarget.open("./bundle");
 * const digests = await collectBlobs(there, [await there.resolve("v1")]);
 * ```
 */
export async function collectBlobs(
  target: Target,
  roots: Descriptor[],
  options: CallOptions = {},
): Promise<Set<string>> {
  const seen = new Set<string>();
  const digests = new Set<string>();
  for (const root of roots) {
    for (const manifest of await planTree(target, root, seen, options.signal)) {
      digests.add(manifest.descriptor.digest);
      for (const blob of manifest.blobs) digests.add(blob.digest);
    }
  }
  return digests;
}

/** Sigstore bundles' media types (and referrer `artifactType`s) all start so. */
const BUNDLE_MEDIA_TYPE_PREFIX = "application/vnd.dev.sigstore.bundle";

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
 * one copy are held in memory meanwhile (each at most 4 MiB). With `referrers` or `signatures`,
 * `tags` go on last, after them, so that a failure on the way leaves the destination's tags as
 * they were.
 *
 * @throws {IntegrityError} when a manifest or index is invalid, indexes nest too deep, or the
 * digest to write is not `destinationDigest`.
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
    signatures: 0,
    stats: { pushed: 0, skipped: 0, mounted: 0, bytes: 0 },
  };
  const platforms = platformsOf(options);
  const { signal } = options;
  const call = { signal };
  let root = descriptor;
  if (options.verifier) {
    // Before anything is read for the copy: from here on, only the digests that verified.
    result.verifications = await verifySource(
      options.verifier,
      source,
      descriptor,
      platforms,
      signal,
    );
    result.verified = result.verifications[0];
    // With several platforms, the index is reduced to them below, whichever digests verified.
    root = platforms.length > 1 ? descriptor : result.verified.descriptor;
  }
  if (options.skipBlobs && !isBlobExpecter(destination)) {
    throw new UsageError(
      `${destination.name} cannot hold an image without its blobs: skip blobs only when ` +
        "writing an oci-archive",
    );
  }
  // Shared with the referrers, so that nothing is copied twice.
  const seen = new Set<string>();
  let reduced: ReducedIndex | undefined;
  if (platforms.length > 0) {
    const bytes = await source.fetchManifest(root, call);
    const parsed = parseManifestOrIndex(bytes, root.mediaType);
    if (parsed.kind === "index") {
      if (platforms.length === 1) {
        root = selectManifest(parsed.index.manifests, platforms[0]);
      } else {
        reduced = await reduceIndex(bytes, parsed.index.manifests, platforms, parsed.mediaType);
        result.sourceIndex = root.digest;
      }
    }
  }
  checkDestinationDigest(destination, reduced?.descriptor ?? root, options.destinationDigest);
  await checkExpectedBlobs(source, reduced ? reduced.children : [root], destination, signal);
  // With its referrers, the image is tagged last: a copy that fails on one of them leaves the
  // destination's tags as they were, not naming an image whose signatures did not come along.
  const withReferrers = options.referrers || options.signatures;
  const tagsNow = withReferrers ? [] : tags;
  let rootBytes: Uint8Array;
  if (reduced) {
    for (const child of reduced.children) {
      await copyTree(source, child, destination, [], options, result, seen);
    }
    root = reduced.descriptor;
    rootBytes = reduced.bytes;
    signal?.throwIfAborted();
    await destination.pushManifest(root, rootBytes, tagsNow, call);
    result.manifests++;
    seen.add(root.digest);
  } else {
    const bytes = await copyTree(source, root, destination, tagsNow, options, result, seen);
    rootBytes = bytes!; // `seen` was empty: the root was copied
  }
  result.digest = root.digest;
  const copied: Descriptor[] = [];
  if (withReferrers && isReferrerLister(source)) {
    // Listed in full before any is copied: a listing that fails half-way writes none of them.
    const listed = await collectReferrers(
      source.referrers(root, undefined, call),
      `referrers of ${root.digest} in ${source.name}`,
    );
    for (const referrer of listed) {
      const bundle = referrer.artifactType?.startsWith(BUNDLE_MEDIA_TYPE_PREFIX) ?? false;
      if (!options.referrers && !bundle) continue;
      if (!await refersTo(source, referrer, root, signal)) continue;
      await copyTree(source, referrer, destination, [], options, result, seen);
      copied.push(referrer);
      result.referrers++;
      if (bundle && options.signatures) result.signatures++;
    }
  }
  if (options.signatures) {
    const tag = signatureTag(root.digest);
    const signature = await resolveOrUndefined(source, tag, signal);
    if (signature) {
      seen.delete(signature.digest); // pushed again under its tag, even if copied already
      await copyTree(source, signature, destination, [tag], options, result, seen);
      result.signatures++;
    }
  }
  if (copied.length > 0) await listReferrers(destination, root, copied, signal);
  if (withReferrers && tags.length > 0) {
    signal?.throwIfAborted();
    await destination.pushManifest(root, rootBytes, tags, call);
  }
  return result;
}

/**
 * Whether the manifest `referrer` names `subject` as its subject: a listing, the fallback tag
 * that anyone who may push can write, can hold any manifest, which is no referrer of this image.
 */
async function refersTo(
  source: Target,
  referrer: Descriptor,
  subject: Descriptor,
  signal?: AbortSignal,
): Promise<boolean> {
  const bytes = await source.fetchManifest(referrer, { signal });
  const parsed = parseManifestOrIndex(bytes, referrer.mediaType);
  const named = parsed.kind === "manifest" ? parsed.manifest.subject : parsed.index.subject;
  return named?.digest === subject.digest;
}

/** The platforms a copy takes: `platforms`, or `platform`, or none (all of an index). */
function platformsOf(options: CopyOptions): Platform[] {
  return options.platforms ?? (options.platform ? [options.platform] : []);
}

/**
 * Verifies `descriptor` before a copy of `platforms` of it (none: all of it). The index's own
 * signature covers every platform. Without one, a platform's manifest signature vouches for that
 * platform alone, so with several each must verify on its own, or the verifier's refusal is
 * thrown. Returns every verification made: the index's, or each platform's in turn.
 *
 * @throws {SignatureError} (of `../trust/errors.ts`) when the index and a platform's manifest
 * have no valid signature.
 */
async function verifySource(
  verifier: ImageVerifier,
  source: Target,
  descriptor: Descriptor,
  platforms: Platform[],
  signal?: AbortSignal,
): Promise<VerifiedImage[]> {
  const [first, ...others] = platforms;
  const verified = [await verifier.verify(source, descriptor, { platform: first, signal })];
  if (verified[0].descriptor.digest === descriptor.digest) return verified;
  for (const platform of others) {
    verified.push(await verifier.verify(source, descriptor, { platform, signal }));
  }
  return verified;
}

/** One tag that {@linkcode copyTags} copied, or found already there. */
export interface CopiedTag {
  /** The tag, at the source and the destination. */
  tag: string;
  /** The digest the destination has. */
  digest: Descriptor["digest"];
  /** What the copy did; undefined when the destination had the tag at this digest already. */
  result?: CopyResult;
  /**
   * With a verifier, for a tag the destination had at this digest already: the verifications of
   * the source all the same, as {@linkcode CopyResult.verifications}.
   */
  verifications?: VerifiedImage[];
  /**
   * With a verifier: why the tag was left out. A tag named after a digest (`sha256-<hex>.sig`)
   * holds signatures or attestations, which are no image to verify; `signatures` copies the
   * `.sig` of each image that verified.
   */
  leftOut?: string;
}

/** Options of {@linkcode copyTags}: those of {@linkcode copyImage}, and a listener. */
export interface CopyTagsOptions extends CopyOptions {
  /** Called after each tag copied (not after one skipped). */
  onCopied?: (tag: string, result: CopyResult) => void;
}

/**
 * Copies each of `tags` from `source` to `destination`, in their order, each to the same tag; a
 * tag the destination has at the source's digest already is skipped. With a verifier, such a tag
 * is verified all the same (an image mirrored before without verification must not pass), and
 * tags named after a digest are left out ({@linkcode CopiedTag.leftOut}).
 *
 * @example
 * ```ts
 * import { copyTags } from "./mod.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const from = await LayoutTarget.open("./bundle");
 * const to = await LayoutTarget.open("./mirror", { create: true });
 * for (const { tag, result } of await copyTags(from, to, from.tags())) {
 *   console.log(tag, result ? "copied" : "up to date");
 * }
 * ```
 */
export async function copyTags(
  source: Target,
  destination: Target,
  tags: AsyncIterable<string> | Iterable<string>,
  options: CopyTagsOptions = {},
): Promise<CopiedTag[]> {
  const { onCopied, ...copyOptions } = options;
  const { signal } = copyOptions;
  const copied: CopiedTag[] = [];
  const { verifier } = copyOptions;
  for await (const tag of tags) {
    signal?.throwIfAborted();
    const descriptor = await source.resolve(tag, { signal });
    if (verifier && isDigestTag(tag)) {
      const leftOut = "named after a digest, it holds signatures or attestations, not an image";
      copied.push({ tag, digest: descriptor.digest, leftOut });
      continue;
    }
    const there = await resolveOrUndefined(destination, tag, signal);
    if (there?.digest === descriptor.digest) {
      const platforms = platformsOf(copyOptions);
      const verifications = verifier &&
        await verifySource(verifier, source, descriptor, platforms, signal);
      // What a copy would tag, as copyImage picks it: the manifest that verified, when only
      // the chosen platform's of an unsigned index did. An index tagged there by a copy
      // without verification is then not up to date: its other manifests never verified.
      const tagged = verifications && platforms.length <= 1
        ? verifications[0].descriptor.digest
        : descriptor.digest;
      if (tagged === there.digest) {
        copied.push({
          tag,
          digest: descriptor.digest,
          ...(verifications ? { verifications } : {}),
        });
        continue;
      }
    }
    const result = await copyImage(source, descriptor, destination, [tag], copyOptions);
    onCopied?.(tag, result);
    copied.push({ tag, digest: result.digest, result });
  }
  return copied;
}

/** The tags one source of a copy writes at the destination, for {@linkcode checkDistinctTags}. */
export interface SourceTags {
  /** The source, as the user wrote it. */
  source: string;
  /** The destination tags its images take. */
  tags: Iterable<string>;
}

/**
 * Checks that several sources copied into one destination write different tags: where two
 * wrote one tag, the later would take it from the earlier, and an image of the command line
 * would be lost from the destination's tags.
 *
 * @throws {UsageError} naming the tag and the two sources.
 * @example
 * ```ts
 * import { checkDistinctTags } from "./mod.ts";
 * checkDistinctTags([
 *   { source: "localhost:5000/app:v1", tags: ["v1"] },
 *   { source: "localhost:5000/tools:t1", tags: ["t1"] },
 * ]); // fine; "tools:v1" instead would be refused
 * ```
 */
export function checkDistinctTags(sources: SourceTags[]): void {
  const owners = new Map<string, string>();
  for (const { source, tags } of sources) {
    for (const tag of tags) {
      const owner = owners.get(tag);
      if (owner !== undefined && owner !== source) {
        throw new UsageError(
          `${owner} and ${source} would both be tagged "${tag}" at the destination: the later ` +
            "would take the tag from the earlier",
          { hint: "copy one of them in a command of its own, with a tag in DST" },
        );
      }
      owners.set(tag, source);
    }
  }
}

/** One source of a copy, resolved before anything is written; see {@linkcode planSources}. */
export interface PlannedSource {
  /** The source reference, and its target. */
  reference: Reference;
  target: Target;
  /** With `allTags`: the repository's tags, each copied to the same tag. */
  allTags?: string[];
  /** Otherwise: the image to copy. */
  descriptor?: Descriptor;
  /** Its tags at the destination (see `copyDestinationTags` of `../target/mod.ts`). */
  tags: string[];
  /** The digest the destination names, which the manifest written must have. */
  destinationDigest?: string;
  /** The tag that `pick` chose at the source. */
  picked?: string;
}

/** Options of {@linkcode planSources}. */
export interface PlanSourcesOptions {
  /** Copy every tag of each source repository. */
  allTags?: boolean;
  /** Chooses a source's image and tag (a tag policy); default: the reference's own. */
  pick?: (target: Target, reference: Reference) => Promise<{ tag: string; descriptor: Descriptor }>;
  /** Stops the resolving. */
  signal?: AbortSignal;
}

/**
 * Opens each source of a copy into `destination` through `session`, and resolves it: with
 * `allTags`, its tags; else its image, and the tags it takes at the destination. Then checks
 * that the sources fit the destination together ({@linkcode checkSeveralSources}), write
 * different tags ({@linkcode checkDistinctTags}), and only tags the destination can hold. Nothing
 * is written: a source that is missing, two that would take one tag, or a tag the destination
 * refuses, fail before the destination is opened.
 *
 * @throws {UsageError} when several sources do not fit the destination, two take one tag, or a
 * tag is one the destination cannot hold.
 * @throws {NotFoundError} when a source or its tag does not exist.
 * @example
 * ```ts
 * import { copySource, planSources } from "./mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * import { Session } from "../target/mod.ts";
 * await using session = new Session();
 * const sources = ["oci:./app:v1", "oci:./tools:t1"].map(parseReference);
 * const to = parseReference("oci-archive:release.tar");
 * const plans = await planSources(session, sources, to);
 * const archive = await session.open(to, { create: true });
 * for (const plan of plans) await copySource(plan, archive);
 * ```
 */
export async function planSources(
  session: Session,
  sources: Reference[],
  destination: Reference,
  options: PlanSourcesOptions = {},
): Promise<PlannedSource[]> {
  checkSeveralSources(sources, destination);
  const { signal } = options;
  const destinationDigest = destination.digest;
  const plans: PlannedSource[] = [];
  for (const reference of sources) {
    signal?.throwIfAborted();
    const target = await session.open(reference);
    if (options.allTags) {
      const allTags = await Array.fromAsync(target.tags({ signal }));
      plans.push({ reference, target, allTags, tags: [] });
    } else if (options.pick) {
      const { tag: picked, descriptor } = await options.pick(target, reference);
      const tags = copyDestinationTags(reference, destination, picked);
      plans.push({ reference, target, descriptor, tags, picked, destinationDigest });
    } else {
      const descriptor = await resolveToRead(target, reference, { signal });
      plans.push({
        reference,
        target,
        descriptor,
        tags: copyDestinationTags(reference, destination),
        destinationDigest,
      });
    }
  }
  checkDistinctTags(plans.map((plan) => ({
    source: formatReference(plan.reference),
    tags: plan.allTags ?? plan.tags,
  })));
  // Every tag at once: a registry's tag that a layout cannot hold stopped `--all-tags` part-way.
  for (const plan of plans) checkTags(destination, plan.allTags ?? plan.tags);
  return plans;
}

/** One image that {@linkcode copySource} copied, or found already there. */
export interface CopiedImage {
  /** The source reference it came from, as {@linkcode formatReference} writes it. */
  source: string;
  /** The tag written; none for a copy by digest. */
  tag?: string;
  /** The digest the destination has. */
  digest: Descriptor["digest"];
  /** The tag a tag policy picked at the source. */
  picked?: string;
  /** What the copy did; undefined when the destination had the tag at this digest already. */
  result?: CopyResult;
  /** See {@linkcode CopiedTag.verifications}. */
  verifications?: VerifiedImage[];
  /** See {@linkcode CopiedTag.leftOut}. */
  leftOut?: string;
}

/**
 * Copies what {@linkcode planSources} resolved for one source into `destination`: its image,
 * or with `allTags` each of its tags ({@linkcode copyTags}).
 *
 * @example
 * ```ts
 * import { copySource, planSources } from "./mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * import { Session } from "../target/mod.ts";
 * await using session = new Session();
 * const to = parseReference("oci:./mirror");
 * const [plan] = await planSources(session, [parseReference("oci:./bundle:v1")], to);
 * const [copied] = await copySource(plan, await session.open(to, { create: true }));
 * console.log(copied.tag, copied.digest); // v1 sha256:…
 * ```
 */
export async function copySource(
  plan: PlannedSource,
  destination: Target,
  options: CopyTagsOptions = {},
): Promise<CopiedImage[]> {
  const source = formatReference(plan.reference);
  if (plan.allTags) {
    const done = await copyTags(plan.target, destination, plan.allTags, options);
    return done.map((copied) => ({ source, ...copied }));
  }
  const result = await copyImage(plan.target, plan.descriptor!, destination, plan.tags, {
    ...options,
    destinationDigest: plan.destinationDigest,
  });
  const picked = plan.picked === undefined ? {} : { picked: plan.picked };
  return [{ source, tag: plan.tags[0], digest: result.digest, ...picked, result }];
}

/**
 * The digests of the blobs and manifests that any of `references` holds (see
 * {@linkcode collectBlobs}): an image's, when a reference names one; else those of every tag of
 * the repository, and of a layout's or archive's untagged entries. What a delta archive may
 * leave out.
 *
 * @example
 * ```ts
 * import { blobsOfReferences } from "./mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * import { Session } from "../target/mod.ts";
 * await using session = new Session();
 * const there = await blobsOfReferences(session, [parseReference("oci-archive:full.tar")]);
 * ```
 */
export async function blobsOfReferences(
  session: Session,
  references: Reference[],
  options: CallOptions = {},
): Promise<Set<string>> {
  const digests = new Set<string>();
  for (const reference of references) {
    options.signal?.throwIfAborted();
    const target = await session.open(reference);
    let roots: Descriptor[];
    if (reference.tag || reference.digest) {
      roots = [await resolveToRead(target, reference, options)];
    } else if ("listEntries" in target && typeof target.listEntries === "function") {
      roots = await (target.listEntries as () => Promise<Descriptor[]>)();
    } else {
      roots = [];
      for await (const tag of target.tags(options)) roots.push(await target.resolve(tag, options));
    }
    for (const digest of await collectBlobs(target, roots, options)) digests.add(digest);
  }
  return digests;
}

/** What `target` has at `tag`, or undefined when it has nothing there. */
async function resolveOrUndefined(
  target: Target,
  tag: string,
  signal?: AbortSignal,
): Promise<Descriptor | undefined> {
  try {
    return await target.resolve(tag, { signal });
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

/**
 * Makes `destination` list `referrers` as referrers of `subject`. A layout lists the manifests
 * pushed to it, and a registry with the referrers API its own; a registry without it (a 404, so
 * the listing read the fallback tag) is given the distribution-spec's fallback: the index tagged
 * `<algorithm>-<hex>`, which keeps the entries it had and gains the missing ones.
 */
async function listReferrers(
  destination: Target,
  subject: Descriptor,
  referrers: Descriptor[],
  signal?: AbortSignal,
): Promise<void> {
  if (!isReferrerLister(destination)) return;
  const call = { signal };
  // Digests only: the destination's descriptors may carry megabytes of annotations each.
  const listed = new Set<string>();
  for await (const referrer of destination.referrers(subject, undefined, call)) {
    listed.add(referrer.digest);
  }
  const missing = referrers.filter((d) => !listed.has(d.digest));
  if (missing.length === 0) return;
  const tag = referrersFallbackTag(subject.digest);
  let manifests: Descriptor[] = [];
  try {
    const existing = await destination.resolve(tag, call);
    const parsed = parseManifestOrIndex(
      await destination.fetchManifest(existing, call),
      existing.mediaType,
    );
    if (parsed.kind === "index") manifests = parsed.index.manifests;
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
  for (const referrer of missing) {
    if (manifests.some((d) => d.digest === referrer.digest)) continue;
    const { mediaType, digest, size, artifactType, annotations } = referrer;
    manifests.push({
      mediaType,
      digest,
      size,
      ...(artifactType ? { artifactType } : {}),
      ...(annotations ? { annotations } : {}),
    });
  }
  const bytes = new TextEncoder().encode(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }),
  );
  signal?.throwIfAborted();
  await destination.pushManifest(
    { mediaType: MediaType.OciIndex, digest: await sha256DigestAsync(bytes), size: bytes.length },
    bytes,
    [tag],
    call,
  );
}

/** An index reduced to some of its platforms. */
interface ReducedIndex {
  /** The new index's descriptor. */
  descriptor: Descriptor;
  /** Its bytes. */
  bytes: Uint8Array;
  /** The entries it keeps, in the source index's order. */
  children: Descriptor[];
}

/**
 * The index `bytes` with only the entries of `platforms` (each chosen as
 * {@linkcode selectManifest} chooses one): its other fields, and the kept entries' fields, as
 * they were.
 *
 * @throws {NotFoundError} when the index has no manifest for one of them.
 */
async function reduceIndex(
  bytes: Uint8Array,
  manifests: Descriptor[],
  platforms: Platform[],
  mediaType: string,
): Promise<ReducedIndex> {
  const wanted = new Set<string>(platforms.map((p) => selectManifest(manifests, p).digest));
  const raw = JSON.parse(new TextDecoder().decode(bytes)) as { manifests: { digest: string }[] };
  raw.manifests = raw.manifests.filter((entry) => wanted.has(entry.digest));
  const children = manifests.filter((d) => wanted.has(d.digest));
  const reduced = new TextEncoder().encode(JSON.stringify(raw));
  return {
    descriptor: { mediaType, digest: await sha256DigestAsync(reduced), size: reduced.length },
    bytes: reduced,
    children,
  };
}

/**
 * When `source` is a delta archive: checks, before anything is written, that every blob of
 * `roots` it lacks is one it lists as expected, and that `destination` has each of those.
 *
 * @throws {NotFoundError} naming the expected blobs `destination` lacks, or the blobs the
 * archive lacks without listing them.
 */
async function checkExpectedBlobs(
  source: Target,
  roots: Descriptor[],
  destination: Target,
  signal?: AbortSignal,
): Promise<void> {
  if (!isBlobExpecter(source)) return;
  const call = { signal };
  const expected = source.expectedBlobs();
  const seen = new Set<string>();
  const blobs = new Map<string, Descriptor>();
  for (const root of roots) {
    for (const manifest of await planTree(source, root, seen, signal)) {
      for (const blob of manifest.blobs) blobs.set(blob.digest, blob);
    }
  }
  const absent: string[] = [];
  const missing: string[] = [];
  for (const blob of blobs.values()) {
    if (await source.hasBlob(blob, call)) continue;
    if (!expected.has(blob.digest)) absent.push(blob.digest);
    else if (!await destination.hasBlob(blob, call)) missing.push(blob.digest);
  }
  if (absent.length > 0) {
    throw new NotFoundError(
      `${source.name} lacks ${absent.length} blob(s) it does not list as expected: ` +
        absent.join(", "),
    );
  }
  if (missing.length > 0) {
    throw new NotFoundError(
      `${source.name} is a delta: ${destination.name} lacks ${missing.length} blob(s) it ` +
        `expects there: ${missing.join(", ")}`,
      { hint: "copy the full archive (or the image the delta was made against) there first" },
    );
  }
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

/**
 * Copies `root` and all it reaches that `seen` does not hold: blobs first, then manifests.
 * Returns `root`'s bytes, or `undefined` when `seen` held it already.
 */
async function copyTree(
  source: Target,
  root: Descriptor,
  destination: Target,
  tags: string[],
  options: CopyOptions,
  result: CopyResult,
  seen: Set<string>,
): Promise<Uint8Array | undefined> {
  const { signal } = options;
  const planned = await planTree(source, root, seen, signal);
  const skip = options.skipBlobs;
  const left = new Map<string, Descriptor>();
  // The writer's blob stage: it mounts a blob of another repository of the same registry.
  const blobs = planned.flatMap((manifest) =>
    manifest.blobs.filter((blob) => {
      if (!skip?.has(blob.digest)) return true;
      left.set(blob.digest, blob);
      return false;
    }).map((blob) => targetBlob(source, blob, { signal }))
  );
  if (left.size > 0 && isBlobExpecter(destination)) {
    destination.expectBlobs([...left.values()]);
    result.expected = [...(result.expected ?? []), ...left.values()];
  }
  const stats = await pushBlobs(destination, blobs, {
    concurrency: options.concurrency,
    onBlob: options.onBlob,
    signal,
  });
  for (const key of ["pushed", "skipped", "mounted", "bytes"] as const) {
    result.stats[key] += stats[key];
  }
  for (const { descriptor, bytes, mediaType } of planned) {
    signal?.throwIfAborted();
    await destination.pushManifest(
      { mediaType, digest: descriptor.digest, size: bytes.length },
      bytes,
      descriptor === root ? tags : [],
      { signal },
    );
    result.manifests++;
  }
  return planned.at(-1)?.bytes;
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
  signal?: AbortSignal,
): Promise<PlannedManifest[]> {
  const planned: PlannedManifest[] = [];
  // Depth-first, one manifest in flight: `indexes` counts the indexes above `descriptor`.
  const visit = async (descriptor: Descriptor, indexes: number): Promise<void> => {
    if (seen.has(descriptor.digest)) return;
    seen.add(descriptor.digest);
    const bytes = await source.fetchManifest(descriptor, { signal });
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
