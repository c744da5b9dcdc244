/**
 * What verification must not take for a signature, and what must not stop it: a signed in-toto
 * attestation (keyed and keyless), `verify -a` keys that the payload does not carry, a copy of
 * several platforms of which one is signed, and a bundle referrer whose blob is missing or
 * corrupt, or that names one big blob thousands of times. Keys and signatures are made by Python's
 * `cryptography` and `@sigstore/mock`, bundles and statements are typed here; ocisync's own signer
 * is not used.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { LayoutTarget } from "../src/layout/mod.ts";
import { parseRegistryReference } from "../src/ref/mod.ts";
import { RegistryTarget } from "../src/remote/registry.ts";
import type { Descriptor } from "../mod.ts";
import { parsePublicKey, verifyBundles } from "../src/trust/mod.ts";
import { expectExit, ocisync } from "./helpers/cli.ts";
import { type TestRegistry, withRegistry } from "./helpers/registry.ts";
import {
  cosignStatement,
  handPayload,
  keyedDsseBundle,
  mockSigstore,
  pushBundleReferrer,
  pushHandSignatures,
  pushPythonSignature,
  pushTestImage,
  pushTwoPlatforms,
  pythonKeys,
  pythonSign,
  refusal,
  withKeyAndLayout,
} from "./helpers/cosign_vectors.ts";
import { exists } from "./helpers/tree.ts";

const keys = await pythonKeys();
/** The digest of `{}`, the empty config (sha256sum of the two bytes). */
const EMPTY = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
const VERIFICATION = 8;

/** A signed statement about the image that is not cosign's signature: SLSA provenance. */
function provenance(imageDigest: string): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({
    _type: "https://in-toto.io/Statement/v1",
    subject: [{ name: "flows", digest: { sha256: imageDigest.slice("sha256:".length) } }],
    predicateType: "https://slsa.dev/provenance/v1",
    predicate: { buildDefinition: { buildType: "https://example.com/ci" } },
  }));
}

/** A layout in a new folder (`oci:DIR`), and the signer's public key beside it. */
function withLayout(
  body: (layout: LayoutTarget, dir: string, pub: string) => Promise<void>,
): Promise<void> {
  return withKeyAndLayout("ocisync-hostile-trust-", keys.public, body);
}

// --- an attestation is not a signature ---------------------------------------------------------

Deno.test("bundle: a keyed attestation is refused as no-signature, beside a signature it is listed", async () => {
  await withLayout(async (layout) => {
    const image = (await pushTestImage(layout, "v1")).descriptor;
    const key = parsePublicKey(keys.public);
    await pushBundleReferrer(
      layout,
      image,
      await keyedDsseBundle(keys.pkcs8, image.digest, provenance(image.digest)),
    );
    const error = await refusal(verifyBundles(layout, image, { publicKeys: [key] }));
    assert.equal(error.reason, "no-signature");
    assert.match(error.message, /attestations, not signatures/);
    assert.match(error.rejected.join("\n"), /https:\/\/slsa\.dev\/provenance\/v1.*not a signature/);

    await pushBundleReferrer(layout, image, await keyedDsseBundle(keys.pkcs8, image.digest));
    const result = await verifyBundles(layout, image, { publicKeys: [key] });
    assert.equal(result.bundles.length, 1);
    assert.equal(result.bundles[0].predicateType, "https://sigstore.dev/cosign/sign/v1");
    assert.equal(result.rejected.length, 1);
    assert.match(result.rejected[0], /attestation/);
  });
});

Deno.test("bundle: a statement with no predicate type is refused too", async () => {
  await withLayout(async (layout) => {
    const image = (await pushTestImage(layout, "v1")).descriptor;
    const statement = JSON.parse(new TextDecoder().decode(cosignStatement(image.digest)));
    delete statement.predicateType;
    const bytes = new TextEncoder().encode(JSON.stringify(statement));
    await pushBundleReferrer(layout, image, await keyedDsseBundle(keys.pkcs8, image.digest, bytes));
    const error = await refusal(
      verifyBundles(layout, image, { publicKeys: [parsePublicKey(keys.public)] }),
    );
    assert.equal(error.reason, "no-signature");
  });
});

Deno.test("keyless: an attestation by the right identity is refused", async () => {
  const sigstore = await mockSigstore();
  const policy = {
    trustedRoot: sigstore.trustedRoot,
    certificateIdentity: "dev@example.com",
    certificateOidcIssuer: "https://accounts.example.com",
  };
  await withLayout(async (layout) => {
    const image = (await pushTestImage(layout, "v1")).descriptor;
    const attestation = await sigstore.sign(provenance(image.digest));
    await pushBundleReferrer(layout, image, new TextEncoder().encode(JSON.stringify(attestation)));
    const error = await refusal(verifyBundles(layout, image, { keyless: policy }));
    assert.equal(error.reason, "no-signature");
    assert.match(error.rejected.join("\n"), /not a signature/);
    const signature = await sigstore.sign(cosignStatement(image.digest));
    await pushBundleReferrer(layout, image, new TextEncoder().encode(JSON.stringify(signature)));
    const result = await verifyBundles(layout, image, { keyless: policy });
    assert.equal(result.bundles[0].identity, "dev@example.com");
  });
});

Deno.test("cli: verify exits 8 and pull --verify-key lands nothing for an attestation alone", async () => {
  await withLayout(async (layout, dir, pub) => {
    const image = (await pushTestImage(layout, "v1")).descriptor;
    await pushBundleReferrer(
      layout,
      image,
      await keyedDsseBundle(keys.pkcs8, image.digest, provenance(image.digest)),
    );
    const refused = expectExit(
      await ocisync(["verify", "--key", pub, `oci:${dir}:v1`]),
      VERIFICATION,
    );
    assert.match(refused.stderr, /attestations, not signatures/);
    // The test image's layer is not a tar: its blob is copied as a file.
    const pull = (out: string) =>
      ocisync([
        "pull",
        `oci:${dir}:v1`,
        "-o",
        out,
        "--verify-key",
        pub,
        "--layer-operation",
        "copy",
      ]);
    expectExit(await pull(`${dir}-out/deep`), VERIFICATION);
    assert.equal(await exists(`${dir}-out`), false, "nothing written");

    // The control: cosign's signature statement, signed by the same key, verifies and lands.
    await pushBundleReferrer(layout, image, await keyedDsseBundle(keys.pkcs8, image.digest));
    const verified = JSON.parse(
      expectExit(await ocisync(["verify", "--key", pub, `oci:${dir}:v1`, "--json"]), 0).stdout,
    );
    assert.equal(verified.verified[0].form, "bundle");
    assert.equal(verified.rejected.length, 1);
    expectExit(await pull(`${dir}-out`), 0);
    assert.equal(await Deno.readTextFile(`${dir}-out/layer-0`), "layer v1");
    await Deno.remove(`${dir}-out`, { recursive: true });
  });
});

// --- verify -a matches what the payload carries, as a string --------------------------------------

Deno.test("cli: verify -a does not match a missing annotation, an inherited key, or a non-string", async () => {
  await withLayout(async (layout, dir, pub) => {
    const image = (await pushTestImage(layout, "v1")).descriptor;
    const bare = await pushTestImage(layout, "bare");
    await pushPythonSignature(layout, bare.descriptor.digest, keys.pkcs8, "example.com/flows");
    const payload = handPayload(image.digest, "example.com/flows", '{"ci":"true","run":7}');
    await pushHandSignatures(layout, image.digest, [
      { payload, signature: await pythonSign(keys.pkcs8, payload) },
    ]);
    const verify = (tag: string, annotation: string) =>
      ocisync(["verify", "--key", pub, `oci:${dir}:${tag}`, "-a", annotation]);
    expectExit(await verify("bare", "approved=undefined"), VERIFICATION);
    expectExit(
      await verify("bare", "constructor=function Object() { [native code] }"),
      VERIFICATION,
    );
    expectExit(
      await verify("bare", "toString=function toString() { [native code] }"),
      VERIFICATION,
    );
    expectExit(await verify("v1", "ci=true"), 0);
    expectExit(await verify("v1", "ci=false"), VERIFICATION);
    // cosign compares the JSON value with the string given: the number 7 is not "7".
    expectExit(await verify("v1", "run=7"), VERIFICATION);
  });
});

// --- copy of several platforms: each must verify, or the index ------------------------------------

Deno.test("cli: copy of two platforms with one signed exits 8 and writes nothing", async () => {
  await withLayout(async (layout, dir, pub) => {
    const { amd64, arm64 } = await pushTwoPlatforms(layout);
    await pushPythonSignature(layout, amd64.digest, keys.pkcs8, "example.com/flows");
    const copy = (to: string) =>
      ocisync([
        "copy",
        `oci:${dir}:multi`,
        `oci:${to}:v1`,
        "--verify-key",
        pub,
        "--platform",
        "linux/amd64,linux/arm64",
        "--json",
      ]);
    const refused = expectExit(await copy(`${dir}-one`), VERIFICATION);
    assert.match(refused.stderr, new RegExp(arm64.digest));
    // The destination layout is opened before the source is verified; nothing goes in it, and
    // as the copy failed, the layout it made is taken back.
    assert.ok(!(await exists(`${dir}-one`)), "nothing written");

    // Each platform signed: the reduced index of both is copied.
    await pushPythonSignature(layout, arm64.digest, keys.pkcs8, "example.com/flows");
    const copied = JSON.parse(expectExit(await copy(`${dir}-two`), 0).stdout);
    const to = await LayoutTarget.open(`${dir}-two`);
    const written = JSON.parse(
      new TextDecoder().decode(await to.fetchManifest(await to.resolve("v1"))),
    );
    assert.deepEqual(
      written.manifests.map((m: Descriptor) => m.digest).sort(),
      [amd64.digest, arm64.digest].sort(),
    );
    assert.ok(JSON.stringify(copied).includes(amd64.digest), JSON.stringify(copied));
    await Deno.remove(`${dir}-two`, { recursive: true });
  });
});

Deno.test("cli: copy --all-tags --verify-key retags a mirrored unsigned index to the host's signed manifest", async () => {
  // Mirrored earlier without verification, the tag names the whole index, which is not signed;
  // a gated run passed it as up to date, where a fresh copy writes only the host's manifest,
  // the one that verified in the index's stead.
  await withLayout(async (layout, dir, pub) => {
    const { amd64, arm64 } = await pushTwoPlatforms(layout);
    const host = Deno.build.arch === "aarch64" ? arm64 : amd64;
    // Each platform's manifest is signed (each has a tag of its own), the index is not.
    for (const platform of [amd64, arm64]) {
      await pushPythonSignature(layout, platform.digest, keys.pkcs8, "example.com/flows");
    }
    expectExit(await ocisync(["copy", "--all-tags", `oci:${dir}`, `oci:${dir}-mirror`]), 0);
    const gated = await ocisync(
      ["copy", "--all-tags", `oci:${dir}`, `oci:${dir}-mirror`, "--verify-key", pub, "--json"],
    );
    const images = JSON.parse(expectExit(gated, 0).stdout).images;
    const multi = images.find((image: { tag: string }) => image.tag === "multi");
    assert.equal(multi.skipped, false, JSON.stringify(multi));
    assert.equal(multi.verified.digest, host.digest);
    const mirror = await LayoutTarget.open(`${dir}-mirror`);
    assert.equal((await mirror.resolve("multi")).digest, host.digest);
    await Deno.remove(`${dir}-mirror`, { recursive: true });
  });
});

Deno.test("cli: copy of two platforms of a signed index verifies once and copies both", async () => {
  await withLayout(async (layout, dir, pub) => {
    const { index, amd64, arm64 } = await pushTwoPlatforms(layout);
    await pushPythonSignature(layout, index.digest, keys.pkcs8, "example.com/flows");
    const copy = await ocisync([
      "copy",
      `oci:${dir}:multi`,
      `oci:${dir}-out:v1`,
      "--verify-key",
      pub,
      "--platform",
      "linux/amd64,linux/arm64",
      "--json",
    ]);
    const report = JSON.parse(expectExit(copy, 0).stdout);
    assert.ok(JSON.stringify(report).includes(index.digest), JSON.stringify(report));
    const to = await LayoutTarget.open(`${dir}-out`);
    const written = JSON.parse(
      new TextDecoder().decode(await to.fetchManifest(await to.resolve("v1"))),
    );
    assert.equal(written.manifests.length, 2);
    assert.ok([amd64.digest, arm64.digest].includes(written.manifests[0].digest));
    await Deno.remove(`${dir}-out`, { recursive: true });
  });
});

// --- a broken bundle blob is one refused bundle, not a failed verification ------------------------

Deno.test("bundle: a missing or corrupt bundle blob is rejected; a valid bundle still verifies", async () => {
  await withLayout(async (layout, dir) => {
    const image = (await pushTestImage(layout, "v1")).descriptor;
    const key = parsePublicKey(keys.public);
    const blobPath = (digest: string) => `${dir}/blobs/sha256/${digest.slice("sha256:".length)}`;
    const layerOf = async (referrer: Descriptor) =>
      JSON.parse(new TextDecoder().decode(await layout.fetchManifest(referrer))).layers[0].digest;
    // Two broken referrers: distinct bundles (the same bytes would share one blob).
    const missing = await pushBundleReferrer(
      layout,
      image,
      await keyedDsseBundle(keys.pkcs8, image.digest),
    );
    const corrupt = await pushBundleReferrer(
      layout,
      image,
      await keyedDsseBundle(keys.pkcs8, image.digest),
    );
    await Deno.remove(blobPath(await layerOf(missing)));
    const corruptPath = blobPath(await layerOf(corrupt));
    const bytes = await Deno.readFile(corruptPath);
    bytes[bytes.length - 2] ^= 1;
    await Deno.writeFile(corruptPath, bytes);

    const error = await refusal(verifyBundles(layout, image, { publicKeys: [key] }));
    assert.equal(error.reason, "malformed");
    assert.equal(error.rejected.length, 2, error.rejected.join("\n"));
    assert.ok(
      error.rejected.every((line) => line.includes("unreadable")),
      error.rejected.join("\n"),
    );

    await pushBundleReferrer(layout, image, await keyedDsseBundle(keys.pkcs8, image.digest));
    const result = await verifyBundles(layout, image, { publicKeys: [key] });
    assert.equal(result.bundles.length, 1);
    assert.equal(result.rejected.length, 2);
  });
});

Deno.test("cli: a junk .sig manifest is refused as a signature, and a valid bundle still verifies", async () => {
  // It was an integrity error (exit 5) that ended the verification before the bundles: whoever
  // could push could block a bundle-signed image, which registries with the referrers API
  // would not let them remove.
  await withRegistry({}, async (registry, tmp) => {
    const target = new RegistryTarget(parseRegistryReference(`${registry.host}/team/app`));
    try {
      const image = (await pushTestImage(target, "v1")).descriptor;
      await pushBundleReferrer(target, image, await keyedDsseBundle(keys.pkcs8, image.digest), {
        fallbackTag: true,
      });
      await Deno.writeTextFile(`${tmp}/cosign.pub`, keys.public);
      const verify = (...extra: string[]) =>
        ocisync(["verify", `${registry.host}/team/app:v1`, "--key", `${tmp}/cosign.pub`, ...extra]);
      expectExit(await verify(), 0);

      const empty = { mediaType: "application/vnd.oci.empty.v1+json", digest: EMPTY, size: 2 };
      const junk = JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: empty,
        layers: [{ ...empty, mediaType: "" }],
      });
      const tag = `sha256-${image.digest.slice("sha256:".length)}.sig`;
      const put = await fetch(`http://${registry.host}/v2/team/app/manifests/${tag}`, {
        method: "PUT",
        headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
        body: junk,
      });
      await put.body?.cancel();
      assert.equal(put.status, 201, "Distribution takes it");

      const result = JSON.parse(expectExit(await verify("--json"), 0).stdout);
      assert.equal(result.digest, image.digest);
      assert.ok(
        result.rejected.some((line: string) => line.includes(`${tag}: invalid manifest`)),
        JSON.stringify(result.rejected),
      );

      // The referrers fallback tag holding a manifest, not an index, of an unsigned image: a
      // refused signature too (exit 8), not an integrity error (exit 5).
      const other = (await pushTestImage(target, "v2")).descriptor;
      const fallback = other.digest.replace(":", "-");
      const plain = await fetch(`http://${registry.host}/v2/team/app/manifests/${fallback}`, {
        method: "PUT",
        headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
        body: JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          config: empty,
          layers: [],
        }),
      });
      await plain.body?.cancel();
      assert.equal(plain.status, 201);
      const refused = await ocisync(
        ["verify", `${registry.host}/team/app:v2`, "--key", `${tmp}/cosign.pub`, "--json"],
      );
      const report = JSON.parse(expectExit(refused, VERIFICATION).stdout);
      assert.ok(
        report.rejected.some((line: string) => line.startsWith("referrers listing: ")),
        JSON.stringify(report.rejected),
      );
    } finally {
      target.close();
    }
  });
});

// --- one referrer, one blob named thousands of times: read once, not once per layer --------------

/** Under the 1 MiB a bundle may have, and large enough that 2,000 held at once are 2 GB. */
const BIG_BUNDLE_BYTES = 1_000_000;
/** What the auditor's referrer held: cosign writes one layer. */
const REPEATED_LAYERS = 2_000;

/** `bundle` led by spaces up to `size` bytes: the same JSON document, in a big blob. */
function padded(bundle: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size).fill(0x20);
  out.set(bundle, size - bundle.length);
  return out;
}

/** How many times the registry has served the blob `digest` (GET) since request `since`. */
async function blobGets(registry: TestRegistry, digest: string, since: number): Promise<number> {
  return (await registry.requests()).slice(since)
    .filter((r) => r.method === "GET" && r.path.endsWith(`/blobs/${digest}`)).length;
}

/**
 * `verify --json` of `tag`, whose one bundle referrer names `bundle`'s blob
 * {@linkcode REPEATED_LAYERS} times: the report, and how often the blob was fetched.
 */
async function verifyRepeated(
  registry: TestRegistry,
  pub: string,
  tag: string,
  bundle: (image: Descriptor) => Promise<Uint8Array>,
  exit: number,
): Promise<{ report: { verified: unknown[]; rejected: string[] }; fetches: number }> {
  const target = new RegistryTarget(parseRegistryReference(`${registry.host}/t/bomb`));
  let bytes: Uint8Array;
  try {
    const image = (await pushTestImage(target, tag)).descriptor;
    bytes = await bundle(image);
    await pushBundleReferrer(target, image, bytes, { fallbackTag: true, layers: REPEATED_LAYERS });
  } finally {
    target.close();
  }
  const since = (await registry.requests()).length;
  const run = expectExit(
    await ocisync(["verify", "--key", pub, `${registry.host}/t/bomb:${tag}`, "--json"]),
    exit,
  );
  const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  return { report: JSON.parse(run.stdout), fetches: await blobGets(registry, digest, since) };
}

Deno.test("cli: a bundle referrer naming one 1 MB blob 2,000 times: the blob is read once", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const pub = `${tmp}/cosign.pub`;
    await Deno.writeTextFile(pub, keys.public);
    // A valid signature: verified, from one read of its blob (each read was held until the end).
    const signed = await verifyRepeated(
      registry,
      pub,
      "signed",
      async (image) => padded(await keyedDsseBundle(keys.pkcs8, image.digest), BIG_BUNDLE_BYTES),
      0,
    );
    assert.equal(signed.report.verified.length, 1, "one bundle, not one per layer");
    assert.equal(signed.fetches, 1);
    // Junk: refused once, as one bundle, from one read.
    const junk = await verifyRepeated(
      registry,
      pub,
      "junk",
      () => Promise.resolve(new Uint8Array(BIG_BUNDLE_BYTES).fill(0x41)),
      VERIFICATION,
    );
    assert.equal(junk.report.rejected.length, 1, "one refusal, not one per layer");
    assert.match(junk.report.rejected[0], /invalid Sigstore bundle/);
    assert.equal(junk.fetches, 1);
  });
});
