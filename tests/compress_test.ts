/**
 * The compressors give the same bytes however the input is split into writes
 * and however many threads compress, and independent decoders (GNU gzip,
 * Python, zstd) read them back to the input.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { gzipStream, ZSTD_FRAME_SIZE, zstdStream } from "../src/compress/mod.ts";
import { decompressStream } from "../src/compress/decompress.ts";
import { runOk } from "./helpers/cli.ts";
import { requireTool } from "./helpers/tools.ts";

requireTool("gzip", "gzip");
requireTool("zstd", "zstd");

/** 3.5 MiB of half-compressible bytes: text runs mixed with noise. */
const INPUT = (() => {
  const bytes = new Uint8Array(3.5 * 1024 * 1024);
  const text = new TextEncoder().encode("the quick brown fox jumps over the lazy dog ");
  let x = 7;
  for (let i = 0; i < bytes.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = (i >> 12) % 2 ? text[i % text.length] : x >>> 24;
  }
  return bytes;
})();

function* chunked(bytes: Uint8Array, size: number | (() => number)) {
  for (let i = 0; i < bytes.length;) {
    const n = typeof size === "number" ? size : size();
    yield bytes.subarray(i, i + n);
    i += n;
  }
}

async function digestOf(stream: AsyncIterable<Uint8Array>): Promise<[string, Uint8Array]> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part.slice());
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  return [createHash("sha256").update(all).digest("hex"), all];
}

const random = (() => {
  let x = 42;
  return () => {
    x = (x * 48271) % 2147483647;
    return 1 + (x % 200_000);
  };
})();

/** Ways to feed `bytes` to a compressor, by name. */
function chunkings(bytes: Uint8Array): [string, () => Iterable<Uint8Array>][] {
  return [
    ["512 B", () => chunked(bytes, 512)],
    ["1 MiB", () => chunked(bytes, 1024 * 1024)],
    ["whole", () => [bytes]],
    ["random", () => chunked(bytes, random)],
    ["7 B then 64 KiB", () => [bytes.subarray(0, 7), ...chunked(bytes.subarray(7), 65536)]],
  ];
}

Deno.test("gzip: identical bytes for every chunking and thread count", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const [reference, bytes] = await digestOf(gzipStream([INPUT], { concurrency: 1 }));
    for (const [name, source] of chunkings(INPUT)) {
      for (const concurrency of [1, 2, 3]) {
        const [digest] = await digestOf(gzipStream(source(), { concurrency }));
        assert.equal(digest, reference, `${name}, ${concurrency} threads`);
      }
    }
    await Deno.writeFile(`${tmp}/x.gz`, bytes);
    await runOk("gzip", ["-t", `${tmp}/x.gz`]);
    const inputDigest = createHash("sha256").update(INPUT).digest("hex");
    const gunzipped = await runOk("sh", ["-c", `gzip -dc "$0" | sha256sum`, `${tmp}/x.gz`]);
    assert.equal(gunzipped.split(" ")[0], inputDigest);
    const python = await runOk("python3", [
      "-c",
      "import gzip, hashlib, sys; print(hashlib.sha256(gzip.open(sys.argv[1]).read()).hexdigest())",
      `${tmp}/x.gz`,
    ]);
    assert.equal(python.trim(), inputDigest);
    // A fixed header: no name, mtime 0, OS 255.
    assert.deepEqual([...bytes.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("gzip: an empty input is a valid empty gzip", async () => {
  const [, bytes] = await digestOf(gzipStream([]));
  const tmp = await Deno.makeTempFile();
  try {
    await Deno.writeFile(tmp, bytes);
    assert.equal(await runOk("sh", ["-c", `gzip -dc "$0" | wc -c`, tmp]), "0\n");
  } finally {
    await Deno.remove(tmp);
  }
});

Deno.test("zstd: identical bytes for every chunking and thread count; zstd reads the frames back", async () => {
  // Three frames' worth: with two threads or more, every frame is compressed on a worker.
  const input = new Uint8Array(3 * ZSTD_FRAME_SIZE);
  for (let offset = 0; offset < input.length; offset += INPUT.length) {
    input.set(INPUT.subarray(0, input.length - offset), offset);
  }
  const [reference, bytes] = await digestOf(zstdStream([input], { concurrency: 1 }));
  for (const [name, source] of chunkings(input)) {
    for (const concurrency of [1, 2, 3]) {
      const [digest] = await digestOf(zstdStream(source(), { concurrency }));
      assert.equal(digest, reference, `${name}, ${concurrency} threads`);
    }
  }
  const tmp = await Deno.makeTempFile();
  try {
    await Deno.writeFile(tmp, bytes);
    await runOk("zstd", ["-q", "-t", tmp]);
    const out = await runOk("sh", ["-c", `zstd -dc "$0" | sha256sum`, tmp]);
    assert.equal(out.split(" ")[0], createHash("sha256").update(input).digest("hex"));
    // One frame per ZSTD_FRAME_SIZE of input, as zstd itself counts them.
    const listing = await runOk("zstd", ["-l", tmp]);
    assert.equal(Number(listing.split("\n")[1].trim().split(/\s+/)[0]), 3);
    // ocisync's own reader (pull, push's checks) reads every frame, not the first alone.
    const [decoded] = await digestOf(decompressStream(ReadableStream.from(chunked(bytes, 65536))));
    assert.equal(decoded, createHash("sha256").update(input).digest("hex"));
  } finally {
    await Deno.remove(tmp);
  }
});
