/**
 * Classic cosign signatures: a manifest tagged `sha256-<hex>.sig` in the image's repository,
 * whose layers are simple-signing payloads, each signed in its
 * `dev.cosignproject.cosign/signature` annotation (base64 DER ECDSA P-256 over SHA-256 of the
 * payload bytes). This is what `cosign sign --key` writes and `cosign verify --key` reads.
 *
 * Signing returns a plan (see `plan.ts`) and pushes nothing. Verification is offline: with a key
 * it checks the signature and the payload's digest, as `cosign verify --key K
 * --insecure-ignore-tlog` does; the Rekor bundle annotations cosign may add are not checked.
 *
 * @example
 * ```ts
 * import { signClassic, verifyClassic } from "./cosign.ts";
 * import { parsePrivateKey } from "./keys.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const layout = await LayoutTarget.open("./bundle");
 * const image = await layout.resolve("v1");
 * const key = await parsePrivateKey(await Deno.readTextFile("cosign.key"));
 * const plan = await signClassic(layout, image, key, { annotations: { ci: "true" } });
 * // … the writer pushes plan.blobs, plan.config, then plan.manifest under plan.tag …
 * const { signatures } = await verifyClassic(layout, image, [key.publicKey]);
 * ```
 * @module
 */
import { signatureTag } from "../oci/referrers.ts";
import type { Digest } from "../digest/mod.ts";
import { escapeRemote, IntegrityError, NotFoundError, UsageError } from "../errors/mod.ts";
import { MediaType } from "../oci/mediatypes.ts";
import type { Target } from "../oci/target.ts";
import { type Descriptor, type Manifest, parseManifestOrIndex } from "../oci/types.ts";
import { readBounded } from "../streams/mod.ts";
import { decodeBase64, encodeBase64 } from "./encoding.ts";
import { SignatureError, type SignatureFailure } from "./errors.ts";
import { type PrivateKey, type PublicKey, signBytes, verifyBytes } from "./keys.ts";
import { jsonBytes, type PlannedBlob, plannedBlob, type SignaturePlan } from "./plan.ts";
import {
  buildSimpleSigningPayload,
  MAX_PAYLOAD_BYTES,
  parseSimpleSigningPayload,
  SIMPLE_SIGNING_MEDIA_TYPE,
} from "./simplesigning.ts";

/** The layer annotation that holds a payload's base64 signature. */
export const SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";
/** The layer annotation of a keyless signature's PEM certificate (reported, not verified). */
export const CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate";
/** How many layers of one signature manifest are looked at, at most. */
export const MAX_SIGNATURE_LAYERS = 64;
// A signature manifest's config is a few hundred bytes; one with many layers, a few KiB.
const MAX_CONFIG_BYTES = 1024 * 1024;

export { signatureTag };

/** Options of {@linkcode signClassic}. */
export interface SignClassicOptions {
  /** Annotations signed into the payload's `optional` (`cosign sign -a key=value`). */
  annotations?: Record<string, string>;
  /**
   * `critical.identity.docker-reference`: the repository the image is published as. Default the
   * target's name, which for a registry is `registry/repository`, as cosign writes.
   */
  identity?: string;
}

/** A plan for a classic signature: the `.sig` manifest with the new layer appended. */
export interface ClassicSignaturePlan extends SignaturePlan {
  /** `sha256-<hex>.sig`. */
  tag: string;
  /** The new payload blob (also in {@linkcode SignaturePlan.blobs}). */
  payload: PlannedBlob;
  /** The new signature, base64, as in the layer's annotation. */
  signature: string;
  /**
   * False when the manifest already held a layer with this payload signed by this key: the plan
   * is then the existing manifest, and pushing it changes nothing.
   */
  appended: boolean;
}

/**
 * Signs an image the classic way and returns the `.sig` manifest to push: the existing signature
 * layers (other signers' included) plus one layer for the new payload, as cosign appends. The
 * config is the minimal one go-containerregistry writes for cosign, with one `diff_ids` entry per
 * layer.
 *
 * @throws {IntegrityError} when the existing `.sig` manifest is not a valid manifest.
 * @throws {UsageError} when the `.sig` manifest holds {@linkcode MAX_SIGNATURE_LAYERS} signatures
 * already: one more would be past what a verification reads.
 * @example
 * ```ts
 * import { signClassic } from "./cosign.ts";
 * import { parsePrivateKey } from "./keys.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const layout = await LayoutTarget.open("./bundle");
 * const image = await layout.resolve("v1");
 * const key = await parsePrivateKey(await Deno.readTextFile("ec.pem"));
 * const plan = await signClassic(layout, image, key, { identity: "ghcr.io/acme/flows" });
 * console.log(plan.tag, plan.manifest.descriptor.digest);
 * ```
 */
export async function signClassic(
  target: Target,
  image: Descriptor,
  key: PrivateKey,
  options: SignClassicOptions = {},
): Promise<ClassicSignaturePlan> {
  const tag = signatureTag(image.digest);
  const payloadBytes = buildSimpleSigningPayload({
    digest: image.digest,
    dockerReference: options.identity ?? target.name,
    annotations: options.annotations,
  });
  const payload = plannedBlob(payloadBytes, SIMPLE_SIGNING_MEDIA_TYPE);
  const existing = await existingManifest(target, tag);
  const layers = existing?.manifest.layers ?? [];
  const same = await findSameSignature(target, layers, payload.descriptor.digest, key.publicKey);
  if (existing && same !== undefined) {
    return {
      ...await unchangedPlan(target, existing),
      tag,
      payload,
      signature: same,
      appended: false,
    };
  }
  if (layers.length >= MAX_SIGNATURE_LAYERS) {
    // Appended past them, it would be a signature that no verification reads.
    throw new UsageError(
      `${tag} in ${target.name} holds ${layers.length} signatures; verify reads the first ` +
        `${MAX_SIGNATURE_LAYERS}, so one more would never be read`,
      { hint: "sign with a key already there, or remove the signatures no longer used" },
    );
  }
  const signature = encodeBase64(signBytes(key, payloadBytes));
  const layer = { ...payload.descriptor, annotations: { [SIGNATURE_ANNOTATION]: signature } };
  return {
    ...signatureManifest([...layers, layer], [payload]),
    tag,
    payload,
    signature,
    appended: true,
  };
}

/** One signature that verified. */
export interface VerifiedClassicSignature {
  /** `sha256:` of the verifying key's DER SubjectPublicKeyInfo. */
  keyFingerprint: Digest;
  /** `critical.identity.docker-reference`, as the signer claimed it. */
  dockerReference: string;
  /** The payload's `optional` annotations. */
  annotations: Record<string, unknown>;
  /** The payload blob's digest. */
  payloadDigest: Digest;
  /** The signature, base64. */
  signature: string;
  /** The PEM certificate in the layer's annotations, when the signature was keyless. */
  certificate?: string;
}

/** What {@linkcode verifyClassic} found. */
export interface ClassicVerification {
  /** The signatures that verified: at least one. */
  signatures: VerifiedClassicSignature[];
  /** One line per layer that was refused, and why. */
  rejected: string[];
}

/**
 * Verifies an image's classic signatures with the given keys: resolves the `.sig` tag, fetches
 * its manifest and each payload blob (verified against their digests by the target), and keeps
 * each layer whose signature verifies with one of the keys and whose payload names this image's
 * digest. One valid signature is enough, as for cosign; the others are reported in `rejected`.
 *
 * @throws {SignatureError} `no-signature` when there is no `.sig` tag; otherwise, when no layer
 * verified, `digest-mismatch` if a valid signature was for another image, else
 * `invalid-signature` or `malformed`.
 * @throws {UsageError} when no key is given.
 * @example
 * ```ts
 * import { verifyClassic } from "./cosign.ts";
 * import { parsePublicKey } from "./keys.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const layout = await LayoutTarget.open("./bundle");
 * const key = parsePublicKey(await Deno.readTextFile("cosign.pub"));
 * const result = await verifyClassic(layout, await layout.resolve("v1"), [key]);
 * console.log(result.signatures[0].dockerReference);
 * ```
 */
export async function verifyClassic(
  target: Target,
  image: Descriptor,
  publicKeys: readonly PublicKey[],
): Promise<ClassicVerification> {
  if (publicKeys.length === 0) throw new UsageError("no public key to verify signatures with");
  const tag = signatureTag(image.digest);
  let layers: Descriptor[];
  try {
    layers = (await signatureManifestAt(target, tag)).manifest.layers;
  } catch (error) {
    if (error instanceof IntegrityError && !(error instanceof SignatureError)) {
      // Whoever may push can put anything under the tag: a refusal of that signature, after
      // which the image's other signatures (bundles) are still tried, not an error that ends
      // the verification.
      const why = escapeRemote((error as Error).message);
      throw new SignatureError(`${tag} in ${target.name} is no valid signature manifest: ${why}`, {
        reason: "malformed",
        rejected: [`${tag}: ${why}`],
        cause: error,
      });
    }
    if (!(error instanceof NotFoundError)) throw error;
    throw new SignatureError(`${image.digest} has no cosign signature in ${target.name}`, {
      reason: "no-signature",
      hint: `no tag ${tag}: sign it with \`ocisync sign --key\` or \`cosign sign --key\``,
      cause: error,
    });
  }
  const signatures: VerifiedClassicSignature[] = [];
  const rejected: string[] = [];
  const failures: SignatureFailure[] = [];
  for (const [index, layer] of layers.slice(0, MAX_SIGNATURE_LAYERS).entries()) {
    const outcome = await verifyLayer(target, layer, image.digest, publicKeys);
    if ("failure" in outcome) {
      // The reason can quote the layer (its media type, the payload): one line, written out.
      rejected.push(`layer ${index} (${layer.digest}): ${escapeRemote(outcome.message)}`);
      failures.push(outcome.failure);
    } else {
      signatures.push(outcome);
    }
  }
  if (layers.length > MAX_SIGNATURE_LAYERS) {
    rejected.push(`layers after the first ${MAX_SIGNATURE_LAYERS} were not read`);
  }
  if (signatures.length > 0) return { signatures, rejected };
  const reason =
    (["digest-mismatch", "invalid-signature", "malformed"] as const).find((r) =>
      failures.includes(r)
    ) ?? "no-signature";
  throw new SignatureError(
    `no cosign signature of ${image.digest} in ${target.name} verified with ${
      keysPhrase(publicKeys)
    }`,
    {
      reason,
      rejected,
      hint: reason === "digest-mismatch"
        ? "a signature for another image was copied to this one: it does not count"
        : undefined,
    },
  );
}

type LayerOutcome = VerifiedClassicSignature | { failure: SignatureFailure; message: string };

async function verifyLayer(
  target: Target,
  layer: Descriptor,
  imageDigest: string,
  publicKeys: readonly PublicKey[],
): Promise<LayerOutcome> {
  if (layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) {
    return { failure: "malformed", message: `media type ${layer.mediaType} is not a payload` };
  }
  const encoded = layer.annotations?.[SIGNATURE_ANNOTATION];
  if (encoded === undefined) {
    return { failure: "malformed", message: `no ${SIGNATURE_ANNOTATION} annotation` };
  }
  const signature = decodeBase64(encoded);
  if (signature === undefined || signature.length === 0) {
    return { failure: "malformed", message: "the signature is not base64" };
  }
  if (layer.size > MAX_PAYLOAD_BYTES) {
    return { failure: "malformed", message: `a ${layer.size}-byte payload is too large` };
  }
  let payload: Uint8Array | undefined;
  try {
    payload = await readBounded(await target.fetchBlob(layer), MAX_PAYLOAD_BYTES);
  } catch (error) {
    // A missing or corrupt payload blob spoils this layer only; another may still verify.
    return { failure: "malformed", message: `payload unreadable: ${(error as Error).message}` };
  }
  if (payload === undefined) return { failure: "malformed", message: "payload too large" };
  // The signature is checked before the payload is parsed: unsigned JSON is never interpreted.
  const key = publicKeys.find((k) => verifyBytes(k, payload, signature));
  if (key === undefined) {
    return { failure: "invalid-signature", message: `no key verified the signature` };
  }
  try {
    const parsed = parseSimpleSigningPayload(payload, imageDigest);
    const certificate = layer.annotations?.[CERTIFICATE_ANNOTATION];
    return {
      keyFingerprint: key.fingerprint,
      dockerReference: parsed.dockerReference,
      annotations: parsed.annotations,
      payloadDigest: layer.digest,
      signature: encoded,
      ...(certificate ? { certificate } : {}),
    };
  } catch (error) {
    if (!(error instanceof SignatureError)) throw error;
    return { failure: error.reason, message: error.message };
  }
}

/** A signature manifest as stored. */
interface StoredManifest {
  descriptor: Descriptor;
  bytes: Uint8Array;
  manifest: Manifest;
}

/** The manifest under `tag`; NotFoundError when the tag does not exist. */
async function signatureManifestAt(target: Target, tag: string): Promise<StoredManifest> {
  const found = await target.resolve(tag);
  const descriptor = { mediaType: found.mediaType, size: found.size, digest: found.digest };
  const bytes = await target.fetchManifest(descriptor);
  const parsed = parseManifestOrIndex(bytes, descriptor.mediaType);
  if (parsed.kind !== "manifest") {
    throw new SignatureError(`${tag} in ${target.name} is an index, not a signature manifest`, {
      reason: "malformed",
    });
  }
  return {
    descriptor: { ...descriptor, mediaType: parsed.mediaType },
    bytes,
    manifest: parsed.manifest,
  };
}

async function existingManifest(target: Target, tag: string): Promise<StoredManifest | undefined> {
  try {
    return await signatureManifestAt(target, tag);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

/** The stored manifest and config as they are: pushing them again changes nothing. */
async function unchangedPlan(
  target: Target,
  stored: StoredManifest,
): Promise<Pick<SignaturePlan, "manifest" | "config" | "blobs">> {
  const configDescriptor = stored.manifest.config;
  const configBytes = await readBounded(await target.fetchBlob(configDescriptor), MAX_CONFIG_BYTES);
  if (configBytes === undefined) {
    throw new SignatureError(
      `the config of the signature manifest is over ${MAX_CONFIG_BYTES} bytes`,
      {
        reason: "malformed",
      },
    );
  }
  return {
    manifest: { descriptor: stored.descriptor, bytes: stored.bytes },
    config: { descriptor: configDescriptor, bytes: configBytes },
    blobs: [],
  };
}

/** The signature of an existing layer with this payload that `key` verifies, if any. */
async function findSameSignature(
  target: Target,
  layers: Descriptor[],
  payloadDigest: Digest,
  key: PublicKey,
): Promise<string | undefined> {
  for (const layer of layers) {
    const encoded = layer.annotations?.[SIGNATURE_ANNOTATION];
    const signature = encoded === undefined ? undefined : decodeBase64(encoded);
    if (layer.digest !== payloadDigest || !signature) continue;
    const payload = await readBounded(await target.fetchBlob(layer), MAX_PAYLOAD_BYTES)
      .catch(() => undefined);
    if (payload && verifyBytes(key, payload, signature)) return encoded;
  }
  return undefined;
}

/**
 * The `.sig` manifest for these layers, with the config go-containerregistry writes for cosign:
 * empty architecture and os, the zero time, one history entry and one diff_id per layer (a
 * payload layer is uncompressed, so its diff_id is its digest).
 */
function signatureManifest(
  layers: Descriptor[],
  blobs: PlannedBlob[],
): Pick<SignaturePlan, "manifest" | "config" | "blobs"> {
  const zeroTime = "0001-01-01T00:00:00Z";
  const config = plannedBlob(
    jsonBytes({
      architecture: "",
      created: zeroTime,
      history: layers.map(() => ({ created: zeroTime })),
      os: "",
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
      config: {},
    }),
    MediaType.OciConfig,
  );
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: config.descriptor,
    layers,
  };
  return {
    manifest: plannedBlob(jsonBytes(manifest), MediaType.OciManifest),
    config,
    blobs,
  };
}

function keysPhrase(keys: readonly PublicKey[]): string {
  return keys.length === 1 ? `key ${keys[0].fingerprint}` : `any of ${keys.length} keys`;
}
