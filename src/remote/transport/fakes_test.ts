/**
 * Fakes shared by this folder's tests (no tests of its own): a clock that moves only when told,
 * a `Fetch` that answers from a script and records what it was sent, and bodies that break.
 * @module
 */
import type { Clock, Fetch, FetchRequest, FetchResponse } from "./fetch.ts";

/** A clock whose time moves only by {@linkcode FakeClock.runNext} and {@linkcode FakeClock.advance}. */
export class FakeClock implements Clock {
  #now: number;
  #timers: { at: number; callback: () => void }[] = [];

  constructor(now = Date.UTC(2025, 0, 1)) {
    this.#now = now;
  }

  now(): number {
    return this.#now;
  }

  schedule(ms: number, callback: () => void): () => void {
    const timer = { at: this.#now + ms, callback };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
    };
  }

  /** The delays of the timers pending, from now. */
  get pending(): number[] {
    return this.#timers.map((t) => t.at - this.#now);
  }

  /**
   * Waits until some timer is pending, then moves time to the earliest and runs it; returns
   * how far time moved.
   */
  async runNext(): Promise<number> {
    // A timer seen pending may be cancelled while this resumes: wait again then.
    while (this.#timers.length === 0) await settle(() => this.#timers.length > 0);
    const next = this.#timers.reduce((a, b) => (b.at < a.at ? b : a));
    this.#timers = this.#timers.filter((t) => t !== next);
    const moved = next.at - this.#now;
    this.#now = next.at;
    next.callback();
    return moved;
  }

  /** Moves time on by `ms`, running each timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = due.at;
      due.callback();
    }
    this.#now = end;
  }
}

/**
 * Lets pending promise callbacks and zero-delay timers run: until `ready()` holds (failing if it
 * never does), or for a fixed number of rounds without it.
 */
export async function settle(ready?: () => boolean): Promise<void> {
  for (let round = 0; round < 50; round++) {
    if (ready?.()) return;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  if (ready !== undefined) throw new Error("settle: the condition never held");
}

/** A blob's URL at a fake registry. */
export const BLOB = "https://r.example/v2/app/blobs/sha256:1";

/** A manifest's URL at a fake registry. */
export const MANIFEST = "https://r.example/v2/app/manifests/v1";

/** One scripted answer: a response, a thrown error, or a function of the request. */
export type Answer =
  | FetchResponse
  | Error
  | ((request: FetchRequest) => FetchResponse | Promise<FetchResponse>);

/**
 * A `Fetch` that answers with `answers` in order (the last one again when they run out), and
 * records each request.
 */
export function scriptedFetch(...answers: Answer[]): { fetch: Fetch; requests: FetchRequest[] } {
  const requests: FetchRequest[] = [];
  const fetch: Fetch = async (request) => {
    requests.push(request);
    const answer = answers[Math.min(requests.length, answers.length) - 1];
    if (answer instanceof Error) throw answer;
    if (typeof answer === "function") return await answer(request);
    return { ...answer, method: request.method, url: request.url };
  };
  return { fetch, requests };
}

/** A response with `status`, `headers` and a body of `body`'s bytes (none if undefined). */
export function response(
  status: number,
  options: { headers?: HeadersInit; body?: string | Uint8Array | ReadableStream<Uint8Array> } = {},
): FetchResponse {
  const { body } = options;
  return {
    method: "GET",
    url: new URL("http://fake.invalid/"),
    status,
    statusText: "",
    headers: new Headers(options.headers),
    body: body === undefined ? null : body instanceof ReadableStream ? body : stream(bytes(body)),
  };
}

/** A request for `url`, as the layers take it. */
export function request(
  method: string,
  url: string,
  options: { headers?: HeadersInit; body?: string; signal?: AbortSignal } = {},
): FetchRequest {
  return {
    method,
    url: new URL(url),
    headers: new Headers(options.headers),
    body: options.body === undefined ? undefined : bytes(options.body),
    signal: options.signal,
  };
}

/** The bytes of `text`, or `text` itself when it is bytes. */
export function bytes(text: string | Uint8Array): Uint8Array<ArrayBuffer> {
  return typeof text === "string" ? new TextEncoder().encode(text) : new Uint8Array(text);
}

/** A stream of `chunks`, in order, each pulled on demand; then `end`: the end, or an error. */
export function stream(
  ...parts: (Uint8Array | Error)[]
): ReadableStream<Uint8Array> {
  let index = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const part = parts[index++];
      if (part === undefined) controller.close();
      else if (part instanceof Error) controller.error(part);
      else controller.enqueue(part);
    },
  }, { highWaterMark: 0 });
}

/** A stream that never yields anything. */
export function silentStream(): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) }, {
    highWaterMark: 0,
  });
}

/** The text of a whole stream. */
export async function text(body: ReadableStream<Uint8Array> | null): Promise<string> {
  return body === null ? "" : await new Response(body).text();
}

/** Runs the clock's timers, one at a time as they come, until `work` settles. */
export async function untilSettled<T>(clock: FakeClock, work: Promise<T>): Promise<T> {
  let settled = false;
  work.then(() => settled = true, () => settled = true);
  while (true) {
    await settle(() => settled || clock.pending.length > 0);
    if (settled) return await work;
    await clock.runNext();
  }
}
