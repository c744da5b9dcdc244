/**
 * The compression floor of a gzip pack: the time that deflating a tar takes on one thread, in
 * the blocks ocisync deflates (1 MiB, each with the 32 KiB before it as its dictionary, level 6,
 * the Deno runtime's zlib). A pack on N cores cannot take less than this time divided by N, even
 * if walking, reading, tar, hashing and start-up cost nothing; `scripts/bench/mod.ts` prints it
 * beside the pack rows, as it prints `curl`'s time beside the push rows.
 *
 * Usage: deno run -A scripts/bench/deflate_floor.ts TAR_FILE
 *
 * Prints the seconds, the median of 3 passes.
 *
 * @module
 */
import { deflateBlock } from "../../src/compress/deflate.ts";
import { GZIP_BLOCK_SIZE } from "../../src/compress/gzip.ts";

const WINDOW = 32 * 1024;
const [path] = Deno.args;
if (path === undefined) throw new Error("usage: deflate_floor.ts TAR_FILE");
// Read before the clock starts: the floor is deflate's alone.
const tar = Deno.readFileSync(path);
const passes: number[] = [];
for (let pass = 0; pass < 3; pass++) {
  const started = performance.now();
  for (let offset = 0; offset < tar.length; offset += GZIP_BLOCK_SIZE) {
    await deflateBlock({
      block: tar.slice(offset, offset + GZIP_BLOCK_SIZE),
      dictionary: tar.subarray(Math.max(0, offset - WINDOW), offset),
    });
  }
  passes.push((performance.now() - started) / 1000);
}
console.log(passes.sort((a, b) => a - b)[1].toFixed(3));
