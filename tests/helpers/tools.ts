/**
 * Peer tools the tests use. A missing tool is an error that says how to
 * install it, never a silent skip.
 *
 * @module
 */

/**
 * Throws when `name` is not on PATH, naming the Debian package to install.
 *
 * @example
 * ```ts
 * import { requireTool } from "./tools.ts";
 * requireTool("bsdtar", "libarchive-tools");
 * ```
 */
export function requireTool(name: string, debianPackage: string): void {
  const found = new Deno.Command("sh", {
    args: ["-c", `command -v "$0"`, name],
    stdout: "null",
    stderr: "null",
  }).outputSync().success;
  if (!found) {
    throw new Error(
      `${name} is not installed: run \`apt-get install -y ${debianPackage}\` (or bash .ci/run)`,
    );
  }
}
