/**
 * Generates the benchmark trees once, from a seed, so that every run packs the same bytes:
 * - the large tree: about 20,000 files and 300 MB, a mix of source-like text (compressible),
 *   small config files and binary blobs, in nested folders;
 * - the flow tree: what a Prefect user packs, 3,000 `.py` files of 200 to 4,000 words (about
 *   41 MB), 60 packages of 7 modules each;
 * - the many-files tree: 100,000 files of 20 to 200 bytes in 100 folders, the shape of a large
 *   dependency layer's `site-packages`, for memory against the entry count.
 *
 * @module
 */

/** A seeded xorshift32: an LCG's low bits repeat too soon, and zstd would find the repeats. */
function seeded(seed: number): () => number {
  return () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
}

const WORDS = "def class import return self value for in if else while with as try except"
  .split(" ");

/** Makes `root` hold the flow tree, unless a complete one is there. */
export async function ensureFlowTree(root: string): Promise<{ files: number; bytes: number }> {
  const marker = `${root}/.complete.json`;
  try {
    return JSON.parse(await Deno.readTextFile(marker));
  } catch { /* not built yet */ }
  await Deno.remove(root, { recursive: true }).catch(() => {});
  const next = seeded(4242);
  const encoder = new TextEncoder();
  let files = 0;
  let bytes = 0;
  for (let pkg = 0; pkg < 60; pkg++) {
    for (let mod = 0; mod < 7; mod++) {
      const dir = `${root}/pkg${pkg}/mod${mod}`;
      await Deno.mkdir(dir, { recursive: true });
      // 3,000 files over 420 modules: most get 7, a few 8.
      const count = 7 + (pkg * 7 + mod < 3000 - 420 * 7 ? 1 : 0);
      for (let f = 0; f < count; f++) {
        const words = 200 + (next() % 3801);
        const text = Array.from(
          { length: words },
          // A name in three gets a suffix: about 7 bytes a word, 41 MB in all, as in real code.
          () => `${WORDS[next() % WORDS.length]}${next() % 3 ? "" : `_${next() % 500}`}`,
        ).join(" ");
        const content = encoder.encode(`${text}\n`);
        await Deno.writeFile(`${dir}/m${f}.py`, content);
        files++;
        bytes += content.length;
      }
    }
  }
  const stats = { files, bytes };
  await Deno.writeTextFile(marker, JSON.stringify(stats));
  return stats;
}

/** Makes `root` hold the benchmark tree, unless a complete one is there. */
export async function ensureBenchTree(root: string): Promise<{ files: number; bytes: number }> {
  const marker = `${root}/.complete.json`;
  try {
    return JSON.parse(await Deno.readTextFile(marker));
  } catch { /* not built yet */ }
  await Deno.remove(root, { recursive: true }).catch(() => {});
  const next = seeded(12345);
  const words = WORDS;
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

/** Makes `root` hold the many-files tree, unless a complete one is there. */
export async function ensureManyFilesTree(
  root: string,
): Promise<{ files: number; bytes: number }> {
  const marker = `${root}/.complete.json`;
  try {
    return JSON.parse(await Deno.readTextFile(marker));
  } catch { /* not built yet */ }
  await Deno.remove(root, { recursive: true }).catch(() => {});
  const next = seeded(777);
  const encoder = new TextEncoder();
  let files = 0;
  let bytes = 0;
  for (let dir = 0; dir < 100; dir++) {
    await Deno.mkdir(`${root}/pkg${dir}`, { recursive: true });
    for (let f = 0; f < 1000; f++) {
      const words = 3 + (next() % 30);
      const text = Array.from({ length: words }, () => WORDS[next() % WORDS.length]).join(" ");
      const content = encoder.encode(`${text}\n`);
      await Deno.writeFile(`${root}/pkg${dir}/m${f}.py`, content);
      files++;
      bytes += content.length;
    }
  }
  const stats = { files, bytes };
  await Deno.writeTextFile(marker, JSON.stringify(stats));
  return stats;
}
