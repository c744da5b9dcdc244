/**
 * Incompressible test data.
 *
 * @module
 */

/**
 * `size` random bytes: a blob or file that no compression shrinks, and that no earlier run made.
 *
 * @example
 * ```ts
 * import { randomBytes } from "./random.ts";
 * const layer = randomBytes(33 * 1024 * 1024);
 * ```
 */
export function randomBytes(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  // getRandomValues fills at most 64 KiB per call.
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  return bytes;
}
