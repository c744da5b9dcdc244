/**
 * File systems mounted inside a folder, and a removal that never reaches into one: a recursive
 * removal of a folder that holds a mount point deletes the mounted file system's files, which
 * are not the folder's (a data disk, a tmpfs, a network share).
 *
 * A mount point is found as a folder on another device than the folder above it. A bind mount
 * of the folder's own file system is on the same device, and is not found: the mount table
 * (`/proc/self/mounts`) would show it, but Deno reads `/proc` only with every permission, which
 * the binary does not have.
 *
 * @example
 * ```ts
 * import { mountPointBelow } from "./mounts.ts";
 * console.log(await mountPointBelow(".")); // e.g. "./data", or undefined
 * ```
 * @module
 */
import { OcisyncError } from "../errors/mod.ts";

/**
 * A folder below the folder `path` that is on another device than `path`, or `undefined` when
 * there is none. Links are not followed; a folder this process cannot list is not looked into.
 *
 * @example
 * ```ts
 * import { mountPointBelow } from "./mounts.ts";
 * const mounted = await mountPointBelow("./out");
 * if (mounted) console.log(`a file system is mounted at ${mounted}`);
 * ```
 */
export async function mountPointBelow(path: string): Promise<string | undefined> {
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
 * nothing is removed.
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
  await Deno.remove(path, { recursive: true });
}
