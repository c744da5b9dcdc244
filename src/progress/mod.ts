/**
 * Progress events of blob transfers, for a display to draw. The library
 * emits them; only the CLI draws them.
 *
 * @example
 * ```ts
 * import { reportingStream } from "./mod.ts";
 * const descriptor = { mediaType: "x", digest: `sha256:${"0".repeat(64)}` as const, size: 3 };
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

/**
 * Progress of a step that is not a blob transfer, such as packing a folder or installing
 * dependencies: `bytes` so far, of `size` when it is known beforehand.
 */
export interface StepEvent {
  /** Tells steps apart within one command. */
  id: string;
  /** What is shown, e.g. `packing ./flows`. */
  label: string;
  /** Where the step is. */
  state: "started" | "progress" | "done";
  /** The bytes processed so far. */
  bytes?: number;
  /** The bytes the step will process, when known. */
  size?: number;
}

/** Receives {@linkcode StepEvent}s. */
export type StepListener = (event: StepEvent) => void;

/**
 * Reports one step to a {@linkcode StepListener}: its start, its bytes, its end.
 *
 * @example
 * ```ts
 * import { StepReporter } from "./mod.ts";
 * const step = new StepReporter((e) => console.log(e.state, e.bytes), "pack", "packing ./flows");
 * step.progress(512); // logs "progress 512"
 * step.done(); // logs "done 512"
 * ```
 */
export class StepReporter {
  #bytes?: number;

  /** A step `id`, shown as `label`; without a listener, it reports nothing. */
  constructor(
    readonly listener: StepListener | undefined,
    readonly id: string,
    readonly label: string,
  ) {}

  /** The step began; it has no byte count (yet). */
  started(): void {
    this.listener?.({ id: this.id, label: this.label, state: "started" });
  }

  /** The bytes processed so far. An arrow function, to be passed as a callback. */
  readonly progress = (bytes: number): void => {
    this.#bytes = bytes;
    this.listener?.({ id: this.id, label: this.label, state: "progress", bytes });
  };

  /** The step ended, shown as `label` when given (e.g. `… (cached)`). */
  done(label: string = this.label): void {
    this.listener?.({ id: this.id, label, state: "done", bytes: this.#bytes });
  }
}

/**
 * Passes a blob's bytes through, reporting how many have gone by. `descriptor` may be a function
 * that gives it once it is known (a blob sent while its digest is computed): nothing is reported
 * before.
 */
export function reportingStream(
  stream: ReadableStream<Uint8Array>,
  descriptor: Descriptor | (() => Descriptor | undefined),
  listener: BlobListener | undefined,
): ReadableStream<Uint8Array> {
  if (!listener) return stream;
  const known = typeof descriptor === "function" ? descriptor : () => descriptor;
  let bytes = 0;
  return stream.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        bytes += chunk.byteLength;
        const blob = known();
        if (blob) listener({ descriptor: blob, state: "progress", bytes });
        controller.enqueue(chunk);
      },
    }),
  );
}
