/**
 * The lock that serialises changes to an image layout's `index.json`: the lock file
 * `index.json.lock` (see `format.ts`), taken with {@linkcode withLock}, which loads `../fs/lock.ts`
 * when a change first takes it, so that reading a layout does not evaluate the lock code. That
 * module holds the one lock implementation: O_EXCL plus a kernel `flock`, with the holder's pid
 * and host, so that a lock left by a crashed process on this host is broken at once and one
 * from another host after `staleMs`. Waiters retry with short, growing sleeps until a timeout.
 *
 * @example
 * ```ts
 * import { withLock } from "./lock.ts";
 * const count = await withLock("/tmp/counter.lock", async () => 42);
 * ```
 * @module
 */
import type { LockOptions } from "../fs/lock.ts";

export type { LockOptions };

/**
 * Runs `fn` holding the lock file `path`: `withLock` of `../fs/lock.ts`, which documents it.
 *
 * @throws {OcisyncError} when the lock is still held by another process after
 * `options.timeoutMs`; the message names that process.
 * @example
 * ```ts
 * import { withLock } from "./lock.ts";
 * await withLock("/tmp/layout/index.json.lock", async () => {
 *   // read, change and write index.json
 * }, { timeoutMs: 5_000 });
 * ```
 */
export async function withLock<T>(
  path: string,
  fn: () => Promise<T>,
  options: LockOptions = {},
): Promise<T> {
  const lock = await import("../fs/lock.ts");
  return await lock.withLock(path, fn, options);
}
