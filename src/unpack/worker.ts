/**
 * The worker of `ThreadedUnpacker` (`./threaded.ts`): an {@linkcode Unpacker} fed with
 * the entries that the other thread parsed, in their order, one message at a
 * time.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import type { TarReadEntry } from "../tar/reader.ts";
import { Unpacker } from "./mod.ts";
import type { Batch, EntryHeader, FromWorker, ToWorker } from "./messages.ts";
import { sendableError } from "../errors/sent.ts";

const queue: ToWorker[] = [];
let wake: (() => void) | undefined;

self.onmessage = (event: MessageEvent<ToWorker>) => {
  queue.push(event.data);
  wake?.();
};

function reply(message: FromWorker, transfer: Transferable[] = []): void {
  self.postMessage(message, transfer);
}

async function next(): Promise<ToWorker> {
  while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
  wake = undefined;
  return queue.shift()!;
}

/** Thrown into the `Unpacker` when the other thread stops a layer because it failed. */
const ABORTED = new Error("the layer was stopped by the reading thread");

/** The pieces of one layer's batches, read in order. */
class Pieces {
  #batch?: Batch;
  #data = new Uint8Array(0);
  #index = 0;
  /** `end` has been read. */
  ended = false;

  /** The next piece, without taking it; undefined at the end of the layer. */
  async peek(): Promise<{ header: EntryHeader | null; bytes: Uint8Array } | undefined> {
    while (!this.ended && (!this.#batch || this.#index >= this.#batch.headers.length)) {
      // No piece of it is in use (the Unpacker writes each chunk before it asks for the next),
      // so its buffer goes back, to be filled again.
      if (this.#batch) reply({ type: "taken", data: this.#batch.data }, [this.#batch.data]);
      this.#batch = undefined;
      const message = await next();
      if (message.type === "end") {
        this.ended = true;
        if (message.abort) throw ABORTED;
      } else if (message.type === "batch") {
        this.#batch = message;
        this.#data = new Uint8Array(message.data);
        this.#index = 0;
      } else {
        throw new Error(`unexpected ${message.type} inside a layer`);
      }
    }
    if (!this.#batch || this.ended) return undefined;
    const { headers, offsets } = this.#batch;
    const i = this.#index;
    return { header: headers[i], bytes: this.#data.subarray(offsets[i], offsets[i + 1]) };
  }

  take(): void {
    this.#index++;
  }

  /** The entries, each with a body made of its first piece and the pieces that continue it. */
  async *entries(): AsyncGenerator<TarReadEntry> {
    for (let piece = await this.peek(); piece; piece = await this.peek()) {
      this.take();
      if (!piece.header) continue; // the rest of a body its entry did not read
      const first = piece.bytes;
      const body = async function* (pieces: Pieces): AsyncGenerator<Uint8Array> {
        if (first.length) yield first;
        for (let more = await pieces.peek(); more && !more.header; more = await pieces.peek()) {
          pieces.take();
          if (more.bytes.length) yield more.bytes;
        }
      };
      yield { ...piece.header, body: body(this) };
    }
  }
}

async function applyLayer(unpacker: Unpacker): Promise<void> {
  const pieces = new Pieces();
  try {
    await unpacker.apply(pieces.entries());
    reply({ type: "done", stats: unpacker.stats });
  } catch (error) {
    reply({
      type: "failed",
      error: sendableError(error),
      aborted: error === ABORTED,
      stats: unpacker.stats,
    });
    // The other thread stops sending once it reads that; what it sent before is dropped.
    while (!pieces.ended) pieces.ended = (await next()).type === "end";
  }
}

/** Answers the reading thread's messages until it terminates this one. */
async function serve(): Promise<never> {
  let unpacker: Unpacker | undefined;
  for (;;) {
    const message = await next();
    if (message.type === "start") unpacker = new Unpacker(message.root, message.options);
    else if (message.type === "layer") await applyLayer(unpacker!);
    else if (message.type === "finish") {
      try {
        unpacker!.finish();
        reply({ type: "done", stats: unpacker!.stats });
      } catch (error) {
        reply({
          type: "failed",
          error: sendableError(error),
          aborted: false,
          stats: unpacker!.stats,
        });
      }
    }
  }
}

// Not awaited: a worker whose module never finishes evaluating (a top-level `await` that never
// settles) keeps two file descriptors (an epoll and an eventfd) after `terminate()` in Deno
// 2.9, and a sync pulls with a new worker at every change: it ran out of descriptors.
serve();
