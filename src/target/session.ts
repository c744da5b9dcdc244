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
import { openArchiveTarget } from "../archive/mod.ts";
import { LayoutTarget } from "../layout/mod.ts";
import { isCloser, type Target } from "../oci/target.ts";
import { type Reference, registryHost } from "../ref/mod.ts";
import { RegistryClient, type RegistryClientOptions } from "../remote/auth.ts";
import { RegistryTarget } from "../remote/registry.ts";

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
  /** Create a layout directory that does not exist (for writing). */
  create?: boolean;
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
    if (reference.kind === "layout") {
      return await LayoutTarget.open(reference.path, { create: options.create });
    }
    if (reference.kind === "archive") {
      return await openArchiveTarget(reference, { create: options.create });
    }
    return new RegistryTarget(reference, {
      client: this.client(reference.registry),
      concurrency: this.#concurrency,
      chunkSize: this.#chunkSize,
    });
  }

  /**
   * The session's client for a registry (as written in references; `docker.io` and
   * `registry-1.docker.io` are one host), made at the first call.
   *
   * @throws {TypeError} when the session is closed.
   * @example
   * ```ts
   * import { Session } from "./session.ts";
   * await using session = new Session();
   * const client = session.client("localhost:5000");
   * console.log(client === session.client("localhost:5000")); // true
   * ```
   */
  client(registry: string): RegistryClient {
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
    this.#closed = true;
    // The targets first, newest first: an archive writes its file as it closes.
    const targets = this.#targets.reverse();
    this.#targets = [];
    try {
      for (const target of targets) if (isCloser(target)) await target.close();
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
