/**
 * Applies layers to a folder, safely. Entries are resolved inside the root
 * the way a container runtime resolves them in a root file system: an
 * absolute symlink target means the root, and a path that would leave the
 * root, by `..`, an absolute name or a symlink, is refused. Symlinks are kept
 * as stored, whatever they point at: they are data, never followed out of the
 * root while unpacking. OCI whiteouts delete inside the root only. Devices and
 * fifos are not created; setuid and setgid bits are dropped (a folder keeps its sticky bit).
 *
 * Metadata is applied to the entry that is there at that moment, never
 * through a symlink. Until {@linkcode Unpacker.finish}, no folder the
 * unpacker makes is writable by group or others: otherwise another user could
 * rename what is in it, or put a link in its place, while paths below it are
 * still being resolved and written. A directory's mode is set when it is
 * made, but a mode that lets group or others write, or that would stop the
 * directory from being filled (no owner write or search bit), waits for
 * `finish`, which checks the directory again, without following links,
 * before it applies it. Whatever a later entry or a whiteout replaces takes
 * its pending mode with it. A file's mode is set when it is created, or else
 * on a descriptor checked to be that file, never by path; group or others'
 * write bits on a file let them change only its content, as they may after.
 *
 * Each entry is created exclusively: an `open` with `O_EXCL`, a `mkdir`, a
 * `symlink` or a `link` fails on anything at its path, a link included,
 * without following it. Only then is what is there looked at and removed, so
 * that a new path, the common case, costs no failing `lstat`; nothing relies
 * on having made a folder earlier in the same run.
 *
 * Something is removed only by a whiteout, or by an entry replacing what is
 * at its own path (a file in the way of its folders included); a hard
 * link's target is looked up, never made.
 *
 * Memory does not grow with the size of a layer. It grows with the entry
 * count only for layers after the first (the paths they created, which an
 * opaque whiteout must spare) and for directories whose mode waits; both are
 * kept as trees of path components (`./path_tree.ts`), a name a path, however
 * deep, and their bytes together are bounded (`maxRetainedBytes`, by default
 * {@linkcode MAX_RETAINED_BYTES}): past it the unpack stops with an
 * {@linkcode UnsafeContentError}.
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
import { chmodIfSame } from "../fs/modes.ts";
import { UnsafeContentError } from "../errors/mod.ts";
import { countedBytes } from "../streams/mod.ts";
import { lstatOrUndefined } from "../fs/stat.ts";
import type { TarReadEntry } from "../tar/reader.ts";
import { boundOf, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_EXTRACT_BYTES } from "./limits.ts";
import { MAX_RETAINED_BYTES, PathTree, RetainedBudget } from "./path_tree.ts";

/** Options of {@linkcode Unpacker}. */
export interface UnpackOptions {
  /**
   * The most bytes all layers together may decompress to; a decompression bomb stops here.
   * Count the tar bytes with {@linkcode Unpacker.meter}; file sizes are checked against it
   * before anything is written. Default {@linkcode DEFAULT_MAX_EXTRACT_BYTES} (32 GiB), as the
   * command line's; not a number of 0 or more is refused.
   */
  maxSize?: number;
  /**
   * The most tar entries all layers together may hold, whiteouts and skipped ones included.
   * Default {@linkcode DEFAULT_MAX_ENTRIES}.
   */
  maxEntries?: number;
  /**
   * The most bytes of memory that what the unpack keeps about paths may take: the paths that
   * each layer after the first makes, which an opaque whiteout must spare, and the directories
   * whose mode waits for {@linkcode Unpacker.finish}. Default {@linkcode MAX_RETAINED_BYTES}.
   */
  maxRetainedBytes?: number;
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
/** The group's and others' write bits: with either, someone else may change what is inside. */
const GROUP_OTHER_WRITE = 0o022;

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
  /** What the trees below hold together, bounded by `maxRetainedBytes`. */
  readonly #retained: RetainedBudget;
  /** Directory modes that wait for {@linkcode finish}, by path below the root. */
  readonly #pendingModes: PathTree;
  /**
   * The last parent folder resolved: most entries share their parent with the one before. Only
   * this unpacker can change what its folders hold (nobody else may write to them before
   * `finish`), and each of its removals forgets this.
   */
  #lastResolved?: { key: string; path: string };
  /**
   * Paths the current layer created, which an opaque whiteout must spare. The first layer
   * needs none: everything below it was created by it.
   */
  #createdInLayer?: PathTree;
  #layers = 0;

  /** `root` must be an existing, empty folder. */
  constructor(root: string, options: UnpackOptions = {}) {
    this.root = root.replace(/\/+$/, "");
    this.#maxSize = boundOf(options.maxSize, DEFAULT_MAX_EXTRACT_BYTES, "maxSize");
    this.#maxEntries = boundOf(options.maxEntries, DEFAULT_MAX_ENTRIES, "maxEntries");
    this.#retained = new RetainedBudget(
      boundOf(options.maxRetainedBytes, MAX_RETAINED_BYTES, "maxRetainedBytes"),
    );
    this.#pendingModes = new PathTree(this.#retained);
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
    this.#createdInLayer = this.#layers++ === 0 ? undefined : new PathTree(this.#retained);
    try {
      for await (const entry of entries) await this.#applyEntry(entry);
    } finally {
      this.#createdInLayer?.clear();
      this.#createdInLayer = undefined;
    }
  }

  /**
   * Sets the directory modes that waited, deepest first. Call once, after the last layer.
   * Each path is checked, without following links, to be the directory that was made there.
   * Deepest first (each folder after every folder below it), so that what lies below a folder
   * is done before others may write to it: the folders above a path still refuse them while
   * its mode is set.
   */
  finish(): void {
    const root = Deno.realPathSync(this.root);
    try {
      for (const [relative, mode] of this.#pendingModes.deepestFirst()) {
        const path = `${this.root}/${relative}`;
        // Removals forget pending modes, so this holds; it is checked again because the
        // alternative is a chmod that follows a link out of the root.
        if (
          !lstatOrUndefined(path)?.isDirectory ||
          Deno.realPathSync(path) !== `${root}/${relative}`
        ) {
          throw new UnsafeContentError(`refusing to set the mode of ${relative}: it was replaced`);
        }
        Deno.chmodSync(path, mode);
      }
    } finally {
      this.#pendingModes.clear();
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
    // A whiteout hides what is there and makes nothing: where its folder is missing, or is a
    // file, nothing is there to hide, and that file stays.
    const whiteout = name === OPAQUE || name.startsWith(WHITEOUT);
    const hidden = name.slice(WHITEOUT.length);
    if (name !== OPAQUE && whiteout && (hidden === "" || hidden === "." || hidden === "..")) {
      throw unsafe(entry.name, "whiteouts nothing");
    }
    const parent = whiteout
      ? this.#whiteoutFolder(parts.slice(0, -1), entry.name)
      : this.#resolveDirectory(parts.slice(0, -1), entry.name);
    if (parent === undefined) {
      this.stats.whiteouts++;
      return;
    }

    if (name === OPAQUE) {
      this.stats.whiteouts++;
      if (this.#createdInLayer) this.#removeLower(parent, this.#createdInLayer);
      return;
    }
    if (whiteout) {
      this.stats.whiteouts++;
      this.#remove(join(parent, hidden));
      return;
    }
    const path = join(parent, name);
    const absolute = this.#absolute(path);
    // A folder keeps its sticky bit, which only narrows who may remove its entries: a `/tmp` of
    // 1777 without it would let any user remove or replace the others' files there.
    const mode = entry.mode & (entry.type === "directory" ? 0o1777 : 0o777);
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
        const notAFile = () =>
          unsafe(entry.name, `links to ${entry.linkName}, which is not a file`);
        const targetDir = this.#resolveDirectory(
          targetParts.slice(0, -1),
          entry.linkName,
          notAFile,
        );
        const targetPath = join(targetDir, targetParts[targetParts.length - 1]);
        // Its own name by another way (through a link to its folder): making the link would
        // first remove the file it links to.
        if (targetPath === path) throw unsafe(entry.name, "is a hard link to itself");
        const target = this.#absolute(targetPath);
        if (!lstatOrUndefined(target)?.isFile) throw notAFile();
        this.#create(path, () => Deno.linkSync(target, absolute));
        this.stats.hardlinks++;
        break;
      }
      default:
        if (this.stats.skipped.length < MAX_SKIPPED_NAMES) this.stats.skipped.push(entry.name);
        this.stats.skippedCount++;
        return;
    }
    this.#createdInLayer?.set(path, 0);
  }

  /**
   * Makes the directory `path`, or keeps the one there, and sets its mode on it (no link is
   * followed: `mkdir` does not follow one, and an existing entry is checked with `lstat` before
   * `chmod`, with nobody else able to replace it in between). A mode that others may write
   * through, or that would stop it from being filled, waits for {@linkcode finish}; meanwhile
   * the directory has {@linkcode modeWhileUnpacking}.
   */
  #makeDirectory(path: string, mode: number): void {
    const absolute = this.#absolute(path);
    // Private from the start, whatever the umask. A lower layer's folder is kept; anything else
    // there is replaced.
    const make = () => Deno.mkdirSync(absolute, { mode: 0o700 });
    if (!createdNew(make) && !lstatOrUndefined(absolute)?.isDirectory) {
      this.#remove(path);
      make();
    }
    const meanwhile = modeWhileUnpacking(mode);
    Deno.chmodSync(absolute, meanwhile);
    if (meanwhile === mode) this.#pendingModes.unset(path);
    else this.#pendingModes.set(path, mode);
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

  /**
   * Removes from the folder `dir` everything that the current layer did not create, at any
   * depth: what an opaque whiteout hides. The folders it did create are entered, since a lower
   * layer's files may be in them; `readDir` does not follow links, so only real folders are.
   */
  #removeLower(dir: string, created: PathTree): void {
    for (const child of Deno.readDirSync(this.#absolute(dir))) {
      const path = join(dir, child.name);
      if (!created.has(path)) this.#remove(path);
      else if (child.isDirectory) this.#removeLower(path, created);
    }
  }

  /**
   * Removes `path` and forgets every pending mode at it or below it, and that the layer made
   * what was there: only this layer can make something there again, and then it is noted again.
   */
  #remove(path: string): void {
    try {
      Deno.removeSync(this.#absolute(path), { recursive: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    this.#pendingModes.delete(path);
    this.#createdInLayer?.delete(path);
    this.#lastResolved = undefined;
  }

  /**
   * Writes the file `path`. It is made with its mode and the owner's read and write bits, so
   * that for most modes (0644, 0755…) nothing is left to do; else the umask took bits or the
   * owner's were added, and `#setMode` sets the mode on this file. A mode that lets
   * group or others write is set at once: it lets them change this file's content, as its
   * final mode will, but not rename or replace anything.
   */
  async #writeFile(path: string, entry: TarReadEntry, mode: number): Promise<void> {
    if (this.stats.bytes + entry.size > this.#maxSize) throw tooLarge(this.#maxSize, entry.name);
    const absolute = this.#absolute(path);
    let file!: Deno.FsFile;
    this.#create(path, () => {
      file = Deno.openSync(absolute, { write: true, createNew: true, mode: mode | 0o600 });
    });
    try {
      for await (const chunk of entry.body) {
        let offset = 0;
        while (offset < chunk.length) offset += file.writeSync(chunk.subarray(offset));
      }
      file.utimeSync(entry.mtime, entry.mtime);
      const made = file.statSync();
      if ((made.mode! & 0o777) !== mode) this.#setMode(path, made, mode);
    } finally {
      file.close();
    }
    this.stats.bytes += entry.size;
  }

  /**
   * Sets the mode of the file `made`, which is open and at `path`, with `fchmod`: Deno's
   * `FsFile` has none, so the path is opened again with `node:fs`, without following a link,
   * and the mode is set only if what it opened is that file. Nothing is changed by path.
   */
  #setMode(path: string, made: Deno.FileInfo, mode: number): void {
    if (!chmodIfSame(this.#absolute(path), made, mode)) {
      throw new UnsafeContentError(`refusing to set the mode of ${path}: it was replaced`);
    }
  }

  #absolute(relative: string): string {
    return relative === "" ? this.root : `${this.root}/${relative}`;
  }

  /**
   * The real folder of a whiteout, as {@linkcode #resolveDirectory} finds it, or `undefined`
   * when it is not there (missing, or a file): nothing is made or replaced for a whiteout.
   */
  #whiteoutFolder(parts: string[], entryName: string): string | undefined {
    const notThere = new UnsafeContentError(`${entryName}: its folder is not there`);
    try {
      return this.#resolveDirectory(parts, entryName, () => notThere);
    } catch (error) {
      if (error === notThere) return undefined;
      throw error;
    }
  }

  /**
   * The real folder, relative to the root, that `parts` names inside the root, following
   * symlinks within the root. Missing folders are made, and a file that the entry's own name
   * passes through is replaced by a folder; a file reached through a link's target is refused,
   * as the entry does not name it. With `notFound` (a hard link's target, which must exist; a
   * whiteout's folder, which is not made) nothing is made or replaced: a missing folder, or a
   * file, throws what it returns.
   */
  #resolveDirectory(
    parts: string[],
    entryName: string,
    notFound?: () => UnsafeContentError,
  ): string {
    const key = parts.join("/");
    if (this.#lastResolved?.key === key) return this.#lastResolved.path;
    const resolved: string[] = [];
    const pending = [...parts];
    // The last `own` parts pending are the entry's; those before them come from links.
    let own = parts.length;
    let hops = 0;
    while (pending.length) {
      const fromLink = pending.length > own;
      const part = pending.shift()!;
      if (!fromLink) own--;
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
        if (notFound) throw notFound();
        if (info && fromLink) throw unsafe(entryName, `passes through ${path}, which is a file`);
        // A later layer may turn a file into a folder.
        if (info) this.#remove(path);
        Deno.mkdirSync(this.#absolute(path), { mode: 0o755 });
        this.#createdInLayer?.set(path, 0);
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

/**
 * The mode a directory has until {@linkcode Unpacker.finish}: its own, open to its owner if it
 * would not be fillable, and closed to the writes of group and others.
 */
function modeWhileUnpacking(mode: number): number {
  const fillable = (mode & OWNER_WRITE_SEARCH) === OWNER_WRITE_SEARCH ? mode : mode | 0o700;
  return fillable & ~GROUP_OTHER_WRITE;
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
