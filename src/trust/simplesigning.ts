/**
 * The payload of a classic cosign signature: Red Hat's "simple signing" JSON
 * (`application/vnd.dev.cosign.simplesigning.v1+json`), as cosign writes it:
 *
 * ```json
 * {"critical":{"identity":{"docker-reference":"ghcr.io/acme/flows"},
 *   "image":{"docker-manifest-digest":"sha256:…"},"type":"cosign container image signature"},
 *  "optional":{"ci":"true"}}
 * ```
 *
 * The signature is over these exact bytes, so the parser never re-serialises: it checks what the
 * bytes say. `critical.image.docker-manifest-digest` is what binds a signature to one image; a
 * payload for another digest is a signature replayed from elsewhere and is refused.
 *
 * @example
 * ```ts
 * import { buildSimpleSigningPayload, parseSimpleSigningPayload } from "./simplesigning.ts";
 * const digest = `sha256:${"a".repeat(64)}` as const;
 * const bytes = buildSimpleSigningPayload({ digest, dockerReference: "ghcr.io/acme/flows" });
 * console.log(parseSimpleSigningPayload(bytes, digest).dockerReference); // "ghcr.io/acme/flows"
 * ```
 * @module
 */
import { isDigest } from "../digest/mod.ts";
import type { Digest } from "../digest/mod.ts";
import { isJsonObject } from "../oci/types.ts";
import { decodeJsonObject } from "./encoding.ts";
import { SignatureError } from "./errors.ts";
import { quoteRemote } from "../errors/mod.ts";

/** The media type of a simple-signing payload layer. */
export const SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";
/** `critical.type` of a cosign signature payload. */
export const COSIGN_SIGNATURE_TYPE = "cosign container image signature";
/** The largest payload read: cosign's are a few hundred bytes, annotations included. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

/** What a simple-signing payload says. */
export interface SimpleSigningPayload {
  /** `critical.image.docker-manifest-digest`: the signed manifest. */
  dockerManifestDigest: Digest;
  /** `critical.identity.docker-reference`: where the signer says the image lives. */
  dockerReference: string;
  /** `optional`: the signer's annotations (`cosign sign -a k=v`); values may be any JSON. */
  annotations: Record<string, unknown>;
}

/** Options of {@linkcode buildSimpleSigningPayload}. */
export interface PayloadOptions {
  /** The manifest digest being signed. */
  digest: Digest;
  /** The image's repository (`registry/repo`), or any claimed identity. */
  dockerReference: string;
  /** Annotations for `optional`; none gives `"optional":null`, as cosign writes. */
  annotations?: Record<string, string>;
}

/**
 * The payload bytes, laid out as cosign (Go's `encoding/json`) writes them: fields in struct
 * order, annotation keys sorted, no spaces. Matching cosign byte for byte is not needed for
 * verification, but it makes our signatures indistinguishable from cosign's.
 *
 * @example
 * ```ts
 * import { buildSimpleSigningPayload } from "./simplesigning.ts";
 * const bytes = buildSimpleSigningPayload({
 *   digest: `sha256:${"0".repeat(64)}`,
 *   dockerReference: "localhost:5000/app",
 *   annotations: { ci: "true" },
 * });
 * ```
 */
export function buildSimpleSigningPayload(options: PayloadOptions): Uint8Array {
  const entries = Object.entries(options.annotations ?? {}).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0
  );
  const optional = entries.length === 0 ? null : Object.fromEntries(entries);
  const doc = {
    critical: {
      identity: { "docker-reference": options.dockerReference },
      image: { "docker-manifest-digest": options.digest },
      type: COSIGN_SIGNATURE_TYPE,
    },
    optional,
  };
  return new TextEncoder().encode(JSON.stringify(doc));
}

/**
 * Parses a payload, strictly: JSON object, `critical.type` exactly cosign's, a valid manifest
 * digest, a string docker-reference, `optional` an object or null. With `expectedDigest`, the
 * payload must name that digest.
 *
 * Keys are matched as Go's `encoding/json` matches them, case-insensitively (cosign's own
 * specification spells one `Docker-manifest-digest`), but a key given twice under two spellings
 * is refused, for the two readers could then disagree.
 *
 * @throws {SignatureError} `malformed` for a bad payload, `digest-mismatch` for another image.
 * @example
 * ```ts
 * import { parseSimpleSigningPayload } from "./simplesigning.ts";
 * const bytes = new TextEncoder().encode('{"critical":{}}');
 * parseSimpleSigningPayload(bytes); // throws SignatureError (malformed)
 * ```
 */
export function parseSimpleSigningPayload(
  bytes: Uint8Array,
  expectedDigest?: string,
): SimpleSigningPayload {
  const malformed = (what: string) =>
    new SignatureError(`invalid cosign signature payload: ${what}`, { reason: "malformed" });
  if (bytes.byteLength > MAX_PAYLOAD_BYTES) {
    throw malformed(`${bytes.byteLength} bytes is over ${MAX_PAYLOAD_BYTES}`);
  }
  const doc = decodeJsonObject(bytes, malformed);
  onlyMembers(doc, ["critical", "optional"], "the payload", malformed);
  const critical = field(doc, "critical", malformed);
  if (!isJsonObject(critical)) throw malformed("no critical object");
  onlyMembers(critical, ["identity", "image", "type"], "critical", malformed);
  const type = field(critical, "type", malformed);
  if (type !== COSIGN_SIGNATURE_TYPE) {
    throw malformed(`critical.type is ${JSON.stringify(type)}, not "${COSIGN_SIGNATURE_TYPE}"`);
  }
  const image = field(critical, "image", malformed);
  if (isJsonObject(image)) {
    onlyMembers(image, ["docker-manifest-digest"], "critical.image", malformed);
  }
  const digest = isJsonObject(image)
    ? field(image, "docker-manifest-digest", malformed)
    : undefined;
  if (typeof digest !== "string" || !isDigest(digest)) {
    throw malformed("critical.image.docker-manifest-digest is missing or not a digest");
  }
  const identity = field(critical, "identity", malformed);
  if (isJsonObject(identity)) {
    onlyMembers(identity, ["docker-reference"], "critical.identity", malformed);
  }
  const reference = isJsonObject(identity)
    ? field(identity, "docker-reference", malformed)
    : undefined;
  if (typeof reference !== "string") {
    throw malformed("critical.identity.docker-reference is missing or not a string");
  }
  const optional = field(doc, "optional", malformed) ?? null;
  if (optional !== null && !isJsonObject(optional)) throw malformed("optional is not an object");
  if (expectedDigest !== undefined && digest !== expectedDigest) {
    throw new SignatureError(
      `the signature is for ${digest}, not for ${expectedDigest}`,
      { reason: "digest-mismatch" },
    );
  }
  return { dockerManifestDigest: digest, dockerReference: reference, annotations: optional ?? {} };
}

/**
 * Refuses a member of `object` other than `names` (as Go's case folding matches them): a payload
 * is exactly what the format defines, as containers/image reads it. Anything more would let
 * another document that signs with the same key (an image manifest, signed whole as a message
 * signature, that also carries `critical`) pass for a payload of another image's.
 */
function onlyMembers(
  object: Record<string, unknown>,
  names: readonly string[],
  where: string,
  malformed: (what: string) => SignatureError,
): void {
  const other = Object.keys(object).find((key) => !names.includes(goFold(key)));
  if (other !== undefined) {
    throw malformed(
      `${where} has a member "${quoteRemote(other)}", which a signature payload has not`,
    );
  }
}

/**
 * A member of a JSON object, found case-insensitively as Go's `encoding/json` finds it (cosign
 * reads payloads so); two members that both match are refused, as Go would take the last and
 * another reader the first.
 */
function field(
  object: Record<string, unknown>,
  name: string,
  malformed: (what: string) => SignatureError,
): unknown {
  const matches = Object.keys(object).filter((k) => goFold(k) === name);
  if (matches.length > 1) throw malformed(`"${name}" is given twice`);
  return matches.length === 1 ? object[matches[0]] : undefined;
}

/**
 * `key` in lower case under Unicode's simple case folding, which Go's `EqualFold` uses: beyond
 * JavaScript's lower case, the long s (U+017F) folds to "s". (The Kelvin sign, U+212A, is
 * lowered to "k" by both.)
 */
function goFold(key: string): string {
  return key.toLowerCase().replaceAll("\u017f", "s");
}
