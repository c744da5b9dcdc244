/**
 * Header vectors for the tar writer, built by hand from the ustar and PAX
 * specifications (POSIX.1-2001 pax format).
 */
import assert from "node:assert/strict";
import { tarStream } from "../src/tar/writer.ts";
import { UnsafeContentError } from "../src/errors/mod.ts";

const decoder = new TextDecoder();

/** Reads the first `n` bytes of a tar stream, without draining the rest. */
async function head(stream: AsyncGenerator<Uint8Array>, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let filled = 0;
  for await (const chunk of stream) {
    const take = Math.min(chunk.length, n - filled);
    out.set(chunk.subarray(0, take), filled);
    filled += take;
    if (filled === n) break;
  }
  await stream.return(undefined);
  return out;
}

function field(block: Uint8Array, offset: number, length: number): string {
  return decoder.decode(block.subarray(offset, offset + length)).replace(/\0+$/, "");
}

Deno.test("tar: a size over 8 GiB goes into a PAX size record", async () => {
  const size = 8 * 1024 ** 3 + 1;
  const zeros = new Uint8Array(1024 * 1024);
  const entry = {
    name: "huge.bin",
    type: "file" as const,
    mode: 0o644,
    size,
    *body() {
      for (let left = size; left > 0; left -= zeros.length) {
        yield zeros.subarray(0, Math.min(left, zeros.length));
      }
    },
  };
  const bytes = await head(tarStream([entry], { mtime: 0 }), 1536);
  const pax = bytes.subarray(0, 512);
  assert.equal(field(pax, 0, 100), "PaxHeaders/huge.bin");
  assert.equal(String.fromCharCode(pax[156]), "x");
  // "19 size=8589934593\n": 2 digits + " " + "size=" (5) + 10 digits + "\n" = 19 bytes.
  const record = "19 size=8589934593\n";
  assert.equal(field(pax, 124, 12), record.length.toString(8).padStart(11, "0"));
  assert.equal(decoder.decode(bytes.subarray(512, 512 + record.length)), record);
  const ustar = bytes.subarray(1024, 1536);
  assert.equal(field(ustar, 0, 100), "huge.bin");
  assert.equal(field(ustar, 124, 12), "00000000000", "ustar size is 0, PAX holds it");
});

Deno.test("tar: a long symlink target goes into a PAX linkpath record", async () => {
  const target = "t".repeat(120);
  const bytes = await head(
    tarStream([{ name: "l", type: "symlink", mode: 0o777, linkTarget: target }], { mtime: 7 }),
    1536,
  );
  // " linkpath=" (10) + 120 + "\n" = 131 bytes, plus the 3 digits of "134" = 134.
  assert.equal(decoder.decode(bytes.subarray(512, 512 + 134)), `134 linkpath=${target}\n`);
  assert.equal(field(bytes.subarray(1024), 136, 12), "00000000007");
  assert.equal(String.fromCharCode(bytes[1024 + 156]), "2");
});

Deno.test("tar: content that is not the declared size is refused", async () => {
  const short = {
    name: "f",
    type: "file" as const,
    mode: 0o644,
    size: 10,
    body: () => [new Uint8Array(3)],
  };
  await assert.rejects(
    () => Array.fromAsync(tarStream([short], { mtime: 0 })),
    (error) =>
      error instanceof UnsafeContentError && /changed while it was read/.test(error.message),
  );
  const long = { ...short, size: 2 };
  await assert.rejects(() => Array.fromAsync(tarStream([long], { mtime: 0 })), UnsafeContentError);
});

Deno.test("tar: a caller who writes into one stream's padding changes no other stream", async () => {
  const entries = () => [{
    name: "a",
    type: "file" as const,
    mode: 0o644,
    size: 3,
    body: () => [new Uint8Array([1, 2, 3])],
  }];
  // The chunks are for reading; this caller scribbles on every one it gets.
  for await (const chunk of tarStream(entries(), { mtime: 0 })) chunk.fill(0xff);
  const chunks = await Array.fromAsync(tarStream(entries(), { mtime: 0 }));
  // Header, content, then 509 bytes of padding and the two end blocks: all zeros.
  const padding = chunks[2];
  assert.equal(padding.length, 509);
  assert.ok(padding.every((byte) => byte === 0));
  assert.ok(chunks[3].every((byte) => byte === 0));
});
