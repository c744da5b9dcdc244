/**
 * File systems mounted inside a folder, and a removal that never reaches into one: a recursive
 * removal of a folder that holds a mount point deletes the mounted file system's files, which
 * are not the folder's (a data disk, a tmpfs, a network share, a bind mount).
 *
 * Linux lists every mount point in `/proc/self/mounts`, bind mounts included. Deno lets a
 * program read it only with every permission (the ocisync binary has them); without them, or
 * without the file (macOS), a mount point is found as a folder on another device than the folder
 * above it, which misses a bind mount of the folder's own file system.
 *
 * @example
 * ```ts
 * import { mountPointBelow } from "./mounts.ts";
 * console.log(await mountPointBelow(".")); // e.g. "/srv/app/data", or undefined
 * ```
 * @module
 */
import { OcisyncError } from "../errors/mod.ts";

/** Where Linux lists the mounts of this process: source, mount point, type, options, … */
const MOUNT_TABLE = "/proc/self/mounts";

/**
 * A mount point below the folder `path`, or `undefined` when there is none: from the mount table
 * when this process may read it (a real path), else found by the device walk (a path under
 * `path`). A file system mounted on `path` itself does not count. Links are not followed.
 *
 * @example
 * ```ts
 * import { mountPointBelow } from "./mounts.ts";
 * const mounted = await mountPointBelow("./out");
 * if (mounted) console.log(`a file system is mounted at ${mounted}`);
 * ```
 */
export async function mountPointBelow(path: string): Promise<string | undefined> {
  const table = await readMountTable();
  return table === undefined ? await otherDeviceBelow(path) : inTable(table, path);
}

/** The mount table's text, or undefined when there is none or this process may not read it. */
async function readMountTable(): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(MOUNT_TABLE);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotCapable) {
      return undefined;
    }
    throw error;
  }
}

/** The first mount point of `table` strictly below the folder `path`. */
async function inTable(table: string, path: string): Promise<string | undefined> {
  const real = await Deno.realPath(path);
  const prefix = real === "/" ? "/" : `${real}/`;
  for (const line of table.split("\n")) {
    const field = line.split(" ")[1];
    if (field === undefined) continue;
    // Space, tab, newline and backslash are written as `\ooo`.
    const mountPoint = field.replace(
      /\\([0-7]{3})/g,
      (_, octal) => String.fromCharCode(parseInt(octal, 8)),
    );
    if (mountPoint.startsWith(prefix)) return mountPoint;
  }
  return undefined;
}

/**
 * A folder below the folder `path` on another device than `path`; a folder this process cannot
 * list is not looked into.
 */
async function otherDeviceBelow(path: string): Promise<string | undefined> {
  const { dev } = await Deno.lstat(path);
  const folders = [path];
  for (let folder = folders.pop(); folder !== undefined; folder = folders.pop()) {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(folder));
    } catch (error) {
      if (error instanceof Deno.errors.PermissionDenied) continue;
      throw error;
    }
    for (const entry of entries) {
      if (!entry.isDirectory) continue;
      const child = `${folder}/${entry.name}`;
      if ((await Deno.lstat(child)).dev !== dev) return child;
      folders.push(child);
    }
  }
  return undefined;
}

/**
 * Removes the folder `path` and all it holds, unless a file system is mounted below it: then
 * nothing is removed. A folder of the tree without write permission for its owner (a pulled
 * image's `0555` folder, which only root could empty) is given it back first, so that the
 * process that made the tree can always remove it.
 *
 * @throws {OcisyncError} naming the mount point, when one is below `path`.
 * @example
 * ```ts
 * import { removeFolderTree } from "./mounts.ts";
 * const folder = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${folder}/file`, "x");
 * await removeFolderTree(folder);
 * ```
 */
export async function removeFolderTree(path: string): Promise<void> {
  const mounted = await mountPointBelow(path);
  if (mounted !== undefined) {
    throw new OcisyncError(
      `cannot remove ${path}: a file system is mounted inside it, at ${mounted}, whose files ` +
        "would be deleted with it; nothing was removed",
      { hint: `unmount ${mounted}, then remove ${path}` },
    );
  }
  try {
    await Deno.remove(path, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.PermissionDenied)) throw error;
    await giveFoldersBackToOwner(path);
    await Deno.remove(path, { recursive: true });
  }
}

/** Adds the owner's permissions to each folder below `path` that lacks them; links are left. */
async function giveFoldersBackToOwner(path: string): Promise<void> {
  const folders = [path];
  for (let folder = folders.pop(); folder !== undefined; folder = folders.pop()) {
    const info = await Deno.lstat(folder);
    if (!info.isDirectory) continue;
    const mode = info.mode ?? 0o700;
    if ((mode & 0o700) !== 0o700) await Deno.chmod(folder, (mode & 0o7777) | 0o700);
    for await (const entry of Deno.readDir(folder)) {
      if (entry.isDirectory) folders.push(`${folder}/${entry.name}`);
    }
  }
}
