/**
 * A folder becomes a layer in one pass: walk, tar, hash (`diffId`), compress,
 * hash (`digest`), write. Each byte is read once and nothing is held whole in
 * memory.
 *
 * @example
 * ```ts
 * import { writeLayerFile } from "./mod.ts";
 * const layer = await writeLayerFile("./flows", "flows.tar.gz", { prefix: "opt/flows" });
 * console.log(layer.digest, layer.diffId, layer.size);
 * ```
 * @module
 */
import {
  checkCompression,
  type Compression,
  compressStream,
  layerMediaType,
} from "../compress/mod.ts";
import { type Digest, hashing, Sha256 } from "../digest/mod.ts";
import { tarStream } from "../tar/writer.ts";
import { walkFolder, type WalkOptions } from "./walk.ts";
import { destinationOf, parentOf, writeFileAtomic } from "../fs/atomic.ts";
import { UsageError } from "../errors/mod.ts";
import { fixedBlocks } from "../compress/blocks.ts";
import { checkedMtime } from "./limits.ts";

export { IGNORE_FILE, normalizePrefix, walkFolder } from "./walk.ts";
export type { WalkOptions } from "./walk.ts";

/** Options of {@linkcode layerFromFolder}. */
export interface LayerOptions extends WalkOptions {
  /** Default `gzip`. */
  compression?: Compression;
  /** The mtime of every entry, in seconds since the epoch. Default 0. */
  mtime?: number;
  /** Compression threads. Default: the number of cores, at most 8. */
  concurrency?: number;
  /** Told the uncompressed bytes packed so far, for a progress display. */
  onProgress?: (bytes: number) => void;
  /**
   * Set when the reader of `bytes` is done with each chunk once it asks for the
   * next: gzip then frees each chunk at once, and an uncompressed layer reuses
   * one buffer, which keeps peak memory down. A chunk kept past that reads as
   * empty, or as later bytes.
   */
  releaseChunks?: boolean;
  /**
   * Stops the packing: the walk between entries, the tar and its compression between pieces of
   * 1 MiB; the stream then throws the signal's reason.
   */
  signal?: AbortSignal;
}

/** What a built layer is: the fields of its descriptor and its `diffId`. */
export interface Layer {
  /** The OCI layer media type for the compression. */
  mediaType: string;
  /** The sha256 of the blob as stored (compressed). */
  digest: Digest;
  /** The sha256 of the uncompressed tar. */
  diffId: Digest;
  /** The size of the blob as stored. */
  size: number;
  /** The number of tar entries. */
  entries: number;
}

/**
 * A layer as a stream of blob bytes, with its description once the stream has
 * been read to the end.
 */
export interface LayerStream {
  /** The compressed bytes. Read it once. */
  bytes: AsyncIterable<Uint8Array>;
  /** Settles after `bytes` is exhausted. */
  layer: Promise<Layer>;
}

export { checkedMtime, MAX_MTIME } from "./limits.ts";

/**
 * Builds a layer from a folder as a stream, hashing as it goes.
 *
 * @example
 * ```ts
 * import { layerFromFolder } from "./mod.ts";
 * const { bytes, layer } = layerFromFolder("./flows");
 * for await (const chunk of bytes) console.log(chunk.length); // upload or write instead
 * console.log((await layer).digest);
 * ```
 */
export function layerFromFolder(root: string, options: LayerOptions = {}): LayerStream {
  const compression = checkCompression(options.compression ?? "gzip");
  const mtime = checkedMtime(options.mtime ?? 0);
  let entries = 0;
  const counted = (async function* () {
    // The pieces below copy each chunk before they ask for the next: one read buffer serves.
    for await (const entry of walkFolder(root, options, true)) {
      options.signal?.throwIfAborted();
      entries++;
      yield entry;
    }
  })();
  // Without compression, the blob is the tar: one hash serves as digest and diffId.
  const tar = new Sha256();
  const blob = compression === "none" ? tar : new Sha256();
  let settle!: { resolve(layer: Layer): void; reject(error: unknown): void };
  const layer = new Promise<Layer>((resolve, reject) => settle = { resolve, reject });
  // Nobody awaits `layer` when `bytes` fails first; the stream reports the error.
  layer.catch(() => {});
  const bytes = (async function* () {
    try {
      const uncompressed = counting(
        hashing(
          tarPieces(tarStream(counted, { mtime }), compression, options),
          tar,
        ),
        options.onProgress,
        options.signal,
      );
      yield* compression === "none"
        ? uncompressed
        : hashing(compressStream(uncompressed, compression, options), blob);
      const diffId = tar.digest();
      settle.resolve({
        mediaType: layerMediaType(compression),
        digest: blob === tar ? diffId : blob.digest(),
        diffId,
        size: blob.size,
        entries,
      });
    } catch (error) {
      settle.reject(error);
      throw error;
    }
  })();
  return { bytes, layer };
}

/** The size of the pieces the tar is cut into before it is hashed and compressed. */
const TAR_PIECE_SIZE = 1024 * 1024;

/**
 * The tar in pieces of {@linkcode TAR_PIECE_SIZE}, not in its headers, paddings and file reads:
 * a tree of small files gives three chunks a file, and each stage after this one (hashes,
 * compression, the writer) pays per chunk. One buffer serves every piece when the reader is done
 * with each chunk once it asks for the next (the compressors copy it, or `releaseChunks`).
 */
function tarPieces(
  tar: AsyncIterable<Uint8Array>,
  compression: Compression,
  options: LayerOptions,
): AsyncIterable<Uint8Array> {
  if (compression === "none" && options.releaseChunks !== true) {
    return fixedBlocks(tar, TAR_PIECE_SIZE);
  }
  const piece = new Uint8Array(TAR_PIECE_SIZE);
  return fixedBlocks(tar, TAR_PIECE_SIZE, () => piece);
}

/**
 * Passes chunks through, telling `onBytes` the running total, and throwing the reason of
 * `signal` once it aborts, before the next chunk goes on to be compressed.
 */
async function* counting(
  chunks: AsyncIterable<Uint8Array>,
  onBytes: ((bytes: number) => void) | undefined,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  if (!onBytes && !signal) return yield* chunks;
  let bytes = 0;
  onBytes?.(0);
  for await (const chunk of chunks) {
    signal?.throwIfAborted();
    bytes += chunk.length;
    onBytes?.(bytes);
    yield chunk;
  }
}

/**
 * Builds a layer from a folder into a file. The file appears only when the
 * whole layer was written: a failure leaves no file behind.
 *
 * @throws {UsageError} when the file would be written inside the folder (see
 * {@linkcode refuseOutputInside}).
 *
 * @example
 * ```ts
 * import { writeLayerFile } from "./mod.ts";
 * const { digest } = await writeLayerFile("./flows", "out.tar.zst", { compression: "zstd" });
 * ```
 */
export async function writeLayerFile(
  root: string,
  output: string,
  options: LayerOptions = {},
): Promise<Layer> {
  await refuseOutputInside(root, output);
  // The writer copies or writes each chunk before it asks for the next.
  const { bytes, layer } = layerFromFolder(root, { ...options, releaseChunks: true });
  await writeFileAtomic(output, bytes);
  return await layer;
}

/**
 * Refuses a layer file written inside the folder it is packed from: the walk would pack the
 * unfinished file (its temporary name is random), and a run after it the finished one, so no
 * two runs would give the same layer. A stream, a fifo or a device is written through, and
 * leaves nothing to pack.
 */
async function refuseOutputInside(root: string, output: string): Promise<void> {
  const destination = await destinationOf(output);
  if (destination.mode !== "replace") return;
  const [folder, parent] = await Promise.all(
    [root, parentOf(destination.path) || "."].map((path) =>
      Deno.realPath(path).catch(() => undefined)
    ),
  );
  // A missing folder is for the walk or the write to name.
  if (folder === undefined || parent === undefined) return;
  if (parent === folder || parent.startsWith(folder === "/" ? "/" : `${folder}/`)) {
    throw new UsageError(
      `cannot write the layer to ${output}: it is inside ${root}, the folder being packed, ` +
        `which would then hold the layer's own file`,
      { hint: "write it outside the folder, e.g. -o ../layer.tar.gz" },
    );
  }
}
