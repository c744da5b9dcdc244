/**
 * Signatures end to end on OCI layouts, judged by material made outside ocisync: keys and
 * signatures from Python's `cryptography` (and cosign-encrypted keys sealed with PyNaCl),
 * signature manifests typed by hand from cosign's specification, and keyless bundles from
 * `@sigstore/mock`'s offline Fulcio, Rekor and TSA.
 */
import assert from "node:assert/strict";
import { LayoutTarget } from "../src/layout/mod.ts";
import type { Descriptor, Target } from "../mod.ts";
import {
  bundleReferrerPlan,
  KeyError,
  parsePrivateKey,
  parsePublicKey,
  type SignaturePlan,
  signBundle,
  signClassic,
  verifyBundles,
  verifyClassic,
} from "../src/trust/mod.ts";
import { ensureEcDefaultDigest } from "../src/trust/keyless.ts";
import { MAX_SIGNATURE_LAYERS } from "../src/trust/cosign.ts";
import { UsageError } from "../src/errors/mod.ts";
import {
  b64,
  cosignStatement,
  handPayload,
  keyedDsseBundle,
  keyedMessageBundle,
  mockSigstore,
  pae,
  pushHandSignatures,
  pushTestImage,
  pythonKeys,
  pythonSign,
  pythonVerify,
  refusal,
} from "./helpers/cosign_vectors.ts";
import { exitCodeOf } from "../src/cli/exit.ts";
import { sha256Digest, sha256Hex } from "./helpers/hash.ts";
import { withTempDir } from "./helpers/tree.ts";

const keysA = await pythonKeys({ password: "correct horse" });
const keysB = await pythonKeys({ password: "" });

async function withLayout(body: (layout: LayoutTarget, dir: string) => Promise<void>) {
  await withTempDir("ocisync-trust-", async (dir) => {
    await body(await LayoutTarget.open(`${dir}/layout`, { create: true }), `${dir}/layout`);
  });
}

/** Pushes a plan the way the writer will: config and blobs, then the manifest. */
async function pushPlan(target: Target, plan: SignaturePlan): Promise<void> {
  for (const blob of [plan.config, ...plan.blobs]) {
    await target.pushBlob(blob.descriptor, ReadableStream.from([blob.bytes]));
  }
  await target.pushManifest(
    plan.manifest.descriptor,
    plan.manifest.bytes,
    plan.tag ? [plan.tag] : [],
  );
}

async function imageOf(layout: LayoutTarget, tag: string): Promise<Descriptor> {
  await pushTestImage(layout, tag);
  return await layout.resolve(tag);
}

// --- classic signatures, verified against hand-made vectors ---------------------------------------

Deno.test("classic: a cosign signature made by hand and signed by Python verifies", async () => {
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    const payload = handPayload(image.digest, "ghcr.io/acme/flows", '{"ci":"true","run":7}');
    await pushHandSignatures(layout, image.digest, [
      { payload, signature: await pythonSign(keysA.pkcs8, payload) },
    ]);
    const result = await verifyClassic(layout, image, [parsePublicKey(keysA.public)]);
    assert.equal(result.signatures.length, 1);
    const [signature] = result.signatures;
    assert.equal(signature.keyFingerprint, `sha256:${sha256Hex(hexBytes(keysA.spkiHex))}`);
    assert.equal(signature.dockerReference, "ghcr.io/acme/flows");
    assert.deepEqual(signature.annotations, { ci: "true", run: 7 });
    assert.equal(signature.payloadDigest, sha256Digest(payload));
    assert.deepEqual(result.rejected, []);
  });
});

Deno.test("classic: a tampered payload is refused", async () => {
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    const signed = handPayload(image.digest, "ghcr.io/acme/flows");
    const tampered = handPayload(image.digest, "ghcr.io/evil/flows");
    await pushHandSignatures(layout, image.digest, [
      { payload: tampered, signature: await pythonSign(keysA.pkcs8, signed) },
    ]);
    const error = await refusal(verifyClassic(layout, image, [parsePublicKey(keysA.public)]));
    assert.equal(error.reason, "invalid-signature");
    assert.equal(exitCodeOf(error), 8);
    assert.match(error.rejected[0], /no key verified/);
  });
});

Deno.test("classic: a signature by another key is refused", async () => {
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    const payload = handPayload(image.digest, "ghcr.io/acme/flows");
    await pushHandSignatures(layout, image.digest, [
      { payload, signature: await pythonSign(keysB.pkcs8, payload) },
    ]);
    const error = await refusal(verifyClassic(layout, image, [parsePublicKey(keysA.public)]));
    assert.equal(error.reason, "invalid-signature");
    // The right key among several verifies it.
    const ok = await verifyClassic(layout, image, [
      parsePublicKey(keysA.public),
      parsePublicKey(keysB.public),
    ]);
    assert.equal(ok.signatures[0].keyFingerprint, `sha256:${sha256Hex(hexBytes(keysB.spkiHex))}`);
  });
});

Deno.test("classic: a valid signature for another digest, copied over, is refused", async () => {
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    const other = await imageOf(layout, "v2");
    const payload = handPayload(other.digest, "ghcr.io/acme/flows");
    await pushHandSignatures(layout, image.digest, [
      { payload, signature: await pythonSign(keysA.pkcs8, payload) },
    ]);
    const error = await refusal(verifyClassic(layout, image, [parsePublicKey(keysA.public)]));
    assert.equal(error.reason, "digest-mismatch");
    assert.match(error.rejected[0], new RegExp(other.digest));
  });
});

Deno.test("classic: garbage base64 is refused, and does not hide a valid layer", async () => {
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    const payload = handPayload(image.digest, "ghcr.io/acme/flows");
    const garbage = handPayload(image.digest, "ghcr.io/acme/garbage");
    await pushHandSignatures(layout, image.digest, [
      { payload: garbage, signature: "!!not-base64!!" },
    ]);
    const key = parsePublicKey(keysA.public);
    const error = await refusal(verifyClassic(layout, image, [key]));
    assert.equal(error.reason, "malformed");
    assert.match(error.rejected[0], /not base64/);
    await pushHandSignatures(layout, image.digest, [
      { payload: garbage, signature: "MEUCIQ" }, // base64 of too few bytes, padding missing
      { payload, signature: await pythonSign(keysA.pkcs8, payload) },
    ]);
    const result = await verifyClassic(layout, image, [key]);
    assert.equal(result.signatures.length, 1);
    assert.equal(result.rejected.length, 1);
  });
});

Deno.test("classic: no .sig tag is no-signature; a corrupt payload blob is refused", async () => {
  await withLayout(async (layout, dir) => {
    const image = await imageOf(layout, "v1");
    const key = parsePublicKey(keysA.public);
    assert.equal((await refusal(verifyClassic(layout, image, [key]))).reason, "no-signature");
    const payload = handPayload(image.digest, "ghcr.io/acme/flows");
    await pushHandSignatures(layout, image.digest, [
      { payload, signature: await pythonSign(keysA.pkcs8, payload) },
    ]);
    // Same size, other bytes: the layout's digest check fails while the payload is read.
    const path = `${dir}/blobs/sha256/${sha256Hex(payload)}`;
    await Deno.writeFile(path, new Uint8Array(payload.length).fill(0x20));
    const error = await refusal(verifyClassic(layout, image, [key]));
    assert.equal(error.reason, "malformed");
    assert.match(error.rejected[0], /payload unreadable/);
  });
});

// --- signing with keys in each form, checked by Python ---------------------------------------------

for (
  const [form, pem, password] of [
    ["PKCS#8", keysA.pkcs8, undefined],
    ["SEC1", keysA.sec1, undefined],
    ["cosign-encrypted", keysA.encrypted, "correct horse"],
  ] as const
) {
  Deno.test(`sign: a ${form} key signs, and Python verifies the signature`, async () => {
    await withLayout(async (layout) => {
      const image = await imageOf(layout, "v1");
      const key = await parsePrivateKey(pem, { password });
      assert.equal(key.publicKey.fingerprint, `sha256:${sha256Hex(hexBytes(keysA.spkiHex))}`);
      const plan = await signClassic(layout, image, key, {
        identity: "ghcr.io/acme/flows",
        annotations: { ci: "true", branch: "main" },
      });
      assert.equal(plan.tag, `sha256-${image.digest.slice(7)}.sig`);
      // The payload is exactly cosign's, typed by hand (annotations sorted as Go sorts them).
      assert.deepEqual(
        new TextDecoder().decode(plan.payload.bytes),
        new TextDecoder().decode(
          handPayload(image.digest, "ghcr.io/acme/flows", '{"branch":"main","ci":"true"}'),
        ),
      );
      assert.ok(await pythonVerify(keysA.public, plan.payload.bytes, plan.signature));
      assert.ok(!await pythonVerify(keysB.public, plan.payload.bytes, plan.signature));
      await pushPlan(layout, plan);
      const result = await verifyClassic(layout, image, [parsePublicKey(keysA.public)]);
      assert.deepEqual(result.signatures[0].annotations, { branch: "main", ci: "true" });
    });
  });
}

Deno.test("sign: the .sig manifest and config are laid out as cosign writes them", async () => {
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    const plan = await signClassic(layout, image, await parsePrivateKey(keysA.pkcs8));
    const payloadDigest = sha256Digest(plan.payload.bytes);
    // go-containerregistry's empty image plus one static layer, as cosign pushes it.
    assert.equal(
      new TextDecoder().decode(plan.config.bytes),
      `{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["${payloadDigest}"]},"config":{}}`,
    );
    const manifest = JSON.parse(new TextDecoder().decode(plan.manifest.bytes));
    assert.deepEqual(manifest, {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        size: plan.config.bytes.length,
        digest: sha256Digest(plan.config.bytes),
      },
      layers: [{
        mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
        size: plan.payload.bytes.length,
        digest: payloadDigest,
        annotations: { "dev.cosignproject.cosign/signature": plan.signature },
      }],
    });
    assert.equal(plan.manifest.descriptor.digest, sha256Digest(plan.manifest.bytes));
    // The default identity is the target's name.
    assert.match(new TextDecoder().decode(plan.payload.bytes), /"docker-reference":"oci:/);
  });
});

Deno.test("sign: a .sig that holds as many signatures as verify reads takes no more", async () => {
  // The 65th was appended where no verification would ever read it.
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    const other = handPayload(image.digest, "ghcr.io/acme/flows", '{"by":"b"}');
    const signature = await pythonSign(keysB.pkcs8, other);
    await pushHandSignatures(
      layout,
      image.digest,
      Array.from({ length: MAX_SIGNATURE_LAYERS }, () => ({ payload: other, signature })),
    );
    await assert.rejects(
      signClassic(layout, image, await parsePrivateKey(keysA.sec1)),
      (error: Error) =>
        error instanceof UsageError &&
        /holds 64 signatures; verify reads the first 64/.test(error.message),
    );
  });
});

Deno.test("sign: appends to another signer's layers; the same signature twice is not added", async () => {
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    const other = handPayload(image.digest, "ghcr.io/acme/flows", '{"by":"b"}');
    await pushHandSignatures(layout, image.digest, [
      { payload: other, signature: await pythonSign(keysB.pkcs8, other) },
    ]);
    const key = await parsePrivateKey(keysA.sec1);
    const first = await signClassic(layout, image, key, { identity: "r" });
    assert.equal(first.appended, true);
    await pushPlan(layout, first);
    const both = await verifyClassic(layout, image, [
      parsePublicKey(keysA.public),
      parsePublicKey(keysB.public),
    ]);
    assert.equal(both.signatures.length, 2);
    const again = await signClassic(layout, image, key, { identity: "r" });
    assert.equal(again.appended, false);
    assert.equal(again.manifest.descriptor.digest, first.manifest.descriptor.digest);
    assert.deepEqual(again.blobs, []);
  });
});

Deno.test("keys: wrong or missing passwords, the old COSIGN label, and non-P-256 keys", async () => {
  await assert.rejects(parsePrivateKey(keysA.encrypted, { password: "wrong" }), KeyError);
  const old = await pythonKeys({ password: "pw", label: "ENCRYPTED COSIGN PRIVATE KEY" });
  const saved = Deno.env.get("COSIGN_PASSWORD");
  try {
    Deno.env.delete("COSIGN_PASSWORD");
    await assert.rejects(parsePrivateKey(old.encrypted), /no password/);
    Deno.env.set("COSIGN_PASSWORD", "pw");
    const key = await parsePrivateKey(old.encrypted);
    assert.equal(key.publicKey.fingerprint, `sha256:${sha256Hex(hexBytes(old.spkiHex))}`);
    // An empty password is a password: keysB was sealed with "".
    Deno.env.set("COSIGN_PASSWORD", "");
    await parsePrivateKey(keysB.encrypted);
  } finally {
    if (saved === undefined) Deno.env.delete("COSIGN_PASSWORD");
    else Deno.env.set("COSIGN_PASSWORD", saved);
  }
  const p384 = await pythonKeys({ curve: "P-384" });
  await assert.rejects(parsePrivateKey(p384.pkcs8), /only ECDSA P-256/);
  assert.throws(() => parsePublicKey(p384.public), KeyError);
  assert.throws(() => parsePublicKey(keysA.pkcs8), /not a PEM public key/);
});

// --- Sigstore bundles as OCI 1.1 referrers -------------------------------------------------------

Deno.test("bundle: a keyed DSSE bundle, signed by Python, verifies as a referrer", async () => {
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    await pushPlan(
      layout,
      bundleReferrerPlan(image, await keyedDsseBundle(keysA.pkcs8, image.digest)),
    );
    const result = await verifyBundles(layout, image, {
      publicKeys: [parsePublicKey(keysA.public)],
    });
    assert.equal(result.bundles.length, 1);
    assert.equal(result.bundles[0].kind, "key");
    assert.equal(result.bundles[0].content, "dsseEnvelope");
    assert.equal(result.bundles[0].predicateType, "https://sigstore.dev/cosign/sign/v1");
    const wrong = await refusal(
      verifyBundles(layout, image, { publicKeys: [parsePublicKey(keysB.public)] }),
    );
    assert.equal(wrong.reason, "invalid-signature");
  });
});

Deno.test("bundle: our keyed bundle's signature verifies with Python, and as a referrer", async () => {
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    const bundle = signBundle(image, await parsePrivateKey(keysA.sec1), {
      annotations: { ci: "true" },
    });
    const doc = JSON.parse(new TextDecoder().decode(bundle));
    const statement = Uint8Array.from(atob(doc.dsseEnvelope.payload), (c) => c.charCodeAt(0));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(statement)).subject, [
      { digest: { sha256: image.digest.slice(7) }, annotations: { ci: "true" } },
    ]);
    // cosign's hint: base64 of the SHA-256 of the DER public key.
    assert.equal(
      doc.verificationMaterial.publicKey.hint,
      b64(hexBytes(sha256Hex(hexBytes(keysA.spkiHex)))),
    );
    const signed = pae("application/vnd.in-toto+json", statement);
    assert.ok(await pythonVerify(keysA.public, signed, doc.dsseEnvelope.signatures[0].sig));
    await pushPlan(layout, bundleReferrerPlan(image, bundle));
    const result = await verifyBundles(layout, image, {
      publicKeys: [parsePublicKey(keysA.public)],
    });
    assert.equal(result.bundles[0].kind, "key");
  });
});

Deno.test("bundle: a keyed message-signature bundle over the manifest verifies", async () => {
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    const manifest = await layout.fetchManifest(image);
    await pushPlan(
      layout,
      bundleReferrerPlan(image, await keyedMessageBundle(keysA.pkcs8, manifest)),
    );
    const result = await verifyBundles(layout, image, {
      publicKeys: [parsePublicKey(keysA.public)],
    });
    assert.equal(result.bundles[0].content, "messageSignature");
  });
});

Deno.test("bundle: a statement about another image is refused; none at all is no-signature", async () => {
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    const other = await imageOf(layout, "v2");
    const key = parsePublicKey(keysA.public);
    assert.equal(
      (await refusal(verifyBundles(layout, image, { publicKeys: [key] }))).reason,
      "no-signature",
    );
    // A bundle for v2 attached to v1: the statement's subject gives it away.
    const bundle = await keyedDsseBundle(keysA.pkcs8, image.digest, cosignStatement(other.digest));
    await pushPlan(layout, bundleReferrerPlan(image, bundle));
    const error = await refusal(verifyBundles(layout, image, { publicKeys: [key] }));
    assert.equal(error.reason, "digest-mismatch");
  });
});

// --- keyless, against @sigstore/mock's offline Sigstore -------------------------------------------

const sigstore = await mockSigstore();
const policy = {
  trustedRoot: sigstore.trustedRoot,
  certificateIdentity: "dev@example.com",
  certificateOidcIssuer: "https://accounts.example.com",
};

async function attachKeyless(
  layout: LayoutTarget,
  image: Descriptor,
  bundle: Record<string, unknown>,
): Promise<void> {
  const bytes = new TextEncoder().encode(JSON.stringify(bundle));
  await pushPlan(layout, bundleReferrerPlan(image, bytes));
}

Deno.test("keyless: a Fulcio + Rekor bundle verifies against its trusted root", async () => {
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    await attachKeyless(layout, image, await sigstore.sign(cosignStatement(image.digest)));
    const result = await verifyBundles(layout, image, { keyless: policy });
    assert.equal(result.bundles[0].kind, "keyless");
    assert.equal(result.bundles[0].identity, "dev@example.com");
    assert.equal(result.bundles[0].issuer, "https://accounts.example.com");
    const regexp = await verifyBundles(layout, image, {
      keyless: {
        trustedRoot: JSON.stringify(sigstore.trustedRoot),
        certificateIdentityRegexp: "@example\\.com$",
        certificateOidcIssuerRegexp: "^https://accounts\\.",
      },
    });
    assert.equal(regexp.bundles.length, 1);
  });
});

Deno.test("keyless: another identity or issuer is refused", async () => {
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    await attachKeyless(layout, image, await sigstore.sign(cosignStatement(image.digest)));
    for (
      const keyless of [
        { ...policy, certificateIdentity: "ops@example.com" },
        { ...policy, certificateOidcIssuer: "https://token.actions.githubusercontent.com" },
        { ...policy, certificateIdentity: undefined, certificateIdentityRegexp: "^ops@" },
      ]
    ) {
      const error = await refusal(verifyBundles(layout, image, { keyless }));
      assert.equal(error.reason, "identity-mismatch", error.message);
    }
  });
});

Deno.test("keyless: a certificate expired when the log entry was made is refused", async () => {
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    // Fulcio's certificates live 10 minutes. The control: issued 5 minutes before the log entry
    // (by a CA whose clock is set back), it verifies.
    await attachKeyless(
      layout,
      image,
      await sigstore.sign(cosignStatement(image.digest), {
        certTime: new Date(Date.now() - 5 * 60_000),
      }),
    );
    assert.equal((await verifyBundles(layout, image, { keyless: policy })).bundles.length, 1);
  });
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    // Issued two hours before Rekor logged it: expired at signing time.
    const certTime = new Date(Date.now() - 2 * 3600_000);
    await attachKeyless(
      layout,
      image,
      await sigstore.sign(cosignStatement(image.digest), { certTime }),
    );
    const error = await refusal(verifyBundles(layout, image, { keyless: policy }));
    assert.equal(error.reason, "untrusted");
    assert.match(error.rejected.join("\n"), /CERTIFICATE_ERROR/);
  });
});

Deno.test("keyless: a broken inclusion proof is refused", async () => {
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    const bundle = await sigstore.sign(cosignStatement(image.digest));
    // deno-lint-ignore no-explicit-any
    const entry = (bundle.verificationMaterial as any).tlogEntries[0];
    entry.inclusionProof.hashes = [b64(new Uint8Array(32).fill(7))];
    await attachKeyless(layout, image, bundle);
    const error = await refusal(verifyBundles(layout, image, { keyless: policy }));
    assert.equal(error.reason, "untrusted");
    assert.match(error.rejected.join("\n"), /TLOG_INCLUSION_PROOF_ERROR/);
  });
});

Deno.test("keyless: a signature not matching its log entry, and an untrusted root, are refused", async () => {
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    const bundle = await sigstore.sign(cosignStatement(image.digest));
    const other = await sigstore.sign(cosignStatement(image.digest));
    // deno-lint-ignore no-explicit-any
    (bundle.dsseEnvelope as any).signatures = (other.dsseEnvelope as any).signatures;
    await attachKeyless(layout, image, bundle);
    const error = await refusal(verifyBundles(layout, image, { keyless: policy }));
    assert.ok(["untrusted", "invalid-signature"].includes(error.reason), error.message);
  });
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    await attachKeyless(layout, image, await sigstore.sign(cosignStatement(image.digest)));
    const stranger = await mockSigstore();
    const error = await refusal(
      verifyBundles(layout, image, { keyless: { ...policy, trustedRoot: stranger.trustedRoot } }),
    );
    assert.equal(error.reason, "untrusted");
  });
});

Deno.test("keyless: an RFC 3161 timestamp stands in for the log with --insecure-ignore-tlog", async () => {
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    await attachKeyless(
      layout,
      image,
      await sigstore.sign(cosignStatement(image.digest), { timestampOnly: true }),
    );
    const strict = await refusal(verifyBundles(layout, image, { keyless: policy }));
    assert.equal(strict.reason, "untrusted", `${strict.message}: ${strict.hint}`);
    const result = await verifyBundles(layout, image, { keyless: { ...policy, ignoreTlog: true } });
    assert.equal(result.bundles[0].identity, "dev@example.com");
  });
});

Deno.test("keyless: a keyless bundle without a policy, or a keyed one without a key, is refused", async () => {
  await withLayout(async (layout) => {
    const image = await imageOf(layout, "v1");
    await attachKeyless(layout, image, await sigstore.sign(cosignStatement(image.digest)));
    const error = await refusal(
      verifyBundles(layout, image, { publicKeys: [parsePublicKey(keysA.public)] }),
    );
    assert.equal(error.reason, "untrusted");
    await assert.rejects(
      verifyBundles(layout, image, { keyless: { trustedRoot: sigstore.trustedRoot } }),
      /needs an identity/,
    );
  });
});

Deno.test("keyless: the node:crypto shim does what Node does for EC keys with no digest", async () => {
  // The shim patches the module object that sigstore-js's `require("crypto")` returns.
  const { generateKeyPairSync, sign, verify } = (await import("node:crypto")).default;
  ensureEcDefaultDigest();
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const data = new TextEncoder().encode("x");
  const signature = sign("sha256", data, privateKey);
  assert.equal(verify(undefined, data, publicKey, signature), true);
  assert.equal(verify(undefined, new TextEncoder().encode("y"), publicKey, signature), false);
});

function hexBytes(hex: string): Uint8Array {
  return new Uint8Array(hex.match(/../g)!.map((h) => parseInt(h, 16)));
}
