/**
 * Progress events of blob transfers, for a display to draw. The library
 * emits them; only the CLI draws them.
 *
 * @example
 * ```ts
 * import { reportingStream } from "./mod.ts";
 * const descriptor = { mediaType: "x", digest: "sha256:" + "0".repeat(64) as const, size: 3 };
 * const stream = reportingStream(ReadableStream.from([new Uint8Array(3)]), descriptor, (e) =>
 *   console.log(e.state, e.bytes)
 * );
 * await Array.fromAsync(stream); // logs "progress 3"
 * ```
 * @module
 */
import type { Descriptor } from "../oci/types.ts";

/** What happened to one blob. `progress` carries the bytes moved so far. */
export interface BlobEvent {
  /** The blob. */
  descriptor: Descriptor;
  /** `skipped`: the target had it; `mounted`: linked within a registry; the rest: a transfer. */
  state: "skipped" | "mounted" | "started" | "progress" | "done";
  /** With `progress`: the bytes moved so far. */
  bytes?: number;
}

/** Receives {@linkcode BlobEvent}s. */
export type BlobListener = (event: BlobEvent) => void;

/** Passes a blob's bytes through, reporting how many have gone by. */
export function reportingStream(
  stream: ReadableStream<Uint8Array>,
  descriptor: Descriptor,
  listener: BlobListener | undefined,
): ReadableStream<Uint8Array> {
  if (!listener) return stream;
  let bytes = 0;
  return stream.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        bytes += chunk.byteLength;
        listener({ descriptor, state: "progress", bytes });
        controller.enqueue(chunk);
      },
    }),
  );
}
