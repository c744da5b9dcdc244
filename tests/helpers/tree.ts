/**
 * Builds test trees and takes snapshots of trees to compare: each path with
 * its type, permission bits, and content hash or link target.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** One node of a test tree. */
export type TreeNode =
  | { type: "file"; content: Uint8Array | string; executable?: boolean }
  | { type: "dir" }
  | { type: "symlink"; target: string }
  | { type: "hardlink"; to: string };

/** What a snapshot records of one path. */
export interface SnapshotEntry {
  type: "file" | "dir" | "symlink";
  mode: number;
  sha256?: string;
  target?: string;
}

/** How to lay a tree out on disk, so that two copies differ in all but content. */
export interface LayoutVariant {
  /** Create the paths in reverse order. */
  reverse?: boolean;
  /** Permission bits for plain files, executables and dirs (as a umask would leave them). */
  fileMode?: number;
  execMode?: number;
  dirMode?: number;
  /** mtime in seconds for every path. */
  mtime?: number;
  /** chown every path to this uid:gid (only when running as root). */
  owner?: [number, number];
}

/**
 * Writes `nodes` (relative paths, parents before children) under `root`.
 *
 * @example
 * ```ts
 * import { writeTree } from "./tree.ts";
 * await writeTree("/tmp/t", { "a.txt": { type: "file", content: "a" } });
 * ```
 */
export async function writeTree(
  root: string,
  nodes: Record<string, TreeNode>,
  variant: LayoutVariant = {},
): Promise<void> {
  await Deno.mkdir(root, { recursive: true });
  const entries = Object.entries(nodes);
  // Parents must exist first: create every directory, then the rest.
  const dirs = entries.filter(([, n]) => n.type === "dir");
  // Hard links need their target, so they come last.
  const others = entries.filter(([, n]) => n.type !== "dir" && n.type !== "hardlink");
  if (variant.reverse) others.reverse();
  others.push(...entries.filter(([, n]) => n.type === "hardlink"));
  for (const [path] of dirs) await Deno.mkdir(`${root}/${path}`, { recursive: true });
  for (const [path, node] of others) {
    const full = `${root}/${path}`;
    if (node.type === "file") {
      await Deno.writeFile(
        full,
        typeof node.content === "string" ? new TextEncoder().encode(node.content) : node.content,
      );
      const mode = node.executable ? variant.execMode ?? 0o755 : variant.fileMode ?? 0o644;
      await Deno.chmod(full, mode);
    } else if (node.type === "symlink") {
      await Deno.symlink(node.target, full);
    } else if (node.type === "hardlink") {
      await Deno.link(`${root}/${node.to}`, full);
    }
  }
  for (const [path] of [...dirs].reverse()) {
    await Deno.chmod(`${root}/${path}`, variant.dirMode ?? 0o755);
  }
  for (const [path] of entries) {
    const full = `${root}/${path}`;
    if (variant.owner && Deno.uid() === 0) {
      await Deno.lstat(full).then(() =>
        new Deno.Command("chown", { args: ["-h", variant.owner!.join(":"), full] }).outputSync()
      );
    }
    if (variant.mtime !== undefined && nodes[path].type !== "symlink") {
      await Deno.utime(full, variant.mtime, variant.mtime);
    }
  }
}

/**
 * Records every path below `root` (not `root` itself), sorted.
 *
 * @example
 * ```ts
 * import { snapshot } from "./tree.ts";
 * const before = await snapshot("/tmp/t");
 * ```
 */
export async function snapshot(root: string): Promise<Record<string, SnapshotEntry>> {
  const result: Record<string, SnapshotEntry> = {};
  async function visit(dir: string, prefix: string) {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${dir}/${entry.name}`;
      const rel = prefix + entry.name;
      const info = await Deno.lstat(path);
      const mode = (info.mode ?? 0) & 0o7777;
      if (info.isSymlink) {
        result[rel] = { type: "symlink", mode: 0, target: await Deno.readLink(path) };
      } else if (info.isDirectory) {
        result[rel] = { type: "dir", mode };
        await visit(path, `${rel}/`);
      } else {
        const sha256 = createHash("sha256").update(await Deno.readFile(path)).digest("hex");
        result[rel] = { type: "file", mode, sha256 };
      }
    }
  }
  await visit(root, "");
  return Object.fromEntries(Object.entries(result).sort(([a], [b]) => a < b ? -1 : 1));
}

/**
 * What a tree looks like once a layer's mode rules apply: folders 0755, files 0644, or 0755 when
 * any execute bit is set. This is the expected result of extracting a packed tree, written from
 * the rules, not from ocisync's code.
 *
 * @example
 * ```ts
 * import { normalised, snapshot } from "./tree.ts";
 * const expected = normalised(await snapshot("/tmp/src"));
 * ```
 */
export function normalised(tree: Record<string, SnapshotEntry>): Record<string, SnapshotEntry> {
  return Object.fromEntries(
    Object.entries(tree).map(([path, e]) => {
      if (e.type === "dir") return [path, { ...e, mode: 0o755 }];
      if (e.type === "file") return [path, { ...e, mode: e.mode & 0o111 ? 0o755 : 0o644 }];
      return [path, e];
    }),
  );
}

/**
 * Runs `body` with a fresh temporary folder, named by `prefix`, and removes the folder after it.
 *
 * @example
 * ```ts
 * import { withTempDir } from "./tree.ts";
 * await withTempDir("ocisync-x-", async (tmp) => await Deno.writeTextFile(`${tmp}/a`, "a"));
 * ```
 */
export async function withTempDir(
  prefix: string,
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Opens the fifo at `path` for reading and writing after `ms` (an open that never waits), so that
 * whatever waits to open it goes on: a test that something never opens a fifo then fails instead
 * of hanging. Dispose of it when done.
 *
 * @example
 * ```ts
 * import { unblockFifoAfter } from "./tree.ts";
 * using _ = unblockFifoAfter("./pipe", 10_000);
 * ```
 */
export function unblockFifoAfter(path: string, ms: number): Disposable {
  const timer = setTimeout(() => Deno.openSync(path, { read: true, write: true }).close(), ms);
  return { [Symbol.dispose]: () => clearTimeout(timer) };
}

/**
 * Whether anything (a link included, not followed) is at `path`; an error other than its
 * absence is thrown.
 *
 * @example
 * ```ts
 * import { exists } from "./tree.ts";
 * await exists("/"); // true
 * ```
 */
export async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, (error) => {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  });
}

/**
 * The names in `folder`, hidden ones included, sorted; none when it does not exist. Synchronous,
 * for a test that polls a folder another process writes into.
 *
 * @example
 * ```ts
 * import { namesIn } from "./tree.ts";
 * namesIn("/nowhere"); // []
 * ```
 */
export function namesIn(folder: string): string[] {
  try {
    return [...Deno.readDirSync(folder)].map((entry) => entry.name).sort();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}
