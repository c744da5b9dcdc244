/**
 * Retries of transient failures, with exponential backoff and jitter, honouring `Retry-After`.
 * Transient are the statuses 408, 429, 500, 502, 503 and 504, and a `NetworkError` (a reset,
 * a refused connection, a timeout); an abort by the request's signal never is, and it ends a
 * wait at once.
 *
 * @example
 * ```ts
 * import { httpFetch } from "./base.ts";
 * import { retrying } from "./retry.ts";
 * const patient = retrying(httpFetch().fetch, { retries: 3, log: console.error });
 * ```
 * @module
 */
import { NetworkError } from "../../errors/mod.ts";
import { discardBody } from "./body.ts";
import { type Clock, type Fetch, sleep, systemClock } from "./fetch.ts";
import { requestLine } from "./redact.ts";

const BACKOFF_BASE_MS = 200;
const BACKOFF_CAP_MS = 10_000;
const RETRY_AFTER_CAP_MS = 60_000;
const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

/**
 * How many times, and on what, {@linkcode retrying} and the resume layer wait.
 *
 * @example
 * ```ts
 * import type { RetryOptions } from "./retry.ts";
 * const options: RetryOptions = { retries: 3, log: console.error };
 * ```
 */
export interface RetryOptions {
  /** How many times a request is retried, or a body resumed. */
  retries: number;
  /** Receives one line per wait: how long, why, and which retry it is. */
  log?: (line: string) => void;
  /** The clock the waits run on, and that an HTTP date in `Retry-After` is read against. */
  clock?: Clock;
  /** Numbers in [0, 1) for the jitter. Default `Math.random`. */
  random?: () => number;
}

/**
 * Sends the request again, up to `retries` times, while it fails with a `NetworkError` or
 * answers a transient status; the last answer is returned whatever its status, and the last
 * error thrown. The request's signal ends a wait at once, and an aborted request is never
 * retried.
 *
 * @example
 * ```ts
 * import type { Fetch } from "./fetch.ts";
 * import { retrying } from "./retry.ts";
 * let calls = 0;
 * const flaky: Fetch = async (request) => ({
 *   ...request,
 *   status: ++calls < 3 ? 503 : 200,
 *   statusText: "",
 *   headers: new Headers({ "retry-after": "0" }),
 *   body: null,
 * });
 * const response = await retrying(flaky, { retries: 3 })({
 *   method: "GET",
 *   url: new URL("https://r.example/v2/"),
 *   headers: new Headers(),
 * });
 * // response.status: 200, after two retries
 * ```
 */
export function retrying(next: Fetch, options: RetryOptions): Fetch {
  return async (request) => {
    // Worded only for a retry's log line: most requests need none.
    const shown = () => requestLine(request.method, request.url);
    for (let attempt = 0;; attempt++) {
      const retriesLeft = attempt < options.retries;
      let response;
      try {
        response = await next(request);
      } catch (error) {
        if (!retriesLeft || !isTransient(error, request.signal)) throw error;
        await waitToRetry(options, { shown: shown(), attempt, signal: request.signal });
        continue;
      }
      if (!retriesLeft || !RETRY_STATUSES.has(response.status)) return response;
      await discardBody(response);
      await waitToRetry(options, {
        shown: shown(),
        attempt,
        signal: request.signal,
        headers: response.headers,
      });
    }
  };
}

/**
 * Whether a failure may pass if the request is sent again: a `NetworkError`, unless the
 * request was aborted by its own signal.
 *
 * @example
 * ```ts
 * import { NetworkError } from "../../errors/mod.ts";
 * import { isTransient } from "./retry.ts";
 * isTransient(new NetworkError("reset")); // true
 * isTransient(new TypeError("bad")); // false
 * ```
 */
export function isTransient(error: unknown, signal?: AbortSignal): boolean {
  return error instanceof NetworkError && !signal?.aborted;
}

/**
 * One wait before a retry, as {@linkcode waitToRetry} logs it.
 *
 * @example
 * ```ts
 * import type { RetryWait } from "./retry.ts";
 * const wait: RetryWait = { shown: "GET https://r.example/v2/", attempt: 0 };
 * ```
 */
export interface RetryWait {
  /** The request, as `requestLine` names it. */
  shown: string;
  /** Which retry this wait comes before, 0 for the first. */
  attempt: number;
  /** The headers of the failed response, for its `Retry-After`. */
  headers?: Headers;
  /** What happened, said before the wait. */
  note?: string;
  /** Ends the wait at once. */
  signal?: AbortSignal;
}

/**
 * Logs how long and why, then waits before a retry: one line of the `-v` log, e.g.
 * `GET https://…: retrying in 2s (Retry-After), retry 1 of 3`.
 *
 * @throws the signal's reason when it aborts during the wait.
 * @example
 * ```ts
 * import { waitToRetry } from "./retry.ts";
 * await waitToRetry(
 *   { retries: 3, log: console.error },
 *   { shown: "GET https://r.example/v2/", attempt: 0, headers: new Headers({ "retry-after": "0" }) },
 * );
 * ```
 */
export async function waitToRetry(options: RetryOptions, wait: RetryWait): Promise<void> {
  const clock = options.clock ?? systemClock;
  const delay = retryDelay(wait.attempt, wait.headers, {
    now: clock.now(),
    random: options.random,
  });
  const seconds = Number((delay.ms / 1000).toFixed(1));
  options.log?.(
    `${wait.shown}: ${wait.note ? `${wait.note}; ` : ""}retrying in ${seconds}s ` +
      `(${delay.reason}), retry ${wait.attempt + 1} of ${options.retries}`,
  );
  await sleep(delay.ms, wait.signal, clock);
}

/**
 * How long to wait before retry number `attempt` (0 for the first) of a failed request, and why:
 * the `Retry-After` of its response, in seconds or as an HTTP date, capped at 60 s; else
 * exponential backoff with jitter, 50–100 % of 200 ms · 2^attempt, capped at 10 s. `now` (for
 * an HTTP date) and `random` (for the jitter) default to the real ones.
 *
 * @example
 * ```ts
 * import { retryDelay } from "./retry.ts";
 * retryDelay(0, new Headers({ "retry-after": "3600" }));
 * // { ms: 60000, reason: "Retry-After 3600s, capped at 60s" }
 * ```
 */
export function retryDelay(
  attempt: number,
  headers?: Headers,
  { now = Date.now(), random = Math.random }: { now?: number; random?: () => number } = {},
): { ms: number; reason: string } {
  const asked = retryAfter(headers, now);
  if (asked !== undefined) {
    if (asked <= RETRY_AFTER_CAP_MS) return { ms: Math.max(asked, 0), reason: "Retry-After" };
    return {
      ms: RETRY_AFTER_CAP_MS,
      reason: `Retry-After ${Math.round(asked / 1000)}s, capped at ${RETRY_AFTER_CAP_MS / 1000}s`,
    };
  }
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return { ms: Math.round(ceiling / 2 + random() * ceiling / 2), reason: "backoff" };
}

/** The milliseconds a `Retry-After` asks for, negative for a date past; none if unreadable. */
function retryAfter(headers: Headers | undefined, now: number): number | undefined {
  const value = headers?.get("retry-after")?.trim();
  if (!value) return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value) - now;
  return Number.isNaN(ms) ? undefined : ms;
}
