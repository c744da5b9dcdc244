/**
 * OCI image layout directories (image-spec `image-layout.md`) as a
 * {@linkcode Target}: blobs in `blobs/<alg>/<hex>`, tags as the
 * `org.opencontainers.image.ref.name` annotation of `index.json` entries.
 *
 * Blobs are verified before they are renamed into place, so a layout never
 * holds a partial or wrong blob. Changes to `index.json` are atomic and
 * serialised across processes by the lock file `index.json.lock` (see
 * `lock.ts`); readers need no lock. Layouts written by other tools (tested
 * with skopeo and umoci), with nested indexes and untagged entries, are read
 * as they are.
 *
 * Referrers (signatures, SBOMs) are ordinary manifests in a layout, listed in
 * `index.json` like any other, whose `subject` names the image: a
 * {@linkcode LayoutTarget} lists them by reading its manifests
 * (`ReferrerLister`, see `../oci/target.ts`).
 *
 * @example
 * ```ts
 * import { LayoutTarget } from "./mod.ts";
 * const layout = await LayoutTarget.open("./images", { create: true });
 * for await (const tag of layout.tags()) console.log(tag);
 * ```
 * @module
 */
import { verifyBytes, verifyingStream } from "../digest/verify.ts";
import { NotFoundError } from "../errors/mod.ts";
import { writeFileAtomic } from "../fs/atomic.ts";
import type {
  BlobRangeFetcher,
  CallOptions,
  Closer,
  ReferrerLister,
  Target,
} from "../oci/target.ts";
import { type Descriptor, parseManifestOrIndex } from "../oci/types.ts";
import {
  blobPath,
  cancelOnError,
  checkBlobFolders,
  checkLayout,
  openBlob,
  openBlobFrom,
  readIndex,
  readManifestBlob,
  REF_NAME_ANNOTATION,
  refName,
  resolveEntry,
  tagSummary,
  uniqueTags,
  updateIndex,
} from "./format.ts";
import { lstatOrUndefined } from "../fs/stat.ts";
import { checkLayoutTag } from "../ref/mod.ts";
import { type CreatedLayout, createLayout, releaseCreatedLayout } from "./created.ts";
import type { GcResult } from "./gc.ts";

export type { GcResult } from "./gc.ts";
export { REF_NAME_ANNOTATION } from "./format.ts";
// Re-exported so that this module's documentation is complete on its own.
export type { Digest } from "../digest/parse.ts";
export type { Descriptor, Platform } from "../oci/types.ts";
export type {
  BlobRangeFetcher,
  CallOptions,
  Closer,
  ReferrerLister,
  Target,
} from "../oci/target.ts";

/** Options of {@linkcode LayoutTarget.open}. */
export interface LayoutOpenOptions {
  /**
   * Create the directory, `oci-layout` and an empty `index.json` where missing. A directory
   * created so is taken back by {@linkcode LayoutTarget.close} (or by a stop signal) when
   * nothing was listed in it: see `./created.ts`.
   */
  create?: boolean;
  /**
   * The layout holds only some of its images' blobs, by design: an archive's staging layout,
   * whose other blobs are in the archive or expected elsewhere, and which the archive checks
   * itself. Manifests are then listed without checking that their blobs are here.
   */
  partial?: boolean;
}

/**
 * An OCI image layout directory.
 *
 * @example
 * ```ts
 * import { LayoutTarget } from "./mod.ts";
 * const layout = await LayoutTarget.open("./images");
 * const descriptor = await layout.resolve("v1");
 * const manifest = await layout.fetchManifest(descriptor);
 * ```
 */
export class LayoutTarget implements Target, BlobRangeFetcher, ReferrerLister, Closer {
  /** `oci:PATH`. */
  readonly name: string;
  /** The layout directory. */
  readonly path: string;

  /** See {@linkcode LayoutOpenOptions.partial}. */
  readonly #partial: boolean;
  /** The directory, when `open` created it: until `close`, this run may take it back. */
  #created: CreatedLayout | undefined;

  private constructor(path: string, partial: boolean, created: CreatedLayout | undefined) {
    this.path = path;
    this.name = `oci:${path}`;
    this.#partial = partial;
    this.#created = created;
  }

  /**
   * Opens the layout at `path`, checking `oci-layout` and `index.json`.
   *
   * @throws {NotFoundError} when there is no layout at `path` and `create` is not set.
   * @throws {OcisyncError} when `oci-layout` has a version other than 1.0.0, or a file is
   * malformed.
   * @example
   * ```ts
   * import { LayoutTarget } from "./mod.ts";
   * const layout = await LayoutTarget.open("./images", { create: true });
   * ```
   */
  static async open(path: string, options: LayoutOpenOptions = {}): Promise<LayoutTarget> {
    const root = path.replace(/(?<=.)\/+$/, "");
    const created = options.create ? await createLayout(root) : undefined;
    try {
      await checkLayout(root);
    } catch (error) {
      if (created) releaseCreatedLayout(created);
      throw error;
    }
    return new LayoutTarget(root, options.partial ?? false, created);
  }

  /**
   * Ends the use of the layout. One that {@linkcode LayoutTarget.open} created, and in which
   * nothing is listed (a copy or push that failed, or had nothing to write), is removed, with
   * the parent folders made for it, as an archive that nothing was pushed to is not written:
   * a failed run leaves no empty layout behind. It stays when another writer has listed an
   * image in it, or put anything else there (see `./created.ts`). Calling it again does nothing.
   *
   * @example
   * ```ts
   * import { LayoutTarget } from "./mod.ts";
   * const layout = await LayoutTarget.open("./new-images", { create: true });
   * await layout.close(); // nothing listed: ./new-images is gone
   * ```
   */
  close(): Promise<void> {
    const created = this.#created;
    this.#created = undefined;
    if (created) releaseCreatedLayout(created);
    return Promise.resolve();
  }

  /**
   * The descriptor of a tag, or of a manifest digest. A digest not listed in `index.json` is
   * still found when its blob is a manifest or index; its media type is then read from the blob.
   * With no reference (`oci:PATH` alone), the layout's only `index.json` entry, as skopeo
   * picks it: a layout with several entries needs a tag or digest, for guessing would copy the
   * wrong image.
   *
   * @throws {NotFoundError} when nothing matches (for a tag, the message lists the layout's
   * tags), or no reference is given and the layout is empty.
   * @throws {UsageError} when no reference is given and the layout holds several entries.
   * @example
   * ```ts
   * import { LayoutTarget } from "./mod.ts";
   * const layout = await LayoutTarget.open("./images");
   * const { digest } = await layout.resolve("v1");
   * ```
   */
  async resolve(reference?: string, options: CallOptions = {}): Promise<Descriptor> {
    options.signal?.throwIfAborted();
    return await resolveEntry(
      this.name,
      await this.listEntries(),
      reference,
      (digest) => this.#describe(digest),
    );
  }

  /**
   * {@linkcode LayoutTarget.resolve}, kept by this name: with no reference (`oci:PATH` alone) it
   * picks the layout's only `index.json` entry, as skopeo does. A layout with several entries
   * needs a tag or digest, for guessing would copy the wrong image.
   *
   * @throws {NotFoundError} when the layout is empty or the reference is not found.
   * @throws {UsageError} when no reference is given and the layout holds several entries.
   * @example
   * ```ts
   * import { LayoutTarget } from "./mod.ts";
   * import { parseLayoutReference, referenceString } from "../ref/mod.ts";
   * const ref = parseLayoutReference("oci:./images");
   * const layout = await LayoutTarget.open(ref.path);
   * const descriptor = await layout.resolveOrDefault(referenceString(ref));
   * ```
   */
  resolveOrDefault(reference: string | undefined): Promise<Descriptor> {
    return this.resolve(reference);
  }

  /**
   * A manifest's or index's bytes, verified against the descriptor.
   *
   * @throws {NotFoundError} when the blob is missing.
   * @throws {IntegrityError} when the file does not match the descriptor.
   * @example
   * ```ts
   * import { LayoutTarget } from "./mod.ts";
   * const layout = await LayoutTarget.open("./images");
   * const bytes = await layout.fetchManifest(await layout.resolve("v1"));
   * ```
   */
  fetchManifest(descriptor: Descriptor, options: CallOptions = {}): Promise<Uint8Array> {
    options.signal?.throwIfAborted();
    return readManifestBlob(this.path, descriptor);
  }

  /**
   * A blob's bytes. The stream errors with an {@linkcode IntegrityError} at its end when the file
   * does not match the descriptor.
   *
   * @throws {NotFoundError} when the blob is missing.
   * @example
   * ```ts
   * import { LayoutTarget } from "./mod.ts";
   * const layout = await LayoutTarget.open("./images");
   * const stream = await layout.fetchBlob(await layout.resolve("v1"));
   * ```
   */
  async fetchBlob(
    descriptor: Descriptor,
    options: CallOptions = {},
  ): Promise<ReadableStream<Uint8Array>> {
    options.signal?.throwIfAborted();
    return stoppable(await openBlob(this.path, descriptor), options.signal);
  }

  /**
   * A blob's bytes from `offset` to the end of its file, unverified (see
   * {@linkcode BlobRangeFetcher}): a registry resumes an upload of a large blob with them.
   *
   * @throws {NotFoundError} when the blob is missing.
   * @example
   * ```ts
   * import { LayoutTarget } from "./mod.ts";
   * const layout = await LayoutTarget.open("./images");
   * const rest = await layout.fetchBlobFrom(await layout.resolve("v1"), 100);
   * ```
   */
  async fetchBlobFrom(
    descriptor: Descriptor,
    offset: number,
    options: CallOptions = {},
  ): Promise<ReadableStream<Uint8Array>> {
    options.signal?.throwIfAborted();
    return stoppable(await openBlobFrom(this.path, descriptor, offset), options.signal);
  }

  /**
   * Whether the blob's file exists. Its content is checked when it is read.
   *
   * @example
   * ```ts
   * import { LayoutTarget } from "./mod.ts";
   * const layout = await LayoutTarget.open("./images");
   * await layout.hasBlob(await layout.resolve("v1")); // true
   * ```
   */
  hasBlob(descriptor: Descriptor, options: CallOptions = {}): Promise<boolean> {
    return Promise.try(() => {
      options.signal?.throwIfAborted();
      return lstatOrUndefined(blobPath(this.path, descriptor.digest))?.isFile ?? false;
    });
  }

  /**
   * Stores a blob. An existing blob is kept and `body` cancelled. Otherwise the body is
   * written to a temporary file in `blobs/<alg>/`, synced, and renamed into place only once its
   * digest and size have been verified; on any failure the temporary file is removed.
   *
   * @throws {IntegrityError} when the body does not match the descriptor; nothing is written.
   * @example
   * ```ts
   * import { LayoutTarget } from "./mod.ts";
   * import { sha256Digest } from "../digest/mod.ts";
   * const bytes = new TextEncoder().encode("{}");
   * const layout = await LayoutTarget.open("./images", { create: true });
   * await layout.pushBlob(
   *   { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256Digest(bytes), size: 2 },
   *   ReadableStream.from([bytes]),
   * );
   * ```
   */
  async pushBlob(
    descriptor: Descriptor,
    body: ReadableStream<Uint8Array>,
    options: CallOptions = {},
  ): Promise<boolean> {
    const { signal } = options;
    return await cancelOnError(body, async () => {
      signal?.throwIfAborted();
      const path = blobPath(this.path, descriptor.digest);
      // A link is no blob of this layout: it is replaced, and nothing is done through it.
      const existing = lstatOrUndefined(path);
      // A blob of another size is a truncated file from a writer that did not rename: replace it.
      // A reused blob gets a fresh atime, so that gc's grace period keeps it until the manifest
      // that lists it is; one that gc removed meanwhile is written again.
      if (existing?.isFile && existing.size === descriptor.size && await markUsed(path, existing)) {
        await body.cancel();
        return false;
      }
      await makeBlobFolder(this.path, path.slice(0, path.lastIndexOf("/")));
      checkBlobFolders(this.path);
      // A stop between chunks fails the write, which removes its temporary file.
      const verified = stoppable(body, signal).pipeThrough(verifyingStream(descriptor, "blob"));
      await writeFileAtomic(path, verified, { replacePath: true });
      return true;
    });
  }

  /**
   * Stores a manifest or index and lists it in `index.json`: each tag's entry is replaced by
   * (or becomes) one for this descriptor, with its `platform`, `artifactType` and annotations.
   * With no tags the manifest is listed untagged, unless it is listed already. An index takes
   * the untagged entries of the manifests it lists (pushed before it, as children are): they are
   * reached through it, so a layout of one multi-platform image has one entry, and a tag moved
   * to another image leaves nothing of the old one listed for gc to keep.
   *
   * @throws {IntegrityError} when `bytes` do not match the descriptor.
   * @throws {NotFoundError} when an image manifest's config or a layer is not in the layout:
   * push its blobs first.
   * @throws {UsageError} when a tag is not a valid `org.opencontainers.image.ref.name`.
   * @example
   * ```ts
   * import { LayoutTarget } from "./mod.ts";
   * import { sha256Digest } from "../digest/mod.ts";
   * const bytes = new TextEncoder().encode('{"schemaVersion":2,"manifests":[]}');
   * const layout = await LayoutTarget.open("./images", { create: true });
   * await layout.pushManifest(
   *   {
   *     mediaType: "application/vnd.oci.image.index.v1+json",
   *     digest: sha256Digest(bytes),
   *     size: bytes.length,
   *   },
   *   bytes,
   *   ["v1"],
   * );
   * ```
   */
  async pushManifest(
    descriptor: Descriptor,
    bytes: Uint8Array,
    tags: string[],
    options: CallOptions = {},
  ): Promise<void> {
    const { signal } = options;
    signal?.throwIfAborted();
    for (const tag of tags) checkLayoutTag(tag);
    // Verified here because pushBlob skips the bytes of a blob that is already stored.
    await verifyBytes(bytes, descriptor, "manifest");
    await this.#checkBlobsOf(descriptor, bytes);
    await this.pushBlob(descriptor, ReadableStream.from([bytes]), options);
    const children = childrenOf(descriptor, bytes);
    // The last point to stop: once listed, the manifest is there.
    signal?.throwIfAborted();
    await updateIndex(this.path, (index) => {
      const before = index.manifests.length;
      // An untagged entry only keeps a manifest listed: this index does it for its children.
      index.manifests = index.manifests.filter((d) =>
        refName(d) !== undefined || !children.has(d.digest)
      );
      if (tags.length === 0) {
        if (index.manifests.some((d) => d.digest === descriptor.digest)) {
          // Written only when children's entries went.
          return index.manifests.length === before ? false : undefined;
        }
        index.manifests.push(indexEntry(descriptor));
        return;
      }
      // An untagged entry only keeps the manifest listed, which the tagged ones now do.
      let entries = index.manifests.filter((d) =>
        d.digest !== descriptor.digest || refName(d) !== undefined
      );
      for (const tag of tags) {
        const at = entries.findIndex((d) => refName(d) === tag);
        entries = entries.filter((d) => refName(d) !== tag);
        entries.splice(at < 0 ? entries.length : at, 0, indexEntry(descriptor, tag));
      }
      index.manifests = entries;
    });
  }

  /**
   * Throws unless the layout holds the config and layers of an image manifest: listed without
   * them, the image could be read by tag but not pulled, and gc would keep it so. A document of
   * another shape is not judged.
   */
  async #checkBlobsOf(descriptor: Descriptor, bytes: Uint8Array): Promise<void> {
    if (this.#partial) return;
    let parsed;
    try {
      parsed = parseManifestOrIndex(bytes, descriptor.mediaType);
    } catch {
      return; // an artifact of another shape: nothing to check
    }
    if (parsed.kind !== "manifest") return;
    for (const blob of [parsed.manifest.config, ...parsed.manifest.layers]) {
      if (await this.hasBlob(blob)) continue;
      throw new NotFoundError(
        `manifest ${descriptor.digest} needs blob ${blob.digest}, which ${this.name} does not ` +
          "hold: push its blobs first",
      );
    }
  }

  /**
   * The tags, in `index.json` order, each once.
   *
   * @example
   * ```ts
   * import { LayoutTarget } from "./mod.ts";
   * const layout = await LayoutTarget.open("./images");
   * console.log(await Array.fromAsync(layout.tags()));
   * ```
   */
  async *tags(options: CallOptions = {}): AsyncIterable<string> {
    options.signal?.throwIfAborted();
    yield* uniqueTags(await this.listEntries());
  }

  /**
   * The manifests and indexes of the layout whose `subject` is `subject`, as the referrers API
   * describes them: media type, digest, size, `artifactType` (the manifest's, else its config's
   * media type) and the manifest's annotations. An OCI image layout holds referrers as ordinary
   * manifests, so every manifest that `index.json` reaches, through nested indexes too, is read
   * once (manifests only, never layers); blobs the layout lacks are passed over. The entries of
   * an index tagged `<algorithm>-<hex>` (the distribution-spec's fallback tag schema, as some
   * tools keep referrers) count too. With `artifactType`, only the referrers of that type.
   * `subject` may also be given as a bare digest.
   *
   * @throws {IntegrityError} when a manifest does not match its descriptor or is malformed.
   * @example
   * ```ts
   * import { LayoutTarget } from "./mod.ts";
   * const layout = await LayoutTarget.open("./images");
   * const image = await layout.resolve("v1");
   * for await (const referrer of layout.referrers(image)) {
   *   console.log(referrer.artifactType, referrer.digest);
   * }
   * ```
   */
  async *referrers(
    subject: Descriptor | string,
    artifactType?: string,
    options: CallOptions = {},
  ): AsyncIterable<Descriptor> {
    // Loaded here: opening a layout to read an image needs none of it.
    const { referrersOfEntries } = await import("./referrers.ts");
    yield* referrersOfEntries(
      await this.listEntries(),
      (descriptor: Descriptor) => readManifestBlob(this.path, descriptor),
      subject,
      artifactType,
      options,
    );
  }

  /**
   * The descriptors `index.json` lists, tagged or not, in its order.
   *
   * @example
   * ```ts
   * import { LayoutTarget } from "./mod.ts";
   * const layout = await LayoutTarget.open("./images");
   * for (const entry of await layout.listEntries()) console.log(entry.digest);
   * ```
   */
  async listEntries(): Promise<Descriptor[]> {
    return (await readIndex(this.path)).manifests;
  }

  /**
   * Removes the `index.json` entries with this tag. Their blobs stay until
   * {@linkcode gcLayout} finds them unreachable.
   *
   * @throws {NotFoundError} when no entry has the tag.
   * @example
   * ```ts
   * import { gcLayout, LayoutTarget } from "./mod.ts";
   * const layout = await LayoutTarget.open("./images");
   * await layout.removeTag("old");
   * await gcLayout(layout.path);
   * ```
   */
  async removeTag(tag: string): Promise<void> {
    let remaining: Descriptor[] | undefined;
    await updateIndex(this.path, (index) => {
      const kept = index.manifests.filter((d) => refName(d) !== tag);
      if (kept.length === index.manifests.length) {
        remaining = kept;
        return false;
      }
      index.manifests = kept;
    });
    if (remaining) {
      throw new NotFoundError(`tag "${tag}" not found in ${this.name}: ${tagSummary(remaining)}`);
    }
  }

  /** A descriptor for an unlisted manifest blob, with the media type the document declares. */
  async #describe(digest: string): Promise<Descriptor> {
    const info = lstatOrUndefined(blobPath(this.path, digest));
    if (!info?.isFile) throw new NotFoundError(`manifest ${digest} not found in ${this.name}`);
    const descriptor = { mediaType: "", digest: digest as Descriptor["digest"], size: info.size };
    const bytes = await readManifestBlob(this.path, descriptor);
    try {
      return { ...descriptor, mediaType: parseManifestOrIndex(bytes).mediaType };
    } catch (error) {
      throw new NotFoundError(`blob ${digest} in ${this.name} is not a manifest or index`, {
        cause: error,
      });
    }
  }
}

/**
 * Removes the blobs of the layout at `path` that `index.json` does not reach and that are older
 * than the grace period (`options.graceMs`, default one hour): `gcLayout` of `./gc.ts`, which
 * documents it, loaded at the call so that reading a layout does not evaluate it.
 *
 * @example
 * ```ts
 * import { gcLayout } from "./mod.ts";
 * const { removed, freedBytes } = await gcLayout("./images", { graceMs: 0 });
 * console.log(`removed ${removed.length} blobs (${freedBytes} bytes)`);
 * ```
 */
export async function gcLayout(
  path: string,
  options: { graceMs?: number } = {},
): Promise<GcResult> {
  const gc = await import("./gc.ts");
  return await gc.gcLayout(path, options);
}

/**
 * Makes `blobs/` and the blob folder `folder` of the layout `root` where missing, never `root`:
 * a layout removed meanwhile (its creator's run failed) is not made again as a folder of blobs.
 */
async function makeBlobFolder(root: string, folder: string): Promise<void> {
  for (const path of [`${root}/blobs`, folder]) {
    try {
      await Deno.mkdir(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
  }
}

/** Sets a file's atime to now, keeping its mtime; false when it is gone. */
async function markUsed(path: string, info: Deno.FileInfo): Promise<boolean> {
  const now = new Date();
  try {
    await Deno.utime(path, now, info.mtime ?? now);
  } catch (error) {
    // Someone else's blob keeps its mtime (EPERM): it is still there to reuse.
    if (error instanceof Deno.errors.NotFound) return false;
  }
  return true;
}

/** The stream, erroring with the signal's reason at the first chunk after it aborts. */
function stoppable(
  stream: ReadableStream<Uint8Array>,
  signal: AbortSignal | undefined,
): ReadableStream<Uint8Array> {
  if (signal === undefined) return stream;
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        signal.throwIfAborted();
        controller.enqueue(chunk);
      },
    }),
  );
}

/** The `index.json` entry for a descriptor: its own `ref.name` replaced by `tag`, no `data`. */
/** The digests an index lists; none for a manifest, or for bytes of another shape. */
function childrenOf(descriptor: Descriptor, bytes: Uint8Array): Set<string> {
  try {
    const parsed = parseManifestOrIndex(bytes, descriptor.mediaType);
    return new Set(parsed.kind === "index" ? parsed.index.manifests.map((d) => d.digest) : []);
  } catch {
    return new Set();
  }
}

function indexEntry(descriptor: Descriptor, tag?: string): Descriptor {
  const { data: _data, annotations = {}, ...entry } = descriptor;
  const { [REF_NAME_ANNOTATION]: _source, ...kept } = annotations;
  if (tag !== undefined) kept[REF_NAME_ANNOTATION] = tag;
  return Object.keys(kept).length > 0 ? { ...entry, annotations: kept } : entry;
}
