import assert from "node:assert/strict";
import zlib from "node:zlib";
import { UnsafeContentError } from "../errors/mod.ts";
import { decompressStream } from "./decompress.ts";

/** 1 MiB that compresses poorly, so that its compressed form comes in many chunks. */
function noise(): Uint8Array {
  const bytes = new Uint8Array(1024 * 1024);
  for (let at = 0; at < bytes.length; at += 65536) {
    crypto.getRandomValues(bytes.subarray(at, at + 65536));
  }
  return bytes;
}

const COMPRESSED = {
  gzip: new Uint8Array(zlib.gzipSync(noise())),
  zstd: new Uint8Array(zlib.zstdCompressSync(noise())),
};

/** The first half of `bytes` in 16 KiB chunks, then `error` thrown, as an aborted download. */
async function* brokenOff(bytes: Uint8Array, error: unknown): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length / 2; at += 16384) yield bytes.slice(at, at + 16384);
  throw error;
}

for (const [compression, bytes] of Object.entries(COMPRESSED)) {
  Deno.test(`decompressStream (${compression}): the source's own errors pass as they are, not as corrupt data`, async () => {
    const stop = new AbortController();
    stop.abort(); // its reason: a DOMException "The signal has been aborted"
    for (const error of [stop.signal.reason, new TypeError("error sending request")]) {
      await assert.rejects(
        Array.fromAsync(decompressStream(brokenOff(bytes, error))),
        (thrown) => thrown === error,
      );
    }
  });

  Deno.test(`decompressStream (${compression}): data cut short is still UnsafeContentError`, async () => {
    const cut = bytes.slice(0, bytes.length / 2);
    await assert.rejects(
      Array.fromAsync(decompressStream(ReadableStream.from([cut]))),
      (error) => error instanceof UnsafeContentError && /^corrupt /.test(error.message),
    );
  });
}
