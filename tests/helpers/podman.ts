/**
 * podman as the tests run it: rootful, with its storage in a temporary
 * folder, the vfs driver, runc and cgroupfs, so it needs no daemon and no
 * host configuration.
 *
 * @module
 */
import { requireTool } from "./tools.ts";

/**
 * The global podman options that keep its state under `root`.
 *
 * @example
 * ```ts
 * import { podmanArgs } from "./podman.ts";
 * const args = [...podmanArgs("/tmp/p"), "images"];
 * ```
 */
export function podmanArgs(root: string): string[] {
  requireTool("podman", "podman");
  requireTool("runc", "runc");
  return [
    "--root",
    `${root}/root`,
    "--runroot",
    `${root}/run`,
    "--runtime",
    "runc",
    "--storage-driver",
    "vfs",
    "--cgroup-manager",
    "cgroupfs",
  ];
}
