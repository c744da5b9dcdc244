/**
 * Digest strings: their type, parsing and validation. This module hashes nothing and loads
 * nothing, so that code which only reads digests (references, `index.json`, descriptors) starts
 * without Deno's Node compatibility layer, which `node:crypto` would load.
 *
 * @example
 * ```ts
 * import { isDigest, parseDigest } from "./parse.ts";
 * parseDigest("sha256:" + "a".repeat(64)).algorithm; // "sha256"
 * isDigest("sha256:xyz"); // false
 * ```
 * @module
 */
import { UsageError } from "../errors/mod.ts";

/** A digest string in the OCI form `algorithm:encoded`, e.g. `sha256:…`. */
export type Digest = `${string}:${string}`;

/** The parts of a digest. */
export interface ParsedDigest {
  /** The algorithm, e.g. `sha256`. */
  algorithm: string;
  /** The hex-encoded hash. */
  hex: string;
}

const HEX_LENGTH: Record<string, number> = { sha256: 64, sha512: 128 };

/** The digests accepted, as messages name them. */
export const DIGEST_FORMS = "sha256:<64 hex digits> or sha512:<128 hex digits>";

/**
 * Parses and validates a digest. Only `sha256` and `sha512` are accepted,
 * with lowercase hex of the right length.
 *
 * @throws {UsageError} when the digest is malformed.
 * @example
 * ```ts
 * import { parseDigest } from "./parse.ts";
 * parseDigest("sha256:" + "a".repeat(64)); // { algorithm: "sha256", hex: "aaa…" }
 * ```
 */
export function parseDigest(value: string): ParsedDigest {
  const parsed = splitDigest(value);
  if (typeof parsed === "string") throw new UsageError(`invalid digest "${value}": ${parsed}`);
  return parsed;
}

/**
 * The parts of a digest, or what is wrong with it. No exception: {@linkcode isDigest} asks this
 * of every tag that a registry target resolves, and an error's stack costs more than the rest of
 * the check (a sync tick asked three times).
 */
function splitDigest(value: string): ParsedDigest | string {
  const colon = value.indexOf(":");
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  const length = HEX_LENGTH[algorithm];
  if (colon < 0 || length === undefined) return `expected ${DIGEST_FORMS}`;
  if (hex.length !== length || !/^[0-9a-f]+$/.test(hex)) {
    return `${algorithm} needs ${length} lowercase hex digits`;
  }
  return { algorithm, hex };
}

/**
 * Whether `name` is a digest algorithm that {@linkcode parseDigest} accepts.
 *
 * @example
 * ```ts
 * import { isDigestAlgorithm } from "./parse.ts";
 * isDigestAlgorithm("sha256"); // true
 * isDigestAlgorithm("localhost"); // false
 * ```
 */
export function isDigestAlgorithm(name: string): boolean {
  return Object.hasOwn(HEX_LENGTH, name);
}

/**
 * Whether a string is a valid digest, without throwing.
 *
 * @example
 * ```ts
 * import { isDigest } from "./parse.ts";
 * isDigest("sha256:xyz"); // false
 * ```
 */
export function isDigest(value: string): value is Digest {
  return typeof splitDigest(value) !== "string";
}
