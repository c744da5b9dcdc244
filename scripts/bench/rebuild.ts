/**
 * `deno run --allow-all scripts/bench/rebuild.ts`: what a one-line change
 * to a flow costs with `ocisync build`, against a full rebuild, pushed to a
 * Distribution registry on loopback.
 *
 * The project: a requirements file naming generated wheels that hold
 * seeded random data, as native libraries do (`--deps-mb`, default 64 MB),
 * and a small flow. Each row is one `ocisync build`:
 *
 * 1. full build: an empty cache and an empty repository;
 * 2. full rebuild, as a Docker rebuild and push goes: `--no-cache`, so pip
 *    runs again, into a new repository, so every layer is uploaded again;
 * 3. code-only rebuild: one line of the flow changed; the dependency layer
 *    comes from the cache and the registry has it, so only the code layer
 *    and the config are uploaded.
 *
 * Usage: deno run --allow-all scripts/bench/rebuild.ts [--deps-mb N]
 *
 * @module
 */
import { RUN_FLAGS } from "../permissions.ts";
import { startRegistry } from "../../tests/helpers/registry.ts";
import { offlineRecipe, writeWheels } from "../../tests/helpers/wheels.ts";
import { denoDir } from "../../tests/helpers/cli.ts";

const root = new URL("../..", import.meta.url).pathname;
const work = `${root}.bench/rebuild`;
const flag = Deno.args.indexOf("--deps-mb");
const depsMb = flag >= 0 ? Number(Deno.args[flag + 1]) : 64;
const WHEELS = 8;

await Deno.remove(work, { recursive: true }).catch(() => {});
const project = `${work}/project`;
await Deno.mkdir(`${project}/flows`, { recursive: true });
const wheels = Array.from({ length: WHEELS }, (_, i) => ({
  name: `benchdep${i}`,
  version: "1.0",
  files: { [`benchdep${i}/__init__.py`]: `NAME = 'benchdep${i}'\n` },
  blobs: { [`benchdep${i}/_native.so`]: Math.round(depsMb * 1e6 / WHEELS) },
}));
await writeWheels(`${project}/wheels`, wheels);
const requirements = wheels.map((w) => `${w.name}==${w.version}`).join("\n");
await Deno.writeTextFile(`${project}/requirements.txt`, `${requirements}\n`);
const flow = `${project}/flows/flow.py`;
await Deno.writeTextFile(flow, "import benchdep0\nprint('run', benchdep0.NAME)\n");

const registry = await startRegistry();
try {
  await Deno.writeTextFile(
    `${project}/ocisync.yaml`,
    offlineRecipe(`${registry.host}/bench/flow:v1`),
  );

  /** Runs one build and measures it. */
  const build = async (what: string, extra: string[] = []) => {
    const start = performance.now();
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...RUN_FLAGS,
        `${root}main.ts`,
        "build",
        "-f",
        `${project}/ocisync.yaml`,
        "--json",
        ...extra,
      ],
      // ocisync's caches move; Deno's own stays, else the first build would fetch npm packages.
      env: { XDG_CACHE_HOME: `${work}/cache`, DENO_DIR: await denoDir() },
      stdout: "piped",
      stderr: "piped",
    }).output().then((o) => ({
      code: o.code,
      stdout: new TextDecoder().decode(o.stdout),
      stderr: new TextDecoder().decode(o.stderr),
    }));
    const seconds = (performance.now() - start) / 1000;
    if (code !== 0) throw new Error(`${what} failed: ${stderr}`);
    return { what, seconds, result: JSON.parse(stdout) };
  };
  const rows = [];
  rows.push(await build("full build (empty cache and registry)"));
  rows.push(
    await build("full rebuild (--no-cache, a new repository)", [
      "--no-cache",
      "--image",
      `${registry.host}/bench/flow-full:v1`,
    ]),
  );
  await Deno.writeTextFile(flow, "import benchdep0\nprint('run again', benchdep0.NAME)\n");
  rows.push(await build("code-only rebuild (one line of the flow)"));

  const [deps, code] = rows[0].result.layers;
  console.log(
    `dependency layer ${(deps.size / 1e6).toFixed(1)} MB, code layer ${code.size} B, ` +
      `${WHEELS} wheels of random data`,
  );
  console.log("| build | seconds | blobs uploaded | bytes uploaded |");
  console.log("| --- | --- | --- | --- |");
  for (const { what, seconds, result } of rows) {
    console.log(
      `| ${what} | ${seconds.toFixed(2)} | ${result.uploaded} | ${result.uploaded_bytes} |`,
    );
  }
  const [, full, codeOnly] = rows;
  console.log(
    `\ncode-only rebuild: ${(full.seconds / codeOnly.seconds).toFixed(1)}x faster, ` +
      `${(full.result.uploaded_bytes / codeOnly.result.uploaded_bytes).toFixed(0)}x fewer bytes`,
  );
} finally {
  await registry.stop();
}
