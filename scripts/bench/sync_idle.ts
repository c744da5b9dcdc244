/**
 * What an idle `ocisync sync` costs: the CPU time and memory of a loop that ticks 100 times at
 * a 100 ms interval while nothing changes, read from `/proc` of the sync process itself. The
 * first tick, which starts the runtime and pulls, is left out: the window opens after it.
 *
 * Two rows: a tag in a real registry on loopback (one `HEAD` per tick, counted in the
 * registry's access log), and an `oci:` layout (a read of `index.json` per tick).
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
  rssMb: number;
  peakRssMb: number;
}

function sample(pid: number): Sample {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // The fields after the command name, which may hold spaces: utime and stime are 14th and 15th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)![1]);
  return {
    cpuMs: ticks * 1000 / CLOCK_TICKS_PER_SECOND,
    rssMb: kib("VmRSS") / 1024,
    peakRssMb: kib("VmHWM") / 1024,
  };
}

interface Row {
  what: string;
  seconds: number;
  cpuMs: number;
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
  let start: { sample: Sample; at: number; requests?: number } | undefined;
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
            requests: await requests?.(),
          };
        }
      }
      if (ticks > TICKS) break;
    }
    const end = sample(child.pid);
    const seconds = (performance.now() - start!.at) / 1000;
    const sent = requests && (await requests()) - start!.requests!;
    return {
      what,
      seconds,
      cpuMs: end.cpuMs - start!.sample.cpuMs,
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
  const rows = [
    await idle(
      "registry tag",
      `${registry.host}/bench/config:live`,
      async () => (await registry.requests()).length,
    ),
    await idle("oci: layout", `oci:${work}/layout:live`),
  ];
  console.log(`${TICKS} unchanged ticks at ${INTERVAL}, after the first tick\n`);
  console.log(
    "| reference | wall s | CPU ms | CPU ms per tick | CPU % | RSS MB | peak RSS MB | requests |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const row of rows) {
    console.log(
      `| ${row.what} | ${row.seconds.toFixed(1)} | ${row.cpuMs.toFixed(0)} | ${
        (row.cpuMs / TICKS).toFixed(2)
      } | ${(row.cpuMs / 10 / row.seconds).toFixed(1)} | ${row.rssMb.toFixed(0)} | ${
        row.peakRssMb.toFixed(0)
      } | ${row.requests ?? "-"} |`,
    );
  }
} finally {
  await registry.stop();
  await Deno.remove(work, { recursive: true });
}
