/**
 * `docker-archive:FILE`: the format of `docker save` (and of skopeo's and
 * podman's `docker-archive:`), as a {@linkcode Target}.
 *
 * The archive is a tar holding `manifest.json`, a list of images, each with
 * `Config` (the config JSON's path), `RepoTags` and `Layers` (the paths of
 * its layer tars), and the files it names; older writers add legacy folders
 * whose `layer.tar` are symlinks, which are followed inside the archive.
 *
 * Read, each image is offered as a synthesised OCI image manifest, the one
 * skopeo writes when it converts the archive to OCI without recompressing:
 * `application/vnd.oci.image.manifest.v1+json`, the config unchanged as
 * `application/vnd.oci.image.config.v1+json`, and each plain layer tar as
 * `application/vnd.oci.image.layer.v1.tar` with its diff_id as digest (a
 * plain tar's digest is its diff_id). The descriptors point at the archive's
 * files, read as byte ranges and verified as they stream.
 *
 * Written (opened with `create`), it takes one image for one platform: the
 * pushed config and layers are staged in a layout beside the file, each
 * compressed layer is decompressed to a plain tar and checked against the
 * config's diff_id when the manifest is pushed, and `close()` writes
 * `manifest.json`, the config as `<hex>.json` and each layer as `<hex>.tar`,
 * atomically and with fixed metadata. An index is refused: a docker archive
 * has no place for one.
 *
 * The written file replaces the old one: it holds the one image pushed. A target
 * opened for writing holds the lock `FILE.lock` from opening to renaming the new
 * file into place, as an `oci-archive:` writer does, so that concurrent writers
 * of one archive take turns (the last to go leaves its image, as when they run
 * one after the other) rather than overlap; and just before the rename it
 * checks that the file is still absent, or still the file that was there when
 * it was opened, so that a file another tool writes meanwhile is refused rather
 * than overwritten unseen. (A fifo, a device or standard output is written
 * through, not replaced: there is nothing to check.)
 *
 * @example
 * ```ts
 * import { DockerArchiveTarget } from "./docker.ts";
 * const archive = await DockerArchiveTarget.open("app.tar");
 * const manifest = await archive.fetchManifest(await archive.resolve("docker.io/library/app:v1"));
 * ```
 * @module
 */
import { decompressStream, detectCompression } from "../compress/decompress.ts";
import { checkDeclaredSizes, DEFAULT_MAX_EXTRACT_BYTES } from "../unpack/limits.ts";
import type { Compression } from "../compress/mod.ts";
import {
  type Digest,
  hashing,
  isDigest,
  parseDigest,
  Sha256,
  sha256Digest,
  verifyingStream,
} from "../digest/mod.ts";
import {
  cutText,
  escapeRemote,
  IntegrityError,
  NotFoundError,
  OcisyncError,
  UnsafeContentError,
  UsageError,
} from "../errors/mod.ts";
import { destinationOf, writeFileAtomic } from "../fs/atomic.ts";
import { openFileAt } from "../fs/read.ts";
import { statOrUndefined } from "../fs/stat.ts";
import { cancelOnError } from "../layout/format.ts";
import type { LayoutTarget } from "../layout/mod.ts";
import { MediaType } from "../oci/mediatypes.ts";
import type { CallOptions, Closer, Discarder, Target } from "../oci/target.ts";
import {
  type Descriptor,
  isJsonObject,
  type Manifest,
  MAX_MANIFEST_BYTES,
  parseManifestOrIndex,
} from "../oci/types.ts";
import { dockerArchiveTag, parseRegistryReference } from "../ref/mod.ts";
import { countedBytes } from "../streams/mod.ts";
import type { ArchiveOpenOptions } from "./oci.ts";
import {
  type ArchiveLock,
  changedArchiveError,
  endWrite,
  lockArchive,
  openedForReading,
  openStaging,
  readSmallEntry,
} from "./staging.ts";
import {
  followLinks,
  indexTar,
  openEntry,
  sameUnchangedFile,
  type TarIndex,
  type TarIndexEntry,
} from "./tar_index.ts";
import { type ArchiveFile, writeArchive } from "./write.ts";

// The default of `DockerArchiveOpenOptions.maxExtractSize`, 32 GiB: a pull's, one constant.
export { DEFAULT_MAX_EXTRACT_BYTES };

/** Options of {@linkcode DockerArchiveTarget.open}. */
export interface DockerArchiveOpenOptions extends ArchiveOpenOptions {
  /**
   * Writing: the most bytes the image's layers may take as the plain tars the archive holds,
   * all layers together. A compressed layer is decompressed to its plain tar, so that a
   * decompression bomb in a source image stops here rather than filling the disk, and layers
   * whose declared sizes go past what that allows compressed are refused unread. Default
   * {@linkcode DEFAULT_MAX_EXTRACT_BYTES}.
   */
  maxExtractSize?: number;
  /**
   * The image name of `docker-archive:FILE:NAME:TAG` (`docker.io/library/app`): a bare tag given
   * to `resolve` or `pushManifest` is this name's tag.
   */
  name?: string;
}

/** One image of a read archive. */
interface ArchiveImage {
  /** The synthesised manifest's descriptor, and its bytes. */
  descriptor: Descriptor;
  manifest: Uint8Array;
  /** `RepoTags` as written, and normalised (`docker.io/library/app:v1`). */
  repoTags: string[];
  normalisedTags: string[];
  /** The archive entries of its config and layers, by digest. */
  blobs: Map<string, TarIndexEntry>;
}

/** What `resolve` looks an image up by. */
type Listed = Pick<ArchiveImage, "descriptor" | "repoTags" | "normalisedTags">;

/** The one image pushed into an archive being written; its `repoTags` are in full. */
interface PushedImage {
  descriptor: Descriptor;
  config: Descriptor;
  /** Each layer's plain tar: its diff_id, size, and how to read it. */
  layers: { diffId: Digest; size: number; open: () => Promise<ReadableStream<Uint8Array>> }[];
  repoTags: string[];
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();
const CONFIG_MEDIA_TYPES: readonly string[] = [MediaType.OciConfig, MediaType.DockerConfig];
// Where decompressed layers wait in the staging layout, outside its blobs.
const PLAIN_LAYERS = "plain-layers";

/**
 * A `docker-archive:` file.
 *
 * @example
 * ```ts
 * import { DockerArchiveTarget } from "./docker.ts";
 * const archive = await DockerArchiveTarget.open("app.tar", { name: "docker.io/library/app" });
 * const descriptor = await archive.resolve("v1"); // docker.io/library/app:v1
 * ```
 */
export class DockerArchiveTarget implements Target, Closer, Discarder {
  /** `docker-archive:FILE`. */
  readonly name: string;
  /** The archive file. */
  readonly path: string;
  #imageName: string | undefined;
  #maxExtractSize: number;
  #archive: TarIndex | undefined;
  #images: ArchiveImage[];
  /** Set when opened for writing; made at the first push. */
  #writing: boolean;
  #staging: Promise<LayoutTarget> | undefined;
  #pushed: PushedImage | undefined;
  /** Set once a push was refused: the copy failed, and `close()` writes nothing. */
  #refused = false;
  /** The layers pushed so far, and their declared sizes together, against the limit. */
  #layersPushed = new Set<string>();
  #layerBytes = { bytes: 0 };
  #closed = false;
  /** The archive's lock, held from opening until the file is written or dropped; for writing only. */
  #lock: ArchiveLock | undefined;
  /**
   * For writing a file that is replaced by a rename: the file when it was opened (under the
   * lock), `undefined` inside when there was none. Unset for a destination written through (a
   * fifo, a device, standard output), whose own mtime and size the write changes.
   */
  #opened: { file: Deno.FileInfo | undefined } | undefined;

  private constructor(
    path: string,
    options: DockerArchiveOpenOptions,
    archive?: TarIndex,
    images: ArchiveImage[] = [],
  ) {
    this.path = path;
    this.name = `docker-archive:${path}`;
    this.#imageName = options.name;
    this.#maxExtractSize = options.maxExtractSize ?? DEFAULT_MAX_EXTRACT_BYTES;
    this.#writing = options.create ?? false;
    this.#archive = archive;
    this.#images = images;
  }

  /**
   * Opens the archive at `path`. Without `create`, it is read: its entries are indexed, and
   * `manifest.json` and each config are read and checked. With `create`, it is opened for
   * writing: the archive's lock, `path.lock`, is taken and held until `close()` or `discard()`
   * (another writer of the same archive waits for it, up to 30 s), nothing is read, and
   * `close()` replaces the file with the image pushed.
   *
   * @throws {OcisyncError} with `create`, when another process still holds the lock after 30 s;
   * the message names it.
   * @throws {NotFoundError} when there is no file to read, or it has no `manifest.json`.
   * @throws {UnsafeContentError} when an entry is absolute, has a `..` component, is a device
   * or fifo, or a link leads outside the archive.
   * @throws {IntegrityError} when `manifest.json` or a config is malformed, or names a file the
   * archive does not hold.
   * @example
   * ```ts
   * import { DockerArchiveTarget } from "./docker.ts";
   * const archive = await DockerArchiveTarget.open("app.tar");
   * ```
   */
  static async open(
    path: string,
    options: DockerArchiveOpenOptions = {},
  ): Promise<DockerArchiveTarget> {
    if (options.create) {
      const lock = await lockArchive(path);
      const target = new DockerArchiveTarget(path, options);
      target.#lock = lock;
      try {
        // Under the lock: what another writer may change from here on is what close() checks.
        if ((await destinationOf(path)).mode === "replace") {
          const file = statOrUndefined(path);
          if (file !== undefined) await DockerArchiveTarget.#refuseLosingImages(path);
          target.#opened = { file };
        }
      } catch (error) {
        await lock?.release();
        throw error;
      }
      return target;
    }
    let archive: TarIndex;
    try {
      archive = await indexTar(path, { links: "keep" });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      throw new NotFoundError(`no docker archive at ${path}: the file does not exist`);
    }
    const manifestEntry = followLinks(archive, "manifest.json");
    if (manifestEntry?.type !== "file") {
      throw new NotFoundError(`${path} is not a docker archive: it has no manifest.json`, {
        hint: archive.entries.has("index.json")
          ? `it looks like an OCI archive: write oci-archive:${path}`
          : undefined,
      });
    }
    const items = parseArchiveManifest(path, await readSmallEntry(archive, manifestEntry));
    const images = [];
    // Each file is read once, however many images list it: a hostile manifest.json may list one
    // large file thousands of times.
    const seen: ReadEntries = { configs: new Map(), layers: new Map() };
    for (const item of items) images.push(await readImage(archive, item, seen));
    return new DockerArchiveTarget(path, options, archive, images);
  }

  /**
   * The descriptor of an image's synthesised manifest: by its digest; by `NAME:TAG` (any
   * spelling a registry reference takes: `app:v1` is `docker.io/library/app:v1`), matched
   * against the normalised `RepoTags`; by a bare tag, which is the opening name's tag (or, with
   * no name, the tag of a single `RepoTags` entry); or, with no reference, the only image.
   *
   * @throws {NotFoundError} when nothing matches; the message lists the archive's `RepoTags`.
   * @throws {UsageError} when no reference is given and the archive holds several images, or a
   * bare tag matches several.
   * @example
   * ```ts
   * import { DockerArchiveTarget } from "./docker.ts";
   * const archive = await DockerArchiveTarget.open("app.tar");
   * const { digest } = await archive.resolve("app:v1");
   * ```
   */
  // deno-lint-ignore require-await
  async resolve(reference?: string, options?: CallOptions): Promise<Descriptor> {
    this.#check(options);
    const images: Listed[] = this.#pushed
      ? [{ ...this.#pushed, normalisedTags: this.#pushed.repoTags }]
      : this.#images;
    if (reference === undefined) {
      if (images.length === 1) return images[0].descriptor;
      if (images.length === 0) throw new NotFoundError(`${this.name} holds no images`);
      throw new UsageError(`${this.name} holds ${images.length} images: name one`, {
        hint: `write ${this.name}:NAME:TAG; ${repoTagSummary(images)}`,
      });
    }
    if (isDigest(reference)) {
      const found = images.find((image) => image.descriptor.digest === reference);
      if (found) return found.descriptor;
      throw new NotFoundError(`manifest ${reference} not found in ${this.name}`);
    }
    const wanted = this.#repoTag(reference);
    const found = wanted === undefined
      ? images.filter((image) => image.normalisedTags.some((t) => tagOf(t) === reference))
      : images.filter((image) => image.normalisedTags.includes(wanted));
    if (found.length === 1) return found[0].descriptor;
    if (found.length > 1) {
      throw new UsageError(`tag "${reference}" names ${found.length} images in ${this.name}`, {
        hint: `write NAME:TAG; ${repoTagSummary(images)}`,
      });
    }
    throw new NotFoundError(
      `${JSON.stringify(wanted ?? reference)} not found in ${this.name}: ${repoTagSummary(images)}`,
    );
  }

  /**
   * A synthesised manifest's bytes (or, while writing, the pushed manifest's).
   *
   * @throws {NotFoundError} when the archive holds no such manifest.
   * @throws {IntegrityError} when the descriptor's size is not the manifest's.
   * @example
   * ```ts
   * import { DockerArchiveTarget } from "./docker.ts";
   * const archive = await DockerArchiveTarget.open("app.tar");
   * const bytes = await archive.fetchManifest(await archive.resolve());
   * ```
   */
  async fetchManifest(descriptor: Descriptor, options?: CallOptions): Promise<Uint8Array> {
    this.#check(options);
    if (this.#writing) return await (await this.#stage()).fetchManifest(descriptor);
    const image = this.#images.find((image) => image.descriptor.digest === descriptor.digest);
    if (!image) throw new NotFoundError(`manifest ${descriptor.digest} not found in ${this.name}`);
    if (descriptor.size !== image.manifest.length) {
      throw new IntegrityError(
        `manifest ${descriptor.digest} has ${image.manifest.length} bytes, expected ` +
          `${descriptor.size}`,
      );
    }
    return image.manifest;
  }

  /**
   * A config's or layer's bytes, read from the archive's byte range. The stream errors with an
   * {@linkcode IntegrityError} at its end when they do not match the descriptor.
   *
   * @throws {NotFoundError} when no image of the archive has the blob.
   * @example
   * ```ts
   * import { DockerArchiveTarget } from "./docker.ts";
   * const archive = await DockerArchiveTarget.open("app.tar");
   * const manifest = JSON.parse(new TextDecoder().decode(
   *   await archive.fetchManifest(await archive.resolve()),
   * ));
   * const layer = await archive.fetchBlob(manifest.layers[0]);
   * ```
   */
  async fetchBlob(
    descriptor: Descriptor,
    options?: CallOptions,
  ): Promise<ReadableStream<Uint8Array>> {
    this.#check(options);
    if (this.#writing) return await (await this.#stage()).fetchBlob(descriptor);
    const entry = this.#archiveBlob(descriptor.digest);
    if (!this.#archive || !entry) {
      throw new NotFoundError(`blob ${descriptor.digest} not found in ${this.name}`);
    }
    return (await openEntry(this.#archive, entry)).pipeThrough(verifyingStream(descriptor, "blob"));
  }

  /**
   * Whether an image of the archive (or, while writing, what was pushed) has the blob.
   *
   * @example
   * ```ts
   * import { DockerArchiveTarget } from "./docker.ts";
   * const archive = await DockerArchiveTarget.open("app.tar");
   * await archive.hasBlob(await archive.resolve()); // false: manifests are not blobs here
   * ```
   */
  async hasBlob(descriptor: Descriptor, options?: CallOptions): Promise<boolean> {
    this.#check(options);
    if (this.#writing) return await (await this.#stage()).hasBlob(descriptor);
    return this.#archiveBlob(descriptor.digest) !== undefined;
  }

  /**
   * Stages a config or layer blob for the archive, verified before it is kept.
   *
   * @throws {UsageError} when the archive was not opened for writing.
   * @throws {IntegrityError} when the body does not match the descriptor; nothing is kept.
   * @throws {UnsafeContentError} before reading a layer whose declared size takes the layers'
   * past what `maxExtractSize` allows compressed (`compressedLimit` of `../unpack/limits.ts`).
   * @example
   * ```ts
   * import { DockerArchiveTarget } from "./docker.ts";
   * import { sha256Digest } from "../digest/mod.ts";
   * const config = new TextEncoder().encode('{"architecture":"amd64","os":"linux"}');
   * const archive = await DockerArchiveTarget.open("out.tar", { create: true });
   * await archive.pushBlob(
   *   {
   *     mediaType: "application/vnd.oci.image.config.v1+json",
   *     digest: sha256Digest(config),
   *     size: config.length,
   *   },
   *   ReadableStream.from([config]),
   * );
   * await archive.close(); // releases the lock; no manifest pushed, nothing written
   * ```
   */
  async pushBlob(
    descriptor: Descriptor,
    body: ReadableStream<Uint8Array>,
    options?: CallOptions,
  ): Promise<boolean> {
    return await cancelOnError(body, async () => {
      this.#check(options);
      this.#checkWriting();
      this.#checkDeclared(descriptor);
      return await (await this.#stage()).pushBlob(descriptor, body, options);
    });
  }

  /**
   * Takes the image's manifest, whose config and layers were pushed before it. Each layer that
   * is not a plain tar is decompressed (gzip or zstd) into the staging layout, and every layer's
   * plain tar is checked against the config's diff_id, so that `docker load` and `podman load`
   * accept the archive. The tags become `RepoTags`: a bare tag joins the name the archive was
   * opened with (none without a name, as skopeo writes an unnamed archive); `NAME:TAG` is
   * taken as it is. The same manifest pushed again adds its tags.
   *
   * @throws {UsageError} when it is an index (copy one platform, with `--platform`), a second
   * image, or not a container image; or the archive was not opened for writing.
   * @throws {NotFoundError} when its config or a layer was not pushed first.
   * @throws {IntegrityError} when the bytes do not match the descriptor, or a layer's plain tar
   * does not match its diff_id.
   * @throws {UnsafeContentError} when the layers' plain tars would take more than
   * `maxExtractSize` bytes; what was decompressed is removed.
   * @example
   * ```ts
   * import { DockerArchiveTarget } from "./docker.ts";
   * import type { Descriptor } from "../oci/types.ts";
   * declare const manifest: { descriptor: Descriptor; bytes: Uint8Array };
   * const archive = await DockerArchiveTarget.open("out.tar", {
   *   create: true,
   *   name: "docker.io/library/app",
   * });
   * // …its config and layers pushed with pushBlob first…
   * await archive.pushManifest(manifest.descriptor, manifest.bytes, ["v1"]);
   * await archive.close();
   * ```
   */
  async pushManifest(
    descriptor: Descriptor,
    bytes: Uint8Array,
    tags: string[],
    options?: CallOptions,
  ): Promise<void> {
    this.#check(options);
    this.#checkWriting();
    const repoTags = tags.map((tag) => this.#repoTag(tag)).filter((t) => t !== undefined);
    const pushed = this.#pushed;
    if (pushed?.descriptor.digest === descriptor.digest) {
      pushed.repoTags = [...new Set([...pushed.repoTags, ...repoTags])];
      return;
    }
    const doc = parseManifestOrIndex(bytes, descriptor.mediaType);
    if (doc.kind === "index" || pushed) this.#refused = true;
    if (doc.kind === "index") {
      throw new UsageError(
        `${this.name} holds one image for one platform, and ${descriptor.digest} is an index ` +
          `of ${doc.index.manifests.length}: copy one platform of it, with --platform`,
        { hint: "e.g. --platform linux/amd64" },
      );
    }
    if (pushed) {
      throw new UsageError(
        `${this.name} holds one image: it has ${pushed.descriptor.digest} already, and ` +
          `${descriptor.digest} is another`,
        { hint: "to copy one platform of an index, use --platform (e.g. --platform linux/amd64)" },
      );
    }
    const manifest = doc.manifest;
    if (!CONFIG_MEDIA_TYPES.includes(manifest.config.mediaType)) {
      throw new UsageError(
        `${descriptor.digest} is not a container image (its config is ` +
          `${manifest.config.mediaType}): a docker archive holds only images`,
      );
    }
    const staging = await this.#stage();
    // Verifies the bytes, and keeps them for fetchManifest.
    await staging.pushManifest(descriptor, bytes, []);
    const layers = await this.#plainLayers(staging, manifest);
    this.#pushed = { descriptor, config: manifest.config, layers, repoTags };
  }

  /**
   * The `RepoTags` of the archive's images, as written; while writing, those of the pushed
   * image.
   *
   * @example
   * ```ts
   * import { DockerArchiveTarget } from "./docker.ts";
   * const archive = await DockerArchiveTarget.open("app.tar");
   * console.log(await Array.fromAsync(archive.tags())); // ["docker.io/library/app:v1"]
   * ```
   */
  async *tags(options?: CallOptions): AsyncIterable<string> {
    this.#check(options);
    const repoTags = this.#writing
      ? this.#pushed?.repoTags ?? []
      : this.#images.flatMap((image) => image.repoTags);
    yield* new Set(repoTags);
  }

  /**
   * Writes the archive, when an image was pushed (and no push was refused since), removes
   * the staging layout, and releases the archive's lock: with
   * `manifest.json` first, then the config as `<hex>.json`, then each layer once, as
   * `<diff_id hex>.tar`, all with mtime 0, uid and gid 0 and mode 0644, to a temporary file
   * renamed over `path`. Calling it again does nothing.
   *
   * @throws {IntegrityError} when a staged file no longer matches its digest; `path` is kept
   * as it was.
   * @throws {OcisyncError} when the file was created, replaced or changed since it was opened
   * (by another tool: ocisync's writers wait for the lock); it is left as that writer left it.
   * @example
   * ```ts
   * import { DockerArchiveTarget } from "./docker.ts";
   * const archive = await DockerArchiveTarget.open("out.tar", { create: true });
   * await archive.close(); // nothing pushed: nothing written
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const staging = this.#staging;
    try {
      if (this.#pushed && !this.#refused) await this.#write(this.#pushed, await staging!);
    } finally {
      await endWrite(staging, this.#lock);
    }
  }

  /**
   * Drops what was pushed, without writing the archive: for a copy that failed.
   *
   * @example
   * ```ts
   * import { DockerArchiveTarget } from "./docker.ts";
   * const archive = await DockerArchiveTarget.open("out.tar", { create: true });
   * await archive.discard();
   * ```
   */
  async discard(): Promise<void> {
    this.#closed = true;
    await endWrite(this.#staging, this.#lock);
  }

  /**
   * Throws unless the file at `path`, about to be replaced by an archive of one image, is a
   * docker archive of at most one image: anything else would be lost without a word (a user's
   * file of that name, or a `docker save` of several images), where skopeo refuses any file.
   *
   * @throws {UsageError} naming what the file is, or the images it holds.
   */
  static async #refuseLosingImages(path: string): Promise<void> {
    let existing: DockerArchiveTarget;
    try {
      existing = await DockerArchiveTarget.open(path);
    } catch (error) {
      if (!(error instanceof OcisyncError)) throw error;
      throw new UsageError(
        `refusing to replace ${path}: it is not a docker archive (${error.message}); it was ` +
          "left as it is",
        { hint: "give the name of a new file, or remove that one first" },
      );
    }
    const images = existing.#images;
    await existing.close();
    if (images.length > 1) {
      const tags = images.flatMap((image) => image.repoTags).join(", ") || "untagged";
      throw new UsageError(
        `refusing to replace ${path}: it holds ${images.length} images (${tags}), and a ` +
          "docker-archive that ocisync writes holds one; it was left as it is",
        { hint: "give the name of a new file: one per image" },
      );
    }
  }

  /** Throws once the target is closed, or the call is cancelled. */
  #check(options?: CallOptions): void {
    options?.signal?.throwIfAborted();
    if (this.#closed) throw new OcisyncError(`${this.name} is closed`);
  }

  #checkWriting(): void {
    if (!this.#writing) {
      throw openedForReading(this.name);
    }
  }

  #stage(): Promise<LayoutTarget> {
    this.#staging ??= openStaging(this.path);
    return this.#staging;
  }

  #archiveBlob(digest: string): TarIndexEntry | undefined {
    for (const image of this.#images) {
      const entry = image.blobs.get(digest);
      if (entry) return entry;
    }
    return undefined;
  }

  /** The `RepoTags` entry for `reference` (see {@linkcode dockerArchiveTag}). */
  #repoTag(reference: string): string | undefined {
    return dockerArchiveTag(this.#imageName, reference);
  }

  /**
   * The plain tar of each layer, checked against the config's diff_ids: a layer that is one
   * already is read from its staged blob; another is decompressed into the staging layout.
   */
  async #plainLayers(staging: LayoutTarget, manifest: Manifest): Promise<PushedImage["layers"]> {
    const config = await staging.fetchManifest(manifest.config).catch((error) => {
      if (error instanceof NotFoundError) {
        throw new NotFoundError(`config ${manifest.config.digest} was not pushed to ${this.name}`);
      }
      throw error;
    });
    const diffIds = diffIdsOf(config, `config ${manifest.config.digest}`);
    if (diffIds.length !== manifest.layers.length) {
      throw new IntegrityError(
        `config ${manifest.config.digest} lists ${diffIds.length} diff_ids for ` +
          `${manifest.layers.length} layers`,
      );
    }
    const layers: PushedImage["layers"] = [];
    // The plain tars' bytes so far, all layers together, against the limit.
    const plain = { bytes: 0 };
    const plainFolder = `${staging.path}/${PLAIN_LAYERS}`;
    await Deno.mkdir(plainFolder, { recursive: true });
    for (const [i, layer] of manifest.layers.entries()) {
      const diffId = diffIds[i];
      if (!await staging.hasBlob(layer)) {
        throw new NotFoundError(`layer ${layer.digest} was not pushed to ${this.name}`);
      }
      const known = layers.find((plain) => plain.diffId === diffId);
      if (known) {
        layers.push(known);
        continue;
      }
      if (layer.digest === diffId) {
        // Its digest is its diff_id: it is the plain tar itself, verified when it was pushed.
        plain.bytes += layer.size;
        if (plain.bytes > this.#maxExtractSize) throw this.#tooLarge(layer.digest);
        layers.push({ diffId, size: layer.size, open: () => staging.fetchBlob(layer) });
        continue;
      }
      const file = `${plainFolder}/${parseDigest(diffId).hex}`;
      const hash = new Sha256();
      const decompressed = decompressStream(await staging.fetchBlob(layer), {
        what: `layer ${layer.digest}`,
      });
      // writeFileAtomic leaves no file behind when the stream throws.
      const bounded = countedBytes(
        decompressed,
        plain,
        this.#maxExtractSize,
        () => this.#tooLarge(layer.digest),
      );
      await writeFileAtomic(file, hashing(bounded, hash));
      const actual = hash.digest();
      if (actual !== diffId) {
        await Deno.remove(file);
        throw new IntegrityError(
          `layer ${layer.digest} decompresses to ${actual}, but the config's diff_id is ${diffId}`,
        );
      }
      const size = hash.size;
      layers.push({
        diffId,
        size,
        open: async () =>
          (await openFileAt(file, 0, size)).pipeThrough(
            verifyingStream({ digest: diffId, size }, "layer"),
          ),
      });
    }
    return layers;
  }

  /**
   * Refuses a layer, before it is read, whose declared size takes the layers' past what
   * decompresses to at most `maxExtractSize` bytes: a layer of skippable zstd frames
   * decompresses to nothing, and would be read for as long as its declared size lasts.
   */
  #checkDeclared(descriptor: Descriptor): void {
    if (CONFIG_MEDIA_TYPES.includes(descriptor.mediaType)) return;
    if (this.#layersPushed.has(descriptor.digest)) return;
    this.#layersPushed.add(descriptor.digest);
    checkDeclaredSizes([descriptor], this.#maxExtractSize, this.#layerBytes);
  }

  #tooLarge(digest: string): UnsafeContentError {
    return new UnsafeContentError(
      `${this.name}: the image's layers decompress to more than the limit of ` +
        `${this.#maxExtractSize} bytes (at layer ${digest}); a docker archive holds them ` +
        "uncompressed",
      { hint: "raise the size limit if the image is really this large", option: "maxExtractSize" },
    );
  }

  async #write(image: PushedImage, staging: LayoutTarget): Promise<void> {
    const configName = `${parseDigest(image.config.digest).hex}.json`;
    const layerNames = image.layers.map((layer) => `${parseDigest(layer.diffId).hex}.tar`);
    const manifest = encoder.encode(JSON.stringify([
      { Config: configName, RepoTags: image.repoTags, Layers: layerNames },
    ]));
    const files: ArchiveFile[] = [
      { name: "manifest.json", size: manifest.length, open: () => Promise.resolve([manifest]) },
      {
        name: configName,
        size: image.config.size,
        open: () => staging.fetchBlob(image.config),
      },
    ];
    const written = new Set<string>();
    for (const [i, layer] of image.layers.entries()) {
      // An image may list one layer twice; the archive holds it once.
      if (written.has(layerNames[i])) continue;
      written.add(layerNames[i]);
      files.push({ name: layerNames[i], size: layer.size, open: layer.open });
    }
    const opened = this.#opened;
    await writeArchive(this.path, files, {
      beforeReplace: opened && (() => this.#checkUnchanged(opened.file)),
    });
  }

  /**
   * Throws unless the file is as it was when this target was opened, `opened`: still absent, or
   * the same file (device, inode, size and mtime). ocisync's writers wait for the lock; another
   * tool, or a writer through another name of the file, does not, and its file must not be
   * overwritten unseen.
   */
  #checkUnchanged(opened: Deno.FileInfo | undefined): void {
    const now = statOrUndefined(this.path);
    const same = opened === undefined || now === undefined
      ? opened === now
      : sameUnchangedFile(opened, now);
    if (same) return;
    throw changedArchiveError(
      this.name,
      opened !== undefined,
      "see what the other wrote; run the command again to replace it",
    );
  }
}

/** One entry of `manifest.json`, checked. */
interface ArchiveManifestItem {
  config: string;
  repoTags: string[];
  layers: string[];
}

/** Reads `manifest.json`: a list of `{Config, RepoTags, Layers}`. */
function parseArchiveManifest(path: string, bytes: Uint8Array): ArchiveManifestItem[] {
  const fail = (problem: string): never => {
    throw new IntegrityError(`${path}: manifest.json ${problem}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    fail(`is not valid JSON (${(error as Error).message})`);
  }
  if (!Array.isArray(doc)) fail("is not a list of images");
  return (doc as unknown[]).map((item, i) => {
    if (!isJsonObject(item)) return fail(`entry ${i} is not an object`);
    const { Config, RepoTags, Layers } = item;
    if (typeof Config !== "string") fail(`entry ${i} has no Config path`);
    if (!isStrings(Layers)) fail(`entry ${i} has no list of Layers paths`);
    if (RepoTags !== null && RepoTags !== undefined && !isStrings(RepoTags)) {
      fail(`entry ${i} has RepoTags that are not a list of strings`);
    }
    return {
      config: Config as string,
      layers: Layers as string[],
      repoTags: (RepoTags ?? []) as string[],
    };
  });
}

/** A layer file's compression, and its digest when compressed. */
interface LayerFacts {
  compression: Compression;
  digest?: Digest;
}

/** What reading an archive learnt of its files, by entry name: each is read once. */
interface ReadEntries {
  /** A config's digest, size and diff_ids. */
  configs: Map<string, { digest: Digest; size: number; diffIds: Digest[] }>;
  layers: Map<string, LayerFacts>;
}

/**
 * An image of `manifest.json`: its config read and hashed, its layers located, and the OCI
 * manifest skopeo would write for it.
 *
 * @throws {IntegrityError} when a file it names is missing, its config is malformed, or its
 * manifest would be larger than a manifest may be.
 */
async function readImage(
  archive: TarIndex,
  item: ArchiveManifestItem,
  seen: ReadEntries,
): Promise<ArchiveImage> {
  const locate = (name: string, what: string): TarIndexEntry => {
    const entry = followLinks(archive, name);
    if (entry?.type !== "file") {
      throw new IntegrityError(
        `${archive.path}: manifest.json names ${what} ${JSON.stringify(name)}, which the ` +
          "archive does not hold",
      );
    }
    return entry;
  };
  const configEntry = locate(item.config, "the config");
  let config = seen.configs.get(configEntry.name);
  if (!config) {
    const bytes = await readSmallEntry(archive, configEntry);
    const diffIds = diffIdsOf(bytes, `${archive.path}: config ${item.config}`);
    config = { digest: sha256Digest(bytes), size: bytes.length, diffIds };
    seen.configs.set(configEntry.name, config);
  }
  const { digest: configDigest, diffIds } = config;
  if (diffIds.length !== item.layers.length) {
    throw new IntegrityError(
      `${archive.path}: config ${item.config} lists ${diffIds.length} diff_ids for ` +
        `${item.layers.length} layers`,
    );
  }
  const blobs = new Map<string, TarIndexEntry>([[configDigest, configEntry]]);
  const layers: Descriptor[] = [];
  for (const [i, name] of item.layers.entries()) {
    const entry = locate(name, "the layer");
    const layer = await describeLayer(archive, entry, diffIds[i], seen.layers);
    blobs.set(layer.digest, entry);
    layers.push(layer);
  }
  // The key order of skopeo's OCI manifests, so that the bytes are the ones it would write.
  const manifest = encoder.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: configDigest, size: config.size },
    layers,
  }));
  if (manifest.length > MAX_MANIFEST_BYTES) {
    throw new IntegrityError(
      `${archive.path}: the image of config ${item.config} lists ${layers.length} layers, and ` +
        `its manifest would have ${manifest.length} bytes, over the limit of ${MAX_MANIFEST_BYTES}`,
    );
  }
  return {
    descriptor: {
      mediaType: MediaType.OciManifest,
      digest: sha256Digest(manifest),
      size: manifest.length,
    },
    manifest,
    repoTags: item.repoTags,
    normalisedTags: item.repoTags.map(normalisedTag).filter((tag) => tag !== undefined),
    blobs,
  };
}

/**
 * A layer's descriptor. A plain tar's digest is its diff_id, which the stream verifies when it
 * is read. A compressed layer (as `docker save` of a containerd image store writes them) is
 * named by its digest when its path is `blobs/<alg>/<hex>`, and hashed once here otherwise.
 */
async function describeLayer(
  archive: TarIndex,
  entry: TarIndexEntry,
  diffId: Digest,
  seen: ReadEntries["layers"],
): Promise<Descriptor> {
  let facts = seen.get(entry.name);
  if (!facts) {
    facts = await layerFacts(archive, entry);
    seen.set(entry.name, facts);
  }
  if (facts.compression === "none") {
    return { mediaType: MediaType.OciLayer, digest: diffId, size: entry.size };
  }
  const mediaType = facts.compression === "gzip" ? MediaType.OciLayerGzip : MediaType.OciLayerZstd;
  return { mediaType, digest: facts.digest!, size: entry.size };
}

/** A layer file's compression, from its first bytes, and a compressed one's digest. */
async function layerFacts(
  archive: TarIndex,
  entry: TarIndexEntry,
): Promise<LayerFacts> {
  const head = new Uint8Array(4);
  let filled = 0;
  const reader = (await openEntry(archive, entry)).getReader();
  while (filled < head.length) {
    const { value, done } = await reader.read();
    if (done) break;
    const part = value.subarray(0, head.length - filled);
    head.set(part, filled);
    filled += part.length;
  }
  await reader.cancel();
  const compression = detectCompression(head.subarray(0, filled));
  if (compression === "none") return { compression };
  const named = /^blobs\/([a-z0-9]+)\/([0-9a-f]+)$/.exec(entry.name);
  let digest = named ? `${named[1]}:${named[2]}` : "";
  if (!isDigest(digest)) {
    const hash = new Sha256();
    for await (const chunk of await openEntry(archive, entry)) hash.update(chunk);
    digest = hash.digest();
  }
  return { compression, digest: digest as Digest };
}

/** A config's `rootfs.diff_ids`, checked. */
function diffIdsOf(config: Uint8Array, what: string): Digest[] {
  let doc: unknown;
  try {
    doc = JSON.parse(decoder.decode(config));
  } catch (error) {
    throw new IntegrityError(`${what} is not valid JSON`, { cause: error });
  }
  const rootfs = isJsonObject(doc) ? doc.rootfs : undefined;
  const diffIds = isJsonObject(rootfs) ? rootfs.diff_ids : undefined;
  if (!Array.isArray(diffIds) || !diffIds.every((d) => typeof d === "string" && isDigest(d))) {
    throw new IntegrityError(`${what} has no valid rootfs.diff_ids`);
  }
  return diffIds as Digest[];
}

/** `RepoTags` entry in full (`docker.io/library/app:v1`), or undefined when it is no reference. */
function normalisedTag(repoTag: string): string | undefined {
  try {
    const ref = parseRegistryReference(repoTag);
    return `${ref.registry}/${ref.repository}:${ref.tag ?? "latest"}`;
  } catch {
    return undefined;
  }
}

function tagOf(repoTag: string): string {
  return repoTag.slice(repoTag.lastIndexOf(":") + 1);
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

/** The end of a "not found" message: the images' `RepoTags`, or that they have none. */
function repoTagSummary(images: { repoTags: string[] }[]): string {
  const tags = images.flatMap((image) => image.repoTags);
  if (tags.length === 0) return "its images have no RepoTags";
  if (tags.length > 10) return `its images have ${tags.length} RepoTags`;
  return `its RepoTags are ${tags.map((tag) => cutText(escapeRemote(tag))).join(", ")}`;
}
