import assert from "node:assert/strict";
import { UsageError } from "../errors/mod.ts";
import type { TagsPageOptions, Target } from "../oci/target.ts";
import { parseReference } from "../ref/mod.ts";
import {
  bestTag,
  checkPolicyReference,
  checkTagPolicy,
  describePolicy,
  pickTag,
  TagNotFoundError,
  tagVersion,
} from "./policy.ts";

// Expectations worked out by hand from the semver specification and npm's range rules.
const TAGS = ["1.0.0", "1.2.0", "2.0.0", "v1.3.0-rc.1", "latest", "1.2", "v1.4.7", "1.10.0"];

Deno.test("semver ranges pick the highest full version; prereleases only when named", () => {
  assert.equal(bestTag(["1.0.0", "1.2.0", "2.0.0", "v1.3.0-rc.1"], { semver: "^1" }), "1.2.0");
  assert.equal(bestTag(TAGS, { semver: "^1" }), "1.10.0", "1.10 > 1.4 > 1.2: not lexical");
  assert.equal(bestTag(TAGS, { semver: "~1.4" }), "v1.4.7");
  assert.equal(bestTag(TAGS, { semver: ">=1.2 <1.5" }), "v1.4.7");
  assert.equal(bestTag(TAGS, { semver: ">=1.2, <1.4" }), "1.2.0", "Masterminds' comma");
  assert.equal(bestTag(TAGS, { semver: "^2" }), "2.0.0");
  assert.equal(bestTag(TAGS, { semver: ">=1.3.0-rc.0 <1.4" }), "v1.3.0-rc.1");
  assert.equal(bestTag(TAGS, { semver: "^3" }), undefined);
  assert.equal(bestTag(["v1.2.0", "1.2.0"], { semver: "1.x" }), "v1.2.0", "ties: lexically last");
});

Deno.test("a regex without semver picks the lexically last match; with semver, both filter", () => {
  const tags = ["build-007", "build-012", "build-9", "dev", "v1.0.0", "v2.0.0-beta"];
  assert.equal(bestTag(tags, { tagRegex: "^build-\\d+$" }), "build-9", "lexical, not numeric");
  assert.equal(bestTag(tags, { tagRegex: "^build-0" }), "build-012");
  assert.equal(bestTag(tags, { tagRegex: "^v", semver: "*" }), "v1.0.0");
  assert.equal(bestTag(tags, { tagRegex: "nothing" }), undefined);
});

Deno.test("tag versions: full versions, an optional leading v", () => {
  assert.equal(tagVersion("v1.3.0-rc.1"), "1.3.0-rc.1");
  assert.equal(tagVersion("1.2.3+build.4"), "1.2.3");
  for (const tag of ["1.2", "latest", "=1.2.3", "sha256-abc.sig", "V1.2.3"]) {
    assert.equal(tagVersion(tag), undefined, tag);
  }
});

Deno.test("invalid policies and references are usage errors", () => {
  assert.throws(() => checkTagPolicy({}), UsageError);
  assert.throws(() => checkTagPolicy({ semver: "one" }), /not a semantic-version range/);
  assert.throws(() => checkTagPolicy({ semver: " " }), UsageError);
  assert.throws(() => checkTagPolicy({ tagRegex: "(" }), /not a regular expression/);
  assert.throws(
    () => checkPolicyReference(parseReference("localhost:5000/app:v1"), { semver: "^1" }),
    /names a tag/,
  );
  checkPolicyReference(parseReference("localhost:5000/app"), { semver: "^1" });
  assert.equal(describePolicy({ semver: "^1", tagRegex: "^v" }), 'semver "^1" and tagRegex /^v/');
});

/** A target that serves its tags two to a page and counts the pages asked for. */
function pagedTarget(tags: string[]): Target & { pages: TagsPageOptions[] } {
  const pages: TagsPageOptions[] = [];
  return {
    name: "fake/repo",
    pages,
    tagsPage(options: TagsPageOptions = {}) {
      pages.push(options);
      const start = options.last === undefined ? 0 : tags.indexOf(options.last) + 1;
      const page = tags.slice(start, start + 2);
      const more = start + 2 < tags.length;
      return Promise.resolve(more ? { tags: page, last: page.at(-1) } : { tags: page });
    },
    tags: () => {
      throw new Error("tagsPage is to be used");
    },
  } as unknown as Target & { pages: TagsPageOptions[] };
}

Deno.test("pickTag reads every page, once each, and names the policy when nothing matches", async () => {
  const target = pagedTarget(["0.9.0", "1.0.0", "1.1.0", "2.0.0", "dev"]);
  assert.equal(await pickTag(target, { semver: "^1" }), "1.1.0");
  assert.deepEqual(target.pages.map((p) => p.last), [undefined, "1.0.0", "2.0.0"]);
  const error = await pickTag(target, { semver: "^3" }).catch((e) => e);
  assert.ok(error instanceof TagNotFoundError);
  assert.equal(error.kind, "not-found");
  assert.equal(error.policy, 'semver "^3"');
  assert.equal(error.listed, 5);
  assert.match(error.message, /no tag of fake\/repo matches semver "\^3" \(5 tags listed\)/);
});

Deno.test("pickTag passes over names that are no tags: they could forge log lines or jam the loop", async () => {
  // Both sort above "v1", which a regex policy would otherwise pick every tick and fail on.
  const target = pagedTarget(["v1", "v9\n2099-01-01 app changed FORGED", "v9 x", "v1.1"]);
  assert.equal(await pickTag(target, { tagRegex: "^v" }), "v1.1");
});
