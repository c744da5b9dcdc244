/**
 * A path's folder, its last name, and the absolute path it names: what `node:path` gives, for
 * code that a short command runs. Importing any `node:` module starts Deno's Node layer, about
 * 15 ms even for `node:path` alone, and a `sync --once` that finds nothing new needs nothing else
 * of it. Separators are `/`, and `\` too on Windows, as the rest of ocisync reads paths.
 *
 * @example
 * ```ts
 * import { absolutePath, basename, dirname } from "./paths.ts";
 * dirname("/srv/flows/state.json"); // "/srv/flows"
 * basename("/srv/flows/"); // "flows"
 * absolutePath("/srv/./flows/../state.json"); // "/srv/state.json"
 * ```
 * @module
 */

const WINDOWS = Deno.build.os === "windows";
const SEPARATOR = WINDOWS ? /[\\/]/ : /\//;
/** What starts an absolute path on Windows besides a separator: a drive, or a share's `//`. */
const WINDOWS_ROOT = /^([A-Za-z]:(?=[\\/])|[\\/]{2}(?=[^\\/]))/;

/** The length of `path` without its trailing separators, but a leading one. */
function trimmedEnd(path: string): number {
  let end = path.length;
  while (end > 1 && SEPARATOR.test(path[end - 1])) end--;
  return end;
}

/**
 * The folder `path` is in: `.` for a bare name, the root for a name in the root. Trailing
 * separators are no part of the last name.
 *
 * @example
 * ```ts
 * import { dirname } from "./paths.ts";
 * dirname("state.json"); // "."
 * dirname("/srv/flows/"); // "/srv"
 * ```
 */
export function dirname(path: string): string {
  const trimmed = path.slice(0, trimmedEnd(path));
  let cut = trimmed.length - 1;
  while (cut >= 0 && !SEPARATOR.test(trimmed[cut])) cut--;
  if (cut < 0) return ".";
  // The separators before the last name go with it; a path of separators only is the root.
  while (cut > 0 && SEPARATOR.test(trimmed[cut - 1])) cut--;
  if (cut === 0) return trimmed[0];
  const folder = trimmed.slice(0, cut);
  // `C:` alone is the drive's working folder on Windows, not its root.
  return WINDOWS && /^[A-Za-z]:$/.test(folder) ? `${folder}/` : folder;
}

/**
 * The last name of `path`, without trailing separators: empty for the root.
 *
 * @example
 * ```ts
 * import { basename } from "./paths.ts";
 * basename("/srv/flows/state.json"); // "state.json"
 * ```
 */
export function basename(path: string): string {
  const trimmed = path.slice(0, trimmedEnd(path));
  return trimmed.split(SEPARATOR).pop()!;
}

/**
 * The absolute path that `path` names from the working folder, with `.`, `..` and repeated or
 * trailing separators worked out as `node:path`'s `resolve` does (links are not followed).
 *
 * @example
 * ```ts
 * import { absolutePath } from "./paths.ts";
 * absolutePath("state.json"); // `${Deno.cwd()}/state.json`
 * ```
 */
export function absolutePath(path: string): string {
  const full = isAbsolute(path) ? path : `${Deno.cwd()}/${path}`;
  const root = (WINDOWS ? WINDOWS_ROOT.exec(full)?.[0] : undefined)?.replaceAll("\\", "/") ?? "";
  const parts: string[] = [];
  for (const part of full.slice(root.length).split(SEPARATOR)) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return root.endsWith("//") ? `${root}${parts.join("/")}` : `${root}/${parts.join("/")}`;
}

/**
 * Whether `path` starts at a root: a separator, or on Windows a drive or a share.
 *
 * @example
 * ```ts
 * import { isAbsolute } from "./paths.ts";
 * isAbsolute("/srv/flows"); // true
 * isAbsolute("flows"); // false
 * ```
 */
export function isAbsolute(path: string): boolean {
  return path !== "" && (SEPARATOR.test(path[0]) || (WINDOWS && WINDOWS_ROOT.test(path)));
}

/**
 * The index of the last separator in `path`, or -1. Only on Windows is `\` one: elsewhere it is
 * a character that a name may hold.
 *
 * @example
 * ```ts
 * import { lastSeparator } from "./paths.ts";
 * lastSeparator("out/a\\b.txt"); // 3 (Linux)
 * ```
 */
export function lastSeparator(path: string): number {
  return Math.max(path.lastIndexOf("/"), WINDOWS ? path.lastIndexOf("\\") : -1);
}
