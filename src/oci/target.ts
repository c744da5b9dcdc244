/**
 * The one interface every place that stores images implements: a registry
 * repository, or an OCI image layout directory. `push`, `pull`, `copy` and
 * `sync` are written once against it.
 *
 * Beside {@linkcode Target}, a place may have optional capabilities:
 * {@linkcode Mounter}, {@linkcode ReferenceFetcher}, {@linkcode BlobRangeFetcher},
 * {@linkcode BlobWriter}, {@linkcode ReferrerLister}, {@linkcode TagPager},
 * {@linkcode PushAuthenticator}, {@linkcode Closer} and {@linkcode Discarder}. They are found by
 * checking for the method, with the type guards here, never by class, so that
 * a new kind of place (or a wrapper) gains them by having the method.
 *
 * @example
 * ```ts
 * import { isCloser, isReferrerLister, type Target } from "./target.ts";
 * import type { Descriptor } from "./types.ts";
 * async function signaturesOf(target: Target, image: Descriptor) {
 *   if (!isReferrerLister(target)) return [];
 *   return await Array.fromAsync(target.referrers(image, "application/vnd.dev.sigstore.bundle"));
 * }
 * async function done(target: Target) {
 *   if (isCloser(target)) await target.close();
 * }
 * ```
 * @module
 */
import type { Descriptor } from "./types.ts";

/**
 * What every {@linkcode Target} method takes last: a signal that stops the call. A registry
 * ends the request under way at once; a layout stops between its steps (it never leaves a
 * partial blob, as blobs become visible only once verified).
 *
 * @example
 * ```ts
 * import type { CallOptions } from "./target.ts";
 * const options: CallOptions = { signal: AbortSignal.timeout(60_000) };
 * ```
 */
export interface CallOptions {
  /** Stops the call; it then throws the signal's reason. */
  signal?: AbortSignal;
}

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
  /**
   * Resolves a tag or digest to the manifest's descriptor; a `HEAD` where possible. Without a
   * reference, the place's default: `latest` in a registry, the only image in a layout.
   */
  resolve(reference?: string, options?: CallOptions): Promise<Descriptor>;
  /** The manifest's bytes, verified against `descriptor.digest`. */
  fetchManifest(descriptor: Descriptor, options?: CallOptions): Promise<Uint8Array>;
  /** A blob's bytes; the stream errors if they do not match the descriptor. */
  fetchBlob(descriptor: Descriptor, options?: CallOptions): Promise<ReadableStream<Uint8Array>>;
  /** Whether the blob is already stored. */
  hasBlob(descriptor: Descriptor, options?: CallOptions): Promise<boolean>;
  /**
   * Stores a blob, unless the target has it already: then the body is cancelled unread and the
   * answer is false. The bytes are verified before they become visible.
   */
  pushBlob(
    descriptor: Descriptor,
    body: ReadableStream<Uint8Array>,
    options?: CallOptions,
  ): Promise<boolean>;
  /** Stores a manifest under its digest and each of `tags`. */
  pushManifest(
    descriptor: Descriptor,
    bytes: Uint8Array,
    tags: string[],
    options?: CallOptions,
  ): Promise<void>;
  /** Lists the tags. */
  tags(options?: CallOptions): AsyncIterable<string>;
}

/**
 * How {@linkcode Mounter.mountBlob} stored a blob: linked from the source without sending it,
 * sent from the fallback's bytes, or not at all because the target had it.
 *
 * @example
 * ```ts
 * import type { MountResult } from "./target.ts";
 * const sent: MountResult = "copied";
 * ```
 */
export type MountResult = "mounted" | "copied" | "present";

/**
 * A target that can link a blob from another target without its bytes passing through the
 * client: a registry mounting from another repository of the same registry (oras-go's
 * `registry.Mounter`). The call finishes the blob whatever happens: when the mount cannot be
 * made, or the registry starts an ordinary upload instead, the fallback's bytes are sent (into
 * that very upload), so nothing is left half done for a later call.
 *
 * @example
 * ```ts
 * import { isMounter, type Target } from "./target.ts";
 * import type { Descriptor } from "./types.ts";
 * async function copyBlob(from: Target, to: Target, blob: Descriptor) {
 *   if (isMounter(to)) return await to.mountBlob(blob, from, () => from.fetchBlob(blob));
 *   return await to.pushBlob(blob, await from.fetchBlob(blob)) ? "copied" : "present";
 * }
 * ```
 */
export interface Mounter {
  /**
   * Stores `descriptor`'s blob by mounting it from `from` where this target can, else by
   * sending the bytes that `fallback` opens (verified, as {@linkcode Target.pushBlob} verifies
   * them). `fallback` is called at most once, and only when the bytes are needed.
   */
  mountBlob(
    descriptor: Descriptor,
    from: Target,
    fallback: () => Promise<ReadableStream<Uint8Array>>,
    options?: CallOptions,
  ): Promise<MountResult>;
}

/**
 * A manifest fetched by tag or digest, with the descriptor that describes it.
 *
 * @example
 * ```ts
 * import type { FetchedManifest } from "./target.ts";
 * function sizeOf(fetched: FetchedManifest): number {
 *   return fetched.descriptor.size;
 * }
 * ```
 */
export interface FetchedManifest {
  /** Media type, digest (of the bytes) and size. */
  descriptor: Descriptor;
  /** The manifest's bytes. */
  bytes: Uint8Array;
}

/**
 * A target that resolves a tag and reads its manifest in one request (oras-go's
 * `registry.ReferenceFetcher`): a registry answers a manifest `GET` by tag with the bytes, whose
 * hash is the digest. A caller that reads the manifest next (a copy) so asks once where
 * {@linkcode Target.resolve} and {@linkcode Target.fetchManifest} ask twice; the target keeps the
 * bytes for the next `fetchManifest` of that digest, so that code written against `Target`
 * gains too.
 *
 * @example
 * ```ts
 * import { isReferenceFetcher, type Target } from "./target.ts";
 * async function digestOf(target: Target, tag: string) {
 *   if (isReferenceFetcher(target)) return (await target.fetchReference(tag)).descriptor.digest;
 *   return (await target.resolve(tag)).digest;
 * }
 * ```
 */
export interface ReferenceFetcher {
  /**
   * The descriptor and bytes of the manifest that `reference` (a tag or digest) names, checked
   * as {@linkcode Target.fetchManifest} checks them.
   */
  fetchReference(reference: string, options?: CallOptions): Promise<FetchedManifest>;
}

/**
 * A target that reads a blob from any offset, as a layout reads its files: a large blob of it
 * goes up to a registry in one streamed request, which resumes after a failure from the offset
 * the registry reports instead of sending the bytes in chunks held for a resend.
 *
 * @example
 * ```ts
 * import { isBlobRangeFetcher, type Target } from "./target.ts";
 * import type { Descriptor } from "./types.ts";
 * async function rest(target: Target, blob: Descriptor, offset: number) {
 *   if (isBlobRangeFetcher(target)) return await target.fetchBlobFrom(blob, offset);
 *   return undefined;
 * }
 * ```
 */
export interface BlobRangeFetcher {
  /**
   * The blob's bytes from `offset` to its end. They are not verified: only the whole blob can
   * be checked against its digest, which the reader of the rest does (a registry's closing
   * `PUT` does). {@linkcode Target.fetchBlob} reads the whole blob, verified.
   *
   * @throws {NotFoundError} when the blob is missing.
   */
  fetchBlobFrom(
    descriptor: Descriptor,
    offset: number,
    options?: CallOptions,
  ): Promise<ReadableStream<Uint8Array>>;
}

/**
 * A target that takes a blob's bytes before their digest is known, as containerd's content
 * writers do: the bytes go up while the caller hashes the same file elsewhere, and the blob is
 * then committed under its descriptor, which the target verifies, or dropped. A large layer file
 * is so sent without waiting for a pass over it first.
 *
 * @example
 * ```ts
 * import { isBlobWriter, type Target } from "./target.ts";
 * import type { Descriptor } from "./types.ts";
 * async function send(to: Target, size: number, body: ReadableStream<Uint8Array>,
 *   hashed: Promise<Descriptor>) {
 *   if (!isBlobWriter(to)) return;
 *   const pending = to.writeBlob(size, body);
 *   const descriptor = await hashed;
 *   if (await to.hasBlob(descriptor)) await pending.abort();
 *   else await pending.commit(descriptor);
 * }
 * ```
 */
export interface BlobWriter {
  /**
   * Starts sending a blob of `size` bytes from `body`, a stream that can be read again from an
   * offset (`reopenable` of `../remote/registry.ts`), so that a broken transfer resumes. Nothing
   * is stored until {@linkcode PendingBlob.commit}.
   */
  writeBlob(size: number, body: ReadableStream<Uint8Array>, options?: CallOptions): PendingBlob;
}

/** A blob being sent by {@linkcode BlobWriter.writeBlob}, not stored yet. */
export interface PendingBlob {
  /**
   * Waits for the bytes to be sent, then stores them as `descriptor`'s blob; the target refuses
   * bytes that do not have its digest (`IntegrityError`). Throws the transfer's error.
   */
  commit(descriptor: Descriptor): Promise<void>;
  /** Stops the transfer, and drops what was sent: nothing is stored. */
  abort(reason?: unknown): Promise<void>;
}

/**
 * A target that lists the manifests whose `subject` is a given manifest: signatures, SBOMs and
 * other artifacts attached to an image (oras-go's `registry.ReferrerLister`).
 *
 * @example
 * ```ts
 * import { isReferrerLister, type Target } from "./target.ts";
 * import type { Descriptor } from "./types.ts";
 * async function countReferrers(target: Target, image: Descriptor) {
 *   if (!isReferrerLister(target)) return 0;
 *   return (await Array.fromAsync(target.referrers(image))).length;
 * }
 * ```
 */
export interface ReferrerLister {
  /**
   * The descriptors of the manifests that refer to `subject`, each with its `artifactType` and
   * annotations; only those of `artifactType` when it is given.
   */
  referrers(
    subject: Descriptor,
    artifactType?: string,
    options?: CallOptions,
  ): AsyncIterable<Descriptor>;
}

/**
 * What {@linkcode TagPager.tagsPage} asks for.
 *
 * @example
 * ```ts
 * import type { TagsPageOptions } from "./target.ts";
 * const second: TagsPageOptions = { n: 100, last: "v1.99" };
 * ```
 */
export interface TagsPageOptions extends CallOptions {
  /** The page size. The place may send fewer tags, or ignore it. */
  n?: number;
  /** The tag after which the page starts: the `last` of the previous page. */
  last?: string;
}

/**
 * One page of a repository's tags.
 *
 * @example
 * ```ts
 * import type { TagsPage } from "./target.ts";
 * const page: TagsPage = { tags: ["v1", "v2"], last: "v2" };
 * ```
 */
export interface TagsPage {
  /** The tags, in the place's order. */
  tags: string[];
  /** Pass as {@linkcode TagsPageOptions.last} for the next page; absent on the last page. */
  last?: string;
}

/**
 * A target whose tags can be read one page at a time, so that a caller who wants a few need
 * not list thousands.
 *
 * @example
 * ```ts
 * import { isTagPager, type Target } from "./target.ts";
 * async function firstTags(target: Target): Promise<string[]> {
 *   if (isTagPager(target)) return (await target.tagsPage({ n: 10 })).tags;
 *   return (await Array.fromAsync(target.tags())).slice(0, 10);
 * }
 * ```
 */
export interface TagPager {
  /** One page of tags, from after `options.last`. */
  tagsPage(options?: TagsPageOptions): Promise<TagsPage>;
}

/**
 * A target that can check now that it may be written to, so that a command fails on refused
 * credentials before it packs or sends anything.
 *
 * @example
 * ```ts
 * import { isPushAuthenticator, type Target } from "./target.ts";
 * async function checkFirst(target: Target) {
 *   if (isPushAuthenticator(target)) await target.authenticateForPush();
 * }
 * ```
 */
export interface PushAuthenticator {
  /** Authenticates for writing, or throws an `AuthError`. */
  authenticateForPush(options?: CallOptions): Promise<void>;
}

/**
 * A target that holds something to release when it is no longer used: connections, or a
 * client of its own.
 *
 * @example
 * ```ts
 * import { isCloser, type Target } from "./target.ts";
 * async function release(target: Target) {
 *   if (isCloser(target)) await target.close();
 * }
 * ```
 */
export interface Closer {
  /** Releases what the target holds; calling it again does nothing. */
  close(): Promise<void>;
}

/**
 * A target that can drop what was pushed to it instead of keeping it: an archive, which writes
 * its file only on `close()`. A failed run discards, so that it leaves no file, or the file as
 * it was.
 *
 * @example
 * ```ts
 * import { isCloser, isDiscarder, type Target } from "./target.ts";
 * async function abandon(target: Target) {
 *   if (isDiscarder(target)) await target.discard();
 *   else if (isCloser(target)) await target.close();
 * }
 * ```
 */
export interface Discarder {
  /** Drops what was staged, writing nothing; the target is closed after. */
  discard(): Promise<void>;
}

/**
 * Whether the target can mount blobs; see {@linkcode Mounter}.
 *
 * @example
 * ```ts
 * import { isMounter, type Target } from "./target.ts";
 * declare const target: Target;
 * console.log(isMounter(target));
 * ```
 */
export function isMounter<T extends Target>(target: T): target is T & Mounter {
  return hasMethod(target, "mountBlob");
}

/**
 * Whether the target reads a manifest by tag in one request; see {@linkcode ReferenceFetcher}.
 *
 * @example
 * ```ts
 * import { isReferenceFetcher, type Target } from "./target.ts";
 * declare const target: Target;
 * console.log(isReferenceFetcher(target));
 * ```
 */
export function isReferenceFetcher<T extends Target>(target: T): target is T & ReferenceFetcher {
  return hasMethod(target, "fetchReference");
}

/**
 * Whether the target reads a blob from any offset; see {@linkcode BlobRangeFetcher}.
 *
 * @example
 * ```ts
 * import { isBlobRangeFetcher, type Target } from "./target.ts";
 * declare const target: Target;
 * console.log(isBlobRangeFetcher(target));
 * ```
 */
export function isBlobRangeFetcher<T extends Target>(target: T): target is T & BlobRangeFetcher {
  return hasMethod(target, "fetchBlobFrom");
}

/**
 * Whether the target takes blobs before their digest is known; see {@linkcode BlobWriter}.
 *
 * @example
 * ```ts
 * import { isBlobWriter, type Target } from "./target.ts";
 * declare const target: Target;
 * console.log(isBlobWriter(target));
 * ```
 */
export function isBlobWriter<T extends Target>(target: T): target is T & BlobWriter {
  return hasMethod(target, "writeBlob");
}

/**
 * Whether the target lists referrers; see {@linkcode ReferrerLister}.
 *
 * @example
 * ```ts
 * import { isReferrerLister, type Target } from "./target.ts";
 * declare const target: Target;
 * console.log(isReferrerLister(target));
 * ```
 */
export function isReferrerLister<T extends Target>(target: T): target is T & ReferrerLister {
  return hasMethod(target, "referrers");
}

/**
 * Whether the target reads its tags by pages; see {@linkcode TagPager}.
 *
 * @example
 * ```ts
 * import { isTagPager, type Target } from "./target.ts";
 * declare const target: Target;
 * console.log(isTagPager(target));
 * ```
 */
export function isTagPager<T extends Target>(target: T): target is T & TagPager {
  return hasMethod(target, "tagsPage");
}

/**
 * Whether the target can check its push credentials up front; see {@linkcode PushAuthenticator}.
 *
 * @example
 * ```ts
 * import { isPushAuthenticator, type Target } from "./target.ts";
 * declare const target: Target;
 * console.log(isPushAuthenticator(target));
 * ```
 */
export function isPushAuthenticator<T extends Target>(target: T): target is T & PushAuthenticator {
  return hasMethod(target, "authenticateForPush");
}

/**
 * Whether the target has something to release; see {@linkcode Closer}.
 *
 * @example
 * ```ts
 * import { isCloser, type Target } from "./target.ts";
 * declare const target: Target;
 * console.log(isCloser(target));
 * ```
 */
export function isCloser<T extends Target>(target: T): target is T & Closer {
  return hasMethod(target, "close");
}

/**
 * Whether the target can discard what it staged; see {@linkcode Discarder}.
 *
 * @example
 * ```ts
 * import { isDiscarder, type Target } from "./target.ts";
 * declare const target: Target;
 * console.log(isDiscarder(target));
 * ```
 */
export function isDiscarder<T extends Target>(target: T): target is T & Discarder {
  return hasMethod(target, "discard");
}

function hasMethod(target: object, name: string): boolean {
  return typeof (target as Record<string, unknown>)[name] === "function";
}
