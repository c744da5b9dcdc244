/**
 * `deno task bench`: ocisync against its peers, side by side in one run, on
 * a registry on loopback. Each row is the median wall time of several runs
 * and the ratio ocisync/peer; peak RSS comes from GNU time. Machines are
 * noisy, so read the ratios rather than the seconds.
 *
 * Usage: deno task bench [--runs N] [--quick]
 *   --quick  smaller inputs (a 64 MiB layer instead of 512 MiB, no 2 GiB rows)
 *
 * @module
 */
import { PERMISSION_FLAGS } from "../permissions.ts";
import { startRegistry } from "../../tests/helpers/registry.ts";
import { ensureBenchTree } from "./tree.ts";

const root = new URL("../..", import.meta.url).pathname;
const work = `${root}.bench`;
const flag = (name: string) => Deno.args.indexOf(name);
const runs = flag("--runs") >= 0 ? Number(Deno.args[flag("--runs") + 1]) : 3;
const quick = flag("--quick") >= 0;
const LAYER_MIB = quick ? 64 : 512;

for (const tool of ["tar", "gzip", "pigz", "skopeo", "umoci", "/usr/bin/time", "head"]) {
  const found = new Deno.Command("sh", { args: ["-c", `command -v ${tool}`], stdout: "null" })
    .outputSync().success;
  if (!found) throw new Error(`${tool} is missing: run bash scripts/install-test-deps.sh`);
}

interface Measure {
  seconds: number;
  rssMb: number;
  /** The command was stopped at its time limit: `seconds` is a lower bound. */
  capped?: boolean;
}

/**
 * Runs a shell command under GNU time; returns seconds and peak RSS in MB. With a limit, the
 * command is stopped there and the time is reported as a lower bound.
 */
async function measure(command: string, limitSeconds?: number): Promise<Measure> {
  const start = performance.now();
  const child = new Deno.Command("/usr/bin/time", {
    args: [
      "-f",
      "%M",
      ...(limitSeconds ? ["timeout", String(limitSeconds)] : []),
      "sh",
      "-c",
      command,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const { code, stderr } = await child.output();
  const seconds = (performance.now() - start) / 1000;
  const text = new TextDecoder().decode(stderr).trim();
  const capped = limitSeconds !== undefined && code === 124;
  if (code !== 0 && !capped) throw new Error(`${command} failed: ${text}`);
  return { seconds, rssMb: Number(text.split("\n").pop()) / 1024, capped };
}

let counter = 0;
/** The median of `runs` runs; `{n}` in the command becomes a fresh number each run. */
async function median(command: string, times = runs, limitSeconds?: number): Promise<Measure> {
  const results: Measure[] = [];
  for (let i = 0; i < times; i++) {
    results.push(await measure(command.replaceAll("{n}", String(++counter)), limitSeconds));
  }
  return middle(results);
}

/**
 * Like {@linkcode median}, but each run pushes to a registry of its own (`{host}` in the
 * command): skopeo remembers where it saw a blob and mounts it from there, which would turn
 * every run after the first into a copy of nothing.
 */
async function medianOnFreshRegistry(
  command: string,
  times = runs,
  limitSeconds?: number,
): Promise<Measure> {
  const results: Measure[] = [];
  for (let i = 0; i < times; i++) {
    const fresh = await startRegistry();
    try {
      results.push(await measure(command.replaceAll("{host}", fresh.host), limitSeconds));
    } finally {
      await fresh.stop();
    }
  }
  return middle(results);
}

function middle(results: Measure[]): Measure {
  results.sort((a, b) => a.seconds - b.seconds);
  return results[Math.floor(results.length / 2)];
}

async function sh(command: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("sh", {
    args: ["-c", command],
    stdout: "null",
    stderr: "piped",
  })
    .output();
  if (code !== 0) throw new Error(`${command}: ${new TextDecoder().decode(stderr)}`);
}

const ocisync = `${Deno.execPath()} run ${PERMISSION_FLAGS.join(" ")} ${root}main.ts`;
await Deno.mkdir(work, { recursive: true });
const tree = `${work}/tree`;
const stats = await ensureBenchTree(tree);
const registry = await startRegistry();
const host = registry.host;
const rows: { what: string; ours: Measure; peer?: Measure; peerName?: string }[] = [];

try {
  console.error(
    `tree: ${stats.files} files, ${(stats.bytes / 1e6).toFixed(0)} MB; ${runs} runs each`,
  );
  const gnuTar =
    `tar -C ${tree} --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=ustar -cf - .`;
  const tarGzip = await median(`${gnuTar} | gzip -n > ${work}/p.tgz`);
  const tarPigz = await median(`${gnuTar} | pigz -n > ${work}/p.tgz`);
  const packGzip = await median(`${ocisync} pack ${tree} -o ${work}/o.tgz`);
  const packZstd = await median(`${ocisync} pack ${tree} -o ${work}/o.tzst --compression zstd`);
  rows.push({ what: "pack gzip", ours: packGzip, peer: tarGzip, peerName: "tar | gzip -n" });
  rows.push({ what: "pack gzip", ours: packGzip, peer: tarPigz, peerName: "tar | pigz -n" });
  rows.push({ what: "pack zstd", ours: packZstd, peer: tarGzip, peerName: "tar | gzip -n" });

  // A layer of incompressible bytes, and the same image as a layout for skopeo.
  console.error(`preparing a ${LAYER_MIB} MiB layer`);
  await Deno.mkdir(`${work}/big`, { recursive: true });
  await sh(`head -c ${LAYER_MIB}M /dev/urandom > ${work}/big/data.bin`);
  await sh(`${ocisync} pack ${work}/big -o ${work}/big.tar.gz`);
  await sh(
    `rm -rf ${work}/big-layout && ${ocisync} push oci:${work}/big-layout:v1 ${work}/big.tar.gz`,
  );
  rows.push({
    what: `push ${LAYER_MIB} MiB layer`,
    ours: await medianOnFreshRegistry(`${ocisync} push {host}/push:v1 ${work}/big.tar.gz`),
    peer: await medianOnFreshRegistry(
      `skopeo copy -q --dest-tls-verify=false oci:${work}/big-layout:v1 docker://{host}/push:v1`,
    ),
    peerName: "skopeo copy oci: docker://",
  });

  console.error("preparing 2,000 small files");
  await sh(
    `rm -rf ${work}/small && mkdir -p ${work}/small && cd ${work}/small && ` +
      `for i in $(seq 1 2000); do head -c 2000 /dev/urandom > f$i.bin; done`,
  );
  const files = Array.from({ length: 2000 }, (_, i) => `f${i + 1}.bin`).join(" ");
  await sh(
    `cd ${work}/small && rm -rf ../small-layout && ${ocisync} push oci:../small-layout:v1 --files ${files} --artifact-type application/x.bench`,
  );
  rows.push({
    what: "push 2,000 files (artifact)",
    ours: await medianOnFreshRegistry(
      `cd ${work}/small && ${ocisync} push {host}/files:v1 --files ${files} --artifact-type application/x.bench`,
    ),
    // skopeo takes minutes over 2,000 blobs here: one run, stopped at 120 s, keeps the bench
    // under 10 minutes; the table then shows a lower bound.
    peer: await medianOnFreshRegistry(
      `skopeo copy -q --dest-tls-verify=false oci:${work}/small-layout:v1 docker://{host}/files:v1`,
      1,
      120,
    ),
    peerName: "skopeo copy oci: docker://",
  });

  // The benchmark tree as an image, pulled and extracted.
  await sh(`${ocisync} push ${host}/tree:v1 ${tree}:/tree`);
  rows.push({
    what: "pull and extract the tree image",
    ours: await median(
      `rm -rf ${work}/pulled && ${ocisync} pull ${host}/tree:v1 -o ${work}/pulled`,
    ),
    peer: await median(
      `rm -rf ${work}/sk ${work}/sk-bundle && skopeo copy -q --src-tls-verify=false docker://${host}/tree:v1 oci:${work}/sk:v1 && umoci unpack --rootless --image ${work}/sk:v1 ${work}/sk-bundle`,
    ),
    peerName: "skopeo copy + umoci unpack",
  });
  rows.push({
    what: "copy to a second repository",
    ours: await median(`${ocisync} copy ${host}/tree:v1 ${host}/copy-o{n}:v1`),
    peer: await median(
      `skopeo copy -q --src-tls-verify=false --dest-tls-verify=false docker://${host}/tree:v1 docker://${host}/copy-s{n}:v1`,
    ),
    peerName: "skopeo copy docker:// docker://",
  });
  rows.push({
    what: "cold start (version)",
    ours: await median(`${ocisync} version`, 5),
    peer: await median("skopeo --version", 5),
    peerName: "skopeo --version",
  });

  if (!quick) {
    // Flat memory: a 2 GiB layer (uncompressed tar) through push and pull.
    console.error("preparing a 2 GiB layer");
    await sh(
      `rm -rf ${work}/huge && mkdir -p ${work}/huge && head -c 2G /dev/urandom > ${work}/huge/data.bin`,
    );
    await sh(`${ocisync} pack ${work}/huge -o ${work}/huge.tar --compression none`);
    await sh(`rm -rf ${work}/huge`);
    rows.push({
      what: "push 2 GiB layer",
      ours: await median(`${ocisync} push ${host}/huge:v1 ${work}/huge.tar`, 1),
    });
    rows.push({
      what: "pull 2 GiB layer",
      ours: await median(
        `rm -rf ${work}/huge-out && ${ocisync} pull ${host}/huge:v1 -o ${work}/huge-out`,
        1,
      ),
    });
    await sh(`rm -rf ${work}/huge-out ${work}/huge.tar`);
  }
} finally {
  await registry.stop();
}

console.log("| what | ocisync s | peer | peer s | ratio | ocisync peak RSS MB |");
console.log("| --- | --- | --- | --- | --- | --- |");
for (const row of rows) {
  const ratio = row.peer
    ? `${row.peer.capped ? "< " : ""}${(row.ours.seconds / row.peer.seconds).toFixed(2)}x`
    : "—";
  console.log(
    `| ${row.what} | ${row.ours.seconds.toFixed(2)} | ${
      row.peerName?.replaceAll("|", "\\|") ?? "—"
    } | ${
      row.peer ? `${row.peer.capped ? "> " : ""}${row.peer.seconds.toFixed(2)}` : "—"
    } | ${ratio} | ${row.ours.rssMb.toFixed(0)} |`,
  );
}

// The idle sync tick has its own measurement (CPU time and RSS from /proc of the loop itself).
console.log("\nIdle sync loop (scripts/bench/sync_idle.ts):\n");
const idle = await new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", `${root}scripts/bench/sync_idle.ts`],
  stdout: "inherit",
  stderr: "inherit",
}).output();
if (!idle.success) Deno.exit(idle.code);
