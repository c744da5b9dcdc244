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

/** How many files a generated tree holds, and their bytes. */
export interface TreeStats {
  files: number;
  bytes: number;
}

/** Writes one file of a tree being generated: `path` is below the root, its folder made. */
type WriteFile = (path: string, content: Uint8Array) => Promise<void>;

/**
 * Makes `root` hold a generated tree, unless a complete one is there (a marker file, written
 * last, holds its stats): `build` writes every file through the function it is given.
 */
async function ensureTree(
  root: string,
  build: (write: WriteFile) => Promise<void>,
): Promise<TreeStats> {
  const marker = `${root}/.complete.json`;
  try {
    return JSON.parse(await Deno.readTextFile(marker));
  } catch { /* not built yet */ }
  await Deno.remove(root, { recursive: true }).catch(() => {});
  const stats: TreeStats = { files: 0, bytes: 0 };
  await build(async (path, content) => {
    const file = `${root}/${path}`;
    await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(file, content);
    stats.files++;
    stats.bytes += content.length;
  });
  await Deno.writeTextFile(marker, JSON.stringify(stats));
  return stats;
}

/** Makes `root` hold the flow tree, unless a complete one is there. */
export function ensureFlowTree(root: string): Promise<TreeStats> {
  return ensureTree(root, async (write) => {
    const next = seeded(4242);
    const encoder = new TextEncoder();
    for (let pkg = 0; pkg < 60; pkg++) {
      for (let mod = 0; mod < 7; mod++) {
        // 3,000 files over 420 modules: most get 7, a few 8.
        const count = 7 + (pkg * 7 + mod < 3000 - 420 * 7 ? 1 : 0);
        for (let f = 0; f < count; f++) {
          const words = 200 + (next() % 3801);
          const text = Array.from(
            { length: words },
            // A name in three gets a suffix: about 7 bytes a word, 41 MB in all, as in real code.
            () => `${WORDS[next() % WORDS.length]}${next() % 3 ? "" : `_${next() % 500}`}`,
          ).join(" ");
          await write(`pkg${pkg}/mod${mod}/m${f}.py`, encoder.encode(`${text}\n`));
        }
      }
    }
  });
}

/** Makes `root` hold the benchmark tree, unless a complete one is there. */
export function ensureBenchTree(root: string): Promise<TreeStats> {
  return ensureTree(root, async (write) => {
    const next = seeded(12345);
    const text = new TextEncoder();
    for (let pkg = 0; pkg < 200; pkg++) {
      for (let mod = 0; mod < 10; mod++) {
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
            let offset = 0;
            while (offset < size) {
              const word = text.encode(`${WORDS[next() % WORDS.length]}_${next() % 500} `);
              content.set(word.subarray(0, size - offset), offset);
              offset += word.length;
            }
          }
          const name = `pkg${pkg}/mod${mod}/file${f}.${kind === 0 ? "bin" : "py"}`;
          await write(name, content.subarray(0, size));
        }
      }
    }
  });
}

/** Makes `root` hold the many-files tree, unless a complete one is there. */
export function ensureManyFilesTree(root: string): Promise<TreeStats> {
  return ensureTree(root, async (write) => {
    const next = seeded(777);
    const encoder = new TextEncoder();
    for (let dir = 0; dir < 100; dir++) {
      for (let f = 0; f < 1000; f++) {
        const words = 3 + (next() % 30);
        const text = Array.from({ length: words }, () => WORDS[next() % WORDS.length]).join(" ");
        await write(`pkg${dir}/m${f}.py`, encoder.encode(`${text}\n`));
      }
    }
  });
}
