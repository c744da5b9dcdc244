/**
 * Where a sync loop delivers a change. Each output is told about a new digest once, in order,
 * and the change counts as done only when every output has succeeded; a failing output makes
 * the next tick deliver the whole change again, so outputs must be idempotent.
 *
 * - {@linkcode eventsOutput}: JSON lines (`put`, `delete`, `synced`), flowgen's shape;
 * - {@linkcode directoryOutput}: a materialised folder behind a `current` symlink swapped in
 *   one rename;
 * - {@linkcode execOutput}: a shell hook;
 * - `webhookOutput` (`./webhook.ts`, a module of its own, as it loads the HTTP client): a JSON
 *   `POST`, with retries.
 *
 * @example
 * ```ts
 * import { directoryOutput, eventsOutput, execOutput } from "./outputs.ts";
 * const outputs = [
 *   directoryOutput("/srv/flows", { keep: 3 }),
 *   eventsOutput(Deno.stdout),
 *   execOutput("systemctl reload flows", { directory: "/srv/flows" }),
 * ];
 * ```
 * @module
 */
import { absolutePath } from "../fs/paths.ts";
import { type Digest, parseDigest } from "../digest/parse.ts";
import { sha256DigestAsync } from "../digest/verify.ts";
import {
  escapeRemote,
  IntegrityError,
  OcisyncError,
  stringifyJson,
  UnsafeContentError,
  UsageError,
} from "../errors/mod.ts";
import { mountPointBelow, removeFolderTree } from "../fs/mounts.ts";
import { fileKind, lstatOrUndefined, processUid, sameFile } from "../fs/stat.ts";
import { refuseReplaceableAsRoot } from "../fs/shielded.ts";
import type { Target } from "../oci/target.ts";
import type { Descriptor, Manifest, Platform } from "../oci/types.ts";
import type { BlobListener } from "../progress/mod.ts";
import { TITLE_ANNOTATION } from "../oci/annotations.ts";
import type { LayerOperation } from "../pull/mod.ts";
import { removeDeadStagings, STAGING_PREFIX } from "../pull/leftovers.ts";
import { artifactPath } from "../pull/titles.ts";
import { abortable } from "../remote/transport/fetch.ts";
import { readBounded } from "../streams/mod.ts";
import type { SyncStateEntry } from "./state.ts";
import {
  DEFAULT_KILL_AFTER_MS,
  type HookRecord,
  recordHookGroup,
  stopProcessGroup,
} from "./hook_group.ts";

/**
 * A new digest of a reference, as the outputs receive it.
 *
 * @example
 * ```ts
 * import type { SyncChange } from "./outputs.ts";
 * function describe(change: SyncChange): string {
 *   return `${change.reference}: ${change.previous?.digest ?? "nothing"} -> ${change.digest}`;
 * }
 * ```
 */
export interface SyncChange {
  /** The reference as written in full, e.g. `ghcr.io/acme/flows:prod`. */
  reference: string;
  /** With a tag policy: the tag it picked, which `digest` is the digest of. */
  tag?: string;
  /** The digest the reference resolved to: an index's, when it names one. */
  digest: Digest;
  /**
   * What to deliver: the descriptor the reference resolved to, or, when a verifier found only
   * the chosen platform's manifest of an index signed, that manifest's.
   */
  descriptor: Descriptor;
  /** The image manifest: the platform's, for an index. */
  manifest: Manifest;
  /** The digest of `manifest`: `digest` itself, unless that names an index. */
  manifestDigest: Digest;
  /** The path of each layer: its title, else `layer-<index>`. */
  paths: string[];
  /** The last good sync, if any. */
  previous?: SyncStateEntry;
  /** Where the blobs are. */
  target: Target;
  /** The platform chosen from an index. */
  platform: Platform;
  /** Aborted when the loop is asked to stop: an output should stop at a safe point. */
  signal: AbortSignal;
  /** Told about each blob pulled, for byte counts. */
  onBlob?: BlobListener;
  /**
   * Delivered because `forcePull` asked, not because the digest changed: an output that keeps a
   * copy of the change takes a fresh one, whatever its copy holds now.
   */
  forced?: boolean;
}

/**
 * One place a change goes.
 *
 * @example
 * ```ts
 * import type { SyncOutput } from "./outputs.ts";
 * const logOutput: SyncOutput = {
 *   id: "log",
 *   description: "logging to standard error",
 *   apply: async (change) => console.error(`now at ${change.digest}`),
 * };
 * ```
 */
export interface SyncOutput {
  /**
   * What the output is and where it writes. The state records the ids of the outputs that
   * received a digest: when they differ, the digest is delivered again.
   */
  readonly id: string;
  /**
   * What the output does, and where, in words that may be shown (no secret): `sync into
   * /srv/flows`. An error of a file call that names no path is led by it, so that a failed tick
   * says where. Every output of this module has one; an output of a library user's may go
   * without, and its errors are shown as they are.
   */
  readonly description?: string;
  /** Delivers the change; throws to fail the tick. */
  apply(change: SyncChange): Promise<void>;
  /**
   * Why the output no longer holds `delivered`, what the state records as delivered to it, or
   * undefined while it does; the tick then delivers the digest again. Asked at every tick that
   * finds the digest unchanged, so it must stay cheap: a `readlink` or a `stat`, no walk, no
   * request. An output without it is trusted to keep what it was given.
   */
  lost?(delivered: SyncStateEntry): string | undefined | Promise<string | undefined>;
}

/** The folder of `-o DIR` that holds the versions. */
const VERSIONS = ".ocisync";
/** The symlink readers follow. */
const CURRENT = "current";
/**
 * A version folder's name: a manifest's hex (sha256 or sha512), then the hash of a layer
 * selection, if any. Nothing else in `DIR/.ocisync` is ever removed but pulls' staging folders.
 */
const VERSION_NAME = /^([0-9a-f]{64}|[0-9a-f]{128})(-[0-9a-f]{12})?$/;

/**
 * The path of each layer of a manifest, as events name it: its
 * `org.opencontainers.image.title`, as a pull writes it (`artifactPath` of `../pull/titles.ts`:
 * relative, without empty and `.` parts), else `layer-<index>`.
 *
 * @throws {UnsafeContentError} for a title that a pull refuses (an absolute path, one with `..`,
 * a whiteout's name), or two layers at one path: a consumer of events would write there what a
 * pull of the same image never does.
 * @example
 * ```ts
 * import { layerPaths } from "./outputs.ts";
 * import { TITLE_ANNOTATION } from "../oci/annotations.ts";
 * const digest = `sha256:${"0".repeat(64)}` as const;
 * layerPaths({
 *   schemaVersion: 2,
 *   config: { mediaType: "application/vnd.oci.empty.v1+json", digest, size: 2 },
 *   layers: [
 *     { mediaType: "text/plain", digest, size: 0, annotations: { [TITLE_ANNOTATION]: "a.txt" } },
 *     { mediaType: "text/plain", digest, size: 0 },
 *   ],
 * }); // ["a.txt", "layer-1"]
 * ```
 */
export function layerPaths(manifest: Manifest): string[] {
  const paths = manifest.layers.map((layer, index) =>
    layer.annotations?.[TITLE_ANNOTATION] ? artifactPath(layer) : `layer-${index}`
  );
  const seen = new Set<string>();
  for (const path of paths) {
    if (seen.has(path)) {
      throw new UnsafeContentError(
        `refusing two layers at "${escapeRemote(path)}": one path, two contents`,
        { hint: "give each layer a title of its own" },
      );
    }
    seen.add(path);
  }
  return paths;
}

/**
 * The default of {@linkcode EventsOutputOptions.maxEventsSize}: 32 MiB. Events carry
 * configuration, held in memory while a batch is built; the CLI's `--max-events-size` default,
 * `DEFAULT_MAX_EVENTS_SIZE` of `../cli/specs.ts`, is the same size.
 */
export const DEFAULT_MAX_EVENTS_BYTES = 32 * 1024 * 1024;

/** Options of {@linkcode eventsOutput}. */
export interface EventsOutputOptions {
  /**
   * How layer contents are written: `utf-8` text, where a layer that is not valid UTF-8 fails
   * the tick, or `base64`, and then each `put` also says `"encoding":"base64"`. Default `utf-8`.
   */
  encoding?: "utf-8" | "base64";
  /**
   * The most bytes of JSON lines one change may write: the batch is held in memory until it is
   * written whole. A change whose layers declare more content than this (in base64, once
   * encoded) fails before any layer is fetched; one whose lines come out larger (JSON escapes,
   * paths) fails as soon as they do. Either way nothing is written. Default
   * {@linkcode DEFAULT_MAX_EVENTS_BYTES}.
   */
  maxEventsSize?: number;
}

/** How events carry layer contents. */
type EventsEncoding = NonNullable<EventsOutputOptions["encoding"]>;

/**
 * Writes a change as JSON lines, in flowgen's shape: a `put` per layer
 * (`{"action":"put","path","content","digest","artifact_digest","reference"}`), a `delete` for
 * each path of the previous digest that is gone, then `{"action":"synced","artifact_digest",
 * "reference"}`. With a tag policy, every line also has the `tag` picked. Every blob is fetched
 * and verified before the first line is written, and the batch goes out in one piece, which has
 * completed when the output returns: a downstream cache sees the whole batch or none of it. The
 * batch is held in memory while it is built, so it is bounded by `maxEventsSize`, checked
 * against the sizes the manifest declares before any layer is fetched; a layer is never read
 * past its declared size. See {@linkcode EventsSink} for how outputs share a sink, and what
 * follows a failed write.
 *
 * @throws {UsageError} when `maxEventsSize` is not a whole number of bytes, 1 or more.
 * @example
 * ```ts
 * import { eventsOutput } from "./outputs.ts";
 * const output = eventsOutput(Deno.stdout, { encoding: "base64" });
 * ```
 */
export function eventsOutput(sink: EventsSink, options: EventsOutputOptions = {}): SyncOutput {
  const encoding = options.encoding ?? "utf-8";
  const limit = options.maxEventsSize ?? DEFAULT_MAX_EVENTS_BYTES;
  // NaN would compare false with every size: no bound at all.
  if (!Number.isInteger(limit) || limit < 1) {
    throw new UsageError(`maxEventsSize must be a whole number of bytes, 1 or more, not ${limit}`);
  }
  // Each reference's last batch written, and the paths put by it and by the batches before it
  // since the state last recorded one: a batch whose change was then not recorded (a later
  // output failed) is not the state's previous digest, and the next batch must still delete what
  // it put and the change no longer has. Once the state has the last batch's digest, it knows.
  const written = new Map<string, { digest: string; paths: Set<string> }>();
  return {
    id: `events:${encoding}`,
    description: sink === Deno.stdout ? "writing events to standard output" : "writing events",
    async apply(change) {
      const declared = declaredContentSize(change.manifest.layers, encoding);
      const sizes = `${declared} bytes of content${encoding === "base64" ? " in base64" : ""}`;
      if (declared > limit) {
        throw eventsTooLarge(change, limit, `its layers declare ${sizes}, and none was fetched`);
      }
      // The read stops at the first line over the limit: the layers after it are not fetched.
      const last = written.get(change.reference);
      const put = last && last.digest !== change.previous?.digest ? last.paths : new Set<string>();
      const batch = await readBounded(eventLines(change, encoding, put), limit);
      if (batch === undefined) {
        throw eventsTooLarge(
          change,
          limit,
          `its ${sizes} take more as JSON lines, and nothing was written`,
        );
      }
      // Before the write, which may fail after a part of the batch is out.
      written.set(change.reference, {
        digest: change.digest,
        paths: put.union(new Set(change.paths)),
      });
      // A consumer that stops reading blocks the write (a full pipe): a stop ends the wait, the
      // tick is not recorded, and the process exits; the write itself is left behind.
      await abortable(writeBatch(sink, batch), change.signal);
    },
  };
}

/**
 * Where events are written: `Deno.stdout`, a `Deno.FsFile`, or anything whose `write` writes
 * some of the bytes and says how many, as theirs do. The outputs given one sink write to it one
 * batch at a time, whole, in the order they come. A failed write fails that tick only: the next
 * batch is written to the sink again, as the next tick retries. A failed write may have written
 * part of its batch (a disk full after 4 KiB), so the batch after a failed one starts with a line
 * break: the partial line ends there, and the next batch's first line stands whole on its own (a
 * consumer skips an empty line, and one that is not JSON). So does the first batch a process
 * writes to a sink: the stream may go on from another process stopped or killed in the middle of
 * a batch, which this one cannot know of.
 *
 * @example
 * ```ts
 * import type { EventsSink } from "./outputs.ts";
 * const chunks: Uint8Array[] = [];
 * const sink: EventsSink = {
 *   write: (bytes) => Promise.resolve(chunks.push(bytes.slice()) && bytes.length),
 * };
 * ```
 */
export interface EventsSink {
  /** Writes the first bytes of `bytes`, at least one, and returns how many. */
  write(bytes: Uint8Array): Promise<number>;
}

/** What the outputs writing to one sink share: the write in progress, and a line cut short. */
interface SinkState {
  /** Settles when the last batch queued is written or has failed; never rejects. */
  queue: Promise<void>;
  /**
   * Whether the stream may end in a cut line: the last batch failed, or none was written yet (an
   * earlier process may have been killed in the middle of one).
   */
  cut: boolean;
}

/** The state of each sink, shared by every output that writes to it. */
const sinks = new WeakMap<EventsSink, SinkState>();

/** Writes `batch` to `sink` once the batches queued before it are, whole unless a write fails. */
function writeBatch(sink: EventsSink, batch: Uint8Array): Promise<void> {
  let state = sinks.get(sink);
  if (state === undefined) sinks.set(sink, state = { queue: Promise.resolve(), cut: true });
  const shared = state;
  const written = shared.queue.then(async () => {
    let bytes = batch;
    if (shared.cut) {
      bytes = new Uint8Array(batch.length + 1);
      bytes.set([0x0a]);
      bytes.set(batch, 1);
    }
    // Until the batch is written whole: a write that fails may have written part of what it was
    // given (Deno.stdout's does, to a full disk, and says nothing of it).
    shared.cut = true;
    for (let done = 0; done < bytes.length;) {
      const count = await sink.write(bytes.subarray(done));
      // A sink that takes nothing would make this loop spin.
      if (!(count > 0)) throw new OcisyncError(`the events sink took ${count} bytes`);
      done += count;
    }
    shared.cut = false;
  });
  shared.queue = written.catch(() => {});
  return written;
}

/** The bytes the layers' contents take in `put` lines, as the manifest declares them. */
function declaredContentSize(layers: Descriptor[], encoding: EventsEncoding): number {
  const size = (bytes: number) => encoding === "base64" ? Math.ceil(bytes / 3) * 4 : bytes;
  return layers.reduce((total, layer) => total + size(layer.size), 0);
}

/** The error of a change whose events would take more than `limit` bytes, and why. */
function eventsTooLarge(change: SyncChange, limit: number, why: string): UnsafeContentError {
  return new UnsafeContentError(
    `the events of ${change.reference} (${change.digest}) would take more than the limit of ` +
      `${limit} bytes: ${why}`,
    {
      hint: "events hold a change in memory, for configuration: raise the events size limit " +
        "if the artifact is really this large, or deliver it to a folder",
      option: "maxEventsSize",
    },
  );
}

/**
 * A change's events, as JSON lines, each layer fetched and verified when its line is due; a
 * `delete` for each path of the previous digest, or of `put` (this output's batches since the
 * state last recorded one), that the change no longer has.
 */
async function* eventLines(
  change: SyncChange,
  encoding: EventsEncoding,
  put: ReadonlySet<string>,
): AsyncGenerator<Uint8Array> {
  const encoder = new TextEncoder();
  const line = (event: Record<string, unknown>) => encoder.encode(`${stringifyJson(event)}\n`);
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const tag = change.tag === undefined ? {} : { tag: change.tag };
  for (const [index, layer] of change.manifest.layers.entries()) {
    const path = change.paths[index];
    const bytes = await fetchLayer(change, layer);
    change.onBlob?.({ descriptor: layer, state: "done" });
    let content: string;
    try {
      content = encoding === "base64" ? bytes.toBase64() : decoder.decode(bytes);
    } catch {
      throw new OcisyncError(
        `layer "${escapeRemote(path)}" (${layer.digest}) of ${change.reference} is not UTF-8 text`,
        { hint: "ask for the base64 encoding to receive it", option: "encoding" },
      );
    }
    yield line({
      action: "put",
      path,
      content,
      ...(encoding === "base64" ? { encoding } : {}),
      digest: layer.digest,
      artifact_digest: change.digest,
      reference: change.reference,
      ...tag,
    });
  }
  const kept = new Set(change.paths);
  for (const path of new Set([...change.previous?.paths ?? [], ...put])) {
    if (kept.has(path)) continue;
    yield line({
      action: "delete",
      path,
      artifact_digest: change.digest,
      reference: change.reference,
      ...tag,
    });
  }
  yield line({
    action: "synced",
    artifact_digest: change.digest,
    reference: change.reference,
    ...tag,
  });
}

/**
 * A layer's bytes, verified. The read stops past the declared size, whatever the target checks
 * itself: the declared sizes are what the limit was checked against.
 */
async function fetchLayer(change: SyncChange, layer: Descriptor): Promise<Uint8Array> {
  const stream = await change.target.fetchBlob(layer, { signal: change.signal });
  const bytes = await readBounded(stream, layer.size);
  if (bytes === undefined) {
    throw new IntegrityError(
      `layer ${layer.digest} of ${change.reference} is larger than its declared size ${layer.size}`,
    );
  }
  return bytes;
}

/** Options of {@linkcode directoryOutput}. */
export interface DirectoryOutputOptions {
  /** How many versions to keep in `DIR/.ocisync/`, the current one included. Default 2. */
  keep?: number;
  /** The most bytes one version's layers may decompress to. */
  maxExtractSize?: number;
  /** The most tar entries one version's layers may hold. */
  maxEntries?: number;
  /**
   * Take only the layers whose media type matches one of these globs (`*` for any run of
   * characters); the others are never fetched. See `PullOptions.layerMediaTypes`.
   */
  layerMediaTypes?: string[];
  /**
   * `extract` (the default) unpacks the layers taken; `copy` stores each blob as it is, as a
   * file named by its title, else `layer-<index>`. See `PullOptions.layerOperation`.
   */
  layerOperation?: LayerOperation;
}

/**
 * The folder under `directory` that holds the image manifest `digest`, and `selectionHash`, the
 * sha256 hex of the layer selection if there is one (else empty): see `versionDirectory` of
 * `./version_directory.ts`, which documents the names.
 */
export function versionFolder(directory: string, digest: Digest, selectionHash: string): string {
  const folder = `${trimSlashes(directory)}/${VERSIONS}/${parseDigest(digest).hex}`;
  return selectionHash === "" ? folder : `${folder}-${selectionHash.slice(0, 12)}`;
}

/**
 * Names the version folders of `directory` as `versionDirectory` does, with the selection hashed
 * once, by Web Crypto: a sync that finds nothing new asks for a name at every tick, and loads no
 * `node:crypto` for it.
 */
function versionNamer(
  directory: string,
  options: DirectoryOutputOptions,
): (digest: Digest) => Promise<string> {
  const selection = layerSelection(options);
  const hex = selection === ""
    ? Promise.resolve("")
    : sha256DigestAsync(new TextEncoder().encode(selection)).then((d) => parseDigest(d).hex);
  return async (digest) => versionFolder(directory, digest, await hex);
}

/** The layers `options` take, and how, as text; empty when every layer is extracted. */
export function layerSelection(options: DirectoryOutputOptions): string {
  if (!options.layerMediaTypes?.length && options.layerOperation !== "copy") return "";
  return `layers=${(options.layerMediaTypes ?? ["*"]).join(",")};${
    options.layerOperation ?? "extract"
  }`;
}

/**
 * The lock file that makes one process the owner of an output folder: `DIR/.ocisync.lock`.
 * {@linkcode directoryOutput} removes what it finds half-done in `DIR/.ocisync/`, which is
 * right only while no other process writes there; `lockSyncPaths` in `mod.ts` takes this lock.
 *
 * @example
 * ```ts
 * import { outputLockPath } from "./outputs.ts";
 * outputLockPath("/srv/flows/"); // "/srv/flows/.ocisync.lock"
 * ```
 */
export function outputLockPath(directory: string): string {
  return `${trimSlashes(directory)}/${VERSIONS}.lock`;
}

/**
 * Removes the staging folders that pulls killed in `DIR/.ocisync` (SIGKILL, the OOM killer, a
 * crash loop) left there, whatever their age: call it while holding {@linkcode outputLockPath},
 * under which no other pull writes there. Otherwise each kill during a pull left its partial tree
 * until a change went through (or for a day), and they piled up. Only a versions folder of this
 * process's user is looked into, never through a link; staging folders holding what a merge moved
 * aside stay (see `removeDeadStagings`).
 *
 * @example
 * ```ts
 * import { removeDeadPulls } from "./outputs.ts";
 * await removeDeadPulls("/srv/flows"); // with /srv/flows/.ocisync.lock held
 * ```
 */
export async function removeDeadPulls(directory: string): Promise<void> {
  let versions: VersionsFolder | undefined;
  try {
    versions = versionsFolder(trimSlashes(directory));
  } catch {
    // A link or another user's folder: the first change refuses it, and says why.
    return;
  }
  const uid = versions?.info.uid;
  if (uid === undefined || uid === null) return;
  await removeDeadStagings(versions!.path, uid, 0);
}

/**
 * Materialises each change in `directory`. The version is pulled, verified, into its folder,
 * `DIR/.ocisync/<hex>/` (`versionDirectory` of `./version_directory.ts`: named by the image
 * manifest, and the layer selection if any, which decide what it holds; so a folder that is already
 * there from an earlier attempt holds the same, is complete, as `pull` renames it into place whole,
 * and is reused when it is a folder of this process's user; a file, a link or another user's folder
 * there is moved away first); then the symlink `DIR/current`, which points to `.ocisync/<hex>`
 * relatively so that the folder can be mounted anywhere, is replaced by a rename. Readers that
 * resolve `DIR/current` once and read below the result see one version, whole. Versions beyond the
 * `keep` most recent are removed afterwards, but never the one that was current during the swap,
 * nor the state's last delivered (`change.previous`, which was current until a crash after the swap
 * that this change redelivers): a reader may still be in it. Staging folders left in
 * `DIR/.ocisync/` are removed too, so only one process may write to `DIR`: it holds
 * {@linkcode outputLockPath} (see `lockSyncPaths`). The output has lost a version (`lost`) when
 * `DIR/current` no longer points to its folder, or that is gone or no folder of this process's
 * user (the test `apply` reuses a folder by): a wiped `DIR` is delivered again at the next tick.
 *
 * @example
 * ```ts
 * import { directoryOutput } from "./outputs.ts";
 * const output = directoryOutput("/srv/flows", { keep: 3 });
 * // readers: const root = await Deno.realPath("/srv/flows/current");
 * ```
 */
export function directoryOutput(
  directory: string,
  options: DirectoryOutputOptions = {},
): SyncOutput {
  const root = trimSlashes(directory);
  const keep = options.keep ?? 2;
  if (!Number.isInteger(keep) || keep < 1) {
    throw new UsageError(`keep must be a whole number, 1 or more, not ${keep}`);
  }
  // What is taken, and how, decides what a version folder holds: a change of either delivers
  // the digest again (the id is recorded in the state). Without them, the id is as it was.
  const selection = layerSelection(options);
  const versionOf = versionNamer(root, options);
  return {
    id: `directory:${root}${selection && `;${selection}`}`,
    description: `sync into ${root}`,
    async apply(change) {
      await refuseExposedOutput(root);
      const version = await versionOf(change.manifestDigest);
      const versions = versionsFolder(root);
      const why = unusableVersion(version);
      if (why !== undefined && versions !== undefined) await moveUnusable(versions, version);
      // Forced, a usable folder is pulled again and swapped in whole (a damaged or edited copy is
      // what a forced pull is for): only that swap's two renames are without it, not the pull.
      if (why !== undefined || change.forced) {
        // The pull's code (decompression, hashing, unpacking) loads at the first change: a sync
        // that finds nothing new, as most `--once` runs do, starts without it.
        const { pull } = await import("../pull/mod.ts");
        await pull(change.target, change.descriptor, version, {
          platform: change.platform,
          maxExtractSize: options.maxExtractSize,
          maxEntries: options.maxEntries,
          onBlob: change.onBlob,
          layerMediaTypes: options.layerMediaTypes,
          layerOperation: options.layerOperation,
          replace: why === undefined,
          // A stop (SIGTERM) ends a long pull at once; nothing is put in place.
          signal: change.signal,
        });
      }
      change.signal.throwIfAborted();
      // The most recently made current comes first when old versions are pruned.
      const now = new Date();
      await Deno.utime(version, now, now);
      const previous = await swapCurrent(root, version.slice(root.length + 1));
      // On a redelivery (a crash after the swap), `current` already named this version: the one
      // live before it is the state's last delivered, where readers may still be.
      const delivered = change.previous &&
        await versionOf(change.previous.manifest ?? change.previous.digest);
      await prune(versions ?? versionsFolder(root), keep, [version, previous, delivered]);
    },
    async lost(delivered) {
      // A state of an older release has no manifest: its folders were named by the digest.
      const version = await versionOf(delivered.manifest ?? delivered.digest);
      const expected = version.slice(root.length + 1);
      const link = `${root}/${CURRENT}`;
      // Asked on every idle tick: two calls, made at once, without the thread pool's round trips.
      let points: string;
      try {
        points = Deno.readLinkSync(link);
      } catch (error) {
        if (error instanceof Deno.errors.NotADirectory) return `${root} is no longer a folder`;
        return `${link} cannot be read: ${(error as Error).message}`;
      }
      if (points !== expected) return `${link} points to ${points}, not ${expected}`;
      return unusableVersion(version);
    },
  };
}

/**
 * Why the version folder `path` cannot be taken as a version this output put there, or
 * undefined when it can: a folder (never a link, which could lead anywhere, nor a file) of this
 * process's user. The one test of both `apply`, which reuses such a folder, and `lost`, which
 * delivers again what it refuses: with two tests, a file at a version's name was reused by one
 * and found lost by the other at every tick, and its hooks ran at every tick. Synchronous and
 * one `lstat`: `lost` is asked at every idle tick.
 */
function unusableVersion(path: string): string | undefined {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (error) {
    // A folder on the way replaced by a file (ENOTDIR) holds no version either.
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return `${path} is gone`;
    }
    throw error;
  }
  if (!info.isDirectory) {
    const what = info.isFile ? "file" : fileKind(info);
    return `${path} is a ${what}, not a folder`;
  }
  const uid = processUid();
  if (uid !== undefined && info.uid !== null && info.uid !== uid) {
    return `${path} belongs to user ${info.uid}, not to this process's user ${uid}`;
  }
  return undefined;
}

/**
 * Moves what is at the version name `path`, and is no version of this output's, out of the
 * versions' names (to a staging name, which the next prune sweeps), so that the version can be
 * pulled there whole. A link or a file goes at once: removing it removes no folder's content.
 */
async function moveUnusable(versions: VersionsFolder, path: string): Promise<void> {
  const aside = `${versions.path}/${STAGING_PREFIX}unusable-${crypto.randomUUID()}`;
  try {
    await Deno.rename(path, aside);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw new OcisyncError(
      `cannot move ${path} out of the way of the version to pull there: ${
        (error as Error).message
      }`,
      { hint: `move ${path} away: the sync pulls the version into that name itself` },
    );
  }
  const info = lstatOrUndefined(aside);
  if (info !== undefined && !info.isDirectory) await Deno.remove(aside).catch(() => {});
}

/**
 * As root, refuses an output folder that another user could replace, or in which they could
 * replace what the sync makes (a world-writable folder, a folder of theirs above it, a link of
 * theirs on the way): each step of a change goes by path (the pull, the swap of `current`, the
 * removal of old versions), so such a user could swap a folder for a link between two steps and
 * lead root's writes and removals anywhere. `pull` refuses such a folder as root too.
 *
 * @throws {UsageError} when such a user could.
 * @example
 * ```ts
 * import { refuseExposedOutput } from "./outputs.ts";
 * await refuseExposedOutput("/srv/flows");
 * ```
 */
export async function refuseExposedOutput(root: string): Promise<void> {
  await refuseReplaceableAsRoot(root, (why) =>
    new UsageError(
      `refusing to sync as root into ${root}: ${why}, so that user could swap a folder for a ` +
        "link and redirect what root writes and removes",
      {
        hint: "run the sync as the user who owns that folder, or into a folder only root can " +
          "change",
      },
    ));
}

/** Points `ROOT/current` to `relativeTarget` in one rename; returns the old target's path. */
async function swapCurrent(root: string, relativeTarget: string): Promise<string | undefined> {
  const link = `${root}/${CURRENT}`;
  const existing = await Deno.lstat(link).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  });
  if (existing !== undefined && !existing.isSymlink) {
    throw new OcisyncError(`${link} exists and is not a symlink`, {
      hint: "move it away: the sync replaces it by a symlink to the current version",
    });
  }
  const previous = existing && `${root}/${await Deno.readLink(link)}`;
  await removeLeftLinks(root);
  const temporary = `${root}/${SWAP_LINK_PREFIX}${crypto.randomUUID().slice(0, 8)}`;
  await Deno.symlink(relativeTarget, temporary);
  try {
    await Deno.rename(temporary, link);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw new OcisyncError(`cannot replace ${link}: ${(error as Error).message}`);
  }
  return previous;
}

/** How the link made for the swap of `current` is named, before its 8 random hex digits. */
const SWAP_LINK_PREFIX = `.${CURRENT}.tmp-`;

/**
 * Removes the links a swap made and a killed sync left in `root` (SIGKILL between the link and
 * its rename): only this process swaps there, as it holds the folder's lock.
 */
async function removeLeftLinks(root: string): Promise<void> {
  for await (const entry of Deno.readDir(root)) {
    if (!entry.isSymlink || !entry.name.startsWith(SWAP_LINK_PREFIX)) continue;
    if (!/^[0-9a-f]{8}$/.test(entry.name.slice(SWAP_LINK_PREFIX.length))) continue;
    await Deno.remove(`${root}/${entry.name}`).catch(() => {});
  }
}

/** `DIR/.ocisync` as the sync found it: its path and the identity it is checked against. */
interface VersionsFolder {
  path: string;
  info: Deno.FileInfo;
}

/**
 * `DIR/.ocisync`, checked before anything is pulled into it or removed from it: a folder of
 * this process's user, not a link. A link (an administrator moving versions to another disk,
 * or whoever may write to `DIR`) would have the pull write, and the pruning delete, wherever it
 * leads; a folder of another user could be swapped for one. Undefined when it does not exist
 * yet (the pull makes it).
 *
 * @throws {OcisyncError} when it is a link, not a folder, or another user's.
 */
function versionsFolder(root: string): VersionsFolder | undefined {
  const path = `${root}/${VERSIONS}`;
  let info: Deno.FileInfo | undefined;
  try {
    info = lstatOrUndefined(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotADirectory)) throw error;
    throw new OcisyncError(`${root} is a file, not a folder: refusing to pull into it`, {
      hint: `move ${root} away: the sync makes that folder itself`,
    });
  }
  if (info === undefined) return undefined;
  const hint = `move ${path} away: the sync makes that folder itself, and removes what it ` +
    "holds beyond --keep";
  if (!info.isDirectory) {
    const what = info.isSymlink ? "a symlink" : "not a folder";
    throw new OcisyncError(`${path} is ${what}: refusing to pull into it or prune it`, { hint });
  }
  const uid = processUid();
  if (uid !== undefined && info.uid !== null && info.uid !== uid) {
    throw new OcisyncError(
      `${path} belongs to user ${info.uid}, not to this process's user ${uid}: refusing to ` +
        "prune a folder that another user can change",
      { hint },
    );
  }
  return { path, info };
}

/**
 * Removes versions beyond the `keep` most recent, never one of `protect`, nor one with a file
 * system mounted inside (a user's bind mount of `DIR/current/data`, made where the link led):
 * its removal would delete the mounted files. Such a version goes once it is unmounted. Only
 * names the sync makes are removed (versions, and pulls' staging folders), and only while
 * `DIR/.ocisync` is still the folder that was checked.
 */
async function prune(
  versions: VersionsFolder | undefined,
  keep: number,
  protect: (string | undefined)[],
): Promise<void> {
  if (versions === undefined) return;
  const still = () => {
    if (!sameFile(versions.info, lstatOrUndefined(versions.path))) {
      throw new OcisyncError(
        `${versions.path} was replaced while the sync used it: nothing more was removed`,
      );
    }
  };
  still();
  const found: { path: string; mtime: number }[] = [];
  for await (const entry of Deno.readDir(versions.path)) {
    const path = `${versions.path}/${entry.name}`;
    if (entry.isDirectory && entry.name.startsWith(STAGING_PREFIX)) {
      still();
      await removeFolderTree(path).catch(() => {});
    } else if (entry.isDirectory && VERSION_NAME.test(entry.name)) {
      found.push({ path, mtime: (await Deno.lstat(path)).mtime?.getTime() ?? 0 });
    }
  }
  found.sort((a, b) => b.mtime - a.mtime);
  for (const { path } of found.slice(keep)) {
    if (protect.includes(path) || await mountPointBelow(path)) continue;
    still();
    // Renamed out of the versions' names first: a version folder is whole or gone. A removal
    // cut short (SIGKILL, a full disk) would otherwise leave part of a version under its
    // name, which a later change back to that digest would take as delivered and go live with;
    // the staging name is swept by the next prune.
    const doomed = `${versions.path}/${STAGING_PREFIX}pruned-${crypto.randomUUID()}`;
    await Deno.rename(path, doomed);
    await removeFolderTree(doomed);
  }
}

/**
 * Options of {@linkcode execOutput}. With `directory`, its layer selection
 * (`layerMediaTypes`, `layerOperation`) must be the folder output's, as it names the version's
 * folder.
 */
export interface ExecOutputOptions
  extends Pick<DirectoryOutputOptions, "layerMediaTypes" | "layerOperation"> {
  /**
   * The folder of a {@linkcode directoryOutput}, for `OCISYNC_DIR`: that output must come
   * before the hook, which is given the version's folder it has just put in place.
   */
  directory?: string;
  /**
   * Milliseconds a hook has to end after the loop is stopped and its process group got
   * `SIGTERM`; then the group gets `SIGKILL`. Default 10 000, as `docker stop` waits.
   */
  killAfter?: number;
  /**
   * A lock file this process holds (`SyncLocks.lockOf` of `mod.ts`): while the hook runs, its
   * process group is recorded beside it (`recordHookGroup` of `./hook_group.ts`, Linux only),
   * so that the next holder of that lock, should this process be killed, ends the hook left
   * running before it runs the hook again (`lockSyncPaths` does, at start-up). Without it,
   * nothing is recorded.
   */
  recordBeside?: string;
  /**
   * Milliseconds a hook may run: then its process group is stopped as on a stop of the loop,
   * and the tick fails. None by default: a hook that never ends holds its target's loop.
   */
  timeout?: number;
}

/**
 * Runs `command` with `sh -c` after each change, with `OCISYNC_REF` (the reference),
 * `OCISYNC_DIGEST` (the digest), `OCISYNC_TAG` (the tag a policy picked, or empty) and
 * `OCISYNC_DIR` (the absolute path of the change's version folder in `directory`, as
 * `versionDirectory` of `./version_directory.ts` names it, or empty without `directory`) added
 * to the environment. The hook's standard output goes to standard error, so that standard output stays JSON lines for events. A non-zero exit fails
 * the tick; when the loop is stopped, the hook's process group gets `SIGTERM`, and `SIGKILL`
 * if it has not ended {@linkcode ExecOutputOptions.killAfter} later: a hook that ignores
 * `SIGTERM` would otherwise keep the sync from stopping. A hook so stopped (or past its
 * timeout) fails the tick whatever its exit code, 0 included: it was cut short. A sync that is
 * killed cannot stop its hook: with {@linkcode ExecOutputOptions.recordBeside}, the next one ends
 * it before it runs the hook again. The command starts only once its group is recorded; one
 * whose group cannot be recorded is not run, and the tick fails.
 *
 * @example
 * ```ts
 * import { execOutput } from "./outputs.ts";
 * const output = execOutput('kill -HUP "$(cat /run/app.pid)"', { directory: "/srv/app" });
 * ```
 */
export function execOutput(command: string, options: ExecOutputOptions = {}): SyncOutput {
  const versionOf = options.directory === undefined
    ? undefined
    : versionNamer(options.directory, options);
  return {
    id: `exec:${command}`,
    description: "running the hook",
    async apply(change) {
      // Named by the change, not read back from `DIR/current`: whoever may write to DIR could
      // point that link anywhere in between, and the hook runs as the sync's user.
      const folder = versionOf === undefined
        ? ""
        : absolutePath(await versionOf(change.manifestDigest));
      let child: Deno.ChildProcess;
      try {
        child = new Deno.Command("sh", {
          // The command waits for a line on stdin, sent once its group is recorded: no hook runs
          // that a later sync could not find. Should this process die first, the pipe closes and
          // the command never runs. Then stdin is /dev/null, and stdout goes to stderr. The
          // command is on a line of its own, so that it is parsed exactly as written.
          args: ["-c", `read -r _ || exit\nexec </dev/null >&2\n${command}`],
          env: {
            OCISYNC_REF: change.reference,
            OCISYNC_DIGEST: change.digest,
            OCISYNC_TAG: change.tag ?? "",
            OCISYNC_DIR: folder,
          },
          stdin: "piped",
          // A process group of its own, so that a stop ends the hook's children too.
          detached: true,
        }).spawn();
      } catch (error) {
        throw new OcisyncError(`cannot run the hook with sh: ${(error as Error).message}`);
      }
      // Set once the hook's group is told to stop: it cancels the SIGKILL that follows.
      let cancelKill: (() => void) | undefined;
      const stop = () => {
        cancelKill ??= stopProcessGroup(child.pid, options.killAfter ?? DEFAULT_KILL_AFTER_MS);
      };
      let timedOut = false;
      const limit = options.timeout === undefined ? undefined : setTimeout(() => {
        timedOut = true;
        stop();
      }, options.timeout);
      change.signal.addEventListener("abort", stop, { once: true });
      let status: Deno.CommandStatus;
      let record: HookRecord | undefined;
      let unrecorded: unknown;
      try {
        try {
          if (options.recordBeside !== undefined) {
            record = await recordHookGroup(options.recordBeside, child.pid);
          }
        } catch (error) {
          unrecorded = error;
        }
        await startCommand(child, unrecorded === undefined);
        status = await child.status;
      } finally {
        change.signal.removeEventListener("abort", stop);
        cancelKill?.();
        clearTimeout(limit);
        await record?.remove();
      }
      if (unrecorded !== undefined) {
        throw new OcisyncError(`${(unrecorded as Error).message}: the hook was not run`, {
          hint: "the state stays at the last good digest: the next tick runs the hook again",
        });
      }
      // A hook this output signalled was cut short, whatever its exit: a trap that exits 0 on
      // SIGTERM did not do its work, and the change must be delivered again.
      if (cancelKill !== undefined || !status.success) {
        const ended = status.signal ? `was stopped by ${status.signal}` : `exited ${status.code}`;
        const how = timedOut
          ? `ran past its timeout of ${options.timeout! / 1000}s and ${ended}`
          : cancelKill !== undefined
          ? `was stopped, as the sync was, and ${ended}`
          : ended;
        // Not the command itself, which may hold a token: the message goes to logs and /healthz.
        throw new OcisyncError(`the hook ${how}`, {
          hint: "the state stays at the last good digest: the next tick runs the hook again",
        });
      }
    },
  };
}

/**
 * Sends the line that a hook's shell waits for before it runs the command, or, with `run` false,
 * only closes the pipe: the shell then exits and the command never runs.
 */
async function startCommand(child: Deno.ChildProcess, run: boolean): Promise<void> {
  const writer = child.stdin.getWriter();
  try {
    if (run) await writer.write(new Uint8Array([0x0a]));
    await writer.close();
  } catch { /* the hook was stopped meanwhile */ }
}

function trimSlashes(path: string): string {
  return path.replace(/(?<=.)\/+$/, "");
}
