/**
 * An {@linkcode Unpacker} on a worker thread, so that a pull's file system
 * calls (thousands of creates, writes and `chmod`s on a tree of small files)
 * run while this thread downloads, decompresses, hashes and parses the next
 * entries.
 *
 * Nothing about the rules changes: the worker runs the same `Unpacker`, on
 * the entries in their order, one at a time; only the tar parsing happens
 * here, ahead of it by a bounded amount (a few batches of
 * {@linkcode BATCH_BYTES}). An error keeps its place in the stream: when the
 * worker refuses an entry, that error is thrown even if this thread meanwhile
 * failed on a later byte, as an `Unpacker` in this thread would have stopped
 * at that entry first. {@linkcode ThreadedUnpacker.apply} and
 * {@linkcode ThreadedUnpacker.finish} return only when the worker is idle, so
 * that nothing writes into the target after they settle.
 *
 * @example
 * ```ts
 * import { ThreadedUnpacker } from "./threaded.ts";
 * import { readTar } from "../tar/reader.ts";
 * import { tarStream } from "../tar/writer.ts";
 * const root = await Deno.makeTempDir();
 * const unpacker = new ThreadedUnpacker(root, { maxSize: 1024 ** 2 });
 * try {
 *   await unpacker.apply(readTar(tarStream([{ name: "d/", type: "directory", mode: 0o755 }], { mtime: 0 })));
 *   await unpacker.finish();
 *   console.log(unpacker.stats.directories); // 1
 * } finally {
 *   unpacker.close();
 * }
 * ```
 * @module
 */
import type { TarReadEntry } from "../tar/reader.ts";
import type { Batch, EntryHeader, FromWorker, ToWorker } from "./messages.ts";
import { receivedError } from "../errors/sent.ts";
import {
  meteredLayer,
  noneApplied,
  Unpacker,
  type UnpackOptions,
  type UnpackStats,
} from "./mod.ts";
import { boundOf, DEFAULT_MAX_EXTRACT_BYTES } from "./limits.ts";

/**
 * Layers smaller than this, compressed and all together, are unpacked in the caller's thread:
 * a worker costs about 100 ms to start (a new isolate, and Node's layer in it for `node:fs`),
 * more than overlapping the file system calls saves on a small tree. At 460 KB (2,500 source
 * files) the two took the same time.
 */
export const THREAD_MIN_BYTES = 256 * 1024;

/** An {@linkcode Unpacker} or a {@linkcode ThreadedUnpacker}: call `close` when done. */
export interface LayerUnpacker {
  /** The folder the layers are applied to. */
  readonly root: string;
  /** What has been applied so far. */
  readonly stats: UnpackStats;
  /** Counts a decompressed layer's bytes against `maxSize` as they pass. */
  meter(tar: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array>;
  /** Applies one layer's entries. */
  apply(entries: AsyncIterable<TarReadEntry>): Promise<void>;
  /** Sets the read-only directories' modes. Call once, after the last layer. */
  finish(): void | Promise<void>;
  /** Stops what runs for the unpacker, once `apply` and `finish` have settled. */
  close(): void;
}

/**
 * An unpacker for layers of `layerBytes` (their compressed sizes added up): on a thread of its
 * own from {@linkcode THREAD_MIN_BYTES} on, in this thread below that. Both apply the same rules.
 *
 * @example
 * ```ts
 * import { openUnpacker } from "./threaded.ts";
 * const unpacker = openUnpacker(await Deno.makeTempDir(), {}, 4096);
 * unpacker.close();
 * ```
 */
export function openUnpacker(
  root: string,
  options: UnpackOptions,
  layerBytes: number,
): LayerUnpacker {
  if (layerBytes >= THREAD_MIN_BYTES) return new ThreadedUnpacker(root, options);
  const unpacker = new Unpacker(root, options);
  return Object.assign(unpacker, { close() {} });
}

/** A batch is sent once it holds this many bytes of content… */
export const BATCH_BYTES = 1024 * 1024;
/** …or this many entries. */
const BATCH_ENTRIES = 512;
/**
 * Batches sent and not yet taken by the worker: this thread reads at most this far ahead. Each
 * batch costs a message both ways, so batches are few and large.
 */
const MAX_IN_FLIGHT = 3;

/** Applies layers in order to one root folder, on a worker thread. Call `close` when done. */
export class ThreadedUnpacker implements LayerUnpacker {
  /** The folder the layers are applied to. */
  readonly root: string;
  /** What has been applied so far, as of the last layer the worker finished. */
  readonly stats: UnpackStats = noneApplied();
  readonly #maxSize: number;
  readonly #decompressed = { bytes: 0 };
  readonly #worker: Worker;
  #inFlight = 0;
  /** Batch buffers the worker has given back. */
  readonly #free: ArrayBuffer[] = [];
  /** Wakes the sender waiting for room, or for the worker's answer. */
  #wake?: () => void;
  #answer?: Extract<FromWorker, { type: "done" | "failed" }>;
  /** The worker failed and waits for `end`: there is no point in sending more. */
  #failed = false;
  /** The worker itself broke (its module did not load, say). */
  #broken?: Error;

  /** Starts the worker. `root` must be an existing, empty folder. */
  constructor(root: string, options: UnpackOptions = {}) {
    this.root = root.replace(/\/+$/, "");
    this.#maxSize = boundOf(options.maxSize, DEFAULT_MAX_EXTRACT_BYTES, "maxSize");
    // Checked here too, so that a bad value fails before the worker starts.
    boundOf(options.maxEntries, 0, "maxEntries");
    boundOf(options.maxRetainedBytes, 0, "maxRetainedBytes");
    this.#worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
    this.#worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      if (message.type === "taken") {
        this.#inFlight--;
        this.#free.push(message.data);
      } else {
        this.#answer = message;
        if (message.type === "failed") this.#failed = true;
      }
      this.#wake?.();
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#broken = new Error(`the unpacking thread failed: ${event.message}`);
      this.#wake?.();
    };
    this.#post({ type: "start", root: this.root, options });
  }

  /**
   * Counts the bytes of a decompressed layer against `maxSize` as they pass, as
   * {@linkcode Unpacker.meter} does.
   */
  meter(tar: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    return meteredLayer(tar, this.#decompressed, this.#maxSize);
  }

  /**
   * Applies one layer's entries, reading ahead of the worker by a few batches at most. Returns,
   * or throws, once the worker has applied or refused them.
   */
  async apply(entries: AsyncIterable<TarReadEntry>): Promise<void> {
    this.#post({ type: "layer" });
    const batch = new BatchBuilder(this.#free);
    let failure: { error: unknown } | undefined;
    try {
      for await (const entry of entries) {
        const { body, ...header } = entry;
        batch.start(header);
        for await (const chunk of body) {
          for (let offset = 0; offset < chunk.length && !this.#failed;) {
            offset += batch.add(chunk.subarray(offset));
            if (batch.full) await this.#send(batch);
          }
          if (this.#failed) break;
        }
        if (this.#failed) break;
        if (batch.full) await this.#send(batch);
      }
      if (!this.#failed && !batch.empty) await this.#send(batch);
    } catch (error) {
      failure = { error };
      // What was read before the failure goes first: an entry in it may be refused, and that
      // refusal is what an unpacker in this thread would have thrown.
      if (!batch.empty) await this.#send(batch).catch(() => {});
    }
    this.#post({ type: "end", abort: failure !== undefined });
    const answer = await this.#answered();
    // The worker's refusal came first in the stream, whatever this thread met after it.
    if (answer.type === "failed" && !answer.aborted) throw receivedError(answer.error);
    if (failure) throw failure.error;
  }

  /**
   * Sets the read-only directories' modes, as {@linkcode Unpacker.finish} does. Call once,
   * after the last layer.
   */
  async finish(): Promise<void> {
    this.#post({ type: "finish" });
    const answer = await this.#answered();
    if (answer.type === "failed") throw receivedError(answer.error);
  }

  /** Stops the worker. Call it after `apply` or `finish` settled: the worker is idle then. */
  close(): void {
    this.#worker.terminate();
  }

  #post(message: ToWorker, transfer: Transferable[] = []): void {
    if (this.#broken) throw this.#broken;
    this.#worker.postMessage(message, transfer);
  }

  /** Sends the batch, once the worker has room for it. */
  async #send(builder: BatchBuilder): Promise<void> {
    while (this.#inFlight >= MAX_IN_FLIGHT && !this.#failed) await this.#event();
    if (this.#failed) return;
    const batch = builder.take();
    this.#inFlight++;
    this.#post(batch, [batch.data]);
  }

  /** The worker's answer to `end` or `finish`. */
  async #answered(): Promise<Extract<FromWorker, { type: "done" | "failed" }>> {
    while (!this.#answer) await this.#event();
    const answer = this.#answer;
    this.#answer = undefined;
    this.#failed = false;
    this.#inFlight = 0;
    Object.assign(this.stats, answer.stats);
    return answer;
  }

  /** Resolves at the worker's next message; throws when the worker broke. */
  #event(): Promise<void> {
    if (this.#broken) return Promise.reject(this.#broken);
    return new Promise((resolve) => {
      this.#wake = () => {
        this.#wake = undefined;
        resolve();
      };
    });
  }
}

/** Gathers headers and content into one buffer, which is then handed to the worker whole. */
class BatchBuilder {
  #headers: (EntryHeader | null)[] = [];
  #offsets = [0];
  #length = 0;
  /** Buffers the worker gave back, reused so that memory stays at a few batches. */
  readonly #free: ArrayBuffer[];
  #data: Uint8Array<ArrayBuffer>;

  constructor(free: ArrayBuffer[]) {
    this.#free = free;
    this.#data = this.#buffer();
  }

  get empty(): boolean {
    return this.#headers.length === 0;
  }

  get full(): boolean {
    return this.#length === this.#data.length || this.#headers.length >= BATCH_ENTRIES;
  }

  /** Starts an entry. */
  start(header: EntryHeader): void {
    this.#headers.push(header);
    this.#offsets.push(this.#length);
  }

  /** Adds as much of `bytes` as fits; returns how much that was. */
  add(bytes: Uint8Array): number {
    const n = Math.min(bytes.length, this.#data.length - this.#length);
    if (this.empty) {
      this.#headers.push(null); // the entry of the batch before goes on
      this.#offsets.push(this.#length);
    }
    this.#data.set(bytes.subarray(0, n), this.#length);
    this.#length += n;
    this.#offsets[this.#offsets.length - 1] = this.#length;
    return n;
  }

  /** The batch so far; the builder starts over. */
  take(): Batch {
    const batch: Batch = {
      type: "batch",
      headers: this.#headers,
      offsets: this.#offsets,
      data: this.#data.buffer,
    };
    this.#data = this.#buffer();
    this.#headers = [];
    this.#offsets = [0];
    this.#length = 0;
    return batch;
  }

  #buffer(): Uint8Array<ArrayBuffer> {
    return new Uint8Array(this.#free.pop() ?? new ArrayBuffer(BATCH_BYTES));
  }
}
