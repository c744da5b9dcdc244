/**
 * The request log: one line per exchange for `-v` (`GET https://… -> 200`, or what went wrong),
 * URLs redacted, and each exchange's headers for `--debug`, which its receiver shows through
 * `redactHeader`. It sits below the redirect layer, so that every hop is logged with the
 * headers that hop carried.
 *
 * @example
 * ```ts
 * import { httpFetch } from "./base.ts";
 * import { logging } from "./logging.ts";
 * const logged = logging(httpFetch().fetch, { log: console.error });
 * ```
 * @module
 */
import { type Fetch, watchFetch } from "./fetch.ts";

/**
 * One request and its response's status and headers, as `onExchange` receives them. Bodies are
 * never part of it.
 *
 * @example
 * ```ts
 * import type { HttpExchange } from "./logging.ts";
 * const show = (e: HttpExchange) => console.error(e.method, e.url.pathname, e.status);
 * ```
 */
export interface HttpExchange {
  /** The request method. */
  method: string;
  /** The request URL, unredacted. */
  url: URL;
  /** The headers sent, `authorization` included. */
  requestHeaders: Headers;
  /** The response status. */
  status: number;
  /** The response status text. */
  statusText: string;
  /** The headers received. */
  responseHeaders: Headers;
}

/**
 * Where {@linkcode logging} writes.
 *
 * @example
 * ```ts
 * import type { LogOptions } from "./logging.ts";
 * const options: LogOptions = { log: (line) => console.error(line) };
 * ```
 */
export interface LogOptions {
  /**
   * Receives one line per HTTP exchange (`GET https://… -> 200`), or per request that got no
   * response (`GET https://… -> no response within 1000 ms`), with query values and user info
   * redacted.
   */
  log?: (line: string) => void;
  /**
   * Receives each exchange's headers as sent and received, for `--debug`. They are not
   * redacted: the receiver must redact them (`redactHeader`) before showing them.
   */
  onExchange?: (exchange: HttpExchange) => void;
}

/**
 * Logs each exchange of the layer below. A failure is logged with the error's own words, which
 * the error layer below has already redacted; an abort by the request's signal is the
 * caller's to report, and is not logged.
 *
 * @example
 * ```ts
 * import type { Fetch } from "./fetch.ts";
 * import { logging } from "./logging.ts";
 * const ok: Fetch = async (request) => ({
 *   ...request,
 *   status: 200,
 *   statusText: "OK",
 *   body: null,
 * });
 * const lines: string[] = [];
 * await logging(ok, { log: (line) => lines.push(line) })({
 *   method: "GET",
 *   url: new URL("https://s3.example/b?X-Amz-Signature=abc"),
 *   headers: new Headers(),
 * });
 * // lines: ["GET https://s3.example/b?X-Amz-Signature=*** -> 200"]
 * ```
 */
export function logging(next: Fetch, options: LogOptions): Fetch {
  const { log, onExchange } = options;
  if (log === undefined && onExchange === undefined) return next;
  return watchFetch(next, {
    failed: (error, request, shown) => {
      if (!request.signal?.aborted) log?.(`${shown()} -> ${problem(error, shown())}`);
      return error;
    },
    answered: (response, request, shown) => {
      log?.(`${shown()} -> ${response.status}`);
      onExchange?.({
        method: request.method,
        url: request.url,
        requestHeaders: request.headers,
        status: response.status,
        statusText: response.statusText,
        responseHeaders: response.headers,
      });
      return response;
    },
  });
}

/** What went wrong, without the request that the error message names first. */
function problem(error: unknown, shown: string): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.startsWith(`${shown}: `) ? message.slice(shown.length + 2) : message;
}
