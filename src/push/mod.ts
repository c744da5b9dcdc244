/**
 * Pushes images and artifacts to any {@linkcode Target}.
 *
 * Layers are built (or read) to files first, so that each digest is known
 * before anything is sent: a blob the target already has is never uploaded
 * again. The plan of the image (`../image/plan.ts`) is then written by the
 * one writer, {@linkcode writePlan} of `./write.ts`: blobs several at a
 * time, the manifest last, so a reader never sees a manifest whose blobs are
 * missing.
 *
 * @example
 * ```ts
 * import { prepareLayer } from "./mod.ts";
 * import { writePlan } from "./write.ts";
 * import { imagePlan } from "../image/plan.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const work = await Deno.makeTempDir();
 * const layer = await prepareLayer({ kind: "folder", path: "./flows", prefix: "opt/flows" }, work, 0);
 * const target = await LayoutTarget.open("./bundle", { create: true });
 * const plan = imagePlan([layer], {
 *   platform: { os: "linux", architecture: "amd64" }, created: "1970-01-01T00:00:00Z",
 * });
 * const pushed = await writePlan(target, plan, ["v1"]);
 * console.log(pushed.digest);
 * ```
 * @module
 */
import { type Compression, layerMediaType } from "../compress/mod.ts";
import { detectCompression } from "../compress/decompress.ts";
import { hashing, Sha256 } from "../digest/mod.ts";
import { openFileAt, openLookedAt, readEachPiece } from "../fs/read.ts";
import type { PreparedLayer } from "../image/blob.ts";
import { type ArtifactBlob, artifactPlan, type ImagePlan } from "../image/plan.ts";
import { writeLayerFile } from "../layer/mod.ts";
import { MediaType } from "../oci/mediatypes.ts";
import type { Descriptor } from "../oci/types.ts";
import type { CallOptions, Target } from "../oci/target.ts";
import { UsageError } from "../errors/mod.ts";
import { artifactFilePath } from "../pull/titles.ts";
import { checkLayerBytes, LayerFileChecks, notLayerArchive } from "./check.ts";
import { boundOf, DEFAULT_MAX_EXTRACT_BYTES } from "../unpack/limits.ts";
import {
  fileSource,
  type PushResult,
  type StartedLayer,
  type WriteOptions,
  writePlan,
} from "./write.ts";

/** Where a layer comes from: a folder to pack, or a layer file already built. */
export type LayerSource =
  | { kind: "folder"; path: string; prefix: string }
  | { kind: "file"; path: string };

/**
 * Layer files from this size up are sent while their entries are checked (see
 * {@linkcode startLayer}); smaller ones are checked first, which takes milliseconds, so that a
 * refused one sends nothing at all.
 */
export const OVERLAPPED_LAYER_MIN = 16 * 1024 * 1024;

/** Options for building layers. */
export interface PrepareOptions {
  /** The compression of packed folders. Default gzip. */
  compression?: Compression;
  /** gitignore-style patterns to leave out of packed folders. */
  exclude?: string[];
  /** Told the uncompressed bytes packed so far, for a progress display. */
  onProgress?: (bytes: number) => void;
  /**
   * Paths left out of packed folders: what the command writes (see `writtenPaths` of
   * `../ref/mod.ts`), which a folder could otherwise hold and pack into itself.
   */
  skip?: readonly string[];
  /** Stops the packing of a folder between its entries and pieces. */
  signal?: AbortSignal;
  /**
   * The most bytes a layer file may decompress to, for its checks (`diffId`, entries): a
   * decompression bomb stops there. Default 32 GiB (`DEFAULT_MAX_EXTRACT_BYTES` of
   * `../unpack/limits.ts`), as a pull's.
   */
  maxExtractSize?: number;
}

/**
 * Builds a folder into a layer file in `workDir`, or describes a layer file
 * by reading it once: its digest, its compression and its `diffId`. A layer
 * file whose entries would leave the image's root is refused.
 *
 * @throws {UsageError} for a file that is no layer archive.
 * @throws {UnsafeContentError} for a layer file with an entry outside the image's root.
 * @example
 * ```ts
 * import { prepareLayer } from "./mod.ts";
 * const work = await Deno.makeTempDir();
 * const packed = await prepareLayer({ kind: "folder", path: "./flows", prefix: "opt/flows" }, work, 0);
 * const read = await prepareLayer({ kind: "file", path: "./deps.tar.gz" }, work, 0);
 * console.log(packed.descriptor.digest, read.diffId);
 * ```
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
      skip: options.skip,
      signal: options.signal,
    });
    return {
      path,
      descriptor: { mediaType: layer.mediaType, digest: layer.digest, size: layer.size },
      diffId: layer.diffId,
    };
  }
  return await describeLayerFile(source.path, extractBound(options));
}

/**
 * Starts a layer: a folder is built into a layer file in `workDir`, as {@linkcode prepareLayer}
 * builds it; a layer file starts a pass for its digest only (about the speed of the disk), and
 * can be read for its upload at once, before that pass ends (`early`), so that a target that
 * takes blobs before their digest (a registry) receives it meanwhile. The checks (`diffId`,
 * entries) run on the very bytes that the upload reads, as it reads them, when the upload
 * begins before `checked` is awaited; otherwise on a read of their own, which verifies the bytes
 * against the digest (see {@linkcode LayerFileChecks}). Either way they judge the bytes that have
 * the blob's digest. `checked` rejects as {@linkcode prepareLayer} throws for the same file.
 *
 * @throws {UsageError} for an empty file.
 * @example
 * ```ts
 * import { startLayer } from "./mod.ts";
 * const work = await Deno.makeTempDir();
 * const layer = await startLayer({ kind: "file", path: "./deps.tar.gz" }, work, 0);
 * console.log((await layer.blob).descriptor.digest, (await layer.checked).diffId);
 * ```
 */
export async function startLayer(
  source: LayerSource,
  workDir: string,
  mtime: number,
  options: PrepareOptions = {},
): Promise<StartedLayer> {
  if (source.kind === "folder") {
    const layer = await prepareLayer(source, workDir, mtime, options);
    return {
      size: layer.descriptor.size,
      blob: Promise.resolve(fileSource(layer.descriptor, layer.path)),
      checked: Promise.resolve(layer),
    };
  }
  const { path } = source;
  const { size } = await Deno.stat(path);
  if (size === 0) throw notLayerArchive(path, "it is empty");
  const descriptor = digestLayerFile(path);
  const checks = new LayerFileChecks(path, descriptor, extractBound(options));
  // Started when first awaited: an upload that begins before that feeds the checks.
  const checked: PromiseLike<PreparedLayer> = {
    then(fulfilled, rejected) {
      return checks.verdict().then(async ({ diffId }) => ({
        path,
        descriptor: await descriptor,
        diffId,
      })).then(fulfilled, rejected);
    },
  };
  const openAt = (offset: number) => checks.openAt(offset);
  const blob = descriptor.then((known) => ({
    descriptor: known,
    path,
    open: () => openAt(0),
    openAt,
  }));
  // Awaited by the push and the checks, or by no one when the push fails first: a failed digest
  // pass is then no unhandled rejection.
  blob.catch(() => {});
  return { size, blob, early: checks, checked };
}

/** The size of the pieces the digest pass reads: large, for few calls and hashing steps. */
const DIGEST_READ_SIZE = 1024 * 1024;

/**
 * A layer file's descriptor: its digest and size, read in large pieces, and its media type from
 * its first bytes. The reads are asynchronous, so that an upload of the same file goes on
 * meanwhile.
 */
async function digestLayerFile(path: string): Promise<Descriptor> {
  const blob = new Sha256();
  // One buffer for all reads: the hash takes each piece before the next read.
  const buffer = new Uint8Array(DIGEST_READ_SIZE);
  let head: Uint8Array | undefined;
  using file = await Deno.open(path);
  for (let read = await file.read(buffer); read !== null; read = await file.read(buffer)) {
    head ??= buffer.slice(0, Math.min(read, 4));
    blob.update(buffer.subarray(0, read));
  }
  if (blob.size === 0 || head === undefined) throw notLayerArchive(path, "it is empty");
  return {
    mediaType: layerMediaType(detectCompression(head)),
    digest: blob.digest(),
    size: blob.size,
  };
}

/** `options.maxExtractSize`, checked, or the default. */
function extractBound(options: PrepareOptions): number {
  return boundOf(options.maxExtractSize, DEFAULT_MAX_EXTRACT_BYTES, "maxExtractSize");
}

/** Reads a layer file once: hashes it for its descriptor, and checks it for its `diffId`. */
async function describeLayerFile(path: string, maxExtractSize: number): Promise<PreparedLayer> {
  const blob = new Sha256();
  const hashed = ReadableStream.from(hashing(await openFileAt(path, 0), blob));
  const { diffId, compression } = await checkLayerBytes(path, hashed, maxExtractSize);
  const descriptor = {
    mediaType: layerMediaType(compression),
    digest: blob.digest(),
    size: blob.size,
  };
  return { path, descriptor, diffId };
}

/** Options of {@linkcode pushArtifact}. */
export interface PushArtifactOptions extends WriteOptions, ArtifactPlanOptions {}

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
 * Describes one file of an artifact: a regular file as it is, hashed once, or a folder packed
 * into a tar+gzip layer under its title, as ORAS packs one.
 *
 * @throws {UsageError} for anything else (a fifo, whose open would wait for a writer, a device).
 *
 * @example
 * ```ts
 * import { prepareArtifactFile } from "./mod.ts";
 * const work = await Deno.makeTempDir();
 * const blob = await prepareArtifactFile({ path: "./app.yaml", title: "app.yaml" }, work, 0);
 * console.log(blob.descriptor.digest);
 * ```
 */
export async function prepareArtifactFile(
  file: ArtifactFile,
  workDir: string,
  mtime: number,
  options: CallOptions = {},
): Promise<ArtifactBlob> {
  const { signal } = options;
  const info = await Deno.stat(file.path);
  if (info.isDirectory) {
    const layer = await prepareLayer(
      { kind: "folder", path: file.path, prefix: file.title },
      workDir,
      mtime,
      { signal },
    );
    return {
      title: file.title,
      path: layer.path,
      descriptor: { ...layer.descriptor, mediaType: file.mediaType ?? layer.descriptor.mediaType },
      tarDigest: layer.diffId,
    };
  }
  using opened = (await openLookedAt(file.path, (found) => {
    if (!found.isFile && !found.isDirectory) {
      throw new UsageError(
        `${file.path} is neither a regular file nor a folder: it cannot be pushed`,
      );
    }
  })).file;
  const hash = new Sha256();
  await readEachPiece(opened, (piece) => {
    signal?.throwIfAborted();
    hash.update(piece);
  });
  return {
    title: file.title,
    path: file.path,
    descriptor: {
      mediaType: file.mediaType ?? MediaType.OciLayer,
      digest: hash.digest(),
      size: hash.size,
    },
  };
}

/** Options of {@linkcode planArtifact}. */
export interface ArtifactPlanOptions extends CallOptions {
  /** The manifest's `artifactType`. */
  artifactType: string;
  /** Manifest annotations. */
  annotations?: Record<string, string>;
}

/**
 * The plan of an ORAS-compatible artifact (`artifactPlan` of `../image/plan.ts`): one blob per
 * file, titled with its path, the empty config, and `artifactType`. The titles are checked first,
 * with the rules a pull applies ({@linkcode artifactFilePath}), and no two may name one path;
 * then every file is prepared ({@linkcode prepareArtifactFile}). Nothing is written to a target,
 * so that a file refused leaves no destination behind.
 *
 * @throws {UsageError} for a title a pull would refuse, two files of one title, or a file that
 * is neither a regular file nor a folder.
 * @example
 * ```ts
 * import { planArtifact } from "./mod.ts";
 * const work = await Deno.makeTempDir();
 * const plan = await planArtifact([{ path: "./app.yaml", title: "app.yaml" }], work, 0, {
 *   artifactType: "application/vnd.acme.config",
 * });
 * console.log(plan.manifest.descriptor.digest);
 * ```
 */
export async function planArtifact(
  files: ArtifactFile[],
  workDir: string,
  mtime: number,
  options: ArtifactPlanOptions,
): Promise<ImagePlan> {
  checkArtifactTitles(files);
  const blobs: ArtifactBlob[] = [];
  for (const file of files) {
    blobs.push(await prepareArtifactFile(file, workDir, mtime, { signal: options.signal }));
  }
  return artifactPlan(options.artifactType, blobs, options.annotations);
}

/**
 * Checks that each file's title is one a pull writes, and that no two files would be written
 * to one path (the later over the earlier).
 */
function checkArtifactTitles(files: ArtifactFile[]): void {
  const paths = new Map<string, string>();
  for (const file of files) {
    let path: string;
    try {
      path = artifactFilePath(file.title);
    } catch (error) {
      throw new UsageError(`cannot push ${file.path}: ${(error as Error).message}`, {
        hint: "title it with a relative path inside the artifact",
        cause: error,
      });
    }
    const other = paths.get(path);
    if (other !== undefined) {
      throw new UsageError(
        `${other} and ${file.path} are both titled "${path}": a pull would write one over the ` +
          "other",
        { hint: "give one of them another title" },
      );
    }
    paths.set(path, file.path);
  }
}

/**
 * Pushes an ORAS-compatible artifact, planned by {@linkcode planArtifact} and written by
 * {@linkcode writePlan}. A folder becomes a tar+gzip blob marked for unpacking, as ORAS writes
 * it.
 *
 * @example
 * ```ts
 * import { pushArtifact } from "./mod.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const target = await LayoutTarget.open("./bundle", { create: true });
 * const work = await Deno.makeTempDir();
 * const pushed = await pushArtifact(target, ["config"], [{ path: "./app.yaml", title: "app.yaml" }],
 *   work, 0, { artifactType: "application/vnd.acme.config" });
 * console.log(pushed.digest);
 * ```
 */
export async function pushArtifact(
  target: Target,
  tags: string[],
  files: ArtifactFile[],
  workDir: string,
  mtime: number,
  options: PushArtifactOptions,
): Promise<PushResult> {
  const plan = await planArtifact(files, workDir, mtime, options);
  return await writePlan(target, plan, tags, options);
}
