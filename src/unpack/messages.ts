/**
 * What {@linkcode ThreadedUnpacker} and its worker say to each other: the
 * entries in batches, one way, and how each layer ended, the other; errors
 * cross as plain data and are thrown again as the class they were.
 *
 * @example
 * ```ts
 * import { receivedError, sendableError } from "./messages.ts";
 * import { UnsafeContentError } from "../errors/mod.ts";
 * const error = receivedError(sendableError(new UnsafeContentError("refused", { option: "maxEntries" })));
 * console.log(error instanceof UnsafeContentError); // true
 * ```
 * @module
 */
import { type OcisyncError, UnsafeContentError } from "../errors/mod.ts";
import type { TarReadEntry } from "../tar/reader.ts";
import type { UnpackOptions, UnpackStats } from "./mod.ts";

/** An entry without its body, as it crosses to the worker. */
export type EntryHeader = Omit<TarReadEntry, "body">;

/**
 * Pieces of the stream of entries: piece `i` is `data[offsets[i]..offsets[i + 1]]` of content,
 * and starts a new entry when `headers[i]` is set, else continues the entry before it.
 */
export interface Batch {
  /** The kind of message. */
  type: "batch";
  /** Each piece's entry, or null for a piece that continues the body before it. */
  headers: (EntryHeader | null)[];
  /** Where each piece's content starts in `data`, and, last, where the content ends. */
  offsets: number[];
  /** The content of every piece, handed over (transferred), not copied. */
  data: ArrayBuffer;
}

/** What the reading thread tells the worker, in order. */
export type ToWorker =
  /** The folder and limits: the worker's `Unpacker` is made from them. */
  | { type: "start"; root: string; options: UnpackOptions }
  /** A layer begins: the batches until `end` are its entries. */
  | { type: "layer" }
  | Batch
  /** The layer ends; with `abort`, because the reading thread failed, and the worker stops there. */
  | { type: "end"; abort: boolean }
  /** Set the pending modes (`Unpacker.finish`). */
  | { type: "finish" };

/** What the worker answers. */
export type FromWorker =
  /** The worker took every piece of one batch: there is room for another, in its buffer. */
  | { type: "taken"; data: ArrayBuffer }
  /** A layer, or `finish`, is done; the stats so far. */
  | { type: "done"; stats: UnpackStats }
  /** A layer, or `finish`, failed; `aborted` when only because the reading thread said to stop. */
  | { type: "failed"; error: SentError; aborted: boolean; stats: UnpackStats };

/** An error as it crosses threads: enough to throw one of the same class again. */
export interface SentError {
  /** `UnsafeContentError`, `NotFound`, `PermissionDenied`… */
  name: string;
  /** The message, unchanged. */
  message: string;
  /** An ocisync error's kind. */
  kind?: string;
  /** An ocisync error's hint. */
  hint?: string;
  /** An ocisync error's option. */
  option?: string;
  /** An OS error's code, e.g. `ENAMETOOLONG`. */
  code?: string;
}

/** An error, as data that crosses threads. */
export function sendableError(error: unknown): SentError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error) };
  const { hint, option, kind } = error as Partial<OcisyncError>;
  const code = (error as { code?: unknown }).code;
  return {
    name: error.name,
    message: error.message,
    ...(kind === undefined ? {} : { kind }),
    ...(hint === undefined ? {} : { hint }),
    ...(option === undefined ? {} : { option }),
    ...(typeof code === "string" ? { code } : {}),
  };
}

/**
 * The error that was sent, as the class it was thrown as: an {@linkcode UnsafeContentError} (the
 * only ocisync error an `Unpacker` throws), or one of `Deno.errors` with its `code`, which the
 * CLI reads to explain OS errors.
 */
export function receivedError(sent: SentError): Error {
  if (sent.kind === "unsafe-content") {
    return new UnsafeContentError(sent.message, { hint: sent.hint, option: sent.option });
  }
  const errors = Deno.errors as Record<string, (new (message: string) => Error) | undefined>;
  const DenoError = errors[sent.name];
  const error = DenoError ? new DenoError(sent.message) : new Error(sent.message);
  if (!DenoError) error.name = sent.name;
  if (sent.code !== undefined) Object.assign(error, { code: sent.code });
  return error;
}
