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
