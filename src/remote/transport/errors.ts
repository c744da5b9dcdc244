/**
 * Errors that say what is true. The error layer turns a request that got no response into a
 * `NetworkError` that names the host, the reason in words (connection refused, DNS lookup
 * failed, TLS handshake failed, no response in time) and a hint, and a body that broke off
 * into a `NetworkError` too; the caller's own abort passes through as it is.
 * {@linkcode responseError} maps a response that failed to ocisync's typed errors.
 *
 * @example
 * ```ts
 * import { httpFetch } from "./base.ts";
 * import { networkErrors } from "./errors.ts";
 * import { stallGuard } from "./stall.ts";
 * const worded = networkErrors(stallGuard(httpFetch().fetch));
 * ```
 * @module
 */
import {
  NetworkError,
  OcisyncError,
  quoteRemote,
  redactSecrets,
  type RegistryError,
  registryError,
} from "../../errors/mod.ts";
import { readBody } from "./body.ts";
import { type Fetch, type FetchRequest, type HttpResponse, watchFetch } from "./fetch.ts";
import { redactMessage, redactUrl, replaceUrls, requestLine } from "./redact.ts";
import { StallError } from "./stall.ts";

const ERROR_BODY_LIMIT = 64 * 1024;
/** The distribution API's paths that name a repository: `/v2/<name>/manifests/<reference>`… */
const REPOSITORY_PATH =
  /^\/v2\/(?<name>.+)\/(?:manifests\/[^/]+|blobs\/uploads\/.*|blobs\/[^/]+|tags\/list|referrers\/[^/]+)$/;

/**
 * Words the failures of the layer below: a request that got no response throws a
 * `NetworkError` (or, for a header that HTTP forbids, an `OcisyncError` that does not quote
 * it), and so does a body that breaks off or stalls. An abort by the request's own signal is
 * passed through unchanged, so that no layer above mistakes it for a network failure.
 *
 * @example
 * ```ts
 * import { networkErrors } from "./errors.ts";
 * const refused = networkErrors(() => Promise.reject(new TypeError("Connection refused")));
 * await refused({
 *   method: "GET",
 *   url: new URL("http://127.0.0.1:9/v2/"),
 *   headers: new Headers(),
 * }).catch((error) => console.log(error.message));
 * // "GET http://127.0.0.1:9/v2/: cannot connect to 127.0.0.1:9: connection refused"
 * ```
 */
export function networkErrors(next: Fetch): Fetch {
  return watchFetch(next, {
    failed: sendFailure,
    answered: (response, request, shown) => {
      const body = response.body &&
        mapReadErrors(response.body, (error) => bodyFailure(error, request, shown));
      return { ...response, body };
    },
  });
}

/** What a request that got no response throws: which host, why, and what to do. */
function sendFailure(error: unknown, request: FetchRequest, shown: () => string): unknown {
  if (request.signal?.aborted) return request.signal.reason;
  if (error instanceof OcisyncError) return error;
  if (error instanceof TypeError && /^Invalid header/.test(error.message)) {
    // Deno quotes the value, which may be a credential: say only which header it was.
    const name = /header (name|value)/.exec(error.message)?.[1] ?? "value";
    return new OcisyncError(`${shown()}: a request header ${name} holds characters HTTP forbids`);
  }
  const url = request.url;
  const { problem, hint, option } = error instanceof StallError
    ? {
      problem: error.message,
      hint: `${url.host} did not answer in time: check the network, or allow more time`,
      option: "timeout",
    }
    : connectionProblem(describe(error), url);
  return new NetworkError(`${shown()}: ${problem}`, { hint: hint + proxyNote(url), option });
}

/** What a body that broke off errors with. */
function bodyFailure(error: unknown, request: FetchRequest, shown: () => string): unknown {
  if (request.signal?.aborted) return request.signal.reason;
  if (error instanceof NetworkError) return error;
  return new NetworkError(`${shown()}: ${redactMessage(describe(error))}`);
}

/**
 * The body, passed through, with the error of a failed read replaced by `map`'s.
 *
 * @example
 * ```ts
 * import { mapReadErrors } from "./errors.ts";
 * const failing = new ReadableStream({ pull: (c) => c.error(new Error("disk")) });
 * const mapped = mapReadErrors(failing, (error) => new Error("reading failed", { cause: error }));
 * ```
 */
export function mapReadErrors(
  body: ReadableStream<Uint8Array>,
  map: (error: unknown) => unknown,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        controller.error(map(error));
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * What {@linkcode responseError} says about a failed request.
 *
 * @example
 * ```ts
 * import type { ErrorContext } from "./errors.ts";
 * const context: ErrorContext = { registry: "ghcr.io", subject: "manifest v1 of ghcr.io/org/app" };
 * ```
 */
export interface ErrorContext {
  /** The registry as written in references (`docker.io`, not its API host). */
  registry: string;
  /** What was being done, e.g. `manifest v1 of 127.0.0.1:5000/app`. */
  subject: string;
  /**
   * The repository the request was about. Without it, it is read from the distribution API's
   * path of the request, e.g. `org/app` from `/v2/org/app/manifests/v1`; a redirect to a
   * storage host leaves no such path, which is why a caller that knows it passes it.
   */
  repository?: string;
}

/**
 * The typed error for a response that failed: a {@linkcode RegistryError} with the status, the
 * registry's error codes and messages (distribution-spec `{"errors":[{"code","message"}]}`)
 * when the body has them, the method, the redacted URL, the registry and the repository. Its
 * class is that of its kind (`registryErrorKind` in `errors/`): 401 and 403 an `AuthError`; 404
 * and the codes that say something is unknown a `NotFoundError`; `DIGEST_INVALID` and
 * `SIZE_INVALID` an `IntegrityError`; 408, 429 and 5xx a `NetworkError`. Reads the body.
 *
 * The message is one line: the subject, the request, the status and each code with its
 * message (or, for a body that is not such JSON, `BODY:` and its first line). What it quotes of
 * the body, here and in the fields, is the registry's text made safe to print: on one line,
 * each control character written out (`\x1b`), and cut to 200 characters. Hints are the CLI's
 * to add, from the fields.
 *
 * @example
 * ```ts
 * import { responseError } from "./errors.ts";
 * import type { HttpResponse } from "./fetch.ts";
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
): Promise<RegistryError> {
  const { details, line } = await errorDetails(response);
  const shown = [
    String(response.status),
    ...details.map((d) => `${d.code}: ${d.message}`),
    ...(line === undefined ? [] : [`BODY: ${line}`]),
  ];
  const message = `${context.subject}: ${requestLine(response.method, response.url)} -> ` +
    shown.join(", ");
  const repository = context.repository ?? repositoryOf(response.url);
  return registryError(message, {
    status: response.status,
    codes: details.map((detail) => detail.code),
    messages: line === undefined ? details.map((detail) => detail.message) : [line],
    method: response.method,
    url: redactUrl(response.url),
    registry: context.registry,
    ...(repository === undefined ? {} : { repository }),
  });
}

/** The repository a distribution API URL names, or undefined for any other URL. */
function repositoryOf(url: URL): string | undefined {
  return REPOSITORY_PATH.exec(url.pathname)?.groups?.name;
}

interface ErrorDetail {
  code: string;
  message: string;
}

/**
 * The distribution-spec errors in a body (or a token server's OAuth 2 error), or, when it is not
 * such JSON, its first line: an HTML or text page of a proxy has no codes, and its words are not
 * the registry's. Each is quoted by {@linkcode quoteRemote}.
 */
async function errorDetails(
  response: HttpResponse,
): Promise<{ details: ErrorDetail[]; line?: string }> {
  let text: string;
  // A server that echoes the request (a token server quoting the header it could not parse)
  // must not have its credentials shown: neither in its text, nor in what its JSON decodes to
  // (`\u00e4`, `\/` for a password's `ä` and `/`).
  const secrets = response.secrets?.() ?? [];
  try {
    text = redactSecrets(
      new TextDecoder().decode(await readBody(response, ERROR_BODY_LIMIT)),
      secrets,
    ).trim();
  } catch {
    return { details: [] };
  }
  const quoted = (value: unknown) => quoteRemote(redactSecrets(String(value), secrets));
  try {
    const parsed = JSON.parse(text);
    const errors = parsed?.errors;
    if (Array.isArray(errors)) {
      return {
        details: errors.map((e) => ({
          code: quoted(e?.code ?? "UNKNOWN"),
          message: quoted(e?.message ?? ""),
        })),
      };
    }
    // A token server's OAuth 2 error (RFC 6749, section 5.2): `{"error": "invalid_grant"}`.
    if (typeof parsed?.error === "string") {
      return {
        details: [{ code: quoted(parsed.error), message: quoted(parsed.error_description ?? "") }],
      };
    }
  } catch {
    // Not JSON: an HTML or text page from a proxy or a router.
  }
  const line = quoteRemote(text.split(/\r\n?|\n/, 1)[0]);
  return line === "" ? { details: [] } : { details: [], line };
}

/**
 * The message of an error and of its causes, which hold the useful part of fetch errors.
 *
 * @example
 * ```ts
 * import { describe } from "./errors.ts";
 * describe(new Error("fetch failed", { cause: new Error("connection reset") }));
 * // "fetch failed: connection reset"
 * ```
 */
export function describe(error: unknown): string {
  const messages: string[] = [];
  for (let e = error; e instanceof Error && messages.length < 4; e = e.cause) {
    messages.push(e.message);
  }
  return messages.length > 0 ? messages.join(": ") : String(error);
}

/** One kind of connection failure, recognised by the words of Deno's fetch error. */
interface ConnectionFailure {
  pattern: RegExp;
  /** Why, for the message; `words` are the runtime's own, redacted. */
  reason(url: URL, words: string): string;
  hint(url: URL): string;
  /** The library option the hint is about. */
  option?: string;
}

const CA_FILE_HINT = "trust the registry's certificate authority";

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
    hint: (url) => `if ${url.host} serves plain HTTP, use plain HTTP`,
    option: "plainHttp",
  },
  {
    pattern: /certificate/i,
    reason: (url, words) =>
      `TLS handshake with ${url.host} failed: its certificate is not trusted (${words})`,
    hint: () => CA_FILE_HINT,
    option: "caFile",
  },
  {
    pattern: /tls|handshake|alert/i,
    reason: (url, words) => `TLS handshake with ${url.host} failed (${words})`,
    hint: () => `${CA_FILE_HINT}, or use plain HTTP if it serves plain HTTP`,
    option: "caFile",
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
function connectionProblem(
  detail: string,
  url: URL,
): { problem: string; hint: string; option?: string } {
  const words = runtimeWords(detail);
  const failure = CONNECTION_FAILURES.find((f) => f.pattern.test(words));
  if (failure === undefined) {
    return {
      problem: `cannot reach ${url.host} (${words})`,
      hint: `check the network, and that ${url.host} is up`,
    };
  }
  return { problem: failure.reason(url, words), hint: failure.hint(url), option: failure.option };
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
  return replaceUrls(inner, () => "(url)");
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
