import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { sha256Digest } from "../digest/mod.ts";
import { NotFoundError, UsageError } from "../errors/mod.ts";
import { LayoutTarget } from "../layout/mod.ts";
import type { Descriptor } from "../oci/types.ts";
import { signatureTag } from "./cosign.ts";
import { SignatureError } from "./errors.ts";
import { parsePrivateKey, parsePublicKey, signBytes } from "./keys.ts";
import { openVerifier, Verifier } from "./verifier.ts";
import { wantsVerification } from "./files.ts";

// The independent checks (keys and signatures from Python's `cryptography`) are in
// tests/verify_flow_test.ts; here, the verifier's own logic: options, and an index's fallback.

const pair = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
const privatePem = pair.privateKey.export({ format: "pem", type: "pkcs8" }).toString();
const publicPem = pair.publicKey.export({ format: "pem", type: "spki" }).toString();

Deno.test("Verifier: needs keys or a full keyless policy", () => {
  assert.throws(() => new Verifier({}), UsageError);
  assert.throws(() => new Verifier({ keyless: { trustedRoot: "{}", issuer: "x" } }), /identity/);
  assert.throws(() => new Verifier({ keyless: { trustedRoot: "{}", identity: "x" } }), /issuer/);
  assert.throws(
    () => new Verifier({ keyless: { trustedRoot: "{}", identityRegexp: "(", issuer: "x" } }),
    /invalid regular expression/,
  );
  // An empty pattern matches every identity: a variable that came out empty accepted any signer.
  for (
    const keyless of [
      { trustedRoot: "{}", identityRegexp: "", issuer: "https://issuer" },
      { trustedRoot: "{}", identity: "me@example.com", issuerRegexp: "" },
      { trustedRoot: "{}", identity: "", issuer: "https://issuer" },
    ]
  ) {
    assert.throws(() => new Verifier({ keyless }), /got an empty (identity|issuer)/);
  }
  new Verifier({ publicKeys: [parsePublicKey(publicPem)] });
});

Deno.test("openVerifier: nothing asked is no verifier; keyless options need a trusted root", async () => {
  assert.equal(wantsVerification({ insecureIgnoreSct: false }), false);
  assert.equal(await openVerifier({}), undefined);
  // A key list that came out empty is no "no verification": it was asked for.
  assert.equal(wantsVerification({ verifyKeys: [] }), true);
  await assert.rejects(openVerifier({ verifyKeys: [] }), UsageError);
  await assert.rejects(openVerifier({ certificateIdentity: "me" }), /needs --trusted-root/);
  // A missing key is not found (exit 4), as `sign --key` has it; a folder is an unreadable
  // file (exit 1), as any file the user names.
  await assert.rejects(
    openVerifier({ verifyKeys: ["/nonexistent/cosign.pub"] }),
    NotFoundError,
    "no such key file: /nonexistent/cosign.pub",
  );
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      openVerifier({ verifyKeys: [dir] }),
      /cannot read the key file .*: it is a folder/,
    );
    await Deno.writeTextFile(`${dir}/cosign.pub`, publicPem);
    assert.ok(await openVerifier({ verifyKeys: [`${dir}/cosign.pub`] }) instanceof Verifier);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

async function push(layout: LayoutTarget, bytes: Uint8Array, mediaType: string, tags: string[]) {
  const descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length } as Descriptor;
  if (mediaType.includes("manifest") || mediaType.includes("index")) {
    await layout.pushManifest(descriptor, bytes, tags);
  } else {
    await layout.pushBlob(descriptor, ReadableStream.from([bytes]));
  }
  return descriptor;
}

/** A classic signature of `digest`, laid out as cosign's specification says. */
async function sign(layout: LayoutTarget, digest: string) {
  const key = await parsePrivateKey(privatePem);
  const payload = encode({
    critical: {
      identity: { "docker-reference": "example.com/app" },
      image: { "docker-manifest-digest": digest },
      type: "cosign container image signature",
    },
    optional: null,
  });
  const layer = await push(layout, payload, "application/vnd.dev.cosign.simplesigning.v1+json", []);
  const config = await push(
    layout,
    encode({ rootfs: { type: "layers", diff_ids: [] } }),
    "application/vnd.oci.image.config.v1+json",
    [],
  );
  const signature = btoa(String.fromCharCode(...signBytes(key, payload)));
  await push(
    layout,
    encode({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config,
      layers: [{ ...layer, annotations: { "dev.cosignproject.cosign/signature": signature } }],
    }),
    "application/vnd.oci.image.manifest.v1+json",
    [signatureTag(digest)],
  );
}

Deno.test("an index without a signature falls back to the platform's signed manifest", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const layout = await LayoutTarget.open(`${dir}/layout`, { create: true });
    const config = await push(
      layout,
      encode({ architecture: "arm64", os: "linux" }),
      "application/vnd.oci.image.config.v1+json",
      [],
    );
    const manifest = (n: number) =>
      push(
        layout,
        encode({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          config,
          layers: [],
          annotations: { n: String(n) },
        }),
        "application/vnd.oci.image.manifest.v1+json",
        [],
      );
    const amd64 = await manifest(1);
    const arm64 = await manifest(2);
    const index = await push(
      layout,
      encode({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [
          { ...amd64, platform: { os: "linux", architecture: "amd64" } },
          { ...arm64, platform: { os: "linux", architecture: "arm64" } },
        ],
      }),
      "application/vnd.oci.image.index.v1+json",
      ["v1"],
    );
    const verifier = new Verifier({ publicKeys: [parsePublicKey(publicPem)] });
    const arm = { platform: { os: "linux", architecture: "arm64" } };
    const amd = { platform: { os: "linux", architecture: "amd64" } };

    const none = await verifier.verify(layout, index, arm).catch((e) => e);
    assert.ok(none instanceof SignatureError);
    assert.equal(none.reason, "no-signature");

    await sign(layout, arm64.digest);
    const child = await verifier.verify(layout, index, arm);
    assert.equal(child.subject, "platform");
    assert.equal(child.digest, arm64.digest);
    await assert.rejects(verifier.verify(layout, index, amd), SignatureError);

    await sign(layout, index.digest);
    const whole = await verifier.verify(layout, index, amd);
    assert.equal(whole.subject, "given");
    assert.equal(whole.digest, index.digest);
    assert.equal(whole.classic.length, 1);

    const aborted = new AbortController();
    aborted.abort(new Error("stopped"));
    await assert.rejects(verifier.verify(layout, index, { signal: aborted.signal }), /stopped/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
