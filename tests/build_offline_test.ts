/**
 * `ocisync build --dry-run` without the network: once a build has read a base pinned by digest
 * and cached the dependency layer, a dry run gives the same digests with the registry gone, and
 * runs no installer. A damaged cache entry is a miss, never trusted; a base pinned by tag only
 * still needs its registry, and the error says how to do without.
 */
import assert from "node:assert/strict";
import { ocisync, type RunResult, shown } from "./helpers/cli.ts";
import { type TestRegistry, withRegistry } from "./helpers/registry.ts";
import { silentListener } from "./helpers/servers.ts";
import {
  installCalls,
  offlineRecipe,
  recordingPip,
  requirePip,
  writeWheels,
} from "./helpers/wheels.ts";

requirePip();

/** A line of `-v` that logs an HTTP request, `GET http://… -> 200`. */
const REQUEST_LOG = /^(GET|HEAD|POST|PUT|PATCH|DELETE) https?:\/\//m;

/** Runs ocisync with `env` and no retries, so that a refused connection fails at once. */
async function run(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return await ocisync([...args, "--retries", "0"], { env });
}

/** Runs ocisync with `--json`, and expects success. */
async function runJson(args: string[], env: Record<string, string> = {}) {
  const result = await run([...args, "--json"], env);
  assert.equal(result.code, 0, shown(result));
  return { ...JSON.parse(result.stdout), stderr: result.stderr };
}

/** The digests a build reports: the image's and its layers'. */
function digestsOf(result: { digest: string; layers: { digest: string }[] }) {
  return { digest: result.digest, layers: result.layers.map((layer) => layer.digest) };
}

/** Pushes a one-file base image of `platform` to `ref`; returns its manifest digest. */
async function pushBase(tmp: string, ref: string, platform = "linux/amd64"): Promise<string> {
  const folder = `${tmp}/base-${platform.replaceAll("/", "-")}`;
  await Deno.mkdir(`${folder}/etc`, { recursive: true });
  await Deno.writeTextFile(`${folder}/etc/base.txt`, `${platform}\n`);
  const pushed = await runJson([
    "push",
    ref,
    folder,
    "--platform",
    platform,
    "--env",
    "PATH=/usr/bin:/bin",
  ]);
  return pushed.digest;
}

Deno.test("build --dry-run: offline with a cached dependency layer and a base pinned by digest", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const baseRef = `${registry.host}/base/app:1`;
    const baseDigest = await pushBase(tmp, baseRef);
    const project = `${tmp}/project`;
    await writeWheels(`${project}/wheels`);
    await Deno.mkdir(`${project}/flows`);
    await Deno.writeTextFile(`${project}/requirements.txt`, "purepkg==1.0\nclitool==2.0\n");
    await Deno.writeTextFile(`${project}/flows/hello.py`, "print('hello')\n");
    const image = `${registry.host}/flows/app:v1`;
    const pinned = `${project}/ocisync.yaml`;
    await Deno.writeTextFile(pinned, offlineRecipe(image, [`base: ${baseRef}@${baseDigest}`]));
    const byTag = `${project}/by-tag.yaml`;
    await Deno.writeTextFile(byTag, offlineRecipe(image, [`base: ${baseRef}`]));
    const pip = await recordingPip(tmp);
    const cache = `${tmp}/cache`;
    const env = { XDG_CACHE_HOME: cache, OCISYNC_INSTALLER_COMMAND: pip.command };

    // A real build installs the dependencies and reads the base: both are cached.
    const first = await runJson(["build", "-f", pinned], env);
    assert.equal((await installCalls(pip.log)).length, 1);
    const blobs = `${cache}/ocisync/blobs/sha256`;
    const manifest = JSON.parse(await Deno.readTextFile(`${blobs}/${baseDigest.slice(7)}`));
    const baseConfig = `${blobs}/${manifest.config.digest.slice(7)}`;
    assert.ok((await Deno.stat(baseConfig)).isFile, "the base's config is cached");
    assert.equal(first.layers[0].digest, manifest.layers[0].digest, "on the base");

    // Offline: the same digests, no installer, no request.
    await registry.pause();
    const offline = await runJson(["build", "-f", pinned, "--dry-run", "-v"], env);
    assert.equal(offline.dry_run, true);
    assert.deepEqual(digestsOf(offline), digestsOf(first));
    assert.equal((await installCalls(pip.log)).length, 1, "pip did not install again");
    assert.doesNotMatch(offline.stderr, REQUEST_LOG);
    assert.match(offline.stderr, new RegExp(`${baseDigest}: read from the cache`));

    // A base pinned by tag must be resolved by its registry.
    const tagged = await run(["build", "-f", byTag, "--dry-run"], env);
    assert.equal(tagged.code, 6, shown(tagged));
    assert.match(tagged.stderr, /hint: .*pin the base by digest to build offline/, shown(tagged));

    // A damaged entry is a miss, said so in -v and removed; offline, that is a network error.
    const bytes = await Deno.readFile(baseConfig);
    bytes[0] ^= 1;
    await Deno.writeFile(baseConfig, bytes);
    const damaged = await run(["build", "-f", pinned, "--dry-run", "-v"], env);
    assert.equal(damaged.code, 6, shown(damaged));
    assert.match(
      damaged.stderr,
      new RegExp(`the cached ${manifest.config.digest} is damaged`),
      shown(damaged),
    );
    assert.match(damaged.stderr, /hint: .*not all in the cache/, shown(damaged));
    await assert.rejects(Deno.stat(baseConfig), Deno.errors.NotFound);

    // With the registry back, the entry is read and stored again.
    await registry.resume();
    const repaired = await runJson(["build", "-f", pinned, "--dry-run"], env);
    assert.deepEqual(digestsOf(repaired), digestsOf(first));
    bytes[0] ^= 1;
    assert.deepEqual(await Deno.readFile(baseConfig), bytes);
  });
});

Deno.test("build --dry-run: offline with a base index pinned by digest, its platform chosen", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const index = await pushIndex(registry, tmp, `${registry.host}/base/multi`);
    const project = `${tmp}/project`;
    await Deno.mkdir(`${project}/flows`, { recursive: true });
    await Deno.writeTextFile(`${project}/flows/hello.py`, "print('hello')\n");
    const recipe = `${project}/ocisync.yaml`;
    await Deno.writeTextFile(
      recipe,
      [
        `image: ${registry.host}/flows/multi:v1`,
        `base: ${registry.host}/base/multi:1@${index.digest}`,
        "platform: linux/arm64",
        "layers:",
        "  - source: flows",
        "    dest: /opt/prefect/flows",
        "",
      ].join("\n"),
    );
    const env = { XDG_CACHE_HOME: `${tmp}/cache` };

    const online = await runJson(["build", "-f", recipe, "--dry-run"], env);
    assert.equal(online.layers[0].digest, index.arm64Layer, "the arm64 base");
    await registry.pause();
    const offline = await runJson(["build", "-f", recipe, "--dry-run", "-v"], env);
    assert.deepEqual(digestsOf(offline), digestsOf(online));
    assert.doesNotMatch(offline.stderr, REQUEST_LOG);
  });
});

Deno.test("build: projects with one recipe text and their own wheels get their own deps layers", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-build-wheels-" });
  try {
    const pip = await recordingPip(tmp);
    const env = { XDG_CACHE_HOME: `${tmp}/cache`, OCISYNC_INSTALLER_COMMAND: pip.command };
    const build = async (project: string, extra: string[] = []) => {
      // Run from the project, as `ocisync build` is: the recipe's `wheels` is `./wheels` there.
      const result = await ocisync(["build", "--dry-run", "--json", ...extra], {
        cwd: `${tmp}/${project}`,
        env,
      });
      assert.equal(result.code, 0, shown(result));
      return JSON.parse(result.stdout).layers[0].digest as string;
    };
    for (const project of ["a", "b"]) {
      await writeWheels(`${tmp}/${project}/wheels`, [{
        name: "mylib",
        version: "1.0",
        files: { "mylib/__init__.py": `WHO = '${project}'\n` },
      }]);
      await Deno.mkdir(`${tmp}/${project}/flows`);
      await Deno.writeTextFile(`${tmp}/${project}/flows/hello.py`, "print('hello')\n");
      await Deno.writeTextFile(`${tmp}/${project}/requirements.txt`, "mylib==1.0\n");
      await Deno.writeTextFile(`${tmp}/${project}/ocisync.yaml`, offlineRecipe("oci:./out:v1"));
    }

    const a = await build("a");
    const b = await build("b");
    assert.equal((await installCalls(pip.log)).length, 2, "b's wheels are not a's: pip ran again");
    assert.notEqual(b, a);
    assert.equal(await build("b", ["--no-cache"]), b);
    assert.equal(await build("a"), a);
    assert.equal((await installCalls(pip.log)).length, 3, "a's layer came from the cache");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

/**
 * Pushes an amd64 and an arm64 image to `repository`, then an OCI index of both, tagged `1`, as
 * another tool would.
 */
async function pushIndex(registry: TestRegistry, tmp: string, repository: string) {
  const manifests = [];
  let arm64Layer = "";
  for (const platform of ["linux/amd64", "linux/arm64"]) {
    const [os, architecture] = platform.split("/");
    const digest = await pushBase(tmp, `${repository}:${architecture}`, platform);
    const bytes = await registryManifest(registry, repository, digest);
    if (architecture === "arm64") arm64Layer = JSON.parse(bytes).layers[0].digest;
    manifests.push({
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest,
      size: new TextEncoder().encode(bytes).length,
      platform: { os, architecture },
    });
  }
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests,
  });
  const path = repository.slice(registry.host.length);
  const response = await fetch(`http://${registry.host}/v2${path}/manifests/1`, {
    method: "PUT",
    headers: { "content-type": "application/vnd.oci.image.index.v1+json" },
    body,
  });
  await response.body?.cancel();
  assert.equal(response.status, 201);
  return { digest: response.headers.get("docker-content-digest")!, arm64Layer };
}

/** A manifest's text, as the registry serves it. */
async function registryManifest(
  registry: TestRegistry,
  repository: string,
  digest: string,
): Promise<string> {
  const path = repository.slice(registry.host.length);
  const response = await fetch(`http://${registry.host}/v2${path}/manifests/${digest}`, {
    headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
  });
  assert.equal(response.status, 200);
  return await response.text();
}

Deno.test("build: an installer's failure is reported while the base's registry has not answered", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-build-" });
  const silent = silentListener();
  try {
    const project = `${tmp}/project`;
    await Deno.mkdir(`${project}/flows`, { recursive: true });
    await Deno.mkdir(`${project}/wheels`);
    await Deno.writeTextFile(`${project}/flows/hello.py`, "print('hello')\n");
    await Deno.writeTextFile(`${project}/requirements.txt`, "nosuchpkg==1.0\n");
    const recipe = `${project}/ocisync.yaml`;
    await Deno.writeTextFile(
      recipe,
      offlineRecipe("127.0.0.1:9/app:v1", [`base: ${silent.host}/base:1`]),
    );
    const building = ocisync(["build", "-f", recipe, "--timeout", "10m"], {
      env: { XDG_CACHE_HOME: `${tmp}/cache` },
    });
    // Were the build to wait for the base's answer, this would end it after a minute.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) =>
      timer = setTimeout(() => resolve("late"), 60_000)
    );
    const first = await Promise.race([building, late]);
    clearTimeout(timer);
    const reading = silent.hits();
    assert.notEqual(first, "late", "the build waited for the base's registry");
    const result = first as RunResult;
    assert.equal(result.code, 1, shown(result));
    assert.match(result.stderr, /pip failed with exit code/, shown(result));
    assert.ok(reading >= 1, "the base was being read while the layers were made");
  } finally {
    await silent.close();
    await Deno.remove(tmp, { recursive: true });
  }
});
