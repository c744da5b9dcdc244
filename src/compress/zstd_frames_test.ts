import assert from "node:assert/strict";
import { UnsafeContentError } from "../errors/mod.ts";
import { zstdPieces } from "./zstd_frames.ts";

const MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const EMPTY_LAST_BLOCK = [0x01, 0x00, 0x00];

/** How many times the frames of `bytes` asked for a large window, or the error they met. */
async function largeWindows(bytes: number[]): Promise<number> {
  let asked = 0;
  const pieces = zstdPieces([new Uint8Array(bytes)], {
    what: "layer x",
    onLargeWindow: () => void asked++,
  });
  await Array.fromAsync(pieces);
  return asked;
}

Deno.test("zstd frames: the window a header asks for, by descriptor or by content size", async () => {
  // Window descriptors: 2^20; 2^26 + 7/8 of it (mantissa 7); exactly 2^27.
  assert.equal(await largeWindows([...MAGIC, 0x00, (20 - 10) << 3, ...EMPTY_LAST_BLOCK]), 0);
  assert.equal(
    await largeWindows([...MAGIC, 0x00, ((26 - 10) << 3) | 7, ...EMPTY_LAST_BLOCK]),
    1,
  );
  assert.equal(await largeWindows([...MAGIC, 0x00, (27 - 10) << 3, ...EMPTY_LAST_BLOCK]), 1);
  // A 2^27 window for a frame that says it holds 356 bytes (a 2-byte field, 100 + 256): its
  // decoder needs 356.
  assert.equal(
    await largeWindows([...MAGIC, 0x40, (27 - 10) << 3, 100, 0, ...EMPTY_LAST_BLOCK]),
    0,
  );
  // Two frames of 2^24, one after the other: asked for each.
  const frame = [...MAGIC, 0x00, (24 - 10) << 3, ...EMPTY_LAST_BLOCK];
  assert.equal(await largeWindows([...frame, ...frame]), 2);
});

Deno.test("zstd frames: a window over 2^27 is refused, by descriptor or single segment", async () => {
  const refused = (size: string) => (error: Error) =>
    error instanceof UnsafeContentError &&
    error.message === `layer x needs a ${size}-byte zstd window, over the 2^27-byte limit`;
  await assert.rejects(
    largeWindows([...MAGIC, 0x00, (31 - 10) << 3, ...EMPTY_LAST_BLOCK]),
    refused("2^31"),
  );
  await assert.rejects(
    largeWindows([...MAGIC, 0x00, ((27 - 10) << 3) | 1, ...EMPTY_LAST_BLOCK]),
    refused(String(2 ** 27 + 2 ** 24)),
  );
  // Single segment, an 8-byte content size of 2^28: the window is the content.
  await assert.rejects(
    largeWindows([...MAGIC, 0xe0, 0, 0, 0, 0x10, 0, 0, 0, 0, ...EMPTY_LAST_BLOCK]),
    refused("2^28"),
  );
});
