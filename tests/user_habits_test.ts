/**
 * What a user of ORAS, Docker, crane or prefect-docker expects of ocisync's outputs: digests that
 * depend on content alone, the fields their templates read, one order of precedence for output
 * flags, ORAS's default artifact type, and the documented exit codes. Expected values come from
 * skopeo and node:crypto, never from ocisync.
 */
import assert from "node:assert/strict";
import { ExitCode } from "../src/cli/exit.ts";
import { ocisync, runOk, shown, stripEscapes } from "./helpers/cli.ts";
import { requireTool } from "./helpers/tools.ts";
import { RUN_FLAGS } from "../scripts/permissions.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
import { writeTree } from "./helpers/tree.ts";

requireTool("skopeo", "skopeo");

/** The manifest skopeo reads at `reference` (an `oci:` layout reference). */
async function skopeoManifest(
  reference: string,
): Promise<{ config: { digest: string }; layers: unknown[]; artifactType?: string }> {
  return JSON.parse(await runOk("skopeo", ["inspect", "--raw", reference]));
}

Deno.test("the image digest depends on the layer's bytes, not on its file's name or the source path", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-habits-" });
  try {
    await writeTree(`${tmp}/flows`, { "etl.py": { type: "file", content: "print(1)\n" } });
    const packed = await ocisync([
      "pack",
      `${tmp}/flows`,
      "--prefix",
      "/opt/flows",
      "-o",
      `${tmp}/a.tar.gz`,
    ]);
    assert.equal(packed.code, 0, shown(packed));
    await Deno.copyFile(`${tmp}/a.tar.gz`, `${tmp}/other-name.tgz`);
    const digests = [];
    for (const source of [`${tmp}/a.tar.gz`, `${tmp}/other-name.tgz`, `${tmp}/flows:/opt/flows`]) {
      const push = await ocisync(["push", `oci:${tmp}/layout:v${digests.length}`, source, "-q"]);
      assert.equal(push.code, 0, shown(push));
      const manifest = await skopeoManifest(`oci:${tmp}/layout:v${digests.length}`);
      digests.push(push.stdout.trim().split("@")[1]);
      const config = JSON.parse(
        await runOk("skopeo", [
          "inspect",
          "--config",
          "--raw",
          `oci:${tmp}/layout:v${digests.length - 1}`,
        ]),
      );
      assert.ok(!JSON.stringify(config).includes(tmp), "no local path in the config");
      assert.ok(!JSON.stringify(config).includes("other-name"), "no file name in the config");
      assert.equal(manifest.layers.length, 1);
    }
    assert.equal(new Set(digests).size, 1, `one digest however the layer came: ${digests}`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("push --json gives image_id, the config's digest, as prefect-docker's templates read it", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-habits-" });
  try {
    await writeTree(`${tmp}/flows`, { "etl.py": { type: "file", content: "print(1)\n" } });
    const push = await ocisync(["push", `oci:${tmp}/layout:v1`, `${tmp}/flows`, "--json"]);
    assert.equal(push.code, 0, shown(push));
    const manifest = await skopeoManifest(`oci:${tmp}/layout:v1`);
    assert.equal(JSON.parse(push.stdout).image_id, manifest.config.digest);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("push --files without --artifact-type uses ORAS's default type", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-habits-" });
  try {
    await Deno.writeTextFile(`${tmp}/a.yaml`, "a: 1\n");
    const push = await ocisync(["push", `oci:${tmp}/layout:v1`, "--files", "a.yaml"], { cwd: tmp });
    assert.equal(push.code, 0, shown(push));
    const manifest = await skopeoManifest(`oci:${tmp}/layout:v1`);
    assert.equal(manifest.artifactType, "application/vnd.unknown.artifact.v1");
    const help = await ocisync(["push", "--help"]);
    assert.match(help.stdout, /--artifact-type TYPE .*application\/vnd\.unknown\.artifact\.v1/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("--json outranks -q in every command that takes both", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-habits-" });
  try {
    await writeTree(`${tmp}/flows`, { "etl.py": { type: "file", content: "print(1)\n" } });
    const layout = `oci:${tmp}/layout:v1`;
    const runs = {
      pack: ["pack", `${tmp}/flows`, "-o", `${tmp}/l.tgz`],
      push: ["push", layout, `${tmp}/flows`],
      inspect: ["inspect", layout],
      tags: ["tags", `oci:${tmp}/layout`],
      pull: ["pull", layout, "-o", `${tmp}/out`],
      copy: ["copy", layout, `oci:${tmp}/copy:v1`],
      version: ["version"],
    };
    for (const [name, args] of Object.entries(runs)) {
      const result = await ocisync([...args, "--json", "-q"]);
      assert.equal(result.code, 0, `${name}: ${shown(result)}`);
      const parsed = JSON.parse(result.stdout);
      assert.ok(parsed !== null && typeof parsed === "object", `${name} printed ${result.stdout}`);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a missing folder, layer file or artifact file is exit 4, as the README's table says", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-habits-" });
  try {
    for (
      const args of [
        ["push", `oci:${tmp}/layout:v1`, `${tmp}/nosuchdir`],
        ["push", `oci:${tmp}/layout:v1`, `${tmp}/nosuchdir:/opt/x`],
        ["push", `oci:${tmp}/layout:v1`, "--files", `${tmp}/nosuch.yaml`],
        ["pack", `${tmp}/nosuchdir`, "-o", `${tmp}/x.tgz`],
      ]
    ) {
      const result = await ocisync(args);
      assert.equal(result.code, ExitCode.NotFound, `${args.join(" ")}: ${shown(result)}`);
      assert.match(result.stderr, /nosuch/);
    }
    assert.deepEqual([...Deno.readDirSync(tmp)], [], "nothing created");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("on a terminal, push draws packing and upload lines with their bytes, and a total", async () => {
  requireTool("script", "bsdutils");
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-habits-" });
  try {
    await Deno.mkdir(`${tmp}/src`);
    await Deno.writeFile(`${tmp}/src/data.bin`, crypto.getRandomValues(new Uint8Array(60_000)));
    const command = [
      Deno.execPath(),
      "run",
      ...RUN_FLAGS,
      MAIN,
      "push",
      `oci:${tmp}/layout:v1`,
      `${tmp}/src`,
    ].join(" ");
    // script(1) runs the command on a pseudo-terminal, as a person's shell would.
    const screen = await runOk("script", ["-qc", command, "/dev/null"], { env: { TERM: "xterm" } });
    const lines = stripEscapes(screen).split(/\r|\n/).filter(Boolean);
    assert.ok(lines.some((l) => /^packing .*\/src +\[#{20}\] +\d+\.\d KiB +done$/.test(l)), screen);
    assert.ok(lines.some((l) => /^[0-9a-f]{12} +\[#{20}\] .* done$/.test(l)), screen);
    assert.ok(lines.some((l) => /^total +\[#{20}\] +\d+\.\d KiB \/ \d+\.\d KiB/.test(l)), screen);
    assert.ok(lines.some((l) => l.startsWith("pushed oci:")), screen);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
