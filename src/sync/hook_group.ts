/**
 * The process group of a running hook, and what is left of it when its sync is killed. A hook
 * runs in a process group of its own, so that a stop of the sync ends the hook's children too
 * ({@linkcode stopProcessGroup}); but a sync that is SIGKILLed (the OOM killer, `kill -9`, a
 * supervisor that kills the main process only) cannot end it, and the group runs on. The sync
 * started next has not recorded the change as delivered, and runs the hook again: two copies of
 * one deploy or migration at once.
 *
 * So while a hook runs, its group is recorded beside a lock that the sync holds
 * ({@linkcode recordHookGroup}): `BASE.hook-<random>` for the lock `BASE.lock`
 * (`DIR/.ocisync.hook-…`, `state.json.hook-…`). The next holder of that lock ends a group so
 * recorded that still runs, as a stop ends a hook, before its first tick
 * ({@linkcode endLeftHooks}). A record names the group's leader by its pid, its start time
 * (`/proc/PID/stat`, field 22) and the boot it ran in (`/proc/sys/kernel/random/boot_id`), so a
 * pid used again since, by another process or after a reboot, is never taken for the hook.
 * Linux only: where `/proc` is missing nothing is recorded, and a record is never acted on.
 *
 * @example
 * ```ts
 * import { endLeftHooks, recordHookGroup } from "./hook_group.ts";
 * // At start-up, with /srv/flows/.ocisync.lock held:
 * await endLeftHooks("/srv/flows/.ocisync.lock", { log: (line) => console.error(line) });
 * const hook = new Deno.Command("sh", { args: ["-c", "sleep 1"], detached: true }).spawn();
 * const record = await recordHookGroup("/srv/flows/.ocisync.lock", hook.pid);
 * await hook.status;
 * await record?.remove();
 * ```
 * @module
 */
import { basename, dirname } from "../fs/paths.ts";
import { OcisyncError } from "../errors/mod.ts";
import { temporaryTarget, writeFileAtomic } from "../fs/atomic.ts";
import { readRegularFile } from "../fs/read.ts";
import { processUid } from "../fs/stat.ts";

/**
 * Milliseconds a process group has to end after `SIGTERM` before it gets `SIGKILL`, by default:
 * 10 000, as `docker stop` waits.
 */
export const DEFAULT_KILL_AFTER_MS = 10_000;

/**
 * Ends the process group `pgid` as a stopped sync ends its hook: `SIGTERM` now, and `SIGKILL`
 * `killAfter` milliseconds later, unless the returned function is called first (the group has
 * ended). A group that has ended already is no error.
 *
 * @throws {RangeError} for a `pgid` that names no single group: 1 or less would signal every
 * process (`kill(-1)`) or this one's own group.
 * @example
 * ```ts
 * import { stopProcessGroup } from "./hook_group.ts";
 * const child = new Deno.Command("sleep", { args: ["60"], detached: true }).spawn();
 * const cancelKill = stopProcessGroup(child.pid, 5_000);
 * await child.status;
 * cancelKill();
 * ```
 */
export function stopProcessGroup(pgid: number, killAfter: number): () => void {
  if (!Number.isSafeInteger(pgid) || pgid <= 1) {
    throw new RangeError(`not a process group of its own: ${pgid}`);
  }
  const signal = (name: Deno.Signal) => {
    try {
      Deno.kill(-pgid, name);
    } catch { /* the group has ended */ }
  };
  signal("SIGTERM");
  const kill = setTimeout(() => signal("SIGKILL"), killAfter);
  return () => clearTimeout(kill);
}

/**
 * The record of a running hook's process group, from {@linkcode recordHookGroup}.
 *
 * @example
 * ```ts
 * import { type HookRecord, recordHookGroup } from "./hook_group.ts";
 * const hook = new Deno.Command("sleep", { args: ["1"], detached: true }).spawn();
 * const record: HookRecord | undefined = await recordHookGroup("/srv/x/.ocisync.lock", hook.pid);
 * await hook.status;
 * await record?.remove();
 * ```
 */
export interface HookRecord {
  /** The record's file. */
  readonly path: string;
  /** Removes the record, once the hook has ended; a record gone already is no error. */
  remove(): Promise<void>;
}

/**
 * Records the process group that `pid` leads (a hook started with `detached`) beside the lock
 * file `lockPath`, which this process holds: `BASE.hook-<16 hex>` for `BASE.lock`, written
 * atomically, mode 0600. Call {@linkcode HookRecord.remove} once the hook has ended. Undefined,
 * and nothing written, when the group cannot be told apart from a later one: no `/proc` (not
 * Linux), or the hook ended already.
 *
 * @throws {OcisyncError} when the record cannot be written (its folder gone, a full disk).
 * @example
 * ```ts
 * import { recordHookGroup } from "./hook_group.ts";
 * const hook = new Deno.Command("sleep", { args: ["1"], detached: true }).spawn();
 * const record = await recordHookGroup("/var/lib/ocisync/state.json.lock", hook.pid);
 * await hook.status;
 * await record?.remove();
 * ```
 */
export async function recordHookGroup(
  lockPath: string,
  pid: number,
): Promise<HookRecord | undefined> {
  const leader = await groupLeader(pid);
  if (leader === undefined) return undefined;
  const path = `${recordPrefix(lockPath)}${crypto.getRandomValues(new Uint8Array(8)).toHex()}`;
  const text = `${JSON.stringify({ pid, start: leader.start, boot: leader.boot })}\n`;
  try {
    // Never through a link: the record's name is new, and a link put there leads elsewhere.
    await writeFileAtomic(path, [new TextEncoder().encode(text)], {
      mode: 0o600,
      replacePath: true,
    });
  } catch (error) {
    throw new OcisyncError(
      `cannot record the hook's process group in ${path}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return { path, remove: () => Deno.remove(path).catch(() => {}) };
}

/** Options of {@linkcode endLeftHooks}. */
export interface EndLeftHooksOptions {
  /** Told, in a line, of each group ended. */
  log?: (line: string) => void;
  /** Milliseconds between `SIGTERM` and `SIGKILL`. Default {@linkcode DEFAULT_KILL_AFTER_MS}. */
  killAfter?: number;
}

/**
 * Ends the hooks that an earlier holder of the lock `lockPath` left running, and removes their
 * records ({@linkcode recordHookGroup}); call it once the lock is taken, before any hook runs. A
 * group whose leader still runs, as recorded (the same pid, start time and boot, still the
 * leader of its group, this process's user's), gets `SIGTERM`, then `SIGKILL` `killAfter` later,
 * as on a stop of the sync; the call returns once no process is left in it, told to `log`. A
 * record of a group that has ended, of another boot, or of a pid that another process has now,
 * is removed unused; so is one that is not a record (damaged, cut short). Another user's file,
 * a link or a folder of that name is left as it is, unread.
 *
 * @throws {OcisyncError} when a group still runs `SIGKILL` and 5 seconds later (a process in
 * uninterruptible sleep): its record stays, for the next start to try again.
 * @example
 * ```ts
 * import { endLeftHooks } from "./hook_group.ts";
 * await endLeftHooks("/var/lib/ocisync/state.json.lock", { log: console.error });
 * ```
 */
export async function endLeftHooks(
  lockPath: string,
  options: EndLeftHooksOptions = {},
): Promise<void> {
  const folder = dirname(lockPath);
  const prefix = basename(recordPrefix(lockPath));
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (entry.isFile) names.push(entry.name);
    }
  } catch {
    return; // a folder not there yet holds no record
  }
  const uid = processUid();
  const ours = (info: Deno.FileInfo) =>
    info.isFile && (uid === undefined || info.uid === null || info.uid === uid);
  for (const name of names) {
    const path = `${folder}/${name}`;
    const record = RECORD_NAME.test(name.slice(prefix.length)) && name.startsWith(prefix);
    // A write of a record cut short by the kill leaves its temporary file.
    const leftover = temporaryTarget(name)?.startsWith(prefix) === true;
    if (!record && !leftover) continue;
    const info = await Deno.lstat(path).catch(() => undefined);
    if (info === undefined || !ours(info)) continue;
    if (record) {
      const group = await readRecord(path);
      if (group !== undefined && await leftRunning(group)) {
        await endGroup(group.pid, path, options.killAfter ?? DEFAULT_KILL_AFTER_MS);
        options.log?.(
          `ended hook process group ${group.pid}, left running by an earlier sync that was ` +
            `killed while the hook ran (recorded in ${path})`,
        );
      }
    }
    await Deno.remove(path).catch(() => {});
  }
}

/** What follows `BASE.hook-` in a record's name. */
const RECORD_NAME = /^[0-9a-f]{16}$/;
/** A record holds a line of JSON: more is not one. */
const MAX_RECORD_BYTES = 4096;
/** How often a group being ended is looked at. */
const POLL_MS = 50;
/** How long a group may take to go once it got `SIGKILL`. */
const GONE_AFTER_KILL_MS = 5_000;

/** `BASE.hook-` for the lock `BASE.lock`: a record's name without its random part. */
function recordPrefix(lockPath: string): string {
  return `${lockPath.replace(/\.lock$/, "")}.hook-`;
}

/** A group's leader, as recorded: its pid (the group's id), start time and boot. */
interface GroupLeader {
  pid: number;
  /** `/proc/PID/stat` field 22: clock ticks from the boot to its start. */
  start: string;
  /** `/proc/sys/kernel/random/boot_id`. */
  boot: string;
}

/** The record at `path`, or undefined when it is not one. */
async function readRecord(path: string): Promise<GroupLeader | undefined> {
  try {
    const bytes = await readRegularFile(path, MAX_RECORD_BYTES, "a hook's record is a file");
    const value = JSON.parse(new TextDecoder().decode(bytes));
    const { pid, start, boot } = value ?? {};
    // 1 or less would name every process, or this one's group.
    if (!Number.isSafeInteger(pid) || pid <= 1 || pid === Deno.pid) return undefined;
    if (typeof start !== "string" || !/^\d{1,20}$/.test(start)) return undefined;
    if (typeof boot !== "string" || !/^[0-9a-f-]{1,64}$/.test(boot)) return undefined;
    return { pid, start, boot };
  } catch {
    return undefined;
  }
}

/**
 * The leader of the group `pid` leads, as {@linkcode recordHookGroup} records it; undefined
 * without `/proc`, once it has ended and been reaped, or when it leads no group.
 */
async function groupLeader(pid: number): Promise<GroupLeader | undefined> {
  const [stat, boot] = await Promise.all([readStat(pid), bootId()]);
  if (stat === undefined || boot === undefined || stat.pgrp !== pid) return undefined;
  return { pid, start: stat.start, boot };
}

/**
 * Whether the recorded group still has a process to end: its leader is the very process
 * recorded (same boot, same start time, still leading its group), this process's user's, and
 * the group has a process that has not ended.
 */
async function leftRunning(recorded: GroupLeader): Promise<boolean> {
  const now = await groupLeader(recorded.pid);
  if (now?.boot !== recorded.boot || now.start !== recorded.start) return false;
  const uid = processUid();
  if (uid !== undefined && await realUid(recorded.pid) !== uid) return false;
  return await groupRuns(recorded.pid);
}

/** Ends the group `pgid` as a stop does, and waits until none of its processes runs. */
async function endGroup(pgid: number, path: string, killAfter: number): Promise<void> {
  const cancelKill = stopProcessGroup(pgid, killAfter);
  try {
    const deadline = Date.now() + killAfter + GONE_AFTER_KILL_MS;
    while (await groupRuns(pgid)) {
      if (Date.now() > deadline) {
        throw new OcisyncError(
          `hook process group ${pgid}, left running by an earlier sync (recorded in ${path}), ` +
            `still runs ${GONE_AFTER_KILL_MS / 1000}s after SIGKILL: refusing to run the hook ` +
            "again beside it",
          {
            hint: `see what holds it (ps -g ${pgid}), end it, and start the sync again`,
          },
        );
      }
      await new Promise((done) => setTimeout(done, POLL_MS));
    }
  } finally {
    cancelKill();
  }
}

/** Whether a process of the group `pgid` runs: one that has not ended (a zombie has). */
async function groupRuns(pgid: number): Promise<boolean> {
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = await readStat(Number(entry.name));
    if (stat?.pgrp === pgid && stat.state !== "Z") return true;
  }
  return false;
}

/** What `/proc/PID/stat` says of a process's state, group and start; undefined if it is gone. */
async function readStat(
  pid: number,
): Promise<{ state: string; pgrp: number; start: string } | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The name, in parentheses, may hold spaces and parentheses: the fields follow the last one.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // Fields 3 (state), 5 (pgrp) and 22 (starttime), counted from 1 with the pid and the name.
  const [state, pgrp, start] = [fields[0], Number(fields[2]), fields[19]];
  if (state === undefined || !Number.isSafeInteger(pgrp) || !/^\d+$/.test(start ?? "")) {
    return undefined;
  }
  return { state, pgrp, start };
}

/** The real user id of the process `pid`, from `/proc/PID/status`; undefined if it is gone. */
async function realUid(pid: number): Promise<number | undefined> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
  return uid === undefined ? undefined : Number(uid);
}

/** This boot's id; undefined without `/proc`. */
async function bootId(): Promise<string | undefined> {
  const text = await Deno.readTextFile("/proc/sys/kernel/random/boot_id").catch(() => undefined);
  return text?.trim() || undefined;
}
