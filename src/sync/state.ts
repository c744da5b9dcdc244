/**
 * What a sync loop remembers between runs: per reference, the last digest whose every output
 * succeeded, and the paths of its layers, so that the next change can tell what was deleted.
 * The file is JSON, replaced atomically, and written only after a change is complete, so a
 * crash at any point makes the next run redo the whole change.
 *
 * ```json
 * {
 *   "version": 1,
 *   "references": {
 *     "ghcr.io/acme/flows:prod": {
 *       "digest": "sha256:…",
 *       "manifest": "sha256:…",
 *       "paths": ["flows/a.yaml", "flows/b.yaml"],
 *       "outputs": "sha256:…",
 *       "verification": "sha256:…",
 *       "syncedAt": "2025-01-01T00:00:00.000Z"
 *     }
 *   }
 * }
 * ```
 *
 * @example
 * ```ts
 * import { SyncState } from "./state.ts";
 * const state = await SyncState.open("/var/lib/ocisync/state.json");
 * console.log(state.get("ghcr.io/acme/flows:prod")?.digest);
 * ```
 * @module
 */
import { absolutePath, basename, dirname } from "../fs/paths.ts";
import { type Digest, isDigest } from "../digest/parse.ts";
import { OcisyncError, UsageError } from "../errors/mod.ts";
import { temporaryTarget, writeFileAtomic } from "../fs/atomic.ts";
import { fileKind, lstatOrUndefined, processUid } from "../fs/stat.ts";
import { openLookedAt, readUpTo } from "../fs/read.ts";
import { refuseReplaceableAsRoot } from "../fs/shielded.ts";

/**
 * The last good sync of one reference.
 *
 * @example
 * ```ts
 * import type { SyncStateEntry } from "./state.ts";
 * const entry: SyncStateEntry = {
 *   digest: `sha256:${"0".repeat(64)}`,
 *   paths: ["app.yaml"],
 *   outputs: "events:utf-8",
 *   syncedAt: new Date(0).toISOString(),
 * };
 * ```
 */
export interface SyncStateEntry {
  /** The digest the reference resolved to: an index's, when it names one. */
  digest: Digest;
  /**
   * The digest of the image manifest delivered: the platform's, for an index; else `digest`.
   * Absent from the files of releases that did not record it.
   */
  manifest?: Digest;
  /** The path of each layer, as the events name them. */
  paths: string[];
  /** Which outputs received it: when they change, the next tick applies the digest again. */
  outputs: string;
  /**
   * The verification policy the digest was last checked under: `none`, or the fingerprint of a
   * verifier's keys and keyless policy (`verifierPolicy` of `mod.ts`). When the current policy
   * differs, the next tick verifies the digest before it calls it unchanged. Absent from the
   * files of releases that did not record it, and when the policy was not known: unknown.
   */
  verification?: string;
  /** When every output had succeeded, as an ISO 8601 time. */
  syncedAt: string;
}

const FORMAT_VERSION = 1;

/**
 * The lock file that makes one process the owner of a state file: `FILE.lock`. A
 * {@linkcode SyncState} writes its whole map, so two processes sharing one file would undo
 * each other's entries; `lockSyncPaths` in `mod.ts` takes this lock.
 *
 * @example
 * ```ts
 * import { stateLockPath } from "./state.ts";
 * stateLockPath("/var/lib/ocisync/state.json"); // "/var/lib/ocisync/state.json.lock"
 * ```
 */
export function stateLockPath(path: string): string {
  return `${path}.lock`;
}

/** The most links {@linkcode stateFile} follows, as Linux does (MAXSYMLINKS). */
const MAX_STATE_LINKS = 40;

/**
 * The file that the state at `path` is: its absolute real path through any link, made or not
 * yet (a link to a file not there names the file the state is written to). Two names of one
 * state file are one state, with one lock, read once and written by one writer: by its names,
 * a second sync ran beside the first (a set-aside renamed the link, the next write made a file
 * in its place), and two targets of a config each wrote only their own entries.
 *
 * @example
 * ```ts
 * import { stateFile } from "./state.ts";
 * await stateFile("state.json"); // `${Deno.realPathSync(".")}/state.json`
 * ```
 */
export async function stateFile(path: string): Promise<string> {
  let current = absolutePath(path);
  for (let links = 0; links <= MAX_STATE_LINKS; links++) {
    try {
      return await Deno.realPath(current);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (!lstatOrUndefined(current)?.isSymlink) {
      // Not there yet; its folder may not be either (made when the state is first written).
      const folder = await Deno.realPath(dirname(current)).catch(() => dirname(current));
      return `${folder === "/" ? "" : folder}/${basename(current)}`;
    }
    const target = await Deno.readLink(current);
    current = target.startsWith("/") ? target : `${dirname(current)}/${target}`;
  }
  throw new OcisyncError(`the state file ${path} leads through more than ${MAX_STATE_LINKS} links`);
}

/**
 * Removes the temporary files that writes of the state file `path` (its real path, through any
 * link) left beside it when the process was killed during one (SIGKILL, the OOM killer):
 * `.NAME.<random>.tmp`, as `writeFileAtomic` names them, regular files of this process's user.
 * Call it while holding {@linkcode stateLockPath}: no other process writes the state then, so
 * every such file is dead, whatever its age. Nothing else removes them, and each kill added one.
 *
 * @example
 * ```ts
 * import { removeStateLeftovers } from "./state.ts";
 * await removeStateLeftovers("/var/lib/ocisync/state.json"); // with state.json.lock held
 * ```
 */
export async function removeStateLeftovers(path: string): Promise<void> {
  const folder = dirname(path);
  const name = basename(path);
  const uid = processUid();
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (!entry.isFile || temporaryTarget(entry.name) !== name) continue;
      const leftover = `${folder}/${entry.name}`;
      const info = await Deno.lstat(leftover);
      if (!info.isFile || (uid !== undefined && info.uid !== null && info.uid !== uid)) continue;
      await Deno.remove(leftover);
    }
  } catch {
    // A folder not ours to list, a file gone meanwhile: this only tidies.
  }
}

/**
 * The state of one or more sync loops: in memory, or kept in a file. Loops of one process may
 * share an instance; writes are serialised. Processes may not share a file: the one that uses
 * it holds {@linkcode stateLockPath} (see `lockSyncPaths`).
 *
 * @example
 * ```ts
 * import { SyncState } from "./state.ts";
 * const state = new SyncState(); // in memory: every run starts by pulling
 * await state.set("localhost:5000/app:v1", {
 *   digest: `sha256:${"a".repeat(64)}`,
 *   paths: ["a.yaml"],
 *   outputs: "events:utf-8",
 *   syncedAt: new Date().toISOString(),
 * });
 * ```
 */
export class SyncState {
  /** The file, or undefined for a state held in memory only. */
  readonly path?: string;
  #entries: Map<string, SyncStateEntry>;
  #writing: Promise<void> = Promise.resolve();

  /** A state with `entries`, persisted to `path` when one is given. */
  constructor(path?: string, entries: Map<string, SyncStateEntry> = new Map()) {
    this.path = path;
    this.#entries = entries;
  }

  /**
   * Reads the state file at `given`, which it keeps as its {@linkcode stateFile} (its real path,
   * through any link); a missing file is an empty state. With `setAside`, a file
   * that is not a valid state (damaged, emptied, edited by hand) is renamed
   * `PATH.invalid-<time>` and the state starts empty, told to `setAside`: the state only saves
   * pulls, so a fleet's service goes on (and delivers each reference again) rather than fail at
   * every start. A file of another format version is never set aside.
   *
   * @throws {UsageError} as root, when another user could lead the file elsewhere
   * ({@linkcode refuseExposedState}).
   * @throws {OcisyncError} when the file cannot be read, or is not a state file (without
   * `setAside`, or of another version).
   * @example
   * ```ts
   * import { SyncState } from "./state.ts";
   * const state = await SyncState.open("state.json", { setAside: (m) => console.warn(m) });
   * ```
   */
  static async open(
    given: string,
    options: { setAside?: (message: string) => void } = {},
  ): Promise<SyncState> {
    await refuseExposedState(given);
    const path = await stateFile(given);
    // Messages name the file as the user did, unless a link led elsewhere.
    const shown = absolutePath(given) === path ? given : path;
    let bytes: Uint8Array;
    try {
      bytes = await readStateFile(path, shown);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return new SyncState(path);
      if (error instanceof OcisyncError) throw error;
      throw new OcisyncError(`cannot read the state file ${shown}: ${(error as Error).message}`);
    }
    const text = new TextDecoder().decode(bytes);
    try {
      if (bytes.length > MAX_STATE_BYTES) {
        throw new OcisyncError(
          `the state file ${shown} is not valid: it holds more than ${MAX_STATE_BYTES} bytes`,
        );
      }
      return new SyncState(path, parseState(text, shown));
    } catch (error) {
      if (options.setAside === undefined || otherVersion(text)) throw error;
      const suffix = `.invalid-${new Date().toISOString().replace(/[:.]/g, "-")}`;
      // The file itself is set aside, not a link to it: the link then leads to the next one.
      await Deno.rename(path, `${path}${suffix}`);
      options.setAside(
        `${(error as Error).message}: kept as ${shown}${suffix}; the references are pulled again`,
      );
      return new SyncState(path);
    }
  }

  /**
   * The last good sync of `reference`, if any.
   *
   * @example
   * ```ts
   * import { SyncState } from "./state.ts";
   * new SyncState().get("localhost:5000/app:v1"); // undefined
   * ```
   */
  get(reference: string): SyncStateEntry | undefined {
    return this.#entries.get(reference);
  }

  /**
   * Records the last good sync of `reference` and, for a file, writes the whole state
   * atomically before it returns.
   *
   * @throws {OcisyncError} when the file cannot be written; the entry is then not recorded.
   * @example
   * ```ts
   * import { SyncState } from "./state.ts";
   * const state = new SyncState("state.json");
   * await state.set("localhost:5000/app:v1", {
   *   digest: `sha256:${"a".repeat(64)}`,
   *   paths: [],
   *   outputs: "",
   *   syncedAt: new Date().toISOString(),
   * });
   * ```
   */
  set(reference: string, entry: SyncStateEntry): Promise<void> {
    const write = this.#writing.then(async () => {
      const entries = new Map(this.#entries).set(reference, entry);
      if (this.path !== undefined) await persist(this.path, entries);
      this.#entries = entries;
    });
    // One failed write must not block the next one.
    this.#writing = write.catch(() => {});
    return write;
  }
}

async function persist(path: string, entries: Map<string, SyncStateEntry>): Promise<void> {
  const document = { version: FORMAT_VERSION, references: Object.fromEntries(entries) };
  await refuseExposedState(path);
  await Deno.mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, [new TextEncoder().encode(`${JSON.stringify(document, null, 2)}\n`)]);
}

/**
 * As root, refuses a state file in a folder that another user could replace or write in, or a
 * link to one: they could put a link at the state's path, and root would write where it leads,
 * or put their own state there, and the sync would skip a digest it never delivered. A link in
 * a folder only root can change is root's own.
 *
 * @throws {UsageError} when such a user could.
 * @example
 * ```ts
 * import { refuseExposedState } from "./state.ts";
 * await refuseExposedState("/var/lib/ocisync/state.json");
 * ```
 */
export async function refuseExposedState(path: string): Promise<void> {
  await refuseReplaceableAsRoot(
    path,
    (why) =>
      new UsageError(`refusing to keep the state as root at ${path}: ${why}`, {
        hint: "keep --state in a folder only root can change, or run the sync as its owner",
      }),
  );
}

/** Whether `text` is a state document of another format version, which is never set aside. */
function otherVersion(text: string): boolean {
  try {
    const version = JSON.parse(text)?.version;
    return typeof version === "number" && version !== FORMAT_VERSION;
  } catch {
    return false;
  }
}

/** The most bytes a state file is read to: far above the few KB of a host's references. */
const MAX_STATE_BYTES = 16 * 1024 * 1024;

/**
 * The bytes of the state file at `path` (`shown` in messages), through links as any path the
 * user names, and only of a regular file: a fifo put there would hold the start (and its
 * locks) until a writer came, and `/dev/zero` would never end. Read to one byte past
 * {@linkcode MAX_STATE_BYTES}, so that a larger file is told from one of that size without
 * being read whole.
 *
 * @throws {OcisyncError} for anything but a regular file; `Deno.errors.NotFound` as it is.
 */
async function readStateFile(path: string, shown: string): Promise<Uint8Array> {
  const { file } = await openLookedAt(path, (found) => {
    if (found.isFile) return;
    throw new OcisyncError(
      `cannot read the state file ${shown}: it is a ${fileKind(found)}, not a regular file`,
      { hint: "give --state a file's path" },
    );
  });
  using opened = file;
  return await readUpTo(opened, MAX_STATE_BYTES + 1, true);
}

function parseState(text: string, path: string): Map<string, SyncStateEntry> {
  const invalid = (why: string) =>
    new OcisyncError(`the state file ${path} is not valid: ${why}`, {
      hint: "remove it: the next tick pulls the reference again",
    });
  let document: { version?: unknown; references?: unknown };
  try {
    document = JSON.parse(text);
  } catch {
    // Not the parser's message, which quotes the text: what a link led to must not be shown.
    throw invalid("it is not JSON");
  }
  if (typeof document?.version === "number" && document.version !== FORMAT_VERSION) {
    // Not this release's to judge, nor to remove: the ocisync that wrote it still reads it.
    const newer = document.version > FORMAT_VERSION;
    throw new OcisyncError(
      `the state file ${path} is of format version ${document.version}` +
        (newer ? `, written by a newer ocisync` : "") +
        `: this one reads version ${FORMAT_VERSION}`,
      {
        hint: newer
          ? "run the newer ocisync, or give this one a state file of its own"
          : "give this ocisync a state file of its own",
      },
    );
  }
  if (document?.version !== FORMAT_VERSION) throw invalid(`version is not ${FORMAT_VERSION}`);
  const references = document.references;
  if (typeof references !== "object" || references === null) throw invalid("no references");
  const entries = new Map<string, SyncStateEntry>();
  for (const [reference, value] of Object.entries(references)) {
    const entry = value as Partial<SyncStateEntry> | null;
    if (
      typeof entry?.digest !== "string" || !isDigest(entry.digest) ||
      (entry.manifest !== undefined &&
        (typeof entry.manifest !== "string" || !isDigest(entry.manifest))) ||
      !Array.isArray(entry.paths) || !entry.paths.every((p) => typeof p === "string") ||
      typeof entry.outputs !== "string" || typeof entry.syncedAt !== "string" ||
      (entry.verification !== undefined && typeof entry.verification !== "string")
    ) {
      throw invalid(`the entry of ${reference} is malformed`);
    }
    entries.set(reference, entry as SyncStateEntry);
  }
  return entries;
}
