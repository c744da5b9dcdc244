/**
 * The checks of a layer file before it becomes part of an image: it decompresses, its `diffId`
 * is the digest of its tar, and no entry would leave the image's root when extracted.
 *
 * The checks judge bytes that have the blob's digest, never another version of the file: one
 * pass over the file ({@linkcode describeLayerFile}) hashes it for the digest and checks the
 * same bytes, and the target verifies what it is sent against that digest.
 *
 * @example
 * ```ts
 * import { checkLayerBytes } from "./check.ts";
 * const file = await Deno.open("./deps.tar.gz");
 * const { diffId, compression } = await checkLayerBytes("./deps.tar.gz", file.readable);
 * console.log(diffId, compression);
 * ```
 * @module
 */
import { type Compression, layerMediaType } from "../compress/mod.ts";
import { decompressStream, detectCompression } from "../compress/decompress.ts";
import { type Digest, hashing, Sha256 } from "../digest/mod.ts";
import { UnsafeContentError, UsageError } from "../errors/mod.ts";
import { receivedError, type SentError } from "../errors/sent.ts";
import { openFileAt } from "../fs/read.ts";
import type { PreparedLayer } from "../image/blob.ts";
import { NotTarError, readTar, type TarReadEntry } from "../tar/reader.ts";

/** What the checks of a layer file found. */
export interface LayerVerdict {
  /** The digest of the uncompressed tar. */
  diffId: Digest;
  /** The compression, from the first bytes. */
  compression: Compression;
}

/**
 * Checks the bytes of a layer file: decompresses them for the `diffId`, and checks every entry
 * (see {@linkcode checkLayerEntry}). `bytes` is read to its end, so that the `diffId` and any
 * hash or verification on the way cover the whole file; it is cancelled when refused.
 *
 * @throws {UsageError} for bytes that are no layer archive (empty, or no tar inside).
 * @throws {UnsafeContentError} for an entry outside the image's root, or corrupt compression.
 * @example
 * ```ts
 * import { checkLayerBytes } from "./check.ts";
 * const file = await Deno.open("./deps.tar.gz");
 * console.log((await checkLayerBytes("./deps.tar.gz", file.readable)).diffId);
 * ```
 */
export async function checkLayerBytes(
  path: string,
  bytes: ReadableStream<Uint8Array>,
): Promise<LayerVerdict> {
  const tar = new Sha256();
  let head: Uint8Array | undefined;
  // Read through a reader of our own, which can cancel the stream while it is being read.
  const reader = bytes.getReader();
  try {
    const headed = (async function* () {
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        head ??= next.value.byteLength > 0 ? next.value.slice(0, 4) : undefined;
        yield next.value;
      }
    })();
    const uncompressed = hashing(decompressStream(headed), tar);
    const symlinks = new Set<string>();
    for await (const entry of readTar(uncompressed)) checkLayerEntry(path, entry, symlinks);
    // Drain what follows the end-of-archive blocks, so the digests cover the whole file.
    for await (const _ of uncompressed) { /* padding */ }
    if (head === undefined) throw notLayerArchive(path, "it is empty");
    return { diffId: tar.digest(), compression: detectCompression(head) };
  } catch (error) {
    // A stream read to its end is closed; a refused one is released here.
    await reader.cancel(error).catch(() => {});
    if (error instanceof NotTarError) {
      throw notLayerArchive(path, head === undefined ? "it is empty" : error.reason);
    }
    throw error;
  }
}

/**
 * Reads a layer file once: hashes it for its descriptor, and checks it for its `diffId` (see
 * {@linkcode checkLayerBytes}), so that the verdict is on the very bytes that have the digest.
 *
 * @throws as {@linkcode checkLayerBytes} throws.
 * @example
 * ```ts
 * import { describeLayerFile } from "./check.ts";
 * const layer = await describeLayerFile("./deps.tar.gz");
 * console.log(layer.descriptor.digest, layer.diffId);
 * ```
 */
export async function describeLayerFile(path: string): Promise<PreparedLayer> {
  const blob = new Sha256();
  const bytes = ReadableStream.from(hashing(await openFileAt(path, 0), blob));
  const { diffId, compression } = await checkLayerBytes(path, bytes);
  const descriptor = {
    mediaType: layerMediaType(compression),
    digest: blob.digest(),
    size: blob.size,
  };
  return { path, descriptor, diffId };
}

/**
 * {@linkcode describeLayerFile} on a worker thread, off the thread that uploads the file: the
 * hashing, decompression and checks of a large layer then take another core. Its errors are
 * thrown here as the class they were (`../errors/sent.ts`).
 *
 * @example
 * ```ts
 * import { describeLayerFileOnWorker } from "./check.ts";
 * const layer = await describeLayerFileOnWorker("./deps.tar.gz");
 * console.log(layer.descriptor.digest, layer.diffId);
 * ```
 */
export function describeLayerFileOnWorker(path: string): Promise<PreparedLayer> {
  const worker = new Worker(new URL("./describe_worker.ts", import.meta.url), { type: "module" });
  const { promise, resolve, reject } = Promise.withResolvers<PreparedLayer>();
  worker.onmessage = ({ data }: MessageEvent<DescribeAnswer>) => {
    if ("error" in data) reject(receivedError(data.error));
    else resolve(data.layer);
  };
  worker.onerror = (event) => {
    event.preventDefault();
    reject(new Error(`the worker that checks ${path} failed: ${event.message}`));
  };
  worker.postMessage({ path } satisfies DescribeRequest);
  return promise.finally(() => worker.terminate());
}

/** What `./describe_worker.ts` is asked. */
export interface DescribeRequest {
  /** The layer file. */
  path: string;
}

/** What `./describe_worker.ts` answers. */
export type DescribeAnswer = { layer: PreparedLayer } | { error: SentError };

/**
 * A SOURCE that is a file, but no layer archive. A usage error, not unsafe content: the bytes
 * are harmless, the command line asked for the wrong thing, and `--files` pushes such files.
 *
 * @example
 * ```ts
 * import { notLayerArchive } from "./check.ts";
 * throw notLayerArchive("./notes.txt", "it is empty");
 * ```
 */
export function notLayerArchive(path: string, why: string): UsageError {
  return new UsageError(
    `${path} is not a layer archive (a tar, .tar.gz or .tar.zst file): ${why}`,
    {
      hint: "a layer of an image is a folder or a layer archive; to push files as they are, " +
        "push them as an artifact's files",
      option: "files",
    },
  );
}

/**
 * Refuses an entry of a layer file that would leave the image's root when extracted: a `..` or
 * absolute name, a hard link to one, or a path through a symlink that an earlier entry of the
 * same layer made. Where such a write lands depends on the extractor (bsdtar refuses it, GNU tar
 * follows the link), and no tool that records a file system writes one. `symlinks` collects the
 * layer's symlinks, entry after entry.
 */
function checkLayerEntry(file: string, entry: TarReadEntry, symlinks: Set<string>): void {
  const refuse = (why: string) =>
    new UnsafeContentError(`${file}: entry "${entry.name}" ${why}`, {
      hint: "rebuild the layer from a folder, or push the folder itself",
    });
  const parts = (name: string, why: string) => {
    if (name.startsWith("/") || name.split("/").includes("..")) throw refuse(why);
    return name.split("/").filter((part) => part !== "" && part !== ".");
  };
  const own = parts(entry.name, "leaves the image's root");
  const paths = entry.type === "hardlink"
    ? [own, parts(entry.linkName, `links to "${entry.linkName}", outside the image's root`)]
    : [own];
  for (const path of paths) {
    for (let depth = 1; depth < path.length; depth++) {
      const through = path.slice(0, depth).join("/");
      if (symlinks.has(through)) throw refuse(`goes through the symlink "${through}"`);
    }
  }
  if (entry.type === "symlink") symlinks.add(own.join("/"));
  else symlinks.delete(own.join("/"));
}
