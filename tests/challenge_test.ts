/**
 * Tests of the `WWW-Authenticate` parser: hand-written vectors from real registries and from
 * RFC 9110's grammar. The parser is fuzzed in tests/fuzz_test.ts.
 */
import assert from "node:assert/strict";
import { AuthError } from "../src/errors/mod.ts";
import { type Challenge, parseChallenges } from "../src/remote/challenge.ts";

function challenge(scheme: string, params: Record<string, string> = {}): Challenge {
  return { scheme, params: new Map(Object.entries(params)) };
}

const VECTORS: [header: string, expected: Challenge[]][] = [
  ["", []],
  ["  ,  , ", []],
  ['Basic realm="Registry Realm"', [challenge("basic", { realm: "Registry Realm" })]],
  ["Basic", [challenge("basic")]],
  // Docker Hub
  [
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",' +
    'scope="repository:library/alpine:pull"',
    [challenge("bearer", {
      realm: "https://auth.docker.io/token",
      service: "registry.docker.io",
      scope: "repository:library/alpine:pull",
    })],
  ],
  // Case-insensitive scheme and parameter names; whitespace around "=" and ","
  [
    'BEARER Realm = "https://r/token" , SERVICE=reg',
    [challenge("bearer", { realm: "https://r/token", service: "reg" })],
  ],
  // Unquoted values with ":" and "/", as some registries send them
  [
    "Bearer realm=https://r.example/v2/token,service=r.example",
    [challenge("bearer", { realm: "https://r.example/v2/token", service: "r.example" })],
  ],
  // Commas and escapes inside quoted strings; a scope with two actions
  [
    'Bearer realm="https://r/token",scope="repository:a/b:pull,push",error="say \\"hi\\", \\\\ ok"',
    [challenge("bearer", {
      realm: "https://r/token",
      scope: "repository:a/b:pull,push",
      error: 'say "hi", \\ ok',
    })],
  ],
  // Several challenges in one header
  [
    'Basic realm="a, b", Bearer realm="https://t/token",service="s", Digest nonce="x"',
    [
      challenge("basic", { realm: "a, b" }),
      challenge("bearer", { realm: "https://t/token", service: "s" }),
      challenge("digest", { nonce: "x" }),
    ],
  ],
  ["Negotiate, Basic realm=x", [challenge("negotiate"), challenge("basic", { realm: "x" })]],
  // Empty values; a repeated name keeps the first value
  ['Bearer realm="",service=', [challenge("bearer", { realm: "", service: "" })]],
  ['Basic realm="first", realm="second"', [challenge("basic", { realm: "first" })]],
  // Names that are special on plain objects are ordinary parameters
  [
    'Basic __proto__="x",constructor=y',
    [{ scheme: "basic", params: new Map([["__proto__", "x"], ["constructor", "y"]]) }],
  ],
];

const MALFORMED = [
  'Bearer realm="unterminated',
  'Bearer realm="escape at end\\',
  '"quoted" realm=x',
  "=x",
  'Bearer realm="a" service="b"',
  "Basic realm=x,,=y",
  'Bearer realm=a"b"',
  "Bearer ;",
];

Deno.test("parseChallenges: vectors", () => {
  for (const [header, expected] of VECTORS) {
    assert.deepEqual(parseChallenges(header), expected, header);
  }
});

Deno.test("parseChallenges: malformed headers throw AuthError naming the offset", () => {
  for (const header of MALFORMED) {
    assert.throws(() => parseChallenges(header), (error: unknown) => {
      assert.ok(error instanceof AuthError, `${header}: ${error}`);
      assert.match(error.message, /^invalid WWW-Authenticate header .* at offset \d+$/s);
      return true;
    });
  }
});

Deno.test("parseChallenges: a long malformed header is shortened in the message", () => {
  const header = `Bearer realm="${"x".repeat(10_000)}`;
  assert.throws(() => parseChallenges(header), (error: unknown) => {
    assert.ok(error instanceof AuthError);
    assert.ok(error.message.length < 400, `${error.message.length} characters`);
    return true;
  });
});
