/**
 * An index of a tar file on disk: where each entry's content starts and how
 * long it is, so that one entry is read later as a byte range of the file,
 * without extracting anything. Archives of images are often gigabytes; reading
 * a blob out of one must cost that blob's bytes, not the archive's.
 *
 * The headers are parsed by the project's streaming reader (`tar/reader.ts`),
 * fed from a source that reads header blocks from the file and stands in
 * zeros for the content it skips: only headers are read from disk.
 *
 * @example
 * ```ts
 * import { indexTar, openEntry } from "./tar_index.ts";
 * const index = await indexTar("app.tar", { links: "refuse" });
 * const entry = index.entries.get("index.json");
 * if (entry) console.log(await new Response(await openEntry(index, entry)).text());
 * ```
 * @module
 */
import { IntegrityError, OcisyncError, UnsafeContentError } from "../errors/mod.ts";
import { FILE_READ_SIZE, openLookedAt, readPiece, readUpTo } from "../fs/read.ts";
import { fileKind } from "../fs/stat.ts";
import { readTar, type TarEntryType } from "../tar/reader.ts";
import { BLOCK_SIZE } from "../tar/writer.ts";

/** One entry of an indexed tar file. */
export interface TarIndexEntry {
  /** The path, without a leading `./` or a trailing `/`. */
  name: string;
  /** What the entry is; devices and fifos never get into an index. */
  type: Exclude<TarEntryType, "other">;
  /** Where the content starts in the file, in bytes. */
  offset: number;
  /** The content's length in bytes. */
  size: number;
  /** The target of a link, as stored. */
  linkName: string;
}

/** A tar file's entries, and the file they were read from. */
export interface TarIndex {
  /** The tar file. */
  path: string;
  /** The entries by name, in archive order. */
  entries: Map<string, TarIndexEntry>;
  /** The file's size and identity when indexed, to notice a file replaced or changed since. */
  identity: FileIdentity;
}

/** Options of {@linkcode indexTar}. */
export interface IndexTarOptions {
  /**
   * `refuse`: a symlink or hard link makes the archive unsafe (an OCI layout has none).
   * `keep`: links are indexed, for {@linkcode followLinks} to resolve inside the archive.
   */
  links: "refuse" | "keep";
}

/** What identifies a file's content well enough to notice it was replaced or rewritten. */
interface FileIdentity {
  size: number;
  ino: number | null;
  dev: number;
  mtimeMs: number | undefined;
}

/**
 * The most entries an archive's index holds. An image archive has a few per blob; a tar of
 * millions of empty entries would only fill memory with the index.
 */
export const MAX_ARCHIVE_ENTRIES = 1_000_000;
/**
 * The longest entry name or link target an archive's index holds: PATH_MAX, far above any name
 * an image archive uses (`blobs/sha512/<128 hex>`). The tar reader takes names up to 1 MiB, and
 * the index keeps each: a million such names would fill memory with the index alone.
 */
const MAX_ARCHIVE_NAME = 4096;
/** The most symlinks followed for one name, as Linux's MAXSYMLINKS. */
const MAX_LINKS = 40;
/** Zeros that stand in for skipped content, a MiB at a time; never read from disk. */
const ZEROS = new Uint8Array(1024 * 1024);

/**
 * Reads the headers of the tar file at `path` and returns where each entry's content lies.
 * Names are checked as an extraction would check them, though nothing is extracted: an
 * absolute name, a `..` component, a device or fifo, or a second file of the same name makes
 * the archive unsafe, and so does any link when `options.links` is `refuse`.
 *
 * Errors of opening the file (`Deno.errors.NotFound`) pass as they are, for the caller to word.
 *
 * @throws {IntegrityError} when `path` is no regular file (a fifo, a device, a folder), refused
 * before it is opened: opening a fifo waits for a writer.
 * @throws {UnsafeContentError} when the archive is corrupt, truncated, or unsafe as above
 * (extended headers are bounded by the tar reader), or has more than
 * {@linkcode MAX_ARCHIVE_ENTRIES} entries.
 * @example
 * ```ts
 * import { indexTar } from "./tar_index.ts";
 * const index = await indexTar("app.tar", { links: "refuse" });
 * console.log([...index.entries.keys()]); // ["oci-layout", "index.json", "blobs/sha256/…"]
 * ```
 */
export async function indexTar(path: string, options: IndexTarOptions): Promise<TarIndex> {
  const { file, info } = await openLookedAt(path, (found) => {
    if (found.isFile) return;
    const stream = found.isFifo || found.isCharDevice;
    throw new IntegrityError(`${path} is a ${fileKind(found)}, not a regular file`, {
      hint: stream ? "an archive is read from a file: save the stream to one first" : undefined,
    });
  });
  try {
    const entries = new Map<string, TarIndexEntry>();
    // The reader takes what the source yields; `position` counts it. A header block is read
    // from disk and handed over whole, so when an entry comes out, everything handed over has
    // been consumed and `position` is where its content starts. Its content (and padding) is
    // then handed over as zeros, which the reader skips, instead of being read.
    let position = 0;
    let skip = 0;
    let count = 0;
    const source = async function* (): AsyncGenerator<Uint8Array> {
      while (true) {
        if (skip > 0) {
          const chunk = ZEROS.subarray(0, Math.min(skip, ZEROS.length));
          skip -= chunk.length;
          position += chunk.length;
          yield chunk;
          continue;
        }
        // Synchronous, as the file is regular: two trips through the thread pool per entry
        // took about 60 ms to open an archive of 1,000 blobs.
        file.seekSync(position, Deno.SeekMode.Start);
        const block = await readUpTo(file, BLOCK_SIZE, true);
        if (block.length === 0) return;
        position += block.length;
        yield block;
      }
    };
    for await (const entry of readTar(source())) {
      const offset = position;
      if (++count > MAX_ARCHIVE_ENTRIES) {
        throw new UnsafeContentError(
          `${path} has more than ${MAX_ARCHIVE_ENTRIES} entries; an image archive has a few ` +
            "per blob",
        );
      }
      for (const [what, text] of [["name", entry.name], ["link target", entry.linkName]]) {
        if ((text?.length ?? 0) <= MAX_ARCHIVE_NAME) continue;
        throw new UnsafeContentError(
          `${path}: an entry's ${what} is ${text!.length} characters long, over the ` +
            `${MAX_ARCHIVE_NAME} that a path may have; an image archive names no file so`,
        );
      }
      const name = checkedName(path, entry.name);
      if (offset + entry.size > info.size) {
        throw new UnsafeContentError(`${path} is truncated: ${entry.name} ends past the file`);
      }
      // The last entry's padding may be missing; the reader accepts that, as GNU tar does.
      skip = Math.min(Math.ceil(entry.size / BLOCK_SIZE) * BLOCK_SIZE, info.size - offset);
      if (name === undefined) continue; // "./", the archive's root
      if (entry.type === "other") {
        throw new UnsafeContentError(
          `${path}: entry ${JSON.stringify(entry.name)} is a device or fifo (type ` +
            `${JSON.stringify(entry.typeFlag)}); an image archive holds only files and folders`,
        );
      }
      if ((entry.type === "symlink" || entry.type === "hardlink") && options.links === "refuse") {
        throw new UnsafeContentError(
          `${path}: entry ${JSON.stringify(entry.name)} is a link to ` +
            `${JSON.stringify(entry.linkName)}; an OCI image layout holds no links`,
        );
      }
      const known = entries.get(name);
      if (known && !(known.type === "directory" && entry.type === "directory")) {
        // Extraction would keep the later one; which one a reader sees must not be ambiguous.
        throw new UnsafeContentError(`${path}: entry ${JSON.stringify(name)} appears twice`);
      }
      entries.set(name, {
        name,
        type: entry.type,
        offset,
        size: entry.size,
        linkName: entry.linkName,
      });
    }
    return { path, entries, identity: identityOf(info) };
  } finally {
    file.close();
  }
}

/**
 * The content of one entry from its byte `from` (default its first), read from the tar file as
 * a byte range. The file is checked to be the one that was indexed, so that a file replaced
 * since cannot hand out another's bytes. Verify the bytes against a digest as they stream: the
 * index knows only where they are.
 *
 * @throws {OcisyncError} when the file was replaced or changed since it was indexed.
 * @example
 * ```ts
 * import { indexTar, openEntry } from "./tar_index.ts";
 * const index = await indexTar("app.tar", { links: "refuse" });
 * const stream = await openEntry(index, index.entries.get("oci-layout")!);
 * ```
 */
export async function openEntry(
  index: TarIndex,
  entry: TarIndexEntry,
  from = 0,
): Promise<ReadableStream<Uint8Array>> {
  const unchanged = (info: Deno.FileInfo) => {
    if (!sameFile(identityOf(info), index.identity)) {
      throw new OcisyncError(`${index.path} changed after it was opened: open it again`);
    }
  };
  // Looked at before it is opened: a fifo put in its place would be waited on.
  const { file, info } = await openLookedAt(index.path, unchanged);
  let open = true;
  const close = () => {
    if (open) file.close();
    open = false;
  };
  try {
    unchanged(info);
    await file.seek(entry.offset + from, Deno.SeekMode.Start);
  } catch (error) {
    close();
    throw error;
  }
  let remaining = Math.max(0, entry.size - from);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (remaining === 0) {
        close();
        controller.close();
        return;
      }
      try {
        const chunk = await readPiece(file, Math.min(FILE_READ_SIZE, remaining), info.isFile);
        if (chunk === null) throw new UnsafeContentError(`${index.path} is truncated`);
        remaining -= chunk.length;
        controller.enqueue(chunk);
      } catch (error) {
        close();
        controller.error(error);
      }
    },
    cancel: close,
  });
}

/**
 * The regular-file entry that `name` leads to, following symlinks and hard links inside the
 * archive: a symlink's target is relative to its folder, a hard link's to the archive's root,
 * and neither may climb above the root. `undefined` when nothing is there.
 *
 * @throws {UnsafeContentError} when a link leads outside the archive, or links loop.
 * @example
 * ```ts
 * import { followLinks, indexTar } from "./tar_index.ts";
 * const index = await indexTar("docker.tar", { links: "keep" });
 * const layer = followLinks(index, "0123/layer.tar"); // the entry "../<hex>.tar" points to
 * ```
 */
export function followLinks(index: TarIndex, name: string): TarIndexEntry | undefined {
  let current = normalise(index.path, name, name);
  for (let hops = 0; hops <= MAX_LINKS; hops++) {
    const entry = current === undefined ? undefined : index.entries.get(current);
    if (entry === undefined || entry.type === "file" || entry.type === "directory") return entry;
    const base = entry.type === "symlink" ? entry.name.split("/").slice(0, -1).join("/") : "";
    if (entry.linkName.startsWith("/")) {
      throw new UnsafeContentError(
        `${index.path}: link ${JSON.stringify(entry.name)} points outside the archive`,
      );
    }
    current = normalise(index.path, name, base ? `${base}/${entry.linkName}` : entry.linkName);
  }
  throw new UnsafeContentError(`${index.path}: the links from ${JSON.stringify(name)} loop`);
}

/**
 * A path inside the archive with `.` and `..` resolved; `..` may not climb above the root.
 * `undefined` for the root itself.
 */
function normalise(path: string, shown: string, name: string): string | undefined {
  const parts: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part !== "..") parts.push(part);
    else if (parts.pop() === undefined) {
      throw new UnsafeContentError(
        `${path}: ${JSON.stringify(shown)} leads outside the archive`,
      );
    }
  }
  return parts.length === 0 ? undefined : parts.join("/");
}

/**
 * An entry's name as the index keys it, without `./` or a trailing `/`; `undefined` for the
 * root. Absolute names and `..` components are refused, as an extraction would refuse them.
 */
function checkedName(path: string, name: string): string | undefined {
  const unsafe = (why: string): never => {
    throw new UnsafeContentError(`${path}: entry ${JSON.stringify(name)} ${why}`);
  };
  if (name.startsWith("/") || /^[A-Za-z]:[\\/]/.test(name)) unsafe("is an absolute path");
  const parts = name.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.includes("..")) unsafe("has a .. component");
  if (name.includes("\\")) unsafe("has a backslash"); // a separator on Windows
  return parts.length === 0 ? undefined : parts.join("/");
}

function identityOf(info: Deno.FileInfo): FileIdentity {
  return { size: info.size, ino: info.ino, dev: info.dev, mtimeMs: info.mtime?.getTime() };
}

/**
 * Whether two `stat`s are of the same file, unchanged: device, inode, size and mtime, as an
 * index records an archive's identity.
 *
 * @example
 * ```ts
 * import { sameUnchangedFile } from "./tar_index.ts";
 * sameUnchangedFile(await Deno.stat("app.tar"), await Deno.stat("app.tar")); // true
 * ```
 */
export function sameUnchangedFile(a: Deno.FileInfo, b: Deno.FileInfo): boolean {
  return sameFile(identityOf(a), identityOf(b));
}

function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.size === b.size && a.ino === b.ino && a.dev === b.dev && a.mtimeMs === b.mtimeMs;
}
