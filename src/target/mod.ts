/**
 * Opens the {@linkcode Target} a reference names: a registry repository, or
 * an OCI image layout directory for `oci:PATH`. A {@linkcode Session} opens
 * the targets of one run, sharing a registry client per registry;
 * {@linkcode openTarget} opens one target through a session of its own, or
 * through the session it is given.
 *
 * @example
 * ```ts
 * import { openTarget, resolveReference } from "./mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const ref = parseReference("oci:./bundle:v1");
 * const target = await openTarget(ref);
 * const descriptor = await resolveReference(target, ref);
 * ```
 * @module
 */
import { type CallOptions, isCloser, isReferenceFetcher, type Target } from "../oci/target.ts";
import type { Descriptor } from "../oci/types.ts";
import { UsageError } from "../errors/mod.ts";
import {
  checkLayoutTag,
  checkTag,
  dockerArchiveTag,
  formatReference,
  type Reference,
  referenceString,
} from "../ref/mod.ts";
import type { RegistryOptions } from "../remote/registry.ts";
import { openLocalTarget, openRegistryTarget } from "./open.ts";
import type { Session } from "./session.ts";

export { Session, type SessionOpenOptions, type SessionOptions } from "./session.ts";

/** Options of {@linkcode openTarget}. */
export interface OpenTargetOptions extends RegistryOptions {
  /**
   * Create the layout directory when it does not exist (for writing). One created so is removed
   * by {@linkcode closeTarget} when nothing was listed in it: a failed run leaves none.
   */
  create?: boolean;
  /**
   * For a `docker-archive:` opened for writing: the most bytes the image's layers may
   * decompress to. Default 32 GiB.
   */
  maxExtractSize?: number;
  /**
   * Open through this session, on its client for the registry; then give no client options
   * (credentials, transport settings, `client`, `concurrency`, `chunkSize`): the session's hold.
   */
  session?: Session;
}

/** The tag a registry reference means when it names none, as in Docker. */
export const DEFAULT_TAG = "latest";

/**
 * Opens the target of a reference. With `session`, through it; without, as a session of its
 * own would, with a registry client that the target owns and closes with
 * {@linkcode closeTarget}: enough for one target, while several targets of one run should
 * share a {@linkcode Session}.
 *
 * @throws {NotFoundError} when a layout does not exist and `create` is not set.
 * @throws {TypeError} when a session and client options are both given.
 * @example
 * ```ts
 * import { closeTarget, openTarget, Session } from "./mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * await using session = new Session();
 * const target = await openTarget(parseReference("localhost:5000/app"), { session });
 * const alone = await openTarget(parseReference("localhost:5000/other"), { retries: 0 });
 * await closeTarget(alone);
 * ```
 */
export async function openTarget(
  reference: Reference,
  options: OpenTargetOptions = {},
): Promise<Target> {
  const { session, create, maxExtractSize, ...registryOptions } = options;
  if (session !== undefined) {
    const given = Object.entries(registryOptions).filter(([, value]) => value !== undefined);
    if (given.length > 0) {
      throw new TypeError(
        `give either a session or registry options, not both: ${given.map(([key]) => key)}`,
      );
    }
    return await session.open(reference, { create, maxExtractSize });
  }
  if (reference.kind !== "registry") {
    return await openLocalTarget(reference, { create, maxExtractSize });
  }
  // A session of one target: the target makes its client, and closes it.
  return await openRegistryTarget(reference, registryOptions);
}

/**
 * Resolves a reference to its manifest's descriptor: its digest, else its tag; a registry
 * reference with neither means `latest`, as does a `docker-archive:FILE:NAME` (`NAME:latest`,
 * as skopeo reads it); a layout or an archive with neither means its only image (the target's
 * own default).
 *
 * @example
 * ```ts
 * import { openTarget, resolveReference } from "./mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const ref = parseReference("localhost:5000/app");
 * const target = await openTarget(ref);
 * const latest = await resolveReference(target, ref, { signal: AbortSignal.timeout(10_000) });
 * ```
 */
export async function resolveReference(
  target: Target,
  reference: Reference,
  options: CallOptions = {},
): Promise<Descriptor> {
  return await target.resolve(wantedOf(reference), options);
}

/**
 * {@linkcode resolveReference}, for a caller that reads the manifest next: a target that reads a
 * manifest by tag in one request (`ReferenceFetcher`, a registry) does so, and keeps the
 * bytes for the `fetchManifest` that follows. A copy so sends one request for its source's
 * manifest, not a `HEAD` and then a `GET`.
 *
 * @example
 * ```ts
 * import { openTarget, resolveToRead } from "./mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const ref = parseReference("localhost:5000/app:v1");
 * const target = await openTarget(ref);
 * const manifest = await target.fetchManifest(await resolveToRead(target, ref)); // one GET
 * ```
 */
export async function resolveToRead(
  target: Target,
  reference: Reference,
  options: CallOptions = {},
): Promise<Descriptor> {
  const wanted = wantedOf(reference);
  if (wanted === undefined || !isReferenceFetcher(target)) {
    return await target.resolve(wanted, options);
  }
  return (await target.fetchReference(wanted, options)).descriptor;
}

/**
 * The tag or digest a reference asks a target for. The reference says what "none" means, not
 * the target's class ({@linkcode impliedTag}): a registry reference or a `docker-archive:` NAME
 * always names a tag, while a layout's target picks its only image.
 */
function wantedOf(reference: Reference): string | undefined {
  return referenceString(reference) ?? impliedTag(reference);
}

/**
 * The tags to write for a reference that is a push's destination: its tag,
 * else `latest`. A digest-only destination gets no tag.
 */
export function destinationTags(reference: Reference): string[] {
  if (reference.tag) return [reference.tag];
  return reference.digest ? [] : [DEFAULT_TAG];
}

/**
 * Refuses any of `tags` that the target `reference` names could not store, with the error that
 * storing it would give: a registry takes the reference grammar's tags, an `oci:` layout and an
 * `oci-archive:` the image-spec's `ref.name`, a `docker-archive:` a tag or `NAME:TAG`. A push
 * checks its tags with it before it packs or sends anything: a tag refused once the manifest is
 * stored under the others would fail a push half done.
 *
 * @throws {UsageError} for the first tag refused.
 * @example
 * ```ts
 * import { checkTags } from "./mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * checkTags(parseReference("oci:./bundle:v1"), ["v1", "linux/amd64"]); // fine
 * checkTags(parseReference("localhost:5000/app:v1"), ["v1", "bad tag"]); // throws
 * ```
 */
export function checkTags(reference: Reference, tags: string[]): void {
  for (const tag of tags) {
    if (reference.kind === "registry") checkTag(tag);
    else if (reference.kind === "layout" || reference.format === "oci") checkLayoutTag(tag);
    else dockerArchiveTag(reference.name, tag);
  }
}

/**
 * The tag that a reference naming none means, as Docker reads `alpine` as `alpine:latest`:
 * `latest` for a registry repository and for a `docker-archive:FILE:NAME`, which name one image
 * each; none for a layout, an `oci-archive:` or a `docker-archive:FILE`, which hold images side by
 * side and, read without a tag, mean their only one.
 *
 * @example
 * ```ts
 * import { impliedTag } from "./mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * impliedTag(parseReference("localhost:5000/app")); // "latest"
 * impliedTag(parseReference("docker-archive:app.tar:app")); // "latest"
 * impliedTag(parseReference("oci:./bundle")); // undefined
 * ```
 */
export function impliedTag(reference: Reference): string | undefined {
  if (reference.kind === "registry") return DEFAULT_TAG;
  const named = reference.kind === "archive" && reference.format === "docker" &&
    reference.name !== undefined;
  return named ? DEFAULT_TAG : undefined;
}

/**
 * The tags a copy writes at `destination`: its tag; none when it names a digest alone; `picked`
 * (the tag a policy chose at the source, which named a repository); else the tag the destination
 * implies ({@linkcode impliedTag}: `latest` in a registry, so that a copy to `REPO` is read back
 * as `REPO`); else, in a layout or an archive, the source's tag; none for a copy by digest; else
 * `latest`.
 *
 * @example
 * ```ts
 * import { copyDestinationTags } from "./mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const from = parseReference("localhost:5000/app:v1");
 * copyDestinationTags(from, parseReference("oci-archive:out.tar")); // ["v1"]
 * copyDestinationTags(from, parseReference("oci:./mirror:stable")); // ["stable"]
 * copyDestinationTags(from, parseReference("localhost:5000/mirror")); // ["latest"]
 * ```
 */
export function copyDestinationTags(
  source: Reference,
  destination: Reference,
  picked?: string,
): string[] {
  if (destination.tag) return [destination.tag];
  // A digest names the manifest the copy must write, under no tag: never the source's.
  if (destination.digest) return [];
  if (picked) return [picked];
  const implied = impliedTag(destination);
  if (implied) return [implied];
  if (source.tag) return [source.tag];
  return source.digest ? [] : [DEFAULT_TAG];
}

/**
 * Checks that a copy of several sources has a destination that holds them side by side, each
 * under its own tag: an `oci-archive:FILE` or an `oci:DIR`, naming no tag or digest. A registry
 * repository takes one source per copy (ocisync does not guess a repository per source, as
 * `skopeo sync` does), and a `docker-archive:` holds one image.
 *
 * @throws {UsageError} when there are several sources and the destination is not such a place.
 * @example
 * ```ts
 * import { checkSeveralSources } from "./mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const sources = ["localhost:5000/app:v1", "localhost:5000/tools:t1"].map(parseReference);
 * checkSeveralSources(sources, parseReference("oci-archive:release.tar")); // fine
 * ```
 */
export function checkSeveralSources(sources: Reference[], destination: Reference): void {
  if (sources.length < 2) return;
  const shown = formatReference(destination);
  const hint = "copy them into one oci-archive:FILE or oci:DIR, or run one copy per source";
  if (destination.kind === "registry") {
    throw new UsageError(
      `${sources.length} sources cannot go into one registry repository (${shown}): its tags ` +
        "would mix images of different repositories",
      { hint },
    );
  }
  if (destination.kind === "archive" && destination.format === "docker") {
    throw new UsageError(`a docker-archive holds one image, not ${sources.length}: ${shown}`, {
      hint,
    });
  }
  if (destination.tag || destination.digest) {
    throw new UsageError(
      `with ${sources.length} sources, each image keeps its own tag: give ${shown} without ` +
        "a tag or digest",
    );
  }
}

/**
 * Closes a target, when it has something to close (a registry target opened without a
 * session closes its client); see `Closer` in `../oci/target.ts`.
 *
 * @example
 * ```ts
 * import { closeTarget, openTarget } from "./mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const target = await openTarget(parseReference("localhost:5000/app"));
 * await closeTarget(target);
 * ```
 */
export async function closeTarget(target: Target): Promise<void> {
  if (isCloser(target)) await target.close();
}
