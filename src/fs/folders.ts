/**
 * Folders made by this process, each known by its device and inode, so that it can be taken
 * back after a failure without touching a folder that was there before, or that another process
 * made meanwhile: `mkdir -p`, one level at a time.
 *
 * @example
 * ```ts
 * import { makeFolders, removeMadeFolders } from "./folders.ts";
 * const made = await makeFolders("./out/images/app"); // the levels that did not exist
 * removeMadeFolders(made); // each one that is still the same, and empty
 * ```
 * @module
 */
import { parentOf } from "./atomic.ts";
import { sameFile } from "./stat.ts";

/** A folder this process made, as it was made. */
export interface MadeFolder {
  /** Its path. */
  path: string;
  /** Its `lstat` just after it was made: its device and inode tell it from a folder made since. */
  info: Deno.FileInfo;
}

/**
 * Makes the folder `path` and its missing parents (`mkdir -p`), and returns the ones made here,
 * outermost first: none when `path` exists. Each level is made on its own, so that one that
 * another process makes meanwhile is taken as there (`AlreadyExists`), never as made here.
 *
 * @throws {Deno.errors.AlreadyExists} when `path` or a parent is a file.
 * @example
 * ```ts
 * import { makeFolders } from "./folders.ts";
 * const made = await makeFolders("./out/images/app");
 * console.log(made.map((folder) => folder.path)); // ["./out", "./out/images", "./out/images/app"]
 * ```
 */
export async function makeFolders(path: string): Promise<MadeFolder[]> {
  const missing: string[] = [];
  for (let at = trimmed(path); at !== "" && !await isFolder(at); at = trimmed(parentOf(at))) {
    missing.unshift(at);
  }
  const made: MadeFolder[] = [];
  for (const folder of missing) {
    try {
      await Deno.mkdir(folder);
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists) || !await isFolder(folder)) throw error;
      continue;
    }
    made.push({ path: folder, info: await Deno.lstat(folder) });
  }
  return made;
}

/**
 * Removes the folders that {@linkcode makeFolders} made, innermost first, synchronously (a
 * stopped process runs it as it exits): each only while it is still the folder made (the same
 * device and inode) and empty, for the kernel removes no folder that holds anything. The first
 * one kept keeps its parents too. Returns whether every one went.
 *
 * @example
 * ```ts
 * import { makeFolders, removeMadeFolders } from "./folders.ts";
 * const made = await makeFolders("./out/app");
 * removeMadeFolders(made); // true: both were empty
 * ```
 */
export function removeMadeFolders(made: readonly MadeFolder[]): boolean {
  for (const folder of [...made].reverse()) {
    try {
      if (!sameFile(folder.info, Deno.lstatSync(folder.path))) return false;
      Deno.removeSync(folder.path);
    } catch {
      return false; // gone, replaced or not empty: neither it nor its parents are ours to take
    }
  }
  return true;
}

/** Whether `path` is a folder, or a link to one. */
async function isFolder(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** `path` without trailing slashes: `a/b` of `a/b/`; `` of `/`, which is always there. */
function trimmed(path: string): string {
  return path.replace(/\/+$/, "");
}
