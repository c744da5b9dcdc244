/**
 * Writes an archive file deterministically and atomically: the entries in the
 * order given, each with fixed metadata (mtime 0, uid and gid 0, no owner
 * names, mode 0644 for files and 0755 for folders), by the project's tar
 * writer (`tar/writer.ts`), to a temporary file that is renamed into place
 * (`fs/atomic.ts`). The same content gives the same bytes, and a failure
 * leaves the old file as it was.
 *
 * @example
 * ```ts
 * import { writeArchive } from "./write.ts";
 * const bytes = new TextEncoder().encode('{"imageLayoutVersion":"1.0.0"}');
 * await writeArchive("app.tar", [
 *   { name: "oci-layout", size: bytes.length, open: () => Promise.resolve([bytes]) },
 *   { name: "blobs/" },
 * ]);
 * ```
 * @module
 */
import { writeFileAtomic } from "../fs/atomic.ts";
import type { TarEntry } from "../tar/writer.ts";
import { tarStream } from "../tar/writer.ts";

/** One entry of an archive to write: a folder when its name ends with `/`, else a file. */
export interface ArchiveFile {
  /** The path inside the archive; folders end with `/`. */
  name: string;
  /** A file's size in bytes. */
  size?: number;
  /**
   * Opens a file's content, which must be exactly `size` bytes. Called when the entry is
   * written, so only one file is open at a time.
   */
  open?: () => Promise<AsyncIterable<Uint8Array> | Iterable<Uint8Array>>;
}

/** The mode of every file, and of every folder, of an archive written here. */
export const FILE_MODE = 0o644;
/** See {@linkcode FILE_MODE}. */
export const FOLDER_MODE = 0o755;

/** Options of {@linkcode writeArchive}. */
export interface WriteArchiveOptions {
  /**
   * Called once every byte is written, before the new file replaces `path`; what it throws
   * stops the write, and `path` is left untouched. The last moment to check that `path` is
   * still what the archive was made from.
   */
  beforeReplace?: () => void | Promise<void>;
}

/**
 * Writes `files` as a tar archive at `path`, atomically. The content of each file is streamed
 * from its `open` when its turn comes; an error from one (a blob that fails its digest), or
 * from `options.beforeReplace`, stops the write and leaves `path` untouched.
 *
 * @throws {UnsafeContentError} when a file's content is not its `size`.
 * @example
 * ```ts
 * import { writeArchive } from "./write.ts";
 * await writeArchive("empty.tar", []); // two zero blocks
 * await writeArchive("empty.tar", [], {
 *   beforeReplace: async () => console.log("written, not yet in place"),
 * });
 * ```
 */
export async function writeArchive(
  path: string,
  files: Iterable<ArchiveFile> | AsyncIterable<ArchiveFile>,
  options: WriteArchiveOptions = {},
): Promise<void> {
  const bytes = tarStream(tarEntries(files), { mtime: 0 });
  await writeFileAtomic(
    path,
    options.beforeReplace ? endingWith(bytes, options.beforeReplace) : bytes,
  );
}

/** `bytes`, then a call to `last`: `writeFileAtomic` renames only once the bytes have ended. */
async function* endingWith(
  bytes: AsyncIterable<Uint8Array>,
  last: () => void | Promise<void>,
): AsyncGenerator<Uint8Array> {
  yield* bytes;
  await last();
}

async function* tarEntries(
  files: Iterable<ArchiveFile> | AsyncIterable<ArchiveFile>,
): AsyncGenerator<TarEntry> {
  for await (const file of files) {
    if (file.name.endsWith("/")) {
      yield { name: file.name, type: "directory", mode: FOLDER_MODE };
      continue;
    }
    const open = file.open;
    yield {
      name: file.name,
      type: "file",
      mode: FILE_MODE,
      size: file.size ?? 0,
      body: open && (async function* () {
        yield* await open();
      }),
    };
  }
}
