/**
 * An image layout that this process created, taken back when the run that created it writes
 * nothing into it: a copy or push that fails (or is stopped by a signal) leaves no new, empty
 * layout behind. It is this run's only while its folder is the one made here, or the empty
 * folder found there (device and inode), and it goes only while, under the layout's lock,
 * `index.json` lists no manifest and the folder holds nothing but a layout's files: another
 * writer's tag keeps it, and so does anything else put into it. The parent folders the run made
 * for it (`mkdir -p`) go too, each only while it is empty; a folder that was there stays, empty
 * again.
 *
 * @example
 * ```ts
 * import { createLayout, removeUntouchedLayout } from "./created.ts";
 * const created = await createLayout("./out/images");
 * // …a copy that fails before it lists anything…
 * if (created) removeUntouchedLayout(created); // ./out/images and ./out are gone
 * ```
 * @module
 */
import { type MadeFolder, makeFolders, removeMadeFolders } from "../fs/folders.ts";
import { isMarked, markRemoval, unmarkTemporary } from "../fs/interrupted.ts";
import { sameFile, tryLstat } from "../fs/stat.ts";
import { MAX_MANIFEST_BYTES } from "../oci/types.ts";
import { BLOB_ALGORITHMS, initLayout, lockPath } from "./format.ts";

/** A layout this process created: its folder, and the parents made for it. */
export interface CreatedLayout {
  /** The layout's folder. */
  root: string;
  /** Its `lstat` once made, or found empty: its device and inode tell it from another since. */
  info: Deno.FileInfo;
  /**
   * The folders made, outermost first: the parents that were missing, then `root`; without
   * `root` when it was there, empty, which then stays.
   */
  folders: MadeFolder[];
}

/**
 * Makes `root` an empty image layout, as {@linkcode initLayout} does, and returns what was made
 * when its folder did not exist, or was an empty folder: until {@linkcode releaseCreatedLayout},
 * a stopped process removes it as {@linkcode removeUntouchedLayout} does. `undefined` when the
 * folder held anything (a layout, or a user's files): it is never taken back.
 *
 * @example
 * ```ts
 * import { createLayout } from "./created.ts";
 * const created = await createLayout("./images"); // undefined when ./images held anything
 * ```
 */
export async function createLayout(root: string): Promise<CreatedLayout | undefined> {
  const folders = await makeFolders(root);
  const made = folders.at(-1)?.path === root.replace(/\/+$/, "") ? folders.at(-1)!.info : undefined;
  // An empty folder that another part of this process made and marked (an archive's staging
  // folder) is that part's to take back, whole.
  const info = made ?? (isMarked(root) ? undefined : emptyFolder(root));
  const created = info ? { root, info, folders } : undefined;
  if (created) markRemoval(root, () => removeUntouchedLayout(created));
  try {
    await initLayout(root);
  } catch (error) {
    if (created) releaseCreatedLayout(created);
    throw error;
  }
  return created;
}

/**
 * Ends the run's hold on a layout it created: removes it as {@linkcode removeUntouchedLayout}
 * does, and takes back its removal at a stop. Whether it went is returned.
 *
 * @example
 * ```ts
 * import { createLayout, releaseCreatedLayout } from "./created.ts";
 * const created = await createLayout("./images");
 * if (created) releaseCreatedLayout(created); // true: nothing was listed
 * ```
 */
export function releaseCreatedLayout(created: CreatedLayout): boolean {
  unmarkTemporary(created.root);
  try {
    return removeUntouchedLayout(created);
  } catch {
    return false; // kept: a failed removal must not hide the run's own outcome
  }
}

/**
 * Removes the layout `created` and the parents made for it, when nothing was written into it
 * that anyone could want: its folder is still the one made (device and inode), its lock is free
 * (taken here for the removal, so that no writer lists a manifest meanwhile), `index.json` lists
 * no manifest, and it holds nothing but `oci-layout`, `index.json` and `blobs/<algorithm>/`
 * with blob files. Otherwise everything stays. Synchronous, for a stopped process runs it as it
 * exits. Whether the layout went is returned.
 *
 * @example
 * ```ts
 * import { createLayout, removeUntouchedLayout } from "./created.ts";
 * const created = await createLayout("./images");
 * if (created) removeUntouchedLayout(created);
 * ```
 */
export function removeUntouchedLayout(created: CreatedLayout): boolean {
  const { root, folders } = created;
  const info = tryLstat(root);
  if (!info?.isDirectory || !sameFile(created.info, info)) return false;
  const lock = lockPath(root);
  let held: Deno.FsFile;
  try {
    held = Deno.openSync(lock, { write: true, createNew: true });
  } catch {
    return false; // another writer is changing index.json: what it lists is its own
  }
  try {
    const files = untouchedFiles(root);
    if (files === undefined) return false;
    for (const file of files) Deno.removeSync(file);
  } finally {
    // Removed while it is still the one taken here, whatever else failed.
    if (sameFile(held.statSync(), tryLstat(lock))) Deno.removeSync(lock);
    held.close();
  }
  return removeMadeFolders(folders);
}

/** The `lstat` of `root` when it is a folder (not a link) that holds nothing; else undefined. */
function emptyFolder(root: string): Deno.FileInfo | undefined {
  const info = tryLstat(root);
  if (!info?.isDirectory) return undefined;
  try {
    for (const _ of Deno.readDirSync(root)) return undefined;
  } catch {
    return undefined;
  }
  return info;
}

/**
 * What to remove of the layout at `root`, its folders after what they hold; `undefined` when it
 * lists a manifest or holds anything a new layout would not (a link, another file, a blob's
 * temporary file: a write under way).
 */
function untouchedFiles(root: string): string[] | undefined {
  const files: string[] = [];
  for (const entry of Deno.readDirSync(root)) {
    const path = `${root}/${entry.name}`;
    if (entry.name === "blobs" && entry.isDirectory) {
      const blobs = blobFiles(path);
      if (blobs === undefined) return undefined;
      files.unshift(...blobs);
    } else if (LAYOUT_FILES.includes(entry.name) && entry.isFile) {
      if (entry.name === "index.json" && !listsNothing(path)) return undefined;
      if (entry.name !== "index.json.lock") files.push(path);
    } else {
      return undefined;
    }
  }
  return files;
}

/** The files of a layout's folder; `index.json.lock` is the lock taken for the removal. */
const LAYOUT_FILES = ["oci-layout", "index.json", "index.json.lock"];

/** The blob files of `blobs/`, each folder after its files; `undefined` for anything else. */
function blobFiles(blobs: string): string[] | undefined {
  const files: string[] = [];
  for (const folder of Deno.readDirSync(blobs)) {
    if (!folder.isDirectory || !BLOB_ALGORITHMS.includes(folder.name)) return undefined;
    for (const blob of Deno.readDirSync(`${blobs}/${folder.name}`)) {
      if (!blob.isFile || !/^[0-9a-f]+$/.test(blob.name)) return undefined;
      files.push(`${blobs}/${folder.name}/${blob.name}`);
    }
    files.push(`${blobs}/${folder.name}`);
  }
  files.push(blobs);
  return files;
}

/** Whether the `index.json` at `path` is an index that lists no manifest. */
function listsNothing(path: string): boolean {
  if (Deno.lstatSync(path).size > MAX_MANIFEST_BYTES) return false;
  try {
    const index = JSON.parse(new TextDecoder().decode(Deno.readFileSync(path)));
    return Array.isArray(index?.manifests) && index.manifests.length === 0;
  } catch {
    return false;
  }
}
