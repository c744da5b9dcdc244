/**
 * Drives a `node:zlib` transform from an async iterable and yields what it
 * produces, with back-pressure. Errors on either side end both. Or gives it one
 * whole input and takes its whole output, freeing zlib's buffers at once.
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

/**
 * Ends `transform` with `input`, its only write, and gives its whole output in one buffer of its
 * own, which the caller can transfer between threads.
 *
 * zlib writes its output in pieces (16 KiB by default). A `*Sync` call of `node:zlib` joins them
 * and leaves them as garbage, which V8 frees late: measured, about 50 MB per worker thread. Here
 * the pieces are freed as soon as they are joined.
 *
 * @example
 * ```ts
 * import zlib from "node:zlib";
 * import { endWith } from "./node_stream.ts";
 * const raw = await endWith(zlib.createDeflateRaw(), new TextEncoder().encode("hi"));
 * ```
 */
export function endWith(transform: Transform, input: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return new Promise((resolve, reject) => {
    const pieces: Uint8Array<ArrayBuffer>[] = [];
    transform.on("data", (piece: Uint8Array<ArrayBuffer>) => pieces.push(piece));
    transform.on("error", reject);
    transform.on("end", () => {
      const output = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
      let offset = 0;
      for (const piece of pieces) {
        output.set(piece, offset);
        offset += piece.length;
      }
      // The pieces are views of zlib's output buffers (never Node's shared pool; two pieces may
      // share one): all copied, each buffer is freed now.
      for (const buffer of new Set(pieces.map((piece) => piece.buffer))) buffer.transfer(0);
      resolve(output);
    });
    transform.end(input);
  });
}
