/**
 * What an idle `ocisync sync` costs: the CPU time and memory of a loop that ticks 100 times at
 * a 100 ms interval while nothing changes, read from `/proc` of the sync process itself. The
 * first tick, which starts the runtime and pulls, is left out: the window opens after it.
 *
 * Two rows: a tag in a real registry on loopback (one `HEAD` per tick, counted in the
 * registry's access log), and an `oci:` layout (a read of `index.json` per tick).
 *
 * A loop's CPU time per tick grows when the machine is busy with other work (measured: 1.7 ms a
 * tick alone, 2.6 ms while `dd` wrote 6 GB to disk beside it, 3.1 ms in a full `deno task bench`
 * right after its 2 GiB rows): its caches go cold between ticks. So each row waits until the
 * machine is quiet (dirty pages written, the other cores idle), and reports how busy the machine
 * was besides the loop while it ticked. That is not all of it: after the bench's other rows, the
 * registry tag's tick still took 2.6 ms with the machine quiet, where the same script gave 1.7 ms
 * a minute later; `deno task bench` therefore runs this script both first and last.
 *
 * Usage: deno run -A scripts/bench/sync_idle.ts
 *
 * @module
 */
import { RUN_FLAGS } from "../permissions.ts";
import { startRegistry } from "../../tests/helpers/registry.ts";

const TICKS = 100;
const INTERVAL = "100ms";
const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const CLOCK_TICKS_PER_SECOND = Number(
  new TextDecoder().decode(new Deno.Command("getconf", { args: ["CLK_TCK"] }).outputSync().stdout),
);

/** CPU time and memory of a process, from `/proc`. */
interface Sample {
  cpuMs: number;
  /** The part of cpuMs spent in the kernel (system calls, page faults, reclaim). */
  systemMs: number;
  rssMb: number;
  peakRssMb: number;
}

function sample(pid: number): Sample {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // The fields after the command name, which may hold spaces: utime and stime are 14th and 15th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const [userTicks, systemTicks] = [Number(fields[11]), Number(fields[12])];
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)![1]);
  return {
    cpuMs: (userTicks + systemTicks) * 1000 / CLOCK_TICKS_PER_SECOND,
    systemMs: systemTicks * 1000 / CLOCK_TICKS_PER_SECOND,
    rssMb: kib("VmRSS") / 1024,
    peakRssMb: kib("VmHWM") / 1024,
  };
}

/** The machine's busy CPU time, all cores, in ms: everything but idle and I/O wait. */
function machineBusyMs(): number {
  const [, ...fields] = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/);
  // Fields: user nice system idle iowait irq softirq steal …; idle and iowait are left out.
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
  return (user + nice + system + irq + softirq + steal) * 1000 / CLOCK_TICKS_PER_SECOND;
}

/** How often {@linkcode quiet} looks at the machine's load, in ms. */
const QUIET_STEP_MS = 500;

/**
 * Waits until dirty pages are on disk and, for two seconds running, the machine spends under 5%
 * of a core on other work; gives up after a minute, which the row's other-load column then shows.
 */
async function quiet(): Promise<void> {
  await new Deno.Command("sync").output();
  const deadline = performance.now() + 60_000;
  let calmSteps = 0;
  while (calmSteps * QUIET_STEP_MS < 2000 && performance.now() < deadline) {
    const before = machineBusyMs();
    await new Promise((resolve) => setTimeout(resolve, QUIET_STEP_MS));
    calmSteps = machineBusyMs() - before < 0.05 * QUIET_STEP_MS ? calmSteps + 1 : 0;
  }
}

interface Row {
  what: string;
  seconds: number;
  /** The machine's CPU time on other work than the loop, in the window. */
  otherMs: number;
  cpuMs: number;
  systemMs: number;
  rssMb: number;
  peakRssMb: number;
  requests?: number;
}

/** Runs `sync REFERENCE --events` until TICKS unchanged ticks follow the first one. */
async function idle(
  what: string,
  reference: string,
  requests?: () => Promise<number>,
): Promise<Row> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...RUN_FLAGS,
      MAIN,
      "sync",
      reference,
      "--events",
      "--interval",
      INTERVAL,
      "--jitter",
      "0%",
      "--log-format",
      "json",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let start: { sample: Sample; at: number; busyMs: number; requests?: number } | undefined;
  let ticks = 0;
  let buffered = "";
  try {
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      const lines = (buffered + text).split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        const tick = line.startsWith("{") ? JSON.parse(line) : {};
        if (tick.status === undefined) continue;
        if (ticks > 0 && tick.status !== "unchanged") throw new Error(`tick ${ticks}: ${line}`);
        if (ticks++ === 0) {
          start = {
            sample: sample(child.pid),
            at: performance.now(),
            busyMs: machineBusyMs(),
            requests: await requests?.(),
          };
        }
      }
      if (ticks > TICKS) break;
    }
    const end = sample(child.pid);
    const busyMs = machineBusyMs() - start!.busyMs;
    const seconds = (performance.now() - start!.at) / 1000;
    const sent = requests && (await requests()) - start!.requests!;
    return {
      what,
      seconds,
      cpuMs: end.cpuMs - start!.sample.cpuMs,
      otherMs: busyMs - (end.cpuMs - start!.sample.cpuMs),
      systemMs: end.systemMs - start!.sample.systemMs,
      rssMb: end.rssMb,
      peakRssMb: end.peakRssMb,
      requests: sent,
    };
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

const registry = await startRegistry();
const work = await Deno.makeTempDir({ prefix: "ocisync-bench-sync-" });
try {
  await Deno.writeTextFile(`${work}/app.yaml`, "replicas: 3\n");
  for (const destination of [`${registry.host}/bench/config:live`, `oci:${work}/layout:live`]) {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...RUN_FLAGS, MAIN, "push", destination, "--files", "app.yaml"]
        .concat(["--artifact-type", "application/vnd.example.config"]),
      cwd: work,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (code !== 0) throw new Error(`push failed: ${new TextDecoder().decode(stderr)}`);
  }
  await quiet();
  const rows = [
    await idle(
      "registry tag",
      `${registry.host}/bench/config:live`,
      async () => (await registry.requests()).length,
    ),
    await quiet().then(() => idle("oci: layout", `oci:${work}/layout:live`)),
  ];
  console.log(`${TICKS} unchanged ticks at ${INTERVAL}, after the first tick\n`);
  console.log(
    "| reference | wall s | CPU ms | CPU ms per tick | of which system | CPU % | other load % | RSS MB | peak RSS MB | requests |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const row of rows) {
    console.log(
      `| ${row.what} | ${row.seconds.toFixed(1)} | ${row.cpuMs.toFixed(0)} | ${
        (row.cpuMs / TICKS).toFixed(2)
      } | ${(row.systemMs / TICKS).toFixed(2)} | ${(row.cpuMs / 10 / row.seconds).toFixed(1)} | ${
        (row.otherMs / 10 / row.seconds).toFixed(1)
      } | ${row.rssMb.toFixed(0)} | ${row.peakRssMb.toFixed(0)} | ${row.requests ?? "-"} |`,
    );
  }
} finally {
  await registry.stop();
  await Deno.remove(work, { recursive: true });
}
