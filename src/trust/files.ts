/**
 * What a user asks to verify with, apart from the verifier that reads it (`./verifier.ts`, which
 * loads the signature formats and the key parsers): a command that only needs to know whether
 * verification is asked starts without them.
 *
 * @module
 */

/**
 * What a user gives to turn verification on: file paths and names, one field per flag of
 * `pull`, `copy` and `sync` (`--verify-key`, `--trusted-root`, `--certificate-identity`,
 * `--certificate-identity-regexp`, `--certificate-oidc-issuer`,
 * `--certificate-oidc-issuer-regexp`, `--insecure-ignore-tlog`, `--insecure-ignore-sct`) and
 * per key of a sync `--config` target.
 *
 * @example
 * ```ts
 * import type { VerifierFiles } from "./files.ts";
 * const files: VerifierFiles = { verifyKeys: ["cosign.pub", "release.pub"] };
 * ```
 */
export interface VerifierFiles {
  /** PEM public keys (SPKI, EC P-256), any one of which may verify. */
  verifyKeys?: string[];
  /** Sigstore's `trusted_root.json`, for keyless signatures. */
  trustedRoot?: string;
  /** The keyless signer's exact identity. */
  certificateIdentity?: string;
  /** A regular expression the keyless signer's identity must match. */
  certificateIdentityRegexp?: string;
  /** The exact OIDC issuer of the keyless signer's certificate. */
  certificateOidcIssuer?: string;
  /** A regular expression the issuer must match. */
  certificateOidcIssuerRegexp?: string;
  /** Accept a keyless bundle with no transparency-log entry. */
  insecureIgnoreTlog?: boolean;
  /** Accept a certificate without a signed certificate timestamp. */
  insecureIgnoreSct?: boolean;
}

/**
 * Whether any field of `files` asks for verification. A key list given empty asks for it too,
 * with nothing to verify with, which `openVerifier` (`./verifier.ts`) refuses: a program whose
 * list of keys came out empty must not pull unverified.
 *
 * @example
 * ```ts
 * import { wantsVerification } from "./files.ts";
 * wantsVerification({}); // false
 * wantsVerification({ verifyKeys: ["cosign.pub"] }); // true
 * wantsVerification({ verifyKeys: [] }); // true: openVerifier refuses it
 * ```
 */
export function wantsVerification(files: VerifierFiles): boolean {
  return Object.values(files).some((value) => value !== undefined && value !== false);
}
