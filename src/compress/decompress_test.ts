import assert from "node:assert/strict";
import zlib from "node:zlib";
import { UnsafeContentError } from "../errors/mod.ts";
import { decompressStream, detectCompression } from "./decompress.ts";
import { concatBytes } from "../../tests/helpers/bytes.ts";

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

/** The bytes of `chunks` decompressed, as one array. */
async function decompressed(chunks: Uint8Array[]): Promise<Uint8Array> {
  return concatBytes(await Array.fromAsync(decompressStream(ReadableStream.from(chunks))));
}

Deno.test("decompressStream: zstd that starts with a skippable frame, as pzstd writes it", async () => {
  const plain = new TextEncoder().encode("a layer's tar, in pzstd's frames\n".repeat(5000));
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-pzstd-" });
  try {
    await Deno.writeFile(`${tmp}/layer.tar`, plain);
    const pzstd = await new Deno.Command("pzstd", {
      args: ["-q", "-p", "2", `${tmp}/layer.tar`, "-o", `${tmp}/layer.tar.zst`],
    }).output();
    assert.ok(pzstd.success, new TextDecoder().decode(pzstd.stderr));
    const compressed = await Deno.readFile(`${tmp}/layer.tar.zst`);
    // pzstd's own mark: a skippable frame (0x184d2a50) before each frame.
    assert.deepEqual([...compressed.subarray(0, 4)], [0x50, 0x2a, 0x4d, 0x18]);
    assert.equal(detectCompression(compressed), "zstd");
    assert.deepEqual(await decompressed([compressed]), plain);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  // The last of the sixteen skippable magics, built by hand before a frame of zlib's.
  const skippable = new Uint8Array([0x5f, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
  const frame = zlib.zstdCompressSync(plain);
  assert.equal(detectCompression(skippable), "zstd");
  assert.deepEqual(await decompressed([skippable, frame]), plain);
});

Deno.test("decompressStream (gzip): bytes after the last member are refused, however the blob is cut", async () => {
  // Members made by Python's gzip, a second implementation; the blob's verdict must not depend
  // on where the network cut it (node's gunzip passed some cuts and refused others).
  const python = await new Deno.Command("python3", {
    args: ["-c", "import gzip,sys; sys.stdout.buffer.write(gzip.compress(b'hello world ' * 100))"],
  }).output();
  assert.ok(python.success);
  const member = python.stdout;
  const plain = new TextEncoder().encode("hello world ".repeat(100));
  const join = (...parts: Uint8Array[]) => concatBytes(parts);
  const cuts = (blob: Uint8Array) =>
    [member.length - 3, member.length, member.length + 1, blob.length].map((at) =>
      [blob.subarray(0, at), blob.subarray(at)].filter((part) => part.length > 0)
    );
  // Two members, one after the other, are one stream.
  const two = join(member, member);
  for (const chunks of cuts(two)) {
    assert.deepEqual(await decompressed(chunks), join(plain, plain));
  }
  const trailing: [string, Uint8Array][] = [
    ["a NUL and garbage", join(new Uint8Array([0]), new TextEncoder().encode("garbage"))],
    ["a NUL and a second member", join(new Uint8Array([0]), member)],
    ["100 NULs", new Uint8Array(100)],
  ];
  for (const [what, tail] of trailing) {
    const blob = join(member, tail);
    for (const chunks of cuts(blob)) {
      const cut = chunks[0].length;
      await assert.rejects(decompressed(chunks), UnsafeContentError, `${what}, cut at ${cut}`);
    }
  }
});
