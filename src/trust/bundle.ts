/**
 * Sigstore bundles attached as OCI 1.1 referrers: what `cosign sign --new-bundle-format` (and
 * `cosign attest`) writes. A manifest with `artifactType`
 * `application/vnd.dev.sigstore.bundle.v0.3+json`, `subject` the image, and one layer holding the
 * bundle: a JSON document with the signed content (a `messageSignature` over the manifest, or a
 * DSSE envelope of an in-toto statement whose subject is the image's digest) and the
 * `verificationMaterial` (a public-key hint, or a Fulcio certificate with Rekor entries and RFC
 * 3161 timestamps).
 *
 * Keyed bundles are verified here with `node:crypto`. Keyless bundles are verified offline
 * against a `trusted_root.json` by `@sigstore/verify` (see `keyless.ts`), loaded only when a
 * keyless policy is given.
 *
 * @example
 * ```ts
 * import { verifyBundles } from "./bundle.ts";
 * import { parsePublicKey } from "./keys.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const layout = await LayoutTarget.open("./bundle");
 * const image = await layout.resolve("v1");
 * const key = parsePublicKey(await Deno.readTextFile("cosign.pub"));
 * const { bundles } = await verifyBundles(layout, image, { publicKeys: [key] });
 * console.log(bundles[0].predicateType);
 * ```
 * @module
 */
import { parseDigest, sha256Digest } from "../digest/mod.ts";
import type { Digest } from "../digest/mod.ts";
import {
  IntegrityError,
  NotFoundError,
  type OcisyncErrorOptions,
  UsageError,
} from "../errors/mod.ts";
import { isIndexMediaType, MediaType } from "../oci/mediatypes.ts";
import type { Target } from "../oci/target.ts";
import {
  type Descriptor,
  isJsonObject,
  type Manifest,
  parseManifestOrIndex,
} from "../oci/types.ts";
import { readBounded } from "../streams/mod.ts";
import { decodeBase64, decodeJsonObject, encodeBase64, encodeHex } from "./encoding.ts";
import { escapeRemote } from "../errors/mod.ts";
import { SignatureError, type SignatureFailure } from "./errors.ts";
import { type PrivateKey, type PublicKey, signBytes, verifyBytes } from "./keys.ts";
import { jsonBytes, plannedBlob, type SignaturePlan } from "./plan.ts";

/** The media type (and referrer `artifactType`) of a v0.3 Sigstore bundle. */
export const BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json";
/** Every bundle media type read: v0.3 in both spellings, and the older v0.2 and v0.1. */
export const BUNDLE_MEDIA_TYPES: readonly string[] = [
  BUNDLE_MEDIA_TYPE,
  "application/vnd.dev.sigstore.bundle+json;version=0.3",
  "application/vnd.dev.sigstore.bundle+json;version=0.2",
  "application/vnd.dev.sigstore.bundle+json;version=0.1",
];
/** The DSSE payload type of an in-toto statement. */
export const INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";
/** The predicate type cosign uses for a plain signature in a bundle. */
export const COSIGN_SIGN_PREDICATE_TYPE = "https://sigstore.dev/cosign/sign/v1";
/** The largest bundle read: one with a certificate chain and a few log entries is ~10 KiB. */
export const MAX_BUNDLE_BYTES = 1024 * 1024;
/** How many referrers are examined at most; the listing is not read past them. */
export const MAX_REFERRERS = 256;

const STATEMENT_TYPES = ["https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"];

/** The signed content of a bundle. */
export type BundleContent =
  | {
    kind: "messageSignature";
    /** `messageDigest.algorithm`, e.g. `SHA2_256`. */
    digestAlgorithm: string;
    /** `messageDigest.digest`: the digest of the signed artifact. */
    digest: Uint8Array;
    /** The signature over the artifact. */
    signature: Uint8Array;
  }
  | {
    kind: "dsseEnvelope";
    /** The payload type, e.g. `application/vnd.in-toto+json`. */
    payloadType: string;
    /** The payload bytes. */
    payload: Uint8Array;
    /** The signature over the DSSE pre-authentication encoding. */
    signature: Uint8Array;
  };

/** How a bundle says its signature is to be checked. */
export type BundleKeyMaterial =
  | { kind: "publicKey"; hint: string }
  | { kind: "certificate"; certificates: Uint8Array[] };

/** A parsed bundle: what keyed verification needs, and the JSON for the keyless verifier. */
export interface SigstoreBundle {
  /** The bundle's own `mediaType`. */
  mediaType: string;
  /** What is signed. */
  content: BundleContent;
  /** The key hint or the certificate (chain), leaf first. */
  keyMaterial: BundleKeyMaterial;
  /** How many transparency-log entries and RFC 3161 timestamps it carries. */
  tlogEntries: number;
  /** How many RFC 3161 timestamps it carries. */
  rfc3161Timestamps: number;
  /** The whole document, as parsed. */
  json: Record<string, unknown>;
}

/**
 * Parses a bundle's JSON, checking the fields that verification relies on.
 *
 * @throws {SignatureError} `malformed` when the document is not a bundle.
 * @example
 * ```ts
 * import { parseBundle } from "./bundle.ts";
 * const bundle = parseBundle(await Deno.readFile("artifact.sigstore.json"));
 * console.log(bundle.content.kind, bundle.keyMaterial.kind);
 * ```
 */
export function parseBundle(bytes: Uint8Array): SigstoreBundle {
  const malformed = (what: string) =>
    new SignatureError(`invalid Sigstore bundle: ${what}`, { reason: "malformed" });
  if (bytes.byteLength > MAX_BUNDLE_BYTES) throw malformed("too large");
  const doc = decodeJsonObject(bytes, malformed);
  if (typeof doc.mediaType !== "string" || !BUNDLE_MEDIA_TYPES.includes(doc.mediaType)) {
    throw malformed(`unknown mediaType ${JSON.stringify(doc.mediaType)}`);
  }
  const material = doc.verificationMaterial;
  if (!isJsonObject(material)) throw malformed("no verificationMaterial");
  const base64 = (value: unknown, what: string): Uint8Array => {
    const bytes = typeof value === "string" ? decodeBase64(value) : undefined;
    if (bytes === undefined) throw malformed(`${what} is not base64`);
    return bytes;
  };
  let keyMaterial: BundleKeyMaterial;
  if (isJsonObject(material.publicKey)) {
    const hint = material.publicKey.hint ?? "";
    if (typeof hint !== "string") throw malformed("publicKey.hint is not a string");
    keyMaterial = { kind: "publicKey", hint };
  } else if (isJsonObject(material.certificate)) {
    keyMaterial = {
      kind: "certificate",
      certificates: [base64(material.certificate.rawBytes, "certificate.rawBytes")],
    };
  } else if (
    isJsonObject(material.x509CertificateChain) &&
    Array.isArray(material.x509CertificateChain.certificates) &&
    material.x509CertificateChain.certificates.length > 0
  ) {
    keyMaterial = {
      kind: "certificate",
      certificates: material.x509CertificateChain.certificates.map((c, i) =>
        base64(isJsonObject(c) ? c.rawBytes : undefined, `certificates[${i}].rawBytes`)
      ),
    };
  } else {
    throw malformed("verificationMaterial has no publicKey, certificate or certificate chain");
  }
  let content: BundleContent;
  if (isJsonObject(doc.messageSignature) && doc.dsseEnvelope === undefined) {
    const { messageDigest, signature } = doc.messageSignature;
    if (!isJsonObject(messageDigest) || typeof messageDigest.algorithm !== "string") {
      throw malformed("messageSignature has no messageDigest");
    }
    content = {
      kind: "messageSignature",
      digestAlgorithm: messageDigest.algorithm,
      digest: base64(messageDigest.digest, "messageDigest.digest"),
      signature: base64(signature, "messageSignature.signature"),
    };
  } else if (isJsonObject(doc.dsseEnvelope) && doc.messageSignature === undefined) {
    const { payloadType, payload, signatures } = doc.dsseEnvelope;
    if (typeof payloadType !== "string") throw malformed("dsseEnvelope has no payloadType");
    // Sigstore bundles carry exactly one signature: the log entry and certificate are for it.
    if (!Array.isArray(signatures) || signatures.length !== 1 || !isJsonObject(signatures[0])) {
      throw malformed("dsseEnvelope must have exactly one signature");
    }
    content = {
      kind: "dsseEnvelope",
      payloadType,
      payload: base64(payload, "dsseEnvelope.payload"),
      signature: base64(signatures[0].sig, "dsseEnvelope.signatures[0].sig"),
    };
  } else {
    throw malformed("exactly one of messageSignature and dsseEnvelope is needed");
  }
  const tlog = material.tlogEntries;
  const timestamps = isJsonObject(material.timestampVerificationData)
    ? material.timestampVerificationData.rfc3161Timestamps
    : undefined;
  return {
    mediaType: doc.mediaType,
    content,
    keyMaterial,
    tlogEntries: Array.isArray(tlog) ? tlog.length : 0,
    rfc3161Timestamps: Array.isArray(timestamps) ? timestamps.length : 0,
    json: doc,
  };
}

/**
 * The DSSE pre-authentication encoding, the bytes a DSSE signature covers:
 * `DSSEv1 <len(type)> <type> <len(body)> <body>`, lengths in bytes, in decimal.
 *
 * @example
 * ```ts
 * import { preAuthEncoding } from "./bundle.ts";
 * new TextDecoder().decode(preAuthEncoding("t", new TextEncoder().encode("ab"))); // "DSSEv1 1 t 2 ab"
 * ```
 */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = new TextEncoder().encode(payloadType);
  const head = new TextEncoder().encode(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

/** What a verified bundle says. */
export interface VerifiedBundle {
  /** `key` when a given public key verified it, `keyless` when a certificate did. */
  kind: "key" | "keyless";
  /** The referrer manifest that holds the bundle, when it came from a target. */
  referrer?: Digest;
  /** The bundle blob's digest. */
  bundleDigest: Digest;
  /** `messageSignature` or `dsseEnvelope`. */
  content: BundleContent["kind"];
  /** The in-toto predicate type of a DSSE bundle: always `https://sigstore.dev/cosign/sign/v1`. */
  predicateType?: string;
  /** For `key`: `sha256:` of the verifying key's DER SubjectPublicKeyInfo. */
  keyFingerprint?: Digest;
  /** For `keyless`: the certificate's identity (subject alternative name). */
  identity?: string;
  /** For `keyless`: the OIDC issuer in the certificate. */
  issuer?: string;
}

/** Who may have signed, for keyless verification, and the trust to check it with. */
export interface KeylessPolicy {
  /**
   * The contents of a `trusted_root.json` (Sigstore's `TrustedRoot`): the Fulcio CAs, Rekor logs,
   * CT logs and timestamp authorities to trust. Bytes, text or parsed JSON.
   */
  trustedRoot: Uint8Array | string | Record<string, unknown>;
  /** `--certificate-identity`: the exact subject alternative name. */
  certificateIdentity?: string;
  /** `--certificate-identity-regexp`: a regular expression the name must match. */
  certificateIdentityRegexp?: string;
  /** `--certificate-oidc-issuer`: the exact OIDC issuer. */
  certificateOidcIssuer?: string;
  /** `--certificate-oidc-issuer-regexp`: a regular expression the issuer must match. */
  certificateOidcIssuerRegexp?: string;
  /** `--insecure-ignore-tlog`: accept a bundle with no transparency-log entry. */
  ignoreTlog?: boolean;
  /** `--insecure-ignore-sct`: accept a certificate with no signed certificate timestamp. */
  ignoreSct?: boolean;
}

/**
 * Verifies a keyed bundle: its signature with one of the keys, and that it is about this image
 * (`messageSignature`: the digest is the manifest's, and the signature is over `manifest`, the
 * manifest's bytes; DSSE: cosign's signature statement, predicate type
 * {@linkcode COSIGN_SIGN_PREDICATE_TYPE}, with the image's sha256 among its subjects).
 * Transparency-log entries in the bundle are not checked (no trusted root is given).
 *
 * @throws {SignatureError} `invalid-signature`, `digest-mismatch` or `malformed`; `no-signature`
 * for an attestation (a statement of another predicate type).
 * @example
 * ```ts
 * import { parseBundle, verifyBundleWithKey } from "./bundle.ts";
 * import { parsePublicKey } from "./keys.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const layout = await LayoutTarget.open("./bundle");
 * const image = await layout.resolve("v1");
 * const bundle = parseBundle(await Deno.readFile("image.sigstore.json"));
 * const key = parsePublicKey(await Deno.readTextFile("cosign.pub"));
 * verifyBundleWithKey(bundle, image, await layout.fetchManifest(image), [key]);
 * ```
 */
export function verifyBundleWithKey(
  bundle: SigstoreBundle,
  image: Descriptor,
  manifest: Uint8Array,
  publicKeys: readonly PublicKey[],
): Omit<VerifiedBundle, "bundleDigest"> {
  if (bundle.keyMaterial.kind !== "publicKey") {
    throw new SignatureError("the bundle is keyless (it holds a certificate), not keyed", {
      reason: "untrusted",
      hint: "verify it with a certificate identity and OIDC issuer",
      option: "certificateIdentity",
    });
  }
  checkManifest(image, manifest);
  const signed = bundle.content.kind === "dsseEnvelope"
    ? preAuthEncoding(bundle.content.payloadType, bundle.content.payload)
    : manifest;
  const signature = bundle.content.signature;
  const key = publicKeys.find((k) => verifyBytes(k, signed, signature));
  if (key === undefined) {
    throw new SignatureError("no key verified the bundle's signature", {
      reason: "invalid-signature",
    });
  }
  // Only signed content is interpreted: the statement is read once the signature holds.
  const predicateType = checkSubject(bundle.content, image);
  return {
    kind: "key",
    content: bundle.content.kind,
    keyFingerprint: key.fingerprint,
    ...(predicateType ? { predicateType } : {}),
  };
}

/**
 * Verifies a keyless bundle offline against the policy's trusted root: the certificate chains to
 * a trusted Fulcio CA, was valid when the signature was made (per a Rekor entry's integrated time
 * or an RFC 3161 timestamp), carries an SCT, each Rekor entry's inclusion proof or promise (SET)
 * verifies and matches the signature; then the identity and issuer match the policy, and the
 * content is a signature of this image (as for {@linkcode verifyBundleWithKey}).
 *
 * @throws {SignatureError} `untrusted`, `identity-mismatch`, `invalid-signature`,
 * `digest-mismatch` or `malformed`; `no-signature` for an attestation.
 * @throws {UsageError} when the policy names no identity or no issuer, or its trusted root is
 * not valid.
 * @example
 * ```ts
 * import { parseBundle, verifyBundleKeyless } from "./bundle.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const layout = await LayoutTarget.open("./bundle");
 * const image = await layout.resolve("v1");
 * const bundle = parseBundle(await Deno.readFile("image.sigstore.json"));
 * await verifyBundleKeyless(bundle, image, await layout.fetchManifest(image), {
 *   trustedRoot: await Deno.readFile("trusted_root.json"),
 *   certificateIdentity: "https://github.com/acme/flows/.github/workflows/release.yml@refs/heads/main",
 *   certificateOidcIssuer: "https://token.actions.githubusercontent.com",
 * });
 * ```
 */
export async function verifyBundleKeyless(
  bundle: SigstoreBundle,
  image: Descriptor,
  manifest: Uint8Array,
  policy: KeylessPolicy,
): Promise<Omit<VerifiedBundle, "bundleDigest">> {
  checkKeylessPolicy(policy);
  checkManifest(image, manifest);
  // Loaded here, so that keyed verification and every other command never load sigstore-js.
  const { verifyKeyless } = await import("./keyless.ts");
  const signer = verifyKeyless(
    bundle.json,
    bundle.content.kind === "messageSignature" ? manifest : undefined,
    policy,
  );
  const predicateType = checkSubject(bundle.content, image);
  return {
    kind: "keyless",
    content: bundle.content.kind,
    identity: signer.identity,
    issuer: signer.issuer,
    ...(predicateType ? { predicateType } : {}),
  };
}

/** Options of {@linkcode verifyBundles}: keys, a keyless policy, or both. */
export interface VerifyBundlesOptions {
  /** Keys for keyed bundles. */
  publicKeys?: readonly PublicKey[];
  /** Identity, issuer and trusted root for keyless bundles. */
  keyless?: KeylessPolicy;
}

/** What {@linkcode verifyBundles} found. */
export interface BundleVerification {
  /** The bundles that verified: at least one. */
  bundles: VerifiedBundle[];
  /** One line per bundle that was refused, and why. */
  rejected: string[];
}

/**
 * Finds the image's bundle referrers and verifies each, one at a time (its bytes are dropped
 * before the next is read): keyed ones with `publicKeys`, keyless ones with the `keyless` policy.
 * One that verifies is enough.
 *
 * @throws {SignatureError} `no-signature` when no bundle refers to the image; otherwise the most
 * telling reason among the refused ones.
 * @throws {UsageError} when neither keys nor a keyless policy is given.
 * @example
 * ```ts
 * import { verifyBundles } from "./bundle.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const layout = await LayoutTarget.open("./bundle");
 * const image = await layout.resolve("v1");
 * const result = await verifyBundles(layout, image, {
 *   keyless: {
 *     trustedRoot: await Deno.readFile("trusted_root.json"),
 *     certificateIdentityRegexp: "^https://github.com/acme/",
 *     certificateOidcIssuer: "https://token.actions.githubusercontent.com",
 *   },
 * });
 * ```
 */
export async function verifyBundles(
  target: Target,
  image: Descriptor,
  options: VerifyBundlesOptions,
): Promise<BundleVerification> {
  const keys = options.publicKeys ?? [];
  if (keys.length === 0 && options.keyless === undefined) {
    throw new UsageError("no public key and no keyless policy to verify bundles with");
  }
  if (options.keyless) checkKeylessPolicy(options.keyless);
  const manifest = await target.fetchManifest(image);
  const bundles: VerifiedBundle[] = [];
  const rejected: string[] = [];
  const failures: SignatureFailure[] = [];
  let found = 0;
  // One bundle at a time: its bytes are dropped once it is judged, before the next is read.
  for await (const candidate of findBundles(target, image)) {
    found++;
    const outcome = await verifyFound(candidate, image, manifest, keys, options.keyless);
    if ("failure" in outcome) {
      rejected.push(outcome.line);
      failures.push(outcome.failure);
    } else {
      bundles.push(outcome);
    }
  }
  if (bundles.length > 0) return { bundles, rejected };
  if (found === 0) {
    throw new SignatureError(`${image.digest} has no Sigstore bundle in ${target.name}`, {
      reason: "no-signature",
      hint: "no referrer with artifactType " + BUNDLE_MEDIA_TYPE,
    });
  }
  const order: SignatureFailure[] = [
    "identity-mismatch",
    "digest-mismatch",
    "invalid-signature",
    "untrusted",
    "malformed",
    "no-signature",
  ];
  const reason = order.find((r) => failures.includes(r)) ?? "malformed";
  // Said in the message, not only in `rejected`: a bundle that the key or identity verifies and
  // that still does not count must say why.
  const message = reason === "no-signature"
    ? `the Sigstore bundles of ${image.digest} in ${target.name} are attestations, not signatures`
    : `no Sigstore bundle of ${image.digest} in ${target.name} verified`;
  throw new SignatureError(message, { reason, rejected });
}

/**
 * Verifies one found bundle: keyed ones with `keys`, keyless ones with `keyless`. A refusal is
 * returned with its line for `rejected`; other errors (a trusted root that is not valid, the
 * network) are thrown.
 */
async function verifyFound(
  { referrer, layer, bytes, unreadable }: FoundBundle,
  image: Descriptor,
  manifest: Uint8Array,
  keys: readonly PublicKey[],
  keyless: KeylessPolicy | undefined,
): Promise<VerifiedBundle | { failure: SignatureFailure; line: string }> {
  try {
    if (bytes === undefined) {
      throw new SignatureError(`unreadable: ${unreadable}`, { reason: "malformed" });
    }
    const bundle = parseBundle(bytes);
    const keyed = bundle.keyMaterial.kind === "publicKey";
    if (keyed && keys.length === 0) {
      throw new SignatureError("a keyed bundle, and no key was given", { reason: "untrusted" });
    }
    if (!keyed && keyless === undefined) {
      throw new SignatureError("a keyless bundle, and no identity and issuer were given", {
        reason: "untrusted",
      });
    }
    const verified = keyed
      ? verifyBundleWithKey(bundle, image, manifest, keys)
      : await verifyBundleKeyless(bundle, image, manifest, keyless!);
    return { ...verified, referrer, bundleDigest: layer.digest };
  } catch (error) {
    if (!(error instanceof SignatureError)) throw error;
    // The reason can quote the bundle (a field, a certificate's name): one line, written out.
    const line = `bundle ${layer.digest} (referrer ${referrer}): ${escapeRemote(error.message)}`;
    return { failure: error.reason, line };
  }
}

/** A bundle found as a referrer of an image: its bytes, or why they could not be read. */
export interface FoundBundle {
  /** The referrer manifest's digest. */
  referrer: Digest;
  /** The layer that holds the bundle. */
  layer: Descriptor;
  /** The bundle's bytes, verified against the layer's digest by the target; unset when unreadable. */
  bytes?: Uint8Array;
  /** Why the bytes could not be read (a blob missing, corrupt or too large); unset when read. */
  unreadable?: string;
}

/**
 * The bundles that refer to an image, read one at a time as they are consumed: from the
 * target's referrers API where it has one (a registry), else from the referrers tag schema
 * (`sha256-<hex>` index) and, for a layout, the untagged `index.json` entries whose artifactType
 * is a bundle's. Each manifest must name the image as its `subject`; of its layers only the first
 * bundle is read, as cosign writes one per referrer. At most {@linkcode MAX_REFERRERS} referrers
 * are examined, and the listing is read no further. A bundle layer whose blob is missing, corrupt
 * or too large is yielded with `unreadable` set, so that it is refused on its own while the
 * others are still tried.
 *
 * @example
 * ```ts
 * import { findBundles } from "./bundle.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const layout = await LayoutTarget.open("./bundle");
 * for await (const found of findBundles(layout, await layout.resolve("v1"))) {
 *   console.log(found.referrer, found.bytes?.byteLength ?? found.unreadable);
 * }
 * ```
 */
export async function* findBundles(
  target: Target,
  image: Descriptor,
): AsyncGenerator<FoundBundle, void, undefined> {
  let examined = 0;
  for await (const candidate of referrersOf(target, image)) {
    if (
      candidate.artifactType !== undefined && !BUNDLE_MEDIA_TYPES.includes(candidate.artifactType)
    ) {
      continue;
    }
    const layer = await bundleLayerOf(target, image, candidate);
    if (layer !== undefined) {
      yield { referrer: candidate.digest, layer, ...await readBundle(target, layer) };
    }
    // Stop before asking for the next one: a listing can hold a hundred thousand.
    if (++examined >= MAX_REFERRERS) return;
  }
}

/**
 * The bundle layer of a referrer manifest: its first layer of a bundle media type, when the
 * manifest is a bundle's about this image. The other layers are not read: cosign writes one, and
 * a manifest can name one blob tens of thousands of times.
 */
async function bundleLayerOf(
  target: Target,
  image: Descriptor,
  candidate: Descriptor,
): Promise<Descriptor | undefined> {
  const descriptor = {
    mediaType: candidate.mediaType,
    size: candidate.size,
    digest: candidate.digest,
  };
  let manifest: Manifest;
  try {
    const parsed = parseManifestOrIndex(
      await target.fetchManifest(descriptor),
      descriptor.mediaType,
    );
    if (parsed.kind !== "manifest") return undefined;
    manifest = parsed.manifest;
  } catch {
    return undefined; // Not ours to judge: another tool's referrer that we cannot read.
  }
  const artifactType = manifest.artifactType ?? manifest.config.mediaType;
  if (manifest.subject?.digest !== image.digest || !BUNDLE_MEDIA_TYPES.includes(artifactType)) {
    return undefined;
  }
  return manifest.layers.find((layer) => BUNDLE_MEDIA_TYPES.includes(layer.mediaType));
}

/**
 * A bundle layer's bytes, or why they cannot be read. A missing or corrupt blob is the
 * registry's (or layout's) word about this one bundle, not a failure of the verification: it is
 * reported, not thrown. Other errors (network, credentials) are thrown, as for any other read.
 */
async function readBundle(
  target: Target,
  layer: Descriptor,
): Promise<{ bytes: Uint8Array } | { unreadable: string }> {
  const tooLarge = { unreadable: `larger than ${MAX_BUNDLE_BYTES} bytes` };
  if (layer.size > MAX_BUNDLE_BYTES) return tooLarge;
  try {
    const bytes = await readBounded(await target.fetchBlob(layer), MAX_BUNDLE_BYTES);
    return bytes ? { bytes } : tooLarge;
  } catch (error) {
    if (!(error instanceof NotFoundError || error instanceof IntegrityError)) throw error;
    return { unreadable: error.message };
  }
}

/** Options of {@linkcode signBundle}. */
export interface SignBundleOptions {
  /**
   * The statement's predicate type. Default cosign's `https://sigstore.dev/cosign/sign/v1`;
   * another makes an attestation, which verification does not take for a signature.
   */
  predicateType?: string;
  /** The statement's predicate. Default `{}`, as cosign writes for a signature. */
  predicate?: Record<string, unknown>;
  /** Annotations on the statement's subject (`cosign sign -a` in the bundle format). */
  annotations?: Record<string, string>;
}

/**
 * A keyed v0.3 bundle for an image, as `cosign sign --key K --new-bundle-format
 * --tlog-upload=false` makes it: a DSSE envelope of an in-toto statement whose subject is the
 * image's digest, signed with `key`, and the public-key hint cosign writes (base64 of the SHA-256
 * of the DER public key). No log entry: attach it with {@linkcode bundleReferrerPlan}.
 *
 * @example
 * ```ts
 * import { bundleReferrerPlan, signBundle } from "./bundle.ts";
 * import { parsePrivateKey } from "./keys.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const layout = await LayoutTarget.open("./bundle");
 * const image = await layout.resolve("v1");
 * const key = await parsePrivateKey(await Deno.readTextFile("ec.pem"));
 * const plan = bundleReferrerPlan(image, signBundle(image, key));
 * ```
 */
export function signBundle(
  image: Descriptor,
  key: PrivateKey,
  options: SignBundleOptions = {},
): Uint8Array {
  const { algorithm, hex } = parseDigest(image.digest);
  const subject: Record<string, unknown> = { digest: { [algorithm]: hex } };
  if (options.annotations && Object.keys(options.annotations).length > 0) {
    subject.annotations = options.annotations;
  }
  const statement = jsonBytes({
    _type: STATEMENT_TYPES[0],
    subject: [subject],
    predicateType: options.predicateType ?? COSIGN_SIGN_PREDICATE_TYPE,
    predicate: options.predicate ?? {},
  });
  const signature = signBytes(key, preAuthEncoding(INTOTO_PAYLOAD_TYPE, statement));
  const hint = encodeBase64(hexToBytes(key.publicKey.fingerprint.slice("sha256:".length)));
  return jsonBytes({
    mediaType: BUNDLE_MEDIA_TYPE,
    verificationMaterial: { publicKey: { hint }, tlogEntries: [] },
    dsseEnvelope: {
      payload: encodeBase64(statement),
      payloadType: INTOTO_PAYLOAD_TYPE,
      signatures: [{ sig: encodeBase64(signature), keyid: "" }],
    },
  });
}

function hexToBytes(hex: string): Uint8Array {
  return new Uint8Array((hex.match(/../g) ?? []).map((h) => parseInt(h, 16)));
}

/** Options of {@linkcode bundleReferrerPlan}. */
export interface BundleReferrerOptions {
  /** `org.opencontainers.image.created`, RFC 3339. Default: now. */
  created?: string;
}

/**
 * The referrer manifest that attaches a bundle to an image, as cosign writes it: `artifactType`
 * the bundle media type, the empty config, one layer, `subject` the image, and the annotations
 * `dev.sigstore.bundle.content` and `dev.sigstore.bundle.predicateType` for a DSSE bundle. Push
 * it untagged (a registry lists it through the referrers API).
 *
 * @throws {SignatureError} `malformed` when `bundle` is not a bundle.
 * @example
 * ```ts
 * import { bundleReferrerPlan } from "./bundle.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const layout = await LayoutTarget.open("./bundle");
 * const image = await layout.resolve("v1");
 * const plan = bundleReferrerPlan(image, await Deno.readFile("image.sigstore.json"));
 * console.log(plan.manifest.descriptor.artifactType);
 * ```
 */
export function bundleReferrerPlan(
  image: Descriptor,
  bundle: Uint8Array,
  options: BundleReferrerOptions = {},
): SignaturePlan {
  const parsed = parseBundle(bundle);
  const annotations: Record<string, string> = {
    "org.opencontainers.image.created": options.created ?? new Date().toISOString(),
  };
  if (parsed.content.kind === "dsseEnvelope") {
    annotations["dev.sigstore.bundle.content"] = "dsse-envelope";
    const predicateType = statementOf(parsed.content)?.predicateType;
    if (typeof predicateType === "string") {
      annotations["dev.sigstore.bundle.predicateType"] = predicateType;
    }
  } else {
    annotations["dev.sigstore.bundle.content"] = "message-signature";
  }
  const config = plannedBlob(new TextEncoder().encode("{}"), MediaType.OciEmpty);
  const layer = plannedBlob(bundle, BUNDLE_MEDIA_TYPE);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: BUNDLE_MEDIA_TYPE,
    config: config.descriptor,
    layers: [layer.descriptor],
    subject: { mediaType: image.mediaType, size: image.size, digest: image.digest },
    annotations,
  };
  return {
    manifest: plannedBlob(jsonBytes(manifest), MediaType.OciManifest, {
      artifactType: BUNDLE_MEDIA_TYPE,
    }),
    config,
    blobs: [layer],
  };
}

/**
 * Checks that the signed content is about this image and is a signature: a message signature
 * over its manifest, or cosign's signature statement (predicate type
 * {@linkcode COSIGN_SIGN_PREDICATE_TYPE}) with the image among its subjects. Returns the
 * statement's predicate type.
 */
function checkSubject(content: BundleContent, image: Descriptor): string | undefined {
  const { hex } = parseDigest(image.digest);
  if (content.kind === "messageSignature") {
    if (content.digestAlgorithm !== "SHA2_256") {
      throw new SignatureError(`unsupported message digest ${content.digestAlgorithm}`, {
        reason: "malformed",
      });
    }
    if (encodeHex(content.digest) !== hex) {
      throw new SignatureError(
        `the bundle signs sha256:${encodeHex(content.digest)}, not ${image.digest}`,
        { reason: "digest-mismatch" },
      );
    }
    return undefined;
  }
  if (content.payloadType !== INTOTO_PAYLOAD_TYPE) {
    throw new SignatureError(`DSSE payload type ${content.payloadType} is not in-toto`, {
      reason: "malformed",
    });
  }
  const statement = statementOf(content);
  if (!statement) {
    throw new SignatureError("the DSSE payload is not an in-toto statement", {
      reason: "malformed",
    });
  }
  const subjects = Array.isArray(statement.subject) ? statement.subject : [];
  const matches = subjects.some((s) =>
    isJsonObject(s) && isJsonObject(s.digest) && s.digest.sha256 === hex
  );
  if (!matches) {
    throw new SignatureError(`the statement's subjects do not include ${image.digest}`, {
      reason: "digest-mismatch",
    });
  }
  // A signed statement of another predicate type is an attestation (provenance, an SBOM, a scan)
  // that CI often makes for every build, released or not: it says something about the image, it
  // does not approve it. Only cosign's signature statement counts, as for `cosign verify`.
  if (statement.predicateType !== COSIGN_SIGN_PREDICATE_TYPE) {
    throw new SignatureError(
      `an attestation of predicate type ${
        JSON.stringify(statement.predicateType)
      }, not a signature (${COSIGN_SIGN_PREDICATE_TYPE})`,
      { reason: "no-signature" },
    );
  }
  return COSIGN_SIGN_PREDICATE_TYPE;
}

/** The manifest bytes a message signature is checked over must be the image's. */
function checkManifest(image: Descriptor, manifest: Uint8Array): void {
  if (sha256Digest(manifest) !== image.digest) {
    throw new SignatureError(`the manifest given is not ${image.digest}`, { reason: "malformed" });
  }
}

function statementOf(content: BundleContent): Record<string, unknown> | undefined {
  if (content.kind !== "dsseEnvelope") return undefined;
  try {
    const doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(content.payload));
    return isJsonObject(doc) && STATEMENT_TYPES.includes(doc._type as string) ? doc : undefined;
  } catch {
    return undefined;
  }
}

/** What {@linkcode checkKeylessPolicy} says to give when the identity or the issuer is missing. */
export interface KeylessPolicyHints {
  /** The hint (and option) of a policy without an identity. */
  identity: OcisyncErrorOptions;
  /** The hint (and option) of a policy without an OIDC issuer. */
  issuer: OcisyncErrorOptions;
}

/** The hints of a library call, named by {@linkcode KeylessPolicy}'s fields. */
const POLICY_HINTS: KeylessPolicyHints = {
  identity: {
    hint: "give the certificate identity, exact or as a regular expression",
    option: "certificateIdentity",
  },
  issuer: {
    hint: "give the certificate's OIDC issuer, exact or as a regular expression",
    option: "certificateOidcIssuer",
  },
};

/**
 * Checks that a keyless policy names an identity and an OIDC issuer, each exact or as a valid
 * regular expression, and neither empty.
 *
 * @throws {UsageError} when the identity or the issuer is missing or empty (with `hints`' hint),
 * or a regular expression is invalid.
 */
export function checkKeylessPolicy(
  policy: KeylessPolicy,
  hints: KeylessPolicyHints = POLICY_HINTS,
): void {
  const empty = (["identity", "issuer"] as const).find((which) => {
    const [exact, pattern] = which === "identity"
      ? [policy.certificateIdentity, policy.certificateIdentityRegexp]
      : [policy.certificateOidcIssuer, policy.certificateOidcIssuerRegexp];
    return exact === "" || pattern === "";
  });
  if (empty !== undefined) {
    // An empty regular expression matches every identity: a variable that came out empty
    // would accept any signer of the issuer, where cosign reads an empty value as none given.
    throw new UsageError(
      `keyless verification got an empty ${empty}, which would match any`,
      hints[empty],
    );
  }
  if (policy.certificateIdentity === undefined && policy.certificateIdentityRegexp === undefined) {
    throw new UsageError("keyless verification needs an identity", hints.identity);
  }
  if (
    policy.certificateOidcIssuer === undefined && policy.certificateOidcIssuerRegexp === undefined
  ) {
    throw new UsageError("keyless verification needs an OIDC issuer", hints.issuer);
  }
  for (const pattern of [policy.certificateIdentityRegexp, policy.certificateOidcIssuerRegexp]) {
    if (pattern === undefined) continue;
    try {
      new RegExp(pattern);
    } catch (error) {
      throw new UsageError(`invalid regular expression ${JSON.stringify(pattern)}`, {
        cause: error,
      });
    }
  }
}

/**
 * Referrer descriptors, as the target lists them: its own API (page by page, so that a consumer
 * that stops early reads no further), else the tag schema and layout entries.
 */
async function* referrersOf(target: Target, image: Descriptor): AsyncGenerator<Descriptor> {
  const lister = target as Target & {
    referrers?: (digest: string) => Promise<Descriptor[]> | AsyncIterable<Descriptor>;
    listEntries?: () => Promise<Descriptor[]>;
  };
  if (typeof lister.referrers === "function") {
    try {
      const listed = lister.referrers(image.digest);
      yield* Symbol.asyncIterator in listed ? listed : await listed;
    } catch (error) {
      if (!(error instanceof IntegrityError)) throw error;
      // Whoever may push can put a manifest under the fallback tag: a listing that says
      // nothing, which refuses the bundles it would have held, not an integrity error.
      const why = escapeRemote(error.message);
      throw new SignatureError(`the referrers of ${image.digest} cannot be read: ${why}`, {
        reason: "malformed",
        rejected: [`referrers listing: ${why}`],
        cause: error,
      });
    }
    return;
  }
  const seen = new Map<string, Descriptor>();
  const { algorithm, hex } = parseDigest(image.digest);
  try {
    const index = await target.resolve(`${algorithm}-${hex}`);
    if (isIndexMediaType(index.mediaType)) {
      const parsed = parseManifestOrIndex(await target.fetchManifest(index), index.mediaType);
      if (parsed.kind === "index") parsed.index.manifests.forEach((d) => seen.set(d.digest, d));
    }
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
  if (typeof lister.listEntries === "function") {
    for (const entry of await lister.listEntries()) {
      if (entry.artifactType !== undefined && BUNDLE_MEDIA_TYPES.includes(entry.artifactType)) {
        seen.set(entry.digest, entry);
      }
    }
  }
  yield* seen.values();
}
