/**
 * Waiting in tests for another process to reach a point: polled, with a deadline generous
 * enough for a loaded machine, as a test that waits for what it sees costs nothing more when
 * the machine is quick.
 *
 * @module
 */

/**
 * Waits up to `timeout` ms for `find` to give something (neither undefined nor false), polling
 * every 20 ms; the error of a timeout names `what`, and ends with `detail()`.
 *
 * @example
 * ```ts
 * import { until } from "./wait.ts";
 * const started = Date.now();
 * await until(() => Date.now() - started > 50, "50 ms to pass");
 * ```
 */
export async function until<T>(
  find: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeout = 60_000,
  detail: () => string = () => "",
): Promise<T> {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const found = await find();
    if (found !== undefined && found !== false) return found;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}${detail()}`);
}

/**
 * `promise`, or a failure once `ms` have passed: a call that would wait without end (an open of
 * a fifo) fails the test instead of holding it.
 *
 * @example
 * ```ts
 * import { within } from "./wait.ts";
 * await within(1000, Promise.resolve(1)); // 1
 * ```
 */
export function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
