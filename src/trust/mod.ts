/**
 * Signatures, as cosign makes them, for `sign`, `verify` and the `--verify-key` checks of `pull`,
 * `copy` and `sync`:
 * - classic signatures (`sha256-<hex>.sig` tags of simple-signing payloads) signed and verified
 *   with EC P-256 keys (`cosign.ts`, `simplesigning.ts`, `keys.ts`);
 * - Sigstore bundles attached as OCI 1.1 referrers, verified with a key or keyless against a
 *   trusted root (`bundle.ts`, `keyless.ts`).
 *
 * Signing returns a plan to push; nothing here writes to a target.
 *
 * @example
 * ```ts
 * import { parsePublicKey, verifyClassic } from "./mod.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const layout = await LayoutTarget.open("./bundle");
 * const key = parsePublicKey(await Deno.readTextFile("cosign.pub"));
 * const { signatures } = await verifyClassic(layout, await layout.resolve("v1"), [key]);
 * console.log(signatures.map((s) => s.keyFingerprint));
 * ```
 * @module
 */
export { KeyError, SignatureError, type SignatureFailure } from "./errors.ts";
export type { SignatureErrorOptions } from "./errors.ts";
export {
  COSIGN_PRIVATE_KEY_LABEL,
  parsePrivateKey,
  parsePublicKey,
  PASSWORD_VARIABLE,
  type PrivateKey,
  type PrivateKeyOptions,
  type PublicKey,
  publicKeyFromSpki,
  signBytes,
  SIGSTORE_PRIVATE_KEY_LABEL,
  verifyBytes,
} from "./keys.ts";
export {
  buildSimpleSigningPayload,
  COSIGN_SIGNATURE_TYPE,
  MAX_PAYLOAD_BYTES,
  parseSimpleSigningPayload,
  type PayloadOptions,
  SIMPLE_SIGNING_MEDIA_TYPE,
  type SimpleSigningPayload,
} from "./simplesigning.ts";
export {
  CERTIFICATE_ANNOTATION,
  type ClassicSignaturePlan,
  type ClassicVerification,
  MAX_SIGNATURE_LAYERS,
  SIGNATURE_ANNOTATION,
  signatureTag,
  signClassic,
  type SignClassicOptions,
  type VerifiedClassicSignature,
  verifyClassic,
} from "./cosign.ts";
export {
  BUNDLE_MEDIA_TYPE,
  BUNDLE_MEDIA_TYPES,
  type BundleContent,
  type BundleKeyMaterial,
  type BundleReferrerOptions,
  bundleReferrerPlan,
  type BundleVerification,
  COSIGN_SIGN_PREDICATE_TYPE,
  findBundles,
  type FoundBundle,
  INTOTO_PAYLOAD_TYPE,
  type KeylessPolicy,
  MAX_BUNDLE_BYTES,
  parseBundle,
  preAuthEncoding,
  signBundle,
  type SignBundleOptions,
  type SigstoreBundle,
  type VerifiedBundle,
  verifyBundleKeyless,
  verifyBundles,
  type VerifyBundlesOptions,
  verifyBundleWithKey,
} from "./bundle.ts";
export { jsonBytes, type PlannedBlob, plannedBlob, type SignaturePlan } from "./plan.ts";
export {
  type KeylessOptions,
  openVerifier,
  type VerifiedSignatures,
  Verifier,
  type VerifierOptions,
  type VerifyOptions,
} from "./verifier.ts";
export { type VerifierFiles, wantsVerification } from "./files.ts";
// Re-exported so that this module's documentation is complete on its own.
export type { Digest } from "../digest/mod.ts";
export type { Descriptor, Platform } from "../oci/types.ts";
export type { Target } from "../oci/target.ts";
export { OcisyncError, type OcisyncErrorOptions, UsageError } from "../errors/mod.ts";
