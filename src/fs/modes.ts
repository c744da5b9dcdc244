/**
 * Setting a file's mode without following a link. The runtime's `chmod` goes through a path and
 * follows links, and its open files have no `fchmod`: a folder that another user can swap for a
 * link between a check and a `chmod` by path would have root set the mode of whatever the link
 * names. Here the path is opened with `node:fs`, never through a link at its end, and the mode
 * is set on what opened, once it is known to be the file expected.
 *
 * @example
 * ```ts
 * import { chmodIfSame } from "./modes.ts";
 * const dir = await Deno.makeTempDir();
 * chmodIfSame(dir, await Deno.lstat(dir), 0o750); // true
 * ```
 * @module
 */
import { closeSync, constants, fchmodSync, fstatSync, openSync } from "node:fs";
import type { FileIdentity } from "./stat.ts";

/**
 * Sets the mode of the file at `path` to `mode` when what opens there is `expected` (its device
 * and inode): true once it is set, false, with nothing changed, when another file is there. A
 * link at `path` is never followed (the open fails: ELOOP), and a fifo put there does not make
 * the open wait for a writer.
 *
 * @throws what the open throws: a link, nothing at `path`.
 */
export function chmodIfSame(path: string, expected: FileIdentity, mode: number): boolean {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const opened = fstatSync(fd);
    if (opened.dev !== expected.dev || opened.ino !== expected.ino) return false;
    fchmodSync(fd, mode);
    return true;
  } finally {
    closeSync(fd);
  }
}
