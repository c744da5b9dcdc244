/**
 * The one interface every place that stores images implements: a registry
 * repository, or an OCI image layout directory. `push`, `pull`, `copy` and
 * `sync` are written once against it.
 *
 * @module
 */
import type { Descriptor } from "./types.ts";

/**
 * A place where images live.
 *
 * @example
 * ```ts
 * import type { Target } from "./target.ts";
 * async function digestOf(target: Target, tag: string) {
 *   return (await target.resolve(tag)).digest;
 * }
 * ```
 */
export interface Target {
  /** A short, printable name: `registry/repo` or `oci:PATH`. */
  readonly name: string;
  /** Resolves a tag or digest to the manifest's descriptor; a `HEAD` where possible. */
  resolve(reference: string): Promise<Descriptor>;
  /** The manifest's bytes, verified against `descriptor.digest`. */
  fetchManifest(descriptor: Descriptor): Promise<Uint8Array>;
  /** A blob's bytes; the stream errors if they do not match the descriptor. */
  fetchBlob(descriptor: Descriptor): Promise<ReadableStream<Uint8Array>>;
  /** Whether the blob is already stored. */
  hasBlob(descriptor: Descriptor): Promise<boolean>;
  /**
   * Stores a blob, unless the target has it already: then the body is cancelled unread and the
   * answer is false. The bytes are verified before they become visible.
   */
  pushBlob(descriptor: Descriptor, body: ReadableStream<Uint8Array>): Promise<boolean>;
  /** Stores a manifest under its digest and each of `tags`. */
  pushManifest(descriptor: Descriptor, bytes: Uint8Array, tags: string[]): Promise<void>;
  /** Lists the tags. */
  tags(): AsyncIterable<string>;
}
