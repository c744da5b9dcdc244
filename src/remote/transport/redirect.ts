/**
 * Redirects, followed by hand so that credentials never leave the origin they were meant for:
 * blob downloads are commonly redirected to object storage, which must not see registry
 * credentials. The runtime's own following would keep `Authorization` on a redirect to another
 * host, and hide the hops from the log.
 *
 * @example
 * ```ts
 * import { httpFetch } from "./base.ts";
 * import { redirects } from "./redirect.ts";
 * const following = redirects(httpFetch().fetch);
 * ```
 * @module
 */
import { AuthError, NetworkError, UnsafeContentError } from "../../errors/mod.ts";
import { discardBody } from "./body.ts";
import type { Fetch, FetchRequest } from "./fetch.ts";
import { redactUrl, requestLine } from "./redact.ts";

const MAX_REDIRECTS = 10;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * Follows up to 10 redirects. `Authorization` goes only to the origin (scheme, host and port)
 * of the first request, and so does a body that holds credentials; 303, and 301 or 302 after a
 * `POST`, turn the request into a body-less `GET`, as browsers do. A request made over https
 * is never led to plain http (see {@linkcode refuseDowngrade}). The response answers the last
 * hop, and says so in its `method` and `url`.
 *
 * @throws {NetworkError} on more than 10 redirects.
 * @throws {UnsafeContentError} on a redirect from https to http.
 * @throws {AuthError} when a redirect would carry a body that holds credentials to another
 * origin.
 * @example
 * ```ts
 * import type { Fetch } from "./fetch.ts";
 * import { redirects } from "./redirect.ts";
 * const toStorage: Fetch = async (request) => ({
 *   ...request,
 *   status: request.url.host === "r.example" ? 307 : 200,
 *   statusText: "",
 *   headers: new Headers({ location: "https://s3.example/blob" }),
 *   body: null,
 * });
 * const response = await redirects(toStorage)({
 *   method: "GET",
 *   url: new URL("https://r.example/v2/app/blobs/sha256:1"),
 *   headers: new Headers({ authorization: "Bearer abc" }),
 * });
 * // response.url.host: "s3.example"; that request carried no authorization
 * ```
 */
export function redirects(next: Fetch): Fetch {
  return async (request) => {
    let hop = request;
    for (let hops = 0; hops <= MAX_REDIRECTS; hops++) {
      const response = await next(withCredentialsFor(hop, request.url.origin));
      const location = response.headers.get("location");
      if (!REDIRECT_STATUSES.has(response.status) || location === null) return response;
      await discardBody(response);
      const target = new URL(location, hop.url);
      refuseDowngrade(request.url, target, "a redirect");
      hop = redirected(hop, response.status, target);
      if (
        hop.credentialsInBody && hop.body !== undefined && hop.url.origin !== request.url.origin
      ) {
        throw new AuthError(
          `${requestLine(request.method, request.url)} was redirected to ${hop.url.origin}; ` +
            `its body holds credentials, which were not sent there`,
          { hint: `${request.url.host} is misconfigured or hostile: tell its operator` },
        );
      }
    }
    throw new NetworkError(
      `${requestLine(request.method, request.url)}: more than ${MAX_REDIRECTS} redirects`,
    );
  };
}

/**
 * Refuses `url` when `from`, where it was learnt, was reached over https and `url` is plain
 * http. A tag's manifest and a tag list have no digest to check them by, so TLS is all that
 * vouches for them: whoever sits on the network could answer a plain-http request with other
 * bytes. `by` names what led there (a redirect, an upload location, a link). Browsers refuse
 * such mixed content for the same reason.
 *
 * @throws {UnsafeContentError} when `url` is plain http and `from` is https.
 * @example
 * ```ts
 * import { refuseDowngrade } from "./redirect.ts";
 * refuseDowngrade(new URL("https://r.example/v2/"), new URL("https://s3.example/b"), "a redirect");
 * ```
 */
export function refuseDowngrade(from: URL, url: URL, by: string): void {
  if (from.protocol === "https:" && url.protocol === "http:") {
    throw new UnsafeContentError(
      `refusing to fetch ${redactUrl(url)}: ${by} led there from ${from.origin}, from https to ` +
        "plain http, where anyone on the network could change what comes back",
      { hint: `${from.host} is misconfigured or hostile: tell its operator` },
    );
  }
}

/** The hop as sent: without `Authorization` unless it goes to the trusted origin. */
function withCredentialsFor(hop: FetchRequest, trustedOrigin: string): FetchRequest {
  if (hop.url.origin === trustedOrigin || !hop.headers.has("authorization")) return hop;
  const headers = new Headers(hop.headers);
  headers.delete("authorization");
  return { ...hop, headers };
}

/** The next hop: to `url`, a `GET` without a body where browsers would make it one. */
function redirected(hop: FetchRequest, status: number, url: URL): FetchRequest {
  const toGet = (status === 303 && hop.method !== "HEAD") ||
    (status < 303 && hop.method === "POST");
  return toGet ? { ...hop, url, method: "GET", body: undefined } : { ...hop, url };
}
