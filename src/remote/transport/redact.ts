/**
 * What may be shown of a request: URLs with the values of secret query parameters and any user
 * info replaced by `***`, error messages with every URL in them so treated, and headers with
 * credentials, cookies and anything named like a secret hidden. The request log, the `--debug`
 * exchange log and every error message go through these.
 *
 * @example
 * ```ts
 * import { redactHeader, redactUrl } from "./redact.ts";
 * redactUrl(new URL("https://s3.example/blob?X-Amz-Signature=abc")); // "https://s3.example/blob?X-Amz-Signature=***"
 * redactHeader("authorization", "Bearer abc"); // "Bearer ***"
 * ```
 * @module
 */

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

/** Headers whose whole value is a secret. */
const SECRET_HEADER = /cookie|token|secret|password|signature|session|api-?key|credential/i;

/**
 * A URL fit for logs and errors: the values of query parameters that may hold secrets (upload
 * state, signed URLs, tokens) and any user info are replaced by `***`.
 *
 * @example
 * ```ts
 * import { redactUrl } from "./redact.ts";
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
 * A request as logs and errors name it: `GET https://…`, the URL redacted.
 *
 * @example
 * ```ts
 * import { requestLine } from "./redact.ts";
 * requestLine("PATCH", new URL("https://r.example/v2/app/blobs/uploads/1?_state=x"));
 * // "PATCH https://r.example/v2/app/blobs/uploads/1?_state=***"
 * ```
 */
export function requestLine(method: string, url: URL): string {
  return `${method} ${redactUrl(url)}`;
}

/**
 * An error message with every URL in it redacted (Deno's fetch errors quote the whole URL).
 *
 * @example
 * ```ts
 * import { redactMessage } from "./redact.ts";
 * redactMessage("error sending request for url (https://s3.example/b?sig=abc)");
 * // "error sending request for url (https://s3.example/b?sig=***)"
 * ```
 */
export function redactMessage(message: string): string {
  return message.replace(/\bhttps?:\/\/[^\s)]+/g, (match) => {
    const url = URL.parse(match);
    return url ? redactUrl(url) : "(url)";
  });
}

/**
 * A header as `--debug` shows it: credentials replaced by `***` (the scheme of an
 * `Authorization` is kept), cookies and any header named like a secret hidden, and the query
 * values of URLs in it (a `Location` to signed object storage) redacted as in request logs.
 *
 * @example
 * ```ts
 * import { redactHeader } from "./redact.ts";
 * redactHeader("authorization", "Bearer eyJhbGciOi…"); // "Bearer ***"
 * redactHeader("set-cookie", "session=abc; HttpOnly"); // "***"
 * ```
 */
export function redactHeader(name: string, value: string): string {
  const lower = name.toLowerCase();
  if (lower === "authorization" || lower === "proxy-authorization") {
    const scheme = /^\S+(?=\s)/.exec(value)?.[0];
    return scheme ? `${scheme} ***` : "***";
  }
  if (SECRET_HEADER.test(lower)) return "***";
  return value.replace(/\bhttps?:\/\/[^\s<>",;]+/g, (match) => {
    const url = URL.parse(match);
    return url ? redactUrl(url) : "***";
  });
}
