/**
 * Content digests: parsing, streaming sha256, and a stream that refuses bytes
 * whose digest or size is not the expected one.
 *
 * Importing this module loads `node:crypto` (through `./sha256.ts`), and with it Deno's Node
 * compatibility layer. Code on a start-up path imports the parts it needs instead: `./parse.ts`
 * to read digests, `./verify.ts` to verify bytes or hash bytes in memory, which load
 * `node:crypto` only for a body too large to hold.
 *
 * @example
 * ```ts
 * import { sha256Digest, parseDigest } from "./mod.ts";
 * const d = sha256Digest(new TextEncoder().encode("hello"));
 * console.log(parseDigest(d).hex.length); // 64
 * ```
 * @module
 */
export { type Digest, isDigest, type ParsedDigest, parseDigest } from "./parse.ts";
export { hashing, Sha256, sha256Digest } from "./sha256.ts";
export { type Expected, sha256DigestAsync, verifyBytes, verifyingStream } from "./verify.ts";
