/**
 * The bottom layer: the runtime's `fetch`, with redirects left to the redirect layer and, for
 * `--ca-file`, an HTTP client that trusts more certificate authorities. Proxies need nothing
 * here: Deno's `fetch` honours `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`.
 *
 * @example
 * ```ts
 * import { httpFetch } from "./base.ts";
 * const base = httpFetch({ caFile: "/etc/ssl/private-ca.pem" });
 * const response = await base.fetch({
 *   method: "GET",
 *   url: new URL("https://registry.lan/v2/"),
 *   headers: new Headers(),
 * });
 * await response.body?.cancel();
 * base.close();
 * ```
 * @module
 */
import { NotFoundError, OcisyncError, UnsafeContentError } from "../../errors/mod.ts";
import { readNamedText } from "../../fs/read.ts";
import { redactUrl } from "./redact.ts";
import { describe, mapReadErrors } from "./errors.ts";
import { type Fetch, secretsSent } from "./fetch.ts";

/**
 * A {@linkcode Fetch} over the network, and how to release what it holds.
 *
 * @example
 * ```ts
 * import { type HttpFetch, httpFetch } from "./base.ts";
 * const base: HttpFetch = httpFetch();
 * base.close();
 * ```
 */
export interface HttpFetch {
  /** Sends one request; a redirect is returned as it is, not followed. */
  fetch: Fetch;
  /** Closes the TLS client made for `caFile`, if any; the next request makes a new one. */
  close(): void;
}

/**
 * The runtime's `fetch` as a {@linkcode Fetch}. The `caFile` is read on the first request, and
 * an error reading it is that request's error (and every later one's): a
 * {@linkcode NotFoundError} when it does not exist.
 *
 * @example
 * ```ts
 * import { httpFetch } from "./base.ts";
 * const { fetch } = httpFetch();
 * const response = await fetch({
 *   method: "HEAD",
 *   url: new URL("http://localhost:5000/v2/"),
 *   headers: new Headers(),
 * });
 * console.log(response.status);
 * ```
 */
export function httpFetch(options: { caFile?: string } = {}): HttpFetch {
  let client: Promise<Deno.HttpClient> | undefined;
  const httpClient = (caFile: string) =>
    client ??= readNamedText(caFile, "the CA file").then(
      (pem) => Deno.createHttpClient({ caCerts: [pem] }),
      (error) => {
        // A missing file is exit 4, whichever file the user named.
        if (error instanceof OcisyncError) throw error;
        if (error instanceof Deno.errors.NotFound) {
          throw new NotFoundError(`no such CA file: ${caFile}`, { cause: error });
        }
        throw new OcisyncError(`cannot read the CA file ${caFile}: ${describe(error)}`);
      },
    );
  return {
    async fetch(request) {
      const { method, url, headers, signal } = request;
      // Deno's fetch reads `file:` URLs too, with the binary's every permission: a redirect,
      // an upload Location or a Link from a registry or token server must not lead it to a
      // local file, whose `token` would then be sent on as a credential.
      if (url.protocol !== "https:" && url.protocol !== "http:") {
        throw new UnsafeContentError(
          `refusing to fetch ${redactUrl(url)}: a registry and its token server are reached ` +
            "over http or https only; it was led there by a redirect, an upload location or a " +
            "link, as a misconfigured or hostile server would",
        );
      }
      // A streamed upload passes its stream here as the body (see `#streamPatches` of
      // `../registry.ts`): its own failure, such as bytes that do not match their digest, is that
      // request's error, not a network failure for the layers above to resume.
      let failure: { error: unknown } | undefined;
      const body = request.body instanceof ReadableStream
        ? mapReadErrors(request.body, (error) => (failure = { error }).error)
        : request.body;
      const client = options.caFile === undefined ? undefined : await httpClient(options.caFile);
      let response;
      try {
        response = await fetch(url, {
          method,
          headers,
          body,
          signal,
          redirect: "manual",
          client,
        });
      } catch (error) {
        // `fetch` rejects with a `TypeError` whose cause keeps only the body's message.
        throw failure ? failure.error : error;
      }
      const { status, statusText } = response;
      return {
        method,
        url,
        status,
        statusText,
        headers: response.headers,
        body: response.body,
        secrets: () => secretsSent(request),
      };
    },
    close() {
      client?.then((made) => made.close(), () => {});
      client = undefined;
    },
  };
}
