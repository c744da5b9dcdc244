/**
 * HTTP for registries, over `fetch`: the URL scheme for a registry, redirects followed by hand
 * so that credentials never leave the host they were meant for, retries with backoff that honour
 * `Retry-After`, bodies resumed with `Range` after a reset or a stall, timeouts for headers and
 * for stalled bodies, a redacted request log, and the mapping of error responses to ocisync's
 * typed errors.
 *
 * Request bodies are byte arrays, never streams, so that any request can be sent again after a
 * failure or a 401; callers opt out of retries where a repetition would be wrong (an upload
 * chunk).
 *
 * Proxies need no option: Deno's `fetch` honours `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`.
 *
 * @example
 * ```ts
 * import { readBody, Transport } from "./transport.ts";
 * const transport = new Transport({ log: console.error });
 * const response = await transport.fetch({
 *   method: "GET",
 *   url: transport.registryUrl("localhost:5000", "/v2/"),
 * });
 * console.log(response.status, (await readBody(response, 65536)).length);
 * ```
 * @module
 */
import {
  AuthError,
  IntegrityError,
  NetworkError,
  NotFoundError,
  OcisyncError,
} from "../errors/mod.ts";
import { isLoopbackRegistry, registryHost } from "../ref/mod.ts";
import { VERSION } from "../version.ts";

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
 * One request and its response's status and headers, as {@linkcode TransportOptions.onExchange}
 * receives them. Bodies are never part of it.
 *
 * @example
 * ```ts
 * import type { HttpExchange } from "./transport.ts";
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
 * One HTTP request. Bodies are byte arrays, so that any request can be sent again.
 *
 * @example
 * ```ts
 * import type { HttpRequest } from "./transport.ts";
 * const request: HttpRequest = {
 *   method: "HEAD",
 *   url: new URL("https://ghcr.io/v2/org/app/manifests/v1"),
 *   authorization: "Bearer abc",
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
   * Whether to retry on network errors and on 408, 429, 500, 502, 503 and 504. Default true;
   * false for requests whose repetition is unsafe, such as an upload chunk, which the caller
   * resumes from the offset the registry reports instead.
   */
  retry?: boolean;
}

/**
 * A response: the parts of `Response` that registries need, plus the request that produced it
 * (after redirects), for error messages.
 *
 * @example
 * ```ts
 * import { discardBody, type HttpResponse } from "./transport.ts";
 * async function isFound(response: HttpResponse): Promise<boolean> {
 *   await discardBody(response);
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
   * The body, if any; it errors with a {@linkcode NetworkError} when the connection fails or
   * stalls. Always read it to the end or cancel it, or the connection leaks.
   */
  body: ReadableStream<Uint8Array> | null;
}

const DEFAULT_RETRIES = 3;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
const BODY_BYTES_PER_EXTRA_SECOND = 64 * 1024;
const MAX_REDIRECTS = 10;
const BACKOFF_BASE_MS = 200;
const BACKOFF_CAP_MS = 10_000;
const RETRY_AFTER_CAP_MS = 60_000;
const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const ERROR_BODY_LIMIT = 64 * 1024;
const NOT_FOUND_CODES = [
  "NAME_UNKNOWN",
  "MANIFEST_UNKNOWN",
  "BLOB_UNKNOWN",
  "BLOB_UPLOAD_UNKNOWN",
  "MANIFEST_BLOB_UNKNOWN",
];
// Query parameters of the distribution API that carry no secret; the values of all others
// (upload `_state`, signed object-storage URLs, tokens) are redacted in logs and errors.
const PUBLIC_QUERY_PARAMETERS = new Set([
  "digest",
  "mount",
  "from",
  "n",
  "last",
  "service",
  "scope",
]);
const USER_AGENT = `ocisync/${VERSION}`;

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
  #client?: Promise<Deno.HttpClient>;

  /** Creates a transport; the `caFile` is read on the first request. */
  constructor(options: TransportOptions = {}) {
    this.#options = options;
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
    const scheme = this.#options.plainHttp || isLoopbackRegistry(registry) ? "http" : "https";
    return new URL(path, `${scheme}://${registryHost(registry)}`);
  }

  /**
   * Sends a request, following redirects and retrying as {@linkcode HttpRequest.retry} says.
   * Any status is returned, including errors once the retries are spent: see
   * {@linkcode responseError}. The body of a successful `GET` that breaks off or stalls is
   * resumed from where it stopped with a `Range` request, within the same retries.
   *
   * @throws {NetworkError} when the connection fails or times out after the retries, or on
   * more than 10 redirects.
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
    const response = await this.#fetchWithRetries(request);
    if (request.method !== "GET" || response.status !== 200 || response.body === null) {
      return response;
    }
    return { ...response, body: this.#resumingBody(request, response.body) };
  }

  async #fetchWithRetries(request: HttpRequest): Promise<HttpResponse> {
    const retries = this.#retries(request);
    const shown = `${request.method} ${redactUrl(request.url)}`;
    for (let attempt = 0;; attempt++) {
      const retriesLeft = attempt < retries;
      let response: HttpResponse;
      try {
        response = await this.#followRedirects(request);
      } catch (error) {
        if (!(error instanceof NetworkError) || !retriesLeft) throw error;
        await this.#waitToRetry(shown, attempt, retries);
        continue;
      }
      if (!RETRY_STATUSES.has(response.status) || !retriesLeft) return response;
      await discardBody(response);
      await this.#waitToRetry(shown, attempt, retries, response.headers);
    }
  }

  /**
   * The body, passed through; when it fails with a {@linkcode NetworkError} (a reset, a
   * stall), the rest is asked for with `Range: bytes=N-`. A registry that ignores `Range`
   * answers 200 with the whole body, whose first N bytes are then skipped.
   */
  #resumingBody(
    request: HttpRequest,
    body: ReadableStream<Uint8Array>,
  ): ReadableStream<Uint8Array> {
    const retries = this.#retries(request);
    const shown = `${request.method} ${redactUrl(request.url)}`;
    let reader = body.getReader();
    let received = 0;
    let resumptions = 0;
    let cancelled = false;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        while (true) {
          try {
            const { done, value } = await reader.read();
            if (done) return controller.close();
            received += value.byteLength;
            return controller.enqueue(value);
          } catch (error) {
            if (!(error instanceof NetworkError) || resumptions >= retries) throw error;
            // The message names the request as sent (after redirects), then the problem.
            const problem = error.message.slice(error.message.indexOf(": ") + 2);
            const note = `the body broke off at byte ${received} (${problem}), resuming it`;
            await this.#waitToRetry(shown, resumptions++, retries, undefined, note);
            reader = await this.#resume(request, received, shown);
            // The reader may have given up meanwhile: free the new connection too.
            if (cancelled) {
              await reader.cancel();
              return;
            }
          }
        }
      },
      cancel: (reason) => {
        cancelled = true;
        return reader.cancel(reason);
      },
    }, { highWaterMark: 0 });
  }

  /** A reader of the body from byte `offset` on. */
  async #resume(
    request: HttpRequest,
    offset: number,
    shown: string,
  ): Promise<ReadableStreamDefaultReader<Uint8Array>> {
    const response = await this.#fetchWithRetries({
      ...request,
      headers: { ...request.headers, range: `bytes=${offset}-` },
    });
    const start = response.status === 206
      ? Number(/^bytes (\d+)-/.exec(response.headers.get("content-range") ?? "")?.[1] ?? NaN)
      : response.status === 200
      ? 0
      : NaN;
    // NaN (no usable answer) and a range that starts after `offset` cannot continue the body.
    if (response.body === null || !(start <= offset)) {
      await discardBody(response);
      throw new NetworkError(`${shown}: cannot resume from byte ${offset} (-> ${response.status})`);
    }
    return response.body.pipeThrough(skipping(offset - start)).getReader();
  }

  #retries(request: HttpRequest): number {
    return request.retry === false ? 0 : this.#options.retries ?? DEFAULT_RETRIES;
  }

  /** Logs how long and why, then waits before retry number `attempt` (0 for the first). */
  async #waitToRetry(
    shown: string,
    attempt: number,
    retries: number,
    headers?: Headers,
    note?: string,
  ): Promise<void> {
    const delay = retryDelay(attempt, headers);
    const seconds = Number((delay.ms / 1000).toFixed(1));
    this.#log(
      `${shown}: ${note ? `${note}; ` : ""}retrying in ${seconds}s (${delay.reason}), ` +
        `retry ${attempt + 1} of ${retries}`,
    );
    await sleep(delay.ms);
  }

  /** Closes the TLS client made for `caFile`, if any. */
  close(): void {
    this.#client?.then((client) => client.close(), () => {});
    this.#client = undefined;
  }

  async #followRedirects(request: HttpRequest): Promise<HttpResponse> {
    const trustedOrigin = request.url.origin;
    let { method, body } = request;
    let url = request.url;
    for (let hops = 0; hops <= MAX_REDIRECTS; hops++) {
      const authorization = url.origin === trustedOrigin ? request.authorization : undefined;
      const response = await this.#send(method, url, request.headers, authorization, body);
      const location = response.headers.get("location");
      if (!REDIRECT_STATUSES.has(response.status) || location === null) return response;
      await discardBody(response);
      url = new URL(location, url);
      // As browsers do: 303 always, and 301/302 after a POST, turn the request into a GET.
      if (
        (response.status === 303 && method !== "HEAD") ||
        (response.status < 303 && method === "POST")
      ) {
        method = "GET";
        body = undefined;
      }
    }
    throw new NetworkError(
      `${request.method} ${redactUrl(request.url)}: more than ${MAX_REDIRECTS} redirects`,
    );
  }

  async #send(
    method: string,
    url: URL,
    headers: Record<string, string> | undefined,
    authorization: string | undefined,
    body: Uint8Array<ArrayBuffer> | undefined,
  ): Promise<HttpResponse> {
    const allHeaders = new Headers(headers);
    allHeaders.set("user-agent", USER_AGENT);
    // Only the `authorization` field, which redirects strip, may carry credentials.
    allHeaders.delete("authorization");
    if (authorization !== undefined) allHeaders.set("authorization", authorization);
    const timeout = (this.#options.timeout ?? DEFAULT_TIMEOUT_MS) +
      Math.floor((body?.byteLength ?? 0) / BODY_BYTES_PER_EXTRA_SECOND) * 1000;
    const client = await this.#httpClient();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeout);
    const shown = `${method} ${redactUrl(url)}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: allHeaders,
        body,
        redirect: "manual",
        signal: abort.signal,
        client,
      });
    } catch (error) {
      throw this.#sendFailure(error, url, shown, abort.signal.aborted ? timeout : undefined);
    } finally {
      clearTimeout(timer);
    }
    this.#log(`${shown} -> ${response.status}`);
    this.#options.onExchange?.({
      method,
      url,
      requestHeaders: allHeaders,
      status: response.status,
      statusText: response.statusText,
      responseHeaders: response.headers,
    });
    const idleTimeout = this.#options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_MS;
    return {
      method,
      url,
      status: response.status,
      headers: response.headers,
      body: response.body && guardBody(response.body, idleTimeout, shown),
    };
  }

  /**
   * The error for a request that got no response, logged first: which host could not be
   * reached and why, with a hint. `timedOut` is the timeout in ms when it expired.
   */
  #sendFailure(error: unknown, url: URL, shown: string, timedOut?: number): OcisyncError {
    if (error instanceof TypeError && /^Invalid header/.test(error.message)) {
      // Deno quotes the value, which may be a credential: say only which header it was.
      const name = /header (name|value)/.exec(error.message)?.[1] ?? "value";
      this.#log(`${shown} -> invalid header ${name}`);
      return new OcisyncError(`${shown}: a request header ${name} holds characters HTTP forbids`);
    }
    const { problem, hint } = timedOut === undefined ? connectionProblem(describe(error), url) : {
      problem: `no response within ${timedOut} ms`,
      hint: `${url.host} did not answer in time: check the network, or allow more with ` +
        `--timeout`,
    };
    this.#log(`${shown} -> ${problem}`);
    return new NetworkError(`${shown}: ${problem}`, { hint: hint + proxyNote(url) });
  }

  #httpClient(): Promise<Deno.HttpClient> | undefined {
    const caFile = this.#options.caFile;
    if (caFile === undefined) return undefined;
    this.#client ??= Deno.readTextFile(caFile).then(
      (pem) => Deno.createHttpClient({ caCerts: [pem] }),
      (error) => {
        throw new OcisyncError(`cannot read the CA file ${caFile}: ${describe(error)}`);
      },
    );
    return this.#client;
  }

  #log(line: string): void {
    this.#options.log?.(line);
  }
}

/**
 * Reads a whole body, refusing more than `limit` bytes.
 *
 * @throws {IntegrityError} when the body is larger than `limit`.
 * @throws {NetworkError} when the connection fails or stalls.
 * @example
 * ```ts
 * import { readBody, type HttpResponse } from "./transport.ts";
 * async function json(response: HttpResponse): Promise<unknown> {
 *   return JSON.parse(new TextDecoder().decode(await readBody(response, 1 << 20)));
 * }
 * ```
 */
export async function readBody(
  response: HttpResponse,
  limit: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const tooLarge = () =>
    new IntegrityError(
      `${response.method} ${redactUrl(response.url)}: response is larger than ${limit} bytes`,
    );
  if (Number(response.headers.get("content-length")) > limit) {
    await discardBody(response);
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body ?? []) {
    size += chunk.byteLength;
    // Leaving the loop early cancels the stream.
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/**
 * Cancels a body that is not needed, which frees the connection.
 *
 * @example
 * ```ts
 * import { discardBody, type HttpResponse } from "./transport.ts";
 * async function statusOf(response: HttpResponse): Promise<number> {
 *   await discardBody(response);
 *   return response.status;
 * }
 * ```
 */
export async function discardBody(response: HttpResponse): Promise<void> {
  await response.body?.cancel().catch(() => {});
}

/** What {@linkcode responseError} says about a failed request. */
export interface ErrorContext {
  /** The registry as written in references, named in the login hint of an auth error. */
  registry: string;
  /** What was being done, e.g. `manifest v1 of 127.0.0.1:5000/app`. */
  subject: string;
}

/**
 * The typed error for a response that failed, with the registry's error codes and messages
 * (distribution-spec `{"errors":[{"code","message"}]}`) when the body has them. Reads the body.
 *
 * - 401 and 403 become {@linkcode AuthError}, with a hint to log in;
 * - 404, and the codes `NAME_UNKNOWN`, `MANIFEST_UNKNOWN`, `BLOB_UNKNOWN`,
 *   `BLOB_UPLOAD_UNKNOWN` and `MANIFEST_BLOB_UNKNOWN`, {@linkcode NotFoundError};
 * - `DIGEST_INVALID` and `SIZE_INVALID`, {@linkcode IntegrityError};
 * - 408, 429 and 5xx, {@linkcode NetworkError};
 * - anything else, {@linkcode OcisyncError}.
 *
 * @example
 * ```ts
 * import { responseError, type HttpResponse } from "./transport.ts";
 * async function expectOk(response: HttpResponse): Promise<void> {
 *   if (response.status !== 200) {
 *     throw await responseError(response, { registry: "ghcr.io", subject: "tags of org/app" });
 *   }
 * }
 * ```
 */
export async function responseError(
  response: HttpResponse,
  context: ErrorContext,
): Promise<Error> {
  const details = await errorDetails(response);
  const codes = new Set(details.map((detail) => detail.code));
  const message = `${context.subject}: ${response.method} ${redactUrl(response.url)} -> ` +
    [String(response.status), ...details.map((d) => `${d.code}: ${d.message}`)].join(", ");
  const status = response.status;
  if (status === 401 || status === 403) {
    return new AuthError(message, {
      hint: `run \`ocisync login ${context.registry}\`, or pass --credentials`,
    });
  }
  if (status === 404 || NOT_FOUND_CODES.some((code) => codes.has(code))) {
    return new NotFoundError(message);
  }
  if (codes.has("DIGEST_INVALID") || codes.has("SIZE_INVALID")) return new IntegrityError(message);
  if (status === 408 || status === 429 || status >= 500) return new NetworkError(message);
  return new OcisyncError(message);
}

/**
 * A URL fit for logs and errors: the values of query parameters that may hold secrets (upload
 * state, signed URLs, tokens) and any user info are replaced by `***`.
 *
 * @example
 * ```ts
 * import { redactUrl } from "./transport.ts";
 * redactUrl(new URL("https://s3.example/blob?X-Amz-Signature=abc&digest=sha256:1"));
 * // "https://s3.example/blob?X-Amz-Signature=***&digest=sha256:1"
 * ```
 */
export function redactUrl(url: URL): string {
  const copy = new URL(url);
  if (copy.username !== "") copy.username = "***";
  if (copy.password !== "") copy.password = "***";
  const query = [...copy.searchParams].map(([name, value]) =>
    `${name}=${PUBLIC_QUERY_PARAMETERS.has(name) ? value : "***"}`
  );
  copy.search = "";
  copy.hash = "";
  return copy.href + (query.length > 0 ? `?${query.join("&")}` : "");
}

/**
 * A gate that lets at most `limit` tasks run at once; the others wait their turn, in order.
 *
 * @example
 * ```ts
 * import { concurrencyLimit } from "./transport.ts";
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

interface ErrorDetail {
  code: string;
  message: string;
}

/** The distribution-spec errors in a body, or its first line when it is not such JSON. */
async function errorDetails(response: HttpResponse): Promise<ErrorDetail[]> {
  let text: string;
  try {
    text = new TextDecoder().decode(await readBody(response, ERROR_BODY_LIMIT)).trim();
  } catch {
    return [];
  }
  try {
    const errors = JSON.parse(text)?.errors;
    if (Array.isArray(errors)) {
      return errors.map((e) => ({
        code: String(e?.code ?? "UNKNOWN"),
        message: String(e?.message ?? ""),
      }));
    }
  } catch {
    // Not JSON: an HTML or text page from a proxy or a router.
  }
  const line = text.split("\n", 1)[0].slice(0, 200);
  return line === "" ? [] : [{ code: "BODY", message: line }];
}

/** Redacts every URL inside an error message (Deno's fetch errors quote the whole URL). */
function redactMessage(message: string): string {
  return message.replace(/\bhttps?:\/\/[^\s)]+/g, (match) => {
    const url = URL.parse(match);
    return url ? redactUrl(url) : "(url)";
  });
}

/** One kind of connection failure, recognised by the words of Deno's fetch error. */
interface ConnectionFailure {
  pattern: RegExp;
  /** Why, for the message; `words` are the runtime's own, redacted. */
  reason(url: URL, words: string): string;
  hint(url: URL): string;
}

const CA_FILE_HINT = "trust the registry's certificate authority with --ca-file FILE";

// In order: the first match wins. The runtime's words follow each reason, for the details.
const CONNECTION_FAILURES: ConnectionFailure[] = [
  {
    pattern: /dns error|lookup address|name resolution|Name or service not known|nodename/i,
    reason: (url, words) => `cannot resolve the host name ${url.hostname} (${words})`,
    hint: (url) => `check the spelling of ${url.hostname}, and that DNS works on this network`,
  },
  {
    pattern: /connection refused/i,
    reason: (url) => `cannot connect to ${url.host}: connection refused`,
    hint: (url) =>
      `nothing accepts connections at ${url.host}: check the host and port, ` +
      `and that the registry is running`,
  },
  {
    pattern: /InvalidContentType|corrupt message|wrong version number/i,
    reason: (url, words) =>
      `TLS handshake with ${url.host} failed: it does not answer in TLS (${words})`,
    hint: (url) => `if ${url.host} serves plain HTTP, pass --plain-http`,
  },
  {
    pattern: /certificate/i,
    reason: (url, words) =>
      `TLS handshake with ${url.host} failed: its certificate is not trusted (${words})`,
    hint: () => CA_FILE_HINT,
  },
  {
    pattern: /tls|handshake|alert/i,
    reason: (url, words) => `TLS handshake with ${url.host} failed (${words})`,
    hint: () => `${CA_FILE_HINT}, or use --plain-http if it serves plain HTTP`,
  },
  {
    pattern: /timed out/i,
    reason: (url, words) => `cannot connect to ${url.host}: timed out (${words})`,
    hint: (url) => `${url.host} did not answer: check the host, and any firewall on the way`,
  },
  {
    pattern: /reset|closed|broken pipe|aborted/i,
    reason: (url, words) => `the connection to ${url.host} broke (${words})`,
    hint: (url) => `check the network, and any proxy between this machine and ${url.host}`,
  },
];

/** Which host could not be reached, why, and what to do, from a fetch error's text. */
function connectionProblem(detail: string, url: URL): { problem: string; hint: string } {
  const words = runtimeWords(detail);
  const failure = CONNECTION_FAILURES.find((f) => f.pattern.test(words));
  if (failure === undefined) {
    return {
      problem: `cannot reach ${url.host} (${words})`,
      hint: `check the network, and that ${url.host} is up`,
    };
  }
  return { problem: failure.reason(url, words), hint: failure.hint(url) };
}

/**
 * The runtime's own account of a failure, without the wrapping that repeats the URL:
 * `fetch failed: error sending request for url (…): client error (Connect): tcp connect
 * error: Connection refused (os error 111)` becomes `tcp connect error: Connection refused (os
 * error 111)`. Any URL left is dropped: the message names it already, and a host or path must
 * not be taken for a reason (`tls.example.com`, `/v2/closed/…`).
 */
function runtimeWords(detail: string): string {
  const inner = /client error \([^)]*\): (.*)$/s.exec(detail)?.[1] ??
    detail.replace(/^fetch failed: /, "");
  return inner.replace(/\bhttps?:\/\/[^\s)]+/g, "(url)");
}

/**
 * A note for a hint when a proxy variable is set for the URL's scheme: the failure may be the
 * proxy's. Read only when the environment may be read without a prompt.
 */
function proxyNote(url: URL): string {
  const names = url.protocol === "https:"
    ? ["HTTPS_PROXY", "https_proxy"]
    : ["HTTP_PROXY", "http_proxy"];
  for (const name of names) {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") continue;
    if (Deno.env.get(name)) return ` (${name} is set: the proxy may be what failed)`;
  }
  return "";
}

/** The message of an error and of its causes, which hold the useful part of fetch errors. */
function describe(error: unknown): string {
  const messages: string[] = [];
  for (let e = error; e instanceof Error && messages.length < 4; e = e.cause) {
    messages.push(e.message);
  }
  return messages.length > 0 ? messages.join(": ") : String(error);
}

/**
 * The body, passed through, with each read bounded by `idleTimeout` and connection failures
 * turned into {@linkcode NetworkError}.
 */
function guardBody(
  body: ReadableStream<Uint8Array>,
  idleTimeout: number,
  shown: string,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new NetworkError(`${shown}: no data for ${idleTimeout} ms`)),
          idleTimeout,
        );
      });
      try {
        const { done, value } = await Promise.race([reader.read(), stalled]);
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        reader.cancel().catch(() => {});
        controller.error(
          error instanceof NetworkError
            ? error
            : new NetworkError(`${shown}: ${redactMessage(describe(error))}`),
        );
      } finally {
        clearTimeout(timer);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * How long to wait before retry number `attempt` (0 for the first) of a failed request, and why:
 * the `Retry-After` of its response, in seconds or as an HTTP date, capped at 60 s; else
 * exponential backoff with jitter, 50–100 % of 200 ms · 2^attempt, capped at 10 s.
 *
 * @example
 * ```ts
 * import { retryDelay } from "./transport.ts";
 * retryDelay(0, new Headers({ "retry-after": "3600" }));
 * // { ms: 60000, reason: "Retry-After 3600s, capped at 60s" }
 * ```
 */
export function retryDelay(attempt: number, headers?: Headers): { ms: number; reason: string } {
  const value = headers?.get("retry-after")?.trim();
  const asked = !value
    ? NaN
    : /^\d+$/.test(value)
    ? Number(value) * 1000
    : Date.parse(value) - Date.now();
  if (!Number.isNaN(asked)) {
    if (asked <= RETRY_AFTER_CAP_MS) return { ms: Math.max(asked, 0), reason: "Retry-After" };
    return {
      ms: RETRY_AFTER_CAP_MS,
      reason: `Retry-After ${Math.round(asked / 1000)}s, capped at ${RETRY_AFTER_CAP_MS / 1000}s`,
    };
  }
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return { ms: Math.round(ceiling / 2 + Math.random() * ceiling / 2), reason: "backoff" };
}

/** Drops the first `count` bytes of a stream. */
function skipping(count: number): TransformStream<Uint8Array, Uint8Array> {
  let left = count;
  return new TransformStream({
    transform(chunk, controller) {
      const skipped = Math.min(left, chunk.byteLength);
      left -= skipped;
      if (skipped < chunk.byteLength) controller.enqueue(chunk.subarray(skipped));
    },
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
