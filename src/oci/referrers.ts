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
import type { Descriptor } from "./types.ts";

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
