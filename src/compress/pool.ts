/**
 * Block compression on all cores: each block of the input is compressed on its own, by a pool of
 * workers, and the outputs come back in the input's order. gzip and zstd both use it; each
 * brings its own worker script (`deflate_worker.ts`, `zstd_worker.ts`).
 *
 * @example
 * ```ts
 * import { compressBlocks } from "./pool.ts";
 * const requests = [{ block: new TextEncoder().encode("hi") }];
 * const outputs = compressBlocks(requests, {
 *   script: new URL("./zstd_worker.ts", import.meta.url),
 *   concurrency: 2,
 *   inline: async ({ block }) => block.slice(), // what a worker would do, on this thread
 * });
 * for await (const output of outputs) console.log(output.length);
 * ```
 * @module
 */

/** The default number of compression threads: the number of cores, at most 8. */
export function defaultConcurrency(): number {
  return Math.max(1, Math.min(navigator.hardwareConcurrency ?? 1, 8));
}

/** Options of the block compressors (gzip, zstd). */
export interface CompressionOptions {
  /** Threads that compress at once. Default: the number of cores, at most 8. */
  concurrency?: number;
  /**
   * Set when the consumer is done with each chunk once it asks for the next
   * (it copies or writes it, and keeps no reference): each compressed block's
   * memory is then freed at once, instead of when the garbage collector gets to
   * it. A chunk read after that is empty.
   */
  releaseChunks?: boolean;
}

/** A block to compress, with what the worker needs besides. The block is handed to the worker. */
export interface BlockRequest {
  /** The uncompressed block. */
  block: Uint8Array<ArrayBuffer>;
}

/** A worker's answer: the compressed bytes, and the input block handed back for reuse. */
export interface BlockResult {
  /** The compressed block. */
  output: Uint8Array<ArrayBuffer>;
  /** The request's block, back from the worker. */
  block: Uint8Array<ArrayBuffer>;
}

/** Options of {@linkcode compressBlocks}. */
export interface CompressBlocksOptions<Request extends BlockRequest> {
  /**
   * The worker: it answers each message `{ id, ...request }` with `{ id, output, block }`,
   * transferring both buffers.
   */
  script: URL;
  /** Threads that compress at once. One keeps everything on this thread. */
  concurrency: number;
  /**
   * Whether this thread is one of them: then `concurrency - 1` workers start, and this thread
   * compresses a block itself whenever each of them has two, where it would otherwise wait. For a
   * compressor much slower than reading its input (deflate, about 30 ms a MiB): a worker's start
   * costs a core about 90 ms, and the thread had little else to do. Left unset for a fast one
   * (zstd), whose workers keep up with this thread's reading: compressing here would slow the
   * reading, which everything then waits on (measured: the large tree with zstd, 2.9 s against
   * 2.5 s).
   */
  sharesThisThread?: boolean;
  /** Compresses one block on this thread, as the worker would. */
  inline: (request: Request) => Promise<Uint8Array<ArrayBuffer>>;
  /** Takes each block back once it is compressed, to be filled again. */
  recycle?: (block: Uint8Array<ArrayBuffer>) => void;
  /** Frees each output once the consumer asks for the next ({@linkcode CompressionOptions.releaseChunks}). */
  releaseOutputs?: boolean;
}

/**
 * Compresses each request's block and yields the outputs in the order of the requests. The
 * workers start once a second request exists, so an input of one block pays for no thread, and
 * the first block waits for the second: it goes to the workers too, rather than being compressed
 * here while they are not yet started. At most two blocks a worker are out (sent and not yet
 * taken back), one more while the oldest is awaited, and one more again when this thread shares
 * the work ({@linkcode CompressBlocksOptions.sharesThisThread}), which bounds memory; a worker
 * that has compressed its blocks gets more at once, before its answers are taken.
 */
export async function* compressBlocks<Request extends BlockRequest>(
  requests: AsyncIterable<Request> | Iterable<Request>,
  options: CompressBlocksOptions<Request>,
): AsyncGenerator<Uint8Array<ArrayBuffer>> {
  const { concurrency, recycle } = options;
  const shared = options.sharesThisThread === true;
  const workers = shared ? concurrency - 1 : concurrency > 1 ? concurrency : 0;
  const maxPending = 2 * workers + (shared ? 1 : 0);
  let pool: BlockPool | undefined;
  const pending: Promise<Uint8Array<ArrayBuffer>>[] = [];
  // The outputs are this function's own buffers, so it may free them once taken.
  const taken = function* (output: Uint8Array<ArrayBuffer>) {
    yield output;
    if (options.releaseOutputs) output.buffer.transfer(0);
  };
  const submit = async function* (request: Request) {
    if (pool && (!shared || pool.backlog < 2 * workers)) {
      const output = pool.compress(request).then(({ output, block }) => {
        recycle?.(block);
        return output;
      });
      // Handled as it is made, and awaited in turn below: a worker's error rejects every block
      // out at once, while this thread may be reading its source, compressing, or waiting on
      // its consumer; one rejected with nobody handling it yet would end the process.
      output.catch(() => {});
      pending.push(output);
    } else {
      const output = await options.inline(request);
      recycle?.(request.block);
      pending.push(Promise.resolve(output));
    }
    while (pending.length > maxPending || (pending.length > 0 && !pool)) {
      yield* taken(await pending.shift()!);
    }
  };
  try {
    let first: Request | undefined;
    let seen = 0;
    for await (const request of requests) {
      if (seen++ === 0) {
        first = request;
        continue;
      }
      if (workers > 0) pool ??= new BlockPool(options.script, workers);
      if (first) yield* submit(first);
      first = undefined;
      yield* submit(request);
    }
    if (first) yield* submit(first);
    while (pending.length > 0) yield* taken(await pending.shift()!);
  } finally {
    pool?.close();
  }
}

/**
 * A fixed set of workers that compress blocks, answering in any order. Each worker counts the
 * blocks it has compressed in memory shared with this thread ({@linkcode serveBlocks}).
 */
class BlockPool {
  #workers: Worker[] = [];
  #next = 0;
  #id = 0;
  #waiting = new Map<number, { resolve(v: BlockResult): void; reject(e: unknown): void }>();
  #compressed = new Int32Array(new SharedArrayBuffer(4));

  constructor(script: URL, size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(script, { type: "module" });
      worker.postMessage({ compressed: this.#compressed });
      worker.onmessage = (event: MessageEvent<BlockResult & { id: number }>) => {
        this.#waiting.get(event.data.id)?.resolve(event.data);
        this.#waiting.delete(event.data.id);
      };
      worker.onerror = (event) => {
        event.preventDefault();
        for (const { reject } of this.#waiting.values()) reject(new Error(event.message));
        this.#waiting.clear();
      };
      this.#workers.push(worker);
    }
  }

  /**
   * The blocks sent to the workers and not yet compressed. Read from the workers' count, not
   * from their answers: those wait until this thread turns to its messages, and a thread that
   * deflates a block itself, or packs, turns to them late; counted by answers, the workers
   * looked busy when they were idle, and got too few blocks (the large tree's pack: the one
   * worker idle a quarter of the time).
   */
  get backlog(): number {
    return this.#id - Atomics.load(this.#compressed, 0);
  }

  /** Compresses a block on the next worker; the block comes back with the output. */
  compress(request: BlockRequest): Promise<BlockResult> {
    const id = this.#id++;
    const worker = this.#workers[this.#next++ % this.#workers.length];
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      worker.postMessage({ id, ...request }, [request.block.buffer]);
    });
  }

  close(): void {
    for (const worker of this.#workers) worker.terminate();
  }
}

/** The first message a worker of a {@linkcode BlockPool} gets: where it counts its blocks. */
interface PoolStart {
  compressed: Int32Array<SharedArrayBuffer>;
}

/**
 * Serves a {@linkcode BlockPool} in a worker: compresses each block it is sent with `compress`,
 * counts it as compressed, and answers with the output and the block, both transferred.
 *
 * @example
 * ```ts ignore
 * // deflate_worker.ts
 * import { serveBlocks } from "./pool.ts";
 * import { deflateBlock } from "./deflate.ts";
 * serveBlocks(self, deflateBlock);
 * ```
 */
export function serveBlocks<Request extends BlockRequest>(
  scope: {
    onmessage: ((event: MessageEvent) => void) | null;
    postMessage(message: unknown, transfer: Transferable[]): void;
  },
  compress: (request: Request) => Promise<Uint8Array<ArrayBuffer>>,
): void {
  let compressed: Int32Array<SharedArrayBuffer> | undefined;
  scope.onmessage = async (event: MessageEvent<PoolStart | Request & { id: number }>) => {
    if ("compressed" in event.data) {
      compressed = event.data.compressed;
      return;
    }
    const { id, ...request } = event.data;
    const output = await compress(request as unknown as Request);
    Atomics.add(compressed!, 0, 1);
    const result: BlockResult = { output, block: request.block };
    scope.postMessage({ id, ...result }, [output.buffer, request.block.buffer]);
  };
}
