/**
 * A content-addressed cache of built layers, in `$XDG_CACHE_HOME/ocisync`
 * (else `~/.cache/ocisync`). An entry is two files named by its key: the
 * layer blob, `KEY.layer`, and its description, `KEY.json`. Both are written
 * atomically, the description last, and a blob is verified against its
 * digest each time it is read back: a damaged entry is a miss, never a bad
 * layer.
 *
 * @example
 * ```ts
 * import { cacheKey, defaultCacheDir, LayerCache } from "./cache.ts";
 * const cache = new LayerCache(`${defaultCacheDir()}/deps`);
 * const key = cacheKey({ requirements: "sha256:…", installer: "pip 24.0" });
 * const hit = await cache.get(key, "deps.tar.gz");
 * ```
 * @module
 */
import { createHash } from "node:crypto";
import { IntegrityError } from "../errors/mod.ts";
import { verifyingStream } from "../digest/mod.ts";
import { writeFileAtomic } from "../fs/atomic.ts";
import type { Layer } from "../layer/mod.ts";

/**
 * The cache folder: `$XDG_CACHE_HOME/ocisync`, else `$HOME/.cache/ocisync`.
 *
 * @example
 * ```ts
 * import { defaultCacheDir } from "./cache.ts";
 * defaultCacheDir(); // "/home/me/.cache/ocisync"
 * ```
 */
export function defaultCacheDir(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/ocisync`;
  return `${Deno.env.get("HOME") ?? "."}/.cache/ocisync`;
}

/**
 * The key of everything that determines an entry: the sha256 of its JSON.
 * Build `material` with a fixed key order.
 *
 * @example
 * ```ts
 * import { cacheKey } from "./cache.ts";
 * cacheKey({ a: 1 }).length; // 64
 * ```
 */
export function cacheKey(material: unknown): string {
  return createHash("sha256").update(JSON.stringify(material)).digest("hex");
}

/** Layers cached in one folder. */
export class LayerCache {
  /** The folder of the entries. */
  readonly dir: string;

  /**
   * A cache in `dir`, created when the first entry is stored.
   *
   * @example
   * ```ts
   * import { LayerCache } from "./cache.ts";
   * const cache = new LayerCache("/tmp/ocisync-cache/deps");
   * ```
   */
  constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Copies the layer stored under `key` to `output` and describes it, or
   * returns undefined when there is no such entry or it is damaged.
   *
   * @example
   * ```ts
   * import { LayerCache } from "./cache.ts";
   * const layer = await new LayerCache("/tmp/c").get("0".repeat(64), "deps.tar.gz");
   * ```
   */
  async get(key: string, output: string): Promise<Layer | undefined> {
    let layer: Layer;
    let blob: Deno.FsFile;
    try {
      layer = JSON.parse(await Deno.readTextFile(`${this.dir}/${key}.json`));
      blob = await Deno.open(`${this.dir}/${key}.layer`);
    } catch {
      return undefined;
    }
    try {
      await writeFileAtomic(
        output,
        blob.readable.pipeThrough(verifyingStream(layer, "cached layer")),
      );
      return layer;
    } catch (error) {
      if (!(error instanceof IntegrityError)) throw error;
      await this.#remove(key);
      return undefined;
    } finally {
      try {
        blob.close();
      } catch { /* the stream closed it */ }
    }
  }

  /**
   * Stores a copy of the layer file `path`, described by `layer`, under `key`.
   *
   * @example
   * ```ts
   * import { LayerCache } from "./cache.ts";
   * import { writeLayerFile } from "../layer/mod.ts";
   * const layer = await writeLayerFile("./deps", "deps.tar.gz");
   * await new LayerCache("/tmp/c").put("0".repeat(64), "deps.tar.gz", layer);
   * ```
   */
  async put(key: string, path: string, layer: Layer): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true });
    await writeFileAtomic(`${this.dir}/${key}.layer`, (await Deno.open(path)).readable);
    const description = new TextEncoder().encode(JSON.stringify(layer));
    await writeFileAtomic(`${this.dir}/${key}.json`, [description]);
  }

  async #remove(key: string): Promise<void> {
    for (const suffix of [".json", ".layer"]) {
      await Deno.remove(`${this.dir}/${key}${suffix}`).catch(() => {});
    }
  }
}
