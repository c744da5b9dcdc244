/**
 * The sync output that `POST`s a JSON summary of each change to a URL: a module of its own, as
 * it loads the HTTP client (`../remote/transport.ts`), so that a sync without a webhook starts
 * without it.
 *
 * @module
 */
import { NetworkError, OcisyncError, stringifyJson } from "../errors/mod.ts";
import { discardBody, type HttpResponse, Transport } from "../remote/transport.ts";
import { replaceUrls } from "../remote/transport/redact.ts";
import type { SyncOutput } from "./outputs.ts";

/**
 * Options of {@linkcode webhookOutput}.
 *
 * @example
 * ```ts
 * import type { WebhookOutputOptions } from "./webhook.ts";
 * const options: WebhookOutputOptions = { retries: 5, timeout: 10_000 };
 * ```
 */
export interface WebhookOutputOptions {
  /** How many times a failed request is retried. Default 3. */
  retries?: number;
  /** Milliseconds to wait for the answer. Default 30 000. */
  timeout?: number;
  /** A PEM file of certificate authorities to trust besides the system's, for an HTTPS URL. */
  caFile?: string;
  /** Receives one line per request and per retry, naming the URL's origin only. */
  log?: (line: string) => void;
}

/**
 * `POST`s a JSON summary of each change to `url`: `{"reference","digest","previous","paths",
 * "syncedAt"}`, and `"tag"` with a tag policy. Network errors, 408, 429 and 5xx are retried with
 * backoff; any answer other than 2xx after that fails the tick. Errors and log lines name the
 * URL's origin (`https://hooks.slack.com:443`) only: a webhook's path often holds its secret
 * (Slack's `/services/T…/B…/SECRET`, Discord's `/api/webhooks/ID/TOKEN`).
 *
 * @example
 * ```ts
 * import { webhookOutput } from "./webhook.ts";
 * const output = webhookOutput(new URL("https://hooks.example.com/flows"), { retries: 5 });
 * ```
 */
export function webhookOutput(url: URL, options: WebhookOutputOptions = {}): SyncOutput {
  const { log } = options;
  const transport = new Transport({
    retries: 3,
    ...options,
    ...(log ? { log: (line: string) => log(originsOnly(line)) } : {}),
  });
  return {
    id: `webhook:${url.href}`,
    description: `posting to the webhook ${url.origin}`,
    async apply(change) {
      const summary = {
        reference: change.reference,
        ...(change.tag === undefined ? {} : { tag: change.tag }),
        digest: change.digest,
        previous: change.previous?.digest ?? null,
        paths: change.paths,
        syncedAt: new Date().toISOString(),
      };
      let response: HttpResponse;
      try {
        response = await transport.fetch({
          method: "POST",
          url,
          headers: { "content-type": "application/json" },
          body: new TextEncoder().encode(stringifyJson(summary)),
          // A stop ends the wait for the answer, or before a retry: the tick is not recorded,
          // so the next run delivers the change again.
          signal: change.signal,
        });
      } catch (error) {
        throw error instanceof NetworkError ? webhookNetworkError(error) : error;
      }
      await discardBody(response);
      if (response.status >= 200 && response.status < 300) return;
      const message = `the webhook ${url.origin} answered ${response.status}`;
      throw response.status === 429 || response.status >= 500
        ? new NetworkError(message)
        : new OcisyncError(message);
    },
  };
}

/** `text` with each URL in it cut to its origin: no user info, path or query. */
function originsOnly(text: string): string {
  return replaceUrls(text, (match) => URL.parse(match)?.origin ?? "(url)");
}

/**
 * The transport's error for a webhook's request, naming the origin only, with a hint for a
 * webhook: the transport's speaks of a registry, and of plain HTTP, which the URL's scheme
 * decides here.
 */
function webhookNetworkError(error: NetworkError): NetworkError {
  const plainHttp = error.option === "plainHttp";
  const hint = plainHttp
    ? "if it serves plain HTTP, give the webhook's URL with http://"
    : error.hint?.replaceAll("registry", "webhook");
  return new NetworkError(`the webhook: ${originsOnly(error.message)}`, {
    ...(hint === undefined ? {} : { hint: originsOnly(hint) }),
    ...(plainHttp || error.option === undefined ? {} : { option: error.option }),
  });
}
