/**
 * What Linux's `/proc` says of processes, read here rather than asked of ocisync: the processes
 * of a process group, and when a process started.
 *
 * @module
 */

/** The fields of `/proc/PID/stat` after the name: field 3 (state) is the first. */
async function statFields(pid: number | string): Promise<string[] | undefined> {
  const text = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => undefined);
  // The name, in parentheses, may hold spaces and parentheses: the fields follow the last one.
  return text?.slice(text.lastIndexOf(")") + 2).split(" ");
}

/**
 * The pids of the processes of the group `pgid` that have not ended (a zombie has).
 *
 * @example
 * ```ts
 * import { groupMembers } from "./processes.ts";
 * const child = new Deno.Command("sleep", { args: ["1"], detached: true }).spawn();
 * await groupMembers(child.pid); // [child.pid]
 * ```
 */
export async function groupMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const fields = await statFields(entry.name);
    if (fields !== undefined && Number(fields[2]) === pgid && fields[0] !== "Z") {
      members.push(Number(entry.name));
    }
  }
  return members;
}

/**
 * Field 22 of `/proc/PID/stat`: when the process started, in clock ticks after the boot.
 *
 * @throws {Error} when there is no such process.
 * @example
 * ```ts
 * import { startTime } from "./processes.ts";
 * await startTime(Deno.pid); // "123456"
 * ```
 */
export async function startTime(pid: number): Promise<string> {
  const start = (await statFields(pid))?.[19];
  if (start === undefined) throw new Error(`no process ${pid}`);
  return start;
}
