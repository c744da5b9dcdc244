import assert from "node:assert/strict";
import { UsageError } from "../src/errors/mod.ts";
import {
  type ArchiveReference,
  DEFAULT_REGISTRY,
  familiarReference,
  formatReference,
  isLoopbackRegistry,
  parseArchiveReference,
  parseLayoutReference,
  parseReference,
  parseRegistryReference,
  redactCredentials,
  type Reference,
  referenceString,
  registryHost,
} from "../src/ref/mod.ts";

const HEX64 = "0123456789abcdef".repeat(4);
const SHA256 = `sha256:${HEX64}`;
const SHA512 = `sha512:${HEX64}${HEX64}`;

/** Expected registry references, written from Docker's documented behaviour. */
const REGISTRY_VECTORS: [input: string, registry: string, repository: string, tag?: string][] = [
  ["alpine", "docker.io", "library/alpine"],
  ["alpine:3", "docker.io", "library/alpine", "3"],
  ["alpine:Latest_1.0-rc", "docker.io", "library/alpine", "Latest_1.0-rc"],
  ["library/alpine", "docker.io", "library/alpine"],
  ["docker.io/alpine", "docker.io", "library/alpine"],
  ["docker.io/library/alpine:edge", "docker.io", "library/alpine", "edge"],
  ["index.docker.io/alpine:edge", "docker.io", "library/alpine", "edge"],
  ["registry-1.docker.io/org/app", "docker.io", "org/app"],
  ["org/app:v1.2", "docker.io", "org/app", "v1.2"],
  ["library/a/b", "docker.io", "library/a/b"],
  ["ghcr.io/org/app", "ghcr.io", "org/app"],
  ["ghcr.io/app", "ghcr.io", "app"],
  ["Example.COM/app", "Example.COM", "app"],
  ["localhost/app", "localhost", "app"],
  ["localhost:5000/app", "localhost:5000", "app"],
  ["localhost:5000/app:1.0", "localhost:5000", "app", "1.0"],
  // Without a "/" there is no registry: Docker reads these as repository and tag.
  ["localhost:5000", "docker.io", "library/localhost", "5000"],
  ["example.com:5000", "docker.io", "library/example.com", "5000"],
  ["127.0.0.1:5000/a/b/c", "127.0.0.1:5000", "a/b/c"],
  ["[::1]:5000/a", "[::1]:5000", "a"],
  // A ":" before the first "/" makes a registry host with a port, as in Docker.
  ["alpine:3/x", "alpine:3", "x"],
  ["[::1]/a:v", "[::1]", "a", "v"],
  ["[2001:db8::1]:443/x", "[2001:db8::1]:443", "x"],
  ["a/b__c/d-e.f--g_h", "docker.io", "a/b__c/d-e.f--g_h"],
  ["sha256:" + HEX64, "docker.io", "library/sha256", HEX64],
  [`${HEX64}:latest`, "docker.io", `library/${HEX64}`, "latest"],
];

/** Expected layout references: [input, path, tag, digest]. */
const LAYOUT_VECTORS: [input: string, path: string, tag?: string, digest?: string][] = [
  ["oci:./dir", "./dir"],
  ["oci:./dir:v1", "./dir", "v1"],
  ["oci:/abs/path@" + SHA256, "/abs/path", undefined, SHA256],
  ["oci:/abs/path@" + SHA512, "/abs/path", undefined, SHA512],
  ["oci:dir/with:colon/x", "dir/with:colon/x"],
  ["oci:C:\\x\\y", "C:\\x\\y"],
  ["oci:C:\\x\\y:v1", "C:\\x\\y", "v1"],
  ["oci:dir:with:v1", "dir:with", "v1"],
  ["oci:my images:v1", "my images", "v1"],
  ["oci:./dir:v1@" + SHA256, "./dir:v1", undefined, SHA256],
  ["oci:./dir:", "./dir:"],
  ["oci:./dir:.hidden", "./dir:.hidden"],
  ["oci:a@b", "a@b"],
  ["oci:oci:x", "oci", "x"],
];

function assertRejects(input: string, fragment: string, parse = parseReference): void {
  assert.throws(
    () => parse(input),
    (error: unknown) => {
      assert.ok(error instanceof UsageError, `not a UsageError: ${error}`);
      assert.ok(error.message.includes(JSON.stringify(input)), `input not named: ${error.message}`);
      assert.ok(error.message.includes(fragment), `"${fragment}" not in: ${error.message}`);
      return true;
    },
    `no error for ${JSON.stringify(input)}`,
  );
}

function assertRoundTrip(ref: Reference): void {
  assert.deepEqual(parseReference(formatReference(ref)), ref);
  assert.deepEqual(parseReference(familiarReference(ref)), ref);
}

Deno.test("registry references normalise like Docker", () => {
  for (const [input, registry, repository, tag] of REGISTRY_VECTORS) {
    const expected = tag === undefined
      ? { kind: "registry", registry, repository }
      : { kind: "registry", registry, repository, tag };
    assert.deepEqual(parseReference(input), expected, input);
    assert.deepEqual(parseRegistryReference(input), expected, input);
  }
  assert.equal(parseReference("alpine").kind === "registry" && DEFAULT_REGISTRY, "docker.io");
});

Deno.test("registry references take a digest, with or without a tag", () => {
  assert.deepEqual(parseReference(`alpine@${SHA256}`), {
    kind: "registry",
    registry: "docker.io",
    repository: "library/alpine",
    digest: SHA256,
  });
  assert.deepEqual(parseReference(`localhost:5000/a:3@${SHA512}`), {
    kind: "registry",
    registry: "localhost:5000",
    repository: "a",
    tag: "3",
    digest: SHA512,
  });
});

Deno.test("malformed registry references throw UsageError naming the problem", () => {
  const cases: [string, string][] = [
    ["", "empty"],
    ["Foo/bar", "lowercase"],
    ["docker.io/Alpine", "lowercase"],
    ["ghcr.io/org/App:v1", "lowercase"],
    ["al pine", "whitespace"],
    [" alpine", "whitespace"],
    ["alpine\t", "whitespace"],
    ["alpine:3\n", "whitespace"],
    ["a".repeat(64), "64-character hexadecimal"],
    ["alpine:" + "t".repeat(129), "invalid tag"],
    ["alpine:", "invalid tag"],
    ["alpine:-x", "invalid tag"],
    ["alpine:.x", "invalid tag"],
    ["a/b:3/x", "invalid tag"],
    ["alpine@sha256:abc", "invalid digest"],
    [`alpine@sha256:${HEX64.toUpperCase()}`, "invalid digest"],
    [`alpine@md5:${HEX64}`, "invalid digest"],
    [`alpine@sha512:${HEX64}`, "invalid digest"],
    ["alpine@", "invalid digest"],
    [`a@${SHA256}@${SHA256}`, "invalid digest"],
    [`@${SHA256}`, "repository name is missing"],
    [":tag", "repository name is missing"],
    ["localhost:5000/", "repository name is missing"],
    ["a//b", "empty path component"],
    ["a/", "empty path component"],
    ["/a", "empty path component"],
    ["-a", "not a valid repository path component"],
    ["a-", "not a valid repository path component"],
    ["a..b", "not a valid repository path component"],
    ["a___b", "not a valid repository path component"],
    ["a:b:c", "not a valid repository path component"],
    ["[::1]:5000", "not a valid repository path component"],
    ["localhost:abc/app", "not a valid registry host"],
    ["exa_mple.com/app", "not a valid registry host"],
    ["-example.com/app", "not a valid registry host"],
    ["docker://alpine", "not a valid registry host"],
    ["[::1/a", "not a valid registry host"],
  ];
  for (const [input, fragment] of cases) assertRejects(input, fragment);
});

Deno.test("credentials in a reference are refused, and redacted in the message", () => {
  for (
    const [input, shown] of [
      ["alice:s3cret@ghcr.io/app:v1", "***@ghcr.io/app:v1"],
      ["alice@ghcr.io/app", "***@ghcr.io/app"],
      ["http://alice:s3cret@localhost:5000/app", "http://***@localhost:5000/app"],
      ["alice:s3cret@localhost:5000", "***@localhost:5000"],
      ["a:b@c@ghcr.io/app", "***@ghcr.io/app"],
    ]
  ) {
    assert.throws(() => parseReference(input), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(
        error.message,
        `invalid reference "${shown}": credentials cannot be part of a reference`,
      );
      return true;
    });
    assert.equal(redactCredentials(input), shown);
  }
  // A digest's "@" is not a credential's, nor is a path's.
  for (const input of [`alpine@${SHA256}`, `ghcr.io/app:v1@${SHA256}`, "oci:./a:b@c/d:v1"]) {
    assert.equal(redactCredentials(input), input);
  }
  assert.equal(parseReference(`alpine@${SHA256}`).digest, SHA256);
});

Deno.test("repository names are limited to 255 characters, registry included", () => {
  const tooLong = "repository name must not be more than 255 characters";
  // "example.com/" is 12 characters, "docker.io/library/" 18.
  assert.equal(parseReference(`example.com/${"a".repeat(243)}`).kind, "registry");
  assertRejects(`example.com/${"a".repeat(244)}`, tooLong);
  assert.equal(parseReference("a".repeat(237)).kind, "registry");
  assertRejects("a".repeat(238), tooLong);
  assert.equal(parseReference(`alpine:${"t".repeat(128)}`).kind, "registry");
});

Deno.test("layout references split PATH, TAG and DIGEST by the documented rules", () => {
  for (const [input, path, tag, digest] of LAYOUT_VECTORS) {
    const expected: Reference = { kind: "layout", path };
    if (tag !== undefined) expected.tag = tag;
    if (digest !== undefined) expected.digest = digest;
    assert.deepEqual(parseReference(input), expected, input);
    assert.deepEqual(parseLayoutReference(input), expected, input);
  }
});

Deno.test("malformed layout references throw UsageError", () => {
  assertRejects("oci:", "layout path is empty");
  assertRejects("oci::v1", "layout path is empty");
  assertRejects(`oci:@${SHA256}`, "layout path is empty");
  assertRejects("oci:dir@sha256:abc", "invalid digest");
  assertRejects(`oci:dir@md5:${HEX64}`, "invalid digest");
  assertRejects("oci:a\u0000b", "control characters");
  assertRejects("./dir", 'starts with "oci:"', parseLayoutReference);
  assertRejects("oci:5000/app", "starts an OCI layout reference", parseRegistryReference);
  assert.deepEqual(parseReference("oci:5000/app"), { kind: "layout", path: "5000/app" });
  assert.deepEqual(parseReference("OCI:5000/app"), {
    kind: "registry",
    registry: "OCI:5000",
    repository: "app",
  });
});

Deno.test("familiarReference prints the short form Docker prints", () => {
  const cases: [string, string][] = [
    ["docker.io/library/alpine:3", "alpine:3"],
    ["index.docker.io/library/alpine", "alpine"],
    ["docker.io/org/app", "org/app"],
    ["docker.io/library/a/b", "library/a/b"],
    [`alpine@${SHA256}`, `alpine@${SHA256}`],
    [`alpine:3@${SHA256}`, `alpine:3@${SHA256}`],
    ["ghcr.io/org/app:v1", "ghcr.io/org/app:v1"],
    ["localhost:5000/app", "localhost:5000/app"],
    // Dropping docker.io here would turn the first component into a registry.
    ["docker.io/foo.com/bar", "docker.io/foo.com/bar"],
    ["docker.io/localhost/x", "docker.io/localhost/x"],
    ["docker.io/library/foo.com", "foo.com"],
    ["oci:./dir:v1", "oci:./dir:v1"],
  ];
  for (const [input, familiar] of cases) {
    assert.equal(familiarReference(parseReference(input)), familiar, input);
  }
});

Deno.test("formatReference prints the canonical full form", () => {
  const cases: [string, string][] = [
    ["alpine:3", "docker.io/library/alpine:3"],
    ["index.docker.io/org/app", "docker.io/org/app"],
    [`localhost:5000/a@${SHA256}`, `localhost:5000/a@${SHA256}`],
    ["[::1]:5000/a:v", "[::1]:5000/a:v"],
    ["oci:./dir:tag", "oci:./dir:tag"],
    ["oci:C:\\x\\y", "oci:C:\\x\\y"],
  ];
  for (const [input, full] of cases) assert.equal(formatReference(parseReference(input)), full);
});

Deno.test("formatReference and familiarReference round-trip through parseReference", () => {
  const inputs = [
    ...REGISTRY_VECTORS.map(([input]) => input),
    ...LAYOUT_VECTORS.map(([input]) => input),
    `alpine:3@${SHA256}`,
    `ghcr.io/org/app@${SHA512}`,
    "docker.io/foo.com/bar",
  ];
  for (const input of inputs) assertRoundTrip(parseReference(input));
});

Deno.test("referenceString prefers the digest, then the tag", () => {
  assert.equal(referenceString(parseReference(`alpine:3@${SHA256}`)), SHA256);
  assert.equal(referenceString(parseReference(`alpine@${SHA256}`)), SHA256);
  assert.equal(referenceString(parseReference("alpine:3")), "3");
  assert.equal(referenceString(parseReference("alpine")), undefined);
  assert.equal(referenceString(parseReference("oci:./dir:v1")), "v1");
  assert.equal(referenceString(parseReference("oci:./dir")), undefined);
});

Deno.test("registryHost maps Docker Hub to its API host", () => {
  assert.equal(registryHost("docker.io"), "registry-1.docker.io");
  assert.equal(registryHost("ghcr.io"), "ghcr.io");
  assert.equal(registryHost("localhost:5000"), "localhost:5000");
  assert.equal(
    registryHost(parseRegistryReference("index.docker.io/a/b").registry),
    "registry-1.docker.io",
  );
});

Deno.test("isLoopbackRegistry knows localhost, 127.0.0.1 and [::1], and nothing else", () => {
  const loopback = [
    "localhost",
    "localhost:5000",
    "LOCALHOST",
    "127.0.0.1",
    "127.0.0.1:5000",
    "[::1]",
    "[::1]:5000",
    "[0:0:0:0:0:0:0:1]:5000",
  ];
  for (const registry of loopback) assert.equal(isLoopbackRegistry(registry), true, registry);
  const remote = [
    "docker.io",
    "ghcr.io:443",
    "128.0.0.1",
    "127.0.0.2:5000",
    "127.255.0.3:80",
    "10.0.0.1:5000",
    "localhost.example.com",
    "127.0.0.1.nip.io",
    "[::2]",
    "[::1",
    "",
    "evil.com@127.0.0.1",
    "localhost/x",
    "127.0.0.1:99999",
  ];
  for (const registry of remote) assert.equal(isLoopbackRegistry(registry), false, registry);
});

/** Expected archive references: [input, format, path, tag, digest, name]. */
const ARCHIVE_VECTORS: [
  input: string,
  format: "oci" | "docker",
  path: string,
  tag?: string,
  digest?: string,
  name?: string,
][] = [
  ["oci-archive:app.tar", "oci", "app.tar"],
  ["oci-archive:./out/app.tar:v1", "oci", "./out/app.tar", "v1"],
  ["oci-archive:/abs/app.tar@" + SHA256, "oci", "/abs/app.tar", undefined, SHA256],
  ["oci-archive:C:\\x\\app.tar:v1", "oci", "C:\\x\\app.tar", "v1"],
  ["oci-archive:dir:with:v1", "oci", "dir:with", "v1"],
  ["oci-archive:app.tar:", "oci", "app.tar:"],
  ["docker-archive:app.tar", "docker", "app.tar"],
  ["docker-archive:app.tar:app:v1", "docker", "app.tar", "v1", undefined, "docker.io/library/app"],
  [
    "docker-archive:app.tar:app",
    "docker",
    "app.tar",
    undefined,
    undefined,
    "docker.io/library/app",
  ],
  [
    "docker-archive:app.tar:localhost:5000/org/app:v1",
    "docker",
    "app.tar",
    "v1",
    undefined,
    "localhost:5000/org/app",
  ],
  [
    "docker-archive:app.tar:docker.io/library/app:v1",
    "docker",
    "app.tar",
    "v1",
    undefined,
    "docker.io/library/app",
  ],
  // FILE ends at the first ":" whose remainder is an image name: "\\x.tar" is none.
  ["docker-archive:C:\\x.tar", "docker", "C:\\x.tar"],
  [
    "docker-archive:C:\\x.tar:app:v1",
    "docker",
    "C:\\x.tar",
    "v1",
    undefined,
    "docker.io/library/app",
  ],
  // As in skopeo, a colon in FILE followed by a valid name splits there.
  ["docker-archive:./a:b.tar", "docker", "./a", undefined, undefined, "docker.io/library/b.tar"],
];

function expectedArchive(vector: typeof ARCHIVE_VECTORS[number]): ArchiveReference {
  const [, format, path, tag, digest, name] = vector;
  const expected: ArchiveReference = { kind: "archive", format, path };
  if (tag !== undefined) expected.tag = tag;
  if (digest !== undefined) expected.digest = digest;
  if (name !== undefined) expected.name = name;
  return expected;
}

/** assertRejects for a parser of any reference: `parse` must throw the UsageError. */
function assertAnyRejects(
  input: string,
  fragment: string,
  parse: (input: string) => Reference = parseReference,
): void {
  assertRejects(input, fragment, (text) => {
    parse(text);
    throw new Error(`no error for ${JSON.stringify(text)}`);
  });
}

Deno.test("archive references split FILE, TAG, DIGEST and NAME by the documented rules", () => {
  for (const vector of ARCHIVE_VECTORS) {
    const expected = expectedArchive(vector);
    assert.deepEqual(parseReference(vector[0]), expected, vector[0]);
    assert.deepEqual(parseArchiveReference(vector[0]), expected, vector[0]);
  }
  // A registry host that only looks like a prefix is a registry.
  assert.equal(parseReference("OCI-ARCHIVE:5000/app").kind, "registry");
});

Deno.test("malformed archive references throw UsageError", () => {
  assertAnyRejects("oci-archive:", "archive path is empty");
  assertAnyRejects("oci-archive::v1", "archive path is empty");
  assertAnyRejects(`oci-archive:@${SHA256}`, "archive path is empty");
  assertAnyRejects("oci-archive:app.tar@sha256:abc", "invalid digest");
  assertAnyRejects("oci-archive:a\u0000b", "control characters");
  assertAnyRejects("docker-archive:", "archive path is empty");
  assertAnyRejects("docker-archive::app:v1", "archive path is empty");
  assertAnyRejects("docker-archive:a\u0007.tar", "control characters");
  assertAnyRejects(`docker-archive:app.tar:app@${SHA256}`, "not by digest");
  assertAnyRejects("oci:x", "starts with", parseArchiveReference);
  // A registry host of these names is written in capitals, as "OCI:PORT" is.
  assertRejects("oci-archive:5000/app", "starts an archive reference", parseRegistryReference);
  assertRejects("docker-archive:5000/a", "starts an archive reference", parseRegistryReference);
  // parseReference reads them as archives, never as the registry image docker.io/…/oci-archive.
  assert.equal(parseReference("oci-archive:app.tar").kind, "archive");
  assert.equal(parseReference("docker-archive:app.tar:app:v1").kind, "archive");
});

Deno.test("archive references format canonically and round-trip through parseReference", () => {
  const cases: [string, string][] = [
    ["oci-archive:app.tar:v1", "oci-archive:app.tar:v1"],
    [`oci-archive:app.tar@${SHA256}`, `oci-archive:app.tar@${SHA256}`],
    ["docker-archive:app.tar:app:v1", "docker-archive:app.tar:docker.io/library/app:v1"],
    ["docker-archive:app.tar:app", "docker-archive:app.tar:docker.io/library/app"],
    ["docker-archive:C:\\x.tar", "docker-archive:C:\\x.tar"],
  ];
  for (const [input, full] of cases) {
    assert.equal(formatReference(parseReference(input)), full, input);
    assert.equal(familiarReference(parseReference(input)), full, input);
  }
  for (const [input] of ARCHIVE_VECTORS) {
    const ref = parseReference(input);
    assert.deepEqual(parseReference(formatReference(ref)), ref, input);
    assert.deepEqual(parseReference(familiarReference(ref)), ref, input);
  }
});

Deno.test("referenceString of an archive reference: its digest, else its tag", () => {
  assert.equal(referenceString(parseReference(`oci-archive:a.tar@${SHA256}`)), SHA256);
  assert.equal(referenceString(parseReference("oci-archive:a.tar:v1")), "v1");
  assert.equal(referenceString(parseReference("oci-archive:a.tar")), undefined);
  // The target keeps the name it was opened with; the tag is what it resolves.
  assert.equal(referenceString(parseReference("docker-archive:a.tar:app:v1")), "v1");
  assert.equal(referenceString(parseReference("docker-archive:a.tar")), undefined);
});
