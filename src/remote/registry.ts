/**
 * A repository in a registry as a {@linkcode Target}, over the OCI distribution-spec v1.1:
 * manifests and blobs pulled with verification, blobs pushed in one request or in chunks that
 * survive a failed request, cross-repository mounts, paginated tags and referrers. Beside the
 * `Target` methods it has the optional capabilities of `../oci/target.ts`: `Mounter`,
 * `ReferrerLister`, `TagPager`, `PushAuthenticator` and `Closer`.
 *
 * @example
 * ```ts
 * import { parseRegistryReference } from "../ref/mod.ts";
 * import { RegistryTarget } from "./registry.ts";
 * const target = new RegistryTarget(parseRegistryReference("localhost:5000/app"));
 * const descriptor = await target.resolve("latest");
 * const manifest = await target.fetchManifest(descriptor);
 * console.log(descriptor.digest, manifest.length);
 * ```
 * @module
 */
// Manifests hash through Web Crypto and blobs through verifyingStream, which loads node:crypto
// only for a large blob: a copy that only mounts starts no Node compatibility layer.
import { type Digest, isDigest } from "../digest/parse.ts";
import { sha256DigestAsync, verifyingStream } from "../digest/verify.ts";
import {
  cutText,
  escapeRemote,
  IntegrityError,
  NetworkError,
  NotFoundError,
  RegistryError,
  UsageError,
} from "../errors/mod.ts";
import { MANIFEST_MEDIA_TYPES, MediaType } from "../oci/mediatypes.ts";
import { referrersQuery } from "../oci/referrers.ts";
import type {
  BlobRangeFetcher,
  BlobWriter,
  CallOptions,
  Closer,
  FetchedManifest,
  Mounter,
  MountResult,
  PendingBlob,
  PushAuthenticator,
  ReferenceFetcher,
  ReferrerLister,
  TagPager,
  TagsPage,
  TagsPageOptions,
  Target,
} from "../oci/target.ts";
import {
  type Descriptor,
  type ManifestOrIndex,
  MAX_MANIFEST_BYTES,
  parseManifestOrIndex,
} from "../oci/types.ts";
import {
  isTag,
  parseRegistryReference,
  registryHost,
  type RegistryReference,
  TAG_RULE,
} from "../ref/mod.ts";
import {
  type Action,
  RegistryClient,
  type RegistryClientOptions,
  repositoryScope,
} from "./auth.ts";
import {
  bodyFrom,
  concurrencyLimit,
  discardBody,
  type HttpRequest,
  type HttpResponse,
  readBody,
  requestLine,
  sleep,
} from "./transport.ts";

/**
 * Options of {@linkcode RegistryTarget}. The client options (credentials, `plainHttp`, `log`,
 * timeouts…) make a client of the target's own; pass `client` instead to share one among
 * targets.
 *
 * @example
 * ```ts
 * import type { RegistryOptions } from "./registry.ts";
 * const options: RegistryOptions = { chunkSize: 4 * 1024 * 1024, concurrency: 2 };
 * ```
 */
export interface RegistryOptions extends RegistryClientOptions {
  /** A client shared with other targets, so that challenges and tokens are reused. */
  client?: RegistryClient;
  /** How many {@linkcode RegistryTarget.pushBlob} calls upload at once; others wait. Default 4. */
  concurrency?: number;
  /**
   * Blobs up to this size are uploaded in one request, larger ones in chunks of this size.
   * Default 8 MiB: above the 5 MiB that S3-backed registries need for all chunks but the
   * last, and small enough that each upload keeps only one chunk in memory for a resend.
   */
  chunkSize?: number;
}

// The page types belong to the TagPager capability; they stay importable from here.
export type { TagsPage, TagsPageOptions } from "../oci/target.ts";

/**
 * Options of {@linkcode RegistryTarget.tags}.
 *
 * @example
 * ```ts
 * import type { TagsOptions } from "./registry.ts";
 * const options: TagsOptions = { pageSize: 100, signal: AbortSignal.timeout(60_000) };
 * ```
 */
export interface TagsOptions extends CallOptions {
  /** The `n` of each request; by default the registry chooses. */
  pageSize?: number;
}

/**
 * Where a registry target's blobs can be mounted from: its registry and repository. A
 * {@linkcode RegistryTarget} asks a mount's source for it through its `mountSource()` method,
 * whatever the source's class.
 *
 * @example
 * ```ts
 * import type { MountSource } from "./registry.ts";
 * const source: MountSource = { registry: "ghcr.io", repository: "acme/base" };
 * ```
 */
export interface MountSource {
  /** The registry as written in references, e.g. `ghcr.io`. */
  registry: string;
  /** The repository, e.g. `acme/base`. */
  repository: string;
}

const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;
// A blob that can be read again from any offset (see `reopenable`) and is at least this large
// goes up in one streamed `PATCH`: chunks of a few MiB cost a request, a copy and the registry's
// bookkeeping each, and a failure resumes from the registry's offset anyway. Smaller blobs keep
// the chunks, whose cost is small.
const STREAMED_UPLOAD_MIN = 32 * 1024 * 1024;
/** The largest `OCI-Chunk-Min-Length` followed: each chunk is held in memory while it is sent. */
const MAX_CHUNK_MIN = 64 * 1024 * 1024;
const DEFAULT_CONCURRENCY = 4;
// How many times one chunk is sent, at most, before the upload gives up.
const CHUNK_ATTEMPTS = 4;
/** How often a manifest `PUT` answered `MANIFEST_BLOB_UNKNOWN` is sent (see `#putManifest`). */
const MANIFEST_PUT_TRIES = 3;
const TAG_LIST_LIMIT = 16 * 1024 * 1024;
/**
 * The most tags one listing collects, and the most pages it reads: a registry whose `Link`
 * headers lead on without end (or back to a page already read) would otherwise keep a `tags`,
 * a `copy --all-tags` or an error's hint requesting, and their memory growing, for ever. A
 * million tags are ten thousand of Docker Hub's pages of 100.
 */
export const MAX_LISTED_TAGS = 1_000_000;
/** See {@linkcode MAX_LISTED_TAGS}. */
export const MAX_TAG_LIST_PAGES = 10_000;
/**
 * The most bytes of pages one tag listing reads, however they are cut into pages and tags: a
 * registry that sends pages of megabytes without end would otherwise fill the memory long
 * before either bound above is reached. A tag has at most 128 characters; a million of 60 fit.
 */
export const MAX_TAG_LISTING_BYTES = 64 * 1024 * 1024;
/**
 * The most referrers one listing collects, and the most pages it reads, for the same reason:
 * `copy --referrers` lists them in full before it looks at any. (Signature checks stop reading
 * after the first `MAX_REFERRERS` of `trust/bundle.ts`.)
 */
export const MAX_LISTED_REFERRERS = 100_000;
/** See {@linkcode MAX_LISTED_REFERRERS}. */
export const MAX_REFERRER_PAGES = 1000;
/**
 * The most bytes of pages one referrers listing reads, for the same reason as
 * {@linkcode MAX_TAG_LISTING_BYTES}: each page may hold 4 MiB, of annotations above all. The
 * {@linkcode MAX_LISTED_REFERRERS} descriptors take a quarter of it.
 */
export const MAX_REFERRER_LISTING_BYTES = 64 * 1024 * 1024;
const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(", ");
const PULL: Action[] = ["pull"];
// Pushes also read (HEAD before upload), and one token for both saves a token request.
const PUSH: Action[] = ["pull", "push"];
// What a registry reference without tag or digest means, as in Docker.
const LATEST = "latest";

/**
 * A repository in a registry. Safe for concurrent use: commands push several blobs at once.
 * Targets that share a {@linkcode RegistryClient} share its challenges and tokens: a session
 * (`../target/session.ts`) gives every target of one registry the same client.
 *
 * @example
 * ```ts
 * import { parseRegistryReference } from "../ref/mod.ts";
 * import { RegistryClient } from "./auth.ts";
 * import { RegistryTarget } from "./registry.ts";
 * const client = new RegistryClient({ log: console.error });
 * const source = new RegistryTarget(parseRegistryReference("ghcr.io/org/app"), { client });
 * for await (const tag of source.tags()) console.log(tag);
 * ```
 */
export class RegistryTarget
  implements
    Target,
    ReferenceFetcher,
    BlobRangeFetcher,
    Mounter,
    BlobWriter,
    ReferrerLister,
    TagPager,
    PushAuthenticator,
    Closer {
  /** `registry/repository`, e.g. `docker.io/library/alpine`. */
  readonly name: string;
  /** The registry as written in references, e.g. `docker.io`. */
  readonly registry: string;
  /** The repository, e.g. `library/alpine`. */
  readonly repository: string;
  #client: RegistryClient;
  /** The last tag or digest that {@linkcode #manifestUrl} checked, and its path. */
  #checkedReference: [string, string] | undefined;
  #ownsClient: boolean;
  #chunkSize: number;
  /**
   * The registry's `OCI-Chunk-Min-Length`, from its last upload session, at most
   * {@linkcode MAX_CHUNK_MIN}; 0 when it names none.
   */
  #chunkMin = 0;
  #uploadSlot: <T>(task: () => Promise<T>) => Promise<T>;
  /** The manifest {@linkcode fetchReference} read last, for the `fetchManifest` that follows. */
  #fetched: FetchedManifest | undefined;

  /**
   * A target for the repository of `reference`; its tag and digest are not used. Nothing is
   * sent until the first call.
   *
   * @throws {TypeError} when both `client` and client options are given.
   * @throws {UsageError} when `chunkSize` or `concurrency` is not a positive integer.
   */
  constructor(reference: RegistryReference, options: RegistryOptions = {}) {
    const { client, concurrency, chunkSize, ...clientOptions } = options;
    if (client !== undefined && Object.keys(clientOptions).length > 0) {
      throw new TypeError(
        `give either a client or client options, not both: ${Object.keys(clientOptions)}`,
      );
    }
    this.registry = reference.registry;
    this.repository = reference.repository;
    this.name = `${reference.registry}/${reference.repository}`;
    this.#client = client ?? new RegistryClient(clientOptions);
    this.#ownsClient = client === undefined;
    this.#chunkSize = positiveInteger("chunkSize", chunkSize ?? DEFAULT_CHUNK_SIZE);
    this.#uploadSlot = concurrencyLimit(
      positiveInteger("concurrency", concurrency ?? DEFAULT_CONCURRENCY),
    );
  }

  /**
   * Resolves a tag or digest with a `HEAD`, from the `Docker-Content-Digest`, `Content-Type`
   * and `Content-Length` headers; when a registry leaves one out, with a `GET` and a hash.
   * Without a reference, `latest`, as Docker means it.
   *
   * @throws {NotFoundError} when there is no such manifest.
   * @throws {IntegrityError} when the registry names another digest than the one asked for.
   * @example
   * ```ts
   * import { parseRegistryReference } from "../ref/mod.ts";
   * import { RegistryTarget } from "./registry.ts";
   * const target = new RegistryTarget(parseRegistryReference("localhost:5000/app"));
   * console.log((await target.resolve("v1")).digest);
   * ```
   */
  async resolve(reference: string = LATEST, options: CallOptions = {}): Promise<Descriptor> {
    const { signal } = options;
    const response = await this.#request(PULL, {
      method: "HEAD",
      url: this.#manifestUrl(reference),
      headers: { accept: MANIFEST_ACCEPT },
      signal,
    });
    if (response.status === 404) {
      // A HEAD answer has no body; the GET's names the registry's error code.
      return (await this.fetchReference(reference, options)).descriptor;
    }
    await this.#expect(response, 200, `manifest ${reference} of ${this.name}`);
    const digest = response.headers.get("docker-content-digest");
    const mediaType = mediaTypeOf(response.headers);
    const size = Number(response.headers.get("content-length") ?? NaN);
    if (
      digest === null || !isSha256Digest(digest) || !MANIFEST_MEDIA_TYPES.includes(mediaType) ||
      !Number.isSafeInteger(size)
    ) {
      return (await this.fetchReference(reference, options)).descriptor;
    }
    if (isDigest(reference) && digest !== reference) {
      throw new IntegrityError(
        `manifest ${reference} of ${this.name}: the registry answered with ${digest}`,
      );
    }
    return { mediaType, digest, size };
  }

  /**
   * The bytes of a manifest, checked against the descriptor's digest and size and parsed as a
   * manifest or index.
   *
   * @throws {NotFoundError} when there is no such manifest.
   * @throws {IntegrityError} when the bytes do not match, or are not a manifest or index.
   * @example
   * ```ts
   * import { parseRegistryReference } from "../ref/mod.ts";
   * import { RegistryTarget } from "./registry.ts";
   * const target = new RegistryTarget(parseRegistryReference("localhost:5000/app"));
   * const bytes = await target.fetchManifest(await target.resolve("v1"));
   * ```
   */
  async fetchManifest(descriptor: Descriptor, options: CallOptions = {}): Promise<Uint8Array> {
    // The bytes that fetchReference read and hashed, if they are these: a copy, for a caller may
    // change what it is given.
    const bytes = this.#fetched?.descriptor.digest === descriptor.digest
      ? this.#fetched.bytes.slice()
      : (await this.#getManifest(descriptor.digest, options.signal)).bytes;
    if (bytes.byteLength !== descriptor.size) {
      throw new IntegrityError(
        `manifest ${descriptor.digest} of ${this.name} has ${bytes.byteLength} bytes, ` +
          `expected ${descriptor.size}`,
      );
    }
    return bytes;
  }

  /**
   * Fetches a manifest by tag or digest with a `GET`. The digest is the hash of the bytes; it
   * must equal the digest asked for, and the `Docker-Content-Digest` header when there is one.
   * The bytes are parsed as a manifest or index (at most 4 MiB). They are kept for the next
   * {@linkcode fetchManifest} of their digest, which then sends nothing (see
   * {@linkcode ReferenceFetcher}).
   *
   * @throws {NotFoundError} when there is no such manifest.
   * @throws {IntegrityError} when a digest does not match, or the bytes are not a manifest.
   * @example
   * ```ts
   * import { parseRegistryReference } from "../ref/mod.ts";
   * import { RegistryTarget } from "./registry.ts";
   * const target = new RegistryTarget(parseRegistryReference("localhost:5000/app"));
   * const { descriptor, bytes } = await target.fetchReference("v1");
   * ```
   */
  async fetchReference(
    reference: string,
    options: CallOptions = {},
  ): Promise<FetchedManifest> {
    const { descriptor, bytes } = await this.#getManifest(reference, options.signal);
    this.#fetched = { descriptor, bytes: bytes.slice() };
    return { descriptor, bytes };
  }

  /**
   * A blob's bytes, streamed. Redirects to object storage are followed without the registry's
   * credentials. The stream errors with an {@linkcode IntegrityError} at its end when the
   * bytes do not match the descriptor's digest and size: consume it into a temporary place.
   * The signal also ends the body's stream.
   *
   * @throws {NotFoundError} when there is no such blob.
   * @example
   * ```ts
   * import { parseRegistryReference } from "../ref/mod.ts";
   * import { RegistryTarget } from "./registry.ts";
   * const target = new RegistryTarget(parseRegistryReference("localhost:5000/app"));
   * const stream = await target.fetchBlob({
   *   mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
   *   digest: "sha256:…",
   *   size: 1024,
   * });
   * await Deno.writeFile("blob.tmp", stream);
   * ```
   */
  async fetchBlob(
    descriptor: Descriptor,
    options: CallOptions = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const verifier = verifyingStream(descriptor, `blob of ${this.name}`);
    const response = await this.#request(PULL, {
      method: "GET",
      url: this.#url(`/blobs/${descriptor.digest}`),
      signal: options.signal,
    });
    if (response.status !== 200) {
      throw await this.#error(response, `blob ${descriptor.digest} of ${this.name}`);
    }
    return (response.body ?? ReadableStream.from<Uint8Array>([])).pipeThrough(verifier);
  }

  /**
   * A blob's bytes from `offset` on, unverified (see {@linkcode BlobRangeFetcher}), by a `GET`
   * with `Range`; a registry that ignores `Range` sends the whole blob, whose first bytes are
   * dropped. A copy to another registry streams a large blob with them, and resumes it.
   *
   * @throws {NotFoundError} when the repository lacks the blob.
   * @example
   * ```ts
   * import { parseRegistryReference } from "../ref/mod.ts";
   * import { RegistryTarget } from "./registry.ts";
   * const target = new RegistryTarget(parseRegistryReference("localhost:5000/app"));
   * const digest = `sha256:${"0".repeat(64)}` as const;
   * const rest = await target.fetchBlobFrom({ mediaType: "application/octet-stream", digest, size: 9 }, 4);
   * ```
   */
  async fetchBlobFrom(
    descriptor: Descriptor,
    offset: number,
    options: CallOptions = {},
  ): Promise<ReadableStream<Uint8Array>> {
    // A range past the end is one a registry refuses (416): there is nothing to read.
    if (offset >= descriptor.size) return ReadableStream.from<Uint8Array>([]);
    const url = this.#url(`/blobs/${descriptor.digest}`);
    const response = await this.#request(PULL, {
      method: "GET",
      url,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : undefined,
      signal: options.signal,
    });
    if (response.status !== 200 && response.status !== 206) {
      throw await this.#error(response, `blob ${descriptor.digest} of ${this.name}`);
    }
    return await bodyFrom(response, offset, requestLine("GET", url));
  }

  /**
   * Whether the repository has the blob, by a `HEAD`.
   *
   * @example
   * ```ts
   * import { parseRegistryReference } from "../ref/mod.ts";
   * import { RegistryTarget } from "./registry.ts";
   * const target = new RegistryTarget(parseRegistryReference("localhost:5000/app"));
   * const digest = `sha256:${"0".repeat(64)}` as const;
   * await target.hasBlob({ mediaType: "application/octet-stream", digest, size: 0 }); // false
   * ```
   */
  hasBlob(descriptor: Descriptor, options: CallOptions = {}): Promise<boolean> {
    return this.#hasBlob(descriptor, PULL, options.signal);
  }

  /**
   * Uploads a blob, unless the repository has it already (then it answers false, and the
   * body is cancelled unread). A blob of up to `chunkSize` bytes goes in one `PUT`; a larger
   * one in `PATCH` requests of `chunkSize` bytes (or the registry's `OCI-Chunk-Min-Length`, if
   * larger). When a chunk fails, the upload resumes from the offset the registry reports; one
   * chunk at a time is held in memory for that. A large body marked {@linkcode reopenable} (a
   * file) goes in one streamed `PATCH` instead, and is read again from the registry's offset
   * after a failure, so that nothing is held in memory; its bytes are not hashed again here (see
   * {@linkcode reopenable}). When a blob's single `PUT` fails, it starts over in a new session.
   * Other bytes are verified while they are read; all are verified by the registry before the
   * blob becomes visible. Safe to call concurrently; at most `concurrency` uploads run at once.
   *
   * @throws {IntegrityError} when the bytes do not match the descriptor.
   * @throws {NetworkError} when a chunk cannot be delivered, or the registry lost bytes of
   * earlier chunks, which the spent stream cannot give again: push again.
   * @example
   * ```ts
   * import { sha256Digest } from "../digest/mod.ts";
   * import { parseRegistryReference } from "../ref/mod.ts";
   * import { RegistryTarget } from "./registry.ts";
   * const target = new RegistryTarget(parseRegistryReference("localhost:5000/app"));
   * const bytes = new TextEncoder().encode("hello");
   * const descriptor = { mediaType: "text/plain", digest: sha256Digest(bytes), size: 5 };
   * await target.pushBlob(descriptor, ReadableStream.from([bytes]));
   * ```
   */
  pushBlob(
    descriptor: Descriptor,
    body: ReadableStream<Uint8Array>,
    options: CallOptions = {},
  ): Promise<boolean> {
    return this.#uploadSlot(async () => {
      try {
        options.signal?.throwIfAborted();
        const sent = await this.#send(descriptor, () => Promise.resolve(body), options.signal);
        if (!sent) await body.cancel();
        return sent;
      } catch (error) {
        // Release the caller's source, unless it is already being read.
        if (!body.locked) await body.cancel(error).catch(() => {});
        throw error;
      }
    });
  }

  /**
   * Sends a blob whose digest is not known yet (see {@linkcode BlobWriter}): an upload session
   * starts at once, and `body` goes up in one streamed `PATCH`, resumed from the registry's
   * offset after a failure, as {@linkcode pushBlob} sends a large file. The closing `PUT` waits
   * for {@linkcode PendingBlob.commit}, whose digest the registry checks against what it got;
   * {@linkcode PendingBlob.abort} stops the transfer and deletes the session. It counts as one
   * of the `concurrency` uploads until its bytes are sent.
   *
   * @throws {TypeError} for a `body` that cannot be read again (see {@linkcode reopenable}).
   * @example
   * ```ts
   * import { parseRegistryReference } from "../ref/mod.ts";
   * import { reopenable, RegistryTarget } from "./registry.ts";
   * const target = new RegistryTarget(parseRegistryReference("localhost:5000/app"));
   * const openAt = async (offset: number) => {
   *   const file = await Deno.open("./layer.tar.gz");
   *   await file.seek(offset, Deno.SeekMode.Start);
   *   return file.readable;
   * };
   * const { size } = await Deno.stat("./layer.tar.gz");
   * const pending = target.writeBlob(size, reopenable(await openAt(0), openAt));
   * await pending.commit({
   *   mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
   *   digest: `sha256:${"0".repeat(64)}`,
   *   size,
   * });
   * ```
   */
  writeBlob(
    size: number,
    body: ReadableStream<Uint8Array>,
    options: CallOptions = {},
  ): PendingBlob {
    const reopen = (body as Partial<Reopenable>)[REOPEN];
    if (reopen === undefined) throw new TypeError("writeBlob needs a body that can be read again");
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const subject = `upload of ${size} bytes to ${this.name}`;
    const upload: { location?: URL } = {};
    const sent = this.#uploadSlot(async () => {
      signal.throwIfAborted();
      // Not stopped by an abort once asked for: a session that the registry opens is deleted.
      upload.location = await this.#startUpload(subject, options.signal);
      signal.throwIfAborted();
      await this.#streamPatches(upload as { location: URL }, size, body, reopen, subject, signal);
      return upload.location;
    });
    sent.catch(() => body.locked ? undefined : body.cancel().catch(() => {}));
    return {
      commit: async (descriptor) => {
        if (descriptor.size !== size) {
          throw new IntegrityError(
            `${subject}: the blob ${descriptor.digest} has ${descriptor.size} bytes`,
          );
        }
        await this.#finishStreamed(await sent, descriptor, options.signal);
      },
      abort: async (reason) => {
        stop.abort(reason);
        await sent.catch(() => {});
        // Best effort: a session left behind expires on the registry's own schedule.
        if (upload.location === undefined) return;
        const response = await this.#request(PUSH, { method: "DELETE", url: upload.location })
          .catch(() => undefined);
        if (response) await discardBody(response);
      },
    };
  }

  /**
   * Stores a blob by mounting it from `from` when `from` is another repository of the same
   * registry (it says which through its `mountSource()` method, whatever its class), which
   * copies nothing; needs `pull` on that repository besides `push` here. When `from` is not
   * such a repository, or the registry declines the mount (400, 401, 403), the blob is pushed
   * as {@linkcode pushBlob} pushes it, from `fallback`'s bytes, unless the repository has it.
   * When the registry answers the mount with an ordinary upload session instead (202, as
   * Distribution does when the source repository cannot give the blob), `fallback`'s bytes go
   * into that very session: the blob is finished within the call, and nothing is left for a
   * later one. It counts as one of the `concurrency` uploads.
   *
   * @throws {IntegrityError} when the fallback's bytes do not match the descriptor.
   * @example
   * ```ts
   * import { parseRegistryReference } from "../ref/mod.ts";
   * import { RegistryClient } from "./auth.ts";
   * import { RegistryTarget } from "./registry.ts";
   * const client = new RegistryClient();
   * const base = new RegistryTarget(parseRegistryReference("localhost:5000/base"), { client });
   * const app = new RegistryTarget(parseRegistryReference("localhost:5000/app"), { client });
   * const layer = { mediaType: "text/plain", digest: "sha256:…", size: 1 } as const;
   * const how = await app.mountBlob(layer, base, () => base.fetchBlob(layer));
   * console.log(how); // "mounted"
   * ```
   */
  mountBlob(
    descriptor: Descriptor,
    from: Target,
    fallback: () => Promise<ReadableStream<Uint8Array>>,
    options: CallOptions = {},
  ): Promise<MountResult> {
    const { signal } = options;
    return this.#uploadSlot(async () => {
      signal?.throwIfAborted();
      const fromRepository = this.#mountableFrom(from);
      if (fromRepository !== undefined) {
        const mount = await this.#mount(descriptor, fromRepository, signal);
        if (mount === "mounted") return "mounted";
        if (mount !== undefined) {
          // The registry started an ordinary upload instead: the bytes go into it now.
          await this.#uploadInto(mount, descriptor, await fallback(), signal);
          return "copied";
        }
      }
      return await this.#send(descriptor, fallback, signal) ? "copied" : "present";
    });
  }

  /**
   * The registry and repository that another registry target of the same registry mounts
   * blobs from; see {@linkcode mountBlob}.
   *
   * @example
   * ```ts
   * import { parseRegistryReference } from "../ref/mod.ts";
   * import { RegistryTarget } from "./registry.ts";
   * const target = new RegistryTarget(parseRegistryReference("localhost:5000/app"));
   * target.mountSource(); // { registry: "localhost:5000", repository: "app" }
   * ```
   */
  mountSource(): MountSource {
    return { registry: this.registry, repository: this.repository };
  }

  /**
   * Stores a manifest under each tag, or under its digest when there is none: a manifest put
   * under a tag is stored under its digest as well, so one request per tag (as crane and
   * skopeo send). The bytes are checked against the descriptor first, and the digest that the
   * registry answers, if it names one, against the descriptor's; `Content-Type` is the
   * descriptor's media type.
   *
   * @throws {IntegrityError} when the bytes do not match the descriptor, or the registry
   * stored other bytes.
   * @throws {NotFoundError} when the registry lacks a blob the manifest refers to.
   * @example
   * ```ts
   * import { sha256Digest } from "../digest/mod.ts";
   * import { parseRegistryReference } from "../ref/mod.ts";
   * import { RegistryTarget } from "./registry.ts";
   * const target = new RegistryTarget(parseRegistryReference("localhost:5000/app"));
   * const bytes = new TextEncoder().encode('{"schemaVersion":2,"manifests":[]}');
   * const mediaType = "application/vnd.oci.image.index.v1+json";
   * const descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
   * await target.pushManifest(descriptor, bytes, ["v1"]);
   * ```
   */
  async pushManifest(
    descriptor: Descriptor,
    bytes: Uint8Array,
    tags: string[],
    options: CallOptions = {},
  ): Promise<void> {
    const digest = await sha256DigestAsync(bytes);
    if (digest !== descriptor.digest || bytes.byteLength !== descriptor.size) {
      throw new IntegrityError(
        `manifest for ${this.name} has digest ${digest} and ${bytes.byteLength} bytes, ` +
          `not ${descriptor.digest} and ${descriptor.size}`,
      );
    }
    const body = new Uint8Array(bytes);
    for (const reference of tags.length > 0 ? tags : [descriptor.digest]) {
      const response = await this.#putManifest(reference, descriptor.mediaType, body, options);
      const stored = response.headers.get("docker-content-digest");
      if (stored !== null && isSha256Digest(stored) && stored !== digest) {
        throw new IntegrityError(
          `manifest ${reference} for ${this.name}: the registry stored ${stored}, not ${digest}`,
        );
      }
    }
  }

  /**
   * The `PUT` of a manifest to `reference`, answered 201. A `MANIFEST_BLOB_UNKNOWN` is asked
   * again twice, a moment later: Distribution rewrites a blob's link in a repository in place
   * (emptied, then written) when another push commits the same blob, and a manifest checked at
   * that moment names a blob that is there "unknown". Parallel pushes of images that share a
   * layer, or signers of one image, meet it.
   */
  async #putManifest(
    reference: string,
    mediaType: string,
    body: Uint8Array<ArrayBuffer>,
    options: CallOptions,
  ): Promise<HttpResponse> {
    for (let attempt = 1;; attempt++) {
      const response = await this.#request(PUSH, {
        method: "PUT",
        url: this.#manifestUrl(reference),
        headers: { "content-type": mediaType },
        body,
        signal: options.signal,
      });
      try {
        await this.#expect(response, 201, `manifest ${reference} for ${this.name}`);
        return response;
      } catch (error) {
        const racing = error instanceof RegistryError &&
          error.codes.includes("MANIFEST_BLOB_UNKNOWN");
        if (!racing || attempt === MANIFEST_PUT_TRIES) throw error;
        await sleep(100 * attempt, options.signal);
      }
    }
  }

  /**
   * Lists the tags, following the registry's `Link` headers from page to page, up to
   * {@linkcode MAX_LISTED_TAGS} tags, {@linkcode MAX_TAG_LIST_PAGES} pages and
   * {@linkcode MAX_TAG_LISTING_BYTES} bytes of pages.
   *
   * @throws {NotFoundError} when the repository does not exist.
   * @throws {IntegrityError} when a page lists a name that is no tag ({@linkcode TAG_RULE}),
   * leads back to one already read, or the listing goes on past a bound.
   * @example
   * ```ts
   * import { parseRegistryReference } from "../ref/mod.ts";
   * import { RegistryTarget } from "./registry.ts";
   * const target = new RegistryTarget(parseRegistryReference("localhost:5000/app"));
   * const tags = await Array.fromAsync(target.tags({ pageSize: 100 }));
   * ```
   */
  async *tags(options: TagsOptions = {}): AsyncIterable<string> {
    let url: URL | undefined = this.#tagsUrl({ n: options.pageSize });
    const bounds = new ListingBounds(`tags of ${this.name}`, "tags", {
      pages: MAX_TAG_LIST_PAGES,
      items: MAX_LISTED_TAGS,
      bytes: MAX_TAG_LISTING_BYTES,
    });
    while (url !== undefined) {
      bounds.reading(url);
      const page = await this.#tagsPageAt(url, options.signal);
      bounds.listed(page.tags.length, page.bytes);
      yield* page.tags;
      url = page.next;
    }
  }

  /**
   * One page of tags. The registry announces a next page with a `Link` header; its `last`
   * (else the page's last tag) is returned for the next call.
   *
   * @throws {NotFoundError} when the repository does not exist.
   * @throws {IntegrityError} when the page lists a name that is no tag, or its `Link` names one
   * as `last`: it would go back to the registry in the next call's URL.
   * @example
   * ```ts
   * import { parseRegistryReference } from "../ref/mod.ts";
   * import { RegistryTarget } from "./registry.ts";
   * const target = new RegistryTarget(parseRegistryReference("localhost:5000/app"));
   * let page = await target.tagsPage({ n: 50 });
   * while (page.last !== undefined) page = await target.tagsPage({ n: 50, last: page.last });
   * ```
   */
  async tagsPage(options: TagsPageOptions = {}): Promise<TagsPage> {
    const { tags, next } = await this.#tagsPageAt(this.#tagsUrl(options), options.signal);
    if (next === undefined) return { tags };
    const last = next.searchParams.get("last") ?? tags.at(-1);
    if (last !== undefined) this.#checkListedTag(last, "the registry's next page starts after");
    return { tags, last };
  }

  /**
   * The descriptors of the manifests that refer to `subject` through their `subject`: from the
   * referrers API, page after page (`Link` headers), or, where a registry lacks it (404), from
   * the index tagged `<algorithm>-<hex>` (the distribution-spec's fallback tag schema). None
   * when neither exists. With `artifactType`, only the referrers of that type: the registry is
   * asked to filter, and the answer is filtered again, as registries may ignore the filter.
   * `subject` may also be given as a bare digest.
   *
   * @throws {IntegrityError} when the registry's answer is not an image index.
   * @example
   * ```ts
   * import { parseRegistryReference } from "../ref/mod.ts";
   * import { RegistryTarget } from "./registry.ts";
   * const target = new RegistryTarget(parseRegistryReference("localhost:5000/app"));
   * const image = await target.resolve("v1");
   * const signatures = target.referrers(image, "application/vnd.dev.cosign.artifact.sig.v1+json");
   * for await (const signature of signatures) console.log(signature.digest);
   * ```
   */
  async *referrers(
    subject: Descriptor | string,
    artifactType?: string,
    options: CallOptions = {},
  ): AsyncIterable<Descriptor> {
    const { signal } = options;
    // A bare digest is taken too: trust/ asked for referrers by digest before this was a
    // capability, and a digest is all the lookup needs.
    const { digest, fallbackTag, wanted } = referrersQuery(subject, artifactType);
    const what = `referrers of ${digest} in ${this.name}`;
    const url = this.#url(`/referrers/${digest}`);
    if (artifactType !== undefined) url.searchParams.set("artifactType", artifactType);
    let response = await this.#request(PULL, {
      method: "GET",
      url,
      headers: { accept: MediaType.OciIndex },
      signal,
    });
    if (response.status === 404) {
      await discardBody(response);
      let index: ManifestOrIndex;
      try {
        index = (await this.#getManifest(fallbackTag, signal)).parsed;
      } catch (error) {
        if (error instanceof NotFoundError) return;
        throw error;
      }
      yield* indexManifests(index, what).filter(wanted);
      return;
    }
    const bounds = new ListingBounds(what, "referrers", {
      pages: MAX_REFERRER_PAGES,
      items: MAX_LISTED_REFERRERS,
      bytes: MAX_REFERRER_LISTING_BYTES,
    });
    bounds.reading(url);
    for (;;) {
      if (response.status !== 200) throw await this.#error(response, what);
      const next = nextLink(response.headers.get("link"), response.url);
      const bytes = await readBody(response, MAX_MANIFEST_BYTES);
      const listed = indexManifests(
        parseManifestOrIndex(bytes, mediaTypeOf(response.headers)),
        what,
      );
      bounds.listed(listed.length, bytes.byteLength);
      yield* listed.filter(wanted);
      if (next === undefined) return;
      bounds.reading(next);
      response = await this.#request(PULL, {
        method: "GET",
        url: next,
        headers: { accept: MediaType.OciIndex },
        signal,
      });
    }
  }

  /**
   * Authenticates for pushing to the repository (`pull,push`) now, so that refused credentials
   * fail a command before it packs or sends anything; see {@linkcode RegistryClient.authenticate}
   * for what it costs (nothing without credentials). The token it gets is the one that the
   * push's requests use.
   *
   * @throws {AuthError} when no credentials are found for a registry that asks for them, or
   * they are refused.
   * @example
   * ```ts
   * import { parseRegistryReference } from "../ref/mod.ts";
   * import { RegistryTarget } from "./registry.ts";
   * const target = new RegistryTarget(parseRegistryReference("localhost:5000/app"));
   * await target.authenticateForPush();
   * ```
   */
  authenticateForPush(options: CallOptions = {}): Promise<void> {
    return this.#client.authenticate(
      this.registry,
      [repositoryScope(this.repository, PUSH)],
      { signal: options.signal, repository: this.repository },
    );
  }

  /**
   * Releases the client, if this target made its own; a shared client is its owner's to close
   * (a session's, say).
   *
   * @example
   * ```ts
   * import { parseRegistryReference } from "../ref/mod.ts";
   * import { RegistryTarget } from "./registry.ts";
   * const target = new RegistryTarget(parseRegistryReference("localhost:5000/app"));
   * await target.close();
   * ```
   */
  close(): Promise<void> {
    if (this.#ownsClient) this.#client.close();
    this.#ownsClient = false;
    return Promise.resolve();
  }

  /**
   * The repository of `from` to mount from: when `from` tells its registry and repository
   * (`mountSource()`), and they are another repository of this registry. Undefined otherwise.
   */
  #mountableFrom(from: Target): string | undefined {
    const candidate = from as Target & { mountSource?: unknown };
    if (typeof candidate.mountSource !== "function") return undefined;
    const source = (candidate as { mountSource(): MountSource }).mountSource();
    if (registryHost(source.registry) !== registryHost(this.registry)) return undefined;
    // Within one repository the blob is either there already or nowhere to mount from.
    return source.repository === this.repository ? undefined : source.repository;
  }

  /**
   * `POST /blobs/uploads/?mount=&from=`: "mounted" (201); the upload session that the registry
   * started instead (202); undefined when the registry declines (400, 401, 403).
   */
  async #mount(
    descriptor: Descriptor,
    fromRepository: string,
    signal: AbortSignal | undefined,
  ): Promise<"mounted" | URL | undefined> {
    const url = this.#url("/blobs/uploads/");
    url.searchParams.set("mount", descriptor.digest);
    url.searchParams.set("from", fromRepository);
    const scopes = [
      repositoryScope(this.repository, PUSH),
      repositoryScope(fromRepository, PULL),
    ];
    signal?.throwIfAborted();
    // The destination's credentials, as skopeo sends them: the request is to the destination,
    // and the source's, kept for that repository alone, are not for it. The source's blob, if
    // they do not reach it, comes through the fallback, read with the source's credentials.
    const response = await this.#client.request(this.registry, scopes, {
      method: "POST",
      url,
      signal,
    }, this.repository);
    const subject = `mount of blob ${descriptor.digest} from ${fromRepository} to ${this.name}`;
    if (response.status === 201) {
      await discardBody(response);
      return "mounted";
    }
    if (response.status === 202) {
      await discardBody(response);
      this.#noteChunkMin(response);
      return uploadLocation(response, subject);
    }
    if ([400, 401, 403].includes(response.status)) {
      await discardBody(response);
      return undefined;
    }
    throw await this.#error(response, subject);
  }

  /**
   * Uploads a blob that the repository lacks, from the bytes that `open` gives: false, without
   * opening them, when it has the blob. A bodiless request comes first (the `HEAD`, then the
   * `POST`): it meets any 401, so that no chunk is sent only to be refused.
   */
  async #send(
    descriptor: Descriptor,
    open: () => Promise<ReadableStream<Uint8Array>>,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    if (await this.#hasBlob(descriptor, PUSH, signal)) return false;
    const location = await this.#startUpload(this.#uploadSubject(descriptor), signal);
    await this.#uploadInto(location, descriptor, await open(), signal);
    return true;
  }

  /** Sends `body`, verified as it is read, into the upload session at `location`. */
  async #uploadInto(
    location: URL,
    descriptor: Descriptor,
    body: ReadableStream<Uint8Array>,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const reopen = (body as Partial<Reopenable>)[REOPEN];
    if (reopen !== undefined && descriptor.size >= STREAMED_UPLOAD_MIN) {
      return await this.#streamUpload(location, descriptor, body, reopen, signal);
    }
    const verified = body.pipeThrough(verifyingStream(descriptor, `blob for ${this.name}`));
    // Chunks are never smaller than the registry asks (`OCI-Chunk-Min-Length`), but the last.
    const size = Math.max(this.#chunkSize, this.#chunkMin);
    await this.#upload(location, descriptor, new ChunkReader(verified, size), signal);
  }

  /**
   * Sends a blob that can be read again from an offset in one streamed `PATCH`, then the closing
   * `PUT`. When the `PATCH` fails, the upload's status says how many bytes the registry holds,
   * and the rest is read again from there (a new session, from the start, when the registry
   * dropped the session). No pass is hashed here: the caller hashed its own file for the
   * digest, and the registry hashes what it received against the digest of the closing `PUT`,
   * which refuses the blob (`DIGEST_INVALID`) if the file changed in between.
   */
  async #streamUpload(
    location: URL,
    descriptor: Descriptor,
    body: ReadableStream<Uint8Array>,
    reopen: (offset: number) => Promise<ReadableStream<Uint8Array>>,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const upload = { location };
    await this.#streamPatches(
      upload,
      descriptor.size,
      body,
      reopen,
      this.#uploadSubject(descriptor),
      signal,
    );
    await this.#finishStreamed(upload.location, descriptor, signal);
  }

  /**
   * The `PATCH`es of a streamed upload (see {@linkcode #streamUpload}): `upload.location` follows
   * the session as the registry moves it, so that the caller can close or delete it.
   */
  async #streamPatches(
    upload: { location: URL },
    size: number,
    body: ReadableStream<Uint8Array>,
    reopen: (offset: number) => Promise<ReadableStream<Uint8Array>>,
    subject: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    let stream: ReadableStream<Uint8Array> | undefined = body;
    let offset = 0;
    for (let attempt = 1; offset < size; attempt++) {
      stream ??= await reopen(offset);
      const sent = await this.#patch(
        upload.location,
        subject,
        offset > 0 ? `${offset}-${size - 1}` : undefined,
        // The transport's bodies are bytes; a stream passes through it to `fetch` unread,
        // with its length for the stall guard's allowance. It is never sent twice: this
        // request is not retried, and a failure resumes from the registry's offset.
        Object.assign(stream, { byteLength: size - offset }) as unknown as Uint8Array<ArrayBuffer>,
        signal,
      );
      if (sent instanceof URL) {
        upload.location = sent;
        return;
      }
      const failure = sent;
      await stream.cancel(failure).catch(() => {});
      stream = undefined;
      if (!(failure instanceof NetworkError) || attempt >= CHUNK_ATTEMPTS) throw failure;
      const status = await this.#uploadStatus(upload.location, subject, signal);
      if (status === undefined) {
        // The registry dropped the session: start over in a new one.
        upload.location = await this.#startUpload(subject, signal);
        offset = 0;
      } else {
        upload.location = status.location;
        offset = status.offset;
      }
    }
  }

  /** The closing `PUT` of a streamed upload, which may have stored the blob and lost its answer. */
  async #finishStreamed(
    location: URL,
    descriptor: Descriptor,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    await this.#finishUpload(location, descriptor, undefined, signal).catch(async (error) => {
      if (!lostOnTheWay(error) || !(await this.#hasBlob(descriptor, PUSH, signal))) throw error;
    });
  }

  /** How an upload of `descriptor`'s blob is named in errors. */
  #uploadSubject(descriptor: Descriptor): string {
    return `upload of blob ${descriptor.digest} to ${this.name}`;
  }

  /** Keeps the registry's `OCI-Chunk-Min-Length` of an upload session it started. */
  #noteChunkMin(response: HttpResponse): void {
    const min = Number(response.headers.get("oci-chunk-min-length") ?? "0");
    // Capped: a chunk is held in memory until the registry has it, four uploads at once, and a
    // registry naming 2^53 would have each hold its whole blob. One that refuses the capped
    // size says so in its error.
    this.#chunkMin = Number.isSafeInteger(min) && min > 0 ? Math.min(min, MAX_CHUNK_MIN) : 0;
  }

  async #getManifest(
    reference: string,
    signal: AbortSignal | undefined,
  ): Promise<FetchedManifest & { parsed: ManifestOrIndex }> {
    const subject = `manifest ${reference} of ${this.name}`;
    const response = await this.#request(PULL, {
      method: "GET",
      url: this.#manifestUrl(reference),
      headers: { accept: MANIFEST_ACCEPT },
      signal,
    });
    if (response.status !== 200) throw await this.#error(response, subject);
    const bytes = await readBody(response, MAX_MANIFEST_BYTES);
    const digest = await sha256DigestAsync(bytes);
    if (isDigest(reference) && reference !== digest) {
      throw new IntegrityError(`${subject}: the bytes have digest ${digest}`);
    }
    const claimed = response.headers.get("docker-content-digest");
    // Only sha256 can be checked; registries send no other in practice.
    if (claimed !== null && isSha256Digest(claimed) && claimed !== digest) {
      throw new IntegrityError(`${subject}: the registry says ${claimed}, the bytes are ${digest}`);
    }
    const parsed = parseManifestOrIndex(bytes, mediaTypeOf(response.headers));
    return {
      descriptor: { mediaType: parsed.mediaType, digest, size: bytes.byteLength },
      bytes,
      parsed,
    };
  }

  async #hasBlob(
    descriptor: Descriptor,
    actions: Action[],
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    const response = await this.#request(actions, {
      method: "HEAD",
      url: this.#url(`/blobs/${descriptor.digest}`),
      signal,
    });
    if (response.status !== 200 && response.status !== 404) {
      throw await this.#error(response, `blob ${descriptor.digest} of ${this.name}`);
    }
    await discardBody(response);
    return response.status === 200;
  }

  /** `POST /blobs/uploads/`: the URL of a new upload session. */
  async #startUpload(subject: string, signal: AbortSignal | undefined): Promise<URL> {
    const response = await this.#request(PUSH, {
      method: "POST",
      url: this.#url("/blobs/uploads/"),
      signal,
    });
    await this.#expect(response, 202, subject);
    this.#noteChunkMin(response);
    return uploadLocation(response, subject);
  }

  /** Sends the bytes: in the closing `PUT` when they fit one chunk, else in `PATCH`es first. */
  async #upload(
    location: URL,
    descriptor: Descriptor,
    chunks: ChunkReader,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    try {
      const first = await chunks.next();
      if (await chunks.atEnd()) return await this.#putWhole(location, descriptor, first, signal);
      let offset = 0;
      for (let chunk = first; chunk.byteLength > 0; chunk = await chunks.next()) {
        location = await this.#sendChunk(location, descriptor, chunk, offset, signal);
        offset += chunk.byteLength;
      }
      await this.#finishUpload(location, descriptor, undefined, signal).catch(async (error) => {
        // The registry may have stored the blob and lost only its answer.
        if (!lostOnTheWay(error) || !(await this.#hasBlob(descriptor, PUSH, signal))) throw error;
      });
    } catch (error) {
      await chunks.cancel(error);
      throw error;
    }
  }

  /**
   * Sends a blob that fits one chunk in the closing `PUT`. When that fails, the registry may hold
   * part of the bytes under the session, or have dropped it: the blob starts over in a new
   * session, with the bytes still in memory.
   */
  async #putWhole(
    location: URL,
    descriptor: Descriptor,
    bytes: Uint8Array<ArrayBuffer>,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    for (let attempt = 1;; attempt++) {
      try {
        return await this.#finishUpload(location, descriptor, bytes, signal);
      } catch (error) {
        if (!lostOnTheWay(error)) throw error;
        // The registry may have stored the blob and lost only its answer.
        if (await this.#hasBlob(descriptor, PUSH, signal)) return;
        if (attempt >= CHUNK_ATTEMPTS) throw error;
        location = await this.#startUpload(this.#uploadSubject(descriptor), signal);
      }
    }
  }

  /**
   * One `PATCH` of an upload's bytes (`range` is its `Content-Range`, if any), never retried:
   * the upload's next location when the registry took them (202), else why not, a
   * {@linkcode NetworkError} when the request did not complete. Any other error is thrown.
   */
  async #patch(
    location: URL,
    subject: string,
    range: string | undefined,
    body: Uint8Array<ArrayBuffer>,
    signal: AbortSignal | undefined,
  ): Promise<URL | Error> {
    try {
      const response = await this.#request(PUSH, {
        method: "PATCH",
        url: location,
        headers: {
          "content-type": "application/octet-stream",
          ...(range !== undefined ? { "content-range": range } : {}),
        },
        body,
        retry: false,
        signal,
      });
      if (response.status === 202) {
        await discardBody(response);
        return uploadLocation(response, subject);
      }
      return await this.#error(response, subject);
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      return error;
    }
  }

  /**
   * `PATCH`es one chunk that starts at `start`. A failed `PATCH` is not repeated blindly, as the
   * registry may have kept part of it: the upload's status says where to go on from. When the
   * registry dropped the session and this is the first chunk, a new session starts over.
   * Returns the upload's next location.
   */
  async #sendChunk(
    location: URL,
    descriptor: Descriptor,
    chunk: Uint8Array<ArrayBuffer>,
    start: number,
    signal: AbortSignal | undefined,
  ): Promise<URL> {
    const subject = `upload of blob ${descriptor.digest} to ${this.name}`;
    const end = start + chunk.byteLength;
    let received = 0; // bytes of this chunk that the registry holds
    for (let attempt = 1;; attempt++) {
      const sent = await this.#patch(
        location,
        subject,
        `${start + received}-${end - 1}`,
        chunk.subarray(received),
        signal,
      );
      if (sent instanceof URL) return sent;
      const failure = sent;
      if (!(failure instanceof NetworkError) || attempt >= CHUNK_ATTEMPTS) throw failure;
      const status = await this.#uploadStatus(location, subject, signal);
      if (status === undefined && start === 0) {
        // Only the first chunk's bytes were sent: start over in a new session.
        location = await this.#startUpload(this.#uploadSubject(descriptor), signal);
        received = 0;
        continue;
      }
      if (status === undefined || status.offset < start || status.offset > end) {
        throw new NetworkError(
          `${subject}: after a failed chunk the registry ` +
            (status === undefined ? "dropped the upload" : `holds ${status.offset} bytes`) +
            `, and the bytes before ${start} cannot be read again`,
          { cause: failure, hint: "push again" },
        );
      }
      location = status.location;
      received = status.offset - start;
      if (received === chunk.byteLength) return location;
    }
  }

  /**
   * `GET` on an upload session: its next location and how many bytes the registry holds, or
   * undefined when the registry no longer knows the session.
   */
  async #uploadStatus(
    location: URL,
    subject: string,
    signal: AbortSignal | undefined,
  ): Promise<{ location: URL; offset: number } | undefined> {
    const response = await this.#request(PUSH, { method: "GET", url: location, signal });
    if (response.status === 404) {
      await discardBody(response);
      return undefined;
    }
    await this.#expect(response, 204, subject);
    // "0-N" names the last byte held. Distribution also says "0-0" when it holds none, which
    // only a 1-byte upload could mean otherwise.
    const end = /^(?:bytes=)?0-(\d+)$/.exec(response.headers.get("range") ?? "")?.[1];
    const offset = end === undefined || end === "0" ? 0 : Number(end) + 1;
    const next = response.headers.has("location") ? uploadLocation(response, subject) : location;
    return { location: next, offset };
  }

  /** The closing `PUT ?digest=`, with the last bytes if any; the registry verifies the digest. */
  async #finishUpload(
    location: URL,
    descriptor: Descriptor,
    body: Uint8Array<ArrayBuffer> = new Uint8Array(),
    signal?: AbortSignal,
  ): Promise<void> {
    const url = new URL(location);
    url.searchParams.set("digest", descriptor.digest);
    const response = await this.#request(PUSH, {
      method: "PUT",
      url,
      headers: { "content-type": "application/octet-stream" },
      body,
      signal,
    });
    await this.#expect(response, 201, `upload of blob ${descriptor.digest} to ${this.name}`);
  }

  async #tagsPageAt(
    url: URL,
    signal: AbortSignal | undefined,
  ): Promise<{ tags: string[]; next?: URL; bytes: number }> {
    const subject = `tags of ${this.name}`;
    const response = await this.#request(PULL, { method: "GET", url, signal });
    if (response.status !== 200) throw await this.#error(response, subject);
    const next = nextLink(response.headers.get("link"), response.url);
    const body = await readBody(response, TAG_LIST_LIMIT);
    let list: { tags?: unknown } | null;
    try {
      list = JSON.parse(new TextDecoder().decode(body));
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      list = null;
    }
    // Distribution answers `"tags": null` for a repository whose tags were all deleted.
    const tags = list?.tags ?? [];
    if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === "string")) {
      throw new IntegrityError(`${subject}: the registry sent a malformed tag list`);
    }
    // A name that is no tag cannot be pulled by it, and goes back to the registry in a URL
    // (`last=`) and to the terminal in messages: one of megabytes fills both.
    for (const tag of tags) this.#checkListedTag(tag, "the registry lists");
    const bytes = body.byteLength;
    return next === undefined ? { tags, bytes } : { tags, next, bytes };
  }

  /** Refuses a name the registry gave as a tag that breaks the tag grammar. */
  #checkListedTag(tag: string, where: string): void {
    if (isTag(tag)) return;
    const quoted = cutText(escapeRemote(tag));
    throw new IntegrityError(
      `tags of ${this.name}: ${where} "${quoted}", which is no tag (${TAG_RULE})`,
    );
  }

  #tagsUrl(options: { n?: number; last?: string }): URL {
    const url = this.#url("/tags/list");
    if (options.n !== undefined) url.searchParams.set("n", String(options.n));
    if (options.last !== undefined) url.searchParams.set("last", options.last);
    return url;
  }

  #request(actions: Action[], request: HttpRequest): Promise<HttpResponse> {
    // A stopped call sends nothing. Checked here, before the client: the transport's wait on a
    // signal that is aborted already leaves the request it started to fail unobserved.
    request.signal?.throwIfAborted();
    return this.#client.request(
      this.registry,
      [repositoryScope(this.repository, actions)],
      request,
      this.repository,
    );
  }

  #url(path: string): URL {
    return this.#client.url(this.registry, `/v2/${this.repository}${path}`);
  }

  /** The manifest URL of a tag or digest, which is checked first: it becomes a path segment. */
  #manifestUrl(reference: string): URL {
    // A sync loop asks for the same tag every tick: it is checked once.
    if (this.#checkedReference?.[0] !== reference) {
      const separator = isDigest(reference) ? "@" : ":";
      const checked = parseRegistryReference(`${this.name}${separator}${reference}`);
      this.#checkedReference = [reference, `/manifests/${checked.digest ?? checked.tag}`];
    }
    return this.#url(this.#checkedReference[1]);
  }

  /** Discards the body when the status is the expected one, else throws the error it means. */
  async #expect(response: HttpResponse, status: number, subject: string): Promise<void> {
    if (response.status !== status) throw await this.#error(response, subject);
    await discardBody(response);
  }

  #error(response: HttpResponse, subject: string): Promise<Error> {
    // The client knows whether credentials were sent, which a 401 or 403 depends on.
    return this.#client.failure(this.registry, response, subject, this.repository);
  }
}

/** The upload's `Location`, resolved against the request URL; its query string is kept. */
function uploadLocation(response: HttpResponse, subject: string): URL {
  const location = response.headers.get("location");
  const url = location === null ? null : URL.parse(location, response.url);
  if (url === null) {
    throw new NetworkError(`${subject}: the registry sent no valid upload location`);
  }
  return url;
}

/**
 * Whether a closing `PUT` failed on the way (the network, or a session that a repeated `PUT`
 * found closed) rather than on what was sent (the bytes, the credentials).
 */
function lostOnTheWay(error: unknown): boolean {
  return error instanceof NetworkError || error instanceof NotFoundError;
}

/**
 * The bounds of a listing that follows a registry's `Link` headers (see
 * {@linkcode MAX_LISTED_TAGS}): a page already read, one page too many, one item too many, or
 * more bytes of pages than the budget ends it with an {@linkcode IntegrityError} about
 * `subject`.
 */
class ListingBounds {
  readonly #subject: string;
  readonly #noun: string;
  readonly #max: { pages: number; items: number; bytes: number };
  readonly #read = new Set<string>();
  #items = 0;
  #bytes = 0;

  constructor(
    subject: string,
    noun: string,
    max: { pages: number; items: number; bytes: number },
  ) {
    this.#subject = subject;
    this.#noun = noun;
    this.#max = max;
  }

  /** Before a page is requested. */
  reading(url: URL): void {
    if (this.#read.has(url.href)) {
      throw new IntegrityError(`${this.#subject}: the registry's next page is one it has sent`);
    }
    if (this.#read.size === this.#max.pages) {
      throw new IntegrityError(`${this.#subject}: more than ${this.#max.pages} pages`);
    }
    this.#read.add(url.href);
  }

  /** Once a page of `bytes` bytes, which lists `count` items, is read. */
  listed(count: number, bytes: number): void {
    this.#items += count;
    this.#bytes += bytes;
    if (this.#items > this.#max.items) {
      throw new IntegrityError(`${this.#subject}: more than ${this.#max.items} ${this.#noun}`);
    }
    if (this.#bytes > this.#max.bytes) {
      throw new IntegrityError(
        `${this.#subject}: the registry's pages of ${this.#noun} add up to more than ` +
          `${this.#max.bytes / (1024 * 1024)} MiB`,
      );
    }
  }
}

/** The `rel="next"` URL of a `Link` header, resolved against the request URL. */
function nextLink(header: string | null, base: URL): URL | undefined {
  for (const link of header?.split(",") ?? []) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(link);
    if (match && /;\s*rel="?next"?\s*(;|$)/i.test(match[2])) {
      return URL.parse(match[1], base) ?? undefined;
    }
  }
  return undefined;
}

/** The `Content-Type` without parameters such as `charset`. */
function mediaTypeOf(headers: Headers): string {
  return (headers.get("content-type") ?? "").split(";", 1)[0].trim();
}

function isSha256Digest(value: string): value is Digest {
  return value.startsWith("sha256:") && isDigest(value);
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`${name} must be a positive integer, not ${value}`, { option: name });
  }
  return value;
}

function indexManifests(parsed: ManifestOrIndex, subject: string): Descriptor[] {
  if (parsed.kind !== "index") throw new IntegrityError(`${subject}: not an image index`);
  return parsed.index.manifests;
}

const REOPEN = Symbol("ocisync.reopen");

/** A blob body that can be read again from an offset; see {@linkcode reopenable}. */
interface Reopenable {
  [REOPEN]: (offset: number) => Promise<ReadableStream<Uint8Array>>;
}

/**
 * Marks a blob body as one that can be read again from any offset, as a file can: given to
 * {@linkcode RegistryTarget.pushBlob}, a large one goes up in one streamed request, and after a
 * failure is read again from the offset the registry reports instead of being held in memory.
 * Other targets read it as any stream. Only for the caller's own bytes, whose digest it computed
 * from them: a registry does not hash them a second time on the way, and relies on its own check
 * of the digest, which refuses bytes that changed since.
 *
 * @example
 * ```ts
 * import { reopenable } from "./registry.ts";
 * const path = "./layer.tar.gz";
 * const openAt = async (offset: number) => {
 *   const file = await Deno.open(path);
 *   await file.seek(offset, Deno.SeekMode.Start);
 *   return file.readable;
 * };
 * const body = reopenable(await openAt(0), openAt);
 * ```
 */
export function reopenable(
  stream: ReadableStream<Uint8Array>,
  reopen: (offset: number) => Promise<ReadableStream<Uint8Array>>,
): ReadableStream<Uint8Array> {
  return Object.assign(stream, { [REOPEN]: reopen });
}

/** Reads a byte stream in chunks of a fixed size; only the last one is shorter. */
class ChunkReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #size: number;
  #buffered: Uint8Array[] = [];
  #bufferedBytes = 0;
  #done = false;

  constructor(stream: ReadableStream<Uint8Array>, size: number) {
    this.#reader = stream.getReader();
    this.#size = size;
  }

  /** The next chunk: empty once the stream has ended. */
  async next(): Promise<Uint8Array<ArrayBuffer>> {
    await this.#fill(this.#size);
    const chunk = new Uint8Array(Math.min(this.#size, this.#bufferedBytes));
    for (let offset = 0; offset < chunk.byteLength;) {
      const head = this.#buffered[0];
      const taken = Math.min(head.byteLength, chunk.byteLength - offset);
      chunk.set(head.subarray(0, taken), offset);
      offset += taken;
      if (taken === head.byteLength) this.#buffered.shift();
      else this.#buffered[0] = head.subarray(taken);
    }
    this.#bufferedBytes -= chunk.byteLength;
    return chunk;
  }

  /** Whether no bytes are left; reads ahead to find out. */
  async atEnd(): Promise<boolean> {
    await this.#fill(1);
    return this.#bufferedBytes === 0;
  }

  async cancel(reason: unknown): Promise<void> {
    await this.#reader.cancel(reason).catch(() => {});
  }

  async #fill(bytes: number): Promise<void> {
    while (!this.#done && this.#bufferedBytes < bytes) {
      const { done, value } = await this.#reader.read();
      if (done) this.#done = true;
      else {
        this.#buffered.push(value);
        this.#bufferedBytes += value.byteLength;
      }
    }
  }
}
