/**
 * Drives a `node:zlib` transform from an async iterable and yields what it
 * produces, with back-pressure. Errors on either side end both.
 *
 * @module
 */
import type { Transform } from "node:stream";

/**
 * Pipes `source` through a Node transform stream.
 *
 * @example
 * ```ts
 * import zlib from "node:zlib";
 * import { throughTransform } from "./node_stream.ts";
 * const out = await Array.fromAsync(throughTransform([new Uint8Array(4)], zlib.createGzip()));
 * ```
 */
export async function* throughTransform(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  transform: Transform,
): AsyncGenerator<Uint8Array> {
  const feeding = (async () => {
    try {
      for await (const chunk of source) {
        // Once the transform is destroyed (it failed, or the reader stopped), no drain comes.
        if (transform.destroyed || (!transform.write(chunk) && !(await drained(transform)))) {
          return;
        }
      }
      transform.end();
    } catch (error) {
      transform.destroy(error as Error);
    }
  })();
  try {
    // A plain view of zlib's output, not a copy: each output buffer is filled once and handed
    // on in parts (a new one is made when it is full), so the bytes never change under it.
    for await (const chunk of transform) {
      const { buffer, byteOffset, byteLength } = chunk as Uint8Array;
      yield new Uint8Array(buffer, byteOffset, byteLength);
    }
  } finally {
    transform.destroy();
    await feeding;
  }
}

/** Waits for `drain`; false when the transform closes first. */
function drained(transform: Transform): Promise<boolean> {
  return new Promise((resolve) => {
    const settle = (value: boolean) => () => {
      transform.off("drain", onDrain);
      transform.off("close", onClose);
      resolve(value);
    };
    const onDrain = settle(true);
    const onClose = settle(false);
    transform.once("drain", onDrain);
    transform.once("close", onClose);
  });
}
