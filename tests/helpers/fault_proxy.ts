/**
 * A fault-injecting HTTP proxy for tests: `Deno.serve` on 127.0.0.1 (port 0) in front of the real
 * registry of `registry.ts`. It forwards every request, making the registry's `Location` headers
 * relative, and records what it saw. Each test programs its faults with {@linkcode FrontProxy.inject}:
 * a method and a path pattern, how many times, and what goes wrong. A second listener on another
 * port plays object storage for redirected blob downloads and records the headers it got.
 *
 * @example
 * ```ts
 * import { startProxy } from "./fault_proxy.ts";
 * import { startRegistry } from "./registry.ts";
 * const registry = await startRegistry();
 * const proxy = startProxy(registry.host);
 * proxy.inject({ method: "GET", path: /\/blobs\//, fault: { kind: "status", status: 503 } });
 * // ocisync pull ${proxy.host}/app:v1 … sees one 503, then the registry
 * await proxy.close();
 * await registry.stop();
 * ```
 * @module
 */
import { createHash } from "node:crypto";

/** What goes wrong with one request. */

/** What a body broken by a `reset` fault errors with. */
const INJECTED_RESET = "injected connection reset";
export type Fault =
  /** Answer with this status (500, 502, 503, 504, 408, 429, 401…), without asking the registry. */
  | {
    kind: "status";
    status: number;
    /** `Retry-After`: seconds (`"2"`) or an HTTP date. */
    retryAfter?: string;
    /** The body; default a distribution-spec JSON error. Any text makes a non-JSON error body. */
    body?: string;
    /** More response headers, e.g. `www-authenticate`. */
    headers?: Record<string, string>;
  }
  /**
   * Response: send the headers and `after` bytes of the body, then abort the connection.
   * Request with a body (an upload): deliver its first `after` bytes to the registry (none for
   * 0), then answer 502, as a load balancer does when its upstream connection resets.
   */
  | { kind: "reset"; after: number }
  /** Send `after` bytes of the body under the full `Content-Length`, then close. */
  | { kind: "truncate"; after: number }
  /**
   * Flip one bit of the byte at `offset` (default the middle): of the request body when there
   * is one (an upload), else of the response body. Headers are left as they were.
   */
  | { kind: "flip"; offset?: number }
  /**
   * Stall: with `after`, send the headers and `after` body bytes, then nothing for `seconds`;
   * without, send no response at all for `seconds`.
   */
  | { kind: "stall"; seconds: number; after?: number }
  /** Replace the `Docker-Content-Digest` header, or remove it (`null`). */
  | { kind: "digest"; value: string | null }
  /** Replace the `Content-Type` header. */
  | { kind: "contentType"; value: string }
  /** Set a response header, e.g. `oci-chunk-min-length`. */
  | { kind: "header"; name: string; value: string }
  /**
   * Answer 307 with a signed URL on the second listener, which serves the registry's bytes as
   * object storage would, with the authorization that the redirected request carried.
   */
  | { kind: "redirect" }
  /** Answer a manifest GET with a valid manifest over 4 MiB (padded by an annotation). */
  | { kind: "oversize" }
  /** Answer 200 with this body instead of the registry's, keeping its `Content-Type`. */
  | { kind: "replace"; body: string };

/** Which requests get a fault, and how many of them. */
export interface FaultRule {
  /** The method; any when absent. */
  method?: string;
  /** Tested against the path and query string. */
  path: RegExp;
  /** How many matching requests get the fault. Default 1; `Infinity` for all. */
  times?: number;
  /** How many matching requests go through untouched before the faults start. Default 0. */
  skip?: number;
  /** What goes wrong. */
  fault: Fault;
}

/** One request the proxy or the storage listener received. */
export interface SeenRequest {
  /** The method, e.g. `GET`. */
  method: string;
  /** The path and query string. */
  path: string;
  /** The `Authorization` header, or null. */
  authorization: string | null;
  /** The `Accept` header, or null. */
  accept: string | null;
  /** The `Range` header, or null. */
  range: string | null;
  /** The fault it got, if any. */
  fault?: Fault["kind"];
  /** Every header, as received. */
  headers: Record<string, string>;
}

/** A running proxy. */
export interface FrontProxy {
  /** `127.0.0.1:PORT` (or the `hostname` given). */
  host: string;
  /** Every request, in order of arrival. */
  seen: SeenRequest[];
  /** Requests at the storage listener that redirects point to. */
  storage: SeenRequest[];
  /** Adds fault rules; the first matching rule with faults left applies. */
  inject(...rules: FaultRule[]): void;
  /**
   * Rules that have not applied as often as they say (an endless one: not once), so that a test
   * can assert that its faults happened.
   */
  unused(): FaultRule[];
  /** Sends a request to the registry and returns its answer, `Location` made relative. */
  forward(request: Request, body?: Uint8Array<ArrayBuffer>): Promise<Response>;
  /** Ends every stall and stops both listeners. */
  close(): Promise<void>;
}

/** Answers a request itself, or leaves it (undefined) to the faults and the registry. */
export type Intercept = (request: Request, url: URL) => Promise<Response | undefined>;

/** Options of {@linkcode startProxy}. */
export interface ProxyOptions {
  /** The address to listen on; default 127.0.0.1. */
  hostname?: string;
  /** PEM certificate and key, to serve HTTPS. */
  tls?: { cert: string; key: string };
}

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * Starts a proxy in front of the registry at `upstream` (`127.0.0.1:PORT`). `intercept` answers
 * before faults and forwarding when it returns a response.
 *
 * @example
 * ```ts
 * import { startProxy } from "./fault_proxy.ts";
 * const proxy = startProxy("127.0.0.1:5000");
 * proxy.inject({ path: /\/manifests\//, times: 2, fault: { kind: "status", status: 502 } });
 * await proxy.close();
 * ```
 */
export function startProxy(
  upstream: string,
  intercept?: Intercept,
  options: ProxyOptions = {},
): FrontProxy {
  const hostname = options.hostname ?? "127.0.0.1";
  const seen: SeenRequest[] = [];
  const storage: SeenRequest[] = [];
  const rules: { rule: FaultRule; left: number; skip: number; applied: number }[] = [];
  // Signed storage URLs: their signature names the redirected request's path and credentials.
  const signed = new Map<string, { path: string; authorization: string | null }>();
  const closing = new AbortController();

  const forward = async (request: Request, body?: Uint8Array<ArrayBuffer>) => {
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.delete("host");
    const hasBody = request.method !== "GET" && request.method !== "HEAD";
    const response = await fetch(`http://${upstream}${url.pathname}${url.search}`, {
      method: request.method,
      headers,
      body: body ?? (hasBody ? new Uint8Array(await request.arrayBuffer()) : undefined),
      redirect: "manual",
    });
    const out = new Headers(response.headers);
    const location = out.get("location");
    // Relative, as registries behind proxies often send them: the client resolves them.
    if (location) out.set("location", location.replace(`http://${upstream}`, ""));
    return new Response(response.body, { status: response.status, headers: out });
  };

  const storageServer = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const url = new URL(request.url);
    storage.push(record(request, url));
    const target = signed.get(url.searchParams.get("X-Amz-Signature") ?? "");
    if (target === undefined) return new Response("SignatureDoesNotMatch", { status: 403 });
    const headers = new Headers();
    if (target.authorization) headers.set("authorization", target.authorization);
    const range = request.headers.get("range");
    if (range) headers.set("range", range);
    return fetch(`http://${upstream}${target.path}`, { headers });
  });

  const applyFault = async (request: Request, url: URL, fault: Fault): Promise<Response> => {
    const hasBody = request.method !== "GET" && request.method !== "HEAD";
    switch (fault.kind) {
      case "status": {
        await request.body?.cancel();
        const headers = new Headers(fault.headers);
        if (fault.retryAfter !== undefined) headers.set("retry-after", fault.retryAfter);
        const body = fault.body ?? JSON.stringify({
          errors: [{ code: "UNAVAILABLE", message: `injected ${fault.status}` }],
        });
        if (fault.body === undefined) headers.set("content-type", "application/json");
        return new Response(request.method === "HEAD" ? null : body, {
          status: fault.status,
          headers,
        });
      }
      case "reset":
        if (hasBody) {
          const bytes = new Uint8Array(await request.arrayBuffer());
          if (fault.after > 0) {
            const partial = partialUpload(request, bytes, fault.after);
            await (await forward(partial, bytes.slice(0, fault.after))).body?.cancel();
          }
          return new Response("upstream connection reset", { status: 502 });
        }
        return cut(await forward(request), fault.after, "reset");
      case "truncate":
        return cut(await forward(request), fault.after, "close");
      case "flip": {
        if (hasBody) {
          const bytes = new Uint8Array(await request.arrayBuffer());
          flipByte(bytes, fault.offset);
          return await forward(request, bytes);
        }
        const response = await forward(request);
        const bytes = new Uint8Array(await response.arrayBuffer());
        flipByte(bytes, fault.offset);
        return new Response(bytes, { status: response.status, headers: response.headers });
      }
      case "stall": {
        if (fault.after === undefined) {
          await delay(fault.seconds * 1000, closing.signal);
          // Closing ends every stall; the registry then gets nothing.
          if (closing.signal.aborted) return new Response(null, { status: 503 });
          return await forward(request);
        }
        return stall(await forward(request), fault.after, fault.seconds, closing.signal);
      }
      case "digest": {
        const response = await forward(request);
        const headers = new Headers(response.headers);
        if (fault.value === null) headers.delete("docker-content-digest");
        else headers.set("docker-content-digest", fault.value);
        return new Response(response.body, { status: response.status, headers });
      }
      case "contentType":
      case "header": {
        const response = await forward(request);
        const headers = new Headers(response.headers);
        if (fault.kind === "header") headers.set(fault.name, fault.value);
        else headers.set("content-type", fault.value);
        return new Response(response.body, { status: response.status, headers });
      }
      case "redirect": {
        await request.body?.cancel();
        const signature = crypto.randomUUID();
        signed.set(signature, {
          path: url.pathname + url.search,
          authorization: request.headers.get("authorization"),
        });
        const location = `http://127.0.0.1:${storageServer.addr.port}/storage` +
          `${url.pathname}?X-Amz-Signature=${signature}`;
        return new Response(null, { status: 307, headers: { location } });
      }
      case "oversize": {
        const response = await forward(request);
        const manifest = await response.json();
        manifest.annotations = { padding: "x".repeat(MAX_MANIFEST_BYTES) };
        const bytes = new TextEncoder().encode(JSON.stringify(manifest));
        const headers = new Headers(response.headers);
        headers.set("docker-content-digest", `sha256:${sha256Hex(bytes)}`);
        headers.delete("content-length");
        return new Response(bytes, { status: 200, headers });
      }
      case "replace": {
        const response = await forward(request);
        await response.body?.cancel();
        const headers = new Headers(response.headers);
        for (const name of ["content-length", "docker-content-digest", "etag"]) {
          headers.delete(name);
        }
        return new Response(fault.body, { status: 200, headers });
      }
    }
  };

  const server = Deno.serve(
    {
      hostname,
      port: 0,
      ...options.tls,
      onListen() {},
      onError(error) {
        // The faults themselves, and a client that gives up on its upload midway (bytes that do
        // not match their digest), which leaves the body unreadable: expected, and not worth a
        // stack trace.
        if (error !== INJECTED_RESET && !(error instanceof Deno.errors.BadResource)) {
          console.error(error);
        }
        return new Response(null, { status: 502 });
      },
    },
    async (request) => {
      const url = new URL(request.url);
      const entry = record(request, url);
      seen.push(entry);
      const intercepted = await intercept?.(request, url);
      if (intercepted) return intercepted;
      const match = rules.find(({ rule, left }) =>
        left > 0 && (rule.method === undefined || rule.method === request.method) &&
        rule.path.test(url.pathname + url.search)
      );
      if (match === undefined) return await forward(request);
      if (match.skip > 0) {
        match.skip--;
        return await forward(request);
      }
      match.left--;
      match.applied++;
      entry.fault = match.rule.fault.kind;
      return await applyFault(request, url, match.rule.fault);
    },
  );
  return {
    host: `${hostname}:${server.addr.port}`,
    seen,
    storage,
    inject(...added) {
      for (const rule of added) {
        rules.push({ rule, left: rule.times ?? 1, skip: rule.skip ?? 0, applied: 0 });
      }
    },
    unused: () =>
      rules.filter(({ left, applied }) => applied === 0 || (left > 0 && left !== Infinity))
        .map(({ rule }) => rule),
    forward,
    async close() {
      closing.abort();
      await Promise.all([server.shutdown(), storageServer.shutdown()]);
    },
  };
}

function record(request: Request, url: URL): SeenRequest {
  return {
    method: request.method,
    path: url.pathname + url.search,
    authorization: request.headers.get("authorization"),
    accept: request.headers.get("accept"),
    range: request.headers.get("range"),
    headers: Object.fromEntries(request.headers),
  };
}

/** The same request with only its first `length` bytes, its `Content-Range` to match. */
function partialUpload(request: Request, bytes: Uint8Array, length: number): Request {
  const headers = new Headers(request.headers);
  headers.delete("content-length");
  const range = /^(\d+)-\d+$/.exec(headers.get("content-range") ?? "");
  if (range) headers.set("content-range", `${range[1]}-${Number(range[1]) + length - 1}`);
  return new Request(request.url, {
    method: request.method,
    headers,
    body: bytes.slice(0, length),
  });
}

/**
 * The response with its declared length, but only `after` body bytes: then the connection is
 * aborted (`reset`) or the body simply ends (`close`), short of its `Content-Length`.
 */
function cut(response: Response, after: number, how: "reset" | "close"): Response {
  const reader = response.body!.getReader();
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done || sent >= after) {
        await reader.cancel();
        // Erroring the body makes the server drop the connection mid-response.
        if (how === "reset") controller.error(INJECTED_RESET);
        else controller.close();
        return;
      }
      const part = value.subarray(0, after - sent);
      sent += part.byteLength;
      controller.enqueue(part);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return new Response(body, { status: response.status, headers: response.headers });
}

/**
 * The response, pausing `seconds` after `after` body bytes, or until the client gives up or
 * `closing` aborts.
 */
function stall(response: Response, after: number, seconds: number, closing: AbortSignal): Response {
  const reader = response.body!.getReader();
  const gone = new AbortController();
  closing.addEventListener("abort", () => gone.abort(), { once: true });
  let sent = 0;
  let stalled = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) return controller.close();
      if (stalled || sent + value.byteLength < after) {
        sent += value.byteLength;
        return controller.enqueue(value);
      }
      const head = value.subarray(0, after - sent);
      if (head.byteLength > 0) controller.enqueue(head);
      stalled = true;
      await delay(seconds * 1000, gone.signal);
      if (!gone.signal.aborted) controller.enqueue(value.subarray(head.byteLength));
    },
    cancel(reason) {
      gone.abort();
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, headers: response.headers });
}

function flipByte(bytes: Uint8Array, offset = Math.floor(bytes.length / 2)): void {
  if (bytes.length === 0) throw new Error("no byte to flip in an empty body");
  bytes[offset < 0 ? bytes.length + offset : offset] ^= 0x01;
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Waits `ms`, or less when `signal` aborts. */
function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
