/**
 * `Deno.stat` for paths that may not exist.
 *
 * @example
 * ```ts
 * import { statOrUndefined } from "./stat.ts";
 * const exists = (await statOrUndefined("./images/oci-layout")) !== undefined;
 * ```
 * @module
 */

/**
 * A file's information, or `undefined` when it does not exist. Other errors are thrown.
 *
 * @example
 * ```ts
 * import { statOrUndefined } from "./stat.ts";
 * const info = await statOrUndefined("./images/index.json");
 * console.log(info?.size);
 * ```
 */
export async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * What is at `path` itself, a symlink included (not followed), or `undefined` when nothing
 * is there. Other errors are thrown.
 *
 * @example
 * ```ts
 * import { lstatOrUndefined } from "./stat.ts";
 * const info = await lstatOrUndefined("./images/index.json");
 * console.log(info?.isSymlink);
 * ```
 */
export async function lstatOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}
