/**
 * `deno task bench`: ocisync against its peers, side by side in one run.
 * Each row is the median wall time of several runs and the ratio
 * ocisync/peer; peak RSS comes from GNU time. Machines are noisy, so read
 * the ratios rather than the seconds.
 *
 * Usage: deno task bench [--runs N]
 *
 * @module
 */
import { PERMISSION_FLAGS } from "../permissions.ts";
import { ensureBenchTree } from "./tree.ts";

const root = new URL("../..", import.meta.url).pathname;
const work = `${root}.bench`;
const runsFlag = Deno.args.indexOf("--runs");
const runs = runsFlag >= 0 ? Number(Deno.args[runsFlag + 1]) : 3;

for (const tool of ["tar", "gzip", "pigz", "/usr/bin/time"]) {
  const found = new Deno.Command("sh", { args: ["-c", `command -v ${tool}`], stdout: "null" })
    .outputSync().success;
  if (!found) throw new Error(`${tool} is missing: run bash scripts/install-test-deps.sh`);
}

await Deno.mkdir(work, { recursive: true });
const tree = `${work}/tree`;
const stats = await ensureBenchTree(tree);
console.log(`tree: ${stats.files} files, ${(stats.bytes / 1e6).toFixed(0)} MB; ${runs} runs each`);

/** Runs a shell command under GNU time; returns seconds and peak RSS in MB. */
async function measure(command: string): Promise<{ seconds: number; rssMb: number }> {
  const start = performance.now();
  const { code, stderr } = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%M", "sh", "-c", command],
    stdout: "null",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - start) / 1000;
  const text = new TextDecoder().decode(stderr).trim();
  if (code !== 0) throw new Error(`${command} failed: ${text}`);
  return { seconds, rssMb: Number(text.split("\n").pop()) / 1024 };
}

async function median(command: string) {
  const results = [];
  for (let i = 0; i < runs; i++) results.push(await measure(command));
  results.sort((a, b) => a.seconds - b.seconds);
  return results[Math.floor(results.length / 2)];
}

const ocisync = `${Deno.execPath()} run ${PERMISSION_FLAGS.join(" ")} ${root}main.ts`;
const gnuTar =
  `tar -C ${tree} --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=ustar -cf - .`;
const rows: [string, string, string][] = [
  [
    "pack gzip vs tar | gzip -n",
    `${ocisync} pack ${tree} -o ${work}/o.tgz`,
    `${gnuTar} | gzip -n > ${work}/p.tgz`,
  ],
  [
    "pack gzip vs tar | pigz -n",
    `${ocisync} pack ${tree} -o ${work}/o.tgz`,
    `${gnuTar} | pigz -n > ${work}/p.tgz`,
  ],
  [
    "pack zstd vs tar | gzip -n",
    `${ocisync} pack ${tree} -o ${work}/o.tzst --compression zstd`,
    `${gnuTar} | gzip -n > ${work}/p.tgz`,
  ],
];

console.log("| what | ocisync s | peer s | ratio | ocisync peak RSS MB |");
console.log("| --- | --- | --- | --- | --- |");
for (const [name, ours, peer] of rows) {
  const a = await median(ours);
  const b = await median(peer);
  console.log(
    `| ${name} | ${a.seconds.toFixed(2)} | ${b.seconds.toFixed(2)} | ${
      (a.seconds / b.seconds).toFixed(2)
    }x | ${a.rssMb.toFixed(0)} |`,
  );
}
