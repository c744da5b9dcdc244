/**
 * What listing the referrers of a subject needs, wherever they are listed: the subject's digest
 * (given as a descriptor or a bare digest), the distribution-spec's fallback tag
 * `<algorithm>-<hex>` of the index that lists them where the referrers API is missing, and the
 * `artifactType` filter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { referrersQuery } from "./referrers.ts";
 * const digest = `sha256:${"a".repeat(64)}`;
 * const query = referrersQuery(digest, "application/vnd.example");
 * assert.equal(query.fallbackTag, `sha256-${"a".repeat(64)}`);
 * assert.equal(query.wanted({ artifactType: "application/vnd.example" }), true);
 * assert.equal(query.wanted({}), false);
 * ```
 * @module
 */
import { parseDigest } from "../digest/parse.ts";
import { IntegrityError } from "../errors/mod.ts";
import { type Descriptor, MAX_MANIFEST_BYTES } from "./types.ts";

/**
 * The most characters of JSON that the annotations of one collected listing of referrers hold
 * together (see {@linkcode collectReferrers}): as many as the fallback index that lists them
 * where the referrers API is missing may hold whole, {@linkcode MAX_MANIFEST_BYTES}.
 */
export const MAX_REFERRER_ANNOTATIONS = MAX_MANIFEST_BYTES;

/** A referrers listing's subject and filter; see {@linkcode referrersQuery}. */
export interface ReferrersQuery {
  /** The subject's digest. */
  digest: string;
  /** The tag of the index that lists the referrers where the referrers API is missing. */
  fallbackTag: string;
  /** Whether a referrer is of the `artifactType` asked for (every one when none was). */
  wanted: (referrer: Pick<Descriptor, "artifactType">) => boolean;
}

/**
 * The digest of `subject`, its fallback tag, and the filter of `artifactType`.
 *
 * @throws {UsageError} when `subject` is not a valid digest.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { referrersQuery } from "./referrers.ts";
 * const query = referrersQuery(`sha256:${"b".repeat(64)}`);
 * assert.equal(query.wanted({ artifactType: "anything" }), true);
 * ```
 */
export function referrersQuery(
  subject: Pick<Descriptor, "digest"> | string,
  artifactType?: string,
): ReferrersQuery {
  const digest = typeof subject === "string" ? subject : subject.digest;
  return {
    digest,
    fallbackTag: referrersFallbackTag(digest),
    wanted: (referrer) => artifactType === undefined || referrer.artifactType === artifactType,
  };
}

/**
 * The distribution-spec's fallback tag of a subject's referrers: `sha256:<hex>` becomes
 * `sha256-<hex>`.
 *
 * @throws {UsageError} when `digest` is not a valid digest.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { referrersFallbackTag } from "./referrers.ts";
 * assert.equal(referrersFallbackTag(`sha256:${"c".repeat(64)}`), `sha256-${"c".repeat(64)}`);
 * ```
 */
export function referrersFallbackTag(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm}-${hex}`;
}

/**
 * The tag of an image's classic cosign signatures: `sha256:<hex>` becomes `sha256-<hex>.sig`.
 *
 * @throws {UsageError} when `digest` is not a digest.
 * @example
 * ```ts
 * import { signatureTag } from "./referrers.ts";
 * signatureTag(`sha256:${"ab".repeat(32)}`); // "sha256-abab….sig"
 * ```
 */
export function signatureTag(digest: string): string {
  return `${referrersFallbackTag(digest)}.sig`;
}

/**
 * Whether `tag` is one named after an image's digest, which holds what refers to that image, not
 * an image: cosign's `sha256-<hex>.sig`, `.att` and `.sbom`, and the referrers fallback tag.
 *
 * @example
 * ```ts
 * import { isDigestTag } from "./referrers.ts";
 * isDigestTag(`sha256-${"ab".repeat(32)}.sig`); // true
 * isDigestTag("v1.2"); // false
 * ```
 */
export function isDigestTag(tag: string): boolean {
  return /^(sha256-[0-9a-f]{64}|sha512-[0-9a-f]{128})(\.(sig|att|sbom))?$/.test(tag);
}

/**
 * A listing of referrers collected whole, each kept as what a copy uses of it: its media type,
 * digest, size and `artifactType`, and its annotations, which go into the fallback index of a
 * destination without the referrers API. The rest (`data`, `urls`, `platform`, unknown fields)
 * is dropped, and the annotations are bounded: a listing, or a store's manifests, may give each
 * referrer megabytes of them.
 *
 * @throws {IntegrityError} about `what` when the annotations add up to more than
 * {@linkcode MAX_REFERRER_ANNOTATIONS} characters of JSON.
 * @example
 * ```ts
 * import { collectReferrers } from "./referrers.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const layout = await LayoutTarget.open("./images");
 * const image = await layout.resolve("v1");
 * const referrers = await collectReferrers(layout.referrers(image), "referrers of v1");
 * ```
 */
export async function collectReferrers(
  listing: AsyncIterable<Descriptor>,
  what: string,
): Promise<Descriptor[]> {
  const collected: Descriptor[] = [];
  let annotationChars = 0;
  for await (const { mediaType, digest, size, artifactType, annotations } of listing) {
    const kept: Descriptor = { mediaType, digest, size };
    if (artifactType !== undefined) kept.artifactType = artifactType;
    if (annotations !== undefined) {
      annotationChars += JSON.stringify(annotations).length;
      if (annotationChars > MAX_REFERRER_ANNOTATIONS) {
        throw new IntegrityError(
          `${what}: their annotations add up to more than ` +
            `${MAX_REFERRER_ANNOTATIONS / (1024 * 1024)} MiB, more than the index that lists ` +
            "them may hold",
        );
      }
      kept.annotations = annotations;
    }
    collected.push(kept);
  }
  return collected;
}
