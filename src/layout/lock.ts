/**
 * The lock that serialises changes to an image layout's `index.json`: the lock file
 * `index.json.lock` (see `format.ts`), taken with {@linkcode withLock} from `../fs/lock.ts`,
 * which holds the one lock implementation: O_EXCL plus a kernel `flock`, with the holder's pid
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
export { type LockOptions, withLock } from "../fs/lock.ts";
