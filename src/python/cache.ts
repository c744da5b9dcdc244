/**
 * A content-addressed cache of built layers, in `$XDG_CACHE_HOME/ocisync`
 * (else `~/.cache/ocisync`). An entry is two files named by its key: the
 * layer blob, `KEY.layer`, and its description, `KEY.json`, which names the
 * key too. Both are written atomically, mode 0644, the description last (a
 * blob whose description could not be written is removed), and a blob is
 * verified against its digest each time it is read back: a damaged entry, one
 * renamed from another key, or one that other users may write is a miss, never
 * a bad layer.
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
import { IntegrityError, UsageError } from "../errors/mod.ts";
import { isFileSystemRefusal } from "../errors/os.ts";
import { isDigest, Sha256, verifyingStream } from "../digest/mod.ts";
import { LEFTOVER_AGE_MS, temporaryTarget, writeFileAtomic } from "../fs/atomic.ts";
import { lstatOrUndefined, processUid, sameFile } from "../fs/stat.ts";
import { openFileAt, openLookedAt, readEachPiece, readUpTo } from "../fs/read.ts";
import { refuseReplaceableAsRoot } from "../fs/shielded.ts";
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
 * Makes the cache folder `dir` where missing (mode 0700), and refuses one that another user
 * could change: a link, something other than a folder, another user's folder, or one that all
 * may write to. Its entries are trusted as they describe themselves (a hit is checked against
 * the digest its own description gives), so whoever can write there would choose the layers
 * a build ships; and a link there would have root write its entries wherever it leads.
 *
 * @throws {UsageError} naming the folder and what is wrong with it.
 * @example
 * ```ts
 * import { ownCacheFolder } from "./cache.ts";
 * await ownCacheFolder(`${await Deno.makeTempDir()}/deps`);
 * ```
 */
export async function ownCacheFolder(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await checkCacheFolder(dir);
}

/**
 * Throws as {@linkcode ownCacheFolder} does unless `dir` is a folder of this process's user that
 * no other user may write to, and, as root, that no other user may replace: a folder of theirs
 * above it (root building with a user's `HOME` or `XDG_CACHE_HOME`) would let them swap it for
 * a link to entries of their own between the check and each read. For a cache only read, not
 * made.
 *
 * @throws {UsageError} naming the folder and what is wrong with it.
 * @example
 * ```ts
 * import { checkCacheFolder } from "./cache.ts";
 * await checkCacheFolder(await Deno.makeTempDir());
 * ```
 */
export async function checkCacheFolder(dir: string): Promise<void> {
  const info = await Deno.lstat(dir);
  const uid = processUid();
  const mode = (info.mode ?? 0) & 0o7777;
  const why = info.isSymlink
    ? "it is a symlink"
    : !info.isDirectory
    ? "it is not a folder"
    : uid !== undefined && info.uid !== null && info.uid !== uid
    ? `it belongs to user ${info.uid}, not to this process's user ${uid}`
    : (mode & 0o002) !== 0
    ? `all users may write to it (mode ${mode.toString(8)})`
    : undefined;
  const refusal = (why: string) =>
    new UsageError(
      `refusing the cache folder ${dir}: ${why}, so another user could choose what it holds`,
      { hint: `use a folder of your own (XDG_CACHE_HOME), chmod 700 ${dir}, or pass --no-cache` },
    );
  if (why !== undefined) throw refusal(why);
  await refuseReplaceableAsRoot(dir, refusal);
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

/** Options of {@linkcode LayerCache.get}. */
export interface CacheGetOptions {
  /**
   * `output` is a scratch file of the caller's, only read, then removed (a build's work file).
   * A hit may then make it a second name (a hard link) of the entry's file rather than a copy,
   * when both are on one file system: a code-only rebuild then reads a 500 MB dependency layer
   * once, for its digest, rather than writing it again and flushing it to disk. An entry's file
   * is never written to once it is there (a put renames a new file into its place, or links one
   * written already), so the content linked stays what was checked.
   */
  scratch?: boolean;
}

/** Options of {@linkcode LayerCache.put}. */
export interface CachePutOptions {
  /**
   * `path` is a scratch file of the caller's, only read from now on, then removed (a build's
   * work file, written and flushed): the entry may then be a second name of it (a hard link)
   * rather than a copy, when both are on one file system and no entry is there yet. Its mode
   * becomes the entry's (0644).
   */
  scratch?: boolean;
}

/** Whether `name` could be made a second name (a hard link) of `path`: false where it cannot. */
function linked(path: string, name: string): boolean {
  try {
    Deno.linkSync(path, name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether the scratch file `path`, the caller's own, now has an entry's mode: false (the caller
 * copies instead) when it cannot be given it.
 */
function entryModeGiven(path: string): boolean {
  try {
    Deno.chmodSync(path, ENTRY_MODE);
    return true;
  } catch {
    return false;
  }
}

/** Whether `file`, read from its position, has `layer`'s size and sha256 digest. */
async function holds(file: Deno.FsFile, layer: Layer): Promise<boolean> {
  const hash = new Sha256();
  await readEachPiece(file, (piece) => hash.update(piece));
  return hash.size === layer.size && hash.digest() === layer.digest;
}

/** The most bytes of an entry's description: a layer's digests, sizes and media type. */
const MAX_DESCRIPTION = 64 * 1024;

/**
 * The mode of an entry's files: no other user may write them. Given, not left to the umask:
 * under a umask of 0 every entry was one that all may write, which no get reads.
 */
const ENTRY_MODE = 0o644;

/** What an entry's description holds: the layer, and the key it was stored under. */
interface Description extends Layer {
  key: string;
}

/**
 * The layer that `text`, the description of the entry `key`, gives; undefined when it is not
 * one, or names another key (an entry renamed by whoever may write the folder).
 */
function describedLayer(text: string, key: string): Layer | undefined {
  let value: Partial<Description>;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || value.key !== key) return undefined;
  const { mediaType, digest, diffId, size, entries } = value;
  const count = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
  const digests = typeof digest === "string" && typeof diffId === "string" &&
    digest.startsWith("sha256:") && isDigest(digest) && isDigest(diffId);
  if (typeof mediaType !== "string" || !digests || !count(size) || !count(entries)) {
    return undefined;
  }
  return { mediaType, digest, diffId, size, entries } as Layer;
}

/** The name of an entry's file: its key, then what it holds. */
const ENTRY_FILE = /^[0-9a-f]{64}\.(layer|json)$/;
/** The name of an entry's layer blob, which is never read without its description. */
const LAYER_FILE = /^([0-9a-f]{64})\.layer$/;

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
   * returns undefined when there is no such entry or it is damaged. With `scratch`, `output`
   * may instead become a second name of the entry's file (see {@linkcode CacheGetOptions}).
   *
   * @example
   * ```ts
   * import { LayerCache } from "./cache.ts";
   * const layer = await new LayerCache("/tmp/c").get("0".repeat(64), "deps.tar.gz");
   * ```
   */
  async get(
    key: string,
    output: string,
    options: CacheGetOptions = {},
  ): Promise<Layer | undefined> {
    try {
      await ownCacheFolder(this.dir);
    } catch (error) {
      // A cache folder that cannot be made (a read-only or full disk) holds nothing: a miss, and
      // the put after the install says why it cannot cache.
      if (isFileSystemRefusal(error)) return undefined;
      throw error;
    }
    let layer: Layer | undefined;
    let blob: Deno.FsFile;
    try {
      using description = await this.#openEntry(`${key}.json`);
      const text = new TextDecoder().decode(await readUpTo(description, MAX_DESCRIPTION));
      layer = describedLayer(text, key);
      blob = await this.#openEntry(`${key}.layer`);
    } catch {
      return undefined;
    }
    if (layer === undefined) {
      // Damaged, or another key's: a miss, and the put after the install replaces it.
      blob.close();
      await this.#remove(key);
      return undefined;
    }
    try {
      if (options.scratch && this.#link(blob, key, output)) {
        if (await holds(blob, layer)) return layer;
        await Deno.remove(output).catch(() => {});
        await this.#remove(key);
        return undefined;
      }
      await writeFileAtomic(
        output,
        (await openFileAt(blob, 0, layer.size)).pipeThrough(verifyingStream(layer, "cached layer")),
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
   * Stores a copy of the layer file `path`, described by `layer`, under `key`; with `scratch`,
   * maybe the file itself, under a second name (see {@linkcode CachePutOptions}).
   *
   * @example
   * ```ts
   * import { LayerCache } from "./cache.ts";
   * import { writeLayerFile } from "../layer/mod.ts";
   * const layer = await writeLayerFile("./deps", "deps.tar.gz");
   * await new LayerCache("/tmp/c").put("0".repeat(64), "deps.tar.gz", layer);
   * ```
   */
  async put(
    key: string,
    path: string,
    layer: Layer,
    options: CachePutOptions = {},
  ): Promise<void> {
    await ownCacheFolder(this.dir);
    await this.#removeLeftovers();
    const blob = `${this.dir}/${key}.layer`;
    const written = { replacePath: true, mode: ENTRY_MODE };
    // A link is made only where nothing is; anything at the entry's name, a link too, is
    // replaced by the copy, never written through. The work file gets the entry's mode first
    // (the caller's own file: the entry's name may be anything by the time it is linked).
    if (!(options.scratch && entryModeGiven(path) && linked(path, blob))) {
      await writeFileAtomic(blob, await openFileAt(path, 0, layer.size), written);
    }
    const described: Description = { key, ...layer };
    const description = new TextEncoder().encode(JSON.stringify(described));
    try {
      await writeFileAtomic(`${this.dir}/${key}.json`, [description], written);
    } catch (error) {
      // Without its description, the blob is never read: it would only take the space.
      await Deno.remove(blob).catch(() => {});
      throw error;
    }
  }

  /**
   * Removes what writers killed (SIGKILL, the OOM killer, a power cut) or stopped by a full disk
   * left a day ago or more: the temporary files of entries, which `writeFileAtomic` names
   * `.KEY.layer.XXXXXXXX.tmp`, and layer blobs without their description. Nothing else would
   * ever remove them; a younger one may be a put under way. Links are left alone.
   */
  async #removeLeftovers(): Promise<void> {
    const before = Date.now() - LEFTOVER_AGE_MS;
    for await (const entry of Deno.readDir(this.dir)) {
      if (!entry.isFile) continue;
      const temporary = ENTRY_FILE.test(temporaryTarget(entry.name) ?? "");
      if (!temporary && !this.#undescribed(entry.name)) continue;
      const path = `${this.dir}/${entry.name}`;
      const modified = (await Deno.lstat(path).catch(() => undefined))?.mtime?.getTime();
      if (modified !== undefined && modified < before) await Deno.remove(path).catch(() => {});
    }
  }

  /** Whether `name` is a layer blob whose description is missing. */
  #undescribed(name: string): boolean {
    const key = LAYER_FILE.exec(name)?.[1];
    if (key === undefined) return false;
    try {
      return lstatOrUndefined(`${this.dir}/${key}.json`) === undefined;
    } catch {
      return false;
    }
  }

  /**
   * The entry file `name`, open, when it is a regular file of this process's user that no other
   * user may write: the entries are trusted as they describe themselves, so a file of another
   * user's (in a folder swapped for a link to theirs), or one that a group's members may
   * rewrite, must never be read as one.
   *
   * @throws when it is anything else: the caller's miss.
   */
  async #openEntry(name: string): Promise<Deno.FsFile> {
    const uid = processUid();
    const { file } = await openLookedAt(`${this.dir}/${name}`, (found) => {
      const own = found.isFile && (uid === undefined || found.uid === uid) &&
        ((found.mode ?? 0) & 0o022) === 0;
      if (!own) throw new UsageError(`${this.dir}/${name} is no cache entry of this user's own`);
    }, { links: "refuse" });
    return file;
  }

  /**
   * Gives the entry's layer file, open as `blob`, the second name `output` (a hard link): true
   * once `output` names that very file; false when it cannot (another file system, a file
   * system without links, `output` taken), or when the entry's name had been replaced since
   * `blob` was opened.
   */
  #link(blob: Deno.FsFile, key: string, output: string): boolean {
    if (!linked(`${this.dir}/${key}.layer`, output)) return false;
    if (sameFile(blob.statSync(), Deno.lstatSync(output))) return true;
    Deno.removeSync(output);
    return false;
  }

  async #remove(key: string): Promise<void> {
    for (const suffix of [".json", ".layer"]) {
      await Deno.remove(`${this.dir}/${key}${suffix}`).catch(() => {});
    }
  }
}
