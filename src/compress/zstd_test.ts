import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { zstdStream } from "./zstd.ts";

/** The sha256 of what zstdStream makes of `blocks`, waiting `pauseMs` before the input ends. */
async function compressed(blocks: Uint8Array[], pauseMs: number): Promise<string> {
  const source = async function* () {
    yield* blocks;
    // A pause lets the worker finish the last block before it hears that the input ended.
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  };
  const hash = createHash("sha256");
  for await (const chunk of zstdStream(source())) hash.update(chunk);
  return hash.digest("hex");
}

Deno.test("zstd: the bytes do not depend on when the end of the input arrives", async () => {
  // Whole 1 MiB blocks, so the last one reaches the worker before the input's end is known.
  const mib = 1024 * 1024;
  const whole = new Uint8Array(2 * mib);
  let seed = 7;
  for (let i = 0; i < whole.length; i++) {
    seed = (seed * 48271) % 2147483647;
    whole[i] = 97 + (seed % 7);
  }
  for (const input of [[whole.subarray(0, mib)], [whole.subarray(0, mib), whole.subarray(mib)]]) {
    const digests = new Set<string>();
    for (const pauseMs of [0, 100, 0, 100]) digests.add(await compressed(input, pauseMs));
    assert.equal(digests.size, 1, `one output for ${input.length} block(s)`);
  }
});
