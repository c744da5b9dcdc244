/**
 * Generates the benchmark tree once: about 20,000 files and 300 MB, a mix of
 * source-like text (compressible), small config files and binary blobs, in
 * nested folders. The content is seeded, so every run packs the same tree.
 *
 * @module
 */

/** Makes `root` hold the benchmark tree, unless a complete one is there. */
export async function ensureBenchTree(root: string): Promise<{ files: number; bytes: number }> {
  const marker = `${root}/.complete.json`;
  try {
    return JSON.parse(await Deno.readTextFile(marker));
  } catch { /* not built yet */ }
  await Deno.remove(root, { recursive: true }).catch(() => {});
  let seed = 12345;
  // xorshift32: an LCG's low bits repeat too soon, and zstd would find the repeats.
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const words = "def class import return self value for in if else while with as try except"
    .split(" ");
  let files = 0;
  let bytes = 0;
  for (let pkg = 0; pkg < 200; pkg++) {
    for (let mod = 0; mod < 10; mod++) {
      const dir = `${root}/pkg${pkg}/mod${mod}`;
      await Deno.mkdir(dir, { recursive: true });
      for (let f = 0; f < 10; f++) {
        const kind = next() % 20;
        // 1 in 20 files is a binary blob of ~100 KB; the rest are text of ~12 KB.
        const size = kind === 0 ? 50_000 + (next() % 100_000) : 4_000 + (next() % 16_000);
        const content = new Uint8Array(size + 3); // room for the last 4-byte word
        if (kind === 0) {
          for (let i = 0; i < size; i += 4) {
            new DataView(content.buffer).setUint32(i, next(), true);
          }
        } else {
          const text = new TextEncoder();
          let offset = 0;
          while (offset < size) {
            const word = text.encode(`${words[next() % words.length]}_${next() % 500} `);
            content.set(word.subarray(0, size - offset), offset);
            offset += word.length;
          }
        }
        await Deno.writeFile(
          `${dir}/file${f}.${kind === 0 ? "bin" : "py"}`,
          content.subarray(0, size),
        );
        files++;
        bytes += size;
      }
    }
  }
  const stats = { files, bytes };
  await Deno.writeTextFile(marker, JSON.stringify(stats));
  return stats;
}
