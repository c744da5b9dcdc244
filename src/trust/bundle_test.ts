/** Bundle parsing and DSSE's encoding, against the DSSE protocol's own example. */
import assert from "node:assert/strict";
import { bundleReferrerPlan, parseBundle, preAuthEncoding } from "./bundle.ts";
import { SignatureError } from "./errors.ts";

const text = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

Deno.test("bundle: PAE is the DSSE protocol's example", () => {
  // From the DSSE protocol (secure-systems-lab/dsse, protocol.md).
  assert.equal(
    new TextDecoder().decode(
      preAuthEncoding("http://example.com/HelloWorld", new TextEncoder().encode("hello world")),
    ),
    "DSSEv1 29 http://example.com/HelloWorld 11 hello world",
  );
  // Lengths are in bytes, not characters.
  assert.equal(
    new TextDecoder().decode(preAuthEncoding("é", new TextEncoder().encode("é"))),
    "DSSEv1 2 é 2 é",
  );
});

Deno.test("bundle: a bundle parses; one with two contents or none, or bad base64, does not", () => {
  const dsse = {
    payload: "e30=",
    payloadType: "application/vnd.in-toto+json",
    signatures: [{ sig: "AQID", keyid: "" }],
  };
  const material = { publicKey: { hint: "h" }, tlogEntries: [] };
  const mediaType = "application/vnd.dev.sigstore.bundle.v0.3+json";
  const parsed = parseBundle(
    text({ mediaType, verificationMaterial: material, dsseEnvelope: dsse }),
  );
  assert.equal(parsed.content.kind, "dsseEnvelope");
  assert.deepEqual(parsed.keyMaterial, { kind: "publicKey", hint: "h" });
  const refuse = (value: unknown) => assert.throws(() => parseBundle(text(value)), SignatureError);
  refuse({ mediaType, verificationMaterial: material });
  refuse({ mediaType: "application/json", verificationMaterial: material, dsseEnvelope: dsse });
  refuse({
    mediaType,
    verificationMaterial: material,
    dsseEnvelope: dsse,
    messageSignature: {
      messageDigest: { algorithm: "SHA2_256", digest: "AQID" },
      signature: "AQID",
    },
  });
  refuse({ mediaType, verificationMaterial: material, dsseEnvelope: { ...dsse, payload: "e30" } });
  refuse({ mediaType, verificationMaterial: material, dsseEnvelope: { ...dsse, signatures: [] } });
  refuse({ mediaType, verificationMaterial: {}, dsseEnvelope: dsse });
});

Deno.test("bundle: the referrer manifest is cosign's", () => {
  const bundle = text({
    mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
    verificationMaterial: { publicKey: { hint: "" } },
    dsseEnvelope: {
      payload: btoa(JSON.stringify({
        _type: "https://in-toto.io/Statement/v1",
        subject: [],
        predicateType: "https://sigstore.dev/cosign/sign/v1",
      })),
      payloadType: "application/vnd.in-toto+json",
      signatures: [{ sig: "AQID" }],
    },
  });
  const image = {
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: `sha256:${"a".repeat(64)}` as const,
    size: 10,
  };
  const plan = bundleReferrerPlan(image, bundle, { created: "2026-01-01T00:00:00Z" });
  const manifest = JSON.parse(new TextDecoder().decode(plan.manifest.bytes));
  assert.equal(manifest.artifactType, "application/vnd.dev.sigstore.bundle.v0.3+json");
  assert.deepEqual(manifest.config, {
    mediaType: "application/vnd.oci.empty.v1+json",
    size: 2,
    digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
  });
  assert.deepEqual(manifest.subject, image);
  assert.deepEqual(manifest.annotations, {
    "org.opencontainers.image.created": "2026-01-01T00:00:00Z",
    "dev.sigstore.bundle.content": "dsse-envelope",
    "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1",
  });
  assert.equal(plan.tag, undefined);
  assert.equal(plan.manifest.descriptor.artifactType, manifest.artifactType);
});
