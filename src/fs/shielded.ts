/**
 * Whether a folder is shielded from users other than root: when root writes where another
 * user could rename a folder on the way, or an entry root makes, that user can swap it for a
 * link between root's check and its write, and redirect the write (to `/etc`, another
 * service's files) or a removal. `pull` stages and merges, and `sync` swaps and prunes, only
 * where no such user can.
 *
 * @example
 * ```ts
 * import { replaceableBy } from "./shielded.ts";
 * const why = await replaceableBy("/srv/flows");
 * if (why) console.error(`not safe for root: ${why}`);
 * ```
 * @module
 */

import { lstatOrUndefined, processUid } from "./stat.ts";

/** A folder of a path, with what `lstat` said of it. */
export interface Folder {
  /** The folder's path. */
  path: string;
  /** What `lstat` said of it. */
  info: Deno.FileInfo;
}

/**
 * The folders of the real path `path` from `/` down, as far as no user but root can replace
 * any of them: `exposed` says why the next one could be, when one could.
 *
 * @example
 * ```ts
 * import { shieldedChain } from "./shielded.ts";
 * const { folders, exposed } = await shieldedChain(await Deno.realPath("."));
 * console.log(folders.at(-1)?.path, exposed);
 * ```
 */
export async function shieldedChain(
  path: string,
): Promise<{ folders: Folder[]; exposed?: string }> {
  const folders: Folder[] = [{ path: "/", info: await Deno.lstat("/") }];
  for (const name of path.split("/").filter((part) => part !== "")) {
    const parent = folders.at(-1)!;
    const child = `${parent.path === "/" ? "" : parent.path}/${name}`;
    const info = await Deno.lstat(child);
    const why = exposure(parent.info, info.uid);
    if (why) return { folders, exposed: `${child} can be replaced by another user: ${why}` };
    folders.push({ path: child, info });
  }
  return { folders };
}

/**
 * Why a user other than root could rename, or put a link in place of, an entry owned by
 * `ownerUid` in the folder `parent`; undefined when none can. The sticky bit keeps others off
 * the entries they do not own, as in `/tmp`.
 *
 * @example
 * ```ts
 * import { exposure } from "./shielded.ts";
 * exposure(await Deno.lstat("/tmp"), 0); // undefined: sticky, and root's entries are root's
 * ```
 */
export function exposure(parent: Deno.FileInfo, ownerUid: number | null): string | undefined {
  const mode = parent.mode! & 0o7777;
  if (parent.uid !== 0) return `its folder is owned by uid ${parent.uid}`;
  if ((mode & 0o022) === 0 || ((mode & 0o1000) !== 0 && ownerUid === 0)) return undefined;
  return `its folder may be written by others than root (mode ${mode.toString(8)})`;
}

/**
 * Why a user other than root could replace the folder `folder`, a folder on the way to it, a
 * link on that way, or an entry that root makes in it (or in the last folder on the way that
 * exists, when `folder` does not yet); undefined when none can. A link on the
 * way must be root's, in a folder only root can change, and where it leads is checked too: a
 * user who could re-point it would choose where root writes. Ask it as root, before writing or
 * removing there by path.
 *
 * @example
 * ```ts
 * import { replaceableBy } from "./shielded.ts";
 * await replaceableBy("/"); // undefined
 * ```
 */
export async function replaceableBy(folder: string, links = 0): Promise<string | undefined> {
  let at: Folder = { path: "/", info: await Deno.lstat("/") };
  for (const name of absoluteParts(folder)) {
    // Nothing is below a file: making the rest fails, and says so.
    if (!at.info.isDirectory) break;
    const child = `${at.path === "/" ? "" : at.path}/${name}`;
    const info = lstatOrUndefined(child);
    // Root would make the rest: it is safe as long as what it makes in `at` is.
    if (info === undefined) break;
    const why = exposure(at.info, info.uid);
    if (why) return `${child} can be replaced by another user: ${why}`;
    if (!info.isSymlink) {
      at = { path: child, info };
      continue;
    }
    let real: string;
    try {
      real = await Deno.realPath(child);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound) || links >= MAX_LINKS) throw error;
      // A link to nothing, root's own (checked above): root would make what it names, so that
      // place must be safe as well.
      const target = await Deno.readLink(child);
      return await replaceableBy(
        target.startsWith("/") ? target : `${at.path}/${target}`,
        links + 1,
      );
    }
    const { folders, exposed } = await shieldedChain(real);
    if (exposed) return exposed;
    at = folders.at(-1)!;
  }
  if (!at.info.isDirectory) {
    // The path names a file (a state file): its owner, or whoever may write it, changes it.
    if (at.info.uid !== 0) return `${at.path} is owned by uid ${at.info.uid}`;
    const mode = at.info.mode! & 0o7777;
    if (mode & 0o022) {
      return `${at.path} may be written by others than root (mode ${mode.toString(8)})`;
    }
    return undefined;
  }
  const why = exposure(at.info, 0);
  return why && `what root makes in ${at.path} can be replaced by another user: ${why}`;
}

/**
 * As root, throws what `refusal` makes of why another user could replace `path`
 * ({@linkcode replaceableBy}); for another user, nothing: their writes go where they may write
 * anyway.
 *
 * @example
 * ```ts
 * import { refuseReplaceableAsRoot } from "./shielded.ts";
 * await refuseReplaceableAsRoot("/srv/flows", (why) => new Error(`not safe for root: ${why}`));
 * ```
 */
export function refuseReplaceableAsRoot(
  path: string,
  refusal: (why: string) => Error,
): Promise<void> {
  return refuseAsRoot(replaceableBy, path, refusal);
}

/** As root, throws what `refusal` makes of what `exposed` finds for `path`. */
async function refuseAsRoot(
  exposed: (path: string) => Promise<string | undefined>,
  path: string,
  refusal: (why: string) => Error,
): Promise<void> {
  if (processUid() !== 0) return;
  const why = await exposed(path);
  if (why !== undefined) throw refusal(why);
}

/**
 * Why a user other than root could change the file `path`, or replace it, a link to it, or a
 * folder or link on its way; undefined when none can, or when it does not exist. Ask it as
 * root before acting on what the file says (a config whose hooks root runs, a key it trusts).
 *
 * @example
 * ```ts
 * import { changeableBy } from "./shielded.ts";
 * await changeableBy("/etc/hostname"); // undefined
 * ```
 */
export async function changeableBy(path: string, links = 0): Promise<string | undefined> {
  const folder = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
  const way = await replaceableBy(folder);
  if (way !== undefined) return way;
  const info = lstatOrUndefined(path);
  if (info === undefined) return undefined;
  if (info.uid !== 0) return `${path} is owned by uid ${info.uid}`;
  if (info.isSymlink) {
    if (links >= MAX_LINKS) return `${path} leads through more than ${MAX_LINKS} links`;
    const target = await Deno.readLink(path);
    return await changeableBy(target.startsWith("/") ? target : `${folder}/${target}`, links + 1);
  }
  const mode = info.mode! & 0o7777;
  if (mode & 0o022) return `${path} may be written by others than root (mode ${mode.toString(8)})`;
  return undefined;
}

/**
 * As root, throws what `refusal` makes of why another user could change the file `path`
 * ({@linkcode changeableBy}); for another user, nothing: they act with their own rights.
 *
 * @example
 * ```ts
 * import { refuseChangeableAsRoot } from "./shielded.ts";
 * await refuseChangeableAsRoot("/etc/ocisync/sync.yaml", (why) => new Error(`refused: ${why}`));
 * ```
 */
export function refuseChangeableAsRoot(
  path: string,
  refusal: (why: string) => Error,
): Promise<void> {
  return refuseAsRoot(changeableBy, path, refusal);
}

/** The most links followed for one path, as Linux's MAXSYMLINKS. */
const MAX_LINKS = 40;

/** The names of `path` made absolute, `.` and `..` resolved as written. */
function absoluteParts(path: string): string[] {
  const parts: string[] = [];
  const absolute = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  for (const name of absolute.split("/")) {
    if (name === "..") parts.pop();
    else if (name !== "" && name !== ".") parts.push(name);
  }
  return parts;
}
