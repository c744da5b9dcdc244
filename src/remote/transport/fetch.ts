/**
 * The shape every layer of the transport speaks: a {@linkcode Fetch} takes a
 * {@linkcode FetchRequest} and answers a {@linkcode FetchResponse}, so that each layer (retry,
 * redirect, resume, stall guard, logging, error mapping) is a function from one `Fetch` to
 * another, and a test can put a fake at the bottom. Also the clock that layers wait on, which
 * tests replace, and the abortable waits built on it.
 *
 * The shape is narrower than the web's `Request`: a body is bytes, never a stream, so that any
 * layer may send a request again; and a response names the method and URL it answers, which a
 * redirect changes, for error messages.
 *
 * @example
 * ```ts
 * import type { Fetch } from "./fetch.ts";
 * const teapot: Fetch = async (request) => ({
 *   method: request.method,
 *   url: request.url,
 *   status: 418,
 *   statusText: "I'm a teapot",
 *   headers: new Headers(),
 *   body: null,
 * });
 * ```
 * @module
 */
import { requestLine } from "./redact.ts";
import { schedule } from "./timer.ts";

/**
 * One request as the layers pass it down.
 *
 * @example
 * ```ts
 * import type { FetchRequest } from "./fetch.ts";
 * const request: FetchRequest = {
 *   method: "GET",
 *   url: new URL("https://ghcr.io/v2/"),
 *   headers: new Headers({ accept: "application/json" }),
 *   signal: AbortSignal.timeout(5000),
 * };
 * ```
 */
export interface FetchRequest {
  /** The method, e.g. `GET`. */
  method: string;
  /** The URL. */
  url: URL;
  /** All headers to send, `authorization` included; layers copy them, never change them. */
  headers: Headers;
  /** The body: bytes, so that a retry or a redirect can send it again. */
  body?: Uint8Array<ArrayBuffer>;
  /**
   * The body holds credentials (an OAuth2 refresh token): like `authorization`, it goes to the
   * origin of the first request only.
   */
  credentialsInBody?: boolean;
  /** Aborts the request, any wait before a retry, and the reading of the body. */
  signal?: AbortSignal;
  /**
   * A fresh `authorization` once the registry refused the one sent: the request that resumes a
   * broken body (`resume.ts`) may go out after its token expired.
   */
  reauthorize?: () => Promise<string | undefined>;
}

/**
 * A response: the parts of `Response` that registries need, plus the request that produced it
 * (after redirects), for error messages.
 *
 * @example
 * ```ts
 * import type { HttpResponse } from "./fetch.ts";
 * function isFound(response: HttpResponse): boolean {
 *   return response.status === 200;
 * }
 * ```
 */
export interface HttpResponse {
  /** The method of the last request sent (a 303 redirect turns a POST into a GET). */
  method: string;
  /** The URL of the last request sent, after redirects. */
  url: URL;
  /** The status code. */
  status: number;
  /** The response headers. */
  headers: Headers;
  /**
   * The body, if any; it errors with a `NetworkError` when the connection fails or stalls.
   * Always read it to the end or cancel it, or the connection leaks.
   */
  body: ReadableStream<Uint8Array> | null;
  /**
   * The secrets the request carried (see {@linkcode secretsSent}), worked out when asked: a
   * server that echoes them in its answer must not have them quoted in an error, and only an
   * error reads them, so a request that succeeds (an idle sync's tick) pays nothing for them.
   */
  secrets?: () => readonly string[];
}

/**
 * The secrets a request carries: its `authorization` (the header's credentials; for Basic,
 * the decoded `user:password` and the password too) and the values of a form body that holds
 * credentials (`password`, `refresh_token`).
 *
 * @example
 * ```ts
 * import { secretsSent } from "./fetch.ts";
 * const headers = new Headers({ authorization: `Basic ${btoa("me:s3cret")}` });
 * secretsSent({ method: "GET", url: new URL("https://a.example/token"), headers });
 * // ["bWU6czNjcmV0", "me:s3cret", "s3cret"]
 * ```
 */
export function secretsSent(request: FetchRequest): string[] {
  const secrets: string[] = [];
  const [scheme, credentials] = (request.headers.get("authorization") ?? "").split(" ", 2);
  if (credentials) {
    secrets.push(credentials);
    if (scheme.toLowerCase() === "basic") {
      const decoded = decodeBasic(credentials);
      if (decoded !== undefined) secrets.push(decoded, decoded.slice(decoded.indexOf(":") + 1));
    }
  }
  if (request.credentialsInBody && request.body instanceof Uint8Array) {
    const form = new URLSearchParams(new TextDecoder().decode(request.body));
    for (const name of ["password", "refresh_token"]) {
      const value = form.get(name);
      if (value) secrets.push(value);
    }
  }
  return secrets.filter((secret) => secret !== "");
}

/** The `user:password` of a Basic authorization, if it is well-formed base64. */
function decodeBasic(credentials: string): string | undefined {
  try {
    return new TextDecoder().decode(Uint8Array.from(atob(credentials), (c) => c.charCodeAt(0)));
  } catch {
    return undefined;
  }
}

/**
 * What a {@linkcode Fetch} answers: an {@linkcode HttpResponse} with its status text, which
 * the `--debug` log shows.
 *
 * @example
 * ```ts
 * import type { FetchResponse } from "./fetch.ts";
 * const empty: FetchResponse = {
 *   method: "HEAD",
 *   url: new URL("https://ghcr.io/v2/"),
 *   status: 200,
 *   statusText: "OK",
 *   headers: new Headers(),
 *   body: null,
 * };
 * ```
 */
export interface FetchResponse extends HttpResponse {
  /** The status text, e.g. `OK`; empty over HTTP/2. */
  statusText: string;
}

/**
 * Sends one request. A layer is a function that takes the `Fetch` below it and returns one
 * that adds its behaviour.
 *
 * @example
 * ```ts
 * import type { Fetch } from "./fetch.ts";
 * function withAccept(next: Fetch, accept: string): Fetch {
 *   return (request) => {
 *     const headers = new Headers(request.headers);
 *     headers.set("accept", accept);
 *     return next({ ...request, headers });
 *   };
 * }
 * ```
 */
export type Fetch = (request: FetchRequest) => Promise<FetchResponse>;

/**
 * A layer that sends each request on to `next` and sees how it ends, given the request as it is
 * shown (`requestLine`, redacted): `failed` says what a request that got no response throws
 * (the error itself, or another), `answered` what becomes of a response. The line is worded when
 * `shown` is first called, which most answers never do: a redacted URL costs several URL parses.
 *
 * @example
 * ```ts
 * import { type Fetch, watchFetch } from "./fetch.ts";
 * function counting(next: Fetch, seen: string[]): Fetch {
 *   return watchFetch(next, {
 *     failed: (error, _request, shown) => (seen.push(`${shown()} failed`), error),
 *     answered: (response, _request, shown) => (seen.push(`${shown()} answered`), response),
 *   });
 * }
 * ```
 */
export function watchFetch(next: Fetch, on: {
  /** What to throw for `error`, which the request threw. */
  failed: (error: unknown, request: FetchRequest, shown: () => string) => unknown;
  /** What to answer for `response`. */
  answered: (
    response: FetchResponse,
    request: FetchRequest,
    shown: () => string,
  ) => FetchResponse;
}): Fetch {
  return async (request) => {
    let line: string | undefined;
    const shown = () => line ??= requestLine(request.method, request.url);
    let response;
    try {
      response = await next(request);
    } catch (error) {
      throw on.failed(error, request, shown);
    }
    return on.answered(response, request, shown);
  };
}

/**
 * The time that layers read and wait on. Tests pass a fake one, so that backoff and timeouts
 * run without waiting.
 *
 * @example
 * ```ts
 * import { type Clock, systemClock } from "./fetch.ts";
 * const clock: Clock = systemClock;
 * const cancel = clock.schedule(1000, () => console.log("a second later"));
 * cancel();
 * ```
 */
export interface Clock {
  /** Milliseconds since the epoch, as `Date.now()` gives them. */
  now(): number;
  /** Calls `callback` once, `ms` from now; the function returned cancels that. */
  schedule(ms: number, callback: () => void): () => void;
}

/**
 * The real clock: `Date.now()`, and the web timers of `./timer.ts` (not `setTimeout`, which
 * costs a short command the start of Deno's Node layer).
 *
 * @example
 * ```ts
 * import { systemClock } from "./fetch.ts";
 * console.log(new Date(systemClock.now()).toISOString());
 * ```
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  schedule,
};

/**
 * Waits `ms` on `clock`; rejects with the signal's reason as soon as it aborts.
 *
 * @example
 * ```ts
 * import { sleep } from "./fetch.ts";
 * await sleep(10, AbortSignal.timeout(1000));
 * ```
 */
export async function sleep(
  ms: number,
  signal?: AbortSignal,
  clock: Clock = systemClock,
): Promise<void> {
  let cancel = () => {};
  const elapsed = new Promise<void>((resolve) => cancel = clock.schedule(ms, resolve));
  try {
    await abortable(elapsed, signal);
  } finally {
    // An abort leaves no timer behind to keep the process alive.
    cancel();
  }
}

/**
 * `promise`, or the signal's reason as soon as it aborts: the caller stops waiting, while the
 * work itself goes on (it may be shared, as a token request is).
 *
 * @example
 * ```ts
 * import { abortable } from "./fetch.ts";
 * const controller = new AbortController();
 * const answer = abortable(new Promise(() => {}), controller.signal);
 * controller.abort(new Error("stopped"));
 * await answer.catch((error) => console.log(error.message)); // "stopped"
 * ```
 */
export function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal === undefined) return promise;
  // The abandoned promise may still fail later: that is no unhandled rejection of ours.
  promise.catch(() => {});
  if (signal.aborted) return Promise.reject(signal.reason);
  const aborted = Promise.withResolvers<never>();
  const onAbort = () => aborted.reject(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  return Promise.race([promise, aborted.promise])
    .finally(() => signal.removeEventListener("abort", onAbort));
}
