/**
 * The temporary files and folders of this process that are not yet put in place or removed: a
 * command stopped by a signal (Ctrl-C, a CI job's timeout) removes them before it exits, so that
 * it leaves no half-written file or folder behind. The command line does that (`../cli/main.ts`);
 * a library user whose process is stopped can call {@linkcode removeInterrupted} the same way.
 * Only what was made here is marked, never a user's file.
 *
 * @example
 * ```ts
 * import { makeWorkFolder } from "./interrupted.ts";
 * // Removed when the block ends, or by a stopped process before it exits.
 * await using work = makeWorkFolder("ocisync-push-");
 * await Deno.writeTextFile(`${work.path}/layer.tar`, "…");
 * ```
 * @module
 */

/** The marked paths, each with what removes it at a stop. */
const marked = new Map<string, () => void>();

/**
 * A signal can come while another thread (a worker unpacking a layer) still writes into a
 * folder being removed, which then fails as not empty: the removal is tried again this often.
 */
const REMOVAL_ATTEMPTS = 5;

/**
 * Marks the temporary file or folder `path`, which this process has just made, to be removed
 * should the process be stopped, until {@linkcode unmarkTemporary} is called for it: once it is
 * put in place, removed, or holds what must not be lost. `isOwn`, when given, is asked at the
 * removal whether the path still names what this process made (a lock file that someone may
 * have deleted, and another process made again).
 *
 * @example
 * ```ts
 * import { markTemporary, unmarkTemporary } from "./interrupted.ts";
 * const file = await Deno.makeTempFile();
 * markTemporary(file);
 * unmarkTemporary(file);
 * ```
 */
export function markTemporary(path: string, isOwn?: () => boolean): void {
  markRemoval(path, () => {
    if (isOwn && !isOwn()) return;
    removeRetrying(path);
  });
}

/**
 * Marks `path`, which this process has made, to be removed by `remove` should the process be
 * stopped, until {@linkcode unmarkTemporary} is called for it: for a path of which only some may
 * go, as `remove` judges then (a new image layout, unless another writer has tagged into it).
 * `remove` runs synchronously, as the last thing before the process exits; what it throws is
 * ignored.
 *
 * @example
 * ```ts
 * import { markRemoval, unmarkTemporary } from "./interrupted.ts";
 * const folder = await Deno.makeTempDir();
 * markRemoval(folder, () => Deno.removeSync(folder)); // only while it is empty
 * unmarkTemporary(folder);
 * ```
 */
export function markRemoval(path: string, remove: () => void): void {
  // Set anew, so that the newest marks come last in the map's order.
  marked.delete(path);
  marked.set(path, remove);
  noteFirstMark();
}

/**
 * Whether `path` is marked for removal at a stop: another part of this process made it, and its
 * removal is that part's to make.
 *
 * @example
 * ```ts
 * import { isMarked, markTemporary } from "./interrupted.ts";
 * const folder = await Deno.makeTempDir();
 * markTemporary(folder);
 * isMarked(folder); // true
 * ```
 */
export function isMarked(path: string): boolean {
  return marked.has(path);
}

/**
 * The process groups of programs this process runs and waits on (an installer), each led by
 * the program: a stopped process ends them before it removes its files, or they would go on
 * writing (into a folder being removed, or making it again) after it has gone.
 */
const groups = new Set<number>();

/**
 * Marks the program `pid`, started here as the leader of its own process group (`detached`),
 * to be killed with its whole group should this process be stopped, until
 * {@linkcode unmarkProcess} is called for it once it has ended.
 *
 * @example
 * ```ts
 * import { markProcess, unmarkProcess } from "./interrupted.ts";
 * const child = new Deno.Command("sleep", { args: ["1"], detached: true }).spawn();
 * markProcess(child.pid);
 * await child.status;
 * unmarkProcess(child.pid);
 * ```
 */
export function markProcess(pid: number): void {
  groups.add(pid);
  noteFirstMark();
}

/**
 * Takes back {@linkcode markProcess} for `pid`.
 *
 * @example
 * ```ts
 * import { unmarkProcess } from "./interrupted.ts";
 * unmarkProcess(4242);
 * ```
 */
export function unmarkProcess(pid: number): void {
  groups.delete(pid);
}

function noteFirstMark(): void {
  const listener = firstMarkListener;
  firstMarkListener = undefined;
  listener?.();
}

/** What {@linkcode onFirstMark} was given, until a path is marked. */
let firstMarkListener: (() => void) | undefined;

/**
 * Calls `listener` when a path is first marked from now on (at once, if one is marked already),
 * or never, if `undefined` replaces it first. The command line listens for stop signals only
 * then: a command that makes no temporary file has nothing to remove, and dies as any process.
 *
 * @example
 * ```ts
 * import { markTemporary, onFirstMark, unmarkTemporary } from "./interrupted.ts";
 * onFirstMark(() => console.log("listening for signals"));
 * markTemporary("/tmp/x"); // prints "listening for signals"
 * unmarkTemporary("/tmp/x");
 * ```
 */
export function onFirstMark(listener: (() => void) | undefined): void {
  const any = marked.size > 0 || groups.size > 0;
  firstMarkListener = any ? undefined : listener;
  if (listener && any) listener();
}

/**
 * Takes back {@linkcode markTemporary} (or {@linkcode markRemoval}) for `path`.
 *
 * @example
 * ```ts
 * import { unmarkTemporary } from "./interrupted.ts";
 * unmarkTemporary("/tmp/ocisync-push-1234");
 * ```
 */
export function unmarkTemporary(path: string): void {
  marked.delete(path);
}

/** How many steps that must not be cut short are under way ({@linkcode withoutInterruption}). */
let uncuttable = 0;
/** What {@linkcode stopWhenSafe} was given while such a step was under way. */
let pendingStop: (() => void) | undefined;

/**
 * Runs `step`, which must not be cut short (a pull putting its tree in place: renames that leave
 * the destination missing or half merged when cut in the middle), with the command's stop held
 * off: a stop asked for meanwhile ({@linkcode stopWhenSafe}) comes once the step has ended.
 *
 * @example
 * ```ts
 * import { withoutInterruption } from "./interrupted.ts";
 * await withoutInterruption(async () => {
 *   await Deno.rename("./out", "./out.old");
 *   await Deno.rename("./staging", "./out");
 * });
 * ```
 */
export async function withoutInterruption<T>(step: () => Promise<T>): Promise<T> {
  uncuttable++;
  try {
    return await step();
  } finally {
    uncuttable--;
    const stop = uncuttable === 0 ? pendingStop : undefined;
    pendingStop = undefined;
    stop?.();
  }
}

/**
 * Calls `stop` (which ends the process) now, or once the steps run by
 * {@linkcode withoutInterruption} have ended. Whether a stop is waiting so is returned, for a
 * command line that ends at once when asked a second time.
 *
 * @example
 * ```ts
 * import { stopWhenSafe } from "./interrupted.ts";
 * Deno.addSignalListener("SIGTERM", () => stopWhenSafe(() => Deno.exit(143)));
 * ```
 */
export function stopWhenSafe(stop: () => void): boolean {
  if (uncuttable === 0) {
    stop();
    return false;
  }
  pendingStop = stop;
  return true;
}

/**
 * Removes every marked file and folder, synchronously, as the last thing before the process
 * exits: no other task of the process runs meanwhile. What cannot be removed is left. The newest
 * go first: what was made inside an older one (a blob's temporary file in a new layout, the
 * lock of its `index.json`) is gone before that one's removal judges what it holds.
 *
 * @example
 * ```ts
 * import { removeInterrupted } from "./interrupted.ts";
 * Deno.addSignalListener("SIGTERM", () => {
 *   removeInterrupted();
 *   Deno.exit(143);
 * });
 * ```
 */
export function removeInterrupted(): void {
  for (const pid of groups) {
    try {
      Deno.kill(-pid, "SIGKILL");
    } catch { /* it has ended */ }
  }
  groups.clear();
  for (const remove of [...marked.values()].reverse()) {
    try {
      remove();
    } catch {
      // Left: the process exits anyway.
    }
  }
  marked.clear();
}

/** Removes `path` with what it holds, trying again while a worker still writes into it. */
function removeRetrying(path: string): void {
  for (let attempt = 1; attempt <= REMOVAL_ATTEMPTS; attempt++) {
    try {
      Deno.removeSync(path, { recursive: true });
      return;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
    }
  }
}

/**
 * Makes the folder `PARENT/PREFIX<random>SUFFIX`, private to its owner (0700), marked (see
 * {@linkcode markTemporary}) before it exists, and made in the same turn, synchronously: marked
 * after, or made by the runtime's thread pool after a signal's removal, it would be left behind
 * (`Deno.makeTempDir` names its folder only once it is made).
 *
 * @example
 * ```ts
 * import { makeMarkedFolder, unmarkTemporary } from "./interrupted.ts";
 * const staging = makeMarkedFolder(".", ".app.tar.", ".staging");
 * unmarkTemporary(staging);
 * await Deno.remove(staging);
 * ```
 */
export function makeMarkedFolder(
  parent: string,
  prefix: string,
  suffix = "",
): string {
  for (;;) {
    const random = crypto.getRandomValues(new Uint8Array(8)).toHex();
    const path = `${parent.replace(/\/$/, "")}/${prefix}${random}${suffix}`;
    markTemporary(path);
    try {
      Deno.mkdirSync(path, { mode: 0o700 });
      return path;
    } catch (error) {
      unmarkTemporary(path);
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
  }
}

/**
 * `Deno.makeTempDir`, its folder marked (see {@linkcode markTemporary}) as soon as it is made.
 * That folder is found as the runtime finds it (`TMPDIR`, without asking for the permission to
 * read the environment), so it is marked only once made; made synchronously, in the same turn,
 * so that no signal is handled in between.
 *
 * @example
 * ```ts
 * import { makeMarkedTempDir, unmarkTemporary } from "./interrupted.ts";
 * const staging = makeMarkedTempDir({ prefix: "ocisync-archive-" });
 * unmarkTemporary(staging);
 * await Deno.remove(staging);
 * ```
 */
export function makeMarkedTempDir(options: Deno.MakeTempOptions): string {
  const path = Deno.makeTempDirSync(options);
  markTemporary(path);
  return path;
}

/** A temporary folder that is removed when it is disposed of. */
export interface WorkFolder extends AsyncDisposable {
  /** The folder. */
  readonly path: string;
}

/**
 * Makes a folder in the system's temporary folder, named `prefix` and random characters, for
 * the files of one operation (a layer packed before it is pushed): marked (see
 * {@linkcode markTemporary}) until it is disposed of, which removes it.
 *
 * @example
 * ```ts
 * import { makeWorkFolder } from "./interrupted.ts";
 * await using work = makeWorkFolder("ocisync-push-");
 * await Deno.writeTextFile(`${work.path}/layer.tar`, "…");
 * ```
 */
export function makeWorkFolder(prefix: string): WorkFolder {
  const path = makeMarkedTempDir({ prefix });
  return {
    path,
    async [Symbol.asyncDispose]() {
      unmarkTemporary(path);
      // What the operation left in the system's temporary folder must not fail it.
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}
