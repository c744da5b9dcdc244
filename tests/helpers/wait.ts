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
