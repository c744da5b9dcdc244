/**
 * `ocisync verify REF (--key FILE... | --trusted-root FILE --certificate-identity[-regexp] …)`:
 * checks an image's cosign signatures (classic `.sig` tags, then Sigstore bundle referrers), as
 * `cosign verify` does, offline. Exit 0 when one verified, 8 when none did.
 *
 * @module
 */
import type { ParsedArgs, ParsedOptions } from "../args.ts";
import { platformOption } from "../common.ts";
import { openSession } from "../registry_flags.ts";
import { verifierFiles } from "../options.ts";
import { type Output, refusalLines } from "../output.ts";
import { escapeRemote, UsageError } from "../../errors/mod.ts";
import { formatPlatform, hostPlatform } from "../../image/platform.ts";
import type { Target } from "../../oci/target.ts";
import type { Descriptor, Platform } from "../../oci/types.ts";
import { formatReference, parseReference, registryOf } from "../../ref/mod.ts";
import { resolveReference } from "../../target/mod.ts";
import { SignatureError } from "../../trust/errors.ts";
import type { VerifiedSignatures, Verifier } from "../../trust/verifier.ts";
import { wantsVerification } from "../../trust/files.ts";
import { parseKeyValues } from "../../units/mod.ts";
import type { VerifiedImage } from "../../pull/read.ts";
export { verifySpec } from "../specs.ts";

/** One verified signature, as `--json` lists it (`verify`, and `verified` of pull, copy). */
export type SignatureSummary =
  | {
    form: "classic";
    keyFingerprint: string;
    dockerReference: string;
    annotations: Record<string, unknown>;
    payloadDigest: string;
  }
  | {
    form: "bundle";
    kind: "key" | "keyless";
    keyFingerprint?: string;
    identity?: string;
    issuer?: string;
    predicateType?: string;
    referrer?: string;
    bundleDigest: string;
  };

/** The signatures that verified, one summary each, classic first. */
export function signatureSummaries(result: VerifiedSignatures): SignatureSummary[] {
  return [
    ...result.classic.map((s): SignatureSummary => ({
      form: "classic",
      keyFingerprint: s.keyFingerprint,
      dockerReference: s.dockerReference,
      annotations: s.annotations ?? {},
      payloadDigest: s.payloadDigest,
    })),
    ...result.bundles.map((b): SignatureSummary => ({
      form: "bundle",
      kind: b.kind,
      ...(b.keyFingerprint ? { keyFingerprint: b.keyFingerprint } : {}),
      ...(b.identity ? { identity: b.identity } : {}),
      ...(b.issuer ? { issuer: b.issuer } : {}),
      ...(b.predicateType ? { predicateType: b.predicateType } : {}),
      ...(b.referrer ? { referrer: b.referrer } : {}),
      bundleDigest: b.bundleDigest,
    })),
  ];
}

/** What verified one manifest, as `--json` lists it. */
export interface VerifiedManifestJson {
  /** The digest a signature named: an index's, or a platform's manifest's. */
  digest: string;
  /** The signatures that verified it. */
  signatures: SignatureSummary[];
}

/** What a pull or a copy verified, as `--json` lists it (`verified`). */
export interface VerifiedJson extends VerifiedManifestJson {
  /**
   * Where each platform's manifest verified on its own, in place of the index: one entry per
   * platform (the first is `digest` and `signatures`).
   */
  platforms?: (VerifiedManifestJson & { platform: string })[];
}

/**
 * What a pull or a copy verified, for its `--json`: the digest a signature named, and the
 * signatures. `each` is every verification made for the image: where platforms' manifests
 * verified in place of the index, `platforms` lists each one. Undefined without verification.
 */
export function verifiedJson(
  verified: VerifiedImage | undefined,
  each: readonly VerifiedImage[] = [],
): VerifiedJson | undefined {
  if (verified === undefined) return undefined;
  // A platform's manifest is verified as the index's entry, which names its platform; the
  // index's own descriptor names none.
  const platforms = each.flatMap((v) =>
    v.descriptor.platform
      ? [{ platform: formatPlatform(v.descriptor.platform), ...manifestJson(v) }]
      : []
  );
  return { ...manifestJson(verified), ...(platforms.length > 0 ? { platforms } : {}) };
}

/** The digest and signatures of one verification (none listed from another `ImageVerifier`). */
function manifestJson(verified: VerifiedImage): VerifiedManifestJson {
  const full = verified as VerifiedSignatures;
  return {
    digest: verified.descriptor.digest,
    signatures: Array.isArray(full.classic) ? signatureSummaries(full) : [],
  };
}

/**
 * One line of text per verified signature. What the signature says (its annotations, its
 * docker-reference, a certificate's identity and issuer) is the signer's text: it is written out
 * (`\x0a`), so that each signature stays one line and forges none of ocisync's.
 */
export function signatureLines(summaries: SignatureSummary[]): string[] {
  return summaries.map((s) => {
    if (s.form === "classic") {
      const notes = Object.entries(s.annotations).map(([k, v]) => `${k}=${String(v)}`);
      return escapeRemote(
        `classic signature by key ${s.keyFingerprint} (docker-reference ${s.dockerReference}` +
          `${notes.length ? `; ${notes.join(", ")}` : ""})`,
      );
    }
    return escapeRemote(
      s.kind === "keyless"
        ? `bundle signed keyless by ${s.identity} (issuer ${s.issuer})`
        : `bundle signed by key ${s.keyFingerprint}`,
    );
  });
}

/**
 * The verifier that the verification flags ask for, or undefined when none is given
 * (`keyOption` is the flag of the public keys). Keyless needs one identity and one issuer flag,
 * as cosign requires.
 *
 * @throws {UsageError} for a key or trusted root that cannot be read, or a keyless check
 * without `--trusted-root`, an identity or an issuer.
 */
export async function verifierOption(
  options: ParsedOptions,
  keyOption = "verify-key",
): Promise<Verifier | undefined> {
  const files = verifierFiles(options, keyOption);
  if (files.trustedRoot !== undefined) {
    if (files.certificateIdentity === undefined && files.certificateIdentityRegexp === undefined) {
      throw new UsageError(
        "--trusted-root needs --certificate-identity or --certificate-identity-regexp",
        { hint: "name the keyless signer, as cosign requires" },
      );
    }
    if (
      files.certificateOidcIssuer === undefined && files.certificateOidcIssuerRegexp === undefined
    ) {
      throw new UsageError(
        "--trusted-root needs --certificate-oidc-issuer or --certificate-oidc-issuer-regexp",
        { hint: "name the keyless signer's OIDC issuer, as cosign requires" },
      );
    }
  }
  // The signature formats and key parsers load only when a flag asks for verification.
  if (!wantsVerification(files)) return undefined;
  return await (await import("../../trust/verifier.ts")).openVerifier(files);
}

/** The signatures that verified and those refused, once `-a`'s annotations are required. */
interface Verification {
  result: VerifiedSignatures;
  summaries: SignatureSummary[];
  rejected: string[];
}

/**
 * Verifies `descriptor`, and keeps the signatures whose payload carries every annotation in
 * `required`, as cosign's `-a`: each as that very string. Own keys only: a missing one must not
 * match `undefined`, nor an inherited `constructor` the text of Object's.
 *
 * @throws {SignatureError} when no signature verified, or none carries the annotations.
 */
async function verifyAnnotated(
  verifier: Verifier,
  target: Target,
  descriptor: Descriptor,
  platform: Platform,
  required: Record<string, string>,
): Promise<Verification> {
  const result = await verifier.verify(target, descriptor, { platform });
  const summaries = signatureSummaries(result);
  const rejected = [...result.rejected];
  const wanted = Object.entries(required);
  if (wanted.length === 0) return { result, summaries, rejected };
  const carried = wanted.map(([k, v]) => `${k}=${v}`).join(", ");
  const matches = (s: SignatureSummary) =>
    s.form === "classic" &&
    wanted.every(([k, v]) => Object.hasOwn(s.annotations, k) && s.annotations[k] === v);
  for (const s of summaries) {
    if (!matches(s)) {
      rejected.push(
        `${s.form === "classic" ? `payload ${s.payloadDigest}` : `bundle ${s.bundleDigest}`}: ` +
          `does not carry ${carried}`,
      );
    }
  }
  const kept = summaries.filter(matches);
  if (kept.length === 0) {
    throw new SignatureError(
      `no verified signature of ${result.digest} carries the annotations ${carried}`,
      { reason: "no-signature", rejected },
    );
  }
  return { result, summaries: kept, rejected };
}

/** Runs `verify`. */
export async function verify(args: ParsedArgs, out: Output): Promise<void> {
  const { options } = args;
  const reference = parseReference(args.positionals[0]);
  const required = parseKeyValues(options.annotations as string[] | undefined, "--annotations");
  const platform = platformOption(options) ?? hostPlatform();
  const verifier = await verifierOption(options, "key");
  if (verifier === undefined) {
    throw new UsageError("verify needs --key FILE, or --trusted-root FILE with an identity", {
      hint: "ocisync verify REF --key cosign.pub",
    });
  }
  await using session = await openSession(options, out, registryOf(reference));
  const target = await session.open(reference);
  const descriptor = await resolveReference(target, reference);
  let verification: Verification;
  try {
    verification = await verifyAnnotated(verifier, target, descriptor, platform, required);
  } catch (error) {
    // `--json` says what was refused on stdout too, as it does beside a signature that verified.
    if (error instanceof SignatureError && out.mode.json) {
      out.result({
        human: "",
        quiet: "",
        json: {
          reference: formatReference(reference),
          digest: null,
          resolvedDigest: descriptor.digest,
          verified: [],
          rejected: error.rejected,
          reason: error.reason,
        },
      });
    }
    throw error;
  }
  const { result, summaries, rejected } = verification;
  const name = formatReference({ ...reference, tag: undefined, digest: undefined });
  out.result({
    human: [
      `verified ${name}@${result.digest}`,
      ...(result.subject === "platform"
        ? [`  the platform's manifest of index ${descriptor.digest}`]
        : []),
      ...signatureLines(summaries).map((line) => `  ${line}`),
      ...(rejected.length > 0 ? [`  ${rejected.length} other signature(s) refused`] : []),
      ...(out.mode.verbose ? refusalLines(rejected, true) : []),
    ].join("\n"),
    json: {
      reference: formatReference(reference),
      digest: result.digest,
      resolvedDigest: descriptor.digest,
      verified: summaries,
      rejected,
    },
    quiet: result.digest,
  });
}
