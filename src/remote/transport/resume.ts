/**
 * Bodies resumed where they broke off: when the body of a successful `GET` fails with a
 * `NetworkError` (a reset, a truncation under its `Content-Length`, a stall), the rest is asked
 * for with `Range: bytes=N-`. A server that ignores `Range` answers 200 with the whole body,
 * whose first N bytes are skipped. The consumer sees one unbroken stream; whatever verifies it
 * (a digest) covers the joined bytes.
 *
 * @example
 * ```ts
 * import { httpFetch } from "./base.ts";
 * import { resuming } from "./resume.ts";
 * import { retrying } from "./retry.ts";
 * const retried = retrying(httpFetch().fetch, { retries: 3 });
 * const resumed = resuming(retried, { retries: 3 });
 * ```
 * @module
 */
import { NetworkError } from "../../errors/mod.ts";
import { discardBody } from "./body.ts";
import type { Fetch, FetchRequest, HttpResponse } from "./fetch.ts";
import { requestLine } from "./redact.ts";
import { isTransient, type RetryOptions, waitToRetry } from "./retry.ts";

/**
 * Makes the body of each `GET` that answers 200 resume after a network failure, up to
 * `retries` times per body, each after a wait as the retry layer waits. The `Range` requests go
 * through `next`, so put this above the retry layer, which then retries them too.
 *
 * @example
 * ```ts
 * import type { Fetch } from "./fetch.ts";
 * import { resuming } from "./resume.ts";
 * const fetchBlob: Fetch = async (request) => ({
 *   ...request,
 *   status: 200,
 *   statusText: "OK",
 *   headers: new Headers(),
 *   body: new Blob(["hello"]).stream(),
 * });
 * const response = await resuming(fetchBlob, { retries: 3 })({
 *   method: "GET",
 *   url: new URL("https://r.example/v2/app/blobs/sha256:1"),
 *   headers: new Headers(),
 * });
 * console.log(await new Response(response.body).text()); // "hello"
 * ```
 */
export function resuming(next: Fetch, options: RetryOptions): Fetch {
  return async (request) => {
    const response = await next(request);
    if (request.method !== "GET" || response.status !== 200 || response.body === null) {
      return response;
    }
    return { ...response, body: resumingBody(next, request, response.body, options) };
  };
}

/** The body, passed through; a network failure part-way asks for the rest. */
function resumingBody(
  next: Fetch,
  request: FetchRequest,
  body: ReadableStream<Uint8Array>,
  options: RetryOptions,
): ReadableStream<Uint8Array> {
  // Worded only when the body breaks off: most bodies do not.
  const shown = () => requestLine(request.method, request.url);
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
          if (resumptions >= options.retries || !isTransient(error, request.signal)) throw error;
          await waitToRetry(options, {
            shown: shown(),
            attempt: resumptions++,
            note: `the body broke off at byte ${received} (${problem(error)}), resuming it`,
            signal: request.signal,
          });
          reader = await resume(next, request, received, shown());
          // The reader may have given up meanwhile: free the new connection too.
          if (cancelled) {
            await reader.cancel();
            return;
          }
        }
      }
    },
    cancel: async (reason) => {
      cancelled = true;
      // The reader may be the one that broke off, whose cancel fails with its error: the
      // consumer has given up on the body, and has no use for it.
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/**
 * What broke: a `NetworkError` names the request as sent (after redirects) first, then the
 * problem.
 */
function problem(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.slice(message.indexOf(": ") + 2);
}

/** A reader of the body from byte `offset` on. */
async function resume(
  next: Fetch,
  request: FetchRequest,
  offset: number,
  shown: string,
): Promise<ReadableStreamDefaultReader<Uint8Array>> {
  const headers = new Headers(request.headers);
  headers.set("range", `bytes=${offset}-`);
  let response = await next({ ...request, headers });
  // The token the body began with may have expired since: the registry's 401, answered once.
  if (
    response.status === 401 && request.reauthorize && response.url.origin === request.url.origin
  ) {
    const authorization = await request.reauthorize();
    if (authorization !== undefined && authorization !== headers.get("authorization")) {
      await discardBody(response);
      headers.set("authorization", authorization);
      response = await next({ ...request, headers });
    }
  }
  return (await bodyFrom(response, offset, shown)).getReader();
}

/**
 * The bytes from `offset` on, from `response` to a request with `Range: bytes=OFFSET-`: a 206's
 * range, or the whole body of a 200 (a server that ignores `Range`) without its first `offset`
 * bytes. `shown` names the request in the error.
 *
 * @throws {NetworkError} when the answer cannot give those bytes; its body is discarded.
 * @example
 * ```ts
 * import { bodyFrom } from "./resume.ts";
 * const whole = {
 *   method: "GET",
 *   url: new URL("https://r.example/v2/app/blobs/sha256:1"),
 *   status: 200,
 *   headers: new Headers(),
 *   body: new Blob(["hello"]).stream(),
 * };
 * const rest = await bodyFrom(whole, 2, "GET https://r.example/v2/app/blobs/sha256:1");
 * console.log(await new Response(rest).text()); // "llo"
 * ```
 */
export async function bodyFrom(
  response: HttpResponse,
  offset: number,
  shown: string,
): Promise<ReadableStream<Uint8Array>> {
  const start = response.status === 206
    ? Number(/^bytes (\d+)-/.exec(response.headers.get("content-range") ?? "")?.[1] ?? NaN)
    : response.status === 200
    ? 0
    : NaN;
  // NaN (no usable answer) and a range that starts after `offset` cannot give the bytes.
  if (response.body === null || !(start <= offset)) {
    await discardBody(response);
    throw new NetworkError(`${shown}: cannot resume from byte ${offset} (-> ${response.status})`);
  }
  return offset === start ? response.body : response.body.pipeThrough(skipping(offset - start));
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
