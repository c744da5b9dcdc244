/**
 * Streams of bytes read into memory, bounded: for response bodies, payloads, configs and other
 * small documents whose size a remote party decides.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readBounded } from "./mod.ts";
 * const stream = ReadableStream.from([new Uint8Array([1, 2]), new Uint8Array([3])]);
 * assert.deepEqual(await readBounded(stream, 10), new Uint8Array([1, 2, 3]));
 * ```
 * @module
 */

/**
 * Reads all of `source` into one array of bytes, or `undefined` as soon as it holds more than
 * `limit` bytes: then the stream is cancelled (leaving the loop early cancels it), and nothing
 * more is read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readBounded } from "./mod.ts";
 * const chunk = new Uint8Array(10);
 * assert.equal((await readBounded(ReadableStream.from([chunk, chunk]), 20))?.length, 20);
 * assert.equal(await readBounded(ReadableStream.from([chunk, chunk, chunk]), 20), undefined);
 * ```
 */
export async function readBounded(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  limit: number,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of source) {
    size += chunk.byteLength;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/**
 * Passes `chunks` on, adding their lengths to `counted.bytes` (a total that several streams may
 * share, such as an image's layers), and throws `tooMany()` as soon as it is over `limit`: the
 * bytes past the limit are never passed on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { countedBytes } from "./mod.ts";
 * const counted = { bytes: 0 };
 * const chunks = [new Uint8Array(10), new Uint8Array(10)];
 * await Array.fromAsync(countedBytes(chunks, counted, 20, () => new Error("too large")));
 * assert.equal(counted.bytes, 20);
 * await assert.rejects(Array.fromAsync(countedBytes(chunks, counted, 30, () => new Error("!"))));
 * ```
 */
export async function* countedBytes(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  counted: { bytes: number },
  limit: number,
  tooMany: () => Error,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of chunks) {
    counted.bytes += chunk.length;
    if (counted.bytes > limit) throw tooMany();
    yield chunk;
  }
}
