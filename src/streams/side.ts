/**
 * A byte stream passed on unchanged, whose chunks are also read by a second reader, on the
 * side, as they pass: one read of the source serves both, and memory stays bounded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withSideReader } from "./side.ts";
 * const source = ReadableStream.from([new Uint8Array([1, 2]), new Uint8Array([3])]);
 * const { stream, side } = withSideReader(source, 1024);
 * const [sent, seen] = await Promise.all([
 *   new Response(stream).bytes(),
 *   new Response(side).bytes(),
 * ]);
 * assert.deepEqual(seen, sent);
 * ```
 * @module
 */

/**
 * The side of a stream ended before its source did: the stream was cancelled, or its source
 * failed. The side has seen only part of the bytes.
 */
export class IncompleteSideError extends Error {
  /** `cause`: why the stream ended. */
  constructor(cause: unknown) {
    super("the stream ended before its source did", { cause });
    this.name = "IncompleteSideError";
  }
}

/** A stream and the reader of its chunks on the side; see {@linkcode withSideReader}. */
export interface SideReader {
  /** `source`'s chunks, unchanged. Reading it reads `source`. */
  stream: ReadableStream<Uint8Array>;
  /**
   * The same chunks (the same arrays, not copies), as `stream` reads them. It closes when
   * `stream` reaches the end of its source, and errors with {@linkcode IncompleteSideError}
   * when `stream` is cancelled or fails before that. Cancelling it lets `stream` go on alone.
   */
  side: ReadableStream<Uint8Array>;
  /**
   * Whether `stream` ended before its source did, so that the side saw part of the bytes; a
   * reader of the side may wrap the {@linkcode IncompleteSideError} in an error of its own.
   */
  readonly incomplete: boolean;
}

/**
 * Splits `source` into a stream and a side reader of the same chunks. Unlike
 * `ReadableStream.tee`, the slower of the two sets the pace: `stream` reads on only while the
 * side holds fewer than `limit` bytes it has not read yet, so nothing piles up in memory. The
 * side therefore must be read (or cancelled) for `stream` to get far.
 *
 * @example
 * ```ts
 * import { withSideReader } from "./side.ts";
 * const file = await Deno.open("./layer.tar.gz");
 * const { stream, side } = withSideReader(file.readable, 4 * 1024 * 1024);
 * ```
 */
export function withSideReader(source: ReadableStream<Uint8Array>, limit: number): SideReader {
  const reader = source.getReader();
  const waiting: Uint8Array[] = [];
  let waitingBytes = 0;
  /** `true` at the source's end, else why the stream ended early. */
  let ended: true | IncompleteSideError | undefined;
  /** The side was cancelled: chunks are no longer kept for it. */
  let gone = false;
  let wakeSide: (() => void) | undefined;
  let wakeStream: (() => void) | undefined;
  const end = (how: true | IncompleteSideError) => {
    ended ??= how;
    wakeSide?.();
  };

  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (error) {
        end(new IncompleteSideError(error));
        throw error;
      }
      if (next.done) {
        end(true);
        controller.close();
        return;
      }
      if (!gone) {
        waiting.push(next.value);
        waitingBytes += next.value.byteLength;
        wakeSide?.();
        while (waitingBytes >= limit && !gone) {
          await new Promise<void>((resolve) => wakeStream = resolve);
        }
      }
      controller.enqueue(next.value);
    },
    async cancel(reason) {
      end(new IncompleteSideError(reason));
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });

  const side = new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (waiting.length === 0 && ended === undefined) {
        await new Promise<void>((resolve) => wakeSide = resolve);
      }
      const chunk = waiting.shift();
      if (chunk !== undefined) {
        waitingBytes -= chunk.byteLength;
        wakeStream?.();
        controller.enqueue(chunk);
      } else if (ended === true) controller.close();
      else controller.error(ended);
    },
    cancel() {
      gone = true;
      waiting.length = 0;
      waitingBytes = 0;
      wakeStream?.();
    },
  }, { highWaterMark: 0 });
  return {
    stream,
    side,
    get incomplete() {
      return ended instanceof IncompleteSideError;
    },
  };
}
