/**
 * A sync loop's health and metrics over HTTP, for Kubernetes probes and Prometheus:
 *
 * - `GET /healthz`: 200 while every target's last successful tick is at most three of its
 *   intervals old, else 503; the body is a JSON {@linkcode HealthReport};
 * - `GET /metrics`: the Prometheus text format, per target (labels `target`, its index, and
 *   `reference`, as two targets may sync one reference): ticks, changes, failures,
 *   failures in a row, signature verifications refused, bytes pulled, the time of the last
 *   success, and the current digest (and the tag a policy picked) as labels of
 *   `ocisync_sync_info`.
 *
 * @example
 * ```ts
 * import { parseListenAddress, serveSyncHttp, SyncMetrics } from "./http.ts";
 * const metrics = new SyncMetrics([{ reference: "ghcr.io/acme/flows:prod", interval: 30_000 }]);
 * const server = serveSyncHttp({ address: parseListenAddress("127.0.0.1:9090"), metrics });
 * // for await (const tick of syncLoop(…)) metrics.record(tick);
 * await server.shutdown();
 * ```
 * @module
 */
import type { Digest } from "../digest/mod.ts";
import { UsageError } from "../errors/mod.ts";
import { SignatureError } from "../trust/errors.ts";

// A tick is defined here, not beside the loop in `./mod.ts` that yields it: the loop's module
// re-exports this one, and the metrics count ticks, so this is the one place both can import
// without a cycle between the two.

/**
 * What one tick did.
 *
 * - `unchanged`: the digest is the last good one;
 * - `changed`: a new digest was delivered to every output and recorded;
 * - `failed`: something went wrong; see `error`. The state is as it was;
 * - `aborted`: the signal stopped the tick; the state is as it was. Always the last tick.
 *
 * @example
 * ```ts
 * import type { SyncTick } from "./http.ts";
 * function line(tick: SyncTick): string {
 *   return `${tick.reference} ${tick.status} ${tick.digest ?? "-"} in ${tick.durationMs} ms`;
 * }
 * ```
 */
export interface SyncTick {
  /** The reference, as written in full. */
  reference: string;
  /** What happened. */
  status: "unchanged" | "changed" | "failed" | "aborted";
  /** The last good digest after the tick, if there is one. */
  digest?: Digest;
  /** With a tag policy: the tag it picked at this tick (at the last one that got so far). */
  tag?: string;
  /** With `changed`: the last good digest before it, if there was one. */
  previous?: Digest;
  /** With `changed`: the path of each layer. */
  paths?: string[];
  /** Bytes of layers pulled during the tick. */
  bytes: number;
  /** When the tick started, in milliseconds since the epoch. */
  startedAt: number;
  /** How long the tick took. */
  durationMs: number;
  /** With `failed`: why. */
  error?: unknown;
  /** Failed ticks in a row, this one included: 0 after a success. */
  failures: number;
  /** Milliseconds until the next tick; undefined when the loop ends after this one. */
  nextTickMs?: number;
}

/** A target's counters. */
interface Counters {
  reference: string;
  interval: number;
  ticks: number;
  changes: number;
  failures: number;
  failuresInARow: number;
  bytes: number;
  verificationFailures: number;
  lastSuccess?: number;
  digest?: string;
  tag?: string;
  lastError?: string;
}

/**
 * One target's health.
 *
 * @example
 * ```ts
 * import type { TargetHealth } from "./http.ts";
 * const health: TargetHealth = {
 *   target: 0,
 *   reference: "ghcr.io/acme/flows:prod",
 *   healthy: false,
 *   lastSuccess: null,
 *   digest: null,
 *   failures: 3,
 *   verificationFailures: 3,
 *   lastError: "signature refused: no signature of sha256:… verified",
 * };
 * ```
 */
export interface TargetHealth {
  /** The target's index in the list the metrics were made for: a `--config` file's, from 0. */
  target: number;
  /** The reference, as written in full. */
  reference: string;
  /** Whether the last successful tick is at most three intervals old. */
  healthy: boolean;
  /** The time of the last successful tick (ISO 8601), or null before the first. */
  lastSuccess: string | null;
  /** The last good digest, or null before the first. */
  digest: string | null;
  /** Failed ticks in a row. */
  failures: number;
  /** With a tag policy: the tag of the last good digest. */
  tag?: string;
  /** Ticks that failed because a new digest's signature did not verify, since the start. */
  verificationFailures: number;
  /**
   * Why the last tick failed, while the failures last (`signature refused: …` for a
   * verification); null once a tick succeeds, and before any fails.
   */
  lastError: string | null;
}

/**
 * What `/healthz` answers.
 *
 * @example
 * ```ts
 * import type { HealthReport } from "./http.ts";
 * const report: HealthReport = { healthy: true, targets: [] };
 * ```
 */
export interface HealthReport {
  /** Whether every target is healthy. */
  healthy: boolean;
  /** Each target's health, in their order. */
  targets: TargetHealth[];
}

/** A target is healthy while its last success is at most this many intervals old. */
const HEALTHY_INTERVALS = 3;

/**
 * Counts the ticks of one or more sync loops.
 *
 * @example
 * ```ts
 * import { SyncMetrics } from "./http.ts";
 * const metrics = new SyncMetrics([{ reference: "localhost:5000/app:v1", interval: 1000 }]);
 * console.log(metrics.health().healthy); // false: no tick has succeeded yet
 * ```
 */
export class SyncMetrics {
  #counters: Counters[] = [];

  /**
   * Metrics for `targets`, each with its interval in milliseconds. Two targets may have one
   * reference (two platforms, two folders): each has its own counters, told apart by index.
   */
  constructor(targets: { reference: string; interval: number }[]) {
    for (const { reference, interval } of targets) {
      this.#counters.push({
        reference,
        interval,
        ticks: 0,
        changes: 0,
        failures: 0,
        failuresInARow: 0,
        bytes: 0,
        verificationFailures: 0,
      });
    }
  }

  /**
   * Counts a tick of the target at index `target`; without it, of the one target with the
   * tick's reference. An aborted tick is not counted: it neither succeeded nor failed.
   *
   * @throws {TypeError} for a target the metrics were not made for, or without `target` when
   * no target, or several, have the tick's reference.
   * @example
   * ```ts
   * import { SyncMetrics } from "./http.ts";
   * const metrics = new SyncMetrics([{ reference: "localhost:5000/app:v1", interval: 1000 }]);
   * metrics.record({
   *   reference: "localhost:5000/app:v1",
   *   status: "unchanged",
   *   bytes: 0,
   *   startedAt: Date.now(),
   *   durationMs: 3,
   *   failures: 0,
   * });
   * ```
   */
  record(tick: SyncTick, target?: number): void {
    const counters = this.#targetOf(tick.reference, target);
    if (tick.status === "aborted") return;
    counters.ticks++;
    counters.bytes += tick.bytes;
    counters.failuresInARow = tick.failures;
    if (tick.status === "failed") {
      counters.failures++;
      const refused = tick.error instanceof SignatureError;
      if (refused) counters.verificationFailures++;
      const message = tick.error instanceof Error ? tick.error.message : String(tick.error);
      counters.lastError = refused ? `signature refused: ${message}` : message;
      return;
    }
    if (tick.status === "changed") counters.changes++;
    counters.lastSuccess = tick.startedAt + tick.durationMs;
    counters.digest = tick.digest;
    if (tick.tag !== undefined) counters.tag = tick.tag;
    counters.lastError = undefined;
  }

  /**
   * The health of every target at `now`.
   *
   * @example
   * ```ts
   * import { SyncMetrics } from "./http.ts";
   * const metrics = new SyncMetrics([{ reference: "localhost:5000/app:v1", interval: 1000 }]);
   * metrics.health().targets[0].lastSuccess; // null
   * ```
   */
  health(now: number = Date.now()): HealthReport {
    const targets = this.#counters.map((c, target): TargetHealth => ({
      target,
      reference: c.reference,
      healthy: c.lastSuccess !== undefined &&
        now - c.lastSuccess <= HEALTHY_INTERVALS * c.interval,
      lastSuccess: c.lastSuccess === undefined ? null : new Date(c.lastSuccess).toISOString(),
      digest: c.digest ?? null,
      ...(c.tag !== undefined ? { tag: c.tag } : {}),
      failures: c.failuresInARow,
      verificationFailures: c.verificationFailures,
      lastError: c.lastError ?? null,
    }));
    return { healthy: targets.every((t) => t.healthy), targets };
  }

  /**
   * The metrics in the Prometheus text exposition format, version 0.0.4.
   *
   * @example
   * ```ts
   * import { SyncMetrics } from "./http.ts";
   * const metrics = new SyncMetrics([{ reference: "localhost:5000/app:v1", interval: 1000 }]);
   * console.log(metrics.prometheus()); // # HELP ocisync_sync_ticks_total …
   * ```
   */
  prometheus(): string {
    const families: [string, string, string, (c: Counters) => number | undefined][] = [
      ["ticks_total", "counter", "Ticks run, failed ones included.", (c) => c.ticks],
      ["changes_total", "counter", "New digests delivered to every output.", (c) => c.changes],
      ["failures_total", "counter", "Ticks that failed.", (c) => c.failures],
      ["consecutive_failures", "gauge", "Ticks failed in a row.", (c) => c.failuresInARow],
      [
        "verification_failures_total",
        "counter",
        "Ticks that failed because a new digest's signature did not verify.",
        (c) => c.verificationFailures,
      ],
      ["pulled_bytes_total", "counter", "Bytes of layers pulled.", (c) => c.bytes],
      [
        "last_success_timestamp_seconds",
        "gauge",
        "When a tick last succeeded, in seconds since the epoch.",
        (c) => c.lastSuccess === undefined ? undefined : c.lastSuccess / 1000,
      ],
    ];
    const lines: string[] = [];
    for (const [name, type, help, value] of families) {
      lines.push(`# HELP ocisync_sync_${name} ${help}`, `# TYPE ocisync_sync_${name} ${type}`);
      for (const [target, counters] of this.#counters.entries()) {
        const sample = value(counters);
        if (sample !== undefined) {
          lines.push(`ocisync_sync_${name}{${labels(target, counters)}} ${sample}`);
        }
      }
    }
    lines.push(
      "# HELP ocisync_sync_info The last good digest of each target, as a label.",
      "# TYPE ocisync_sync_info gauge",
    );
    for (const [target, counters] of this.#counters.entries()) {
      const { digest, tag } = counters;
      if (digest === undefined) continue;
      const tagLabel = tag === undefined ? "" : `,tag="${labelValue(tag)}"`;
      lines.push(`ocisync_sync_info{${labels(target, counters)},digest="${digest}"${tagLabel}} 1`);
    }
    return `${lines.join("\n")}\n`;
  }

  /** The counters of the target at `index`, else of the one target with `reference`. */
  #targetOf(reference: string, index: number | undefined): Counters {
    if (index !== undefined) {
      const counters = this.#counters[index];
      if (counters === undefined) throw new TypeError(`no metrics for target ${index}`);
      return counters;
    }
    const found = this.#counters.filter((c) => c.reference === reference);
    if (found.length !== 1) {
      throw new TypeError(
        found.length === 0
          ? `no metrics for ${reference}`
          : `${found.length} targets have ${reference}: give the tick's target`,
      );
    }
    return found[0];
  }
}

/** The labels of a target's samples: its index, then its reference. */
function labels(target: number, counters: Counters): string {
  return `target="${target}",reference="${labelValue(counters.reference)}"`;
}

function labelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

/**
 * Where to listen: a host name or IP address, and a port (0 for any free one).
 *
 * @example
 * ```ts
 * import type { ListenAddress } from "./http.ts";
 * const address: ListenAddress = { hostname: "127.0.0.1", port: 9090 };
 * ```
 */
export interface ListenAddress {
  /** The address to bind; `0.0.0.0` for every interface. */
  hostname: string;
  /** The port. */
  port: number;
}

/**
 * Parses `HOST:PORT`, `[IPV6]:PORT`, or `:PORT` for every interface (what Kubernetes probes,
 * which come from outside the pod, need).
 *
 * @throws {UsageError} for anything else.
 * @example
 * ```ts
 * import { parseListenAddress } from "./http.ts";
 * parseListenAddress("127.0.0.1:9090"); // { hostname: "127.0.0.1", port: 9090 }
 * parseListenAddress(":9090"); // { hostname: "0.0.0.0", port: 9090 }
 * ```
 */
export function parseListenAddress(value: string): ListenAddress {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]*):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  if (!match || port > 65535) {
    throw new UsageError(
      `the listen address must be HOST:PORT, such as 127.0.0.1:9090, not "${value}"`,
      { option: "http" },
    );
  }
  const hostname = match[1].replace(/^\[(.*)\]$/, "$1") || "0.0.0.0";
  return { hostname, port };
}

/**
 * Options of {@linkcode serveSyncHttp}.
 *
 * @example
 * ```ts
 * import { SyncMetrics, type SyncHttpOptions } from "./http.ts";
 * const options: SyncHttpOptions = {
 *   address: { hostname: "127.0.0.1", port: 0 },
 *   metrics: new SyncMetrics([]),
 *   onListen: ({ port }) => console.error(`listening on ${port}`),
 * };
 * ```
 */
export interface SyncHttpOptions {
  /** Where to listen. */
  address: ListenAddress;
  /** What to report. */
  metrics: SyncMetrics;
  /** Stops the server. */
  signal?: AbortSignal;
  /** Told the address bound, with the actual port when 0 was asked for. */
  onListen?: (address: Deno.NetAddr) => void;
  /**
   * Told when the server fails once it has started (the process ran out of file descriptors,
   * say, under a flood of connections), and when starting it again fails; it is started again
   * after a pause, 1 s doubling up to 30 s.
   */
  onError?: (error: unknown) => void;
}

/** A running {@linkcode serveSyncHttp} server. */
export interface SyncHttpServer {
  /** Settles once the server is stopped, by the signal or {@linkcode SyncHttpServer.shutdown}. */
  finished: Promise<void>;
  /** Stops the server. */
  shutdown(): Promise<void>;
}

const RESTART_PAUSE_MS = 1000;
const RESTART_PAUSE_MAX_MS = 30_000;

/**
 * Serves `/healthz` and `/metrics` (`GET` and `HEAD`; other methods get 405, other paths 404),
 * until the signal aborts or `shutdown()`. The sync goes on whatever its clients do: a server
 * that fails (a flood of connections can use up the process's file descriptors) is reported to
 * `onError` and started again after a pause, instead of ending the process.
 *
 * @throws {UsageError} when it cannot listen on the address at first (in use, not this host's,
 * or a port this user may not bind); what else keeps it from starting at first.
 * @example
 * ```ts
 * import { serveSyncHttp, SyncMetrics } from "./http.ts";
 * const server = serveSyncHttp({
 *   address: { hostname: "127.0.0.1", port: 9090 },
 *   metrics: new SyncMetrics([]),
 * });
 * await server.shutdown();
 * ```
 */
export function serveSyncHttp(options: SyncHttpOptions): SyncHttpServer {
  const stop = new AbortController();
  const abort = () => stop.abort();
  options.signal?.addEventListener("abort", abort, { once: true });
  if (options.signal?.aborted) stop.abort();
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = serveOnce(options, stop.signal);
  } catch (error) {
    options.signal?.removeEventListener("abort", abort);
    throw listenError(options.address, error);
  }
  const finished = (async () => {
    for (let pause = RESTART_PAUSE_MS;; pause = Math.min(2 * pause, RESTART_PAUSE_MAX_MS)) {
      try {
        await server.finished;
        return;
      } catch (error) {
        if (stop.signal.aborted) return;
        options.onError?.(error);
      }
      // Started again after a pause, for as long as it takes the flood to end.
      for (;;) {
        await sleepUnlessStopped(pause, stop.signal);
        if (stop.signal.aborted) return;
        try {
          server = serveOnce(options, stop.signal);
          break;
        } catch (error) {
          options.onError?.(error);
          pause = Math.min(2 * pause, RESTART_PAUSE_MAX_MS);
        }
      }
    }
  })().finally(() => options.signal?.removeEventListener("abort", abort));
  return {
    finished,
    async shutdown() {
      stop.abort();
      await finished;
    },
  };
}

/** The error to throw for `error`: a usage error when the address is what is wrong. */
function listenError(address: ListenAddress, error: unknown): unknown {
  const errors = Deno.errors;
  const wrongAddress = error instanceof errors.AddrInUse ||
    error instanceof errors.AddrNotAvailable || error instanceof errors.PermissionDenied;
  if (!wrongAddress) return error;
  const { hostname, port } = address;
  const shown = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  return new UsageError(`cannot serve /healthz and /metrics on ${shown}: ${error.message}`, {
    hint: "give another address, or stop what listens there",
    option: "http",
  });
}

/** One server over `Deno.serve`, until `signal` aborts or it fails. */
function serveOnce(options: SyncHttpOptions, signal: AbortSignal): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({
    ...options.address,
    signal,
    onListen: options.onListen ?? (() => {}),
  }, (request) => {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("only GET and HEAD\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    // A request target that is no URL (a hostile Host header) is the client's error.
    const path = URL.parse(request.url)?.pathname;
    if (path === undefined) return new Response("bad request\n", { status: 400 });
    if (path === "/healthz") {
      const report = options.metrics.health();
      return Response.json(report, { status: report.healthy ? 200 : 503 });
    }
    if (path === "/metrics") {
      return new Response(options.metrics.prometheus(), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    }
    return new Response("not found: try /healthz or /metrics\n", { status: 404 });
  });
}

/**
 * Waits `ms`, or less when `signal` aborts; never rejects. The sync loop's waits between ticks
 * and the server's pauses before a restart.
 *
 * @example
 * ```ts
 * import { sleepUnlessStopped } from "./http.ts";
 * await sleepUnlessStopped(10, AbortSignal.timeout(1000));
 * ```
 */
export function sleepUnlessStopped(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
