/**
 * Tests of the `WWW-Authenticate` parser: hand-written vectors from real registries and from
 * RFC 9110's grammar, and a seeded fuzz loop that allows only results or typed errors.
 */
import assert from "node:assert/strict";
import { AuthError, UsageError } from "../src/errors/mod.ts";
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

/** mulberry32: a small seeded generator, so that a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("parseChallenges: fuzz, only results or typed errors", () => {
  const next = random(0x5eed);
  // Pieces of the grammar, plus arbitrary characters, so that inputs are often nearly valid.
  const pieces = [
    "Bearer",
    "Basic",
    " ",
    "\t",
    ",",
    "=",
    '"',
    "\\",
    "realm",
    "service",
    "scope",
    "https://r/token",
    "repository:a/b:pull,push",
    "__proto__",
    "é",
    "\u0000",
    "\u{1F600}",
  ];
  const arbitrary = () => String.fromCodePoint(Math.floor(next() * 0x2ffff));
  let results = 0;
  for (let i = 0; i < 2000; i++) {
    let header = "";
    const length = Math.floor(next() * 24);
    for (let j = 0; j < length; j++) {
      header += next() < 0.8 ? pieces[Math.floor(next() * pieces.length)] : arbitrary();
    }
    try {
      const challenges = parseChallenges(header);
      for (const c of challenges) {
        assert.equal(typeof c.scheme, "string");
        assert.equal(c.scheme, c.scheme.toLowerCase());
        assert.ok(c.params instanceof Map);
      }
      results++;
    } catch (error) {
      if (!(error instanceof AuthError || error instanceof UsageError)) {
        assert.fail(`input ${JSON.stringify(header)} threw ${error}`);
      }
    }
  }
  // The generator must reach both outcomes, or it tests too little.
  assert.ok(results > 100 && results < 1900, `${results} of 2000 inputs parsed`);
});
