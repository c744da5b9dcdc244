/**
 * Typed errors, one class per kind: usage, auth, not found, integrity, network, unsafe content,
 * and the registry's refusals ({@linkcode RegistryError}), which carry the response's fields.
 * The library throws them unchanged; only `cli/` turns them into messages, hints and exit codes
 * (`cli/exit.ts`), so that nothing here knows the command line.
 *
 * @example
 * ```ts
 * import { NotFoundError } from "./mod.ts";
 * const err = new NotFoundError("no such folder: ./flows", { hint: "check the path" });
 * console.log(err instanceof NotFoundError); // true
 * ```
 * @module
 */

/**
 * The kinds of error, one per class: `other` for {@linkcode OcisyncError} itself, and one for
 * each subclass. The CLI maps each to its exit code.
 */
export type ErrorKind =
  | "other"
  | "usage"
  | "auth"
  | "not-found"
  | "integrity"
  | "network"
  | "unsafe-content";

/** Options shared by every ocisync error. */
export interface OcisyncErrorOptions {
  /** A short suggestion for the user, printed after the message. */
  hint?: string;
  /** The underlying error, kept for `--debug`. */
  cause?: unknown;
  /**
   * The library option the hint is about (`maxEntries`, `replace`, `caFile`…), so that a caller
   * can name it in its own terms: the CLI appends the flag it parsed the option from.
   */
  option?: string;
  /**
   * What another program said about the failure (an installer's stderr), quoted as it is, line
   * by line: the message stays one line of ocisync's own, and the CLI prints these under it,
   * each marked as a quote, so that the program's words cannot pass for ocisync's.
   */
  quoted?: readonly string[];
}

/**
 * The base of every error ocisync throws on purpose.
 *
 * @example
 * ```ts
 * import { OcisyncError } from "./mod.ts";
 * try { throw new OcisyncError("boom") } catch (e) { console.log(e instanceof OcisyncError) }
 * ```
 */
export class OcisyncError extends Error {
  /** What went wrong, as a word that callers (and the CLI's exit codes) can branch on. */
  readonly kind: ErrorKind = "other";
  /** A short suggestion for the user, if one exists. */
  readonly hint?: string;
  /** The library option the hint is about, if any. */
  readonly option?: string;
  /** What another program said about the failure, line by line, if it said anything. */
  readonly quoted?: readonly string[];

  /** Creates an error with a message and optional hint, cause, option and quoted lines. */
  constructor(message: string, options: OcisyncErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
    this.option = options.option;
    if (options.quoted?.length) this.quoted = [...options.quoted];
  }
}

/**
 * A value given by the caller is wrong: a malformed reference, platform or size, or options
 * that do not go together. The message names the value, never a command-line flag: the CLI,
 * which knows which flag it parsed the value from, adds that.
 *
 * @example
 * ```ts
 * import { UsageError } from "./mod.ts";
 * throw new UsageError('compression must be gzip, zstd or none, not "lz4"');
 * ```
 */
export class UsageError extends OcisyncError {
  /** Always `"usage"`. */
  override readonly kind: "usage" = "usage";
}

/**
 * Credentials are missing or were refused.
 *
 * @example
 * ```ts
 * import { AuthError } from "./mod.ts";
 * throw new AuthError("registry.example.com refused the credentials", { hint: "run `ocisync login registry.example.com`" });
 * ```
 */
export class AuthError extends OcisyncError {
  /** Always `"auth"`. */
  override readonly kind: "auth" = "auth";
}

/**
 * Something named by the user does not exist.
 *
 * @example
 * ```ts
 * import { NotFoundError } from "./mod.ts";
 * throw new NotFoundError("tag v9 not found in library/alpine");
 * ```
 */
export class NotFoundError extends OcisyncError {
  /** Always `"not-found"`. */
  override readonly kind: "not-found" = "not-found";
}

/**
 * Bytes did not match their digest or declared size. They were not written.
 *
 * @example
 * ```ts
 * import { IntegrityError } from "./mod.ts";
 * throw new IntegrityError("blob sha256:ab… has digest sha256:cd…");
 * ```
 */
export class IntegrityError extends OcisyncError {
  /** Always `"integrity"`. */
  override readonly kind: "integrity" = "integrity";
}

/**
 * The network failed, or a server kept failing after the retries.
 *
 * @example
 * ```ts
 * import { NetworkError } from "./mod.ts";
 * throw new NetworkError("connection refused: 127.0.0.1:5000");
 * ```
 */
export class NetworkError extends OcisyncError {
  /** Always `"network"`. */
  override readonly kind: "network" = "network";
}

/**
 * Content that cannot be archived or extracted safely: a path that escapes the
 * target, a device or fifo, a whiteout name in a folder to pack.
 *
 * @example
 * ```ts
 * import { UnsafeContentError } from "./mod.ts";
 * throw new UnsafeContentError("entry ../etc/passwd escapes the target");
 * ```
 */
export class UnsafeContentError extends OcisyncError {
  /** Always `"unsafe-content"`. */
  override readonly kind: "unsafe-content" = "unsafe-content";
}

/**
 * What a registry answered to a request that failed, as go-containerregistry's
 * `transport.Error` keeps it: the fields a caller branches on, so that nobody has to search a
 * message for an error code or a URL.
 */
export interface RegistryErrorDetails {
  /** The HTTP status, e.g. 404. */
  status: number;
  /** The registry's `errors[].code` values, in order, e.g. `["NAME_UNKNOWN"]`; may be empty. */
  codes: string[];
  /**
   * The registry's `errors[].message` values, in the order of `codes`; for a body that is not
   * distribution-spec JSON (an HTML page of a proxy), its first line, and `codes` is empty.
   */
  messages: string[];
  /** The request's method, e.g. `GET`. */
  method: string;
  /** The request's URL, redacted: no credentials in the user part or the query string. */
  url: string;
  /** The registry as written in references, e.g. `docker.io`, when known. */
  registry?: string;
  /** The repository the request was about, e.g. `library/alpine`, when it was about one. */
  repository?: string;
}

/** Options of the registry errors: the response's details, and a hint or cause. */
export interface RegistryErrorOptions extends OcisyncErrorOptions, RegistryErrorDetails {}

// Every registry error, whatever its class: `instanceof RegistryError` asks this.
const registryErrors = new WeakSet<object>();

/** Copies the details onto `error`, as its own read-only fields, and marks it a registry error. */
function adopt(error: Error, options: RegistryErrorOptions): void {
  // Only the details: the hint and cause are the base class's.
  Object.assign(error, registryDetails(options));
  registryErrors.add(error);
}

/**
 * A registry refused a request with a status and a body that the library does not map to a
 * more specific kind (e.g. a 400 `UNSUPPORTED`). It is also the type of every registry error:
 * `error instanceof RegistryError` is true for {@linkcode RegistryAuthError},
 * {@linkcode RegistryNotFoundError}, {@linkcode RegistryIntegrityError} and
 * {@linkcode RegistryNetworkError} as well, which extend the error of their kind so that
 * `instanceof NotFoundError` and the like keep working.
 *
 * @example
 * ```ts
 * import { registryError, RegistryError } from "./mod.ts";
 * const error: unknown = registryError("manifest v9 of ghcr.io/acme/app: GET … -> 404", {
 *   status: 404,
 *   codes: ["MANIFEST_UNKNOWN"],
 *   messages: ["manifest unknown"],
 *   method: "GET",
 *   url: "https://ghcr.io/v2/acme/app/manifests/v9",
 *   repository: "acme/app",
 * });
 * if (error instanceof RegistryError && error.codes.includes("MANIFEST_UNKNOWN")) {
 *   console.log(error.kind, error.repository); // "not-found" "acme/app"
 * }
 * ```
 */
export class RegistryError extends OcisyncError {
  /** Creates the error with the response's details. */
  constructor(message: string, options: RegistryErrorOptions) {
    super(message, options);
    adopt(this, options);
  }

  /** True for every registry error, of whichever kind's class. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && registryErrors.has(value);
  }
}

/** The fields of {@linkcode RegistryErrorDetails}, read-only: the constructor sets them. */
export interface RegistryError extends Readonly<RegistryErrorDetails> {}

/**
 * A registry's 401 or 403: an {@linkcode AuthError} with the fields of a
 * {@linkcode RegistryError}.
 *
 * @example
 * ```ts
 * import { RegistryAuthError } from "./mod.ts";
 * const error = new RegistryAuthError("tags of ghcr.io/acme/app: GET … -> 401", {
 *   status: 401, codes: ["UNAUTHORIZED"], messages: ["authentication required"],
 *   method: "GET", url: "https://ghcr.io/v2/acme/app/tags/list", registry: "ghcr.io",
 * });
 * ```
 */
export class RegistryAuthError extends AuthError {
  /** Creates the error with the response's details. */
  constructor(message: string, options: RegistryErrorOptions) {
    super(message, options);
    adopt(this, options);
  }
}

/** The fields of {@linkcode RegistryErrorDetails}, read-only: the constructor sets them. */
export interface RegistryAuthError extends Readonly<RegistryErrorDetails> {}

/**
 * A registry's 404, or one of the codes that say something does not exist (`NAME_UNKNOWN`,
 * `MANIFEST_UNKNOWN`, `BLOB_UNKNOWN`, …): a {@linkcode NotFoundError} with the fields of a
 * {@linkcode RegistryError}.
 *
 * @example
 * ```ts
 * import { RegistryNotFoundError } from "./mod.ts";
 * const error = new RegistryNotFoundError("tags of ghcr.io/acme/nope: GET … -> 404", {
 *   status: 404, codes: ["NAME_UNKNOWN"], messages: ["repository name not known to registry"],
 *   method: "GET", url: "https://ghcr.io/v2/acme/nope/tags/list", repository: "acme/nope",
 * });
 * ```
 */
export class RegistryNotFoundError extends NotFoundError {
  /** Creates the error with the response's details. */
  constructor(message: string, options: RegistryErrorOptions) {
    super(message, options);
    adopt(this, options);
  }
}

/** The fields of {@linkcode RegistryErrorDetails}, read-only: the constructor sets them. */
export interface RegistryNotFoundError extends Readonly<RegistryErrorDetails> {}

/**
 * A registry's `DIGEST_INVALID` or `SIZE_INVALID`: an {@linkcode IntegrityError} with the
 * fields of a {@linkcode RegistryError}.
 *
 * @example
 * ```ts
 * import { RegistryIntegrityError } from "./mod.ts";
 * const error = new RegistryIntegrityError("blob of ghcr.io/acme/app: PUT … -> 400", {
 *   status: 400, codes: ["DIGEST_INVALID"], messages: ["digest did not match"],
 *   method: "PUT", url: "https://ghcr.io/v2/acme/app/blobs/uploads/1?digest=sha256%3Aab",
 * });
 * ```
 */
export class RegistryIntegrityError extends IntegrityError {
  /** Creates the error with the response's details. */
  constructor(message: string, options: RegistryErrorOptions) {
    super(message, options);
    adopt(this, options);
  }
}

/** The fields of {@linkcode RegistryErrorDetails}, read-only: the constructor sets them. */
export interface RegistryIntegrityError extends Readonly<RegistryErrorDetails> {}

/**
 * A registry's 408, 429 or 5xx that outlived the retries: a {@linkcode NetworkError} with the
 * fields of a {@linkcode RegistryError}.
 *
 * @example
 * ```ts
 * import { RegistryNetworkError } from "./mod.ts";
 * const error = new RegistryNetworkError("tags of ghcr.io/acme/app: GET … -> 503", {
 *   status: 503, codes: [], messages: [], method: "GET",
 *   url: "https://ghcr.io/v2/acme/app/tags/list",
 * });
 * ```
 */
export class RegistryNetworkError extends NetworkError {
  /** Creates the error with the response's details. */
  constructor(message: string, options: RegistryErrorOptions) {
    super(message, options);
    adopt(this, options);
  }
}

/** The fields of {@linkcode RegistryErrorDetails}, read-only: the constructor sets them. */
export interface RegistryNetworkError extends Readonly<RegistryErrorDetails> {}

/** The registry's codes that say that what was asked for does not exist. */
const NOT_FOUND_CODES = new Set([
  "NAME_UNKNOWN",
  "MANIFEST_UNKNOWN",
  "BLOB_UNKNOWN",
  "BLOB_UPLOAD_UNKNOWN",
  "MANIFEST_BLOB_UNKNOWN",
]);

/**
 * The OAuth 2 errors with which a token server refuses the credential sent (RFC 6749, section
 * 5.2), with status 400: an identity (refresh) token expired or revoked.
 */
const REFUSED_GRANT_CODES = new Set(["invalid_grant", "invalid_client", "unauthorized_client"]);

/**
 * The kind of a registry's answer, by its status and codes:
 *
 * - 401 and 403, and a token server's `invalid_grant`, `invalid_client` and
 *   `unauthorized_client`: `auth`;
 * - 404, and the codes `NAME_UNKNOWN`, `MANIFEST_UNKNOWN`, `BLOB_UNKNOWN`,
 *   `BLOB_UPLOAD_UNKNOWN` and `MANIFEST_BLOB_UNKNOWN`: `not-found`;
 * - `DIGEST_INVALID` and `SIZE_INVALID`: `integrity`;
 * - 408, 429 and 5xx: `network`;
 * - anything else: `other`.
 *
 * @example
 * ```ts
 * import { registryErrorKind } from "./mod.ts";
 * console.log(registryErrorKind(400, ["MANIFEST_UNKNOWN"])); // "not-found"
 * ```
 */
export function registryErrorKind(
  status: number,
  codes: readonly string[],
): "auth" | "not-found" | "integrity" | "network" | "other" {
  if (status === 401 || status === 403 || codes.some((code) => REFUSED_GRANT_CODES.has(code))) {
    return "auth";
  }
  if (status === 404 || codes.some((code) => NOT_FOUND_CODES.has(code))) return "not-found";
  if (codes.includes("DIGEST_INVALID") || codes.includes("SIZE_INVALID")) return "integrity";
  if (status === 408 || status === 429 || status >= 500) return "network";
  return "other";
}

/**
 * The registry error of the class its status and codes call for
 * ({@linkcode registryErrorKind}). Its type is {@linkcode RegistryError}, which every one of
 * those classes is an instance of.
 *
 * @example
 * ```ts
 * import { NotFoundError, registryError } from "./mod.ts";
 * const error = registryError("manifest v9 of ghcr.io/acme/app: GET … -> 404", {
 *   status: 404, codes: [], messages: [], method: "GET",
 *   url: "https://ghcr.io/v2/acme/app/manifests/v9", repository: "acme/app",
 * });
 * console.log(error instanceof NotFoundError); // true
 * ```
 */
export function registryError(message: string, options: RegistryErrorOptions): RegistryError {
  const Kind = {
    auth: RegistryAuthError,
    "not-found": RegistryNotFoundError,
    integrity: RegistryIntegrityError,
    network: RegistryNetworkError,
    other: RegistryError,
  }[registryErrorKind(options.status, options.codes)];
  // Each class carries the same fields; only the kind's parent differs.
  return new Kind(message, options) as RegistryError;
}

/**
 * The details of a registry error, to make another one from: a reworded message, an added hint.
 *
 * @example
 * ```ts
 * import { registryDetails, registryError } from "./mod.ts";
 * const first = registryError("x", {
 *   status: 401, codes: [], messages: [], method: "GET", url: "https://r.example/v2/",
 * });
 * const better = registryError("no credentials found for r.example", {
 *   ...registryDetails(first),
 *   hint: "log in",
 * });
 * ```
 */
export function registryDetails(error: RegistryErrorDetails): RegistryErrorDetails {
  const { status, codes, messages, method, url, registry, repository } = error;
  return {
    status,
    codes: [...codes],
    messages: [...messages],
    method,
    url,
    ...(registry === undefined ? {} : { registry }),
    ...(repository === undefined ? {} : { repository }),
  };
}

/**
 * `JSON.stringify`'s text of `value`, with the characters that JSON lets stand raw in a string but
 * that break a line or drive a terminal written as `\u` escapes: DEL and the C1 controls (U+0085
 * ends a line for many readers), U+2028 and U+2029 (line and paragraph separators to Python's
 * `splitlines()` and to JavaScript before ES2019), and the bidirectional overrides and isolates.
 * The text parses back to the same value; a `--json` document, a log line or an event line that
 * quotes a registry's words stays one line, and valid JSON after a terminal's escaping.
 *
 * @example
 * ```ts
 * import { stringifyJson } from "./mod.ts";
 * stringifyJson({ tag: "v1\u2028ocisync: pulled" }); // '{"tag":"v1\\u2028ocisync: pulled"}'
 * ```
 */
export function stringifyJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(
    /[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * Text from outside ocisync (a registry, an image, a signature) as part of one line of a
 * message: every control character, line breaks and tabs included, and the bidirectional
 * overrides and isolates written out ({@linkcode escapeControl}), so that it can neither forge
 * a line of ocisync's own nor reach a terminal as a command.
 *
 * @example
 * ```ts
 * import { escapeRemote } from "./mod.ts";
 * escapeRemote("text/plain\nocisync: verified\x1b[31m"); // "text/plain\\x0aocisync: verified\\x1b[31m"
 * ```
 */
export function escapeRemote(text: string): string {
  // deno-lint-ignore no-control-regex -- control characters are what is written out
  return text.replace(/[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g, escapeControl);
}

/**
 * Text from outside ocisync (a registry's page, a credential helper's stderr) folded into part of
 * one line: each run of line breaks and tabs becomes a space, and what is left is written out as
 * {@linkcode escapeRemote} does, so that the words keep reading as words and forge no line.
 *
 * @example
 * ```ts
 * import { flattenRemote } from "./mod.ts";
 * flattenRemote("no such host\r\nocisync: login succeeded\x1b[1A\n"); // "no such host ocisync: login succeeded\\x1b[1A"
 * ```
 */
export function flattenRemote(text: string): string {
  return escapeRemote(text.replace(/[\t\n\v\f\r]+/g, " ")).trim();
}

/** The most characters of outside text that a message quotes, by default. */
export const QUOTE_LIMIT = 200;

/**
 * `text` cut to `limit` characters (by code point, so that a cut never splits a surrogate
 * pair), an ellipsis marking the cut. A registry's page, a tag it lists or a URL it leads to can
 * be megabytes long, and a message that quotes it whole helps no one.
 *
 * @example
 * ```ts
 * import { cutText } from "./mod.ts";
 * cutText("a".repeat(1000), 8); // "aaaaaaa…"
 * cutText("v1.2.3"); // "v1.2.3"
 * ```
 */
export function cutText(text: string, limit: number = QUOTE_LIMIT): string {
  if (text.length <= limit) return text; // no more code points than UTF-16 units
  // Twice `limit` units hold at least `limit` code points: no need to split megabytes.
  const head = [...text.slice(0, 2 * limit)];
  if (text.length <= 2 * limit && head.length <= limit) return text;
  return `${head.slice(0, limit - 1).join("")}…`;
}

/**
 * Words from outside ocisync (a registry's error page) as a message quotes them: folded onto
 * one line ({@linkcode flattenRemote}) and cut to `limit` characters ({@linkcode cutText}).
 *
 * @example
 * ```ts
 * import { quoteRemote } from "./mod.ts";
 * quoteRemote("denied\r\nocisync: pulled"); // "denied ocisync: pulled"
 * ```
 */
export function quoteRemote(text: string, limit: number = QUOTE_LIMIT): string {
  return cutText(flattenRemote(text), limit);
}

/**
 * `text` with every occurrence of each secret, as it is, JSON-escaped, URL- and form-encoded,
 * replaced by `***`:
 * for the words of a party that was sent the secrets (a credential helper, a registry or token
 * server that echoes the request), before they are quoted.
 *
 * @example
 * ```ts
 * import { redactSecrets } from "./mod.ts";
 * redactSecrets('bad header: Basic dTpw, "p\\"w"', ["dTpw", 'p"w']); // 'bad header: Basic ***, "***"'
 * ```
 */
export function redactSecrets(text: string, secrets: Iterable<string>): string {
  let result = text;
  for (const secret of secrets) {
    // As sent, and as a server may echo it: in a JSON string, in a URL or a form body.
    const forms = new Set([
      secret,
      JSON.stringify(secret).slice(1, -1),
      encodeURIComponent(secret),
      new URLSearchParams({ s: secret }).toString().slice(2),
    ]);
    for (const form of forms) {
      if (form !== "") result = result.split(form).join("***");
    }
  }
  return result;
}

/**
 * A control character written out for a message: `\x1b` for C0 and DEL, `\u009b` for C1 and
 * above (the bidirectional overrides), so that text from registries and images can be shown
 * without a terminal acting on it.
 *
 * @example
 * ```ts
 * import { escapeControl } from "./mod.ts";
 * escapeControl("\x1b"); // "\\x1b"
 * escapeControl("\u202e"); // "\\u202e"
 * ```
 */
export function escapeControl(char: string): string {
  const code = char.charCodeAt(0);
  return code < 0x80
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}
