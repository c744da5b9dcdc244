/**
 * Deterministic zstd through `node:zlib`, at a fixed level, fed fixed-size
 * blocks so the output does not depend on how the input arrived. The stream
 * runs on a worker thread, so compression overlaps with the reading and
 * hashing on the main thread; one stream, so the output is one frame.
 *
 * @example
 * ```ts
 * import { zstdStream } from "./zstd.ts";
 * const frame = await Array.fromAsync(zstdStream([new TextEncoder().encode("hi")]));
 * ```
 * @module
 */
import zlib from "node:zlib";
import { fixedBlocks } from "./blocks.ts";

/** The zstd level ocisync uses; part of the byte-for-byte output contract. */
export const ZSTD_LEVEL = 3;
const BLOCK_SIZE = 1024 * 1024;
/** Blocks handed to the worker and not yet taken: bounds memory. */
const IN_FLIGHT = 4;

/** The compressor's parameters: level 3 and a frame checksum. */
export function zstdParameters(): Record<number, number> {
  return {
    [zlib.constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL,
    [zlib.constants.ZSTD_c_checksumFlag]: 1,
  };
}

/** What the zstd worker sends back. */
export type ZstdMessage =
  | { type: "data"; chunk: Uint8Array<ArrayBuffer> }
  | { type: "taken"; block: Uint8Array<ArrayBuffer> }
  | { type: "end" }
  | { type: "error"; message: string };

/** Compresses a byte stream to one zstd frame, on a worker thread. */
export async function* zstdStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const worker = new Worker(new URL("./zstd_worker.ts", import.meta.url), { type: "module" });
  const messages: ZstdMessage[] = [];
  let wake: (() => void) | undefined;
  worker.onmessage = (event: MessageEvent<ZstdMessage>) => {
    messages.push(event.data);
    wake?.();
  };
  worker.onerror = (event) => {
    event.preventDefault();
    messages.push({ type: "error", message: event.message });
    wake?.();
  };
  const next = async (): Promise<ZstdMessage> => {
    while (messages.length === 0) await new Promise<void>((resolve) => wake = resolve);
    return messages.shift()!;
  };
  // Blocks come back once the compressor has taken them, and are filled again.
  const spare: Uint8Array<ArrayBuffer>[] = [];
  let inFlight = 0;
  /** Handles one message; yields nothing itself, but collects output chunks. */
  const handle = (message: ZstdMessage, output: Uint8Array[]): boolean => {
    if (message.type === "error") throw new Error(`zstd: ${message.message}`);
    if (message.type === "data") output.push(message.chunk);
    if (message.type === "taken") {
      spare.push(new Uint8Array(message.block.buffer));
      inFlight--;
    }
    return message.type === "end";
  };
  try {
    const allocate = () => spare.pop() ?? new Uint8Array(BLOCK_SIZE);
    for await (const block of fixedBlocks(source, BLOCK_SIZE, allocate)) {
      worker.postMessage({ block }, [block.buffer]);
      inFlight++;
      const output: Uint8Array[] = [];
      while (inFlight >= IN_FLIGHT || messages.length) handle(await next(), output);
      yield* output;
    }
    worker.postMessage({});
    for (let ended = false; !ended;) {
      const output: Uint8Array[] = [];
      ended = handle(await next(), output);
      yield* output;
    }
  } finally {
    worker.terminate();
  }
}
