/**
 * `deno task bench`: ocisync against its peers, side by side in one run, on
 * a registry on loopback. Each row is the median wall time of several runs,
 * ocisync's and the peer's taking turns, and the ratio ocisync/peer; peak RSS
 * comes from GNU time. Machines are noisy, so read the ratios rather than the
 * seconds.
 *
 * Usage: deno task bench [--runs N] [--quick]
 *   --quick  the rows of issue 15's goals on small inputs only: the flow tree, a 128 MiB layer,
 *            start-up; no large tree, no 1 GiB or 2 GiB layers, no 2,000-file artifact, no
 *            100,000-file layer
 *
 * @module
 */
import { RUN_FLAGS } from "../permissions.ts";
import { startRegistry } from "../../tests/helpers/registry.ts";
import { ensureBenchTree, ensureFlowTree, ensureManyFilesTree } from "./tree.ts";

const root = new URL("../..", import.meta.url).pathname;
const work = `${root}.bench`;
const flag = (name: string) => Deno.args.indexOf(name);
const runs = flag("--runs") >= 0 ? Number(Deno.args[flag("--runs") + 1]) : 3;
const quick = flag("--quick") >= 0;

for (const tool of ["tar", "gzip", "pigz", "skopeo", "umoci", "/usr/bin/time", "head"]) {
  const found = new Deno.Command("sh", { args: ["-c", `command -v ${tool}`], stdout: "null" })
    .outputSync().success;
  if (!found) throw new Error(`${tool} is missing: run bash scripts/install-test-deps.sh`);
}

/**
 * Whether `curl` is here: it measures the registry's own floor for a push, the time it takes a
 * sender that only sends (optional: the table does without it).
 */
const hasCurl = new Deno.Command("sh", { args: ["-c", "command -v curl"], stdout: "null" })
  .outputSync().success;

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

/** Options of {@linkcode medians}. */
interface MedianOptions {
  /** Runs of each command. Default `--runs`. */
  times?: number;
  /**
   * Each run gets a registry of its own (`{host}` in the command): skopeo remembers where it saw
   * a blob and mounts it from there, which would turn every run after the first into a copy of
   * nothing.
   */
  freshRegistry?: boolean;
  /** Stops a run at this many seconds, which then counts as a lower bound. */
  limitSeconds?: number;
}

/**
 * The median of each command over `times` runs, the commands taking turns (ours, the peer's,
 * ours, …): the machine's speed drifts over minutes, and a row whose two sides ran minutes apart
 * would measure the drift. `{n}` in a command becomes a fresh number each run.
 */
async function medians(commands: string[], options: MedianOptions = {}): Promise<Measure[]> {
  const results: Measure[][] = commands.map(() => []);
  for (let i = 0; i < (options.times ?? runs); i++) {
    for (const [index, command] of commands.entries()) {
      const run = command.replaceAll("{n}", String(++counter));
      if (!options.freshRegistry) {
        results[index].push(await measure(run, options.limitSeconds));
        continue;
      }
      const fresh = await startRegistry();
      try {
        results[index].push(
          await measure(run.replaceAll("{host}", fresh.host), options.limitSeconds),
        );
      } finally {
        await fresh.stop();
      }
    }
  }
  return results.map(middle);
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

/**
 * The idle sync rows (`sync_idle.ts`, CPU time and RSS from /proc of the loop itself), as text.
 * They run twice: first, before the bench writes anything, and last, after the rest.
 */
async function idleRows(): Promise<string> {
  const { success, code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}scripts/bench/sync_idle.ts`],
    stderr: "inherit",
  }).output();
  if (!success) Deno.exit(code);
  return new TextDecoder().decode(stdout);
}
const idleFirst = await idleRows();

const ocisync = `${Deno.execPath()} run ${RUN_FLAGS.join(" ")} ${root}main.ts`;
await Deno.mkdir(work, { recursive: true });
const flows = `${work}/flows`;
const flowStats = await ensureFlowTree(flows);
const tree = `${work}/tree`;
const stats = quick ? undefined : await ensureBenchTree(tree);
const registry = await startRegistry();
const host = registry.host;
/** A row: ocisync against a peer, with the issue's goal for the ratio when there is one. */
const rows: {
  what: string;
  ours: Measure;
  peer?: Measure;
  peerName?: string;
  goal?: number;
}[] = [];
/** The registry's floor for each push row: `curl`'s time, beside skopeo's (see `curlPush`). */
const floors: { mib: number; curl: Measure; skopeo: Measure }[] = [];
/** The compression floor of each gzip pack row: deflate's seconds on one thread, and pigz's. */
const packFloors: { tree: string; deflateSeconds: number; pigz: Measure }[] = [];

/**
 * Deflate's own time for a tree's tar, on one thread, as ocisync deflates it
 * (`deflate_floor.ts`): the tar is GNU tar's, whose bytes are not ocisync's but as many.
 */
async function deflateSeconds(dir: string): Promise<number> {
  await sh(`${gnuTar(dir)} > ${work}/floor.tar`);
  try {
    const { success, stdout } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${root}scripts/bench/deflate_floor.ts`, `${work}/floor.tar`],
      stderr: "inherit",
    }).output();
    if (!success) throw new Error("deflate_floor.ts failed");
    return Number(new TextDecoder().decode(stdout));
  } finally {
    await Deno.remove(`${work}/floor.tar`);
  }
}

/**
 * A push that only sends: `curl` puts the blob in one request, its digest known, into a registry
 * that hashes and stores it as it does for anyone. No sender can beat the registry's own time.
 */
const curlPush = (file: string, digest: string) =>
  `loc=$(curl -sf -o /dev/null -w '%header{location}' -X POST http://{host}/v2/floor/blobs/uploads/)` +
  ` && case "$loc" in http*) ;; *) loc="http://{host}$loc" ;; esac` +
  ` && curl -sf -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' -T ${file} "$loc&digest=${digest}"`;

/** The sha256 digest of a file, by `sha256sum`: the bench takes no digest from ocisync. */
async function fileDigest(path: string): Promise<string> {
  const { success, stdout } = await new Deno.Command("sha256sum", { args: [path] }).output();
  if (!success) throw new Error(`sha256sum ${path} failed`);
  return `sha256:${new TextDecoder().decode(stdout).split(" ")[0]}`;
}

const gnuTar = (dir: string) =>
  `tar -C ${dir} --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=ustar -cf - .`;

try {
  console.error(
    `flow tree: ${flowStats.files} files, ${(flowStats.bytes / 1e6).toFixed(0)} MB; ` +
      (stats ? `large tree: ${stats.files} files, ${(stats.bytes / 1e6).toFixed(0)} MB; ` : "") +
      `${runs} runs each`,
  );
  // What a Prefect user packs: a flow folder of a few tens of MB.
  const [flowPack, flowPigz, flowGzip] = await medians([
    `${ocisync} pack ${flows} -o ${work}/o.tgz`,
    `${gnuTar(flows)} | pigz -n > ${work}/p.tgz`,
    `${gnuTar(flows)} | gzip -n > ${work}/p.tgz`,
  ]);
  rows.push({
    what: "pack flow tree",
    ours: flowPack,
    peer: flowPigz,
    peerName: "tar | pigz -n",
    goal: 1.0,
  });
  rows.push({ what: "pack flow tree", ours: flowPack, peer: flowGzip, peerName: "tar | gzip -n" });
  packFloors.push({ tree: "flow", deflateSeconds: await deflateSeconds(flows), pigz: flowPigz });

  if (stats) {
    const [packGzip, packZstd, tarPigz] = await medians([
      `${ocisync} pack ${tree} -o ${work}/o.tgz`,
      `${ocisync} pack ${tree} -o ${work}/o.tzst --compression zstd`,
      `${gnuTar(tree)} | pigz -n > ${work}/p.tgz`,
    ]);
    rows.push({
      what: "pack large tree",
      ours: packGzip,
      peer: tarPigz,
      peerName: "tar | pigz -n",
      goal: 0.6,
    });
    packFloors.push({ tree: "large", deflateSeconds: await deflateSeconds(tree), pigz: tarPigz });
    rows.push({
      what: "pack large tree, zstd",
      ours: packZstd,
      peer: tarPigz,
      peerName: "tar | pigz -n",
      goal: 0.3,
    });
    // A layer that compresses, as a dependency layer does: its checks (decompression, diffId,
    // 20,000 entries) weigh more than random bytes' do, and skopeo checks nothing.
    await sh(
      `rm -rf ${work}/tree-layout && ${ocisync} push oci:${work}/tree-layout:v1 ${work}/o.tgz`,
    );
    const [ours, peer] = await medians([
      `${ocisync} push {host}/push:v1 ${work}/o.tgz`,
      `skopeo copy -q --dest-tls-verify=false oci:${work}/tree-layout:v1 docker://{host}/push:v1`,
    ], { freshRegistry: true });
    rows.push({
      what: "push the large tree's gzip layer",
      ours,
      peer,
      peerName: "skopeo copy oci: docker://",
    });
    await sh(`rm -rf ${work}/tree-layout`);
  }

  // Layers of incompressible bytes, and the same images as layouts for skopeo.
  for (const mib of quick ? [128] : [128, 1024]) {
    console.error(`preparing a ${mib} MiB layer`);
    await Deno.mkdir(`${work}/big${mib}`, { recursive: true });
    await sh(`head -c ${mib}M /dev/urandom > ${work}/big${mib}/data.bin`);
    await sh(`${ocisync} pack ${work}/big${mib} -o ${work}/big${mib}.tar.gz`);
    await sh(
      `rm -rf ${work}/big${mib}-layout && ${ocisync} push oci:${work}/big${mib}-layout:v1 ${work}/big${mib}.tar.gz`,
    );
    const [ours, peer, floor] = await medians([
      `${ocisync} push {host}/push:v1 ${work}/big${mib}.tar.gz`,
      `skopeo copy -q --dest-tls-verify=false oci:${work}/big${mib}-layout:v1 docker://{host}/push:v1`,
      ...(hasCurl
        ? [curlPush(`${work}/big${mib}.tar.gz`, await fileDigest(`${work}/big${mib}.tar.gz`))]
        : []),
    ], { freshRegistry: true });
    rows.push({
      what: `push ${mib} MiB layer`,
      ours,
      peer,
      peerName: "skopeo copy oci: docker://",
      goal: 0.8,
    });
    if (floor) floors.push({ mib, curl: floor, skopeo: peer });
    // The same layer copied as skopeo copies it: from the layout, and from another registry.
    await sh(`${ocisync} copy oci:${work}/big${mib}-layout:v1 ${host}/big${mib}:v1`);
    const [fromLayout, skopeoFromLayout, fromRegistry, skopeoFromRegistry] = await medians([
      `${ocisync} copy oci:${work}/big${mib}-layout:v1 {host}/copy:v1`,
      `skopeo copy -q --dest-tls-verify=false oci:${work}/big${mib}-layout:v1 docker://{host}/copy:v1`,
      `${ocisync} copy ${host}/big${mib}:v1 {host}/copy:v1`,
      `skopeo copy -q --src-tls-verify=false --dest-tls-verify=false docker://${host}/big${mib}:v1 docker://{host}/copy:v1`,
    ], { freshRegistry: true });
    rows.push({
      what: `copy ${mib} MiB layer, layout to registry`,
      ours: fromLayout,
      peer: skopeoFromLayout,
      peerName: "skopeo copy oci: docker://",
    });
    rows.push({
      what: `copy ${mib} MiB layer between registries`,
      ours: fromRegistry,
      peer: skopeoFromRegistry,
      peerName: "skopeo copy docker:// docker://",
    });
    await sh(`rm -rf ${work}/big${mib} ${work}/big${mib}-layout`);
  }

  if (!quick) {
    console.error("preparing 2,000 small files");
    await sh(
      `rm -rf ${work}/small && mkdir -p ${work}/small && cd ${work}/small && ` +
        `for i in $(seq 1 2000); do head -c 2000 /dev/urandom > f$i.bin; done`,
    );
    const files = Array.from({ length: 2000 }, (_, i) => `f${i + 1}.bin`).join(" ");
    await sh(
      `cd ${work}/small && rm -rf ../small-layout && ${ocisync} push oci:../small-layout:v1 --files ${files}`,
    );
    rows.push({
      what: "push 2,000 files (artifact)",
      ours: (await medians(
        [`cd ${work}/small && ${ocisync} push {host}/files:v1 --files ${files}`],
        { freshRegistry: true },
      ))[0],
      // skopeo takes minutes over 2,000 blobs here: one run, stopped at 120 s; the table then
      // shows a lower bound.
      peer: (await medians(
        [`skopeo copy -q --dest-tls-verify=false oci:${work}/small-layout:v1 docker://{host}/files:v1`],
        { freshRegistry: true, times: 1, limitSeconds: 120 },
      ))[0],
      peerName: "skopeo copy oci: docker://",
    });
  }

  // A tree as an image, pulled and extracted.
  const pulled = stats ? tree : flows;
  await sh(`${ocisync} push ${host}/tree:v1 ${pulled}:/tree`);
  const [pullOurs, pullPeer] = await medians([
    `rm -rf ${work}/pulled && ${ocisync} pull ${host}/tree:v1 -o ${work}/pulled`,
    `rm -rf ${work}/sk ${work}/sk-bundle && skopeo copy -q --src-tls-verify=false docker://${host}/tree:v1 oci:${work}/sk:v1 && umoci unpack --rootless --image ${work}/sk:v1 ${work}/sk-bundle`,
  ]);
  rows.push({
    what: `pull and extract the ${stats ? "large" : "flow"} tree`,
    ours: pullOurs,
    peer: pullPeer,
    peerName: "skopeo copy + umoci unpack",
    goal: 0.6,
  });
  // A tenth of a second a run, and noisy: 21 runs, as the start-up rows.
  const [copyOurs, copyPeer] = await medians([
    `${ocisync} copy ${host}/tree:v1 ${host}/copy-o{n}:v1`,
    `skopeo copy -q --src-tls-verify=false --dest-tls-verify=false docker://${host}/tree:v1 docker://${host}/copy-s{n}:v1`,
  ], { times: 21 });
  rows.push({
    what: "copy within a registry (mount only)",
    ours: copyOurs,
    peer: copyPeer,
    peerName: "skopeo copy docker:// docker://",
    goal: 1.2,
  });

  // Start-up, against the runtime's own floor: a `deno run` of an empty script.
  await Deno.writeTextFile(`${work}/empty.ts`, "");
  await sh(`${ocisync} push oci:${work}/small-image:v1 ${root}examples/prefect/flows`);
  const [empty, version, inspect, skopeoVersion] = await medians([
    `${Deno.execPath()} run ${RUN_FLAGS.join(" ")} ${work}/empty.ts`,
    `${ocisync} version`,
    `${ocisync} inspect -q oci:${work}/small-image:v1`,
    "skopeo --version",
  ], { times: 21 });
  rows.push({
    what: "start-up: version",
    ours: version,
    peer: empty,
    peerName: "deno run empty.ts",
    goal: 1.3,
  });
  rows.push({
    what: "start-up: inspect -q oci:",
    ours: inspect,
    peer: empty,
    peerName: "deno run empty.ts",
    goal: 1.3,
  });
  rows.push({
    what: "start-up: version",
    ours: version,
    peer: skopeoVersion,
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
      ours: (await medians([`${ocisync} push ${host}/huge:v1 ${work}/huge.tar`], { times: 1 }))[0],
    });
    rows.push({
      what: "pull 2 GiB layer",
      ours: (await medians(
        [`rm -rf ${work}/huge-out && ${ocisync} pull ${host}/huge:v1 -o ${work}/huge-out`],
        { times: 1 },
      ))[0],
    });
    await sh(`rm -rf ${work}/huge-out ${work}/huge.tar`);
    // Flat memory against the entry count: a layer of 100,000 small files, pulled.
    console.error("preparing 100,000 small files");
    const many = `${work}/many`;
    await ensureManyFilesTree(many);
    await sh(`${ocisync} push ${host}/many:v1 ${many}`);
    rows.push({
      what: "pull 100,000 small files",
      ours: (await medians(
        [`rm -rf ${work}/many-out && ${ocisync} pull ${host}/many:v1 -o ${work}/many-out`],
        { times: 1 },
      ))[0],
    });
    await sh(`rm -rf ${work}/many-out`);
  }
} finally {
  await registry.stop();
}

console.log(
  `Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores; ${
    quick ? "quick" : "full"
  } run\n`,
);
console.log("| what | ocisync s | peer | peer s | ratio | goal | ocisync peak RSS MB |");
console.log("| --- | --- | --- | --- | --- | --- | --- |");
/** Seconds to 10 ms; under a second, to the millisecond, for the start-up rows' sake. */
const shownSeconds = (seconds: number) => seconds.toFixed(seconds < 1 ? 3 : 2);
for (const row of rows) {
  const ratio = row.peer ? row.ours.seconds / row.peer.seconds : undefined;
  const ratioText = ratio === undefined
    ? "—"
    : `${row.peer!.capped ? "< " : ""}${ratio.toFixed(2)}x`;
  const goal = row.goal === undefined || ratio === undefined
    ? "—"
    : `≤ ${row.goal}x: ${ratio <= row.goal ? "met" : "missed"}`;
  console.log(
    `| ${row.what} | ${shownSeconds(row.ours.seconds)} | ${
      row.peerName?.replaceAll("|", "\\|") ?? "—"
    } | ${
      row.peer ? `${row.peer.capped ? "> " : ""}${shownSeconds(row.peer.seconds)}` : "—"
    } | ${ratioText} | ${goal} | ${row.ours.rssMb.toFixed(0)} |`,
  );
}

for (const { mib, curl, skopeo } of floors) {
  console.log(
    `\nThe registry's floor for the ${mib} MiB push: curl, putting the blob in one request with ` +
      `its digest known, took ${shownSeconds(curl.seconds)} s, ` +
      `${(curl.seconds / skopeo.seconds).toFixed(2)}x skopeo's time.`,
  );
}
if (!hasCurl) console.log("\n(curl is not installed: the registry's floor was not measured.)");
const cores = navigator.hardwareConcurrency;
for (const { tree, deflateSeconds, pigz } of packFloors) {
  console.log(
    `\nThe compression floor for the ${tree} tree's gzip pack: deflating its tar on one thread, ` +
      `as ocisync deflates, took ${
        shownSeconds(deflateSeconds)
      } s; on ${cores} cores no pack can ` +
      `take less than ${shownSeconds(deflateSeconds / cores)} s, ` +
      `${(deflateSeconds / cores / pigz.seconds).toFixed(2)}x pigz's time, before any walking, ` +
      `reading, tar, hashing or start-up.`,
  );
}

// In full runs, the registry tag's tick measured 2.1-5.1 ms of CPU after the rest, against
// 1.7 ms before it or a minute later, even once the machine showed no other load: both are shown.
console.log("\nIdle sync loop (scripts/bench/sync_idle.ts), before the rows above:\n");
console.log(idleFirst.trimEnd());
console.log("\nThe same, after them:\n");
console.log((await idleRows()).trimEnd());
