/**
 * Content digests: parsing, streaming sha256, and a stream that refuses bytes
 * whose digest or size is not the expected one.
 *
 * `crypto.subtle.digest` cannot hash a stream, so the hashing uses
 * `node:crypto`'s incremental `createHash`.
 *
 * @example
 * ```ts
 * import { sha256Digest, parseDigest } from "./mod.ts";
 * const d = sha256Digest(new TextEncoder().encode("hello"));
 * console.log(parseDigest(d).hex.length); // 64
 * ```
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { IntegrityError, UsageError } from "../errors/mod.ts";

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

/**
 * Parses and validates a digest. Only `sha256` and `sha512` are accepted,
 * with lowercase hex of the right length.
 *
 * @throws {UsageError} when the digest is malformed.
 * @example
 * ```ts
 * import { parseDigest } from "./mod.ts";
 * parseDigest("sha256:" + "a".repeat(64)); // { algorithm: "sha256", hex: "aaa…" }
 * ```
 */
export function parseDigest(value: string): ParsedDigest {
  const colon = value.indexOf(":");
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  const length = HEX_LENGTH[algorithm];
  if (colon < 0 || length === undefined) {
    throw new UsageError(`invalid digest "${value}": expected sha256:<64 hex digits>`);
  }
  if (hex.length !== length || !/^[0-9a-f]+$/.test(hex)) {
    throw new UsageError(
      `invalid digest "${value}": ${algorithm} needs ${length} lowercase hex digits`,
    );
  }
  return { algorithm, hex };
}

/**
 * Whether a string is a valid digest, without throwing.
 *
 * @example
 * ```ts
 * import { isDigest } from "./mod.ts";
 * isDigest("sha256:xyz"); // false
 * ```
 */
export function isDigest(value: string): value is Digest {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * The sha256 digest of bytes held in memory (manifests, configs).
 *
 * @example
 * ```ts
 * import { sha256Digest } from "./mod.ts";
 * sha256Digest(new Uint8Array()); // "sha256:e3b0c442…"
 * ```
 */
export function sha256Digest(bytes: Uint8Array): Digest {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/**
 * An incremental sha256 that also counts bytes.
 *
 * @example
 * ```ts
 * import { Sha256 } from "./mod.ts";
 * const h = new Sha256();
 * h.update(new Uint8Array([1, 2]));
 * console.log(h.size, h.digest());
 * ```
 */
export class Sha256 {
  #hash: Hash = createHash("sha256");
  #size = 0;

  /** Adds bytes to the hash. */
  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.#size += chunk.byteLength;
  }

  /** The number of bytes hashed so far. */
  get size(): number {
    return this.#size;
  }

  /** Finishes the hash. Call once. */
  digest(): Digest {
    return `sha256:${this.#hash.digest("hex")}`;
  }
}

/**
 * Passes chunks through, adding each to `hash` on the way: one pass computes
 * a digest while the bytes go elsewhere.
 *
 * @example
 * ```ts
 * import { hashing, Sha256 } from "./mod.ts";
 * const hash = new Sha256();
 * await Array.fromAsync(hashing([new Uint8Array([1, 2, 3])], hash));
 * console.log(hash.digest());
 * ```
 */
export async function* hashing(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  hash: Sha256,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    hash.update(chunk);
    yield chunk;
  }
}

/** What {@linkcode verifyingStream} checks. */
export interface Expected {
  /** The digest the bytes must have. */
  digest: string;
  /** The exact size, when known. More bytes fail as soon as they arrive. */
  size?: number;
}

/**
 * A pass-through stream that errors with an {@linkcode IntegrityError} when the
 * bytes do not hash to `expected.digest` or do not have `expected.size`.
 *
 * The mismatch surfaces at the end of the stream, so a consumer must write to a
 * temporary place and only commit once the stream has closed without error.
 *
 * @example
 * ```ts
 * import { sha256Digest, verifyingStream } from "./mod.ts";
 * const bytes = new TextEncoder().encode("hi");
 * const ok = ReadableStream.from([bytes]).pipeThrough(
 *   verifyingStream({ digest: sha256Digest(bytes), size: 2 }),
 * );
 * await Array.fromAsync(ok); // throws IntegrityError on a mismatch
 * ```
 */
export function verifyingStream(
  expected: Expected,
  what = "content",
): TransformStream<Uint8Array, Uint8Array> {
  const { algorithm } = parseDigest(expected.digest);
  if (algorithm !== "sha256") {
    throw new IntegrityError(`cannot verify ${what}: unsupported digest algorithm ${algorithm}`);
  }
  const hash = new Sha256();
  return new TransformStream({
    transform(chunk, controller) {
      hash.update(chunk);
      if (expected.size !== undefined && hash.size > expected.size) {
        throw new IntegrityError(
          `${what} ${expected.digest} is larger than its declared size ${expected.size}`,
        );
      }
      controller.enqueue(chunk);
    },
    flush() {
      if (expected.size !== undefined && hash.size !== expected.size) {
        throw new IntegrityError(
          `${what} ${expected.digest} has ${hash.size} bytes, expected ${expected.size}`,
        );
      }
      const actual = hash.digest();
      if (actual !== expected.digest) {
        throw new IntegrityError(`${what} ${expected.digest} has digest ${actual}`);
      }
    },
  });
}
