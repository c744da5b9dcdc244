/**
 * A small file system of its own for a test (root only): a full disk, a read-only one.
 *
 * @module
 */
import { runOk } from "./cli.ts";

/**
 * Runs `fn` with a tmpfs mounted at `dir` (made if missing) with the mount options `options`
 * (`size=1m`, `ro,size=1m`), and unmounts it after, whatever `fn` did.
 *
 * @example
 * ```ts ignore
 * import { withTmpfs } from "./tmpfs.ts";
 * await withTmpfs("/tmp/small", "size=64k", async () => {
 *   await Deno.writeFile("/tmp/small/fill", new Uint8Array(64 * 1024)).catch(() => {});
 * });
 * ```
 */
export async function withTmpfs(
  dir: string,
  options: string,
  fn: () => Promise<void>,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await runOk("mount", ["-t", "tmpfs", "-o", options, "none", dir]);
  try {
    await fn();
  } finally {
    await runOk("umount", [dir]);
  }
}
