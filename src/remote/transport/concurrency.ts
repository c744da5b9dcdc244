/**
 * A gate on how many tasks run at once, for uploads and downloads that share a registry.
 *
 * @example
 * ```ts
 * import { concurrencyLimit } from "./concurrency.ts";
 * const limited = concurrencyLimit(4);
 * await limited(async () => "one task");
 * ```
 * @module
 */

/**
 * A gate that lets at most `limit` tasks run at once; the others wait their turn, in order.
 *
 * @example
 * ```ts
 * import { concurrencyLimit } from "./concurrency.ts";
 * const limited = concurrencyLimit(2);
 * const sizes = await Promise.all(
 *   ["a", "b", "c"].map((name) => limited(async () => name.length)),
 * );
 * ```
 */
export function concurrencyLimit(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running < limit) running++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      // A finished task hands its slot straight to the next waiting one.
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}
