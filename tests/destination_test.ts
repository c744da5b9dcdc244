/**
 * What a destination reference asks to be written. A digest in it (`REPO@sha256:…`,
 * `REPO:TAG@sha256:…`) is an assertion, as skopeo reads it: a manifest with another digest is
 * refused before it or a tag is stored, by every command that writes (copy, push, build) and into
 * every kind of target. Each case runs the CLI against the real registry, or real layouts and
 * archives, and asks skopeo or the registry's own API what they hold; every expected digest is
 * computed from bytes that skopeo read.
 */
import assert from "node:assert/strict";
import { copy, IntegrityError, pushFolder } from "../mod.ts";
import { ocisync, runOk, type RunResult, shown } from "./helpers/cli.ts";
import { sha256Digest } from "./helpers/hash.ts";
import { type TestRegistry, withRegistry } from "./helpers/registry.ts";
import { isolatedEnv } from "./helpers/servers.ts";
import { requireTool } from "./helpers/tools.ts";

requireTool("skopeo", "skopeo");

/** A digest no image has. */
const OTHER = `sha256:${"f".repeat(64)}`;

/** Fails unless the run was refused as a digest mismatch (exit 5), naming both digests. */
function assertDigestRefused(result: RunResult, wanted: string): void {
  assert.equal(result.code, 5, shown(result));
  assert.match(result.stderr, /^ocisync: error: the destination names /m, shown(result));
  assert.ok(result.stderr.includes(wanted), shown(result));
  assert.equal(result.stdout, "", shown(result));
}

/** `ocisync ARGS…` run in `tmp`, with its own environment, beside a folder `src` of one file. */
async function cliWithSource(tmp: string): Promise<(args: string[]) => Promise<RunResult>> {
  await Deno.mkdir(`${tmp}/src`);
  await Deno.writeTextFile(`${tmp}/src/a.txt`, "a\n");
  const env = isolatedEnv(tmp);
  return (args) => ocisync(args, { cwd: tmp, env });
}

/** `src` pushed to `REGISTRY/app:v1`, and that manifest's digest, as skopeo reads it. */
async function pushedSource(
  registry: TestRegistry,
  run: (args: string[]) => Promise<RunResult>,
): Promise<{ source: string; digest: string }> {
  const source = `${registry.host}/app:v1`;
  assert.equal((await run(["push", source, "src:/app", "-q"])).code, 0);
  return { source, digest: await skopeoDigest(`docker://${source}`) };
}

/** The tags of `repository`, from the registry's API: none when it has none, or does not exist. */
async function registryTags(registry: TestRegistry, repository: string): Promise<string[]> {
  const response = await fetch(`http://${registry.host}/v2/${repository}/tags/list`);
  if (response.status === 404) {
    await response.body?.cancel();
    return [];
  }
  assert.equal(response.status, 200);
  return ((await response.json()) as { tags: string[] | null }).tags ?? [];
}

/** Whether the registry holds the manifest `digest` in `repository`. */
async function hasManifest(
  registry: TestRegistry,
  repository: string,
  digest: string,
): Promise<boolean> {
  const response = await fetch(`http://${registry.host}/v2/${repository}/manifests/${digest}`, {
    method: "HEAD",
    headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
  });
  await response.body?.cancel();
  return response.status === 200;
}

/** The digest of the manifest skopeo reads at `ref` (`docker://…`, `oci:…`), hashed here. */
async function skopeoDigest(ref: string): Promise<string> {
  return sha256Digest(await runOk("skopeo", ["inspect", "--raw", "--tls-verify=false", ref]));
}

/** The `index.json` entries of a layout: each manifest's digest and its `ref.name`, if any. */
async function layoutEntries(dir: string): Promise<{ digest: string; tag?: string }[]> {
  const index = JSON.parse(await Deno.readTextFile(`${dir}/index.json`)) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  return index.manifests.map((m) => ({
    digest: m.digest,
    ...(m.annotations?.["org.opencontainers.image.ref.name"]
      ? { tag: m.annotations["org.opencontainers.image.ref.name"] }
      : {}),
  }));
}

Deno.test("destination digest: copy to REPO@D refuses another digest, writes a matching one untagged", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const run = await cliWithSource(tmp);
    const { source, digest } = await pushedSource(registry, run);

    // Another digest, with or without a tag: nothing is stored, neither the manifest nor a tag.
    assertDigestRefused(await run(["copy", source, `${registry.host}/dg@${OTHER}`]), OTHER);
    assertDigestRefused(await run(["copy", source, `${registry.host}/dg:v2@${OTHER}`]), OTHER);
    assert.deepEqual(await registryTags(registry, "dg"), []);
    assert.equal(await hasManifest(registry, "dg", digest), false);

    // The digest it has: stored by digest, under no tag, and reported so (never as `:v1`).
    const byDigest = await run(["copy", source, `${registry.host}/dg@${digest}`, "--json"]);
    assert.equal(byDigest.code, 0, shown(byDigest));
    const report = JSON.parse(byDigest.stdout);
    assert.equal(report.digest, digest);
    assert.deepEqual(report.images.map((i: { tag: string | null }) => i.tag), [null]);
    assert.deepEqual(await registryTags(registry, "dg"), []);
    assert.equal(await hasManifest(registry, "dg", digest), true);
    const text = await run(["copy", source, `${registry.host}/dg2@${digest}`]);
    assert.equal(text.code, 0, shown(text));
    assert.match(text.stdout, new RegExp(`^copied ${registry.host}/dg2@${digest}\n`));
    assert.deepEqual(await registryTags(registry, "dg2"), []);

    // A tag and the digest it has: the tag is written.
    const tagged = await run(["copy", source, `${registry.host}/dg:v2@${digest}`]);
    assert.equal(tagged.code, 0, shown(tagged));
    assert.deepEqual(await registryTags(registry, "dg"), ["v2"]);
    assert.equal(await skopeoDigest(`docker://${registry.host}/dg:v2`), digest);
  });
});

Deno.test("destination digest: copy into a layout or an oci-archive checks it too", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const run = await cliWithSource(tmp);
    const { source, digest } = await pushedSource(registry, run);

    assertDigestRefused(await run(["copy", source, `oci:${tmp}/lay@${OTHER}`]), OTHER);
    const entries = await layoutEntries(`${tmp}/lay`).catch(() => []);
    assert.deepEqual(entries, [], "the layout lists no image");
    assertDigestRefused(await run(["copy", source, `oci-archive:${tmp}/a.tar@${OTHER}`]), OTHER);
    assert.equal(await Deno.stat(`${tmp}/a.tar`).catch(() => undefined), undefined);

    assert.equal((await run(["copy", source, `oci:${tmp}/lay@${digest}`])).code, 0);
    assert.deepEqual(await layoutEntries(`${tmp}/lay`), [{ digest }], "untagged: not v1");
    assert.equal((await run(["copy", source, `oci-archive:${tmp}/a.tar@${digest}`])).code, 0);
    assert.equal(await skopeoDigest(`oci-archive:${tmp}/a.tar`), digest);
  });
});

Deno.test("destination digest: push and build refuse to write another digest under REF@D", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const run = await cliWithSource(tmp);
    const refused: string[][] = [
      ["push", `${registry.host}/p:v9@${OTHER}`, "src:/app"],
      ["push", `${registry.host}/p@${OTHER}`, "src:/app"],
      [
        "push",
        `${registry.host}/p:v9@${OTHER}`,
        "src:/app",
        "--platform",
        "linux/amd64,linux/arm64",
      ],
      ["push", `${registry.host}/p:v9@${OTHER}`, "src/a.txt", "--files"],
      ["build", "--image", `${registry.host}/p:v9@${OTHER}`],
      ["push", `oci:${tmp}/lay@${OTHER}`, "src:/app"],
      ["push", `oci-archive:${tmp}/p.tar@${OTHER}`, "src:/app"],
    ];
    await Deno.writeTextFile(
      `${tmp}/ocisync.yaml`,
      "image: oci:./built:v1\nlayers:\n  - source: src\n    dest: /app\n",
    );
    for (const args of refused) assertDigestRefused(await run(args), OTHER);
    assert.deepEqual(await registryTags(registry, "p"), []);
    assert.deepEqual(await layoutEntries(`${tmp}/lay`).catch(() => []), []);
    assert.equal(await Deno.stat(`${tmp}/p.tar`).catch(() => undefined), undefined);

    // The digest the same push makes (read by skopeo from a tagged push): written, untagged.
    assert.equal((await run(["push", `${registry.host}/p:v1`, "src:/app"])).code, 0);
    const digest = await skopeoDigest(`docker://${registry.host}/p:v1`);
    const pinned = await run(["push", `${registry.host}/q@${digest}`, "src:/app"]);
    assert.equal(pinned.code, 0, shown(pinned));
    assert.equal(await hasManifest(registry, "q", digest), true);
    assert.deepEqual(await registryTags(registry, "q"), []);
  });
});

Deno.test("destination digest: the library's pushFolder and copy refuse another digest too", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${tmp}/src`);
    await Deno.writeTextFile(`${tmp}/src/a.txt`, "a\n");
    await assert.rejects(
      () => pushFolder(`oci:${tmp}/lay@${OTHER}`, `${tmp}/src`),
      (error) => error instanceof IntegrityError && error.message.includes(OTHER),
    );
    assert.deepEqual(await layoutEntries(`${tmp}/lay`).catch(() => []), []);
    await pushFolder(`oci:${tmp}/src-lay:v1`, `${tmp}/src`);
    await assert.rejects(
      () => copy(`oci:${tmp}/src-lay:v1`, `oci:${tmp}/copied@${OTHER}`),
      (error) => error instanceof IntegrityError && error.message.includes(OTHER),
    );
    assert.deepEqual(await layoutEntries(`${tmp}/copied`).catch(() => []), []);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("destination without a tag: REPO means REPO:latest, as skopeo writes it and pull reads it", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const run = await cliWithSource(tmp);
    const { source, digest } = await pushedSource(registry, run);

    // Each form of the result names the tag written.
    const text = await run(["copy", source, `${registry.host}/nr`]);
    assert.equal(text.code, 0, shown(text));
    assert.match(text.stdout, new RegExp(`^copied ${registry.host}/nr:latest@${digest}\n`));
    const json = await run(["copy", source, `${registry.host}/nr2`, "--json"]);
    assert.equal(json.code, 0, shown(json));
    assert.deepEqual(JSON.parse(json.stdout).images.map((i: { tag: string }) => i.tag), [
      "latest",
    ]);
    const quiet = await run(["copy", source, `${registry.host}/nr3`, "-q"]);
    assert.equal(quiet.stdout, `${registry.host}/nr3@${digest}\n`, shown(quiet));
    for (const repository of ["nr", "nr2", "nr3"]) {
      assert.deepEqual(await registryTags(registry, repository), ["latest"], repository);
      assert.equal(await skopeoDigest(`docker://${registry.host}/${repository}`), digest);
    }
    // What was written is what a read of the same reference finds.
    const pulled = await run(["pull", `${registry.host}/nr`, "-o", "out"]);
    assert.equal(pulled.code, 0, shown(pulled));
    assert.equal(await Deno.readTextFile(`${tmp}/out/app/a.txt`), "a\n");

    // A docker-archive's NAME alone is NAME:latest too.
    const archive = await run(["copy", source, `docker-archive:${tmp}/d.tar:app`]);
    assert.equal(archive.code, 0, shown(archive));
    const saved = JSON.parse(await runOk("tar", ["-xOf", `${tmp}/d.tar`, "manifest.json"]));
    assert.deepEqual(saved[0].RepoTags, ["docker.io/library/app:latest"]);

    // A layout holds images side by side: each keeps its source's tag.
    assert.equal((await run(["copy", source, `oci:${tmp}/lay`])).code, 0);
    assert.deepEqual(await layoutEntries(`${tmp}/lay`), [{ digest, tag: "v1" }]);

    // A tag policy picks a source tag of a repository: the mirror gets that tag.
    assert.equal((await run(["push", `${registry.host}/app:1.2.0`, "src:/app"])).code, 0);
    const picked = await run([
      "copy",
      `${registry.host}/app`,
      `${registry.host}/mir`,
      "--semver",
      "^1",
    ]);
    assert.equal(picked.code, 0, shown(picked));
    assert.deepEqual(await registryTags(registry, "mir"), ["1.2.0"]);
  });
});

Deno.test("--platform all: copy takes it as push does, the whole index, and refuses it mixed", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const run = await cliWithSource(tmp);
    const source = `${registry.host}/idx:v1`;
    const pushed = await run(["push", source, "src:/app", "--platform", "linux/amd64,linux/arm64"]);
    assert.equal(pushed.code, 0, shown(pushed));
    const index = await skopeoDigest(`docker://${source}`);

    const copied = await run(["copy", source, `${registry.host}/all:v1`, "--platform", "all"]);
    assert.equal(copied.code, 0, shown(copied));
    assert.equal(await skopeoDigest(`docker://${registry.host}/all:v1`), index);
    const local = await run(["copy", source, `oci:${tmp}/lay:v1`, "--platform=all"]);
    assert.equal(local.code, 0, shown(local));
    assert.equal(await skopeoDigest(`oci:${tmp}/lay:v1`), index);

    // A docker-archive holds one platform: `all` is refused before anything is read or written.
    const archive = await run(["copy", source, `docker-archive:${tmp}/d.tar`, "--platform", "all"]);
    assert.equal(archive.code, 2, shown(archive));
    assert.match(archive.stderr, /a docker-archive holds one platform: --platform all cannot/);
    assert.equal(await Deno.stat(`${tmp}/d.tar`).catch(() => undefined), undefined);

    // Mixed with a platform, by either command: the same refusal.
    for (
      const args of [
        ["copy", source, `${registry.host}/mixed:v1`, "--platform", "all,linux/amd64"],
        [
          "push",
          `${registry.host}/mixed:v1`,
          "src",
          "--base",
          source,
          "--platform",
          "all,linux/amd64",
        ],
      ]
    ) {
      const mixed = await run(args);
      assert.equal(mixed.code, 2, shown(mixed));
      assert.match(mixed.stderr, /--platform all stands alone/, shown(mixed));
    }
    assert.deepEqual(await registryTags(registry, "mixed"), []);
  });
});

Deno.test("docker-archive:FILE:NAME reads NAME:latest, as skopeo does: a name the archive lacks is not found", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const run = await cliWithSource(tmp);
    assert.equal((await run(["push", `oci:${tmp}/lay:v1`, "src:/app"])).code, 0);
    // The archive is skopeo's, holding one image: docker.io/library/app:v1.
    await runOk("skopeo", ["copy", `oci:${tmp}/lay:v1`, `docker-archive:${tmp}/d.tar:app:v1`]);
    const file = `docker-archive:${tmp}/d.tar`;

    for (const name of ["v9", "nope", "app"]) {
      const wanted = `docker.io/library/${name}:latest`;
      const skopeo = await runOk("skopeo", ["inspect", "--raw", `${file}:${name}`]).catch(
        (error: Error) => error.message,
      );
      assert.ok(skopeo.includes(wanted) && skopeo.includes("not found"), `skopeo: ${skopeo}`);
      const inspected = await run(["inspect", `${file}:${name}`]);
      assert.equal(inspected.code, 4, shown(inspected));
      assert.ok(inspected.stderr.includes(`"${wanted}" not found`), shown(inspected));
      assert.equal(inspected.stdout, "", shown(inspected));
      const pulled = await run(["pull", `${file}:${name}`, "-o", "out"]);
      assert.equal(pulled.code, 4, shown(pulled));
      assert.equal(await Deno.stat(`${tmp}/out`).catch(() => undefined), undefined);
    }
    // The name and tag it has, or no name at all (its only image): found.
    for (const ref of [`${file}:app:v1`, `${file}:docker.io/library/app:v1`, file]) {
      const found = await run(["inspect", ref, "-q"]);
      assert.equal(found.code, 0, shown(found));
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
