/**
 * The errors of signing and verifying: {@linkcode SignatureError} when no
 * signature can be trusted, {@linkcode KeyError} when a key cannot be read.
 *
 * @example
 * ```ts
 * import { SignatureError } from "./errors.ts";
 * try {
 *   throw new SignatureError("no valid signature", { reason: "no-signature" });
 * } catch (error) {
 *   if (error instanceof SignatureError) console.log(error.reason); // "no-signature"
 * }
 * ```
 * @module
 */
import { OcisyncError, UsageError } from "../errors/mod.ts";
import type { OcisyncErrorOptions } from "../errors/mod.ts";

/**
 * Why a signature was refused. A caller (the CLI, a policy) can branch on it without parsing
 * messages:
 * - `no-signature`: nothing that claims to sign the image was found (a signed attestation, an
 *   in-toto statement of another predicate type than cosign's signature, does not claim to);
 * - `invalid-signature`: a signature did not verify with any of the keys;
 * - `digest-mismatch`: a valid signature, but for another image (a replayed signature);
 * - `malformed`: a payload, a bundle, a signature encoding that does not parse;
 * - `untrusted`: a certificate chain, a transparency-log entry or a timestamp does not verify
 *   against the trusted root, or the certificate was not valid when the signature was made;
 * - `identity-mismatch`: a valid keyless signature by another identity or issuer.
 */
export type SignatureFailure =
  | "no-signature"
  | "invalid-signature"
  | "digest-mismatch"
  | "malformed"
  | "untrusted"
  | "identity-mismatch";

/** Options of {@linkcode SignatureError}. */
export interface SignatureErrorOptions extends OcisyncErrorOptions {
  /** Why the signature was refused. */
  reason: SignatureFailure;
  /**
   * One line per signature that was tried and refused, and why. A line can quote a registry or
   * a signature (a media type, a bundle's field), its controls written out (`escapeRemote` of
   * `../errors/mod.ts`), so that it can be printed as it is.
   */
  rejected?: string[];
}

/**
 * No signature of the image could be trusted: none exists, or each one that exists was refused.
 * Its kind is `integrity`: like a digest mismatch, the content was refused before anything was
 * written.
 *
 * @example
 * ```ts
 * import { SignatureError } from "./errors.ts";
 * const error = new SignatureError("no signature of sha256:ab… verified", {
 *   reason: "invalid-signature",
 *   rejected: ["layer 0: no key verified the signature"],
 * });
 * console.log(error.kind); // "integrity"
 * ```
 */
export class SignatureError extends OcisyncError {
  /** Always `"integrity"`. */
  override readonly kind: "integrity" = "integrity";
  /** Why the signature was refused. */
  readonly reason: SignatureFailure;
  /** What was tried and why each was refused. */
  readonly rejected: string[];

  /** Creates the error with its reason. */
  constructor(message: string, options: SignatureErrorOptions) {
    super(message, options);
    this.reason = options.reason;
    this.rejected = options.rejected ?? [];
  }
}

/**
 * A key file cannot be used: not PEM, not an EC P-256 key, a wrong or missing password. A
 * {@linkcode UsageError}, for the user gave the key.
 *
 * @example
 * ```ts
 * import { KeyError } from "./errors.ts";
 * throw new KeyError("cosign.key: wrong password", { hint: "check COSIGN_PASSWORD" });
 * ```
 */
export class KeyError extends UsageError {}
