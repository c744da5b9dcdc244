/**
 * The staging layout of an archive being written: an OCI image layout in a
 * hidden folder beside the archive file, where pushed blobs and manifests are
 * kept (verified, by `LayoutTarget`) until `close()` writes the archive.
 * Beside the file, so that large blobs stay on its file system, and the
 * archive's temporary file is renamed within one folder.
 *
 * Writers of one archive are serialised by the lock file `FILE.lock` beside it
 * ({@linkcode lockArchive}), as a layout's are by its `index.json.lock`.
 *
 * @example
 * ```ts
 * import { openStaging, removeStaging } from "./staging.ts";
 * const staging = await openStaging("app.tar");
 * console.log(staging.path); // "./.app.tar.k3j2x9.staging"
 * await removeStaging(staging);
 * ```
 * @module
 */
import { LayoutTarget } from "../layout/mod.ts";
import { IntegrityError } from "../errors/mod.ts";
import type { FileLock } from "../fs/lock.ts";
import { MAX_MANIFEST_BYTES } from "../oci/types.ts";
import { openEntry, type TarIndex, type TarIndexEntry } from "./tar_index.ts";

/**
 * Creates a staging layout beside `archive`, named `.<file>.<random>.staging`, making the
 * archive's folder if it does not exist. With `indexJson`, the layout starts with that
 * `index.json`, so that tags pushed next replace or join the archive's own, as they would in a
 * layout.
 *
 * @example
 * ```ts
 * import { openStaging } from "./staging.ts";
 * const staging = await openStaging("out/app.tar");
 * console.log(await staging.listEntries()); // [], a new LayoutTarget
 * ```
 */
export async function openStaging(archive: string, indexJson?: Uint8Array): Promise<LayoutTarget> {
  const { dir, name } = await makeFolder(archive);
  const path = await Deno.makeTempDir({ dir, prefix: `.${name}.`, suffix: ".staging" });
  try {
    if (indexJson) await Deno.writeFile(`${path}/index.json`, indexJson);
    return await LayoutTarget.open(path, { create: true });
  } catch (error) {
    await Deno.remove(path, { recursive: true }).catch(() => {});
    throw error;
  }
}

/**
 * Takes the lock of the archive `archive` for writing: the lock file `<archive>.lock` beside it,
 * making the archive's folder if it does not exist. A writer holds it from reading the archive
 * to renaming the new one into place, so that a second writer waits (up to 30 s, as for a
 * layout's `index.json`), then reads what the first wrote and adds to it; none overwrites
 * another's images. Release it when the archive is written or dropped.
 *
 * @throws {OcisyncError} when another process still holds the lock after 30 s; the message
 * names it. Also when the lock file cannot be created.
 * @example
 * ```ts
 * import { lockArchive } from "./staging.ts";
 * const lock = await lockArchive("out/app.tar"); // out/app.tar.lock
 * await lock.release();
 * ```
 */
export async function lockArchive(archive: string): Promise<FileLock> {
  await makeFolder(archive);
  // Loaded when a writer first needs it, as a layout's lock is: readers never evaluate it.
  const { FileLock } = await import("../fs/lock.ts");
  return await FileLock.acquire(`${archive}.lock`);
}

/** Makes the folder of `archive` if it does not exist, as a new layout's is; its path and the file's name. */
async function makeFolder(archive: string): Promise<{ dir: string; name: string }> {
  const slash = archive.lastIndexOf("/");
  const dir = slash < 0 ? "." : archive.slice(0, slash) || "/";
  await Deno.mkdir(dir, { recursive: true });
  return { dir, name: archive.slice(slash + 1) };
}

/**
 * Removes a staging layout and everything in it; one already gone is fine.
 *
 * @example
 * ```ts
 * import { openStaging, removeStaging } from "./staging.ts";
 * await removeStaging(await openStaging("app.tar"));
 * ```
 */
export async function removeStaging(staging: LayoutTarget): Promise<void> {
  try {
    await Deno.remove(staging.path, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/**
 * The whole content of a small entry (`index.json`, `manifest.json`, a config), refused unread
 * when it is larger than a manifest may be: these are held in memory.
 *
 * @throws {IntegrityError} when the entry is over {@linkcode MAX_MANIFEST_BYTES}.
 * @example
 * ```ts
 * import { indexTar } from "./tar_index.ts";
 * import { readSmallEntry } from "./staging.ts";
 * const index = await indexTar("app.tar", { links: "refuse" });
 * const bytes = await readSmallEntry(index, index.entries.get("index.json")!);
 * ```
 */
export async function readSmallEntry(index: TarIndex, entry: TarIndexEntry): Promise<Uint8Array> {
  if (entry.size > MAX_MANIFEST_BYTES) {
    throw new IntegrityError(
      `${index.path}: ${entry.name} has ${entry.size} bytes, over the limit of ` +
        `${MAX_MANIFEST_BYTES}`,
    );
  }
  return await new Response(await openEntry(index, entry)).bytes();
}
