/**
 * What {@linkcode ThreadedUnpacker} and its worker say to each other: the
 * entries in batches, one way, and how each layer ended, the other; errors
 * cross as plain data (`../errors/sent.ts`) and are thrown again as the class they were.
 *
 * @module
 */
import type { SentError } from "../errors/sent.ts";
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
