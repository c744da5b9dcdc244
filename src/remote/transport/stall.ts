/**
 * The stall guard: `--timeout` bounds the wait for response headers, and each wait for more of
 * a body, so that a hung connection fails instead of hanging. It throws a
 * {@linkcode StallError}, which the error layer words for the user, and which the retry and
 * resume layers treat as the network failure it is.
 *
 * @example
 * ```ts
 * import { httpFetch } from "./base.ts";
 * import { stallGuard } from "./stall.ts";
 * const guarded = stallGuard(httpFetch().fetch, { timeout: 5000, idleTimeout: 5000 });
 * ```
 * @module
 */
import { abortable, type Clock, type Fetch, systemClock } from "./fetch.ts";

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
// A large upload chunk on a slow uplink must not time out before the registry can answer.
const BODY_BYTES_PER_EXTRA_SECOND = 64 * 1024;
/**
 * The least a body must bring in each idle timeout's worth of waiting for it, as curl's
 * `--speed-limit`: a server that drips a byte a second never trips the wait for one read, and
 * would hold a 4 MiB manifest's read for weeks. Any working link brings far more.
 */
const MIN_BYTES_PER_IDLE_TIMEOUT = 1024;

/**
 * A wait that the stall guard ended: for the response's headers, or for more of its body.
 *
 * @example
 * ```ts
 * import { StallError } from "./stall.ts";
 * new StallError("body", 2000).message; // "no data for 2000 ms"
 * ```
 */
export class StallError extends Error {
  /** What was waited for: the headers, more of the body, or the body faster than a drip. */
  readonly phase: "headers" | "body" | "slow";
  /** How long, in milliseconds. */
  readonly ms: number;

  /** Creates the error for a wait of `ms` for `phase`. */
  constructor(phase: "headers" | "body" | "slow", ms: number) {
    super(
      phase === "headers"
        ? `no response within ${ms} ms`
        : phase === "body"
        ? `no data for ${ms} ms`
        : `under ${MIN_BYTES_PER_IDLE_TIMEOUT} bytes in ${ms} ms of waiting`,
    );
    this.name = "StallError";
    this.phase = phase;
    this.ms = ms;
  }
}

/**
 * How long {@linkcode stallGuard} waits.
 *
 * @example
 * ```ts
 * import type { StallOptions } from "./stall.ts";
 * const options: StallOptions = { timeout: 1000, idleTimeout: 1000 };
 * ```
 */
export interface StallOptions {
  /**
   * Milliseconds to wait for response headers. Default 30 000; requests with a body get one
   * more second per 64 KiB of it.
   */
  timeout?: number;
  /** Milliseconds a response body may go without data. Default 60 000. */
  idleTimeout?: number;
  /** The clock the waits run on. */
  clock?: Clock;
}

/**
 * Bounds the wait for headers and each read of the body. The request below is aborted when
 * the wait for headers ends, which frees its connection, and the caller's signal still ends
 * both waits at once.
 *
 * @example
 * ```ts
 * import type { Fetch } from "./fetch.ts";
 * import { stallGuard } from "./stall.ts";
 * const never: Fetch = () => new Promise(() => {});
 * await stallGuard(never, { timeout: 10 })({
 *   method: "GET",
 *   url: new URL("http://localhost/"),
 *   headers: new Headers(),
 * }).catch((error) => console.log(error.message)); // "no response within 10 ms"
 * ```
 */
export function stallGuard(next: Fetch, options: StallOptions = {}): Fetch {
  const clock = options.clock ?? systemClock;
  const idleTimeout = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_MS;
  return async (request) => {
    const ms = (options.timeout ?? DEFAULT_TIMEOUT_MS) +
      Math.floor((request.body?.byteLength ?? 0) / BODY_BYTES_PER_EXTRA_SECOND) * 1000;
    const expiry = new AbortController();
    const cancel = clock.schedule(ms, () => expiry.abort(new StallError("headers", ms)));
    const signal = request.signal === undefined
      ? expiry.signal
      : AbortSignal.any([request.signal, expiry.signal]);
    let response;
    try {
      // Raced as well as passed down, so that the bound holds even below a layer that does
      // not honour signals.
      response = await abortable(next({ ...request, signal }), signal);
    } finally {
      cancel();
    }
    const body = response.body && guardBody(response.body, idleTimeout, clock, request.signal);
    return { ...response, body };
  };
}

/**
 * The body, passed through, each read bounded by `idleTimeout`, and each `idleTimeout` spent
 * waiting for reads bringing {@linkcode MIN_BYTES_PER_IDLE_TIMEOUT} bytes at least; ended by
 * `signal`. Only the time spent waiting for the body counts, not the consumer's own.
 */
function guardBody(
  body: ReadableStream<Uint8Array>,
  idleTimeout: number,
  clock: Clock,
  signal: AbortSignal | undefined,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let waited = 0;
  let brought = 0;
  let reads = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let cancel = () => {};
      const stalled = new Promise<never>((_, reject) => {
        cancel = clock.schedule(idleTimeout, () => reject(new StallError("body", idleTimeout)));
      });
      const started = clock.now();
      try {
        const { done, value } = await abortable(Promise.race([reader.read(), stalled]), signal);
        if (done) return controller.close();
        waited += clock.now() - started;
        brought += value.length;
        reads++;
        // A drip is many reads; one read that took the whole wait is a stall's to judge.
        if (waited >= idleTimeout && reads >= 2) {
          if (brought < MIN_BYTES_PER_IDLE_TIMEOUT) throw new StallError("slow", waited);
          waited = brought = reads = 0;
        }
        controller.enqueue(value);
      } catch (error) {
        reader.cancel().catch(() => {});
        controller.error(error);
      } finally {
        cancel();
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
    // Nothing is read ahead: a read is timed only while the consumer waits for it.
  }, { highWaterMark: 0 });
}
