/**
 * Runs the README's five-minute tour as written, command by command, in a copy of
 * `examples/prefect`, and checks the shape of what each prints, so that the README cannot drift
 * from the code. A command the test does not know fails it: a change to the tour must come with
 * its check here. The tour names GHCR, Docker Hub and PyPI, which a test cannot reach: the
 * commands run as written against a registry on loopback that stands in for `ghcr.io` (its host
 * is put in their place, in the commands and in the recipe), with Prefect's base image pushed
 * there first, and pip told by its own environment to install from local wheels.
 */
import assert from "node:assert/strict";
import { RUN_FLAGS } from "../scripts/permissions.ts";
import { denoDir, run, runOk, type RunResult, shown } from "./helpers/cli.ts";
import { startRegistry } from "./helpers/registry.ts";
import { requirePip, writeWheels } from "./helpers/wheels.ts";

const REPO = new URL("../", import.meta.url).pathname;
const README = await Deno.readTextFile(`${REPO}README.md`);
const DIGEST = /sha256:[0-9a-f]{64}/;

/** The tour's shell lines, without comments, in order, with their step. */
function tourCommands(): { step: number; command: string; comment: string }[] {
  const tour = README.slice(
    README.indexOf("## A five-minute tour"),
    README.indexOf("\n## ", README.indexOf("## A five-minute tour") + 5),
  );
  const commands: { step: number; command: string; comment: string }[] = [];
  let step = 0;
  for (const block of tour.split(/\*\*(\d)\. /).slice(1).entries()) {
    if (block[0] % 2 === 0) {
      step = Number(block[1]);
      continue;
    }
    for (const [, code] of block[1].matchAll(/```sh\n([\s\S]*?)```/g)) {
      for (const line of code.split("\n").filter((l) => l.trim())) {
        const hash = line.indexOf(" # ");
        commands.push({
          step,
          command: (hash < 0 ? line : line.slice(0, hash)).trim(),
          comment: hash < 0 ? "" : line.slice(hash + 3).trim(),
        });
      }
    }
  }
  return commands;
}

/** Checks of each command's output, by the command's text in the README. */
type Check = (result: RunResult, seen: Map<string, string>) => void;
const CHECKS: Record<string, Check> = {
  "cd examples/prefect": () => {},
  "ocisync pack ./flows -o flows.tar.gz": (r, seen) => {
    assert.match(
      r.stdout,
      /^flows\.tar\.gz\n {2}mediaType application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip\n/,
    );
    const digest = r.stdout.match(/digest +(sha256:[0-9a-f]{64})/)![1];
    assert.match(r.stdout, /diffId +sha256:[0-9a-f]{64}\n {2}size .*\n {2}entries +\d+/);
    seen.set("digest", digest);
  },
  "ocisync pack ./flows -o again.tar.gz -q": (r, seen) => {
    assert.equal(r.stdout, `${seen.get("digest")}\n`, "the same digest again");
  },
  "ocisync push oci:./bundle:v1 ./flows:/opt/prefect/flows": (r, seen) => {
    assert.match(r.stdout, new RegExp(`^pushed oci:\\./bundle@${DIGEST.source}\n  tag +v1\n`));
    seen.set("image", r.stdout.match(DIGEST)![0]);
  },
  "ocisync inspect oci:./bundle:v1": (r, seen) => {
    assert.ok(r.stdout.startsWith(`oci:./bundle@${seen.get("image")}\n`), r.stdout);
    assert.match(r.stdout, /platform +linux\/amd64/);
    assert.match(
      r.stdout,
      /layers\n +sha256:[0-9a-f]{64} +\d+ B +application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip/,
    );
  },
  "ocisync pull oci:./bundle:v1 -o ./out": (r, seen) => {
    assert.match(r.stdout, new RegExp(`^pulled oci:\\./bundle@${seen.get("image")} into \\./out`));
  },
  "ocisync sync oci:./bundle:v1 -o ./live --once --state state.json": (r, seen) => {
    const first = !seen.has("synced");
    seen.set("synced", "yes");
    const said = first
      ? `changed (none) -> ${seen.get("image")}`
      : `unchanged ${seen.get("image")}`;
    assert.ok(r.stderr.includes(said), `"${said}" in ${r.stderr}`);
  },
  "ls live/current/opt/prefect/flows": (r) => assert.equal(r.stdout, "hello.py\n"),
  "ocisync copy oci:./bundle:v1 ghcr.io/acme/flows:v1": (r, seen) => {
    assert.match(r.stdout, new RegExp(`^copied .*${seen.get("image")}`, "m"));
  },
  "ocisync build --dry-run": (r) => {
    assert.match(r.stdout, /^would push \S+\/acme\/hello-flow@sha256:[0-9a-f]{64}\n/);
    assert.match(r.stdout, /\n {2}tag +dev\n {2}tag +latest\n/);
    assert.equal(r.stdout.match(/\n {2}layer /g)?.length, 3, "the base's layer and two of ours");
  },
  'echo "$GITHUB_TOKEN" | ocisync login ghcr.io -u octocat --password-stdin': (r) => {
    assert.match(r.stdout, /^Login Succeeded: credentials for \S+ saved in /);
  },
  "ocisync build -q": (r, seen) => {
    assert.match(r.stdout, /^\S+\/acme\/hello-flow@sha256:[0-9a-f]{64}\n$/);
    seen.set("built", r.stdout.trim());
  },
};
/**
 * A comment that quotes output (`changed (none) -> sha256:…`, `unchanged`) must match what the
 * command printed, with `…` standing for the digest's hex.
 */
function checkQuotedComment(comment: string, result: RunResult): void {
  if (!comment.includes("sha256:…") && comment !== "unchanged") return;
  const pattern = comment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace("…", "[0-9a-f]{64}");
  assert.match(`${result.stdout}${result.stderr}`, new RegExp(pattern), `the comment "${comment}"`);
}

Deno.test("the README tour runs as written and prints what it says", async () => {
  requirePip();
  const registry = await startRegistry({ auth: "basic" });
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-tour-" });
  try {
    await run("cp", ["-r", `${REPO}examples`, tmp]);
    await Deno.writeTextFile(
      `${tmp}/ocisync`,
      `#!/bin/sh\nexec ${Deno.execPath()} run ${RUN_FLAGS.join(" ")} ${REPO}main.ts "$@"\n`,
    );
    await Deno.chmod(`${tmp}/ocisync`, 0o755);
    // Stand-ins: the registry for ghcr.io and Docker Hub, local wheels for PyPI.
    const recipe = `${tmp}/examples/prefect/ocisync.yaml`;
    await Deno.writeTextFile(
      recipe,
      (await Deno.readTextFile(recipe)).replaceAll("ghcr.io", registry.host)
        .replaceAll("docker.io", registry.host),
    );
    await writeWheels(`${tmp}/wheels`, [
      { name: "humanize", version: "4.9.0", files: { "humanize/__init__.py": "" } },
    ]);
    const env = {
      PATH: `${tmp}:${Deno.env.get("PATH")}`,
      NO_COLOR: "1",
      DOCKER_CONFIG: `${tmp}/docker`,
      XDG_CACHE_HOME: `${tmp}/cache`,
      DENO_DIR: await denoDir(),
      GITHUB_TOKEN: registry.password,
      PIP_NO_INDEX: "1",
      PIP_FIND_LINKS: `${tmp}/wheels`,
    };
    await Deno.mkdir(`${tmp}/base`);
    await Deno.writeTextFile(`${tmp}/base/os-release`, "ID=stand-in\n");
    await runOk("sh", [
      "-c",
      `echo "$GITHUB_TOKEN" | ocisync login ${registry.host} -u ${registry.username} --password-stdin && ocisync push ${registry.host}/prefecthq/prefect-client:3-python3.12 ./base:/etc`,
    ], { cwd: tmp, env });
    const seen = new Map<string, string>();
    let cwd = tmp;
    const commands = tourCommands();
    assert.ok(commands.length >= 13, `the tour's commands were found: ${commands.length}`);
    for (const { command, comment } of commands) {
      const check = CHECKS[command];
      assert.ok(check, `the tour has a command this test does not know: ${command}`);
      if (command.startsWith("cd ")) {
        cwd = `${cwd}/${command.slice(3)}`;
        continue;
      }
      const asRun = command.replaceAll("ghcr.io", registry.host)
        .replaceAll("octocat", registry.username);
      const result = await run("sh", ["-c", asRun], { cwd, env });
      assert.equal(result.code, 0, `${command}\n${shown(result)}`);
      check(result, seen);
      checkQuotedComment(comment.replaceAll("ghcr.io", registry.host), result);
    }
    assert.ok(Deno.statSync(`${cwd}/out/opt/prefect/flows/hello.py`).isFile);
    const [name, digest] = seen.get("built")!.split("@");
    const manifest = JSON.parse(
      await runOk("skopeo", [
        ...["inspect", "--raw", "--tls-verify=false"],
        ...["--creds", `${registry.username}:${registry.password}`, `docker://${name}:dev`],
      ]),
    );
    assert.equal(manifest.layers.length, 3);
    const raw = await runOk("skopeo", [
      ...["inspect", "--raw", "--tls-verify=false"],
      ...["--creds", `${registry.username}:${registry.password}`, `docker://${name}@${digest}`],
    ]);
    assert.deepEqual(JSON.parse(raw), manifest, "the pinned digest is the tag's image");
  } finally {
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("the README's pack JSON sample is what packing examples/prefect/flows prints", async () => {
  const sample = README.match(/It prints the output path,[\s\S]*?```json\n([\s\S]*?)```/)![1];
  const expected = JSON.parse(sample.replaceAll("sha256:…", "sha256:x"));
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-tour-" });
  try {
    await run("cp", ["-r", `${REPO}examples/prefect/flows`, tmp]);
    const packed = await run(Deno.execPath(), [
      ...["run", ...RUN_FLAGS, `${REPO}main.ts`],
      ...["pack", "./flows", "-o", "flows.tar.gz", "--json"],
    ], { cwd: tmp });
    assert.equal(packed.code, 0, shown(packed));
    const actual = JSON.parse(packed.stdout);
    assert.deepEqual(
      { ...actual, digest: "sha256:x", diffId: "sha256:x" },
      expected,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("the README's way to run from source uses exactly the binary's permissions", () => {
  const section = README.slice(README.indexOf("### Running from source"));
  const alias = section.match(/alias ocisync='deno run (.*) \/path\/to\/ocisync\/main\.ts'/)![1];
  assert.deepEqual(alias.split(" "), RUN_FLAGS);
});
