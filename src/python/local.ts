/**
 * The local files an install reads besides the requirements files, described
 * for the dependency cache's key: a find-links folder by the name, size and
 * sha256 of each file directly in it (pip's `--find-links` reads a flat
 * folder), and a single file (a find-links page or archive, a requirement's
 * wheel) the same way, each under its absolute real path. The text of a path
 * is not enough: `wheels` names another folder in each project, and a wheel
 * rebuilt under the same version keeps its name.
 *
 * @example
 * ```ts
 * import { localContent, localPath } from "./local.ts";
 * const path = localPath("file:///srv/wheels"); // "/srv/wheels"
 * if (path !== undefined) console.log(await localContent(path));
 * ```
 * @module
 */
import { basename, resolve } from "node:path";
import { type Digest, Sha256 } from "../digest/mod.ts";
import { readEachPiece } from "../fs/read.ts";

/** A file, as the cache key holds it. */
export interface LocalFile {
  /** Its name in its folder. */
  name: string;
  /** Its size in bytes. */
  size: number;
  /** The sha256 of its bytes. */
  digest: Digest;
}

/**
 * What a local path holds, under its absolute real path: nothing pip can read
 * (no such path, or neither a regular file nor a folder), one file, or the
 * files directly in a folder, sorted by name.
 */
export type LocalContent =
  | { path: string; missing: true }
  | { path: string; file: LocalFile }
  | { path: string; folder: LocalFile[] };

/** A URL's scheme, as pip tells a URL (`https://`, `git+ssh://`) from a path. */
const URL_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/**
 * The local path that a find-links entry or a requirement names: the path of a
 * `file:` URL (`file:///srv/wheels`, `file://localhost/srv`, `file:wheels`),
 * the text itself when it is no URL, and undefined for a remote URL, whose
 * content the cache cannot see.
 *
 * @example
 * ```ts
 * import { localPath } from "./local.ts";
 * localPath("./wheels"); // "./wheels"
 * localPath("file:///srv/my%20wheels"); // "/srv/my wheels"
 * localPath("https://example.com/links"); // undefined
 * ```
 */
export function localPath(link: string): string | undefined {
  if (!/^file:/i.test(link)) return URL_SCHEME.test(link) ? undefined : link;
  let path = link.slice("file:".length).replace(/[?#].*$/, "");
  if (path.startsWith("//")) {
    const slash = path.indexOf("/", 2);
    const host = path.slice(2, slash < 0 ? undefined : slash);
    // Another host's share: pip cannot read it on Linux either.
    if (host !== "" && host.toLowerCase() !== "localhost") return undefined;
    path = slash < 0 ? "/" : path.slice(slash);
  }
  try {
    return decodeURIComponent(path);
  } catch {
    return path; // a stray `%`, which pip's unquote keeps as it is
  }
}

/**
 * Describes what `path` holds (relative to the working directory, as the
 * installer reads it), reading every file it names to hash it. Symbolic links
 * are followed, as the installer follows them.
 *
 * @example
 * ```ts
 * import { localContent } from "./local.ts";
 * const content = await localContent("./wheels");
 * if ("folder" in content) console.log(content.folder.map((file) => file.name));
 * ```
 */
export async function localContent(path: string): Promise<LocalContent> {
  let real: string;
  let info: Deno.FileInfo;
  try {
    real = await Deno.realPath(path);
    info = await Deno.stat(real);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { path: resolve(path), missing: true };
    throw error;
  }
  if (info.isFile) return { path: real, file: await describeFile(real, basename(real)) };
  if (!info.isDirectory) return { path: real, missing: true };
  const folder: LocalFile[] = [];
  for await (const entry of Deno.readDir(real)) {
    const file = `${real}/${entry.name}`;
    // Only regular files are archives or pages; a dangling link or a fifo is nothing to read.
    const isFile = await Deno.stat(file).then((stat) => stat.isFile, () => false);
    if (isFile) folder.push(await describeFile(file, entry.name));
  }
  folder.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return { path: real, folder };
}

async function describeFile(path: string, name: string): Promise<LocalFile> {
  const hash = new Sha256();
  using file = await Deno.open(path);
  await readEachPiece(file, (piece) => hash.update(piece));
  return { name, size: hash.size, digest: hash.digest() };
}
