/**
 * sha256 for test expectations, computed here rather than by ocisync's own
 * digest module, so that a test never checks the code against itself.
 *
 * @module
 */
import { createHash } from "node:crypto";

/**
 * The lowercase hex sha256 of bytes or a string (as UTF-8).
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./hash.ts";
 * sha256Hex("abc"); // "ba7816bf…"
 * ```
 */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * The OCI digest, `sha256:<hex>`, of bytes or a string.
 *
 * @example
 * ```ts
 * import { sha256Digest } from "./hash.ts";
 * sha256Digest(new Uint8Array()); // "sha256:e3b0c442…"
 * ```
 */
export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${sha256Hex(data)}`;
}
