/**
 * Keyless verification of a Sigstore bundle, offline, against a `trusted_root.json`, by
 * sigstore-js's own verifier (`@sigstore/verify`, with `@sigstore/bundle` to read the bundle and
 * `@sigstore/protobuf-specs` to read the trusted root). It checks what a keyless signature rests
 * on: the Fulcio certificate chain, its validity at the signing time, the embedded SCTs, Rekor
 * inclusion proofs and checkpoints or signed entry timestamps, RFC 3161 timestamps, and that the
 * log entry matches the signature. Reimplementing that (X.509 path building, CT, Merkle proofs,
 * signed notes, CMS) would be thousands of lines of security code with no second user.
 *
 * One incompatibility had to be bridged. sigstore-js calls `crypto.verify(undefined, data, key,
 * sig)` for ECDSA keys (Rekor's SETs and checkpoints, and the artifact signature), relying on
 * Node's OpenSSL, which picks SHA-256 as the default digest of every EC key. Deno's `node:crypto`
 * (2.9.6) has no default digest and throws, which sigstore-js turns into "signature could not be
 * verified" for valid bundles; Bun had the same gap (oven-sh/bun#40559). Where, and only where,
 * the runtime lacks the default, {@linkcode ensureEcDefaultDigest} wraps `node:crypto`'s `verify`
 * so that an EC key with no digest uses SHA-256: exactly what Node does, nothing more. When Deno
 * gains the default, the check finds nothing to fix and leaves `verify` alone.
 *
 * @example
 * ```ts
 * import { verifyKeyless } from "./keyless.ts";
 * const bundle = JSON.parse(await Deno.readTextFile("image.sigstore.json"));
 * const signer = verifyKeyless(bundle, undefined, {
 *   trustedRoot: await Deno.readFile("trusted_root.json"),
 *   certificateIdentity: "dev@example.com",
 *   certificateOidcIssuer: "https://accounts.example.com",
 * });
 * console.log(signer.identity, signer.issuer);
 * ```
 * @module
 */
import nodeCrypto from "node:crypto";
import { Buffer } from "node:buffer";
// Full npm: specifiers rather than import-map names, so that this module imports as it is from
// outside this repository (the lint rule assumes every consumer reads our deno.json).
// deno-lint-ignore no-import-prefix
import { bundleFromJSON } from "npm:@sigstore/bundle@5.0.1";
// deno-lint-ignore no-import-prefix
import { TrustedRoot } from "npm:@sigstore/protobuf-specs@0.5.2";
// deno-lint-ignore no-import-prefix
import * as sigstore from "npm:@sigstore/verify@4.1.3";
import { UsageError } from "../errors/mod.ts";
import { isJsonObject } from "../oci/types.ts";
import type { KeylessPolicy } from "./bundle.ts";
import { SignatureError } from "./errors.ts";

/** Who signed a keyless bundle that verified. */
export interface KeylessSigner {
  /** The certificate's subject alternative name: an email, a URI (a CI workflow). */
  identity: string;
  /** The OIDC issuer recorded in the certificate. */
  issuer: string;
}

/**
 * Verifies a keyless bundle (parsed JSON) against the policy. `artifact` is the signed bytes of
 * a `messageSignature` bundle (the image manifest); a DSSE bundle carries its payload.
 *
 * This does not check what the signature is about: the caller checks the digest or the
 * statement's subject (as `verifyBundleKeyless` in `bundle.ts` does).
 *
 * @throws {SignatureError} `malformed` (not a valid bundle), `untrusted` (chain, time, log or
 * timestamp), `invalid-signature`, or `identity-mismatch`.
 * @throws {UsageError} when the trusted root is not valid.
 * @example
 * ```ts
 * import { verifyKeyless } from "./keyless.ts";
 * const bundle = JSON.parse(await Deno.readTextFile("artifact.sigstore.json"));
 * verifyKeyless(bundle, await Deno.readFile("artifact"), {
 *   trustedRoot: await Deno.readFile("trusted_root.json"),
 *   certificateIdentityRegexp: "@example\\.com$",
 *   certificateOidcIssuer: "https://accounts.example.com",
 * });
 * ```
 */
export function verifyKeyless(
  bundleJson: Record<string, unknown>,
  artifact: Uint8Array | undefined,
  policy: KeylessPolicy,
): KeylessSigner {
  ensureEcDefaultDigest();
  const verifier = new sigstore.Verifier(trustMaterial(policy.trustedRoot), {
    tlogThreshold: policy.ignoreTlog ? 0 : 1,
    ctlogThreshold: policy.ignoreSct ? 0 : 1,
    // A log entry's integrated time counts as a timestamp, so one of either is required.
    timestampThreshold: 1,
  });
  let bundle;
  try {
    bundle = bundleFromJSON(bundleJson);
  } catch (error) {
    throw new SignatureError(`invalid Sigstore bundle: ${(error as Error).message}`, {
      reason: "malformed",
      cause: error,
    });
  }
  let signer;
  try {
    const entity = sigstore.toSignedEntity(bundle, artifact ? Buffer.from(artifact) : undefined);
    signer = verifier.verify(entity);
  } catch (error) {
    throw translate(error);
  }
  const identity = signer.identity?.subjectAlternativeName ?? "";
  const issuer = signer.identity?.extensions?.issuer ?? "";
  checkIdentity("identity", identity, policy.certificateIdentity, policy.certificateIdentityRegexp);
  checkIdentity("issuer", issuer, policy.certificateOidcIssuer, policy.certificateOidcIssuerRegexp);
  return { identity, issuer };
}

let ecDefaultDigestChecked = false;

/**
 * Makes `node:crypto`'s `verify` use SHA-256 for EC keys when no digest is named, as Node's
 * OpenSSL does, if and only if this runtime throws instead. Returns whether it had to.
 *
 * @example
 * ```ts
 * import { ensureEcDefaultDigest } from "./keyless.ts";
 * console.log(ensureEcDefaultDigest()); // true under Deno 2.9.6
 * ```
 */
export function ensureEcDefaultDigest(): boolean {
  if (ecDefaultDigestChecked) return false;
  ecDefaultDigestChecked = true;
  if (hasEcDefaultDigest()) return false;
  const original = nodeCrypto.verify;
  const patched = function (
    this: unknown,
    algorithm: string | null | undefined,
    ...rest: unknown[]
  ) {
    const key = rest[1] as unknown;
    const keyObject = key instanceof nodeCrypto.KeyObject
      ? key
      : isJsonObject(key) && key.key instanceof nodeCrypto.KeyObject
      ? key.key
      : undefined;
    const chosen = algorithm == null && keyObject?.asymmetricKeyType === "ec"
      ? "sha256"
      : algorithm;
    return (original as (...args: unknown[]) => unknown).call(this, chosen, ...rest);
  };
  (nodeCrypto as unknown as { verify: unknown }).verify = patched;
  return true;
}

/** Whether `verify(undefined, …)` with an EC key works here as it does in Node. */
function hasEcDefaultDigest(): boolean {
  const { privateKey, publicKey } = nodeCrypto.generateKeyPairSync("ec", {
    namedCurve: "prime256v1",
  });
  const data = Buffer.from("ocisync");
  const signature = nodeCrypto.sign("sha256", data, privateKey);
  try {
    return nodeCrypto.verify(undefined, data, publicKey, signature);
  } catch {
    return false;
  }
}

function trustMaterial(root: KeylessPolicy["trustedRoot"]) {
  let json: unknown = root;
  try {
    if (typeof root === "string") json = JSON.parse(root);
    else if (root instanceof Uint8Array) json = JSON.parse(new TextDecoder().decode(root));
    if (!isJsonObject(json)) throw new Error("not a JSON object");
    return sigstore.toTrustMaterial(TrustedRoot.fromJSON(json));
  } catch (error) {
    throw new UsageError(`invalid trusted root: ${(error as Error).message}`, {
      hint: "give Sigstore's trusted_root.json (from `cosign trusted-root create` or TUF)",
      cause: error,
    });
  }
}

function translate(error: unknown): SignatureError {
  if (error instanceof sigstore.PolicyError) {
    return new SignatureError(error.message, { reason: "identity-mismatch", cause: error });
  }
  if (error instanceof sigstore.VerificationError) {
    const reason = error.code === "SIGNATURE_ERROR" ? "invalid-signature" : "untrusted";
    return new SignatureError(`${error.code}: ${error.message}`, { reason, cause: error });
  }
  return new SignatureError(`the bundle could not be verified: ${(error as Error).message}`, {
    reason: "malformed",
    cause: error,
  });
}

function checkIdentity(
  what: "identity" | "issuer",
  actual: string,
  exact: string | undefined,
  pattern: string | undefined,
): void {
  // As cosign: an exact value must be equal; a regexp must match somewhere (Go's MatchString),
  // so anchor it with ^…$ to pin a whole value. Given both, both must hold.
  const ok = (exact === undefined || actual === exact) &&
    (pattern === undefined || new RegExp(pattern).test(actual));
  if (!ok) {
    const wanted = exact !== undefined ? JSON.stringify(exact) : `/${pattern}/`;
    throw new SignatureError(
      `the certificate's ${what} is ${JSON.stringify(actual)}, not ${wanted}`,
      { reason: "identity-mismatch" },
    );
  }
}
