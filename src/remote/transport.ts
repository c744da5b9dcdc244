/**
 * HTTP for registries, as small layers around an injectable {@linkcode Fetch}, composed here in
 * one place ({@linkcode layeredFetch}). From the outside in:
 *
 * - `transport/resume.ts`: a `GET` body that breaks off is resumed with `Range: bytes=N-`;
 * - `transport/retry.ts`: transient failures are retried with backoff and jitter, honouring
 *   `Retry-After`;
 * - `transport/redirect.ts`: redirects are followed by hand, and `Authorization` never leaves
 *   the origin it was meant for;
 * - `transport/logging.ts`: one redacted log line per exchange, and the `--debug` headers;
 * - `transport/errors.ts`: failures worded as typed errors, and {@linkcode responseError};
 * - `transport/stall.ts`: `--timeout` bounds the wait for headers and any stall in a body;
 * - `transport/base.ts`: the runtime's `fetch`, with the HTTP client for `--ca-file`.
 *
 * Every request may carry an `AbortSignal`, which every layer honours: it ends a wait for
 * headers, a read, or a wait before a retry at once, and an aborted request is not retried.
 *
 * Request bodies are byte arrays, never streams, so that any request can be sent again after a
 * failure or a 401; callers opt out of retries where a repetition would be wrong (an upload
 * chunk).
 *
 * @example
 * ```ts
 * import { readBody, Transport } from "./transport.ts";
 * const transport = new Transport({ log: console.error });
 * const response = await transport.fetch({
 *   method: "GET",
 *   url: transport.registryUrl("localhost:5000", "/v2/"),
 *   signal: AbortSignal.timeout(60_000),
 * });
 * console.log(response.status, (await readBody(response, 65536)).length);
 * ```
 * @module
 */
import { UsageError } from "../errors/mod.ts";
import { isLoopbackRegistry, registryHost } from "../ref/mod.ts";
import { VERSION } from "../version.ts";
import { type HttpFetch, httpFetch } from "./transport/base.ts";
import { networkErrors } from "./transport/errors.ts";
import type { Clock, Fetch, FetchRequest, HttpResponse } from "./transport/fetch.ts";
import { type HttpExchange, logging } from "./transport/logging.ts";
import { redirects } from "./transport/redirect.ts";
import { resuming } from "./transport/resume.ts";
import { retrying } from "./transport/retry.ts";
import { stallGuard } from "./transport/stall.ts";

export { discardBody, readBody } from "./transport/body.ts";
export { concurrencyLimit } from "./transport/concurrency.ts";
export { type ErrorContext, responseError } from "./transport/errors.ts";
export {
  abortable,
  type Clock,
  type Fetch,
  type FetchRequest,
  type FetchResponse,
  type HttpResponse,
  sleep,
} from "./transport/fetch.ts";
export type { HttpExchange } from "./transport/logging.ts";
export { redactHeader, redactUrl, requestLine } from "./transport/redact.ts";
export { refuseDowngrade } from "./transport/redirect.ts";
export { bodyFrom } from "./transport/resume.ts";
export { retryDelay } from "./transport/retry.ts";

const DEFAULT_RETRIES = 3;
const USER_AGENT = `ocisync/${VERSION}`;

/**
 * How a {@linkcode Transport} connects. Skipping TLS verification (`--insecure`) is not offered:
 * Deno can only turn it off for the whole process (`--unsafely-ignore-certificate-errors`),
 * not for one client; `caFile` covers private certificate authorities.
 *
 * @example
 * ```ts
 * import type { TransportOptions } from "./transport.ts";
 * const options: TransportOptions = { caFile: "/etc/ssl/private-ca.pem", retries: 5 };
 * ```
 */
export interface TransportOptions {
  /**
   * Use plain HTTP for every registry. Without it, HTTPS is used, except for registries on
   * this machine (`localhost`, `127.0.0.1`, `[::1]`), which are spoken to over HTTP.
   */
  plainHttp?: boolean;
  /** A PEM file of certificate authorities to trust besides the system's. */
  caFile?: string;
  /** How many times a failed request is retried, or a broken-off body resumed. Default 3. */
  retries?: number;
  /**
   * Milliseconds to wait for response headers. Default 30 000; requests with a body get one
   * more second per 64 KiB of it, so that a large chunk on a slow uplink does not time out.
   */
  timeout?: number;
  /** Milliseconds a response body may stall between two reads. Default 60 000. */
  idleTimeout?: number;
  /**
   * Receives one line per HTTP exchange (`GET https://… -> 200`) and per retry, with
   * credentials and query values redacted.
   */
  log?: (line: string) => void;
  /**
   * Receives each exchange's headers as sent and received, for `--debug`. They are not
   * redacted: the receiver must redact them before showing them.
   */
  onExchange?: (exchange: HttpExchange) => void;
}

/**
 * One HTTP request. Bodies are byte arrays, so that any request can be sent again.
 *
 * @example
 * ```ts
 * import type { HttpRequest } from "./transport.ts";
 * const request: HttpRequest = {
 *   method: "HEAD",
 *   url: new URL("https://ghcr.io/v2/org/app/manifests/v1"),
 *   authorization: "Bearer abc",
 *   signal: AbortSignal.timeout(10_000),
 * };
 * ```
 */
export interface HttpRequest {
  /** The method, e.g. `GET`. */
  method: string;
  /** The URL. Its query string is kept out of logs and errors. */
  url: URL;
  /** Headers other than `Authorization`, which is dropped from here: see `authorization`. */
  headers?: Record<string, string>;
  /**
   * The `Authorization` header. It is sent to the origin (scheme, host and port) of `url`
   * only, never after a redirect to another one: blob downloads are commonly redirected to
   * object storage, which must not see registry credentials.
   */
  authorization?: string;
  /** The body. */
  body?: Uint8Array<ArrayBuffer>;
  /**
   * A fresh {@linkcode authorization}, once the registry has refused the one sent: for the
   * request that resumes a body broken off (its `Range` request), which may go out after the
   * token has expired (Docker Hub's last 300 s, a large layer on a slow link takes longer).
   */
  reauthorize?: () => Promise<string | undefined>;
  /**
   * The body holds credentials (an OAuth2 refresh token): like {@linkcode authorization}, it
   * is sent to the origin of `url` only, and a redirect that would carry it elsewhere fails.
   */
  credentialsInBody?: boolean;
  /**
   * Whether to retry on network errors and on 408, 429, 500, 502, 503 and 504. Default true;
   * false for requests whose repetition is unsafe, such as an upload chunk, which the caller
   * resumes from the offset the registry reports instead.
   */
  retry?: boolean;
  /**
   * Aborts the request: the wait for its response, any wait before a retry, and the reading
   * of its body all end at once with the signal's reason, and nothing is retried after it.
   */
  signal?: AbortSignal;
}

/**
 * What {@linkcode layeredFetch} builds its layers with: the transport's options that concern
 * them, and the clock and randomness that tests replace.
 *
 * @example
 * ```ts
 * import type { LayerOptions } from "./transport.ts";
 * const options: LayerOptions = { retries: 1, timeout: 5000, random: () => 0.5 };
 * ```
 */
export interface LayerOptions
  extends Pick<TransportOptions, "retries" | "timeout" | "idleTimeout" | "log" | "onExchange"> {
  /** The clock that waits and timeouts run on. Default the real one. */
  clock?: Clock;
  /** Numbers in [0, 1) for the backoff's jitter. Default `Math.random`. */
  random?: () => number;
}

/**
 * The transport's layers over `base`, which builds the behaviour that
 * {@linkcode Transport.fetch} has: each request's redirects are followed (each hop timed,
 * worded and logged), the whole is retried, and a `GET` body resumed.
 *
 * @example
 * ```ts
 * import { type Fetch, layeredFetch } from "./transport.ts";
 * const fake: Fetch = async (request) => ({
 *   ...request,
 *   status: 200,
 *   statusText: "OK",
 *   body: null,
 * });
 * const send = layeredFetch(fake, { retries: 2, log: console.error });
 * await send({ method: "HEAD", url: new URL("https://r.example/v2/"), headers: new Headers() });
 * ```
 */
export function layeredFetch(base: Fetch, options: LayerOptions = {}): Fetch {
  const retry = {
    retries: options.retries ?? DEFAULT_RETRIES,
    log: options.log,
    clock: options.clock,
    random: options.random,
  };
  // Innermost first. The error layer sits above the stall guard to word its timeouts, and the
  // log above both to say what each hop came to; redirects are followed below the retries, so
  // that a retry starts again from the registry, which may redirect elsewhere this time.
  const hop = logging(networkErrors(stallGuard(base, options)), options);
  return resuming(retrying(redirects(hop), retry), retry);
}

/**
 * Sends HTTP requests to registries and token servers. One instance can be shared by any
 * number of concurrent requests.
 *
 * @example
 * ```ts
 * import { discardBody, Transport } from "./transport.ts";
 * const transport = new Transport({ retries: 1 });
 * const response = await transport.fetch({
 *   method: "HEAD",
 *   url: transport.registryUrl("127.0.0.1:5000", "/v2/"),
 * });
 * await discardBody(response);
 * transport.close();
 * ```
 */
export class Transport {
  #options: TransportOptions;
  #base: HttpFetch;
  #retrying: Fetch;
  #once: Fetch;
  /** Each registry's origin, as {@linkcode registryUrl} picks it: asked for every request. */
  #origins = new Map<string, string>();

  /** Creates a transport; the `caFile` is read on the first request. */
  constructor(options: TransportOptions = {}) {
    // A NaN or an infinite wait turned a bound off, or broke the timers other calls share.
    for (const name of ["timeout", "idleTimeout", "retries"] as const) {
      const value = options[name];
      if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
        throw new UsageError(`${name} must be a finite number of 0 or more, not ${value}`);
      }
    }
    this.#options = options;
    this.#base = httpFetch({ caFile: options.caFile });
    this.#retrying = layeredFetch(this.#base.fetch, options);
    // For requests whose repetition is unsafe: no retries, and so no resumption.
    this.#once = layeredFetch(this.#base.fetch, { ...options, retries: 0 });
  }

  /** Whether the user chose plain HTTP for every registry ({@linkcode TransportOptions.plainHttp}). */
  get plainHttp(): boolean {
    return this.#options.plainHttp === true;
  }

  /**
   * The URL of `path` on a registry named as in references (`docker.io`, `localhost:5000`):
   * Docker Hub's API host stands in for `docker.io`, and the scheme is chosen as
   * {@linkcode TransportOptions.plainHttp} describes.
   *
   * @example
   * ```ts
   * import { Transport } from "./transport.ts";
   * new Transport().registryUrl("docker.io", "/v2/").href; // "https://registry-1.docker.io/v2/"
   * ```
   */
  registryUrl(registry: string, path: string): URL {
    return new URL(path, this.registryOrigin(registry));
  }

  /**
   * The origin (scheme, host and port) of a registry named as in references: the one origin
   * that its credentials go to.
   *
   * @example
   * ```ts
   * import { Transport } from "./transport.ts";
   * new Transport().registryOrigin("localhost:5000"); // "http://localhost:5000"
   * ```
   */
  registryOrigin(registry: string): string {
    let origin = this.#origins.get(registry);
    if (origin === undefined) {
      const scheme = this.#options.plainHttp || isLoopbackRegistry(registry) ? "http" : "https";
      origin = new URL(`${scheme}://${registryHost(registry)}`).origin;
      this.#origins.set(registry, origin);
    }
    return origin;
  }

  /**
   * Sends a request, following redirects and retrying as {@linkcode HttpRequest.retry} says.
   * Any status is returned, including errors once the retries are spent: see
   * {@linkcode responseError}. The body of a successful `GET` that breaks off or stalls is
   * resumed from where it stopped with a `Range` request, within the same retries.
   *
   * @throws {NetworkError} when the connection fails or times out after the retries, or on
   * more than 10 redirects.
   * @throws the reason of {@linkcode HttpRequest.signal} when it aborts.
   * @example
   * ```ts
   * import { readBody, Transport } from "./transport.ts";
   * const transport = new Transport();
   * const response = await transport.fetch({
   *   method: "GET",
   *   url: new URL("http://localhost:5000/v2/_catalog"),
   * });
   * console.log(new TextDecoder().decode(await readBody(response, 1 << 20)));
   * ```
   */
  async fetch(request: HttpRequest): Promise<HttpResponse> {
    const send = request.retry === false ? this.#once : this.#retrying;
    return await send(fetchRequest(request));
  }

  /** Closes the TLS client made for `caFile`, if any. */
  close(): void {
    this.#base.close();
  }
}

/**
 * The request as the layers take it: the `User-Agent` set, and `Authorization` taken from
 * {@linkcode HttpRequest.authorization} alone, the one field that redirects strip.
 *
 * @example
 * ```ts
 * import { fetchRequest } from "./transport.ts";
 * const request = fetchRequest({
 *   method: "GET",
 *   url: new URL("https://ghcr.io/v2/"),
 *   headers: { authorization: "ignored" },
 * });
 * request.headers.has("authorization"); // false
 * ```
 */
export function fetchRequest(request: HttpRequest): FetchRequest {
  const headers = new Headers(request.headers);
  headers.set("user-agent", USER_AGENT);
  headers.delete("authorization");
  if (request.authorization !== undefined) headers.set("authorization", request.authorization);
  const { method, url, body, credentialsInBody, signal, reauthorize } = request;
  return { method, url, headers, body, credentialsInBody, signal, reauthorize };
}
