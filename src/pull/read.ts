/**
 * Reading an image's documents from any {@linkcode Target}: resolving a
 * reference, fetching the manifest or index, choosing a platform, fetching
 * the config. `pull` reads an image this way before its layers, `sync` to
 * learn a digest, and `build` and `push --base` to read the base they append
 * to.
 *
 * This is a move, not a plan: it talks to targets. It lives in `pull/`,
 * beside the other reader, rather than in `target/`, because choosing a
 * platform and checking a config are the image folder's work, and `target/`
 * sits below `image/`.
 *
 * @example
 * ```ts
 * import { fetchImageManifest, openBase } from "./read.ts";
 * import { closeTarget } from "../target/mod.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const layout = await LayoutTarget.open("./images");
 * const { manifest } = await fetchImageManifest(layout, await layout.resolve("v1"));
 * const base = await openBase(parseReference("oci:./images:busybox"));
 * console.log(manifest.layers.length, base.config.architecture);
 * await closeTarget(base.target);
 * ```
 * @module
 */
import { IntegrityError, UsageError } from "../errors/mod.ts";
import type { BaseImage } from "../image/append.ts";
import { fetchConfig } from "../image/config.ts";
import { targetBlob } from "../image/blob.ts";
import {
  DEFAULT_PLATFORM,
  formatPlatform,
  hostPlatform,
  parsePlatform,
  selectManifest,
} from "../image/platform.ts";
import { isIndexMediaType } from "../oci/mediatypes.ts";
import type { CallOptions, Target } from "../oci/target.ts";
import {
  type Descriptor,
  type Manifest,
  parseManifestOrIndex,
  type Platform,
} from "../oci/types.ts";
import { formatReference, type Reference } from "../ref/mod.ts";
import { closeTarget, openTarget, type OpenTargetOptions, resolveToRead } from "../target/mod.ts";

/**
 * Options of {@linkcode ImageVerifier.verify}.
 *
 * @example
 * ```ts
 * import type { VerifyImageOptions } from "./read.ts";
 * const options: VerifyImageOptions = { platform: { os: "linux", architecture: "arm64" } };
 * ```
 */
export interface VerifyImageOptions extends CallOptions {
  /** The platform to fall back to when an index's own digest has no valid signature. */
  platform?: Platform;
}

/**
 * What an {@linkcode ImageVerifier} vouches for: the descriptor whose digest a signature
 * verified. It is the one given (an index's, say), or the chosen platform's manifest of that
 * index; `pull`, `copy` and `sync` use it, and only it, from then on.
 *
 * @example
 * ```ts
 * import type { VerifiedImage } from "./read.ts";
 * function digestOf(verified: VerifiedImage): string {
 *   return verified.descriptor.digest;
 * }
 * ```
 */
export interface VerifiedImage {
  /** The descriptor whose digest a signature names and verified. */
  descriptor: Descriptor;
}

/**
 * Checks an image's signatures before its content lands: `pull`, `copy` and `sync` take one
 * (`Verifier` of `../trust/verifier.ts` is the implementation; it is declared here, below
 * `trust/`, so that the moves need not import the jobs layer).
 *
 * @example
 * ```ts
 * import type { ImageVerifier } from "./read.ts";
 * const trustAll: ImageVerifier = {
 *   verify: (_target, descriptor) => Promise.resolve({ descriptor }),
 * };
 * ```
 */
export interface ImageVerifier {
  /**
   * Resolves when a signature over `descriptor`'s digest (or, for an index, over its chosen
   * platform's manifest) verifies; throws (a `SignatureError`) when none does.
   */
  verify(
    target: Target,
    descriptor: Descriptor,
    options?: VerifyImageOptions,
  ): Promise<VerifiedImage>;
}

/**
 * Resolves a manifest descriptor (choosing a platform from an index) to the
 * image manifest.
 *
 * @throws {NotFoundError} when an index has no manifest for `platform`.
 * @throws {IntegrityError} when the chosen entry is itself an index.
 * @example
 * ```ts
 * import { fetchImageManifest } from "./read.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const layout = await LayoutTarget.open("./images");
 * const { descriptor, manifest } = await fetchImageManifest(layout, await layout.resolve("v1"), {
 *   os: "linux",
 *   architecture: "arm64",
 * });
 * console.log(descriptor.digest, manifest.layers.length);
 * ```
 */
export async function fetchImageManifest(
  target: Target,
  descriptor: Descriptor,
  platform: Platform = hostPlatform(),
  options: CallOptions = {},
): Promise<{ descriptor: Descriptor; manifest: Manifest }> {
  const parsed = parseManifestOrIndex(
    await target.fetchManifest(descriptor, options),
    descriptor.mediaType,
  );
  if (parsed.kind === "manifest") return { descriptor, manifest: parsed.manifest };
  const chosen = selectManifest(parsed.index.manifests, platform);
  const child = parseManifestOrIndex(await target.fetchManifest(chosen, options), chosen.mediaType);
  if (child.kind !== "manifest") {
    throw new IntegrityError(`index entry ${chosen.digest} is an index, not an image manifest`);
  }
  return { descriptor: chosen, manifest: child.manifest };
}

/**
 * Reads a base image from `target`: its manifest, choosing `platform` from an index (default
 * linux/amd64), and its config. Its layers are read, or mounted, from `target` when the base is
 * written.
 *
 * @throws {UsageError} when a single-platform base is not of `platform`.
 * @throws {IntegrityError} when the config is too large or malformed (as `fetchConfig` of
 * `../image/config.ts` checks it), or its `rootfs.diff_ids` do not match the layers.
 * @example
 * ```ts
 * import { fetchBase } from "./read.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const layout = await LayoutTarget.open("./images");
 * const base = await fetchBase(layout, "oci:./images:busybox", await layout.resolve("busybox"), {
 *   os: "linux",
 *   architecture: "arm64",
 * });
 * console.log(base.config.architecture);
 * ```
 */
export async function fetchBase(
  target: Target,
  name: string,
  descriptor: Descriptor,
  platform?: Platform,
): Promise<BaseImage> {
  const chosen = await fetchImageManifest(target, descriptor, platform ?? DEFAULT_PLATFORM);
  const base = await baseOf(target, name, chosen.descriptor, chosen.manifest);
  const { config } = base;
  if (platform && chosen.descriptor === descriptor) {
    const [want, have] = [platform, config].map((p) =>
      formatPlatform(parsePlatform(formatPlatform(p)))
    );
    if (want !== have) {
      throw new UsageError(`base ${name} is a ${have} image, not ${want}`, {
        hint: "choose a base of that platform, or leave the platform out",
        option: "platform",
      });
    }
  }
  return base;
}

/**
 * Reads the base image that an entry of a base's index names, as {@linkcode fetchBase} reads
 * one: the entry must be an image manifest. A nested index is refused, not chosen from: it
 * would choose its own platform (linux/amd64), whatever platform its entry claims.
 *
 * @throws {IntegrityError} when the entry is an index, or its document is no image manifest.
 * @example
 * ```ts
 * import { fetchBaseEntry } from "./read.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * import { parseManifestOrIndex } from "../oci/types.ts";
 * const layout = await LayoutTarget.open("./images");
 * const descriptor = await layout.resolve("python");
 * const parsed = parseManifestOrIndex(await layout.fetchManifest(descriptor));
 * if (parsed.kind === "index") {
 *   const base = await fetchBaseEntry(layout, "oci:./images:python", parsed.index.manifests[0]);
 *   console.log(base.config.architecture);
 * }
 * ```
 */
export async function fetchBaseEntry(
  target: Target,
  name: string,
  entry: Descriptor,
): Promise<BaseImage> {
  const nested = () =>
    new IntegrityError(
      `base ${name}: its ${entry.platform ? formatPlatform(entry.platform) + " " : ""}entry ` +
        `${entry.digest} is an index, not an image manifest`,
      { hint: "an index lists each platform's image itself; choose a base that does" },
    );
  // Refused before it is fetched when its descriptor says so, after when its document does.
  if (isIndexMediaType(entry.mediaType)) throw nested();
  const parsed = parseManifestOrIndex(await target.fetchManifest(entry), entry.mediaType);
  if (parsed.kind !== "manifest") throw nested();
  return await baseOf(target, name, entry, parsed.manifest);
}

/** The base image of `manifest`: its config read and checked against its layers. */
async function baseOf(
  target: Target,
  name: string,
  descriptor: Descriptor,
  manifest: Manifest,
): Promise<BaseImage> {
  const { config } = await fetchConfig(target, manifest.config).catch((error) => {
    throw error instanceof IntegrityError
      ? new IntegrityError(`base ${name}: ${error.message}`, { cause: error })
      : error;
  });
  if (config.rootfs?.diff_ids?.length !== manifest.layers.length) {
    throw new IntegrityError(
      `base ${name}: its config lists ${config.rootfs?.diff_ids?.length ?? 0} diff_ids for ` +
        `${manifest.layers.length} layers`,
    );
  }
  return { name, descriptor, manifest, config, blob: (layer) => targetBlob(target, layer) };
}

/** A base read by {@linkcode openBase}, with the target it was opened from. */
export interface OpenedBase extends BaseImage {
  /** The base's target, from which its layers are read or mounted; close it when done. */
  target: Target;
}

/**
 * Opens the target of a base reference and reads the base from it, as
 * {@linkcode fetchBase} does. Close `base.target` with `closeTarget` when done (with
 * `options.session`, the session closes what it holds). The base's layers are mounted from
 * `base.target` where the destination can: open both through one session, so that they share
 * the registry's client.
 * `documents`, when given, wraps the target for reading the base's manifests
 * and config only (a cache, say); the layers are always read or mounted from
 * the target itself.
 *
 * @example
 * ```ts
 * import { openBase } from "./read.ts";
 * import { closeTarget } from "../target/mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const base = await openBase(parseReference("localhost:5000/base/busybox:1"));
 * await closeTarget(base.target);
 * ```
 */
export async function openBase(
  reference: Reference,
  options: OpenTargetOptions = {},
  platform?: Platform,
  documents?: (target: Target) => Target,
): Promise<OpenedBase> {
  const target = await openTarget(reference, options);
  try {
    const reader = documents?.(target) ?? target;
    const descriptor = await resolveToRead(reader, reference);
    const base = await fetchBase(reader, formatReference(reference), descriptor, platform);
    return { ...base, blob: (layer) => targetBlob(target, layer), target };
  } catch (error) {
    await closeTarget(target);
    throw error;
  }
}
