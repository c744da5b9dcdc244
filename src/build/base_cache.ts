/**
 * A base image's documents, kept so that a build can run offline. The base's
 * manifest (and, for an index, the chosen platform's manifest) and its config
 * are content-addressed: once read, they are stored under their digest in
 * the ocisync cache folder, `blobs/sha256/HEX`, and a later build whose base
 * is pinned by digest reads them from there without asking the registry.
 * Each entry is checked against its digest as it is read: a damaged entry is
 * removed and read again from the registry, never trusted.
 *
 * The base's layers are not cached: a build never downloads them (a push
 * mounts them, or streams them from registry to registry).
 *
 * @example
 * ```ts
 * import { openCachedBase } from "./base_cache.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const base = await openCachedBase(
 *   parseReference(`docker.io/library/python:3.12-slim@sha256:${"0".repeat(64)}`),
 *   { onDetail: (message) => console.error(message) },
 * );
 * console.log(base.config.rootfs.diff_ids.length);
 * ```
 * @module
 */
import { isDigest, sha256Digest } from "../digest/mod.ts";
import { IntegrityError, NetworkError } from "../errors/mod.ts";
import { writeFileAtomic } from "../fs/atomic.ts";
import { readRegularFile } from "../fs/read.ts";
import { fetchConfigBytes, MAX_CONFIG_BYTES } from "../image/config.ts";
import type { CallOptions, Target } from "../oci/target.ts";
import {
  type Descriptor,
  MAX_MANIFEST_BYTES,
  parseManifestOrIndex,
  type Platform,
} from "../oci/types.ts";
import { openBase, type OpenedBase } from "../pull/read.ts";
import { openBaseIndex, type OpenedBaseIndex } from "../push/index.ts";
import { checkCacheFolder, defaultCacheDir, ownCacheFolder } from "../python/cache.ts";
import type { Reference } from "../ref/mod.ts";
import type { OpenTargetOptions } from "../target/mod.ts";

/** The largest document kept: a manifest's limit or a config's, whichever is larger. */
const MAX_DOCUMENT_BYTES = Math.max(MAX_MANIFEST_BYTES, MAX_CONFIG_BYTES);

/** Manifests and configs by digest, in `DIR/blobs/sha256/HEX`. */
export class DocumentCache {
  /** The folder of the entries, `…/blobs/sha256`. */
  readonly dir: string;
  readonly #onDetail?: (message: string) => void;

  /**
   * A cache under `root` (default {@linkcode defaultCacheDir}), created when
   * the first entry is stored. `onDetail` hears of damaged entries.
   *
   * @example
   * ```ts
   * import { DocumentCache } from "./base_cache.ts";
   * const cache = new DocumentCache("/tmp/ocisync-cache");
   * ```
   */
  constructor(root: string = defaultCacheDir(), onDetail?: (message: string) => void) {
    this.dir = `${root}/blobs/sha256`;
    this.#onDetail = onDetail;
  }

  /**
   * The bytes stored under `digest`, once they hash to it; undefined when
   * there is no entry, when it is damaged, over the limit of a document, or
   * no regular file (then it is removed), and when the folder is not one of
   * this user's own ({@linkcode ownCacheFolder}: then it is not read). The
   * digest guards what a hit holds, so a bad entry costs a request, never a
   * build; the detail says why.
   *
   * @example
   * ```ts
   * import { DocumentCache } from "./base_cache.ts";
   * const bytes = await new DocumentCache("/tmp/c").get(`sha256:${"0".repeat(64)}`);
   * ```
   */
  async get(digest: string): Promise<Uint8Array | undefined> {
    const path = this.#path(digest);
    if (path === undefined) return undefined;
    let bytes: Uint8Array;
    try {
      // Another user who may change the folder could swap an entry for a fifo between the look
      // at it and its open, and hang the build: such a folder is not read.
      await checkCacheFolder(this.dir);
      // A link, a fifo or a device is never opened, and a stray large file is not held in memory.
      bytes = await readRegularFile(path, MAX_DOCUMENT_BYTES, "cache entries are regular files");
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      if (error instanceof IntegrityError) return await this.#damaged(digest, error.message);
      this.#onDetail?.(`cannot read the cached ${digest}: ${(error as Error).message}`);
      return undefined;
    }
    return sha256Digest(bytes) === digest
      ? bytes
      : await this.#damaged(digest, `it hashes to ${sha256Digest(bytes)}`);
  }

  /**
   * Stores `bytes` under `digest`, atomically. A digest other than sha256 is
   * not stored.
   *
   * @throws {IntegrityError} when the bytes do not hash to `digest`.
   * @example
   * ```ts
   * import { DocumentCache } from "./base_cache.ts";
   * import { sha256Digest } from "../digest/mod.ts";
   * const bytes = new TextEncoder().encode("{}");
   * await new DocumentCache("/tmp/c").put(sha256Digest(bytes), bytes);
   * ```
   */
  async put(digest: string, bytes: Uint8Array): Promise<void> {
    const path = this.#path(digest);
    if (path === undefined) return;
    const actual = sha256Digest(bytes);
    if (actual !== digest) {
      throw new IntegrityError(`document ${digest} hashes to ${actual}: not cached`);
    }
    await ownCacheFolder(this.dir);
    await writeFileAtomic(path, [bytes], { replacePath: true });
  }

  #path(digest: string): string | undefined {
    return isDigest(digest) && digest.startsWith("sha256:")
      ? `${this.dir}/${digest.slice("sha256:".length)}`
      : undefined;
  }

  async #damaged(digest: string, why: string): Promise<undefined> {
    this.#onDetail?.(
      `the cached ${digest} is damaged (${why}): removed, to be read from the registry`,
    );
    await Deno.remove(this.#path(digest)!).catch(() => {});
    return undefined;
  }
}

/**
 * A view of `target` that reads manifests and configs through `cache`,
 * storing what it reads there. Only for a base's documents: each blob read
 * through it is held in memory, bounded as a config is.
 */
class CachedDocuments implements Target {
  readonly name: string;
  readonly #target: Target;
  readonly #cache: DocumentCache;
  readonly #onDetail?: (message: string) => void;
  readonly #signal?: AbortSignal;
  /** Verified bytes: a manifest is looked up to resolve its digest, then read. */
  readonly #read = new Map<string, Uint8Array>();

  /** `signal`, when given, stops every request of this view, besides the caller's own. */
  constructor(
    target: Target,
    cache: DocumentCache,
    onDetail?: (message: string) => void,
    signal?: AbortSignal,
  ) {
    this.name = target.name;
    this.#target = target;
    this.#cache = cache;
    this.#onDetail = onDetail;
    this.#signal = signal;
  }

  /** A digest held in the cache needs no registry: the bytes give the media type and size. */
  async resolve(reference: string, options: CallOptions = {}): Promise<Descriptor> {
    if (!isDigest(reference)) return await this.#target.resolve(reference, this.#call(options));
    const bytes = await this.#cached(reference);
    if (bytes === undefined) return await this.#target.resolve(reference, this.#call(options));
    const { mediaType } = parseManifestOrIndex(bytes);
    return { mediaType, digest: reference, size: bytes.byteLength };
  }

  fetchManifest(descriptor: Descriptor, options: CallOptions = {}): Promise<Uint8Array> {
    return this.#document(
      descriptor,
      () => this.#target.fetchManifest(descriptor, this.#call(options)),
    );
  }

  async fetchBlob(
    descriptor: Descriptor,
    options: CallOptions = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const bytes = await this.#document(
      descriptor,
      () => fetchConfigBytes(this.#target, descriptor, this.#call(options)),
    );
    return ReadableStream.from([bytes]);
  }

  hasBlob(descriptor: Descriptor): Promise<boolean> {
    return this.#target.hasBlob(descriptor);
  }

  pushBlob(descriptor: Descriptor, body: ReadableStream<Uint8Array>): Promise<boolean> {
    return this.#target.pushBlob(descriptor, body);
  }

  pushManifest(descriptor: Descriptor, bytes: Uint8Array, tags: string[]): Promise<void> {
    return this.#target.pushManifest(descriptor, bytes, tags);
  }

  tags(): AsyncIterable<string> {
    return this.#target.tags();
  }

  /** A call's options with this view's signal too. */
  #call(options: CallOptions): CallOptions {
    const signals = [this.#signal, options.signal].filter((signal) => signal !== undefined);
    return { ...options, signal: signals.length > 1 ? AbortSignal.any(signals) : signals[0] };
  }

  /** The cached bytes of `descriptor`, else the target's (verified by it), then stored. */
  async #document(
    descriptor: Descriptor,
    fetch: () => Promise<Uint8Array>,
  ): Promise<Uint8Array> {
    const cached = await this.#cached(descriptor.digest);
    if (cached !== undefined) {
      if (cached.byteLength !== descriptor.size) {
        throw new IntegrityError(
          `${descriptor.digest} of ${this.name} has ${cached.byteLength} bytes, ` +
            `its descriptor says ${descriptor.size}`,
        );
      }
      return cached;
    }
    const bytes = await fetch();
    await this.#store(descriptor.digest, bytes);
    return bytes;
  }

  async #cached(digest: string): Promise<Uint8Array | undefined> {
    const known = this.#read.get(digest);
    if (known !== undefined) return known;
    const bytes = await this.#cache.get(digest);
    if (bytes === undefined) return undefined;
    this.#onDetail?.(`base ${digest}: read from the cache`);
    this.#read.set(digest, bytes);
    return bytes;
  }

  /** A cache that cannot be written costs the next build a request, not this one its result. */
  async #store(digest: string, bytes: Uint8Array): Promise<void> {
    try {
      await this.#cache.put(digest, bytes);
      this.#read.set(digest, bytes);
    } catch (error) {
      if (error instanceof IntegrityError) throw error;
      this.#onDetail?.(`cannot cache ${digest}: ${(error as Error).message}`);
    }
  }
}

/** Options of {@linkcode openCachedBase}. */
export interface CachedBaseOptions {
  /** How to open the base's registry: credentials, transport. */
  targets?: OpenTargetOptions;
  /** The platform to choose from an index. */
  platform?: Platform;
  /** The cache folder. Default {@linkcode defaultCacheDir}. */
  cacheDir?: string;
  /** Cache hits, damaged entries and failed writes, one line each. */
  onDetail?: (message: string) => void;
  /** Stops the reading of the base from its registry: its requests are aborted. */
  signal?: AbortSignal;
}

/**
 * Opens a base as `openBase` does, reading its manifests and config through
 * a {@linkcode DocumentCache} and storing them there. A base pinned by digest
 * whose documents are cached is opened without any request; a layout base
 * is read as it is.
 *
 * @throws {NetworkError} when the registry cannot be reached and the
 * documents are not all cached; the hint says how to build offline.
 * @example
 * ```ts
 * import { openCachedBase } from "./base_cache.ts";
 * import { closeTarget } from "../target/mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const base = await openCachedBase(parseReference("localhost:5000/base/busybox:1"));
 * closeTarget(base.target);
 * ```
 */
export async function openCachedBase(
  reference: Reference,
  options: CachedBaseOptions = {},
): Promise<OpenedBase> {
  const { targets, platform } = options;
  return await throughCache(
    reference,
    options,
    (documents) => openBase(reference, targets, platform, documents),
  );
}

/**
 * Opens a base for a multi-platform build as `openBaseIndex` of `../push/index.ts` does,
 * reading its index, manifests and configs through a {@linkcode DocumentCache} as
 * {@linkcode openCachedBase} does. Reading a platform's image later goes through the cache too.
 *
 * @throws {NetworkError} when the registry cannot be reached and the index is not cached.
 * @example
 * ```ts
 * import { openCachedBaseIndex } from "./base_cache.ts";
 * import { closeTarget } from "../target/mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const base = await openCachedBaseIndex(parseReference("localhost:5000/base/busybox:1"));
 * console.log(base.platforms);
 * await closeTarget(base.target);
 * ```
 */
export async function openCachedBaseIndex(
  reference: Reference,
  options: Omit<CachedBaseOptions, "platform"> = {},
): Promise<OpenedBaseIndex> {
  const opened = await throughCache(
    reference,
    options,
    (documents) => openBaseIndex(reference, options.targets, documents),
  );
  const offline = async <T>(read: () => Promise<T>): Promise<T> => {
    try {
      return await read();
    } catch (error) {
      throw offlineError(error, reference);
    }
  };
  return {
    ...opened,
    image: (platform) => offline(() => opened.image(platform)),
    images: () => offline(() => opened.images()),
  };
}

/** Runs `open` with a cache over the base's documents (none for a layout). */
async function throughCache<T>(
  reference: Reference,
  options: Omit<CachedBaseOptions, "platform">,
  open: (documents?: (target: Target) => Target) => Promise<T>,
): Promise<T> {
  if (reference.kind === "layout") return await open();
  const { onDetail } = options;
  const cache = new DocumentCache(options.cacheDir, onDetail);
  try {
    return await open((target) => new CachedDocuments(target, cache, onDetail, options.signal));
  } catch (error) {
    throw offlineError(error, reference);
  }
}

/** A network error with the hint that says how to build offline; any other error as it is. */
function offlineError(error: unknown, reference: Reference): unknown {
  if (!(error instanceof NetworkError)) return error;
  return new NetworkError(error.message, {
    hint: [error.hint, offlineHint(reference.digest)].filter(Boolean).join("; "),
    cause: error,
  });
}

/** What would have let the build go on without the registry. */
function offlineHint(digest: string | undefined): string {
  return digest
    ? "the base's manifest and config are not all in the cache: build once with the registry " +
      "reachable"
    : "pin the base by digest to build offline";
}
