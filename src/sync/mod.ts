/**
 * Keeps a host in step with a reference: a loop that resolves the reference on every tick and,
 * when its digest differs from the last good one, pulls it and hands it to outputs.
 *
 * - **A tick** is one `HEAD` of the manifest with the full Accept list (a `GET` and a hash when
 *   the registry leaves the digest header out), or a read of `index.json` for an `oci:` layout.
 *   An unchanged digest costs nothing more; a digest reference, once synced, not even that. With
 *   a {@linkcode TagPolicy}, the tags are listed first (one request per page) and the highest
 *   match is resolved.
 * - **Verification**: with a `verifier`, a new digest is delivered only once a signature over it
 *   has verified; a digest that does not verify fails the tick (the outputs keep the last good
 *   version, the state is not advanced) and is not asked about again until it changes. The state
 *   records the policy a digest was checked under (`verifierPolicy`): a digest delivered under
 *   another one, or none, is verified again before a tick calls it unchanged, without a new pull;
 *   until it verifies, every tick fails.
 * - **A change** is fetched, verified, and delivered to every output in order. Only when all
 *   have succeeded is the digest recorded in the {@linkcode SyncState}: a failure or a crash
 *   at any point makes the next tick redo the whole change.
 * - **A lost delivery**: a tick that finds the digest unchanged asks each output whether it
 *   still holds it (`SyncOutput.lost`: a folder whose `current` is gone has not); when one does
 *   not, the digest is delivered again, as a change.
 * - **Failures** are retried with exponential backoff and jitter, capped at the interval.
 * - **Stopping**: when the signal aborts, the tick in progress stops at its next safe point,
 *   and the loop ends without recording a partial change: an output that returns once the
 *   signal has aborted is not taken as having delivered it.
 * - **One writer**: a folder or a state file belongs to one process, which holds their locks
 *   from start-up to exit ({@linkcode lockSyncPaths}); a second process is refused at once. A
 *   lock removed meanwhile (with its folder) is taken again before the next change or state
 *   write; when another process took it first, the loop ends ({@linkcode SyncLockLostError}).
 *
 * The loop is an async iterator of {@linkcode SyncTick}s, one per tick; it ends by throwing
 * the last error once `maxFailures` ticks in a row have failed.
 *
 * Three parts are modules of their own, not exported here, so that a loop without them starts
 * without what they load: the tag policy's code (`./policy.ts`, npm:semver), which the loop
 * loads only when given a policy, the `--config` file's parser (`./config_file.ts`, npm:yaml),
 * and the webhook output (`./webhook.ts`, the HTTP client).
 *
 * @example
 * ```ts
 * import { eventsOutput, SyncState, syncLoop } from "./mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const controller = new AbortController();
 * Deno.addSignalListener("SIGTERM", () => controller.abort());
 * for await (
 *   const tick of syncLoop({
 *     reference: parseReference("localhost:5000/config:prod"),
 *     outputs: [eventsOutput(Deno.stdout)],
 *     interval: 30_000,
 *     state: await SyncState.open("state.json"),
 *     signal: controller.signal,
 *   })
 * ) {
 *   console.error(tick.status, tick.digest);
 * }
 * ```
 * @module
 */
import { absolutePath, dirname } from "../fs/paths.ts";
import type { Digest } from "../digest/parse.ts";
import { sha256DigestAsync } from "../digest/verify.ts";
import { OcisyncError, UnsafeContentError, UsageError } from "../errors/mod.ts";
import { explainOsError } from "../errors/os.ts";
import { DURATION_BOUNDS } from "../units/mod.ts";
import { describeLockHolder, FileLock, readLockHolder } from "../fs/lock.ts";
import { tryLstat } from "../fs/stat.ts";
import { formatPlatform, hostPlatform } from "../image/platform.ts";
import type { CallOptions, Target } from "../oci/target.ts";
import type { Descriptor, Manifest, Platform } from "../oci/types.ts";
import type { BlobListener } from "../progress/mod.ts";
import { fetchImageManifest, type ImageVerifier } from "../pull/read.ts";
import { formatReference, type Reference } from "../ref/mod.ts";
import { closeTarget, openTarget, resolveReference } from "../target/mod.ts";
import { SignatureError } from "../trust/errors.ts";
import { type VerifierFiles, wantsVerification } from "../trust/files.ts";
import { sleepUnlessStopped, type SyncTick } from "./http.ts";
import type { TagPolicy } from "./policy.ts";
import { endLeftHooks } from "./hook_group.ts";
import {
  layerPaths,
  outputLockPath,
  refuseExposedOutput,
  removeDeadPulls,
  type SyncChange,
  type SyncOutput,
} from "./outputs.ts";
import {
  refuseExposedState,
  removeStateLeftovers,
  stateFile,
  stateLockPath,
  SyncState,
  type SyncStateEntry,
} from "./state.ts";

export {
  directoryOutput,
  type DirectoryOutputOptions,
  eventsOutput,
  type EventsOutputOptions,
  type EventsSink,
  execOutput,
  type ExecOutputOptions,
  layerPaths,
  outputLockPath,
  type SyncChange,
  type SyncOutput,
} from "./outputs.ts";
export {
  removeStateLeftovers,
  stateFile,
  stateLockPath,
  SyncState,
  type SyncStateEntry,
} from "./state.ts";
export type { TagPolicy } from "./policy.ts";
export {
  type HealthReport,
  type ListenAddress,
  parseListenAddress,
  serveSyncHttp,
  type SyncHttpOptions,
  type SyncHttpServer,
  SyncMetrics,
  type SyncTick,
  type TargetHealth,
} from "./http.ts";
export {
  parseJitter,
  type SyncTargetConfig,
  syncTargetConfig,
  type SyncTargetKey,
  type SyncTargetValues,
} from "./config.ts";
export { SYNC_DEFAULTS } from "./defaults.ts";
// The shared types this module's API is written in, so that its documentation is complete.
export type { Digest } from "../digest/parse.ts";
export type { Descriptor, Manifest, Platform } from "../oci/types.ts";
export type { Target } from "../oci/target.ts";
export type { LayoutReference, Reference, RegistryReference } from "../ref/mod.ts";
export type { BlobEvent, BlobListener } from "../progress/mod.ts";
export type { VerifierFiles } from "../trust/files.ts";

/**
 * What {@linkcode syncLoop} keeps in step, and how.
 *
 * @example
 * ```ts
 * import type { SyncOptions } from "./mod.ts";
 * import { directoryOutput } from "./outputs.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const options: SyncOptions = {
 *   reference: parseReference("ghcr.io/acme/flows:prod"),
 *   outputs: [directoryOutput("/srv/flows")],
 *   interval: 60_000,
 *   jitter: 0.1,
 * };
 * ```
 */
export interface SyncOptions {
  /**
   * A tag, a digest, or an `oci:` layout. A registry reference with neither means `latest`,
   * unless a `tagPolicy` picks the tag.
   */
  reference: Reference;
  /**
   * Follow the highest tag that matches instead of a fixed one: `reference` then names a
   * repository (or layout) without a tag, and each tick lists the tags and picks.
   */
  tagPolicy?: TagPolicy;
  /**
   * Deliver a new digest only once a signature over it has verified (`Verifier` of
   * `../trust/verifier.ts`). A digest that does not verify fails the tick: the outputs and the
   * state keep the last good version.
   */
  verifier?: ImageVerifier;
  /**
   * What identifies `verifier`'s policy: {@linkcode verifierPolicy} of the files it was read from.
   * The state records it with each digest, so that a digest delivered under another policy (or
   * none) is verified again, and one delivered under this one is not. Without it, the policy is
   * unknown: each loop verifies the digest the state has once, at its first tick.
   */
  verifierPolicy?: string;
  /** Where each change goes, in order. */
  outputs: SyncOutput[];
  /** Milliseconds between ticks. */
  interval: number;
  /**
   * The fraction of the interval, from 0 to 1, by which each wait is shortened at random, so
   * that hosts started together drift apart. Default 0.1.
   */
  jitter?: number;
  /** The last good digests. Default: a new state in memory, so the first tick pulls. */
  state?: SyncState;
  /**
   * Opens the reference's target, once, at the first tick that needs it. Default:
   * `openTarget(reference)`, with a registry client of its own; open through a shared
   * `Session` (`session.open`) to share challenges and tokens among loops. The loop closes
   * the target when it ends (which leaves a session's clients to the session).
   */
  open?: (reference: Reference) => Promise<Target>;
  /** The platform to choose from an index. Default: the host's. */
  platform?: Platform;
  /** Deliver the digest on the first tick even when the state has it. */
  forcePull?: boolean;
  /** Run one tick, then end; a failed tick throws. */
  once?: boolean;
  /** End by throwing after this many failed ticks in a row. Default: never. */
  maxFailures?: number;
  /**
   * Milliseconds during which a digest whose signature was refused is refused again without
   * asking the registry; after that it is verified afresh, so that a signature added later to
   * the same digest is seen. Default: 5 minutes.
   */
  recheckRefused?: number;
  /** Stops the loop: the tick in progress stops at its next safe point. */
  signal?: AbortSignal;
  /**
   * The locks of {@linkcode lockSyncPaths} over the outputs' folders and the state file: checked
   * before each change and each write of the state, and taken again when their files were
   * removed ({@linkcode SyncLocks.ensureHeld}). A loop that finds one taken by another process
   * ends at once with a {@linkcode SyncLockLostError}.
   */
  locks?: Pick<SyncLocks, "ensureHeld">;
  /**
   * Told, in a line, why a digest the state has is delivered again (an output lost it), or
   * verified again (it was delivered under another verification policy).
   */
  log?: (line: string) => void;
}

/** What the state records of a digest delivered without a verifier. */
const NO_VERIFICATION = "none";

/**
 * The fingerprint of the verification policy that `files` describes, for
 * {@linkcode SyncOptions.verifierPolicy}; undefined when `files` asks for no verification: the
 * `policy` of the verifier that `openVerifier` makes of them. A program that verifies with a
 * verifier passes that verifier's `policy`, read from the same files once.
 *
 * @throws {UsageError} when a file cannot be read or a key is not an EC P-256 public key.
 * @throws {NotFoundError} when a file does not exist.
 * @example
 * ```ts
 * import { verifierPolicy } from "./mod.ts";
 * await verifierPolicy({}); // undefined
 * await verifierPolicy({ verifyKeys: ["cosign.pub"] }); // "sha256:…"
 * ```
 */
export async function verifierPolicy(
  files: VerifierFiles | undefined,
): Promise<string | undefined> {
  if (files === undefined || !wantsVerification(files)) return undefined;
  return (await (await import("../trust/verifier.ts")).openVerifier(files))?.policy;
}

/** What a tick found out, before the loop adds the timing and the failure count. */
type TickOutcome = Pick<
  SyncTick,
  "status" | "digest" | "previous" | "paths" | "bytes" | "error" | "tag"
>;

const DEFAULT_JITTER = 0.1;
/** The first wait after a failure; each further failure doubles it, up to the interval. */
const BACKOFF_BASE_MS = 1000;
/** Backoff waits are shortened by up to half at random, so that clients spread out. */
const BACKOFF_JITTER = 0.5;
/** How long a refused digest is refused from memory: verifying costs several requests. */
const DEFAULT_RECHECK_REFUSED_MS = 5 * 60_000;

/**
 * Runs the sync loop: the first tick at once, then one per interval, until the signal aborts,
 * after `once`, or after `maxFailures` failed ticks in a row, when it throws the last error.
 * Yields each tick's {@linkcode SyncTick}; the next tick waits until the consumer asks for it.
 *
 * @throws the error of the last tick, after `maxFailures` failures in a row (1 with `once`).
 * @example
 * ```ts
 * import { execOutput, syncLoop } from "./mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const ticks = syncLoop({
 *   reference: parseReference("oci:./bundle:prod"),
 *   outputs: [execOutput("echo $OCISYNC_DIGEST")],
 *   interval: 5_000,
 *   once: true,
 * });
 * for await (const tick of ticks) console.log(tick.status);
 * ```
 */
export async function* syncLoop(options: SyncOptions): AsyncGenerator<SyncTick, void, undefined> {
  const signal = options.signal ?? new AbortController().signal;
  const jitter = options.jitter ?? DEFAULT_JITTER;
  const { min, max } = DURATION_BOUNDS;
  if (!(options.interval >= min && options.interval <= max)) {
    // 0, NaN or less ticked hundreds of times a second, a request each; and so did more than
    // a timer's 2^31 - 1 ms, or Infinity, which timers take as 1 ms.
    throw new UsageError(
      `interval must be from ${min} ms to ${max} ms (24h), not ${options.interval}`,
    );
  }
  if (!(jitter >= 0 && jitter <= 1)) {
    // NaN waited no time at all, and more than 1 a negative time.
    throw new UsageError(`jitter must be from 0 to 1, not ${jitter}`);
  }
  if (options.maxFailures !== undefined && !(options.maxFailures >= 1)) {
    // 0 ended the loop silently after its first tick, whatever it did.
    throw new UsageError(`maxFailures must be 1 or more, not ${options.maxFailures}`);
  }
  const maxFailures = options.once ? 1 : options.maxFailures ?? Infinity;
  // The policy's code loads npm:semver: only for a loop that has a policy.
  const platform = options.platform ?? hostPlatform();
  const tick = new Ticker(
    options,
    platform,
    await outputsId(platform, options.outputs),
    options.tagPolicy && await import("./policy.ts"),
  );
  let failures = 0;
  try {
    while (true) {
      const startedAt = Date.now();
      let result: TickOutcome;
      try {
        result = await tick.run(signal);
        failures = 0;
      } catch (error) {
        const aborted = signal.aborted;
        if (!aborted) failures++;
        result = {
          status: aborted ? "aborted" : "failed",
          digest: tick.lastGood,
          ...(tick.lastTag !== undefined ? { tag: tick.lastTag } : {}),
          bytes: 0,
          error,
        };
      }
      // Another process writes where this loop does: no retry can make that right.
      const taken = result.error instanceof SyncLockLostError;
      const end = options.once || signal.aborted || failures >= maxFailures || taken;
      const wait = failures === 0 ? shortened(options.interval, jitter) : shortened(
        Math.min(options.interval, BACKOFF_BASE_MS * 2 ** (failures - 1)),
        BACKOFF_JITTER,
      );
      yield {
        reference: tick.reference,
        ...result,
        startedAt,
        durationMs: Date.now() - startedAt,
        failures,
        nextTickMs: end ? undefined : wait,
      };
      if (result.status === "failed" && (failures >= maxFailures || taken)) throw result.error;
      if (end) return;
      await sleepUnlessStopped(wait, signal);
      if (signal.aborted) return;
    }
  } finally {
    await tick.close();
  }
}

/**
 * The locks a sync process holds for its whole life, from {@linkcode lockSyncPaths}.
 *
 * @example
 * ```ts
 * import { lockSyncPaths } from "./mod.ts";
 * await using locks = await lockSyncPaths({ outputs: ["/srv/flows"] });
 * console.log(locks.paths); // ["/srv/flows/.ocisync.lock"]
 * ```
 */
export interface SyncLocks extends AsyncDisposable {
  /** The lock files held, as absolute paths. */
  readonly paths: string[];
  /**
   * Makes sure this process still holds every lock: a lock file removed meanwhile (with its
   * folder, which the sync rebuilds: `rm -rf DIR`, a wiped state folder) would let a second
   * process take it and write alongside. A lock whose path no longer names the file held is
   * taken again (its folder made again); {@linkcode syncLoop} asks this before each change and
   * each write of the state, with {@linkcode SyncOptions.locks}.
   *
   * @throws {SyncLockLostError} when another process took a lost lock meanwhile.
   * @throws {OcisyncError} when a lock file or its folder cannot be made again.
   */
  ensureHeld(): Promise<void>;
  /**
   * The lock file held for the output folder or state file `path`, given as it was to
   * {@linkcode lockSyncPaths} (a relative path from the current folder); undefined when none
   * is. A hook records its process group beside it (`ExecOutputOptions.recordBeside`).
   *
   * @example
   * ```ts
   * import { lockSyncPaths } from "./mod.ts";
   * await using locks = await lockSyncPaths({ states: ["state.json"] });
   * locks.lockOf("state.json"); // "/…/state.json.lock"
   * ```
   */
  lockOf(path: string): string | undefined;
  /** Releases every lock; calling it again does nothing. */
  release(): Promise<void>;
}

/**
 * A lock of {@linkcode lockSyncPaths} was lost (its file removed by hand, or with its folder)
 * and another process holds it now: both would write one folder or state file, so the loop
 * that finds it ends at once, whatever `maxFailures` says, and the CLI exits 2.
 *
 * @example
 * ```ts
 * import { SyncLockLostError } from "./mod.ts";
 * const error = new SyncLockLostError("the output folder /srv/flows is in use by …");
 * console.log(error.kind); // "usage"
 * ```
 */
export class SyncLockLostError extends UsageError {}

/** How many times a lock whose holder has not written its name yet is read again. */
const HOLDER_READS = 4;
const HOLDER_READ_WAIT_MS = 25;

/** A lock of {@linkcode lockSyncPaths}, and what it takes to take it again. */
interface HeldLock {
  lock: FileLock;
  /** What it guards, in words: `the output folder DIR`. */
  what: string;
  /** `folder` or `state file`, for the hint. */
  kind: string;
  /** Refuses, as root, a path another user could lead elsewhere; before anything is made. */
  refuse: () => Promise<void>;
}

/**
 * Makes this process the only writer of each output folder (`-o DIR`) and state file, for as
 * long as it holds the returned locks: `DIR/.ocisync.lock` ({@linkcode outputLockPath}) and
 * `FILE.lock` ({@linkcode stateLockPath}), taken at once, never waited for. Take them once per
 * process, at start-up, before any loop ticks, and give them to each loop
 * ({@linkcode SyncOptions.locks}), which checks them before each change and state write
 * ({@linkcode SyncLocks.ensureHeld}): the loops of one process may share a state file,
 * two processes may not, nor a folder. A lock left by a process that died on this host is broken
 * at once; one from another host once it has not been refreshed for five minutes. Folders and
 * the state file's folder are created if missing. Once a lock is held, what killed processes left
 * is removed: the staging trees of pulls in a folder (`removeDeadPulls` of `./outputs.ts`), the
 * temporary files of writes beside a state file ({@linkcode removeStateLeftovers}); and the hooks
 * they left running, recorded beside a lock (`ExecOutputOptions.recordBeside`), are ended as a
 * stop ends a hook, told to `options.log` (`endLeftHooks` of `./hook_group.ts`).
 *
 * @throws {UsageError} when another process holds one of the locks; the message names the folder
 * or file, and the holder's pid, host and start time. The locks already taken are released.
 * @throws {OcisyncError} when a lock file cannot be created.
 * @throws {UsageError} as root, when another user could lead a folder or state file elsewhere
 * (`refuseExposedOutput`, `refuseExposedState`): checked before anything is made.
 * @throws {OcisyncError} when a hook left running still runs after `SIGKILL`.
 * @example
 * ```ts
 * import { directoryOutput, lockSyncPaths, SyncState, syncLoop } from "./mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const locks = await lockSyncPaths({ outputs: ["/srv/flows"], states: ["state.json"] });
 * try {
 *   const ticks = syncLoop({
 *     reference: parseReference("ghcr.io/acme/flows:prod"),
 *     outputs: [directoryOutput("/srv/flows")],
 *     interval: 30_000,
 *     state: await SyncState.open("state.json"),
 *     locks,
 *   });
 *   for await (const tick of ticks) console.error(tick.status);
 * } finally {
 *   await locks.release();
 * }
 * ```
 */
export async function lockSyncPaths(
  paths: { outputs?: string[]; states?: string[] },
  options: { log?: (line: string) => void } = {},
): Promise<SyncLocks> {
  const held: HeldLock[] = [];
  /** The lock of each folder and state file, by its absolute path as given. */
  const locks = new Map<string, string>();
  // Folders made for a lock: removed again if they are still empty when the locks go, so that
  // a sync that failed at once leaves no trace.
  const made: string[] = [];
  const release = async () => {
    for (const { lock } of held.splice(0).reverse()) await lock.release();
    for (const folder of made.splice(0).reverse()) await Deno.remove(folder).catch(() => {});
  };
  try {
    // Before a folder or lock file is made: as root, not where another user could lead it.
    for (const dir of paths.outputs ?? []) await refuseExposedOutput(dir);
    for (const path of paths.states ?? []) await refuseExposedState(path);
    for (const dir of new Set((paths.outputs ?? []).map((p) => absolutePath(p)))) {
      const what = `the output folder ${dir}`;
      made.push(...await makeFolder(dir, what));
      const lock = await ownOrRefuse(outputLockPath(dir), what, "folder");
      held.push({ lock, what, kind: "folder", refuse: () => refuseExposedOutput(dir) });
      locks.set(dir, lock.path);
      // Under the lock, no pull of another process's is under way there: all are dead.
      await removeDeadPulls(dir);
      await endLeftHooks(lock.path, options);
    }
    const states = new Map<string, string>();
    for (const path of paths.states ?? []) {
      const file = absolutePath(path);
      made.push(...await makeFolder(dirname(file), `the folder of the state file ${file}`));
      const real = await stateFile(file);
      states.set(real, path);
      locks.set(file, stateLockPath(real));
    }
    for (const [file, given] of states) {
      const what = `the state file ${file}`;
      const lock = await ownOrRefuse(stateLockPath(file), what, "state file");
      held.push({ lock, what, kind: "state file", refuse: () => refuseExposedState(given) });
      // Under the lock, no other process writes the state: its temporary files are dead.
      await removeStateLeftovers(file);
      await endLeftHooks(lock.path, options);
    }
  } catch (error) {
    await release();
    throw error;
  }
  // One check at a time: two loops finding one lock lost would each take it, and the second
  // would find it held, by this very process.
  let checking = Promise.resolve();
  const ensureHeld = () => {
    const check = checking.then(async () => {
      for (const entry of held) {
        if (await entry.lock.named()) continue;
        await entry.lock.release();
        await entry.refuse();
        await makeFolder(dirname(entry.lock.path), entry.what);
        entry.lock = await ownOrRefuse(entry.lock.path, entry.what, entry.kind, true);
      }
    });
    checking = check.catch(() => {});
    return check;
  };
  return {
    paths: held.map(({ lock }) => lock.path),
    ensureHeld,
    lockOf: (path) => locks.get(absolutePath(path)),
    release,
    [Symbol.asyncDispose]: release,
  };
}

/** Creates a folder where missing, for its lock file; returns the folders made, outermost first. */
async function makeFolder(path: string, what: string): Promise<string[]> {
  const missing: string[] = [];
  for (let folder = path; folder !== dirname(folder); folder = dirname(folder)) {
    // Below a file (ENOTDIR), nothing is there: the mkdir then names that file.
    if (tryLstat(folder)) break;
    missing.unshift(folder);
  }
  try {
    await Deno.mkdir(path, { recursive: true });
  } catch (error) {
    // A file where a folder goes (DIR replaced by a file): named, not the runtime's EEXIST.
    const file = await firstNonFolder(path);
    if (file !== undefined) {
      throw new OcisyncError(`cannot create ${what}: ${file} is a file, not a folder`, {
        hint: `move ${file} away: the sync makes that folder itself`,
        cause: error,
      });
    }
    throw new OcisyncError(`cannot create ${what}: ${(error as Error).message}`, { cause: error });
  }
  return missing;
}

/** The first of the absolute `path` and the folders above it that exists and is no folder. */
async function firstNonFolder(path: string): Promise<string | undefined> {
  const ways: string[] = [];
  for (let folder = path; folder !== dirname(folder); folder = dirname(folder)) {
    ways.unshift(folder);
  }
  for (const folder of ways) {
    const info = await Deno.stat(folder).catch(() => undefined);
    if (info === undefined) return undefined;
    if (!info.isDirectory) return folder;
  }
  return undefined;
}

/**
 * Takes the lock `path` at once, or throws a {@linkcode UsageError} that names its holder: a
 * {@linkcode SyncLockLostError} when this process held it until its file was removed (`lost`).
 */
async function ownOrRefuse(
  path: string,
  what: string,
  kind: string,
  lost = false,
): Promise<FileLock> {
  for (let read = 1;; read++) {
    const lock = await FileLock.tryAcquire(path);
    if (lock) return lock;
    const holder = await readLockHolder(path);
    // A holder writes its name just after creating the file: give it a moment to.
    if (holder?.pid !== undefined || read >= HOLDER_READS) {
      const message = `${what} is in use by another ocisync sync: ` +
        (holder ? describeLockHolder(holder) : `a process that has not written to ${path}`);
      if (lost) {
        throw new SyncLockLostError(
          `${message}; this sync held it until its lock ${path} was removed, and stops`,
          { hint: `one sync process per ${kind}: the other one goes on` },
        );
      }
      throw new UsageError(message, {
        hint: `one sync process per ${kind}: stop the other one, or give this one another ` +
          `${kind}; if that process is gone, delete ${path}`,
      });
    }
    await new Promise((done) => setTimeout(done, HOLDER_READ_WAIT_MS));
  }
}

/**
 * What a digest was delivered as, recorded in the state: the platform and the outputs decide
 * it. Hashed with Web Crypto, so that a sync that finds nothing new loads no `node:crypto`.
 */
function outputsId(platform: Platform, outputs: SyncOutput[]): Promise<Digest> {
  return sha256DigestAsync(new TextEncoder().encode(JSON.stringify([
    formatPlatform(platform),
    ...outputs.map((output) => output.id),
  ])));
}

/** One reference's ticks: what they share from one to the next. */
class Ticker {
  readonly reference: string;
  #options: SyncOptions;
  #state: SyncState;
  #platform: Platform;
  #outputs: string;
  /** The policy a delivered digest must have been checked under; undefined when unknown. */
  #verification?: string;
  /**
   * The last digest this loop's verifier vouched for: it needs no check again, whatever the state
   * records (which, with an unknown policy, is nothing).
   */
  #verified?: Digest;
  #forced: boolean;
  #target?: Target;
  /** The tag the policy picked at the last tick. */
  #tag?: string;
  /**
   * The last digest that failed verification, why, and when (`performance.now()`): refused
   * again without a request until `recheckRefused` has passed.
   */
  #refused?: { digest: Digest; error: SignatureError; at: number };
  /** Picks the tag by the loop's policy; undefined without one. */
  #pickTag?: (target: Target, options: CallOptions) => Promise<string>;

  /**
   * `outputs` is {@linkcode outputsId} of `platform` and `options.outputs`; the policy's code
   * comes with a tag policy.
   */
  constructor(
    options: SyncOptions,
    platform: Platform,
    outputs: Digest,
    policyCode?: typeof import("./policy.ts"),
  ) {
    this.#options = options;
    const policy = options.tagPolicy;
    if (policy) {
      policyCode!.checkPolicyReference(options.reference, policy);
      this.#pickTag = (target, call) => policyCode!.pickTag(target, policy, call);
    }
    this.reference = formatReference(options.reference);
    this.#state = options.state ?? new SyncState();
    this.#platform = platform;
    this.#outputs = outputs;
    this.#verification = options.verifier === undefined ? NO_VERIFICATION : options.verifierPolicy;
    this.#forced = options.forcePull ?? false;
  }

  get lastGood(): Digest | undefined {
    return this.#state.get(this.reference)?.digest;
  }

  /** The tag the policy picked at the last tick, if there is a policy. */
  get lastTag(): string | undefined {
    return this.#tag;
  }

  async run(signal: AbortSignal): Promise<TickOutcome> {
    const reference = this.#options.reference;
    const last = this.#state.get(this.reference);
    // A digest reference cannot change: once it is delivered and vouched for there is nothing to
    // ask, and until then, whether it was delivered need not be asked again below.
    const known = reference.digest !== undefined &&
      await this.#delivered(last, reference.digest as Digest);
    if (known && this.#vouched(last!)) {
      return { status: "unchanged", digest: last!.digest, bytes: 0 };
    }
    this.#target ??= await (this.#options.open ?? openTarget)(reference);
    // A stop ends the request under way, not only the steps after it.
    let descriptor: Descriptor;
    if (this.#pickTag) {
      // The tag list (one request per page), then one HEAD of the tag picked.
      this.#tag = await this.#pickTag(this.#target, { signal });
      descriptor = await this.#target.resolve(this.#tag, { signal });
    } else {
      descriptor = await resolveReference(this.#target, reference, { signal });
    }
    const tag = this.#tag !== undefined ? { tag: this.#tag } : {};
    const unchanged: TickOutcome = {
      status: "unchanged",
      digest: descriptor.digest,
      ...tag,
      bytes: 0,
    };
    const delivered = reference.digest ? known : await this.#delivered(last, descriptor.digest);
    if (delivered && this.#vouched(last!)) return unchanged;
    signal.throwIfAborted();
    if (delivered) this.#logRecheck(last!);
    // Nothing is fetched for the outputs before a signature over this very digest verifies.
    const verified = await this.#verify(descriptor, signal);
    if (delivered) {
      // The outputs hold this very digest, as delivered for the platform that `outputs` records:
      // a signature over the index, or over that platform's manifest (the one the verifier
      // chooses), vouches for what they hold. Only the record of the policy changes.
      if (this.#verification !== undefined) {
        await this.#record({ ...last!, verification: this.#verification });
      }
      return unchanged;
    }
    let bytes = 0;
    const onBlob: BlobListener = (event) => {
      if (event.state === "done") bytes += event.descriptor.size;
    };
    const { descriptor: chosen, manifest } = await fetchImageManifest(
      this.#target,
      verified,
      this.#platform,
      { signal },
    );
    let paths: string[] | undefined;
    const change: SyncChange = {
      reference: this.reference,
      ...tag,
      digest: descriptor.digest,
      descriptor: verified,
      manifest,
      manifestDigest: chosen.digest,
      // Worked out, and a title that leaves the folder refused, for the outputs that name every
      // layer by its path (events, a webhook): a folder output taking some layers by media type
      // must not fail on a layer it does not take.
      get paths() {
        return paths ??= layerPaths(manifest);
      },
      previous: last,
      target: this.#target,
      platform: this.#platform,
      signal,
      onBlob,
      ...(this.#forced ? { forced: true } : {}),
    };
    await this.#options.locks?.ensureHeld();
    for (const output of this.#options.outputs) {
      signal.throwIfAborted();
      // Every output's file errors say where, whichever output it is.
      await output.apply(change).catch((error) => {
        throw explainOsError(error, output.description);
      });
      // An output that returns after a stop may have been cut short by it (a hook that traps
      // SIGTERM and exits 0): the change is not recorded, and the next run delivers it again.
      signal.throwIfAborted();
    }
    const recorded = recordedPaths(manifest);
    await this.#record({
      digest: descriptor.digest,
      manifest: chosen.digest,
      paths: recorded,
      outputs: this.#outputs,
      ...(this.#verification !== undefined ? { verification: this.#verification } : {}),
      syncedAt: new Date().toISOString(),
    });
    this.#forced = false;
    return {
      status: "changed",
      digest: descriptor.digest,
      ...tag,
      previous: last?.digest,
      paths: recorded,
      bytes,
    };
  }

  /** Records `entry` as the reference's last good sync, once the locks are known to be held. */
  async #record(entry: SyncStateEntry): Promise<void> {
    await this.#options.locks?.ensureHeld();
    await this.#state.set(this.reference, entry);
  }

  /**
   * Whether `digest` needs no delivery: the state has it, delivered to these outputs, and each
   * output still holds it. An output that lost it is logged, and makes the tick deliver it.
   */
  async #delivered(last: SyncStateEntry | undefined, digest: Digest): Promise<boolean> {
    if (this.#forced || last?.digest !== digest || last.outputs !== this.#outputs) return false;
    for (const output of this.#options.outputs) {
      const why = await output.lost?.(last);
      if (why !== undefined) {
        this.#options.log?.(`${this.reference}: delivering ${digest} again: ${why}`);
        return false;
      }
    }
    return true;
  }

  /**
   * Whether the delivered `last` needs no verification now: there is no verifier, the state
   * records that it was checked under this very policy, or this loop's verifier vouched for it.
   * Else (another policy, none, or unknown: a state of an older release) the tick verifies it.
   */
  #vouched(last: SyncStateEntry): boolean {
    if (this.#verification === NO_VERIFICATION || this.#verified === last.digest) return true;
    return this.#verification !== undefined && last.verification === this.#verification;
  }

  /** Logs why the delivered `last` is verified again, when the current policy is known. */
  #logRecheck(last: SyncStateEntry): void {
    // Without a known policy, every start verifies once: not worth a line each time.
    if (this.#verification === undefined) return;
    const before = last.verification === undefined
      ? "an unknown verification policy"
      : last.verification === NO_VERIFICATION
      ? "no verification"
      : "another verification policy";
    this.#options.log?.(
      `${this.reference}: verifying ${last.digest} again: delivered under ${before}`,
    );
  }

  /**
   * The descriptor to deliver: `descriptor` itself without a verifier, else the one whose
   * signature verified (an index's chosen platform manifest, when only it is signed). A digest
   * refused once is refused again at once, until the reference moves on or `recheckRefused`
   * has passed.
   */
  async #verify(descriptor: Descriptor, signal: AbortSignal): Promise<Descriptor> {
    const verifier = this.#options.verifier;
    if (verifier === undefined) return descriptor;
    const refused = this.#refused;
    const recheck = this.#options.recheckRefused ?? DEFAULT_RECHECK_REFUSED_MS;
    if (refused?.digest === descriptor.digest && performance.now() - refused.at < recheck) {
      throw refused.error;
    }
    try {
      const verified = await verifier.verify(this.#target!, descriptor, {
        platform: this.#platform,
        signal,
      });
      this.#refused = undefined;
      this.#verified = descriptor.digest;
      return verified.descriptor;
    } catch (error) {
      if (error instanceof SignatureError) {
        this.#refused = { digest: descriptor.digest, error, at: performance.now() };
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.#target) await closeTarget(this.#target);
  }
}

/** `ms` less up to `fraction` of it, at random: never more than `ms`. */
function shortened(ms: number, fraction: number): number {
  return Math.round(ms * (1 - fraction * Math.random()));
}

/**
 * The layer paths a change records: none when a layer's title is one that no output naming every
 * layer could deliver (only a folder output that takes some layers, by media type, got this
 * far), so that the next change's events remove nothing on its word.
 */
function recordedPaths(manifest: Manifest): string[] {
  try {
    return layerPaths(manifest);
  } catch (error) {
    if (error instanceof UnsafeContentError) return [];
    throw error;
  }
}
