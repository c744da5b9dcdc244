/**
 * `Deno.stat` for paths that may not exist.
 *
 * They are synchronous: a `stat` takes microseconds, where a trip through the runtime's thread
 * pool takes longer than the call, and a command whose file calls are all synchronous never
 * starts that pool (`inspect -q oci:` starts about 4 ms sooner).
 *
 * @example
 * ```ts
 * import { statOrUndefined } from "./stat.ts";
 * const exists = statOrUndefined("./images/oci-layout") !== undefined;
 * ```
 * @module
 */

/**
 * A file's information, or `undefined` when it does not exist. Other errors are thrown.
 *
 * @example
 * ```ts
 * import { statOrUndefined } from "./stat.ts";
 * const info = statOrUndefined("./images/index.json");
 * console.log(info?.size);
 * ```
 */
export function statOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.statSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * This process's user id, when it may ask: a program using the library without `--allow-sys`
 * may not, and then checks that need it are left out. `undefined` on Windows too.
 *
 * @example
 * ```ts
 * import { processUid } from "./stat.ts";
 * processUid(); // 1000, or undefined
 * ```
 */
export function processUid(): number | undefined {
  try {
    return Deno.uid() ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * What tells a file from any other: its device and inode, as `lstat` gives them.
 *
 * @example
 * ```ts
 * import type { FileIdentity } from "./stat.ts";
 * const { dev, ino }: FileIdentity = await Deno.lstat(".");
 * ```
 */
export type FileIdentity = Pick<Deno.FileInfo, "dev" | "ino">;

/**
 * Whether `b` is the file `a` was: the same device and inode. `b` is typically a later `lstat`
 * of a path, to tell whether something was put in its place meanwhile.
 *
 * @example
 * ```ts
 * import { sameFile } from "./stat.ts";
 * const before = await Deno.lstat(".");
 * sameFile(before, await Deno.lstat(".")); // true
 * ```
 */
export function sameFile(a: FileIdentity, b: FileIdentity | undefined): boolean {
  return b !== undefined && a.dev === b.dev && a.ino === b.ino;
}

/**
 * What a file that is no regular file is, in a word or two for a message: `folder`, `fifo`,
 * `socket`, `character device`, `block device`, `special file`.
 *
 * @example
 * ```ts
 * import { fileKind } from "./stat.ts";
 * fileKind(await Deno.stat("/dev/null")); // "character device"
 * ```
 */
export function fileKind(info: Deno.FileInfo): string {
  if (info.isDirectory) return "folder";
  if (info.isSymlink) return "symlink";
  if (info.isFifo) return "fifo";
  if (info.isSocket) return "socket";
  if (info.isCharDevice) return "character device";
  if (info.isBlockDevice) return "block device";
  return "special file";
}

/**
 * What is at `path` itself, a symlink included (not followed), or `undefined` when nothing
 * is there. Other errors are thrown.
 *
 * @example
 * ```ts
 * import { lstatOrUndefined } from "./stat.ts";
 * const info = lstatOrUndefined("./images/index.json");
 * console.log(info?.isSymlink);
 * ```
 */
export function lstatOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * What is at `path` itself, as {@linkcode lstatOrUndefined} says, or `undefined` also when it
 * cannot be looked at (a file where a folder of the path was, a folder it may not search): for
 * checks that only ask whether a path still names a file seen before.
 *
 * @example
 * ```ts
 * import { tryLstat } from "./stat.ts";
 * tryLstat("./deno.json/inside"); // undefined: deno.json is no folder
 * ```
 */
export function tryLstat(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * A warning for a file that holds secrets (credentials, a private key) whose mode lets other
 * users read or write it, as ssh gives for keys; undefined when only its owner may. The mode is
 * the file's, through any link; Windows has no such bits, and gets none.
 *
 * @example
 * ```ts
 * import { exposureWarning } from "./stat.ts";
 * const warning = await exposureWarning("./cosign.key");
 * if (warning) console.error(warning); // "./cosign.key is readable by other users; chmod 600 …"
 * ```
 */
export async function exposureWarning(path: string): Promise<string | undefined> {
  const mode = (await Deno.stat(path).catch(() => undefined))?.mode ?? 0;
  if ((mode & 0o077) === 0) return undefined;
  const how = mode & 0o044 ? "readable" : mode & 0o022 ? "writable" : "accessible";
  return `${path} is ${how} by other users; chmod 600 ${shellWord(path)}`;
}

/** A path as one shell word, quoted when it needs to be, for a command to copy. */
function shellWord(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`;
}
