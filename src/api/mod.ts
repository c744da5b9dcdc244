/**
 * The high-level API: one function per common job, each taking reference strings
 * (`ghcr.io/acme/flows:v1`, `localhost:5000/app@sha256:…`, `oci:./bundle:v1`) and doing the whole
 * job, as the CLI command of the same name does, without printing anything.
 *
 * - {@linkcode pushFolder}: a folder as a one-layer image;
 * - {@linkcode pushFiles}: files as an ORAS-style artifact;
 * - {@linkcode pullTo}: an image or artifact into a folder;
 * - {@linkcode copy}: an image, or every tag of a repository, from one place to another;
 * - {@linkcode inspect}: a manifest or index, and an image's config;
 * - {@linkcode syncOnce} and {@linkcode watch}: keep a folder in step with a reference, once or
 *   in a loop.
 *
 * Each call opens one `Session`, so that it authenticates once per registry, and closes it
 * before it returns. Credentials are found as the CLI finds them (`credentialLookup`: Docker's
 * config, containers' `auth.json`, credential helpers) unless `credentials` says otherwise. The
 * errors thrown are the library's typed errors (`UsageError`, `AuthError`, `NotFoundError`,
 * `IntegrityError`, `NetworkError`, `UnsafeContentError`), unchanged. An error of the file
 * system (`Deno.errors.PermissionDenied`, `NotFound`…) is thrown as an `OcisyncError` (a
 * `NotFoundError` for a missing path) whose message names the operation and the path, with the
 * Deno error as its `cause`. A call stopped by its `signal` throws the signal's reason.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inspect, pullTo, pushFolder } from "../../mod.ts";
 * const tmp = await Deno.makeTempDir();
 * await Deno.mkdir(`${tmp}/site`);
 * await Deno.writeTextFile(`${tmp}/site/index.html`, "<h1>hi</h1>");
 * const pushed = await pushFolder(`oci:${tmp}/bundle:v1`, `${tmp}/site`, { dest: "/srv/www" });
 * assert.equal((await inspect(`oci:${tmp}/bundle:v1`)).digest, pushed.digest);
 * await pullTo(`oci:${tmp}/bundle:v1`, `${tmp}/out`);
 * assert.equal(await Deno.readTextFile(`${tmp}/out/srv/www/index.html`), "<h1>hi</h1>");
 * await Deno.remove(tmp, { recursive: true });
 * ```
 * @module
 */
import { blobsOfReferences, type CopiedImage, copySource, planSources } from "../copy/mod.ts";
import { DEFAULT_ARTIFACT_TYPE } from "./defaults.ts";
import {
  type Credential,
  type CredentialLookup,
  credentialLookup,
  normaliseHost,
} from "../credentials/mod.ts";
import type { Compression } from "../compress/mod.ts";
import type { Digest } from "../digest/mod.ts";
import { NotFoundError, UsageError } from "../errors/mod.ts";
import { explainOsError } from "../errors/os.ts";
import { fetchConfig } from "../image/config.ts";
import { createdAt } from "../image/build.ts";
import { imagePlan } from "../image/plan.ts";
import { DEFAULT_PLATFORM, formatPlatform, parsePlatform } from "../image/platform.ts";
import { MediaType } from "../oci/mediatypes.ts";
import { isPushAuthenticator, type Target } from "../oci/target.ts";
import {
  type Descriptor,
  type ImageConfig,
  type Index,
  type Manifest,
  parseManifestOrIndex,
  type Platform,
} from "../oci/types.ts";
import type { BlobListener } from "../progress/mod.ts";
import { pull, type PullResult } from "../pull/mod.ts";
import { type ArtifactFile, planArtifact, prepareLayer } from "../push/mod.ts";
import { type PushResult, writePlan } from "../push/write.ts";
import {
  formatReference,
  parseReference,
  type Reference,
  registryOf,
  writtenPaths,
} from "../ref/mod.ts";
import {
  directoryOutput,
  lockSyncPaths,
  syncLoop,
  type SyncOutput,
  SyncState,
} from "../sync/mod.ts";
import type { SyncTick } from "../sync/http.ts";
import { checkTags, destinationTags, resolveToRead, Session } from "../target/mod.ts";
import { makeWorkFolder } from "../fs/interrupted.ts";
import { checkedMtime } from "../layer/limits.ts";

export { DEFAULT_ARTIFACT_TYPE } from "./defaults.ts";

/**
 * Where a call's registry credentials come from:
 *
 * - left out: as the CLI finds them, from `$REGISTRY_AUTH_FILE`, Docker's config
 *   (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`) with its credential helpers,
 *   and containers' `auth.json`;
 * - a {@linkcode Credential}: this one, for the registry the call writes to, or reads from when
 *   it writes to none (a copy's destination, a push's, a pull's source); any other registry
 *   the call talks to (a copy's source on another registry) is asked as when left out, so
 *   that a password meant for one registry never reaches another;
 * - a {@linkcode CredentialLookup}: asked for each registry and repository the call's requests
 *   are for (the repository is left out for a request to the registry itself);
 * - `false`: none, every request is anonymous.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Credentials } from "../../mod.ts";
 * const token: Credentials = { username: "ci", password: Deno.env.get("TOKEN") ?? "" };
 * const perRegistry: Credentials = (registry) =>
 *   Promise.resolve(registry === "ghcr.io" ? { password: "…" } : undefined);
 * const anonymous: Credentials = false;
 * assert.equal(typeof perRegistry, "function");
 * assert.deepEqual([typeof token, anonymous], ["object", false]);
 * ```
 */
export type Credentials = Credential | CredentialLookup | false;

/**
 * The options every function of the high-level API takes: credentials, how to reach
 * registries, and a signal to stop.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CallSettings } from "../../mod.ts";
 * const settings: CallSettings = {
 *   credentials: false,
 *   plainHttp: true,
 *   retries: 2,
 *   signal: AbortSignal.timeout(60_000),
 * };
 * assert.equal(settings.plainHttp, true);
 * ```
 */
export interface CallSettings {
  /** Where registry credentials come from; see {@linkcode Credentials}. Default: as the CLI. */
  credentials?: Credentials;
  /**
   * Speak plain HTTP to registries (`--plain-http`). Loopback registries (`localhost`,
   * `127.0.0.1`) are spoken to in plain HTTP without it.
   */
  plainHttp?: boolean;
  /** A PEM file of certificate authorities to trust, besides the system's (`--ca-file`). */
  caFile?: string;
  /** Retries of a request that failed for a transient reason. Default 3. */
  retries?: number;
  /** Milliseconds to wait for a response, and for more of its body. */
  timeout?: number;
  /** Receives warnings, such as a credentials file that others may read. Default: dropped. */
  warn?: (message: string) => void;
  /** Stops the call: the step under way ends where it can, and nothing more is started. */
  signal?: AbortSignal;
}

/**
 * Options of {@linkcode pushFolder}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PushFolderOptions } from "../../mod.ts";
 * const options: PushFolderOptions = { dest: "/opt/flows", tags: ["latest"], platform: "linux/arm64" };
 * assert.deepEqual(options.tags, ["latest"]);
 * ```
 */
export interface PushFolderOptions extends CallSettings {
  /** Where the folder's content goes in the image. Default: its root. */
  dest?: string;
  /** Tags to write besides the reference's own (which is `latest` when it names none). */
  tags?: string[];
  /** The image's platform, as `os/arch[/variant]` or a {@linkcode Platform}. Default linux/amd64. */
  platform?: string | Platform;
  /** gitignore-style patterns to leave out, besides the folder's `.ocisyncignore`. */
  exclude?: string[];
  /** The layer's compression. Default gzip. */
  compression?: Compression;
  /**
   * The time of every entry and the image's `created`, in seconds since the epoch. Default 0,
   * so that the same folder always makes the same digest.
   */
  mtime?: number;
  /** Blobs sent at once. Default 4. */
  concurrency?: number;
  /** Progress events, for a display. */
  onBlob?: BlobListener;
}

/** What {@linkcode pushFolder} and {@linkcode pushFiles} wrote. */
export interface PushedImage extends PushResult {
  /** The tags written, in order; none for a push by digest. */
  tags: string[];
}

/**
 * Pushes a folder as an image of one layer to a registry or an `oci:` layout, as
 * `ocisync push REF DIR[:DEST]` does. Building the layer is deterministic: the same folder makes
 * the same digest, and blobs the destination has are not sent again. A registry is asked for
 * push access before the folder is packed; a layout is created only once the layer is made.
 *
 * @throws {UsageError} for a reference or platform that is not valid.
 * @throws {NotFoundError} when the folder does not exist.
 * @throws {AuthError} when the registry refuses the credentials.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inspect, pushFolder } from "../../mod.ts";
 * const tmp = await Deno.makeTempDir();
 * await Deno.mkdir(`${tmp}/flows`);
 * await Deno.writeTextFile(`${tmp}/flows/flow.py`, "print('hi')\n");
 * const pushed = await pushFolder(`oci:${tmp}/bundle:v1`, `${tmp}/flows`, {
 *   dest: "/opt/flows",
 *   tags: ["latest"],
 *   platform: "linux/arm64",
 * });
 * assert.match(pushed.digest, /^sha256:[0-9a-f]{64}$/);
 * assert.deepEqual(pushed.tags, ["v1", "latest"]);
 * const found = await inspect(`oci:${tmp}/bundle:latest`);
 * assert.equal(found.kind === "manifest" && found.platform, "linux/arm64/v8");
 * await Deno.remove(tmp, { recursive: true });
 * ```
 */
export function pushFolder(
  reference: string,
  folder: string,
  options: PushFolderOptions = {},
): Promise<PushedImage> {
  return typed(() => pushFolderNow(reference, folder, options));
}

async function pushFolderNow(
  reference: string,
  folder: string,
  options: PushFolderOptions,
): Promise<PushedImage> {
  const ref = parseReference(reference);
  const platform = platformOf(options.platform) ?? DEFAULT_PLATFORM;
  const tags = pushTags(ref, options.tags);
  const mtime = checkedMtime(options.mtime ?? 0);
  const info = await Deno.stat(folder).catch(() => undefined);
  if (!info?.isDirectory) throw new NotFoundError(`no such folder: ${folder}`);
  await using session = openSession(options, registryOf(ref));
  const open = opener(session, ref, options.signal);
  if (ref.kind === "registry") await open();
  return await pushInWorkFolder(tags, options, async (work, transfer) => {
    const layer = await prepareLayer(
      { kind: "folder", path: folder, prefix: options.dest ?? "" },
      work,
      mtime,
      {
        compression: options.compression,
        exclude: options.exclude,
        skip: writtenPaths(ref),
        signal: options.signal,
      },
    );
    options.signal?.throwIfAborted();
    const plan = imagePlan([layer], { platform, created: createdAt(mtime) });
    return await writePlan(await open(), plan, tags, {
      ...transfer,
      destinationDigest: ref.digest,
    });
  });
}

/**
 * Options of {@linkcode pushFiles}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PushFilesOptions } from "../../mod.ts";
 * const options: PushFilesOptions = { artifactType: "application/vnd.acme.config.v1" };
 * assert.equal(options.artifactType?.startsWith("application/"), true);
 * ```
 */
export interface PushFilesOptions extends CallSettings {
  /** The manifest's `artifactType`. Default {@linkcode DEFAULT_ARTIFACT_TYPE}. */
  artifactType?: string;
  /** Tags to write besides the reference's own (which is `latest` when it names none). */
  tags?: string[];
  /** Manifest annotations. */
  annotations?: Record<string, string>;
  /** The time of the entries of packed folders, in seconds since the epoch. Default 0. */
  mtime?: number;
  /** Blobs sent at once. Default 4. */
  concurrency?: number;
  /** Progress events, for a display. */
  onBlob?: BlobListener;
}

/**
 * Pushes files as an ORAS-compatible artifact, as `ocisync push REF --files FILE…` does: one
 * blob per file, titled with its name, which `pullTo` (or `oras pull`) writes back. A file given
 * as a path is titled with its base name; give an {@linkcode ArtifactFile} to choose the title
 * or the media type. A folder is packed into one tar+gzip blob, as ORAS packs one. Every file is
 * read before the destination is written to (a layout is created only then); a registry is
 * asked for push access first.
 *
 * @throws {NotFoundError} when a file does not exist; nothing is written then.
 * @throws {UsageError} for a title that a pull would refuse (one that leaves the folder, as
 * `../x` or `/etc/x`, or names a whiteout), two files of one title, or a file that is neither a
 * regular file nor a folder (a fifo); nothing is written then.
 * @throws {AuthError} when the registry refuses the credentials.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inspect, pullTo, pushFiles } from "../../mod.ts";
 * const tmp = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${tmp}/app.yaml`, "replicas: 2\n");
 * await pushFiles(`oci:${tmp}/bundle:config`, [`${tmp}/app.yaml`], {
 *   artifactType: "application/vnd.acme.config.v1",
 * });
 * const seen = await inspect(`oci:${tmp}/bundle:config`);
 * assert.equal(seen.kind === "manifest" && seen.artifactType, "application/vnd.acme.config.v1");
 * const pulled = await pullTo(`oci:${tmp}/bundle:config`, `${tmp}/out`);
 * assert.deepEqual(pulled.files, ["app.yaml"]);
 * await Deno.remove(tmp, { recursive: true });
 * ```
 */
export function pushFiles(
  reference: string,
  files: (string | ArtifactFile)[],
  options: PushFilesOptions = {},
): Promise<PushedImage> {
  return typed(() => pushFilesNow(reference, files, options));
}

async function pushFilesNow(
  reference: string,
  files: (string | ArtifactFile)[],
  options: PushFilesOptions,
): Promise<PushedImage> {
  const ref = parseReference(reference);
  const tags = pushTags(ref, options.tags);
  const artifactFiles = files.map((file) =>
    typeof file === "string" ? { path: file, title: baseName(file) } : file
  );
  if (artifactFiles.length === 0) throw new UsageError("pushFiles needs at least one file");
  for (const file of artifactFiles) {
    if (!(await Deno.stat(file.path).catch(() => undefined))) {
      throw new NotFoundError(`no such file: ${file.path}`);
    }
  }
  const mtime = checkedMtime(options.mtime ?? 0);
  await using session = openSession(options, registryOf(ref));
  const open = opener(session, ref, options.signal);
  if (ref.kind === "registry") await open();
  return await pushInWorkFolder(tags, options, async (work, transfer) => {
    const plan = await planArtifact(artifactFiles, work, mtime, {
      artifactType: options.artifactType ?? DEFAULT_ARTIFACT_TYPE,
      annotations: options.annotations,
      signal: options.signal,
    });
    options.signal?.throwIfAborted();
    return await writePlan(await open(), plan, tags, {
      ...transfer,
      destinationDigest: ref.digest,
    });
  });
}

/**
 * Options of {@linkcode pullTo}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PullToOptions } from "../../mod.ts";
 * const options: PullToOptions = { replace: true, platform: "linux/amd64" };
 * assert.equal(options.replace, true);
 * ```
 */
export interface PullToOptions extends CallSettings {
  /**
   * Make the folder exactly the image: what else it holds is deleted. Default: the image is
   * merged into what the folder holds, and nothing else is touched.
   */
  replace?: boolean;
  /** The platform to choose from an index, as `os/arch[/variant]` or a {@linkcode Platform}. Default: the host's. */
  platform?: string | Platform;
  /** The most bytes the layers may decompress to. */
  maxExtractSize?: number;
  /** The most tar entries the layers may hold. Default 1,000,000. */
  maxEntries?: number;
  /** Progress events, for a display. */
  onBlob?: BlobListener;
}

/**
 * Pulls an image or an artifact into a folder, as `ocisync pull REF -o DIR` does: an image's
 * layers are unpacked safely (every path stays inside the folder), an artifact's files are
 * written by their titles. Everything is verified in a staging folder before it is moved into
 * place, so a failed pull leaves the folder as it was.
 *
 * @throws {NotFoundError} when the reference does not exist, or the index lacks the platform.
 * @throws {IntegrityError} when a blob does not match its digest.
 * @throws {UnsafeContentError} when a layer would write outside the folder.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pullTo, pushFolder } from "../../mod.ts";
 * const tmp = await Deno.makeTempDir();
 * await Deno.mkdir(`${tmp}/site`);
 * await Deno.writeTextFile(`${tmp}/site/index.html`, "hello");
 * await pushFolder(`oci:${tmp}/bundle:v1`, `${tmp}/site`);
 * await Deno.mkdir(`${tmp}/out`);
 * await Deno.writeTextFile(`${tmp}/out/stale.txt`, "old");
 * const result = await pullTo(`oci:${tmp}/bundle:v1`, `${tmp}/out`, { replace: true });
 * assert.equal(result.kind, "image");
 * assert.deepEqual(result.files, ["index.html"]);
 * await Deno.remove(tmp, { recursive: true });
 * ```
 */
export function pullTo(
  reference: string,
  directory: string,
  options: PullToOptions = {},
): Promise<PullResult> {
  return typed(() => pullToNow(reference, directory, options), `pull into ${directory}`);
}

async function pullToNow(
  reference: string,
  directory: string,
  options: PullToOptions,
): Promise<PullResult> {
  const ref = parseReference(reference);
  const platform = platformOf(options.platform);
  await using session = openSession(options, registryOf(ref));
  const target = await session.open(ref);
  // The manifest is read next: a registry answers both in one GET.
  const descriptor = await resolveToRead(target, ref, { signal: options.signal });
  options.signal?.throwIfAborted();
  return await pull(target, descriptor, directory, {
    platform,
    replace: options.replace,
    maxExtractSize: options.maxExtractSize,
    maxEntries: options.maxEntries,
    onBlob: options.onBlob,
    // A stop while it downloads or unpacks: nothing is put in place.
    signal: options.signal,
  });
}

/**
 * Options of {@linkcode copy}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CopyImageOptions } from "../../mod.ts";
 * const options: CopyImageOptions = { allTags: true, platforms: ["linux/amd64", "linux/arm64"] };
 * assert.equal(options.allTags, true);
 * ```
 */
export interface CopyImageOptions extends CallSettings {
  /**
   * Copy every tag of each source repository; a tag the destination has at the same digest is
   * skipped. The references must then name no tag or digest.
   */
  allTags?: boolean;
  /** Also copy the referrers (signatures, SBOMs) of each image copied. */
  referrers?: boolean;
  /** Copy only this platform of an index, whose digest the destination then gets. */
  platform?: string | Platform;
  /**
   * Copy only these platforms of an index (each `os/arch[/variant]` or a {@linkcode Platform}):
   * their manifests, and a reduced index that lists them alone, whose digest is then new. One
   * is as `platform`; give one option or the other.
   */
  platforms?: (string | Platform)[];
  /**
   * Write a delta: leave out of an `oci-archive:` destination the blobs these references hold
   * (images or repositories of the registry on the other side, layouts, earlier archives), and
   * list them in its `index.json` as expected there. A copy from the delta checks that its
   * destination has them before it writes anything.
   */
  skipBlobsIn?: string | string[];
  /**
   * For a `docker-archive:` destination, which holds the layers uncompressed: the most bytes
   * they may decompress to, all together. Default 32 GiB, as `--max-extract-size`.
   */
  maxExtractSize?: number;
  /** Blobs transferred at once. Default 4. */
  concurrency?: number;
  /** Progress events, for a display. */
  onBlob?: BlobListener;
}

export type { CopiedImage } from "../copy/mod.ts";

/**
 * Copies images (or indexes) between registries, layouts and archives, as
 * `ocisync copy SRC... DST` does: manifests are copied byte for byte, so digests are kept;
 * blobs the destination has are skipped, and within one registry they are mounted rather than
 * sent. The destination's tag is the destination reference's, else the source's. With
 * `allTags`, every tag of each source repository, in order.
 *
 * Several sources (an array) go into one `oci-archive:` file or `oci:` layout, each image under
 * its own tag, as separate copies would put them; all are resolved before anything is written.
 * An archive is written once, atomically, when every copy is done; when one fails, the file is
 * not written (an existing one is left as it was).
 *
 * When `signal` aborts, the transfer under way stops and nothing more is written (no manifest,
 * no tag); the call rejects with the signal's reason.
 *
 * @throws {UsageError} for `allTags` with a reference that names a tag or digest; for several
 * sources into a registry repository, a `docker-archive:`, or a destination with a tag; for two
 * sources that would take one tag; for `skipBlobsIn` without an `oci-archive:` destination.
 * @throws {NotFoundError} when a source does not exist.
 * @throws {UnsafeContentError} when a `docker-archive:` destination's layers decompress to more
 * than `maxExtractSize` bytes (its `option` is `maxExtractSize`).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { copy, inspect, pushFolder } from "../../mod.ts";
 * const tmp = await Deno.makeTempDir();
 * await Deno.mkdir(`${tmp}/site`);
 * await Deno.writeTextFile(`${tmp}/site/index.html`, "hello");
 * const pushed = await pushFolder(`oci:${tmp}/bundle:v1`, `${tmp}/site`, { tags: ["v2"] });
 * const one = await copy(`oci:${tmp}/bundle:v1`, `oci:${tmp}/mirror`);
 * assert.deepEqual(one.map((c) => [c.tag, c.digest]), [["v1", pushed.digest]]);
 * const all = await copy(`oci:${tmp}/bundle`, `oci:${tmp}/mirror`, { allTags: true });
 * assert.deepEqual(all.map((c) => [c.tag, c.result === undefined]), [["v1", true], ["v2", false]]);
 * assert.equal((await inspect(`oci:${tmp}/mirror:v2`)).digest, pushed.digest);
 * await Deno.remove(tmp, { recursive: true });
 * ```
 * @example Several sources into one archive, then a delta of what the other side lacks
 * ```ts
 * import assert from "node:assert/strict";
 * import { copy, pushFolder } from "../../mod.ts";
 * const tmp = await Deno.makeTempDir();
 * for (const name of ["app", "tools"]) {
 *   await Deno.mkdir(`${tmp}/${name}`);
 *   await Deno.writeTextFile(`${tmp}/${name}/${name}.txt`, name);
 *   await pushFolder(`oci:${tmp}/${name}-layout:1`, `${tmp}/${name}`, {
 *     tags: [`${name}-1`],
 *     platform: "linux/arm64",
 *   });
 * }
 * const release = await copy(
 *   [`oci:${tmp}/app-layout:app-1`, `oci:${tmp}/tools-layout:tools-1`],
 *   `oci-archive:${tmp}/release.tar`,
 *   { platforms: ["linux/arm64"] },
 * );
 * assert.deepEqual(release.map((c) => [c.source, c.tag]), [
 *   [`oci:${tmp}/app-layout:app-1`, "app-1"],
 *   [`oci:${tmp}/tools-layout:tools-1`, "tools-1"],
 * ]);
 * // The other side has what release.tar carries. The same code for amd64 has the same layer:
 * // a delta against release.tar leaves it out, and carries the new config and manifest.
 * const amd64 = `oci:${tmp}/app-layout:app-1-amd64`;
 * await pushFolder(amd64, `${tmp}/app`, { platform: "linux/amd64" });
 * const [delta] = await copy(amd64, `oci-archive:${tmp}/delta.tar`, {
 *   skipBlobsIn: `oci-archive:${tmp}/release.tar`,
 * });
 * assert.equal(delta.result?.expected?.length, 1);
 * await Deno.remove(tmp, { recursive: true });
 * ```
 */
export function copy(
  source: string | readonly string[],
  destination: string,
  options: CopyImageOptions = {},
): Promise<CopiedImage[]> {
  return typed(() => copyNow(source, destination, options));
}

async function copyNow(
  source: string | readonly string[],
  destination: string,
  options: CopyImageOptions,
): Promise<CopiedImage[]> {
  const sourceRefs = (typeof source === "string" ? [source] : [...source]).map(parseReference);
  if (sourceRefs.length === 0) throw new UsageError("copy needs at least one source");
  const destinationRef = parseReference(destination);
  const tagged = (ref: Reference) => ref.tag !== undefined || ref.digest !== undefined;
  if (options.allTags && (sourceRefs.some(tagged) || tagged(destinationRef))) {
    throw new UsageError("allTags copies a whole repository: give references without tags");
  }
  if (options.platform !== undefined && options.platforms !== undefined) {
    throw new UsageError("give platform or platforms, not both", { option: "platforms" });
  }
  if (options.platforms?.length === 0) {
    // Not "no filter": a list that came out empty would copy every platform.
    throw new UsageError("platforms is empty: name one, or leave it out to copy every platform", {
      option: "platforms",
    });
  }
  const platforms = options.platforms?.map((p) => platformOf(p)!) ??
    (options.platform === undefined ? undefined : [platformOf(options.platform)!]);
  const skipBlobsIn = options.skipBlobsIn === undefined
    ? undefined
    : [options.skipBlobsIn].flat().map(parseReference);
  if (skipBlobsIn && !(destinationRef.kind === "archive" && destinationRef.format === "oci")) {
    throw new UsageError("skipBlobsIn writes a delta: the destination must be an oci-archive:", {
      option: "skipBlobsIn",
    });
  }
  const signal = options.signal;
  await using session = openSession(
    options,
    registryOf(destinationRef, ...sourceRefs, ...(skipBlobsIn ?? [])),
  );
  // A failure drops what an archive staged: the file is written only once every copy is done.
  return await session.discardOnFailure(async () => {
    const skipBlobs = skipBlobsIn && await blobsOfReferences(session, skipBlobsIn, { signal });
    const plans = await planSources(session, sourceRefs, destinationRef, {
      allTags: options.allTags,
      signal,
    });
    const to = await opener(session, destinationRef, signal, options.maxExtractSize)();
    const copyOptions = {
      platforms,
      skipBlobs,
      referrers: options.referrers,
      concurrency: options.concurrency,
      onBlob: options.onBlob,
      signal,
    };
    const copied: CopiedImage[] = [];
    for (const plan of plans) {
      // A repository's tags in order, whatever order the registry lists them in.
      plan.allTags?.sort();
      signal?.throwIfAborted();
      copied.push(...await copySource(plan, to, copyOptions));
    }
    return copied;
  });
}

/**
 * What {@linkcode inspect} found: the manifest or index, and for an image, its config.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Inspection } from "../../mod.ts";
 * function layers(found: Inspection): number {
 *   return found.kind === "index" ? 0 : found.manifest.layers.length;
 * }
 * assert.equal(typeof layers, "function");
 * ```
 */
export type Inspection =
  & InspectionBase
  & (
    | {
      /** An image or an artifact manifest. */
      kind: "manifest";
      /** The manifest. */
      manifest: Manifest;
      /** The image's config, when the config is an image config (not an artifact's). */
      config?: ImageConfig;
      /** The image's platform, `os/arch[/variant]`, from its config. */
      platform?: string;
      /** The manifest's `artifactType`, else an artifact config's media type. */
      artifactType?: string;
    }
    | {
      /** An index of manifests (several platforms, usually). */
      kind: "index";
      /** The index. */
      index: Index;
      /** The platforms it lists, `os/arch[/variant]`, in its order. */
      platforms: string[];
    }
  );

/** What every {@linkcode Inspection} holds. */
export interface InspectionBase {
  /** The reference, as written in full. */
  reference: string;
  /** The manifest's or index's digest. */
  digest: Digest;
  /** Its descriptor, as resolved. */
  descriptor: Descriptor;
  /** Its media type. */
  mediaType: string;
  /** Its exact bytes. */
  bytes: Uint8Array;
}

/**
 * Reads what a reference names, as `ocisync inspect REF --json` does: the manifest or index,
 * verified against its digest, and an image's config.
 *
 * @throws {NotFoundError} when the reference does not exist.
 * @throws {IntegrityError} when the manifest or config is not valid or not as its digest says.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inspect, pushFolder } from "../../mod.ts";
 * const tmp = await Deno.makeTempDir();
 * await Deno.mkdir(`${tmp}/site`);
 * await Deno.writeTextFile(`${tmp}/site/index.html`, "hello");
 * await pushFolder(`oci:${tmp}/bundle:v1`, `${tmp}/site`);
 * const found = await inspect(`oci:${tmp}/bundle:v1`);
 * assert.equal(found.kind, "manifest");
 * if (found.kind === "manifest") {
 *   assert.equal(found.platform, "linux/amd64");
 *   assert.equal(found.manifest.layers.length, 1);
 * }
 * await Deno.remove(tmp, { recursive: true });
 * ```
 */
export function inspect(reference: string, options: CallSettings = {}): Promise<Inspection> {
  return typed(() => inspectNow(reference, options));
}

async function inspectNow(reference: string, options: CallSettings): Promise<Inspection> {
  const ref = parseReference(reference);
  await using session = openSession(options, registryOf(ref));
  const target = await session.open(ref);
  const descriptor = await resolveToRead(target, ref, { signal: options.signal });
  const bytes = await target.fetchManifest(descriptor, { signal: options.signal });
  const parsed = parseManifestOrIndex(bytes, descriptor.mediaType);
  const base: InspectionBase = {
    reference: formatReference(ref),
    digest: descriptor.digest,
    descriptor,
    mediaType: parsed.mediaType,
    bytes,
  };
  if (parsed.kind === "index") {
    return {
      ...base,
      kind: "index",
      index: parsed.index,
      platforms: parsed.index.manifests.flatMap((m) =>
        m.platform ? [formatPlatform(m.platform)] : []
      ),
    };
  }
  const { manifest } = parsed;
  const isImage = IMAGE_CONFIG_TYPES.includes(manifest.config.mediaType);
  const config = isImage
    ? (await fetchConfig(target, manifest.config, { signal: options.signal })).config
    : undefined;
  const artifactType = manifest.artifactType ??
    (isImage || manifest.config.mediaType === MediaType.OciEmpty
      ? undefined
      : manifest.config.mediaType);
  return {
    ...base,
    kind: "manifest",
    manifest,
    ...(config ? { config, platform: formatPlatform(config) } : {}),
    ...(artifactType ? { artifactType } : {}),
  };
}

/**
 * Options of {@linkcode syncOnce} and {@linkcode watch}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { SyncFolderOptions } from "../../mod.ts";
 * const options: SyncFolderOptions = { state: "/var/lib/flows/state.json", keep: 3 };
 * assert.equal(options.keep, 3);
 * ```
 */
export interface SyncFolderOptions extends CallSettings {
  /**
   * A state file that records the last digest delivered, so that a digest is pulled once across
   * runs. Default: none, and every {@linkcode syncOnce} pulls (into a version folder it may
   * already have, which it then reuses).
   */
  state?: string;
  /** How many versions to keep in `DIR/.ocisync/`, the current one included. Default 2. */
  keep?: number;
  /** The platform to choose from an index, as `os/arch[/variant]` or a {@linkcode Platform}. Default: the host's. */
  platform?: string | Platform;
  /** More outputs, run after the folder is in place: hooks, events, webhooks. */
  outputs?: SyncOutput[];
  /** The most bytes one version's layers may decompress to. */
  maxExtractSize?: number;
}

/**
 * Options of {@linkcode watch}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { WatchOptions } from "../../mod.ts";
 * const options: WatchOptions = { interval: 30_000, maxFailures: 10 };
 * assert.equal(options.interval, 30_000);
 * ```
 */
export interface WatchOptions extends SyncFolderOptions {
  /** Milliseconds between ticks. Default 60,000. */
  interval?: number;
  /** The fraction of the interval by which each wait is shortened at random. Default 0.1. */
  jitter?: number;
  /** End by throwing after this many failed ticks in a row. Default: never. */
  maxFailures?: number;
}

/**
 * Brings a folder in step with a reference once, as `ocisync sync REF -o DIR --once` does: when
 * the digest differs from the last one delivered, the image is pulled into
 * `DIR/.ocisync/<hex>` (named by the image manifest delivered) and `DIR/current` is switched to it in one rename, so readers of
 * `DIR/current` see the old version or the new one, never a mix. The folder (and the state file)
 * are locked for the call: a second writer is refused.
 *
 * @throws {UsageError} when another process (or call) syncs into the same folder.
 * @throws the error of the tick, when it failed: a {@linkcode NotFoundError}, an
 * {@linkcode AuthError}, …
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pushFolder, syncOnce } from "../../mod.ts";
 * const tmp = await Deno.makeTempDir();
 * await Deno.mkdir(`${tmp}/site`);
 * await Deno.writeTextFile(`${tmp}/site/index.html`, "v1");
 * await pushFolder(`oci:${tmp}/bundle:prod`, `${tmp}/site`);
 * const state = `${tmp}/state.json`;
 * const first = await syncOnce(`oci:${tmp}/bundle:prod`, `${tmp}/live`, { state });
 * assert.equal(first.status, "changed");
 * assert.equal(await Deno.readTextFile(`${tmp}/live/current/index.html`), "v1");
 * const again = await syncOnce(`oci:${tmp}/bundle:prod`, `${tmp}/live`, { state });
 * assert.equal(again.status, "unchanged");
 * await Deno.remove(tmp, { recursive: true });
 * ```
 */
export async function syncOnce(
  reference: string,
  directory: string,
  options: SyncFolderOptions = {},
): Promise<SyncTick> {
  let last: SyncTick | undefined;
  for await (const tick of watchLoop(reference, directory, { ...options, once: true })) {
    last = tick;
  }
  if (last === undefined) throw new UsageError("the sync ended before its tick");
  if (last.status === "aborted") options.signal?.throwIfAborted();
  return last;
}

/**
 * Keeps a folder in step with a reference, as `ocisync sync REF -o DIR` does: one tick at
 * once, then one per interval, each like {@linkcode syncOnce}; yields each tick, failed ones
 * included (`status: "failed"`, with `error`), and retries failures with backoff. It ends when
 * the signal aborts, or by throwing once `maxFailures` ticks in a row have failed. The folder
 * (and the state file) stay locked while it runs.
 *
 * @throws {UsageError} when another process (or call) syncs into the same folder.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pushFolder, watch } from "../../mod.ts";
 * const tmp = await Deno.makeTempDir();
 * await Deno.mkdir(`${tmp}/site`);
 * await Deno.writeTextFile(`${tmp}/site/index.html`, "v1");
 * await pushFolder(`oci:${tmp}/bundle:prod`, `${tmp}/site`);
 * const stop = new AbortController();
 * const seen: string[] = [];
 * for await (const tick of watch(`oci:${tmp}/bundle:prod`, `${tmp}/live`, {
 *   interval: 10,
 *   signal: stop.signal,
 * })) {
 *   seen.push(tick.status);
 *   if (seen.length === 2) stop.abort();
 * }
 * assert.deepEqual(seen.slice(0, 2), ["changed", "unchanged"]);
 * await Deno.remove(tmp, { recursive: true });
 * ```
 */
export function watch(
  reference: string,
  directory: string,
  options: WatchOptions = {},
): AsyncGenerator<SyncTick, void, undefined> {
  return watchLoop(reference, directory, { ...options, once: false });
}

async function* watchLoop(
  reference: string,
  directory: string,
  options: WatchOptions & { once: boolean },
): AsyncGenerator<SyncTick, void, undefined> {
  try {
    yield* watchLoopNow(reference, directory, options);
  } catch (error) {
    throw explainOsError(error, `sync into ${directory}`);
  }
}

async function* watchLoopNow(
  reference: string,
  directory: string,
  options: WatchOptions & { once: boolean },
): AsyncGenerator<SyncTick, void, undefined> {
  const ref = parseReference(reference);
  const platform = platformOf(options.platform);
  const output = directoryOutput(directory, {
    keep: options.keep,
    maxExtractSize: options.maxExtractSize,
  });
  await using _locks = await lockSyncPaths({
    outputs: [directory],
    states: options.state === undefined ? [] : [options.state],
  }, { log: options.warn });
  const state = options.state === undefined ? undefined : await SyncState.open(options.state);
  await using session = openSession(options, registryOf(ref));
  yield* syncLoop({
    reference: ref,
    outputs: [output, ...(options.outputs ?? [])],
    interval: options.interval ?? 60_000,
    jitter: options.jitter,
    state,
    open: (r) => session.open(r),
    platform,
    once: options.once,
    maxFailures: options.maxFailures,
    signal: options.signal,
  });
}

/**
 * Runs a call, throwing an error of a Deno file call (`Deno.errors.PermissionDenied`,
 * `NotFound`…) as ocisync's own, with the Deno error as its `cause` (see
 * {@linkcode explainOsError}); `context` leads the message of one that names no path.
 */
async function typed<T>(call: () => Promise<T>, context?: string): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw explainOsError(error, context);
  }
}

/**
 * The session of one call, with the call's credentials and registry settings; a
 * {@linkcode Credential} goes to `registry` only, the call's own (see {@linkcode registryOf}).
 */
function openSession(options: CallSettings, registry: string | undefined): Session {
  return new Session({
    credentials: credentialsOf(options.credentials, registry, options.warn),
    plainHttp: options.plainHttp,
    caFile: options.caFile,
    retries: options.retries,
    timeout: options.timeout,
    idleTimeout: options.timeout,
  });
}

/** The lookup that {@linkcode Credentials} stands for, in a call whose registry is `registry`. */
function credentialsOf(
  credentials: Credentials | undefined,
  registry: string | undefined,
  warn?: (message: string) => void,
): CredentialLookup | undefined {
  if (credentials === false) return undefined;
  if (credentials === undefined) return credentialLookup({ warn });
  if (typeof credentials === "function") return credentials;
  const own = registry === undefined ? undefined : normaliseHost(registry);
  const stored = credentialLookup({ warn });
  return (host, repository) =>
    own === undefined || normaliseHost(host) === own
      ? Promise.resolve({ ...credentials })
      : stored(host, repository);
}

/**
 * Opens a destination once, for writing: a layout is created, a registry is asked for push
 * access, so that refused credentials are known before any work.
 */
function opener(
  session: Session,
  ref: Reference,
  signal?: AbortSignal,
  maxExtractSize?: number,
): () => Promise<Target> {
  let opened: Promise<Target> | undefined;
  return () =>
    opened ??= (async () => {
      const target = await session.open(ref, { create: true, maxExtractSize });
      if (isPushAuthenticator(target)) await target.authenticateForPush({ signal });
      return target;
    })();
}

/** The transfer settings of a push, from a call's options. */
interface PushTransfer {
  concurrency?: number;
  onBlob?: BlobListener;
  signal?: AbortSignal;
}

/**
 * Runs `push` with a work folder, removed after, and the call's transfer settings; what it
 * wrote is returned with the tags.
 */
async function pushInWorkFolder(
  tags: string[],
  options: PushTransfer,
  push: (work: string, transfer: PushTransfer) => Promise<PushResult>,
): Promise<PushedImage> {
  await using work = makeWorkFolder("ocisync-push-");
  const result = await push(work.path, {
    concurrency: options.concurrency,
    onBlob: options.onBlob,
    signal: options.signal,
  });
  return { ...result, tags };
}

/**
 * The tags of a push: the reference's (else `latest`, unless it is by digest), then `more`;
 * checked, so that a bad one is refused before anything is packed or sent.
 */
function pushTags(ref: Reference, more: string[] = []): string[] {
  const tags = [...new Set([...destinationTags(ref), ...more])];
  checkTags(ref, tags);
  return tags;
}

function platformOf(platform: string | Platform | undefined): Platform | undefined {
  return typeof platform === "string" ? parsePlatform(platform) : platform;
}

function baseName(path: string): string {
  const name = path.split("/").filter((p) => p !== "" && p !== ".").pop();
  if (name === undefined || name === "..") {
    throw new UsageError(`cannot name the artifact file "${path}": give it a title`);
  }
  return name;
}

/** The media types of image configs, OCI and Docker; any other config is an artifact's. */
const IMAGE_CONFIG_TYPES: readonly string[] = [MediaType.OciConfig, MediaType.DockerConfig];
