/**
 * Verification of bytes against a digest, and the sha256 of bytes in memory, without Deno's
 * Node compatibility layer at start-up: a body of known size up to
 * {@linkcode WHOLE_BODY_LIMIT} (manifests, configs, `index.json`, small layers) is hashed in one
 * call to Web Crypto's `crypto.subtle.digest`; only a larger one, or one of unknown size, loads
 * `node:crypto`'s incremental hash (`./sha256.ts`), when the stream starts. Loading that layer
 * costs about 25 ms, more than an empty `deno run`, so `ocisync version` and
 * `ocisync inspect -q oci:…` must not pay for it.
 *
 * @example
 * ```ts
 * import { sha256DigestAsync, verifyingStream } from "./verify.ts";
 * const bytes = new TextEncoder().encode("hi");
 * const digest = await sha256DigestAsync(bytes);
 * const checked = ReadableStream.from([bytes]).pipeThrough(verifyingStream({ digest, size: 2 }));
 * await Array.fromAsync(checked);
 * ```
 * @module
 */
import { IntegrityError } from "../errors/mod.ts";
import { type Digest, parseDigest } from "./parse.ts";

/**
 * The largest body that {@linkcode verifyingStream} holds and hashes in one call, rather than
 * streaming it through `node:crypto`. It is held as one copy until the stream ends, so it bounds
 * the memory of each verification as well.
 */
export const WHOLE_BODY_LIMIT = 1024 * 1024;

/**
 * The sha256 digest of bytes held in memory, through Web Crypto: the same digest as
 * `sha256Digest` of `./sha256.ts`, without loading `node:crypto`.
 *
 * @example
 * ```ts
 * import { sha256DigestAsync } from "./verify.ts";
 * await sha256DigestAsync(new Uint8Array()); // "sha256:e3b0c442…"
 * ```
 */
export async function sha256DigestAsync(bytes: Uint8Array): Promise<Digest> {
  const hash = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  let hex = "";
  for (const byte of hash) hex += byte.toString(16).padStart(2, "0");
  return `sha256:${hex}`;
}

/** What {@linkcode verifyingStream} checks. */
export interface Expected {
  /** The digest the bytes must have. */
  digest: string;
  /** The exact size, when known. More bytes fail as soon as they arrive. */
  size?: number;
}

/** A hash that takes chunks and finishes once. */
interface BodyHash {
  update(chunk: Uint8Array): void;
  digest(): Digest | Promise<Digest>;
}

/** A body of known size, copied as it passes and hashed in one call at its end. */
class HeldBody implements BodyHash {
  #bytes: Uint8Array;
  #filled = 0;

  /** `size` is the most the body may have: the caller refuses more before updating. */
  constructor(size: number) {
    this.#bytes = new Uint8Array(size);
  }

  update(chunk: Uint8Array): void {
    this.#bytes.set(chunk, this.#filled);
    this.#filled += chunk.byteLength;
  }

  digest(): Promise<Digest> {
    return sha256DigestAsync(this.#bytes.subarray(0, this.#filled));
  }
}

/**
 * Checks bytes held in memory against `expected`, as {@linkcode verifyingStream} checks a stream,
 * with the same errors.
 *
 * @throws {IntegrityError} when the bytes do not have `expected.size` or do not hash to
 * `expected.digest`, or the digest's algorithm is not sha256.
 * @example
 * ```ts
 * import { verifyBytes } from "./verify.ts";
 * const bytes = new TextEncoder().encode("{}");
 * await verifyBytes(bytes, {
 *   digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
 *   size: 2,
 * }, "config");
 * ```
 */
export async function verifyBytes(
  bytes: Uint8Array,
  expected: Expected,
  what = "content",
): Promise<void> {
  checkAlgorithm(expected, what);
  checkNotLarger(bytes.byteLength, expected, what);
  await checkEnd(bytes.byteLength, () => sha256DigestAsync(bytes), expected, what);
}

/**
 * A pass-through stream that errors with an {@linkcode IntegrityError} when the
 * bytes do not hash to `expected.digest` or do not have `expected.size`.
 *
 * The mismatch surfaces at the end of the stream, so a consumer must write to a
 * temporary place and only commit once the stream has closed without error.
 *
 * @throws {IntegrityError} at once when the digest's algorithm is not sha256.
 * @example
 * ```ts
 * import { sha256DigestAsync, verifyingStream } from "./verify.ts";
 * const bytes = new TextEncoder().encode("hi");
 * const ok = ReadableStream.from([bytes]).pipeThrough(
 *   verifyingStream({ digest: await sha256DigestAsync(bytes), size: 2 }),
 * );
 * await Array.fromAsync(ok); // throws IntegrityError on a mismatch
 * ```
 */
export function verifyingStream(
  expected: Expected,
  what = "content",
): TransformStream<Uint8Array, Uint8Array> {
  checkAlgorithm(expected, what);
  const { size } = expected;
  let hash: BodyHash;
  let received = 0;
  return new TransformStream({
    async start() {
      hash = size !== undefined && size <= WHOLE_BODY_LIMIT
        ? new HeldBody(size)
        : new (await import("./sha256.ts")).Sha256();
    },
    transform(chunk, controller) {
      received += chunk.byteLength;
      // Refused before it is hashed: a held body never grows past its declared size.
      checkNotLarger(received, expected, what);
      hash.update(chunk);
      controller.enqueue(chunk);
    },
    async flush() {
      await checkEnd(received, () => hash.digest(), expected, what);
    },
  });
}

function checkAlgorithm(expected: Expected, what: string): void {
  const { algorithm } = parseDigest(expected.digest);
  if (algorithm !== "sha256") {
    throw new IntegrityError(`cannot verify ${what}: unsupported digest algorithm ${algorithm}`);
  }
}

function checkNotLarger(received: number, expected: Expected, what: string): void {
  if (expected.size !== undefined && received > expected.size) {
    throw new IntegrityError(
      `${what} ${expected.digest} is larger than its declared size ${expected.size}`,
    );
  }
}

/** The checks once all bytes are in: the exact size first, then the digest. */
async function checkEnd(
  received: number,
  digest: () => Digest | Promise<Digest>,
  expected: Expected,
  what: string,
): Promise<void> {
  if (expected.size !== undefined && received !== expected.size) {
    throw new IntegrityError(
      `${what} ${expected.digest} has ${received} bytes, expected ${expected.size}`,
    );
  }
  const actual = await digest();
  if (actual !== expected.digest) {
    throw new IntegrityError(`${what} ${expected.digest} has digest ${actual}`);
  }
}
