/**
 * Simple-signing payloads against text typed from cosign's specification (SIGNATURE_SPEC.md)
 * and sigstore's `payload.go`.
 */
import assert from "node:assert/strict";
import { SignatureError } from "./errors.ts";
import { buildSimpleSigningPayload, parseSimpleSigningPayload } from "./simplesigning.ts";

// A valid digest; the specification's own example is elided ("sha256:20be...fe55").
const DIGEST = `sha256:${"20befe55".repeat(8)}` as const;

function payload(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof SignatureError) return error.reason;
    throw error;
  }
  return "accepted";
}

Deno.test("simplesigning: the payload is byte for byte what cosign writes", () => {
  assert.equal(
    new TextDecoder().decode(
      buildSimpleSigningPayload({ digest: DIGEST, dockerReference: "ghcr.io/acme/flows" }),
    ),
    `{"critical":{"identity":{"docker-reference":"ghcr.io/acme/flows"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"cosign container image signature"},"optional":null}`,
  );
  assert.equal(
    new TextDecoder().decode(
      buildSimpleSigningPayload({
        digest: DIGEST,
        dockerReference: "r",
        annotations: { z: "1", a: "2", "ab": "3" },
      }),
    ),
    `{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"cosign container image signature"},"optional":{"a":"2","ab":"3","z":"1"}}`,
  );
});

Deno.test("simplesigning: the specification's example parses, key case and all", () => {
  const parsed = parseSimpleSigningPayload(
    payload(`{
    "critical": {
      "identity": { "docker-reference": "testing/manifest" },
      "image": { "Docker-manifest-digest": "${DIGEST}" },
      "type": "cosign container image signature"
    },
    "optional": { "creator": "atomic", "timestamp": 1458239713 }
  }`),
    DIGEST,
  );
  assert.deepEqual(parsed, {
    dockerManifestDigest: DIGEST,
    dockerReference: "testing/manifest",
    annotations: { creator: "atomic", timestamp: 1458239713 },
  });
});

Deno.test("simplesigning: wrong type, missing fields, bad JSON and another digest are refused", () => {
  const base = (critical: string, optional = "null") =>
    payload(`{"critical":${critical},"optional":${optional}}`);
  const good =
    `{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"cosign container image signature"}`;
  assert.equal(reason(() => parseSimpleSigningPayload(base(good), DIGEST)), "accepted");
  assert.equal(
    reason(() =>
      parseSimpleSigningPayload(base(good.replace("cosign container", "atomic container")))
    ),
    "malformed",
  );
  assert.equal(
    reason(() =>
      parseSimpleSigningPayload(base(good.replace(`"identity":{"docker-reference":"r"},`, "")))
    ),
    "malformed",
  );
  assert.equal(
    reason(() => parseSimpleSigningPayload(base(good.replace(DIGEST, "sha256:abc")))),
    "malformed",
  );
  assert.equal(reason(() => parseSimpleSigningPayload(base(good, "[1]"))), "malformed");
  assert.equal(reason(() => parseSimpleSigningPayload(payload("{"))), "malformed");
  assert.equal(reason(() => parseSimpleSigningPayload(payload("[]"))), "malformed");
  assert.equal(reason(() => parseSimpleSigningPayload(new Uint8Array([0xff, 0xfe]))), "malformed");
  assert.equal(
    reason(() => parseSimpleSigningPayload(base(good.replace('"image":', '"IMAGE":{},"image":')))),
    "malformed",
  );
  const other = `sha256:${"1".repeat(64)}`;
  assert.equal(reason(() => parseSimpleSigningPayload(base(good), other)), "digest-mismatch");
});

Deno.test("simplesigning: a key that Go's case folding matches is read, and two such keys are refused", () => {
  // Go's encoding/json (cosign) matches keys by Unicode simple folding: "ſ" (U+017F) is an "s"
  // and "K" (U+212A) a "k". A payload naming the digest under two such spellings would name one
  // digest to one reader and another digest to another.
  const other = `sha256:${"1".repeat(64)}`;
  const withImage = (image: string) =>
    payload(
      `{"critical":{"identity":{"docker-reference":"r"},"image":${image},"type":"cosign container image signature"},"optional":null}`,
    );
  const longS = "docker-manife\u017ft-dige\u017ft";
  const kelvin = "doc\u212Aer-manifest-digest";
  for (const spelling of [longS, kelvin]) {
    assert.equal(
      parseSimpleSigningPayload(withImage(`{"${spelling}":"${DIGEST}"}`), DIGEST)
        .dockerManifestDigest,
      DIGEST,
      spelling,
    );
    for (
      const image of [
        `{"docker-manifest-digest":"${DIGEST}","${spelling}":"${other}"}`,
        `{"${spelling}":"${other}","docker-manifest-digest":"${DIGEST}"}`,
      ]
    ) {
      assert.equal(reason(() => parseSimpleSigningPayload(withImage(image), DIGEST)), "malformed");
    }
  }
});

Deno.test("simplesigning: a member the format does not define is refused, at any level", () => {
  // An image manifest that also carries `critical`: signed whole as a message signature, it
  // must not pass for a payload of the image that `critical` names.
  const critical =
    `"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"cosign container image signature"}`;
  const extra = [
    `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",${critical}}`,
    `{${critical},"optional":null,"layers":[]}`,
    `{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"cosign container image signature","extra":1}}`,
    `{"critical":{"identity":{"docker-reference":"r","x":1},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"cosign container image signature"}}`,
    `{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"${DIGEST}","size":1},"type":"cosign container image signature"}}`,
  ];
  for (const text of extra) {
    assert.throws(
      () => parseSimpleSigningPayload(payload(text), DIGEST),
      (error) => error instanceof SignatureError && error.reason === "malformed",
      text,
    );
  }
  // What the format defines, and no more, still parses.
  assert.equal(
    parseSimpleSigningPayload(payload(`{${critical},"optional":{"creator":"x"}}`), DIGEST)
      .dockerManifestDigest,
    DIGEST,
  );
});
