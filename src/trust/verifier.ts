/**
 * One object that `pull`, `copy` and `sync` ask before content lands: {@linkcode Verifier}
 * tries an image's classic cosign signatures (`sha256-<hex>.sig`) and then its Sigstore bundle
 * referrers, with keys, a keyless policy, or both, and resolves with the descriptor whose digest
 * a signature verified. When none does, it throws a {@linkcode SignatureError} (exit 8).
 *
 * {@linkcode openVerifier} builds one from the options a user gives (file paths, identities),
 * one field per command-line flag or `--config` key.
 *
 * @example
 * ```ts
 * import { openVerifier } from "./verifier.ts";
 * import { pull } from "../pull/mod.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const verifier = await openVerifier({ verifyKeys: ["cosign.pub"] });
 * const layout = await LayoutTarget.open("./bundle");
 * await pull(layout, await layout.resolve("v1"), "./out", { verifier });
 * ```
 * @module
 */
import { type Digest, sha256Digest } from "../digest/mod.ts";
import { NotFoundError, OcisyncError, UsageError } from "../errors/mod.ts";
import { readNamedFile, readNamedText } from "../fs/read.ts";
import { hostPlatform, selectManifest } from "../image/platform.ts";
import type { CallOptions, Target } from "../oci/target.ts";
import { isIndexMediaType } from "../oci/mediatypes.ts";
import { type Descriptor, parseManifestOrIndex } from "../oci/types.ts";
import type { ImageVerifier, VerifiedImage, VerifyImageOptions } from "../pull/read.ts";
import {
  checkKeylessPolicy,
  type KeylessPolicy,
  type KeylessPolicyHints,
  type VerifiedBundle,
  verifyBundles,
} from "./bundle.ts";
import { type VerifiedClassicSignature, verifyClassic } from "./cosign.ts";
import { SignatureError, type SignatureFailure } from "./errors.ts";
import { parsePublicKey, type PublicKey } from "./keys.ts";
import { type VerifierFiles, wantsVerification } from "./files.ts";

/**
 * Who may have signed keylessly, and the trust to check it with: cosign's
 * `--trusted-root`, `--certificate-identity[-regexp]`, `--certificate-oidc-issuer[-regexp]`,
 * `--insecure-ignore-tlog` and `--insecure-ignore-sct`. One of `identity` and
 * `identityRegexp`, and one of `issuer` and `issuerRegexp`, are required.
 *
 * @example
 * ```ts
 * import type { KeylessOptions } from "./verifier.ts";
 * const keyless: KeylessOptions = {
 *   trustedRoot: await Deno.readFile("trusted_root.json"),
 *   identityRegexp: "^https://github.com/acme/",
 *   issuer: "https://token.actions.githubusercontent.com",
 * };
 * ```
 */
export interface KeylessOptions {
  /** The contents of Sigstore's `trusted_root.json`: bytes, text or parsed JSON. */
  trustedRoot: KeylessPolicy["trustedRoot"];
  /** The signer's exact identity (the certificate's subject alternative name). */
  identity?: string;
  /** A regular expression the identity must match (unanchored, as cosign's). */
  identityRegexp?: string;
  /** The exact OIDC issuer in the certificate. */
  issuer?: string;
  /** A regular expression the issuer must match. */
  issuerRegexp?: string;
  /** Accept a bundle with no transparency-log entry (an RFC 3161 timestamp stands in). */
  ignoreTlog?: boolean;
  /** Accept a certificate without a signed certificate timestamp. */
  ignoreSct?: boolean;
}

/** The hints of a keyless policy without an identity or an issuer: the CLI's flags. */
const FLAG_HINTS: KeylessPolicyHints = {
  identity: { hint: "give --certificate-identity or --certificate-identity-regexp" },
  issuer: { hint: "give --certificate-oidc-issuer or --certificate-oidc-issuer-regexp" },
};

/**
 * What a {@linkcode Verifier} accepts: keys, a keyless policy, or both. Any one signature that
 * verifies with any of them is enough.
 *
 * @example
 * ```ts
 * import type { VerifierOptions } from "./verifier.ts";
 * import { parsePublicKey } from "./keys.ts";
 * const options: VerifierOptions = {
 *   publicKeys: [parsePublicKey(await Deno.readTextFile("cosign.pub"))],
 * };
 * ```
 */
export interface VerifierOptions {
  /** EC P-256 public keys, for classic signatures and keyed bundles. */
  publicKeys?: readonly PublicKey[];
  /** A keyless policy, for bundles with a Fulcio certificate. */
  keyless?: KeylessOptions;
}

/**
 * What {@linkcode Verifier.verify} found: the descriptor a signature verified, and the
 * signatures.
 *
 * @example
 * ```ts
 * import type { VerifiedSignatures } from "./verifier.ts";
 * function summary(result: VerifiedSignatures): string {
 *   return `${result.digest}: ${result.classic.length} classic, ${result.bundles.length} bundles`;
 * }
 * ```
 */
export interface VerifiedSignatures extends VerifiedImage {
  /** The digest that verified: `descriptor.digest`. */
  digest: Digest;
  /** Whether the descriptor is the one given, or the chosen platform's manifest of its index. */
  subject: "given" | "platform";
  /** The classic signatures that verified (none when a bundle did). */
  classic: VerifiedClassicSignature[];
  /** The bundles that verified (none when a classic signature did). */
  bundles: VerifiedBundle[];
  /** One line per signature that was tried and refused. */
  rejected: string[];
}

/** Options of {@linkcode Verifier.verify}. */
export type VerifyOptions = VerifyImageOptions;

// The reasons in the order in which they tell a user most: anything beats "no signature".
const TELLING: SignatureFailure[] = [
  "identity-mismatch",
  "digest-mismatch",
  "invalid-signature",
  "untrusted",
  "malformed",
  "no-signature",
];

/**
 * Verifies images' signatures: the classic `.sig` form (with keys) first, then the Sigstore
 * bundles that refer to the image (keyed or keyless). One valid signature over the exact digest
 * is enough. For an index, the index's digest is tried first; when it has no valid signature,
 * the chosen platform's manifest is (cosign `--recursive` signs both), and the result names the
 * one that verified.
 *
 * @example
 * ```ts
 * import { Verifier } from "./verifier.ts";
 * import { parsePublicKey } from "./keys.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const verifier = new Verifier({
 *   publicKeys: [parsePublicKey(await Deno.readTextFile("cosign.pub"))],
 * });
 * const layout = await LayoutTarget.open("./bundle");
 * const result = await verifier.verify(layout, await layout.resolve("v1"));
 * console.log(result.digest, result.classic.length + result.bundles.length);
 * ```
 */
export class Verifier implements ImageVerifier {
  readonly #keys: readonly PublicKey[];
  readonly #keyless?: KeylessPolicy;

  /**
   * A verifier for these keys and keyless policy.
   *
   * @throws {UsageError} when neither keys nor a keyless policy is given, or the keyless policy
   * lacks an identity or an issuer, or has an invalid regular expression.
   */
  constructor(options: VerifierOptions) {
    this.#keys = options.publicKeys ?? [];
    const keyless = options.keyless;
    if (this.#keys.length === 0 && keyless === undefined) {
      throw new UsageError("no public key and no keyless policy to verify signatures with", {
        hint: "give --verify-key, or --trusted-root with an identity and an issuer",
      });
    }
    if (keyless) {
      const policy: KeylessPolicy = {
        trustedRoot: keyless.trustedRoot,
        certificateIdentity: keyless.identity,
        certificateIdentityRegexp: keyless.identityRegexp,
        certificateOidcIssuer: keyless.issuer,
        certificateOidcIssuerRegexp: keyless.issuerRegexp,
        ignoreTlog: keyless.ignoreTlog,
        ignoreSct: keyless.ignoreSct,
      };
      checkKeylessPolicy(policy, FLAG_HINTS);
      this.#keyless = policy;
    }
  }

  /**
   * What identifies this verifier's policy, for a sync's state (`SyncOptions.verifierPolicy`):
   * a digest over its keys' fingerprints (sorted: any one of them verifies), its trusted root's
   * digest, its identity and issuer and their regular expressions, and the `ignore…` flags.
   * Worked out from what it verifies with, not from its files read again, so that a state never
   * records a policy that the verification did not use.
   *
   * @example
   * ```ts
   * import { Verifier } from "./verifier.ts";
   * import { parsePublicKey } from "./keys.ts";
   * const key = parsePublicKey(await Deno.readTextFile("cosign.pub"));
   * new Verifier({ publicKeys: [key] }).policy; // "sha256:…"
   * ```
   */
  get policy(): Digest {
    const keyless = this.#keyless;
    const root = keyless?.trustedRoot;
    const encoder = new TextEncoder();
    // As given: the file's bytes (as openVerifier reads them), its text, or its parsed JSON.
    const rootBytes = root === undefined || root instanceof Uint8Array
      ? root
      : encoder.encode(typeof root === "string" ? root : JSON.stringify(root));
    return sha256Digest(encoder.encode(JSON.stringify({
      keys: [...new Set(this.#keys.map((key) => key.fingerprint))].sort(),
      trustedRoot: rootBytes ? sha256Digest(rootBytes) : null,
      identity: keyless?.certificateIdentity ?? null,
      identityRegexp: keyless?.certificateIdentityRegexp ?? null,
      issuer: keyless?.certificateOidcIssuer ?? null,
      issuerRegexp: keyless?.certificateOidcIssuerRegexp ?? null,
      ignoreTlog: keyless?.ignoreTlog === true,
      ignoreSct: keyless?.ignoreSct === true,
    })));
  }

  /**
   * Verifies `descriptor`'s signatures in `target`; for an index without a valid signature of
   * its own, those of the manifest chosen for `options.platform` (default the host's).
   *
   * @throws {SignatureError} when no signature verifies: the most telling reason among the
   * forms and subjects tried, with every refusal in `rejected`.
   */
  async verify(
    target: Target,
    descriptor: Descriptor,
    options: VerifyOptions = {},
  ): Promise<VerifiedSignatures> {
    const { signal } = options;
    signal?.throwIfAborted();
    const scoped = withSignal(target, signal);
    let first: SignatureError;
    try {
      return { ...await this.#verifyDigest(scoped, descriptor, signal), subject: "given" };
    } catch (error) {
      if (!(error instanceof SignatureError) || !isIndexMediaType(descriptor.mediaType)) {
        throw error;
      }
      first = error;
    }
    let child: Descriptor;
    try {
      const parsed = parseManifestOrIndex(
        await scoped.fetchManifest(descriptor, { signal }),
        descriptor.mediaType,
      );
      if (parsed.kind !== "index") throw first;
      child = selectManifest(parsed.index.manifests, options.platform ?? hostPlatform());
    } catch (error) {
      if (signal?.aborted) throw error;
      throw first; // No platform to fall back to: the index's refusal is the answer.
    }
    try {
      return { ...await this.#verifyDigest(scoped, child, signal), subject: "platform" };
    } catch (error) {
      if (!(error instanceof SignatureError)) throw error;
      throw merged(descriptor, [first, error], `or its platform's manifest ${child.digest}`);
    }
  }

  async #verifyDigest(
    target: Target,
    descriptor: Descriptor,
    signal: AbortSignal | undefined,
  ): Promise<Omit<VerifiedSignatures, "subject">> {
    const refusals: SignatureError[] = [];
    const verified = { descriptor, digest: descriptor.digest };
    if (this.#keys.length > 0) {
      try {
        const { signatures, rejected } = await verifyClassic(target, descriptor, this.#keys);
        return { ...verified, classic: signatures, bundles: [], rejected };
      } catch (error) {
        if (!(error instanceof SignatureError)) throw error;
        refusals.push(error);
      }
    }
    signal?.throwIfAborted();
    try {
      const { bundles, rejected } = await verifyBundles(target, descriptor, {
        publicKeys: this.#keys,
        keyless: this.#keyless,
      });
      return {
        ...verified,
        classic: [],
        bundles,
        rejected: [...refusals.flatMap((r) => r.rejected), ...rejected],
      };
    } catch (error) {
      if (!(error instanceof SignatureError)) throw error;
      refusals.push(error);
    }
    throw merged(descriptor, refusals);
  }
}

/** One error for several refusals: the most telling reason, every line of `rejected`. */
function merged(
  descriptor: Descriptor,
  refusals: SignatureError[],
  also = "",
): SignatureError {
  const reason = TELLING.find((r) => refusals.some((e) => e.reason === r)) ?? "no-signature";
  const telling = refusals.find((e) => e.reason === reason)!;
  const rejected = refusals.flatMap((e) => e.rejected);
  const what = `${descriptor.digest}${also ? ` ${also}` : ""}`;
  return new SignatureError(
    reason === "no-signature"
      ? `no signature of ${what}: ${refusals.map((e) => e.message).join("; ")}`
      : `no signature of ${what} verified: ${telling.message}`,
    {
      reason,
      rejected,
      hint: telling.hint,
      cause: telling,
    },
  );
}

/**
 * `target` with `signal` added to the calls that verification makes, so that a stop ends the
 * request under way. Methods are bound to the target itself (a class's private fields).
 */
function withSignal(target: Target, signal: AbortSignal | undefined): Target {
  if (signal === undefined) return target;
  const last = (options: CallOptions | undefined) => ({ signal, ...options });
  return new Proxy(target, {
    get(inner, property) {
      const value = Reflect.get(inner, property, inner);
      if (typeof value !== "function") return value;
      switch (property) {
        case "resolve":
        case "fetchManifest":
        case "fetchBlob":
        case "hasBlob":
          return (first: unknown, options?: CallOptions) => value.call(inner, first, last(options));
        case "referrers":
          return (subject: unknown, artifactType?: string, options?: CallOptions) =>
            value.call(inner, subject, artifactType, last(options));
        default:
          return value.bind(inner);
      }
    },
  });
}

/**
 * Reads the keys and the trusted root that `files` names and builds a {@linkcode Verifier};
 * undefined when `files` asks for no verification.
 *
 * @throws {NotFoundError} when a key or the trusted root does not exist.
 * @throws {UsageError} when a file cannot be read, a key is not an EC P-256 public key (a
 * `KeyError`), an identity or issuer is given without `trustedRoot`, or `trustedRoot` without
 * both an identity and an issuer.
 * @example
 * ```ts
 * import { openVerifier } from "./verifier.ts";
 * const verifier = await openVerifier({
 *   trustedRoot: "trusted_root.json",
 *   certificateIdentity: "https://github.com/acme/flows/.github/workflows/release.yml@refs/heads/main",
 *   certificateOidcIssuer: "https://token.actions.githubusercontent.com",
 * });
 * ```
 */
export async function openVerifier(files: VerifierFiles): Promise<Verifier | undefined> {
  if (!wantsVerification(files)) return undefined;
  const read = async <T>(
    path: string,
    what: string,
    as: (path: string, what: string) => Promise<T>,
  ): Promise<T> => {
    try {
      return await as(path, `the ${what}`);
    } catch (error) {
      if (error instanceof OcisyncError) throw error;
      // A missing file is exit 4, as `sign --key` has it; Deno's message would name its call.
      if (error instanceof Deno.errors.NotFound) {
        throw new NotFoundError(`no such ${what}: ${path}`, { cause: error });
      }
      throw new UsageError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
    }
  };
  const publicKeys: PublicKey[] = [];
  for (const path of files.verifyKeys ?? []) {
    publicKeys.push(parsePublicKey(await read(path, "key file", readNamedText), path));
  }
  const keylessAsked = files.certificateIdentity !== undefined ||
    files.certificateIdentityRegexp !== undefined || files.certificateOidcIssuer !== undefined ||
    files.certificateOidcIssuerRegexp !== undefined;
  if (files.trustedRoot === undefined) {
    // Keyed verification is offline and reads no transparency log, which is what cosign's
    // `--key K --insecure-ignore-tlog` asks for: taken as such.
    const tlogWithoutKey = files.insecureIgnoreTlog && publicKeys.length === 0;
    if (keylessAsked || tlogWithoutKey || files.insecureIgnoreSct) {
      throw new UsageError("keyless verification needs --trusted-root", {
        hint: "give Sigstore's trusted_root.json (an air-gapped host keeps a copy)",
      });
    }
    return new Verifier({ publicKeys });
  }
  return new Verifier({
    publicKeys,
    keyless: {
      trustedRoot: await read(files.trustedRoot, "trusted root file", readNamedFile),
      identity: files.certificateIdentity,
      identityRegexp: files.certificateIdentityRegexp,
      issuer: files.certificateOidcIssuer,
      issuerRegexp: files.certificateOidcIssuerRegexp,
      ignoreTlog: files.insecureIgnoreTlog,
      ignoreSct: files.insecureIgnoreSct,
    },
  });
}
