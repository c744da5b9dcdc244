/**
 * Pushes images and artifacts to any {@linkcode Target}.
 *
 * Layers are built (or read) to files first, so that each digest is known
 * before anything is sent: a blob the target already has is never uploaded
 * again. Blobs go up several at a time; the manifest goes last, so a
 * reader never sees a manifest whose blobs are missing.
 *
 * @example
 * ```ts
 * import { prepareLayer, pushImage } from "./mod.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const work = await Deno.makeTempDir();
 * const layer = await prepareLayer({ kind: "folder", path: "./flows", prefix: "opt/flows" }, work, 0);
 * const target = await LayoutTarget.open("./bundle", { create: true });
 * const pushed = await pushImage(target, ["v1"], [layer], {
 *   platform: { os: "linux", architecture: "amd64" }, created: "1970-01-01T00:00:00Z",
 * });
 * console.log(pushed.digest);
 * ```
 * @module
 */
import { type Compression, layerMediaType } from "../compress/mod.ts";
import { decompressStream, detectCompression } from "../compress/decompress.ts";
import { hashing, Sha256 } from "../digest/mod.ts";
import { UnsafeContentError, UsageError } from "../errors/mod.ts";
import {
  artifactManifest,
  EMPTY_CONFIG,
  imageConfig,
  type ImageLayer,
  imageManifest,
  jsonBlob,
} from "../image/build.ts";
import { writeLayerFile } from "../layer/mod.ts";
import { MediaType } from "../oci/mediatypes.ts";
import type { Target } from "../oci/target.ts";
import type { Descriptor, Platform } from "../oci/types.ts";
import { ORAS_DIGEST_ANNOTATION, ORAS_UNPACK_ANNOTATION, TITLE_ANNOTATION } from "../pull/mod.ts";
import { type BlobListener, reportingStream } from "../progress/mod.ts";
import { NotTarError, readTar, type TarReadEntry } from "../tar/reader.ts";

/** Where a layer comes from: a folder to pack, or a layer file already built. */
export type LayerSource =
  | { kind: "folder"; path: string; prefix: string }
  | { kind: "file"; path: string };

/** A layer ready to push: its blob is the file at `path`. */
export interface PreparedLayer extends ImageLayer {
  /** The layer blob on disk. */
  path: string;
}

/** Options for building layers. */
export interface PrepareOptions {
  /** The compression of packed folders. Default gzip. */
  compression?: Compression;
  /** gitignore-style patterns to leave out of packed folders. */
  exclude?: string[];
  /** Told the uncompressed bytes packed so far, for a progress display. */
  onProgress?: (bytes: number) => void;
}

/**
 * Builds a folder into a layer file in `workDir`, or describes a layer file
 * by reading it once: its digest, its compression and its `diffId`. A layer
 * file whose entries would leave the image's root is refused.
 */
export async function prepareLayer(
  source: LayerSource,
  workDir: string,
  mtime: number,
  options: PrepareOptions = {},
): Promise<PreparedLayer> {
  if (source.kind === "folder") {
    const path = `${workDir}/${crypto.randomUUID()}.layer`;
    const layer = await writeLayerFile(source.path, path, {
      prefix: source.prefix,
      mtime,
      compression: options.compression,
      exclude: options.exclude,
      onProgress: options.onProgress,
    });
    return {
      path,
      descriptor: { mediaType: layer.mediaType, digest: layer.digest, size: layer.size },
      diffId: layer.diffId,
    };
  }
  return await describeLayerFile(source.path);
}

async function describeLayerFile(path: string): Promise<PreparedLayer> {
  const blob = new Sha256();
  const tar = new Sha256();
  const file = await Deno.open(path);
  try {
    const head = new Uint8Array(4);
    await file.read(head);
    await file.seek(0, Deno.SeekMode.Start);
    const compression = detectCompression(head);
    const uncompressed = hashing(decompressStream(hashing(file.readable, blob)), tar);
    const symlinks = new Set<string>();
    for await (const entry of readTar(uncompressed)) checkLayerEntry(path, entry, symlinks);
    // Drain what follows the end-of-archive blocks, so the digests cover the whole file.
    for await (const _ of uncompressed) { /* padding */ }
    if (blob.size === 0) throw notLayerArchive(path, "it is empty");
    return {
      path,
      descriptor: {
        mediaType: layerMediaType(compression),
        digest: blob.digest(),
        size: blob.size,
      },
      diffId: tar.digest(),
    };
  } catch (error) {
    // The readable closes the file once read to its end; a refused file is closed here.
    try {
      file.close();
    } catch { /* already closed */ }
    if (error instanceof NotTarError) throw notLayerArchive(path, error.reason);
    throw error;
  }
}

/**
 * A SOURCE that is a file, but no layer archive. A usage error, not unsafe content: the bytes
 * are harmless, the command line asked for the wrong thing, and `--files` pushes such files.
 */
function notLayerArchive(path: string, why: string): UsageError {
  return new UsageError(
    `${path} is not a layer archive (a tar, .tar.gz or .tar.zst file): ${why}`,
    {
      hint: "a SOURCE of an image is a folder (DIR[:DEST]) or a layer archive; to push files " +
        "as they are, push an artifact: ocisync push REF --files FILE... --artifact-type TYPE",
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

/** A blob to push and how to read it. */
export interface BlobSource {
  /** What the blob is. */
  descriptor: Descriptor;
  /** Opens the bytes; called only when the target lacks the blob. */
  open(): Promise<ReadableStream<Uint8Array>>;
  /** Tries to link the blob from elsewhere on the target (a registry mount); true if it did. */
  mount?(): Promise<boolean>;
}

/** What a transfer did. */
export interface TransferStats {
  /** Blobs sent. */
  pushed: number;
  /** Blobs the target already had. */
  skipped: number;
  /** Blobs linked from another repository of the same registry, without sending them. */
  mounted: number;
  /** Bytes sent. */
  bytes: number;
}

/**
 * Pushes blobs, `concurrency` at a time, skipping those the target has. When one fails, no
 * other starts, and the error is thrown once those under way have ended.
 *
 * @example
 * ```ts
 * import { pushBlobs } from "./mod.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const target = await LayoutTarget.open("./bundle", { create: true });
 * await pushBlobs(target, [], 4);
 * ```
 */
export async function pushBlobs(
  target: Target,
  blobs: BlobSource[],
  concurrency: number,
  onBlob?: BlobListener,
): Promise<TransferStats> {
  const stats: TransferStats = { pushed: 0, skipped: 0, mounted: 0, bytes: 0 };
  const queue = [...new Map(blobs.map((b) => [b.descriptor.digest, b])).values()];
  const worker = async () => {
    for (let blob = queue.shift(); blob; blob = queue.shift()) {
      // A mount answers in one request whether or not the target has the blob.
      if (await blob.mount?.()) {
        stats.mounted++;
        onBlob?.({ descriptor: blob.descriptor, state: "mounted" });
        continue;
      }
      // The target asks itself whether it has the blob; the source is opened only if not.
      const body = reportingStream(lazyStream(blob.open), blob.descriptor, onBlob);
      if (!(await target.pushBlob(blob.descriptor, body))) {
        stats.skipped++;
        onBlob?.({ descriptor: blob.descriptor, state: "skipped" });
        continue;
      }
      stats.pushed++;
      stats.bytes += blob.descriptor.size;
      onBlob?.({ descriptor: blob.descriptor, state: "done" });
    }
  };
  // After a failure no blob starts, and the error waits for those under way: the process may
  // exit right after it, and their temporary files must be gone by then.
  const results = await Promise.allSettled(
    Array.from({ length: Math.max(1, concurrency) }, () =>
      worker().catch((error) => {
        queue.length = 0;
        throw error;
      })),
  );
  const failure = results.find((result) => result.status === "rejected");
  if (failure) throw failure.reason;
  return stats;
}

/**
 * A stream that opens its source on its first read, so that a blob the target turns out to
 * have is never fetched or read.
 */
function lazyStream(open: () => Promise<ReadableStream<Uint8Array>>): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      reader ??= (await open()).getReader();
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel(reason) {
      await reader?.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** Options of {@linkcode pushImage}. */
export interface PushImageOptions {
  /** The platform written into the config. */
  platform: Platform;
  /** The config's `created` time, RFC 3339. */
  created: string;
  /** Config labels. */
  labels?: Record<string, string>;
  /** Manifest annotations. */
  annotations?: Record<string, string>;
  /** Blobs pushed at once. Default 4. */
  concurrency?: number;
  /** Progress events. */
  onBlob?: BlobListener;
}

/** What a push made. */
export interface PushResult {
  /** The manifest's digest. */
  digest: Descriptor["digest"];
  /** The manifest's descriptor. */
  manifest: Descriptor;
  /** The config's descriptor. */
  config: Descriptor;
  /** The layers' descriptors, in order. */
  layers: Descriptor[];
  /** What was sent and what was skipped. */
  stats: TransferStats;
}

/** Pushes an image: the layers, a config for `platform`, and the manifest under `tags`. */
export async function pushImage(
  target: Target,
  tags: string[],
  layers: PreparedLayer[],
  options: PushImageOptions,
): Promise<PushResult> {
  const config = jsonBlob(
    imageConfig({
      platform: options.platform,
      created: options.created,
      layers,
      labels: options.labels,
    }),
    MediaType.OciConfig,
  );
  const manifest = imageManifest(
    config.descriptor,
    layers.map((l) => l.descriptor),
    options.annotations,
  );
  return await pushWithManifest(target, tags, layers, config, manifest, options);
}

/** Options of {@linkcode pushArtifact}. */
export interface PushArtifactOptions {
  /** The manifest's `artifactType`. */
  artifactType: string;
  /** Manifest annotations. */
  annotations?: Record<string, string>;
  /** Blobs pushed at once. Default 4. */
  concurrency?: number;
  /** Progress events. */
  onBlob?: BlobListener;
}

/** One file of an artifact: a file as is, or a folder packed the ORAS way. */
export interface ArtifactFile {
  /** The path on disk. */
  path: string;
  /** The title: the path the puller writes. */
  title: string;
  /** Overrides the layer's media type. */
  mediaType?: string;
}

/**
 * Pushes an ORAS-compatible artifact: one blob per file, titled with its
 * path, the empty config, and `artifactType`. A folder becomes a tar+gzip
 * blob marked for unpacking, as ORAS writes it.
 */
export async function pushArtifact(
  target: Target,
  tags: string[],
  files: ArtifactFile[],
  workDir: string,
  mtime: number,
  options: PushArtifactOptions,
): Promise<PushResult> {
  const layers: PreparedLayer[] = [];
  for (const file of files) {
    const info = await Deno.stat(file.path);
    if (info.isDirectory) {
      const layer = await prepareLayer(
        { kind: "folder", path: file.path, prefix: file.title },
        workDir,
        mtime,
      );
      layer.descriptor.annotations = {
        [TITLE_ANNOTATION]: file.title,
        [ORAS_DIGEST_ANNOTATION]: layer.diffId,
        [ORAS_UNPACK_ANNOTATION]: "true",
      };
      if (file.mediaType) layer.descriptor.mediaType = file.mediaType;
      layers.push(layer);
      continue;
    }
    const hash = new Sha256();
    for await (const chunk of (await Deno.open(file.path)).readable) hash.update(chunk);
    const digest = hash.digest();
    layers.push({
      path: file.path,
      descriptor: {
        mediaType: file.mediaType ?? MediaType.OciLayer,
        digest,
        size: hash.size,
        annotations: { [TITLE_ANNOTATION]: file.title },
      },
      diffId: digest,
    });
  }
  const manifest = artifactManifest(
    options.artifactType,
    layers.map((l) => l.descriptor),
    options.annotations,
  );
  return await pushWithManifest(target, tags, layers, EMPTY_CONFIG, manifest, options);
}

async function pushWithManifest(
  target: Target,
  tags: string[],
  layers: PreparedLayer[],
  config: { bytes: Uint8Array; descriptor: Descriptor },
  manifestDocument: unknown,
  options: { concurrency?: number; onBlob?: BlobListener },
): Promise<PushResult> {
  const blobs: BlobSource[] = [
    ...layers.map((layer) => ({
      descriptor: layer.descriptor,
      open: async () => (await Deno.open(layer.path)).readable,
    })),
    {
      descriptor: config.descriptor,
      open: () => Promise.resolve(ReadableStream.from([config.bytes])),
    },
  ];
  const stats = await pushBlobs(target, blobs, options.concurrency ?? 4, options.onBlob);
  const manifest = jsonBlob(manifestDocument, MediaType.OciManifest);
  await target.pushManifest(manifest.descriptor, manifest.bytes, tags);
  return {
    digest: manifest.descriptor.digest,
    manifest: manifest.descriptor,
    config: config.descriptor,
    layers: layers.map((l) => l.descriptor),
    stats,
  };
}
