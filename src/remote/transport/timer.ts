/**
 * One-shot timers for the transport's deadlines, built on web timers (`AbortSignal.timeout`)
 * rather than `setTimeout`: Deno's `setTimeout` loads part of its Node layer (`node:timers`),
 * about 8 ms of every short command's start-up.
 *
 * A web timer cannot be cleared. An abort signal keeps the process alive only while it has a
 * listener, so removing the listener lets the process exit, but the timer stays pending until
 * its time. One per request or per body read would pile up (a pull reads a blob in thousands of
 * pieces, each under a 60-second idle timeout), so all deadlines share one web timer: it is set
 * for the earliest deadline, kept when a later one is added, and reused after the last deadline
 * is cancelled. A new web timer is made only for a deadline earlier than the one set.
 *
 * @example
 * ```ts
 * import { schedule } from "./timer.ts";
 * const cancel = schedule(1000, () => console.log("a second later"));
 * cancel(); // the process may exit now
 * ```
 * @module
 */

interface Deadline {
  /** On `performance.now()`'s clock. */
  at: number;
  callback: () => void;
}

const pending = new Set<Deadline>();
/** The web timer: it fires at `at`, and is listened to while a deadline is pending. */
let timer: { at: number; signal: AbortSignal } | undefined;

/**
 * Calls `callback` once, `ms` from now; the function returned cancels that. A pending call
 * keeps the process alive, as `setTimeout` does; a cancelled one does not.
 *
 * @example
 * ```ts
 * import { schedule } from "./timer.ts";
 * await new Promise<void>((resolve) => schedule(10, resolve));
 * ```
 */
export function schedule(ms: number, callback: () => void): () => void {
  // Refused before it joins the timers every call shares: a NaN among them broke the others.
  if (Number.isNaN(ms)) throw new RangeError("a timer's delay must be a number, not NaN");
  const deadline = { at: performance.now() + ms, callback };
  pending.add(deadline);
  if (timer !== undefined && !timer.signal.aborted && timer.at <= deadline.at) {
    // Adding the same listener twice adds it once.
    timer.signal.addEventListener("abort", fire);
  } else setTimer();
  return () => {
    pending.delete(deadline);
    if (pending.size === 0) timer?.signal.removeEventListener("abort", fire);
  };
}

/** Sets the web timer for the earliest pending deadline, unless the one set fires first. */
function setTimer(): void {
  let earliest = Infinity;
  for (const deadline of pending) earliest = Math.min(earliest, deadline.at);
  if (earliest === Infinity) return;
  if (timer !== undefined && !timer.signal.aborted && timer.at <= earliest) {
    timer.signal.addEventListener("abort", fire);
    return;
  }
  timer?.signal.removeEventListener("abort", fire);
  const delay = Math.max(0, Math.ceil(earliest - performance.now()));
  timer = { at: earliest, signal: AbortSignal.timeout(delay) };
  timer.signal.addEventListener("abort", fire);
}

/** The web timer fired: calls the deadlines that are due, and sets it for the next one. */
function fire(): void {
  timer = undefined;
  const now = performance.now();
  try {
    for (const deadline of pending) {
      if (deadline.at > now) continue;
      pending.delete(deadline);
      deadline.callback();
    }
  } finally {
    setTimer();
  }
}
