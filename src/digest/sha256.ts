/**
 * Synchronous and incremental sha256, on `node:crypto`'s `createHash`: `crypto.subtle.digest`
 * can hash neither a stream nor synchronously. Importing this module starts Deno's Node
 * compatibility layer (about 25 ms), so code on a start-up path hashes through `./verify.ts`,
 * which loads this module only for a body too large to hold.
 *
 * @example
 * ```ts
 * import { Sha256, sha256Digest } from "./sha256.ts";
 * const hash = new Sha256();
 * hash.update(new TextEncoder().encode("hello"));
 * console.log(hash.digest() === sha256Digest(new TextEncoder().encode("hello"))); // true
 * ```
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import type { Digest } from "./parse.ts";

/**
 * The sha256 digest of bytes held in memory (manifests, configs).
 *
 * @example
 * ```ts
 * import { sha256Digest } from "./sha256.ts";
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
 * import { Sha256 } from "./sha256.ts";
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
 * import { hashing, Sha256 } from "./sha256.ts";
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
