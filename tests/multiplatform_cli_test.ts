/**
 * Issue 17's multi-platform flags through the CLI, against the real Distribution registry:
 * `build --platform linux/amd64,linux/arm64` (its JSON, its dry run, `-q`), `push --base INDEX
 * --platform all` with and without `--keep-index-entries`, and `deps --platform linux/arm64`
 * installing the aarch64 wheel. The base index and the project of native wheels are those of
 * `multiplatform_test.ts`.
 */
import assert from "node:assert/strict";
import { ExitCode } from "../src/cli/exit.ts";
import { ocisync, ocisyncOk, runOk, shown } from "./helpers/cli.ts";
import { sha256Digest } from "./helpers/hash.ts";
import { type Schema, validate } from "./helpers/json_schema.ts";
import {
  INDEX,
  ocisyncJson,
  pushBaseIndex,
  rawManifest,
  skopeoRaw,
  writeProject,
  writes,
} from "./helpers/multiplatform.ts";
import { withRegistry } from "./helpers/registry.ts";
import { requireTool } from "./helpers/tools.ts";
import { installCalls, recordingPip, requirePip, writeWheels } from "./helpers/wheels.ts";

requireTool("skopeo", "skopeo");
requirePip();

const MODULE = "opt/ocisync/deps/nativepkg/__init__.py";
const PUSH_SCHEMA: Schema = JSON.parse(
  await Deno.readTextFile(new URL("../docs/schemas/push.schema.json", import.meta.url)),
);

Deno.test("multiplatform CLI: build --platform amd64,arm64 writes the index its --json and --dry-run name", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const base = await pushBaseIndex(registry, tmp);
    const image = `${registry.host}/flows/cli`;
    // The recipe says one platform; the flag overrides it.
    const recipe = await writeProject(tmp, `${image}:1`, base.ref, "[linux/amd64]");
    const pip = await recordingPip(tmp);
    const env = { XDG_CACHE_HOME: `${tmp}/cache`, OCISYNC_INSTALLER_COMMAND: pip.command };
    const build = ["build", "-f", recipe, "--platform", "linux/amd64,linux/arm64"];

    // A dry run, in words and in JSON: the same digests, and nothing written.
    const before = (await registry.requests()).length;
    const human = await ocisyncOk([...build, "--dry-run"], { env });
    const dry = JSON.parse(await ocisyncOk([...build, "--dry-run", "--json"], { env }));
    assert.deepEqual(writes((await registry.requests()).slice(before)), []);
    assert.equal((await installCalls(pip.log)).length, 2, "one install per platform, then cached");
    assert.deepEqual(validate(PUSH_SCHEMA, dry), []);
    assert.equal(dry.dry_run, true);
    assert.equal(dry.image_id, undefined, "an index has no config");
    assert.deepEqual(dry.platforms.map((p: { platform: string }) => p.platform), [
      "linux/amd64",
      "linux/arm64/v8",
    ]);
    const lines = human.trimEnd().split("\n");
    assert.equal(lines[0], `would push ${image}@${dry.digest} (index)`);
    assert.equal(lines[1], "  tag     1");
    assert.equal(lines[2], `  image   linux/amd64    ${dry.platforms[0].digest}`);
    assert.equal(lines[3], `  image   linux/arm64/v8 ${dry.platforms[1].digest}`);
    assert.equal(lines.length, 4, human);

    // The flag repeated means the same as the comma-separated list.
    const repeated = [
      "build",
      "-f",
      recipe,
      "--platform",
      "linux/amd64",
      "--platform",
      "linux/arm64",
    ];
    const built = JSON.parse(await ocisyncOk([...repeated, "--json"], { env }));
    assert.deepEqual(validate(PUSH_SCHEMA, built), []);
    assert.equal(built.digest, dry.digest, "the dry run's index digest is the pushed one");
    assert.deepEqual(built.platforms, dry.platforms);
    assert.equal(built.image, `${image}:1`);
    assert.ok(built.uploaded > 0);
    assert.equal(sha256Digest(await rawManifest(registry, "flows/cli", "1")), built.digest);
    const index = await skopeoRaw(`${image}:1`);
    assert.equal(index.mediaType, INDEX);
    assert.deepEqual(
      index.manifests.map((m: { platform: unknown; digest: string }) => [m.platform, m.digest]),
      [
        [{ architecture: "amd64", os: "linux" }, dry.platforms[0].digest],
        [{ architecture: "arm64", os: "linux", variant: "v8" }, dry.platforms[1].digest],
      ],
    );
    // Each platform's layers, as the JSON lists them, are its manifest's.
    for (const [i, entry] of index.manifests.entries()) {
      const manifest = await skopeoRaw(`${image}@${entry.digest}`);
      assert.deepEqual(
        manifest.layers.map((l: { digest: string }) => l.digest),
        built.platforms[i].layers.map((l: { digest: string }) => l.digest),
      );
    }

    const quiet = await ocisyncOk([...build, "-q"], { env });
    assert.equal(quiet, `${image}@${built.digest}\n`);
  });
});

Deno.test("multiplatform CLI: push --base INDEX --platform all appends a layer to each platform", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const base = await pushBaseIndex(registry, tmp);
    await Deno.mkdir(`${tmp}/app`);
    await Deno.writeTextFile(`${tmp}/app/hello.txt`, "hello\n");
    const layer = await ocisyncJson(["pack", `${tmp}/app`, "-o", `${tmp}/app.tar.gz`]);
    const push = (ref: string, ...more: string[]) =>
      ocisync([
        "push",
        `${registry.host}/${ref}`,
        `${tmp}/app.tar.gz`,
        "--base",
        base.ref,
        ...more,
      ]);

    const all = await push("app/all:1", "--platform", "all", "--json");
    assert.equal(all.code, 0, shown(all));
    const report = JSON.parse(all.stdout);
    assert.deepEqual(validate(PUSH_SCHEMA, report), []);
    const index = await skopeoRaw(`${registry.host}/app/all:1`);
    assert.equal(sha256Digest(await rawManifest(registry, "app/all", "1")), report.digest);
    assert.deepEqual(
      index.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture),
      ["amd64", "arm64"],
      "the attestation is left out",
    );
    assert.deepEqual(
      report.platforms.map((p: { digest: string }) => p.digest),
      index.manifests.map((m: { digest: string }) => m.digest),
    );
    for (const entry of index.manifests) {
      const manifest = await skopeoRaw(`${registry.host}/app/all@${entry.digest}`);
      assert.equal(manifest.layers.at(-1).digest, layer.digest);
    }

    const kept = await push("app/kept:1", "--platform", "all", "--keep-index-entries", "-q");
    assert.equal(kept.code, 0, shown(kept));
    const keptIndex = await skopeoRaw(`${registry.host}/app/kept:1`);
    assert.equal(
      kept.stdout,
      `${registry.host}/app/kept@${
        sha256Digest(
          await rawManifest(registry, "app/kept", "1"),
        )
      }\n`,
    );
    assert.deepEqual(
      keptIndex.manifests.map((m: { platform: { architecture: string } }) =>
        m.platform.architecture
      ),
      ["amd64", "arm64", "unknown"],
    );
    assert.equal(keptIndex.manifests[2].digest, base.attestation, "the attestation, as it was");

    // A list picks platforms; one the base lacks is named before anything is sent.
    const before = (await registry.requests()).length;
    const missing = await push("app/missing:1", "--platform", "linux/arm64,linux/s390x");
    assert.equal(missing.code, ExitCode.NotFound, shown(missing));
    assert.match(
      missing.stderr,
      /has no image for linux\/s390x; it has linux\/amd64, linux\/arm64/,
    );
    assert.deepEqual(writes((await registry.requests()).slice(before)), []);
    const human = await push("app/two:1", "--platform", "linux/arm64", "--platform", "linux/amd64");
    assert.equal(human.code, 0, shown(human));
    assert.match(human.stdout, /^pushed \S+\/app\/two@sha256:[0-9a-f]{64} \(index\)\n/);
    assert.match(human.stdout, /\n {2}image {3}linux\/arm64\/v8 sha256:/);
    assert.match(human.stdout, /\n {2}blobs {3}\d+ uploaded/);
    // Named in either order, the platforms come in the base index's order: one index.
    assert.equal(sha256Digest(await rawManifest(registry, "app/two", "1")), report.digest);

    const usage = await Promise.all([
      push("app/x:1", "--keep-index-entries"),
      ocisync(["push", `${registry.host}/app/x:1`, `${tmp}/app.tar.gz`, "--platform", "all"]),
    ]);
    for (const result of usage) assert.equal(result.code, ExitCode.Usage, shown(result));
  });
});

Deno.test("multiplatform CLI: deps --platform linux/arm64 installs the aarch64 wheel", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ob-deps-" });
  try {
    await writeWheels(`${tmp}/wheels`);
    await Deno.writeTextFile(`${tmp}/requirements.txt`, "nativepkg==1.0\n");
    const pip = await recordingPip(tmp);
    const env = { XDG_CACHE_HOME: `${tmp}/cache` };
    const deps = (platform: string, out: string) =>
      ocisyncOk([
        "deps",
        "-r",
        `${tmp}/requirements.txt`,
        "-o",
        `${tmp}/${out}`,
        "--python-version",
        "3.12",
        "--platform",
        platform,
        "--installer",
        "pip",
        "--installer-command",
        pip.command,
        "--no-index",
        "--find-links",
        `${tmp}/wheels`,
        "-q",
      ], { env });
    await deps("linux/arm64", "arm64.tar.gz");
    assert.equal(
      await runOk("tar", ["-xzOf", `${tmp}/arm64.tar.gz`, MODULE]),
      "ARCH = 'aarch64'\n",
    );
    await deps("linux/amd64", "amd64.tar.gz");
    assert.equal(await runOk("tar", ["-xzOf", `${tmp}/amd64.tar.gz`, MODULE]), "ARCH = 'x86_64'\n");
    const calls = await installCalls(pip.log);
    assert.match(calls[0], /--platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64/);
    assert.match(calls[0], /--implementation cp --abi cp312/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("multiplatform CLI: inspect --config of an index prints the host's platform's config, and says so", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const base = await pushBaseIndex(registry, tmp);
    // What the registry holds, read without ocisync: the config of the host's image.
    const host = Deno.build.arch === "aarch64" ? "arm64" : "amd64";
    const other = host === "amd64" ? "arm64" : "amd64";
    const manifest = JSON.parse(
      new TextDecoder().decode(await rawManifest(registry, "base/multi", host)),
    );
    const blob = await fetch(
      `http://${registry.host}/v2/base/multi/blobs/${manifest.config.digest}`,
    );
    const config = new Uint8Array(await blob.arrayBuffer());
    assert.equal(JSON.parse(new TextDecoder().decode(config)).architecture, host);

    const plain = await ocisync(["inspect", base.ref, "--config"]);
    assert.equal(plain.code, 0, shown(plain));
    assert.equal(plain.stdout, new TextDecoder().decode(config));
    assert.equal(
      plain.stderr,
      `${registry.host}/base/multi@${base.digest} is an index: the config of linux/${host} ` +
        `(the host's), ${base[host]}\n`,
    );
    for (const mode of ["--json", "-q"]) {
      const result = await ocisync(["inspect", base.ref, "--config", mode]);
      assert.equal(result.code, 0, shown(result));
      assert.equal(result.stdout, plain.stdout, `${mode} prints the config too`);
      assert.equal(result.stderr, "", `${mode} is silent on stderr`);
    }

    // An index without the host's platform: exit 4, naming what it has and how to pick one.
    const entry = (await skopeoRaw(base.ref)).manifests.find((m: { digest: string }) =>
      m.digest === base[other]
    );
    const index = JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [entry] });
    const put = await fetch(`http://${registry.host}/v2/base/multi/manifests/foreign`, {
      method: "PUT",
      headers: { "content-type": INDEX },
      body: index,
    });
    assert.equal(put.status, 201, await put.text());
    const foreign = await ocisync(["inspect", `${registry.host}/base/multi:foreign`, "--config"]);
    assert.equal(foreign.code, ExitCode.NotFound, shown(foreign));
    assert.equal(foreign.stdout, "");
    assert.match(
      foreign.stderr,
      new RegExp(`no manifest for linux/${host}; it has linux/${other}`),
    );
    assert.ok(
      foreign.stderr.includes(
        `\nhint: \`ocisync inspect ${registry.host}/base/multi@${
          sha256Digest(new TextEncoder().encode(index))
        }\` lists the digest of each; give one: \`ocisync inspect ${registry.host}/base/multi@DIGEST --config\`\n`,
      ),
      shown(foreign),
    );
    assert.doesNotMatch(foreign.stderr, /--platform/, "inspect takes no --platform");
  });
});
