/**
 * Applies layers to a folder, safely. Entries are resolved inside the root
 * the way a container runtime resolves them in a root file system: an
 * absolute symlink target means the root, and a path that would leave the
 * root, by `..`, an absolute name or a symlink, is refused. Symlinks are kept
 * as stored, whatever they point at: they are data, never followed out of the
 * root while unpacking. OCI whiteouts delete inside the root only. Devices and
 * fifos are not created; setuid, setgid and sticky bits are dropped.
 *
 * Metadata is applied to the entry that is there at that moment, never
 * through a symlink: a directory's mode is set when it is made, and only a
 * mode that would stop the directory from being filled (no owner write or
 * search bit) waits for {@linkcode Unpacker.finish}, which checks the
 * directory again, without following links, before it applies it. Whatever
 * a later entry or a whiteout replaces takes its pending mode with it.
 *
 * Each entry is created exclusively: an `open` with `O_EXCL`, a `mkdir`, a
 * `symlink` or a `link` fails on anything at its path, a link included,
 * without following it. Only then is what is there looked at and removed, so
 * that a new path, the common case, costs no failing `lstat`; nothing relies
 * on having made a folder earlier in the same run.
 *
 * Memory does not grow with the size of a layer. It grows with the entry
 * count only for layers after the first (the paths they created, which an
 * opaque whiteout must spare) and for read-only directories; both are
 * bounded by `maxEntries`.
 *
 * @example
 * ```ts
 * import { Unpacker } from "./mod.ts";
 * import { readTar } from "../tar/reader.ts";
 * import { tarStream } from "../tar/writer.ts";
 * const root = await Deno.makeTempDir();
 * const unpacker = new Unpacker(root, { maxSize: 1024 ** 2, maxEntries: 100 });
 * await unpacker.apply(readTar(tarStream([{ name: "d/", type: "directory", mode: 0o755 }], { mtime: 0 })));
 * unpacker.finish();
 * console.log(unpacker.stats.directories); // 1
 * ```
 * @module
 */
import { UnsafeContentError } from "../errors/mod.ts";
import { countedBytes } from "../streams/mod.ts";
import type { TarReadEntry } from "../tar/reader.ts";
import { DEFAULT_MAX_ENTRIES } from "./limits.ts";

/** Options of {@linkcode Unpacker}. */
export interface UnpackOptions {
  /**
   * The most bytes all layers together may decompress to; a decompression bomb stops here.
   * Count the tar bytes with {@linkcode Unpacker.meter}; file sizes are checked against it
   * before anything is written.
   */
  maxSize?: number;
  /** The most tar entries all layers together may hold, whiteouts and skipped ones included. */
  maxEntries?: number;
}

/** What the layers applied. */
export interface UnpackStats {
  /** Tar entries read, of every kind. */
  entries: number;
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
  /** Entries that were not created (devices, fifos): the first {@linkcode MAX_SKIPPED_NAMES}. */
  skipped: string[];
  /** How many entries were not created, all of them. */
  skippedCount: number;
}

/** How many skipped names {@linkcode UnpackStats.skipped} keeps: a layer of fifos stays small. */
export const MAX_SKIPPED_NAMES = 100;

const OPAQUE = ".wh..wh..opq";
const WHITEOUT = ".wh.";
const MAX_SYMLINK_HOPS = 40;
/** The owner's write and search bits: without both, a directory cannot be filled. */
const OWNER_WRITE_SEARCH = 0o300;

/**
 * The stats of an unpacker that has applied nothing yet.
 *
 * @example
 * ```ts
 * import { noneApplied } from "./mod.ts";
 * console.log(noneApplied().files); // 0
 * ```
 */
export function noneApplied(): UnpackStats {
  return {
    entries: 0,
    files: 0,
    directories: 0,
    symlinks: 0,
    hardlinks: 0,
    whiteouts: 0,
    bytes: 0,
    skipped: [],
    skippedCount: 0,
  };
}

/** Applies layers in order to one root folder. */
export class Unpacker {
  /** The folder the layers are applied to. */
  readonly root: string;
  /** What has been applied so far. */
  readonly stats: UnpackStats = noneApplied();
  readonly #maxSize: number;
  readonly #maxEntries: number;
  /** Decompressed bytes counted by {@linkcode meter}. */
  readonly #decompressed = { bytes: 0 };
  /** Modes of read-only directories, by path below the root, applied last. */
  readonly #pendingModes = new Map<string, number>();
  /** The last parent folder resolved: most entries share their parent with the one before. */
  #lastResolved?: { key: string; path: string };
  /**
   * Paths the current layer created, which an opaque whiteout must spare. The first layer
   * needs none: everything below it was created by it.
   */
  #createdInLayer?: Set<string>;
  #layers = 0;

  /** `root` must be an existing, empty folder. */
  constructor(root: string, options: UnpackOptions = {}) {
    this.root = root.replace(/\/+$/, "");
    this.#maxSize = options.maxSize ?? Infinity;
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  /**
   * Counts the bytes of a decompressed layer against `maxSize` as they pass, so that every
   * byte counts: padding and whatever follows the tar's end as much as file content.
   */
  meter(tar: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    return meteredLayer(tar, this.#decompressed, this.#maxSize);
  }

  /** Applies one layer's entries. */
  async apply(entries: AsyncIterable<TarReadEntry>): Promise<void> {
    this.#createdInLayer = this.#layers++ === 0 ? undefined : new Set();
    for await (const entry of entries) await this.#applyEntry(entry);
    this.#createdInLayer = undefined;
  }

  /**
   * Sets the read-only directories' modes, deepest first. Call once, after the last layer.
   * Each path is checked, without following links, to be the directory that was made there.
   */
  finish(): void {
    const root = Deno.realPathSync(this.root);
    const pending = [...this.#pendingModes].sort(([a], [b]) => b.length - a.length);
    this.#pendingModes.clear();
    for (const [relative, mode] of pending) {
      const path = `${this.root}/${relative}`;
      // Removals forget pending modes, so this holds; it is checked again because the
      // alternative is a chmod that follows a link out of the root.
      if (
        !lstatOrUndefined(path)?.isDirectory || Deno.realPathSync(path) !== `${root}/${relative}`
      ) {
        throw new UnsafeContentError(`refusing to set the mode of ${relative}: it was replaced`);
      }
      Deno.chmodSync(path, mode);
    }
  }

  async #applyEntry(entry: TarReadEntry): Promise<void> {
    if (++this.stats.entries > this.#maxEntries) {
      throw new UnsafeContentError(
        `the layers hold more than the limit of ${this.#maxEntries} entries`,
        {
          hint: "raise the entry limit if the image really has this many files",
          option: "maxEntries",
        },
      );
    }
    const parts = entryParts(entry.name);
    if (parts.length === 0) return; // the root itself, e.g. "./"
    const name = parts[parts.length - 1];
    const parent = this.#resolveDirectory(parts.slice(0, -1), entry.name);

    if (name === OPAQUE) {
      this.stats.whiteouts++;
      for (const child of Deno.readDirSync(this.#absolute(parent))) {
        const path = join(parent, child.name);
        if (this.#createdInLayer && !this.#createdInLayer.has(path)) this.#remove(path);
      }
      return;
    }
    if (name.startsWith(WHITEOUT)) {
      const hidden = name.slice(WHITEOUT.length);
      if (hidden === "" || hidden === "." || hidden === "..") {
        throw unsafe(entry.name, "whiteouts nothing");
      }
      this.stats.whiteouts++;
      this.#remove(join(parent, hidden));
      return;
    }
    const path = join(parent, name);
    const absolute = this.#absolute(path);
    const mode = entry.mode & 0o777;
    switch (entry.type) {
      case "directory":
        this.#makeDirectory(path, mode);
        this.stats.directories++;
        break;
      case "file":
        await this.#writeFile(path, entry, mode);
        this.stats.files++;
        break;
      case "symlink":
        this.#create(path, () => Deno.symlinkSync(entry.linkName, absolute));
        this.stats.symlinks++;
        break;
      case "hardlink": {
        const targetParts = entryParts(entry.linkName);
        if (targetParts.length === 0) throw unsafe(entry.name, "is a hard link to the root");
        const targetDir = this.#resolveDirectory(targetParts.slice(0, -1), entry.linkName);
        const target = this.#absolute(join(targetDir, targetParts[targetParts.length - 1]));
        if (!lstatOrUndefined(target)?.isFile) {
          throw unsafe(entry.name, `links to ${entry.linkName}, which is not a file`);
        }
        this.#create(path, () => Deno.linkSync(target, absolute));
        this.stats.hardlinks++;
        break;
      }
      default:
        if (this.stats.skipped.length < MAX_SKIPPED_NAMES) this.stats.skipped.push(entry.name);
        this.stats.skippedCount++;
        return;
    }
    this.#createdInLayer?.add(path);
  }

  /**
   * Makes the directory `path`, or keeps the one there, and sets its mode on it (no link is
   * followed: `mkdir` does not follow one, and an existing entry is checked with `lstat` before
   * `chmod`). A mode that would stop it from being filled waits for {@linkcode finish}, and the
   * directory stays open meanwhile.
   */
  #makeDirectory(path: string, mode: number): void {
    const absolute = this.#absolute(path);
    // A lower layer's folder is kept; anything else there is replaced.
    if (!createdNew(() => Deno.mkdirSync(absolute)) && !lstatOrUndefined(absolute)?.isDirectory) {
      this.#remove(path);
      Deno.mkdirSync(absolute);
    }
    const readOnly = (mode & OWNER_WRITE_SEARCH) !== OWNER_WRITE_SEARCH;
    Deno.chmodSync(absolute, readOnly ? mode | 0o700 : mode);
    if (readOnly) this.#pendingModes.set(path, mode);
    else this.#pendingModes.delete(path);
  }

  /**
   * Runs `make`, which creates `path` and fails with `AlreadyExists` if anything is there (an
   * exclusive `open`, `symlink`, `link`: none follows a link at the last component). What is
   * there (a lower layer's file, link or folder) is removed, and `make` runs once more. Trying
   * first spares a failing `lstat` for each new path, which is most of them.
   */
  #create(path: string, make: () => void): void {
    if (createdNew(make)) return;
    this.#remove(path);
    make();
  }

  /** Removes `path` and forgets every pending mode at it or below it. */
  #remove(path: string): void {
    try {
      Deno.removeSync(this.#absolute(path), { recursive: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    for (const pending of this.#pendingModes.keys()) {
      if (pending === path || pending.startsWith(`${path}/`)) this.#pendingModes.delete(pending);
    }
    this.#lastResolved = undefined;
  }

  async #writeFile(path: string, entry: TarReadEntry, mode: number): Promise<void> {
    if (this.stats.bytes + entry.size > this.#maxSize) throw tooLarge(this.#maxSize, entry.name);
    const absolute = this.#absolute(path);
    let file!: Deno.FsFile;
    this.#create(path, () => {
      file = Deno.openSync(absolute, { write: true, createNew: true, mode: 0o600 });
    });
    try {
      for await (const chunk of entry.body) {
        let offset = 0;
        while (offset < chunk.length) offset += file.writeSync(chunk.subarray(offset));
      }
      file.utimeSync(entry.mtime, entry.mtime);
    } finally {
      file.close();
    }
    // The file was just made with createNew, so nothing but it can be at this path.
    Deno.chmodSync(absolute, mode);
    this.stats.bytes += entry.size;
  }

  #absolute(relative: string): string {
    return relative === "" ? this.root : `${this.root}/${relative}`;
  }

  /**
   * The real folder, relative to the root, that `parts` names inside the root, creating
   * missing folders and following symlinks within the root.
   */
  #resolveDirectory(parts: string[], entryName: string): string {
    const key = parts.join("/");
    if (this.#lastResolved?.key === key) return this.#lastResolved.path;
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
      const path = [...resolved, part].join("/");
      const info = lstatOrUndefined(this.#absolute(path));
      if (info?.isSymlink) {
        if (++hops > MAX_SYMLINK_HOPS) throw unsafe(entryName, "has too many levels of symlinks");
        const target = Deno.readLinkSync(this.#absolute(path));
        // An absolute target means the root, as inside a container.
        if (target.startsWith("/")) resolved.length = 0;
        pending.unshift(...target.split("/").filter((p) => p !== "" && p !== "."));
        continue;
      }
      if (!info?.isDirectory) {
        // A later layer may turn a file into a folder.
        if (info) this.#remove(path);
        Deno.mkdirSync(this.#absolute(path), { mode: 0o755 });
        this.#createdInLayer?.add(path);
      }
      resolved.push(part);
    }
    const path = resolved.join("/");
    this.#lastResolved = { key, path };
    return path;
  }
}

/**
 * A decompressed layer's bytes, counted into `counter` (all layers of an unpack together) and
 * refused past `maxSize`; see {@linkcode Unpacker.meter}.
 */
export function meteredLayer(
  tar: AsyncIterable<Uint8Array>,
  counter: { bytes: number },
  maxSize: number,
): AsyncGenerator<Uint8Array> {
  return countedBytes(tar, counter, maxSize, () => tooLarge(maxSize, "the layers"));
}

/** The error of extracting more than `maxSize` bytes. */
export function tooLarge(maxSize: number, what: string): UnsafeContentError {
  return new UnsafeContentError(
    `extracting ${what} would write more than the limit of ${maxSize} bytes`,
    { hint: "raise the size limit if the image is really this large", option: "maxExtractSize" },
  );
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

function join(parent: string, name: string): string {
  return parent === "" ? name : `${parent}/${name}`;
}

function unsafe(name: string, why: string): UnsafeContentError {
  return new UnsafeContentError(`refusing layer entry "${name}": it ${why}`);
}

/** Runs `make`; false when it failed because something is at its path already. */
function createdNew(make: () => void): boolean {
  try {
    make();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  }
}

function lstatOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}
