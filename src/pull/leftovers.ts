/**
 * What pulls that were killed leave in a folder: their staging folders, named with
 * {@linkcode STAGING_PREFIX}, and how they are removed. Apart from the pull itself, so that a
 * sync that finds nothing new tidies its folder without loading the pull's code.
 *
 * @example
 * ```ts
 * import { removeDeadStagings } from "./leftovers.ts";
 * await removeDeadStagings("/srv/flows/.ocisync", Deno.uid()!, 0);
 * ```
 * @module
 */
import { LEFTOVER_AGE_MS } from "../fs/atomic.ts";
import { removeFolderTree } from "../fs/mounts.ts";

/** How the name of a pull's staging folder starts. */
export const STAGING_PREFIX = ".ocisync-pull-";

/**
 * Removes from `parent` the staging folders that pulls killed there (SIGKILL, the OOM killer, a
 * power cut) left `minAgeMs` ago or more, by default a day ({@linkcode LEFTOVER_AGE_MS}, as for
 * a layout's and an archive's leftovers): folders of the user `uid`, never links, that hold an
 * image's tree and nothing else. One that holds what a merge moved aside (`aside-N`) may hold the
 * user's own files, kept by a merge that could not put them back: it stays. Nothing is removed
 * across a mount point. Failures are ignored: this only tidies. A caller that owns `parent`
 * outright, under a lock no other pull can hold (a sync's versions folder), passes 0: every
 * staging folder there is a dead one.
 *
 * @example
 * ```ts
 * import { removeDeadStagings } from "./leftovers.ts";
 * await removeDeadStagings("/srv/flows/.ocisync", Deno.uid()!, 0);
 * ```
 */
export async function removeDeadStagings(
  parent: string,
  uid: number,
  minAgeMs: number = LEFTOVER_AGE_MS,
): Promise<void> {
  const before = Date.now() - minAgeMs;
  try {
    for await (const entry of Deno.readDir(parent)) {
      if (!entry.isDirectory || !entry.name.startsWith(STAGING_PREFIX)) continue;
      const path = `${parent}/${entry.name}`;
      const info = await Deno.lstat(path);
      if (!info.isDirectory || info.uid !== uid || (info.mtime?.getTime() ?? 0) > before) continue;
      const names = await Array.fromAsync(Deno.readDir(path), (child) => child.name);
      if (names.every((name) => name === "tree")) await removeFolderTree(path);
    }
  } catch {
    // Another pull removing the same folder, a folder not ours to list: nothing to tidy here.
  }
}
