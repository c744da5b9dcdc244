/**
 * Applies layers to a folder, safely. Entries are resolved inside the root
 * the way a container runtime resolves them in a root file system: an
 * absolute symlink target means the root, and a path that would leave the
 * root, by `..`, an absolute name or a symlink, is refused. OCI whiteouts
 * delete inside the root only. Devices and fifos are not created; setuid,
 * setgid and sticky bits are dropped.
 *
 * @example
 * ```ts
 * import { Unpacker } from "./mod.ts";
 * import { readTar } from "../tar/reader.ts";
 * import { decompressStream } from "../compress/decompress.ts";
 * const unpacker = new Unpacker("/tmp/rootfs", { maxSize: 1024 ** 3 });
 * const file = await Deno.open("layer.tar.gz");
 * await unpacker.apply(readTar(decompressStream(file.readable)));
 * unpacker.finish();
 * ```
 * @module
 */
import { UnsafeContentError } from "../errors/mod.ts";
import type { TarReadEntry } from "../tar/reader.ts";

/** Options of {@linkcode Unpacker}. */
export interface UnpackOptions {
  /** The most file bytes all layers together may write; a decompression bomb stops here. */
  maxSize?: number;
}

/** What the layers applied. */
export interface UnpackStats {
  /** Regular files written. */
  files: number;
  /** Directories created or kept. */
  directories: number;
  /** Symlinks created. */
  symlinks: number;
  /** Hard links created. */
  hardlinks: number;
  /** Whiteouts applied. */
  whiteouts: number;
  /** Bytes of file content written. */
  bytes: number;
  /** Entries that were not created: devices and fifos. */
  skipped: string[];
}

const OPAQUE = ".wh..wh..opq";
const WHITEOUT = ".wh.";
const MAX_SYMLINK_HOPS = 40;

/** Applies layers in order to one root folder. */
export class Unpacker {
  /** The folder the layers are applied to. */
  readonly root: string;
  /** What has been applied so far. */
  readonly stats: UnpackStats = {
    files: 0,
    directories: 0,
    symlinks: 0,
    hardlinks: 0,
    whiteouts: 0,
    bytes: 0,
    skipped: [],
  };
  readonly #maxSize: number;
  /** Directory modes, applied at the end so a read-only directory can still be filled. */
  readonly #directoryModes = new Map<string, number>();
  /**
   * Parent folders already resolved, by entry path: most entries share their parent with
   * the one before. Cleared whenever a removal or a symlink could change a resolution.
   */
  readonly #resolved = new Map<string, string>();
  /** Paths the current layer created: an opaque whiteout hides only the layers below. */
  #createdInLayer = new Set<string>();

  /** `root` must be an existing, empty folder. */
  constructor(root: string, options: UnpackOptions = {}) {
    this.root = root.replace(/\/+$/, "");
    this.#maxSize = options.maxSize ?? Infinity;
  }

  /** Applies one layer's entries. */
  async apply(entries: AsyncIterable<TarReadEntry>): Promise<void> {
    this.#createdInLayer = new Set();
    for await (const entry of entries) await this.#applyEntry(entry);
  }

  /** Sets directory modes, deepest first. Call once, after the last layer. */
  finish(): void {
    const dirs = [...this.#directoryModes].sort(([a], [b]) => b.length - a.length);
    for (const [path, mode] of dirs) Deno.chmodSync(path, mode);
  }

  async #applyEntry(entry: TarReadEntry): Promise<void> {
    const parts = entryParts(entry.name);
    if (parts.length === 0) return; // the root itself, e.g. "./"
    const name = parts[parts.length - 1];
    const parent = this.#resolveDirectory(parts.slice(0, -1), entry.name);

    if (name === OPAQUE) {
      this.stats.whiteouts++;
      for (const child of Deno.readDirSync(parent)) {
        const path = `${parent}/${child.name}`;
        if (!this.#createdInLayer.has(path)) this.#remove(path);
      }
      return;
    }
    if (name.startsWith(WHITEOUT)) {
      const hidden = name.slice(WHITEOUT.length);
      if (hidden === "" || hidden === "." || hidden === "..") {
        throw unsafe(entry.name, "whiteouts nothing");
      }
      this.stats.whiteouts++;
      this.#remove(`${parent}/${hidden}`);
      return;
    }
    const path = `${parent}/${name}`;
    const mode = entry.mode & 0o777;
    switch (entry.type) {
      case "directory": {
        const existing = lstatOrUndefined(path);
        if (existing && !existing.isDirectory) this.#remove(path);
        if (!existing?.isDirectory) Deno.mkdirSync(path, { mode: 0o755 });
        this.#directoryModes.set(path, mode);
        this.stats.directories++;
        break;
      }
      case "file":
        this.#replace(path);
        await this.#writeFile(path, entry, mode);
        this.stats.files++;
        break;
      case "symlink":
        this.#replace(path);
        Deno.symlinkSync(entry.linkName, path);
        // A symlink can change where a cached parent path leads.
        this.#resolved.clear();
        this.stats.symlinks++;
        break;
      case "hardlink": {
        const targetParts = entryParts(entry.linkName);
        if (targetParts.length === 0) throw unsafe(entry.name, "is a hard link to the root");
        const targetDir = this.#resolveDirectory(targetParts.slice(0, -1), entry.linkName);
        const target = `${targetDir}/${targetParts[targetParts.length - 1]}`;
        const info = lstatOrUndefined(target);
        if (!info?.isFile) {
          throw unsafe(entry.name, `links to ${entry.linkName}, which is not a file`);
        }
        this.#replace(path);
        Deno.linkSync(target, path);
        this.stats.hardlinks++;
        break;
      }
      default:
        this.stats.skipped.push(entry.name);
        return;
    }
    this.#createdInLayer.add(path);
  }

  /** Removes whatever is at `path` (a lower layer's file, link or folder). */
  #replace(path: string): void {
    if (lstatOrUndefined(path)) this.#remove(path);
  }

  #remove(path: string): void {
    try {
      Deno.removeSync(path, { recursive: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    this.#resolved.clear();
  }

  async #writeFile(path: string, entry: TarReadEntry, mode: number): Promise<void> {
    if (this.stats.bytes + entry.size > this.#maxSize) {
      throw new UnsafeContentError(
        `extracting ${entry.name} would write more than the limit of ${this.#maxSize} bytes`,
        { hint: "raise --max-extract-size if the image is really this large" },
      );
    }
    const file = Deno.openSync(path, { write: true, createNew: true, mode: 0o600 });
    try {
      for await (const chunk of entry.body) {
        let offset = 0;
        while (offset < chunk.length) offset += file.writeSync(chunk.subarray(offset));
      }
    } finally {
      file.close();
    }
    this.stats.bytes += entry.size;
    Deno.chmodSync(path, mode);
    Deno.utimeSync(path, entry.mtime, entry.mtime);
  }

  /**
   * The real folder that `parts` names inside the root, creating missing
   * folders and following symlinks within the root.
   */
  #resolveDirectory(parts: string[], entryName: string): string {
    const key = parts.join("/");
    const cached = this.#resolved.get(key);
    if (cached !== undefined) return cached;
    const resolved: string[] = [];
    const pending = [...parts];
    let hops = 0;
    while (pending.length) {
      const part = pending.shift()!;
      if (part === "..") {
        if (resolved.length === 0) throw unsafe(entryName, "leaves the target through a symlink");
        resolved.pop();
        continue;
      }
      const path = [this.root, ...resolved, part].join("/");
      const info = lstatOrUndefined(path);
      if (info?.isSymlink) {
        if (++hops > MAX_SYMLINK_HOPS) throw unsafe(entryName, "has too many levels of symlinks");
        const target = Deno.readLinkSync(path);
        // An absolute target means the root, as inside a container.
        if (target.startsWith("/")) resolved.length = 0;
        pending.unshift(...target.split("/").filter((p) => p !== "" && p !== "."));
        continue;
      }
      if (!info) {
        Deno.mkdirSync(path, { mode: 0o755 });
        this.#createdInLayer.add(path);
      } else if (!info.isDirectory) {
        // A later layer may turn a file into a folder.
        this.#remove(path);
        Deno.mkdirSync(path, { mode: 0o755 });
      }
      resolved.push(part);
    }
    const path = [this.root, ...resolved].join("/");
    this.#resolved.set(key, path);
    return path;
  }
}

/**
 * The components of an entry name, without "." or empty ones.
 *
 * @throws {UnsafeContentError} for an absolute name or a `..` component.
 */
function entryParts(name: string): string[] {
  if (name.startsWith("/")) throw unsafe(name, "is an absolute path");
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw unsafe(name, "contains ..");
  return parts;
}

function unsafe(name: string, why: string): UnsafeContentError {
  return new UnsafeContentError(`refusing layer entry "${name}": it ${why}`);
}

function lstatOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}
