/**
 * What may be shown of a request: URLs with the values of secret query parameters and any user
 * info replaced by `***`, error messages with every URL in them so treated, and headers with
 * credentials, cookies and anything named like a secret hidden, and the URLs they carry
 * redacted whole. The request log, the `--debug` exchange log and every error message go
 * through these.
 *
 * @example
 * ```ts
 * import { redactHeader, redactUrl } from "./redact.ts";
 * redactUrl(new URL("https://s3.example/blob?X-Amz-Signature=abc")); // "https://s3.example/blob?X-Amz-Signature=***"
 * redactHeader("authorization", "Bearer abc"); // "Bearer ***"
 * ```
 * @module
 */
import { cutText } from "../../errors/mod.ts";

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

/** Headers whose whole value is one URL, often relative (`Location: /v2/…?_state=…`). */
const URL_HEADERS = new Set(["location", "content-location"]);

/**
 * A URL in text: `scheme://` in either case (`HTTPS://` is as good as `https://` to a client),
 * up to a space, a quote or an angle bracket. `;` and `,` do not end it: they are valid in a
 * query, and what follows them is still part of it.
 */
const URL_IN_TEXT = /\b[a-z][a-z\d+.-]*:\/\/[^\s"<>]+/gi;

/** The same, and scheme-relative URLs (`//s3.example/…`), which a header may hold. */
const URL_IN_HEADER = /\b[a-z][a-z\d+.-]*:\/\/[^\s"<>]+|(?<![\w/:])\/\/[^\s"<>]+/gi;

/** Punctuation after a URL in prose, as in `(https://…):`: the text's, not the URL's. */
const TRAILING_PUNCTUATION = /[)\].,;:'!?]+$/;

/** What a query name or value may be shown decoded as: no control, space or separator. */
const PLAIN = /^[\w.~:/@+,=!$'()*-]*$/;

/**
 * The most characters of a URL shown: a registry can lead to a URL of megabytes (a `Link` to a
 * `last=` that long), which a message would quote whole, once or twice.
 */
const MAX_SHOWN_URL = 1000;

/**
 * A URL fit for logs and errors: the values of query parameters that may hold secrets (upload
 * state, signed URLs, tokens) and any user info are replaced by `***`, and the fragment is
 * dropped. `;` separates parameters as `&` does, since some servers read it so. A URL over
 * 1000 characters is cut there, an ellipsis marking the cut.
 *
 * @example
 * ```ts
 * import { redactUrl } from "./redact.ts";
 * redactUrl(new URL("https://s3.example/blob?X-Amz-Signature=abc&digest=sha256:1"));
 * // "https://s3.example/blob?X-Amz-Signature=***&digest=sha256:1"
 * redactUrl(new URL("https://s3.example/blob?digest=sha256:1;X-Amz-Signature=abc"));
 * // "https://s3.example/blob?digest=sha256:1;X-Amz-Signature=***"
 * ```
 */
export function redactUrl(url: URL): string {
  const copy = new URL(url);
  if (copy.username !== "") copy.username = "***";
  if (copy.password !== "") copy.password = "***";
  const query = copy.search.slice(1);
  copy.search = "";
  copy.hash = "";
  return cutText(copy.href + (query === "" ? "" : `?${redactQuery(query)}`), MAX_SHOWN_URL);
}

/**
 * A query as sent (percent-encoded), each `name=value` between `&` or `;` with its value
 * replaced by `***` unless the name is a public one. Separators are kept as they were.
 */
function redactQuery(query: string): string {
  return query.replace(/[^&;]+/g, (pair) => {
    const equals = pair.indexOf("=");
    const name = equals < 0 ? pair : pair.slice(0, equals);
    if (!PUBLIC_QUERY_PARAMETERS.has(decodeQuery(name) ?? "")) return `${shown(name)}=***`;
    return equals < 0 ? shown(name) : `${shown(name)}=${shown(pair.slice(equals + 1))}`;
  });
}

/**
 * A query name or value decoded (`sha256%3A1` as `sha256:1`) when that is plain; else as sent,
 * so that a decoded newline, escape or separator never reaches a log.
 */
function shown(encoded: string): string {
  const decoded = decodeQuery(encoded);
  return decoded !== undefined && PLAIN.test(decoded) ? decoded : encoded;
}

/** A query component decoded as forms are (`+` is a space), or undefined when malformed. */
function decodeQuery(encoded: string): string | undefined {
  try {
    return decodeURIComponent(encoded.replaceAll("+", " "));
  } catch {
    return undefined;
  }
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
 * `text` with each URL in it (`scheme://…`, the scheme in either case) replaced by what
 * `replace` makes of it. A URL runs to a space, a quote or an angle bracket; punctuation that
 * ends it (`(https://…):`) is left in the text.
 *
 * @example
 * ```ts
 * import { replaceUrls } from "./redact.ts";
 * replaceUrls("sending to (HTTPS://s3.example/b?a=1;sig=x): reset", () => "(url)");
 * // "sending to ((url)): reset"
 * ```
 */
export function replaceUrls(text: string, replace: (url: string) => string): string {
  return replaceIn(text, URL_IN_TEXT, replace);
}

/** `text` with each match of `pattern` replaced, its trailing punctuation kept. */
function replaceIn(text: string, pattern: RegExp, replace: (url: string) => string): string {
  return text.replace(pattern, (match) => {
    const tail = TRAILING_PUNCTUATION.exec(match)?.[0] ?? "";
    return replace(match.slice(0, match.length - tail.length)) + tail;
  });
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
  return replaceUrls(message, (match) => {
    const url = URL.parse(match);
    return url ? redactUrl(url) : "(url)";
  });
}

/**
 * A header as `--debug` shows it: credentials replaced by `***` (the scheme of an
 * `Authorization` is kept), cookies and any header named like a secret hidden, and the URLs it
 * carries redacted whole as in request logs. A `Location` or `Content-Location`, each target of
 * a `Link`, and any value that is a URL or a path is resolved against `base`, the URL of the
 * exchange, since registries send relative ones (`/v2/…/uploads/…?_state=…`); a URL that
 * cannot be resolved is hidden. Other values have each URL in them redacted.
 *
 * @example
 * ```ts
 * import { redactHeader } from "./redact.ts";
 * redactHeader("authorization", "Bearer eyJhbGciOi…"); // "Bearer ***"
 * redactHeader("set-cookie", "session=abc; HttpOnly"); // "***"
 * const base = new URL("https://r.example/v2/app/blobs/uploads/");
 * redactHeader("location", "/v2/app/blobs/uploads/1?_state=abc", base);
 * // "https://r.example/v2/app/blobs/uploads/1?_state=***"
 * redactHeader("link", '</v2/app/tags/list?n=10&token=abc>; rel="next"', base);
 * // '<https://r.example/v2/app/tags/list?n=10&token=***>; rel="next"'
 * ```
 */
export function redactHeader(name: string, value: string, base?: URL): string {
  const lower = name.toLowerCase();
  if (lower === "authorization" || lower === "proxy-authorization") {
    const scheme = /^\S+(?=\s)/.exec(value)?.[0];
    return scheme ? `${scheme} ***` : "***";
  }
  if (SECRET_HEADER.test(lower)) return "***";
  if (URL_HEADERS.has(lower) || isUrlOrPath(value)) return redactReference(value, base);
  if (lower === "link") return redactLinks(value, base);
  return replaceIn(value, URL_IN_HEADER, (url) => redactReference(url, base));
}

/** Whether a whole header value is a URL (`HTTPS://…`) or a path (`/v2/…`, `//host/…`). */
function isUrlOrPath(value: string): boolean {
  const trimmed = value.trim();
  return trimmed.startsWith("/") || URL.canParse(trimmed);
}

/** A URL reference resolved against `base` and redacted, or `***` when it does not resolve. */
function redactReference(reference: string, base?: URL): string {
  const url = URL.parse(reference.trim(), base);
  return url ? redactUrl(url) : "***";
}

/**
 * A `Link` header (`</v2/…?last=x>; rel="next", <…>; …`) with each `<target>` redacted as a
 * URL reference, and any URL in its parameters too. A `<` left open hides the rest.
 */
function redactLinks(value: string, base?: URL): string {
  return value.replace(
    /<([^>]*)(>?)|[^<]+/g,
    (part, target: string | undefined, close: string | undefined) => {
      if (target === undefined) {
        return replaceIn(part, URL_IN_HEADER, (u) => redactReference(u, base));
      }
      return close ? `<${redactReference(target, base)}>` : "<***";
    },
  );
}
