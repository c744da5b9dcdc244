/**
 * A session: what one command run (or one library job) opens its targets
 * through. It keeps one {@linkcode RegistryClient} per registry host, shared
 * by every target it opens there, so that the challenge is learnt once and a
 * token is asked for once per scope set, however many repositories of that
 * registry the run touches (`copy` between two of them, `push --base` or a
 * `build` whose base is on the registry it pushes to). Closing the session
 * closes those clients.
 *
 * @example
 * ```ts
 * import { Session } from "./session.ts";
 * import { parseReference } from "../ref/mod.ts";
 * await using session = new Session({ log: console.error });
 * const source = await session.open(parseReference("localhost:5000/app:v1"));
 * const mirror = await session.open(parseReference("localhost:5000/mirror/app"));
 * console.log(source.name, mirror.name); // one client, one challenge, for both
 * ```
 * @module
 */
import { isCloser, isDiscarder, type Target } from "../oci/target.ts";
import { type Reference, registryHost } from "../ref/mod.ts";
// Types only: the client's code (auth and transport) loads at the first registry opened, so
// that a run that opens only layouts or archives does not evaluate it.
import type { RegistryClient, RegistryClientOptions } from "../remote/auth.ts";
import { openLocalTarget, openRegistryTarget } from "./open.ts";

/**
 * Options of a {@linkcode Session}: how its registry clients connect and authenticate, and
 * the upload settings of the registry targets it opens.
 *
 * @example
 * ```ts
 * import type { SessionOptions } from "./session.ts";
 * const options: SessionOptions = { plainHttp: true, retries: 2, concurrency: 8 };
 * ```
 */
export interface SessionOptions extends RegistryClientOptions {
  /** Uploads at once per registry target; see `RegistryOptions.concurrency`. Default 4. */
  concurrency?: number;
  /** Chunk size of uploads; see `RegistryOptions.chunkSize`. Default 8 MiB. */
  chunkSize?: number;
}

/**
 * Options of {@linkcode Session.open}.
 *
 * @example
 * ```ts
 * import type { SessionOpenOptions } from "./session.ts";
 * const forWriting: SessionOpenOptions = { create: true };
 * ```
 */
export interface SessionOpenOptions {
  /**
   * Create a layout directory that does not exist (for writing). One created so is removed when
   * the session closes (or discards) with nothing listed in it: a failed run leaves none.
   */
  create?: boolean;
  /**
   * For a `docker-archive:` opened for writing: the most bytes the image's layers may
   * decompress to (the archive holds them uncompressed). Default 32 GiB.
   */
  maxExtractSize?: number;
}

/**
 * Opens targets from references, one registry client per registry host among them. Safe for
 * concurrent use. Close it (or `await using` it) when the run is over; the targets it opened
 * are then done too.
 *
 * @example
 * ```ts
 * import { Session } from "./session.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const session = new Session();
 * try {
 *   const from = await session.open(parseReference("localhost:5000/app"));
 *   const to = await session.open(parseReference("localhost:5000/mirror/app"));
 *   const image = await from.resolve("v1");
 *   await to.pushManifest(image, await from.fetchManifest(image), ["v1"]); // blobs first, really
 * } finally {
 *   await session.close();
 * }
 * ```
 */
export class Session implements AsyncDisposable {
  #clientOptions: RegistryClientOptions;
  #concurrency?: number;
  #chunkSize?: number;
  /** Per registry host. */
  #clients = new Map<string, RegistryClient>();
  /** What `open` returned: closed with the session (an archive is written then). */
  #targets: Target[] = [];
  #closed = false;

  /** A session; nothing is sent, and no client made, until a registry target needs one. */
  constructor(options: SessionOptions = {}) {
    const { concurrency, chunkSize, ...clientOptions } = options;
    this.#clientOptions = clientOptions;
    this.#concurrency = concurrency;
    this.#chunkSize = chunkSize;
  }

  /**
   * Opens the target of a reference: a registry repository, on the session's client for its
   * registry, or an OCI image layout directory for `oci:PATH`. Its tag and digest are not
   * used: resolve them on the target (`resolveReference` of `./mod.ts`).
   *
   * @throws {NotFoundError} when a layout does not exist and `create` is not set.
   * @throws {TypeError} when the session is closed.
   * @example
   * ```ts
   * import { Session } from "./session.ts";
   * import { parseReference } from "../ref/mod.ts";
   * await using session = new Session();
   * const layout = await session.open(parseReference("oci:./bundle"), { create: true });
   * ```
   */
  async open(reference: Reference, options: SessionOpenOptions = {}): Promise<Target> {
    this.#checkOpen();
    const target = await this.#open(reference, options);
    this.#targets.push(target);
    return target;
  }

  async #open(reference: Reference, options: SessionOpenOptions): Promise<Target> {
    if (reference.kind !== "registry") return await openLocalTarget(reference, options);
    return await openRegistryTarget(reference, {
      client: await this.client(reference.registry),
      concurrency: this.#concurrency,
      chunkSize: this.#chunkSize,
    });
  }

  /**
   * The session's client for a registry (as written in references; `docker.io` and
   * `registry-1.docker.io` are one host), made at the first call. Concurrent first calls for
   * one host get the same client.
   *
   * @throws {TypeError} when the session is closed.
   * @example
   * ```ts
   * import { Session } from "./session.ts";
   * await using session = new Session();
   * const client = await session.client("localhost:5000");
   * console.log(client === await session.client("localhost:5000")); // true
   * ```
   */
  async client(registry: string): Promise<RegistryClient> {
    this.#checkOpen();
    const { RegistryClient } = await import("../remote/auth.ts");
    // Checked again after the import, and no await from here to `set`: a session closed
    // meanwhile makes no client, and concurrent calls share the first one made.
    this.#checkOpen();
    const host = registryHost(registry);
    let client = this.#clients.get(host);
    if (client === undefined) {
      client = new RegistryClient(this.#clientOptions);
      this.#clients.set(host, client);
    }
    return client;
  }

  /**
   * Closes every client the session made. The targets it opened must not be used after it;
   * calling it again does nothing.
   *
   * @example
   * ```ts
   * import { Session } from "./session.ts";
   * const session = new Session();
   * await session.close();
   * ```
   */
  async close(): Promise<void> {
    // The targets first, newest first: an archive writes its file as it closes.
    await this.#end(async (target) => {
      if (isCloser(target)) await target.close();
    });
  }

  /**
   * Closes the session after a failed run: a target that stages its writes (an archive) drops
   * them, so that its file is not created, or is left byte for byte as it was; the others are
   * closed. An error of dropping is not thrown (the run's own error is the one to report): a
   * staging folder that could not be removed stays beside the file, named `.FILE.*.staging`.
   *
   * @example
   * ```ts
   * import { Session } from "./session.ts";
   * import { parseReference } from "../ref/mod.ts";
   * await using session = new Session();
   * const archive = await session.open(parseReference("oci-archive:out.tar"), { create: true });
   * try {
   *   // …a copy into the archive that throws…
   * } catch (error) {
   *   await session.discard(); // out.tar is not written
   *   throw error;
   * }
   * ```
   */
  async discard(): Promise<void> {
    await this.#end(async (target) => {
      try {
        if (isDiscarder(target)) await target.discard();
        else if (isCloser(target)) await target.close();
      } catch {
        // See above: the caller rethrows the run's error.
      }
    });
  }

  /**
   * Runs `job`; when it throws, {@linkcode Session.discard}s before the error goes on, so that
   * a failed run writes no archive (and the session is closed). When it succeeds, the session
   * stays open: `close()` (or `await using`) writes the archives.
   *
   * @example
   * ```ts
   * import { Session } from "./session.ts";
   * import { parseReference } from "../ref/mod.ts";
   * await using session = new Session();
   * await session.discardOnFailure(async () => {
   *   const archive = await session.open(parseReference("oci-archive:out.tar"), { create: true });
   *   // …pushes; if one throws, out.tar is left as it was…
   * });
   * ```
   */
  async discardOnFailure<T>(job: () => Promise<T>): Promise<T> {
    try {
      return await job();
    } catch (error) {
      await this.discard();
      throw error;
    }
  }

  /** Ends every target, newest first, with `end`; then closes the clients. */
  async #end(end: (target: Target) => Promise<void>): Promise<void> {
    this.#closed = true;
    const targets = this.#targets.reverse();
    this.#targets = [];
    try {
      for (const target of targets) await end(target);
    } finally {
      for (const client of this.#clients.values()) client.close();
      this.#clients.clear();
    }
  }

  /** Closes the session, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new TypeError("the session is closed");
  }
}
