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
import { decompressStream, detectCompression } from "../compress/decompress.ts";
import { hashing, Sha256 } from "../digest/mod.ts";
import { UnsafeContentError, UsageError } from "../errors/mod.ts";
import { type ArtifactBlob, artifactPlan, type PreparedLayer } from "../image/plan.ts";
import { writeLayerFile } from "../layer/mod.ts";
import { MediaType } from "../oci/mediatypes.ts";
import type { Descriptor } from "../oci/types.ts";
import type { Target } from "../oci/target.ts";
import { NotTarError, readTar, type TarReadEntry } from "../tar/reader.ts";
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
    });
    return {
      path,
      descriptor: { mediaType: layer.mediaType, digest: layer.digest, size: layer.size },
      diffId: layer.diffId,
    };
  }
  return await describeLayerFile(source.path);
}

/**
 * Starts a layer: a folder is built into a layer file in `workDir`, as {@linkcode prepareLayer}
 * builds it; a layer file is read once for its digest only (about the speed of the disk), and
 * its `diffId` and entry checks go on in the background, so that its blob can be sent while they
 * run. `checked` rejects as {@linkcode prepareLayer} throws for the same file.
 *
 * @throws {UsageError} for an empty file.
 * @example
 * ```ts
 * import { startLayer } from "./mod.ts";
 * const work = await Deno.makeTempDir();
 * const layer = await startLayer({ kind: "file", path: "./deps.tar.gz" }, work, 0);
 * console.log(layer.blob.descriptor.digest, (await layer.checked).diffId);
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
    return { blob: fileSource(layer.descriptor, layer.path), checked: Promise.resolve(layer) };
  }
  const { path } = source;
  const descriptor = digestLayerFile(path);
  const blob = fileSource(descriptor, path);
  const checked = checkLayerFile(path, blob, false).then(({ diffId }) => ({
    path,
    descriptor,
    diffId,
  }));
  checked.catch(() => {}); // the caller awaits it, maybe after other work
  return { blob, checked };
}

/** The size of the pieces the digest pass reads: large, for few calls and hashing steps. */
const DIGEST_READ_SIZE = 1024 * 1024;

/**
 * A layer file's descriptor: its digest and size, read with synchronous calls in large pieces,
 * and its media type from its first bytes.
 */
function digestLayerFile(path: string): Descriptor {
  const blob = new Sha256();
  const buffer = new Uint8Array(DIGEST_READ_SIZE);
  let head: Uint8Array | undefined;
  using file = Deno.openSync(path);
  for (let read = file.readSync(buffer); read !== null; read = file.readSync(buffer)) {
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

async function describeLayerFile(path: string): Promise<PreparedLayer> {
  const { diffId, descriptor } = await checkLayerFile(path, fileSource(UNKNOWN, path), true);
  return { path, descriptor: descriptor!, diffId };
}

/** A placeholder descriptor for a file not described yet. */
const UNKNOWN: Descriptor = { mediaType: "", digest: "sha256:", size: 0 };

/**
 * Reads a layer file once: decompresses it for its `diffId`, and checks every entry; with
 * `describe`, hashes the file too, for its descriptor.
 */
async function checkLayerFile(
  path: string,
  source: { openAt(offset: number): Promise<ReadableStream<Uint8Array>> },
  describe: boolean,
): Promise<{ diffId: PreparedLayer["diffId"]; descriptor?: Descriptor }> {
  const blob = new Sha256();
  const tar = new Sha256();
  const file = await source.openAt(0);
  try {
    const reader = file.getReader();
    const first = await reader.read();
    reader.releaseLock();
    const head = first.value ?? new Uint8Array();
    if (head.byteLength === 0) throw notLayerArchive(path, "it is empty");
    const compression = detectCompression(head);
    const whole = prepend(head, file);
    const uncompressed = hashing(decompressStream(describe ? hashing(whole, blob) : whole), tar);
    const symlinks = new Set<string>();
    for await (const entry of readTar(uncompressed)) checkLayerEntry(path, entry, symlinks);
    // Drain what follows the end-of-archive blocks, so the digests cover the whole file.
    for await (const _ of uncompressed) { /* padding */ }
    return {
      diffId: tar.digest(),
      descriptor: describe
        ? { mediaType: layerMediaType(compression), digest: blob.digest(), size: blob.size }
        : undefined,
    };
  } catch (error) {
    // The stream closes the file once read to its end; a refused file is closed here.
    await file.cancel().catch(() => {});
    if (error instanceof NotTarError) throw notLayerArchive(path, error.reason);
    throw error;
  }
}

/** `first`, then the rest of `rest`. */
async function* prepend(
  first: Uint8Array,
  rest: ReadableStream<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  yield first;
  yield* rest;
}

/**
 * A SOURCE that is a file, but no layer archive. A usage error, not unsafe content: the bytes
 * are harmless, the command line asked for the wrong thing, and `--files` pushes such files.
 */
function notLayerArchive(path: string, why: string): UsageError {
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

/** Options of {@linkcode pushArtifact}. */
export interface PushArtifactOptions extends WriteOptions {
  /** The manifest's `artifactType`. */
  artifactType: string;
  /** Manifest annotations. */
  annotations?: Record<string, string>;
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
 * Describes one file of an artifact: a file as it is, hashed once, or a folder packed into a
 * tar+gzip layer under its title, as ORAS packs one.
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
): Promise<ArtifactBlob> {
  const info = await Deno.stat(file.path);
  if (info.isDirectory) {
    const layer = await prepareLayer(
      { kind: "folder", path: file.path, prefix: file.title },
      workDir,
      mtime,
    );
    return {
      title: file.title,
      path: layer.path,
      descriptor: { ...layer.descriptor, mediaType: file.mediaType ?? layer.descriptor.mediaType },
      tarDigest: layer.diffId,
    };
  }
  const hash = new Sha256();
  for await (const chunk of (await Deno.open(file.path)).readable) hash.update(chunk);
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

/**
 * Pushes an ORAS-compatible artifact: one blob per file, titled with its
 * path, the empty config, and `artifactType`. A folder becomes a tar+gzip
 * blob marked for unpacking, as ORAS writes it. The plan is `artifactPlan`
 * of `../image/plan.ts`, written by {@linkcode writePlan}.
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
  const blobs: ArtifactBlob[] = [];
  for (const file of files) blobs.push(await prepareArtifactFile(file, workDir, mtime));
  const plan = artifactPlan(options.artifactType, blobs, options.annotations);
  return await writePlan(target, plan, tags, options);
}
