/**
 * Tag policies: follow the highest tag that matches a semantic-version range, a regular
 * expression, or both, rather than one fixed tag. `sync` picks on every tick; `pull` and `copy`
 * pick once, for a reference that names a repository without a tag.
 *
 * - **`semver`**: a range in npm's syntax, which is Masterminds' (Flux's) too: `>=1.2 <2`,
 *   `~1.4`, `^2`, `1.x`, `1.2 - 1.4`, `^1 || ^2`; a comma also means "and" (`>=1.2, <2`). Tags
 *   are full versions `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`, with an optional leading `v`;
 *   other tags are ignored. A prerelease (`1.3.0-rc.1`) matches only a range that names a
 *   prerelease of the same `MAJOR.MINOR.PATCH`, as npm has it. The highest match wins, by
 *   semantic-version precedence (ties, such as `v1.2.0` and `1.2.0`, go to the lexically last).
 * - **`tagRegex`**: a regular expression the tag must match (unanchored: anchor it with `^` and
 *   `$`). Without `semver`, the **lexically last** match wins (code-unit order: `v10` sorts before
 *   `v9`), so give the tags a sortable form, such as a zero-padded build number or a timestamp.
 *   With `semver`, only the tags that match both are candidates.
 *
 * @example
 * ```ts
 * import { pickTag } from "./policy.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const layout = await LayoutTarget.open("./bundle");
 * console.log(await pickTag(layout, { semver: "^1" })); // "1.2.0"
 * ```
 * @module
 */
// Full npm: specifiers rather than import-map names, so that this module imports as it is from
// outside this repository (the lint rule assumes every consumer reads our deno.json). semver
// ships no types: @types/semver gives them.
// deno-lint-ignore no-import-prefix
import semverModule from "npm:semver@7.8.6";
// deno-lint-ignore no-import-prefix
import type * as SemverTypes from "npm:@types/semver@7.7.1";
import { NotFoundError, type OcisyncErrorOptions, UsageError } from "../errors/mod.ts";
import { type CallOptions, isTagPager, type Target } from "../oci/target.ts";
import type { Descriptor } from "../oci/types.ts";
import { formatReference, isTag, type Reference } from "../ref/mod.ts";

const semver = semverModule as typeof SemverTypes;

/**
 * Which tag to follow: the highest that matches. At least one field is required. Each field is
 * one flag of `pull`, `copy` and `sync` (`--semver`, `--tag-regex`) and one key of a sync
 * `--config` target.
 *
 * @example
 * ```ts
 * import type { TagPolicy } from "./policy.ts";
 * const policy: TagPolicy = { semver: ">=1.2 <2", tagRegex: "^v" };
 * ```
 */
export interface TagPolicy {
  /** A semantic-version range, npm's (and Masterminds') syntax. */
  semver?: string;
  /** A regular expression the tag must match, unanchored. */
  tagRegex?: string;
}

/**
 * No tag of a repository matches a policy: a {@linkcode NotFoundError} (exit 4) that names the
 * policy and how many tags were listed.
 *
 * @example
 * ```ts
 * import { TagNotFoundError } from "./policy.ts";
 * const error = new TagNotFoundError("no tag matches", { policy: 'semver "^3"', listed: 12 });
 * console.log(error.policy, error.listed);
 * ```
 */
export class TagNotFoundError extends NotFoundError {
  /** The policy, as {@linkcode describePolicy} writes it. */
  readonly policy: string;
  /** How many tags the repository has. */
  readonly listed: number;

  /** Creates the error. */
  constructor(
    message: string,
    options: OcisyncErrorOptions & { policy: string; listed: number },
  ) {
    super(message, options);
    this.policy = options.policy;
    this.listed = options.listed;
  }
}

/** Tags asked for per page of a listing. */
export const TAG_PAGE_SIZE = 1000;
/** The most pages of tags read: a repository with more is refused rather than read forever. */
export const MAX_TAG_PAGES = 100;

/**
 * The policy in words, for messages and logs: `semver "^1"`, `tagRegex /^v/`, or both.
 *
 * @example
 * ```ts
 * import { describePolicy } from "./policy.ts";
 * describePolicy({ semver: "^1", tagRegex: "^v" }); // 'semver "^1" and tagRegex /^v/'
 * ```
 */
export function describePolicy(policy: TagPolicy): string {
  const parts = [];
  if (policy.semver !== undefined) parts.push(`semver ${JSON.stringify(policy.semver)}`);
  if (policy.tagRegex !== undefined) parts.push(`tagRegex /${policy.tagRegex}/`);
  return parts.join(" and ") || "no policy";
}

/** A policy checked and compiled. */
interface CompiledPolicy {
  range?: SemverTypes.Range;
  regex?: RegExp;
}

/**
 * Checks a policy: at least one field, a valid range, a valid regular expression.
 *
 * @throws {UsageError} naming the field that is wrong.
 * @example
 * ```ts
 * import { checkTagPolicy } from "./policy.ts";
 * checkTagPolicy({ semver: ">=1.2, <2" }); // fine
 * checkTagPolicy({ semver: "one" }); // throws: not a semantic-version range
 * ```
 */
export function checkTagPolicy(policy: TagPolicy): void {
  compile(policy);
}

function compile(policy: TagPolicy): CompiledPolicy {
  if (policy.semver === undefined && policy.tagRegex === undefined) {
    throw new UsageError("a tag policy needs a semver range or a tag regex");
  }
  const compiled: CompiledPolicy = {};
  if (policy.semver !== undefined) {
    // Masterminds writes "and" as a comma; npm as a space.
    const range = policy.semver.trim().replace(/\s*,\s*/g, " ");
    const valid = range === "" ? null : semver.validRange(range);
    if (valid === null) {
      throw new UsageError(
        `semver: ${JSON.stringify(policy.semver)} is not a semantic-version range`,
        { hint: 'write it as ">=1.2 <2", "~1.4", "^2" or "1.x"', option: "semver" },
      );
    }
    compiled.range = new semver.Range(range);
  }
  if (policy.tagRegex !== undefined) {
    try {
      compiled.regex = new RegExp(policy.tagRegex);
    } catch (error) {
      throw new UsageError(
        `tagRegex: ${JSON.stringify(policy.tagRegex)} is not a regular expression: ${
          (error as Error).message
        }`,
        {
          hint: "give a JavaScript regular expression, such as ^v1\\.[0-9]+$",
          option: "tagRegex",
        },
      );
    }
  }
  return compiled;
}

/**
 * The version a tag stands for: a full semantic version, with an optional leading `v`.
 *
 * @example
 * ```ts
 * import { tagVersion } from "./policy.ts";
 * tagVersion("v1.3.0-rc.1"); // "1.3.0-rc.1"
 * tagVersion("1.2"); // undefined
 * tagVersion("latest"); // undefined
 * ```
 */
export function tagVersion(tag: string): string | undefined {
  if (!/^v?\d/.test(tag)) return undefined; // "=1.2.3" and " 1.2.3" are not tags' forms
  return semver.valid(tag) ?? undefined;
}

/**
 * The highest of `tags` that the policy matches: by semantic-version precedence with `semver`,
 * lexically without it. Undefined when none matches.
 *
 * @throws {UsageError} when the policy is invalid.
 * @example
 * ```ts
 * import { bestTag } from "./policy.ts";
 * bestTag(["1.0.0", "1.2.0", "2.0.0", "v1.3.0-rc.1"], { semver: "^1" }); // "1.2.0"
 * bestTag(["build-007", "build-012", "dev"], { tagRegex: "^build-" }); // "build-012"
 * ```
 */
export function bestTag(tags: Iterable<string>, policy: TagPolicy): string | undefined {
  const { range, regex } = compile(policy);
  let best: { tag: string; version?: string } | undefined;
  for (const tag of tags) {
    if (regex && !regex.test(tag)) continue;
    let version: string | undefined;
    if (range) {
      version = tagVersion(tag);
      if (version === undefined || !range.test(version)) continue;
    }
    if (best === undefined || higher({ tag, version }, best)) best = { tag, version };
  }
  return best?.tag;
}

function higher(
  a: { tag: string; version?: string },
  b: { tag: string; version?: string },
): boolean {
  if (a.version !== undefined && b.version !== undefined) {
    const order = semver.compare(a.version, b.version);
    if (order !== 0) return order > 0;
  }
  return a.tag > b.tag;
}

/**
 * Lists the tags of `target` and returns the highest that the policy matches (see
 * {@linkcode bestTag}). A target that reads tags by pages is asked for pages of
 * {@linkcode TAG_PAGE_SIZE}, one request each, at most {@linkcode MAX_TAG_PAGES}.
 *
 * @throws {TagNotFoundError} when no tag matches.
 * @throws {UsageError} when the policy is invalid.
 * @throws {NotFoundError} when the repository does not exist.
 * @example
 * ```ts
 * import { pickTag } from "./policy.ts";
 * import { RegistryTarget } from "../remote/registry.ts";
 * import { parseRegistryReference } from "../ref/mod.ts";
 * const target = new RegistryTarget(parseRegistryReference("localhost:5000/flows"));
 * const tag = await pickTag(target, { semver: "~1.4" }, { signal: AbortSignal.timeout(10_000) });
 * ```
 */
export async function pickTag(
  target: Target,
  policy: TagPolicy,
  options: CallOptions = {},
): Promise<string> {
  compile(policy);
  // A name that is no tag is never a candidate: a hostile registry or layout could list
  // "v9\n…" to forge log lines, or jam the loop on a name it cannot resolve.
  const tags = (await listTags(target, options)).filter(isTag);
  const best = bestTag(tags, policy);
  if (best !== undefined) return best;
  const described = describePolicy(policy);
  throw new TagNotFoundError(
    `no tag of ${target.name} matches ${described} (${tags.length} tag${
      tags.length === 1 ? "" : "s"
    } listed)`,
    {
      policy: described,
      listed: tags.length,
      hint: policy.semver !== undefined
        ? "tags are full versions (1.2.3, v1.2.3); a prerelease matches only a range that names one"
        : undefined,
    },
  );
}

async function listTags(target: Target, options: CallOptions): Promise<string[]> {
  const { signal } = options;
  if (!isTagPager(target)) return await Array.fromAsync(target.tags({ signal }));
  const tags: string[] = [];
  let last: string | undefined;
  for (let page = 1;; page++) {
    const read = await target.tagsPage({ n: TAG_PAGE_SIZE, last, signal });
    // Not push(...): a page may hold millions of short tags, more than a call takes arguments.
    for (const tag of read.tags) tags.push(tag);
    if (read.last === undefined || read.last === last || read.tags.length === 0) return tags;
    // A registry may send more tags a page than asked for: they are counted, not only pages.
    if (page >= MAX_TAG_PAGES || tags.length > MAX_TAG_PAGES * TAG_PAGE_SIZE) {
      throw new UsageError(
        `${target.name} has more than ${MAX_TAG_PAGES * TAG_PAGE_SIZE} tags: too many to pick from`,
        { hint: "follow one tag instead of a policy" },
      );
    }
    last = read.last;
  }
}

/**
 * For `pull` and `copy`: the tag that the policy picks in `reference`'s repository, and the
 * descriptor it resolves to (one `HEAD`). The reference must name a repository, or a layout,
 * without a tag or a digest.
 *
 * @throws {UsageError} when the reference has a tag or a digest, or the policy is invalid.
 * @throws {TagNotFoundError} when no tag matches.
 * @example
 * ```ts
 * import { resolveTagPolicy } from "./policy.ts";
 * import { openTarget } from "../target/mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const reference = parseReference("localhost:5000/flows");
 * const target = await openTarget(reference);
 * const { tag, descriptor } = await resolveTagPolicy(target, reference, { semver: "^1" });
 * ```
 */
export async function resolveTagPolicy(
  target: Target,
  reference: Reference,
  policy: TagPolicy,
  options: CallOptions = {},
): Promise<{ tag: string; descriptor: Descriptor }> {
  checkPolicyReference(reference, policy);
  const tag = await pickTag(target, policy, options);
  return { tag, descriptor: await target.resolve(tag, options) };
}

/**
 * Checks that a policy is valid and that `reference` leaves the tag to it.
 *
 * @throws {UsageError} when the reference has a tag or a digest, or the policy is invalid.
 * @example
 * ```ts
 * import { checkPolicyReference } from "./policy.ts";
 * import { parseReference } from "../ref/mod.ts";
 * checkPolicyReference(parseReference("localhost:5000/flows"), { semver: "^1" }); // fine
 * ```
 */
export function checkPolicyReference(reference: Reference, policy: TagPolicy): void {
  compile(policy);
  if (reference.tag !== undefined || reference.digest !== undefined) {
    throw new UsageError(
      `${formatReference(reference)} names a ${
        reference.digest !== undefined ? "digest" : "tag"
      }, and ${describePolicy(policy)} picks the tag`,
      { hint: "name the repository alone, without :TAG or @DIGEST" },
    );
  }
}
