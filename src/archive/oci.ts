/**
 * `oci-archive:FILE`: a tar of an OCI image layout, as skopeo's
 * `oci-archive:` writes and reads it, as a {@linkcode Target}.
 *
 * Reading indexes the tar once and reads each blob as a byte range of the
 * file, verified as it streams: nothing is extracted, and no copy of the
 * archive is made. Writing stages pushed blobs and manifests in a layout
 * beside the file (`staging.ts`); {@linkcode OciArchiveTarget.close} then
 * writes the archive atomically and deterministically: `oci-layout`,
 * `index.json`, then the blobs that `index.json` reaches, sorted by digest,
 * all with fixed metadata. Images already in the archive are kept.
 *
 * A target opened for writing holds the lock `FILE.lock` from reading the
 * file to renaming the new one into place, so that concurrent writers of one
 * archive take turns, each adding to what the one before wrote; and just
 * before the rename it checks that the file is still absent, or still the one
 * it read, so that another tool's write is refused rather than overwritten.
 *
 * @example
 * ```ts
 * import { OciArchiveTarget } from "./oci.ts";
 * const archive = await OciArchiveTarget.open("app.tar");
 * const manifest = await archive.fetchManifest(await archive.resolve("v1"));
 * await archive.close();
 * ```
 * @module
 */
import { isDigest, parseDigest, verifyingStream } from "../digest/mod.ts";
import { IntegrityError, NotFoundError, OcisyncError, UsageError } from "../errors/mod.ts";
import { statOrUndefined } from "../fs/stat.ts";
import {
  blobPath,
  cancelOnError,
  checkLayoutVersion,
  resolveEntry,
  uniqueTags,
} from "../layout/format.ts";
import { walkReachable } from "../layout/gc.ts";
import type { LayoutTarget } from "../layout/mod.ts";
import type {
  BlobRangeFetcher,
  CallOptions,
  Closer,
  Discarder,
  ReferrerLister,
  Target,
} from "../oci/target.ts";
import {
  type Descriptor,
  type Index,
  MAX_MANIFEST_BYTES,
  parseManifestOrIndex,
} from "../oci/types.ts";
import {
  type ArchiveLock,
  changedArchiveError,
  endWrite,
  isStreamed,
  lockArchive,
  openedForReading,
  openStaging,
  readSmallEntry,
} from "./staging.ts";
import { indexTar, openEntry, type TarIndex, type TarIndexEntry } from "./tar_index.ts";
import { type ArchiveFile, writeArchive } from "./write.ts";

/** Options of {@linkcode OciArchiveTarget.open}, and of `DockerArchiveTarget.open`. */
export interface ArchiveOpenOptions {
  /**
   * Open for writing: accept a file that does not exist yet; it is written on `close()`. The
   * target also holds the archive's lock until then (see {@linkcode OciArchiveTarget.open}).
   */
  create?: boolean;
}

const decoder = new TextDecoder();

/**
 * The `index.json` annotation of a delta archive: the digests (comma-separated, sorted) of the
 * blobs its images need but it leaves out, because the side it is copied to has them. A copy
 * from the archive checks that the destination has each before it writes anything.
 */
export const EXPECTED_BLOBS_ANNOTATION = "dev.ocisync.archive.expected-blobs";

/** The digests an index's {@linkcode EXPECTED_BLOBS_ANNOTATION} lists. */
function expectedOf(index: Index): Set<string> {
  const value = index.annotations?.[EXPECTED_BLOBS_ANNOTATION] ?? "";
  return new Set(value.split(",").map((d) => d.trim()).filter((d) => d !== ""));
}

/**
 * An `oci-archive:` file: a tar of an OCI image layout.
 *
 * @example
 * ```ts
 * import { OciArchiveTarget } from "./oci.ts";
 * import { sha256Digest } from "../digest/mod.ts";
 * const archive = await OciArchiveTarget.open("out.tar", { create: true });
 * const bytes = new TextEncoder().encode('{"schemaVersion":2,"manifests":[]}');
 * const descriptor = {
 *   mediaType: "application/vnd.oci.image.index.v1+json",
 *   digest: sha256Digest(bytes),
 *   size: bytes.length,
 * };
 * await archive.pushManifest(descriptor, bytes, ["v1"]);
 * await archive.close(); // writes out.tar
 * ```
 */
export class OciArchiveTarget
  implements Target, BlobRangeFetcher, Closer, Discarder, ReferrerLister {
  /** `oci-archive:FILE`. */
  readonly name: string;
  /** The archive file. */
  readonly path: string;
  /** The file as it was when opened; undefined for a new archive. */
  #archive: TarIndex | undefined;
  /** Its `index.json`, parsed and as bytes. */
  #index: Index;
  #indexBytes: Uint8Array | undefined;
  /** Where pushes go, made at the first push. */
  #staging: Promise<LayoutTarget> | undefined;
  /** Whether a manifest was pushed, so that `close()` has an archive to write. */
  #changed = false;
  #closed = false;
  /** The archive's lock, held from opening until the file is written or dropped; for writing only. */
  #lock: ArchiveLock | undefined;
  /** Opened with `create`: pushes are staged, and the archive written on `close()`. */
  #writing = false;
  /** Blobs left out of the archive, listed in `index.json` as expected on the other side. */
  #expected: Set<string>;

  private constructor(path: string, archive?: TarIndex, index?: Index, indexBytes?: Uint8Array) {
    this.path = path;
    this.name = `oci-archive:${path}`;
    this.#archive = archive;
    this.#index = index ?? { schemaVersion: 2, manifests: [] };
    this.#indexBytes = indexBytes;
    this.#expected = expectedOf(this.#index);
  }

  /**
   * Records blobs left out of the archive on purpose (a delta): a manifest that needs them may
   * be pushed without them, and `close()` lists them in `index.json`'s
   * {@linkcode EXPECTED_BLOBS_ANNOTATION}.
   *
   * @example
   * ```ts
   * import { OciArchiveTarget } from "./oci.ts";
   * const archive = await OciArchiveTarget.open("delta.tar", { create: true });
   * archive.expectBlobs([{ mediaType: "application/octet-stream", digest: `sha256:${"a".repeat(64)}`, size: 1 }]);
   * await archive.close(); // releases the lock; nothing pushed, nothing written
   * ```
   */
  expectBlobs(descriptors: Descriptor[]): void {
    for (const { digest } of descriptors) this.#expected.add(digest);
  }

  /**
   * The digests the archive lists as expected on the other side: those of its
   * {@linkcode EXPECTED_BLOBS_ANNOTATION}, and those recorded since opening.
   *
   * @example
   * ```ts
   * import { OciArchiveTarget } from "./oci.ts";
   * const archive = await OciArchiveTarget.open("delta.tar");
   * console.log([...archive.expectedBlobs()]);
   * ```
   */
  expectedBlobs(): ReadonlySet<string> {
    return this.#expected;
  }

  /**
   * Opens the archive at `path`: indexes its entries and checks `oci-layout` and `index.json`.
   * With `create`, a missing file is a new, empty archive, and the archive's lock, `path.lock`,
   * is taken first and held until `close()` or `discard()`: another writer of the same archive
   * waits for it, up to 30 s, then reads what this one wrote.
   *
   * @throws {OcisyncError} with `create`, when another process still holds the lock after 30 s;
   * the message names it.
   * @throws {NotFoundError} when there is no file (and `create` is not set), or the tar holds no
   * OCI layout.
   * @throws {UnsafeContentError} when an entry is absolute, has a `..` component, is a link, a
   * device or a fifo, appears twice, or the tar is corrupt.
   * @throws {IntegrityError} when `index.json` is not a valid index.
   * @example
   * ```ts
   * import { OciArchiveTarget } from "./oci.ts";
   * const archive = await OciArchiveTarget.open("app.tar");
   * ```
   */
  static async open(path: string, options: ArchiveOpenOptions = {}): Promise<OciArchiveTarget> {
    // Taken before the file is read: what a writer adds to must be what the last one wrote.
    const lock = options.create ? await lockArchive(path) : undefined;
    try {
      const target = await OciArchiveTarget.#read(path, options);
      target.#lock = lock;
      target.#writing = options.create ?? false;
      return target;
    } catch (error) {
      await lock?.release();
      throw error;
    }
  }

  /** The archive at `path`, read and checked; see {@linkcode OciArchiveTarget.open}. */
  static async #read(path: string, options: ArchiveOpenOptions): Promise<OciArchiveTarget> {
    // Standard output, a fifo or a device: written through, never read; it starts empty.
    if (options.create && await isStreamed(path)) return new OciArchiveTarget(path);
    let archive: TarIndex;
    try {
      archive = await indexTar(path, { links: "refuse" });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      if (options.create) return new OciArchiveTarget(path);
      throw new NotFoundError(`no OCI archive at ${path}: the file does not exist`);
    }
    const notLayout = (missing: string) =>
      new NotFoundError(`${path} is not an OCI archive: it has no ${missing}`, {
        hint: archive.entries.has("manifest.json")
          ? `it looks like a docker save archive: write docker-archive:${path}`
          : undefined,
      });
    const layout = archive.entries.get("oci-layout");
    if (layout?.type !== "file") throw notLayout("oci-layout file");
    checkLayoutVersion(
      `${path}: oci-layout`,
      decoder.decode(await readSmallEntry(archive, layout)),
    );
    const indexEntry = archive.entries.get("index.json");
    if (indexEntry?.type !== "file") throw notLayout("index.json");
    const bytes = await readSmallEntry(archive, indexEntry);
    let doc;
    try {
      doc = parseManifestOrIndex(bytes);
    } catch (error) {
      throw new IntegrityError(
        `${path}: index.json is not a valid image index: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (doc.kind !== "index") {
      throw new IntegrityError(
        `${path}: index.json is a manifest (${doc.mediaType}), not an index`,
      );
    }
    return new OciArchiveTarget(path, archive, doc.index, bytes);
  }

  /**
   * The descriptor of a tag, or of a manifest digest; with no reference, the archive's only
   * `index.json` entry, as skopeo reads `oci-archive:FILE`. A digest not listed in `index.json`
   * is found when its blob is a manifest or index.
   *
   * @throws {NotFoundError} when nothing matches, or the archive is empty.
   * @throws {UsageError} when no reference is given and the archive holds several entries.
   * @example
   * ```ts
   * import { OciArchiveTarget } from "./oci.ts";
   * const archive = await OciArchiveTarget.open("app.tar");
   * const { digest } = await archive.resolve("v1");
   * ```
   */
  async resolve(reference?: string, options?: CallOptions): Promise<Descriptor> {
    this.#check(options);
    return await resolveEntry(
      this.name,
      await this.listEntries(),
      reference,
      (digest) => this.#describe(digest),
    );
  }

  /**
   * A manifest's or index's bytes, verified against the descriptor.
   *
   * @throws {NotFoundError} when the blob is not in the archive.
   * @throws {IntegrityError} when it does not match, or is larger than a manifest may be.
   * @example
   * ```ts
   * import { OciArchiveTarget } from "./oci.ts";
   * const archive = await OciArchiveTarget.open("app.tar");
   * const bytes = await archive.fetchManifest(await archive.resolve("v1"));
   * ```
   */
  async fetchManifest(descriptor: Descriptor, options?: CallOptions): Promise<Uint8Array> {
    this.#check(options);
    return await this.#readDocument(descriptor);
  }

  /**
   * A blob's bytes, read from the archive's byte range (or the staging layout, for a blob
   * pushed since opening). The stream errors with an {@linkcode IntegrityError} at its end when
   * they do not match the descriptor.
   *
   * @throws {NotFoundError} when the blob is not in the archive.
   * @example
   * ```ts
   * import { OciArchiveTarget } from "./oci.ts";
   * const archive = await OciArchiveTarget.open("app.tar");
   * const stream = await archive.fetchBlob(await archive.resolve("v1"));
   * ```
   */
  async fetchBlob(
    descriptor: Descriptor,
    options?: CallOptions,
  ): Promise<ReadableStream<Uint8Array>> {
    this.#check(options);
    return await this.#openBlob(descriptor);
  }

  /**
   * A blob's bytes from `offset`, unverified (see {@linkcode BlobRangeFetcher}): a registry
   * resumes an upload of a large blob with them.
   *
   * @throws {NotFoundError} when the blob is not in the archive.
   * @example
   * ```ts
   * import { OciArchiveTarget } from "./oci.ts";
   * const archive = await OciArchiveTarget.open("app.tar");
   * const rest = await archive.fetchBlobFrom(await archive.resolve("v1"), 100);
   * ```
   */
  async fetchBlobFrom(
    descriptor: Descriptor,
    offset: number,
    options?: CallOptions,
  ): Promise<ReadableStream<Uint8Array>> {
    this.#check(options);
    return await this.#openBlobFrom(descriptor, offset);
  }

  /**
   * Whether the archive (or what was pushed since opening) holds the blob. Its content is
   * checked when it is read.
   *
   * @example
   * ```ts
   * import { OciArchiveTarget } from "./oci.ts";
   * const archive = await OciArchiveTarget.open("app.tar");
   * await archive.hasBlob(await archive.resolve("v1")); // true
   * ```
   */
  async hasBlob(descriptor: Descriptor, options?: CallOptions): Promise<boolean> {
    this.#check(options);
    return await this.#blobSize(descriptor.digest) !== undefined;
  }

  /**
   * Stages a blob for the archive. A blob the archive holds already, with the same size, is
   * kept and `body` cancelled; it is verified when `close()` copies it.
   *
   * @throws {IntegrityError} when the body does not match the descriptor; nothing is kept.
   * @throws {UsageError} as {@linkcode OciArchiveTarget.pushManifest} does.
   * @example
   * ```ts
   * import { OciArchiveTarget } from "./oci.ts";
   * import { sha256Digest } from "../digest/mod.ts";
   * const bytes = new TextEncoder().encode("{}");
   * const archive = await OciArchiveTarget.open("out.tar", { create: true });
   * await archive.pushBlob(
   *   { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256Digest(bytes), size: 2 },
   *   ReadableStream.from([bytes]),
   * );
   * await archive.close(); // no manifest pushed: nothing written
   * ```
   */
  async pushBlob(
    descriptor: Descriptor,
    body: ReadableStream<Uint8Array>,
    options?: CallOptions,
  ): Promise<boolean> {
    return await cancelOnError(body, async () => {
      this.#check(options);
      if (this.#archiveBlob(descriptor.digest)?.size === descriptor.size) {
        await body.cancel();
        return false;
      }
      return await (await this.#stage()).pushBlob(descriptor, body, options);
    });
  }

  /**
   * Stages a manifest or index and lists it in the archive's `index.json`, as
   * `LayoutTarget.pushManifest` lists it in a layout: each tag's entry is replaced by (or
   * becomes) one for this descriptor; with no tags it is listed untagged, unless it is listed
   * already. The archive is written by `close()`.
   *
   * @throws {IntegrityError} when `bytes` do not match the descriptor.
   * @throws {UsageError} when the archive was opened for reading, or holds entries other than
   * its layout's, which writing it anew would drop.
   * @throws {NotFoundError} when an image manifest's config or layer is neither in the archive
   * (pushed first) nor expected ({@linkcode OciArchiveTarget.expectBlobs}).
   * @throws {UsageError} when a tag is not a valid `org.opencontainers.image.ref.name`.
   * @example
   * ```ts
   * import { OciArchiveTarget } from "./oci.ts";
   * import { sha256Digest } from "../digest/mod.ts";
   * const bytes = new TextEncoder().encode('{"schemaVersion":2,"manifests":[]}');
   * const archive = await OciArchiveTarget.open("out.tar", { create: true });
   * await archive.pushManifest(
   *   {
   *     mediaType: "application/vnd.oci.image.index.v1+json",
   *     digest: sha256Digest(bytes),
   *     size: bytes.length,
   *   },
   *   bytes,
   *   ["v1"],
   * );
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
    let parsed;
    try {
      parsed = parseManifestOrIndex(bytes, descriptor.mediaType);
    } catch {
      parsed = undefined; // an artifact of another shape: nothing to check
    }
    if (parsed?.kind === "manifest") {
      for (const blob of [parsed.manifest.config, ...parsed.manifest.layers]) {
        if (this.#expected.has(blob.digest)) continue;
        if (await this.#blobSize(blob.digest) !== undefined) continue;
        throw new NotFoundError(
          `manifest ${descriptor.digest} needs blob ${blob.digest}, which ${this.name} neither ` +
            "holds nor lists as expected",
        );
      }
    }
    await (await this.#stage()).pushManifest(descriptor, bytes, tags, options);
    this.#changed = true;
  }

  /**
   * The manifests of the archive whose `subject` is `subject`, as a layout finds them (see
   * `LayoutTarget.referrers`): an archive holds referrers (signatures, SBOMs) as manifests that
   * its `index.json` reaches, and a copy out of it carries them on with `--referrers`.
   *
   * @throws {IntegrityError} when a manifest does not match its descriptor or is malformed.
   * @example
   * ```ts
   * import { OciArchiveTarget } from "./oci.ts";
   * const archive = await OciArchiveTarget.open("app.tar");
   * for await (const referrer of archive.referrers(await archive.resolve("v1"))) {
   *   console.log(referrer.artifactType, referrer.digest);
   * }
   * ```
   */
  async *referrers(
    subject: Descriptor | string,
    artifactType?: string,
    options: CallOptions = {},
  ): AsyncIterable<Descriptor> {
    this.#check(options);
    // Loaded here: reading an image out of an archive needs none of it.
    const { referrersOfEntries } = await import("../layout/referrers.ts");
    yield* referrersOfEntries(
      await this.listEntries(),
      (descriptor) => this.fetchManifest(descriptor, options),
      subject,
      artifactType,
      options,
    );
  }

  /**
   * The tags, in `index.json` order, each once.
   *
   * @example
   * ```ts
   * import { OciArchiveTarget } from "./oci.ts";
   * const archive = await OciArchiveTarget.open("app.tar");
   * console.log(await Array.fromAsync(archive.tags()));
   * ```
   */
  async *tags(options?: CallOptions): AsyncIterable<string> {
    this.#check(options);
    yield* uniqueTags(await this.listEntries());
  }

  /**
   * The descriptors `index.json` lists, tagged or not, in its order; with what was pushed
   * since opening.
   *
   * @example
   * ```ts
   * import { OciArchiveTarget } from "./oci.ts";
   * const archive = await OciArchiveTarget.open("app.tar");
   * for (const entry of await archive.listEntries()) console.log(entry.digest);
   * ```
   */
  async listEntries(): Promise<Descriptor[]> {
    return this.#staging ? await (await this.#staging).listEntries() : this.#index.manifests;
  }

  /**
   * Writes the archive, when a manifest was pushed, removes the staging layout, and releases
   * the archive's lock. The new file holds `oci-layout`, `index.json`, then every blob
   * `index.json` reaches (from the old archive or the staging layout, each verified as it is
   * copied), sorted by digest, with mtime 0, uid and gid 0, and modes 0644 and 0755; it
   * replaces the old one by a rename. Blobs that nothing reaches any more (a tag's previous
   * image) are left out. Calling it again does nothing.
   *
   * @throws {IntegrityError} when a blob to copy does not match its digest, or a reachable
   * manifest cannot be read (see `walkReachable` of `../layout/gc.ts`); the old file is kept as
   * it was.
   * @throws {OcisyncError} when the file was created, replaced or changed since it was opened
   * (by another tool: ocisync's writers wait for the lock); it is left as that writer left it.
   * @example
   * ```ts
   * import { OciArchiveTarget } from "./oci.ts";
   * const archive = await OciArchiveTarget.open("out.tar", { create: true });
   * await archive.close(); // nothing pushed: nothing written
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const staging = this.#staging;
    try {
      if (this.#changed) await this.#write(await staging!);
    } finally {
      await endWrite(staging, this.#lock);
    }
  }

  /**
   * Drops what was pushed since opening, without writing the archive: for a copy that failed.
   *
   * @example
   * ```ts
   * import { OciArchiveTarget } from "./oci.ts";
   * const archive = await OciArchiveTarget.open("out.tar", { create: true });
   * await archive.discard();
   * ```
   */
  async discard(): Promise<void> {
    this.#closed = true;
    await endWrite(this.#staging, this.#lock);
  }

  /** Throws once the target is closed, or the call is cancelled. */
  #check(options?: CallOptions): void {
    options?.signal?.throwIfAborted();
    if (this.#closed) throw new OcisyncError(`${this.name} is closed`);
  }

  /** The staging layout, made at the first push and seeded with the archive's `index.json`. */
  #stage(): Promise<LayoutTarget> {
    if (!this.#writing) throw openedForReading(this.name);
    if (this.#staging === undefined && this.#archive) {
      refuseForeignEntries(this.path, this.#archive);
    }
    this.#staging ??= openStaging(this.path, this.#indexBytes);
    return this.#staging;
  }

  /** The archive's regular-file entry for a blob, if it has one. */
  #archiveBlob(digest: string): TarIndexEntry | undefined {
    if (!this.#archive || !isDigest(digest)) return undefined;
    const { algorithm, hex } = parseDigest(digest);
    const entry = this.#archive.entries.get(`blobs/${algorithm}/${hex}`);
    return entry?.type === "file" ? entry : undefined;
  }

  /** A blob's stored size, staged or in the archive; undefined when neither has it. */
  async #blobSize(digest: string): Promise<number | undefined> {
    if (this.#staging && isDigest(digest)) {
      const info = statOrUndefined(blobPath((await this.#staging).path, digest));
      if (info?.isFile) return info.size;
    }
    return this.#archiveBlob(digest)?.size;
  }

  /** A blob's verified bytes. */
  async #openBlob(descriptor: Descriptor): Promise<ReadableStream<Uint8Array>> {
    return (await this.#openBlobFrom(descriptor, 0))
      .pipeThrough(verifyingStream(descriptor, "blob"));
  }

  /** A blob's bytes from `offset`, unverified: staged ones first, then the archive's range. */
  async #openBlobFrom(
    descriptor: Descriptor,
    offset: number,
  ): Promise<ReadableStream<Uint8Array>> {
    const staging = this.#staging && await this.#staging;
    if (staging && await staging.hasBlob(descriptor)) {
      return await staging.fetchBlobFrom(descriptor, offset);
    }
    const entry = this.#archiveBlob(descriptor.digest);
    if (!this.#archive || !entry) {
      throw new NotFoundError(`blob ${descriptor.digest} not found in ${this.name}`);
    }
    return await openEntry(this.#archive, entry, offset);
  }

  /** A manifest's or index's verified bytes, refused when larger than a manifest may be. */
  async #readDocument(descriptor: Descriptor): Promise<Uint8Array> {
    if (descriptor.size > MAX_MANIFEST_BYTES) {
      throw new IntegrityError(
        `manifest ${descriptor.digest} has ${descriptor.size} bytes, over the limit of ` +
          `${MAX_MANIFEST_BYTES}`,
      );
    }
    return await new Response(await this.#openBlob(descriptor)).bytes();
  }

  /** A descriptor for an unlisted manifest blob, with the media type the document declares. */
  async #describe(digest: Descriptor["digest"]): Promise<Descriptor> {
    const size = await this.#blobSize(digest);
    if (size === undefined) throw new NotFoundError(`manifest ${digest} not found in ${this.name}`);
    const bytes = await this.#readDocument({ mediaType: "", digest, size });
    try {
      return { mediaType: parseManifestOrIndex(bytes).mediaType, digest, size };
    } catch (error) {
      throw new NotFoundError(`blob ${digest} in ${this.name} is not a manifest or index`, {
        cause: error,
      });
    }
  }

  /** Writes the archive from the staging layout's `index.json` and the blobs it reaches. */
  async #write(staging: LayoutTarget): Promise<void> {
    const layout = await Deno.readFile(`${staging.path}/oci-layout`);
    const blobs = await this.#reachable(await staging.listEntries());
    const index = await this.#withExpected(await Deno.readFile(`${staging.path}/index.json`));
    const files: ArchiveFile[] = [
      { name: "oci-layout", size: layout.length, open: () => Promise.resolve([layout]) },
      { name: "index.json", size: index.length, open: () => Promise.resolve([index]) },
      { name: "blobs/" },
    ];
    let folder = "";
    for (const [digest, size] of blobs) {
      const { algorithm, hex } = parseDigest(digest);
      if (algorithm !== folder) files.push({ name: `blobs/${algorithm}/` });
      folder = algorithm;
      files.push({
        name: `blobs/${algorithm}/${hex}`,
        size,
        open: () => this.#openBlob({ mediaType: "application/octet-stream", digest, size }),
      });
    }
    // A stream, a fifo or a device is written through: there is no file to find changed.
    const streamed = await isStreamed(this.path);
    await writeArchive(this.path, files, {
      beforeReplace: streamed ? undefined : () => this.#checkUnchanged(),
    });
  }

  /**
   * Throws unless the file is as this target read it: still absent, or still the file indexed.
   * ocisync's writers wait for the lock; another tool, or a writer through another name of the
   * file, does not, and its archive must not be overwritten unseen.
   */
  async #checkUnchanged(): Promise<void> {
    if (await this.#unchanged()) return;
    throw changedArchiveError(
      this.name,
      this.#archive !== undefined,
      "run the command again: it then adds to what the other wrote",
    );
  }

  async #unchanged(): Promise<boolean> {
    if (!this.#archive) return statOrUndefined(this.path) === undefined;
    try {
      // openEntry refuses a file replaced or rewritten since it was indexed.
      await (await openEntry(this.#archive, this.#archive.entries.get("oci-layout")!)).cancel();
      return true;
    } catch (error) {
      if (error instanceof OcisyncError || error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  }

  /**
   * `index.json` with its {@linkcode EXPECTED_BLOBS_ANNOTATION} listing the expected blobs the
   * archive does not hold, sorted; without it when there are none. Unchanged when it says so
   * already.
   */
  async #withExpected(bytes: Uint8Array): Promise<Uint8Array> {
    const index = JSON.parse(decoder.decode(bytes)) as Index;
    const expected: string[] = [];
    for (const digest of this.#expected) {
      if (isDigest(digest) && await this.#blobSize(digest) === undefined) expected.push(digest);
    }
    const value = expected.sort().join(",");
    const had = index.annotations?.[EXPECTED_BLOBS_ANNOTATION];
    if ((had ?? "") === value) return bytes;
    const annotations = { ...index.annotations };
    if (value) annotations[EXPECTED_BLOBS_ANNOTATION] = value;
    else delete annotations[EXPECTED_BLOBS_ANNOTATION];
    if (Object.keys(annotations).length > 0) index.annotations = annotations;
    else delete index.annotations;
    return new TextEncoder().encode(JSON.stringify(index));
  }

  /**
   * The blobs `entries` reach, as `walkReachable` of `../layout/gc.ts` finds them (a layout's gc
   * keeps the same), with their stored sizes, sorted by algorithm and hex. Children that are
   * missing are skipped, as a layout's gc skips them: skopeo keeps a whole index but only some
   * of its images.
   *
   * @throws {IntegrityError} when a reachable manifest or index is corrupt, or a listed document
   * of an unknown type that says it is JSON is not: its children cannot be known, and writing
   * without them would lose them.
   */
  async #reachable(entries: Descriptor[]): Promise<[Descriptor["digest"], number][]> {
    const sizes = new Map<Descriptor["digest"], number>();
    await walkReachable(entries, async (digest) => {
      const size = await this.#blobSize(digest);
      if (size === undefined) return false;
      sizes.set(digest, size);
      return true;
    }, (descriptor) => this.#readDocument(descriptor));
    return [...sizes].sort(([a], [b]) => {
      const [x, y] = [parseDigest(a), parseDigest(b)];
      return x.algorithm === y.algorithm
        ? compare(x.hex, y.hex)
        : compare(x.algorithm, y.algorithm);
    });
  }
}

/**
 * Refuses to add to an archive that holds more than an OCI layout, as a `docker save` of Docker
 * 25 or later does (`manifest.json`, `repositories`): the archive is written anew from its
 * layout, which would drop those entries, and the blobs that only they name.
 */
function refuseForeignEntries(path: string, archive: TarIndex): void {
  const foreign = [...archive.entries.values()].filter((entry) => !isLayoutEntry(entry));
  if (foreign.length === 0) return;
  const named = foreign.slice(0, 3).map((entry) => JSON.stringify(entry.name)).join(", ");
  const more = foreign.length > 3 ? ` and ${foreign.length - 3} more` : "";
  throw new UsageError(
    `${path} holds entries that are not its OCI layout's (${named}${more}); adding to it ` +
      "would drop them",
    { hint: "write into a new archive, then copy this one's images there too" },
  );
}

/** Whether an archive's entry belongs to its OCI layout: `oci-layout`, `index.json`, a blob. */
function isLayoutEntry(entry: TarIndexEntry): boolean {
  const [top, algorithm, hex, ...rest] = entry.name.split("/");
  if (entry.type === "directory") return top === "blobs" && hex === undefined;
  if (entry.type !== "file") return false;
  if (entry.name === "oci-layout" || entry.name === "index.json") return true;
  return top === "blobs" && rest.length === 0 && isDigest(`${algorithm}:${hex}`);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
