/**
 * The library as a TypeScript user outside this repository picks it up: the README's script,
 * written into a temporary folder that has no `deno.json` (nor any folder above it), imports
 * `mod.ts` by its address, and runs with the binary's permissions and no `--config`. It pushes a
 * folder to a registry that wants basic auth, with the credentials of the Docker config that
 * `DOCKER_CONFIG` names, and pulls it back. And `copy()` with several sources, platforms and
 * delta archives, against the real registry and skopeo.
 */
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { copy, NotFoundError, UnsafeContentError, UsageError } from "../mod.ts";
import { denoDir, ocisync, run, runOk, shown } from "./helpers/cli.ts";
import { sha256Digest } from "./helpers/hash.ts";
import { writeImage } from "./helpers/layers.ts";
import { startRegistry } from "./helpers/registry.ts";
import { writeTree } from "./helpers/tree.ts";

/**
 * The README's flags for the script: a library user grants what the program needs, not the
 * binary's every permission, and the library works so (mounts are then found by device).
 */
const LIBRARY_FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-run",
  "--allow-sys=hostname",
];

/** Where the script imports the library from: the README gives its https address. */
const MOD = new URL("../mod.ts", import.meta.url).href;

/** The README's script, but for the address of `mod.ts`. */
const SCRIPT = `import { pullTo, pushFolder } from "${MOD}";

// Pushes a folder with the Docker config's credentials, then pulls it back.
const [reference, folder, out] = Deno.args;
const pushed = await pushFolder(reference, folder, { dest: "/opt/flows" });
console.log(\`pushed \${reference}@\${pushed.digest}\`);
const pulled = await pullTo(reference, out);
console.log(\`pulled \${pulled.files.join(", ")} into \${out}\`);
`;

/** Whether a Deno config file is in `dir` or a folder above it, where `deno run` would find it. */
async function configAbove(dir: string): Promise<string | undefined> {
  for (let at = dir;; at = dirname(at)) {
    for (const name of ["deno.json", "deno.jsonc", "package.json"]) {
      if (await Deno.stat(`${at}/${name}`).catch(() => undefined)) return `${at}/${name}`;
    }
    if (dirname(at) === at) return undefined;
  }
}

Deno.test("a script outside the repository pushes a folder with the Docker config's credentials and pulls it back", async () => {
  const registry = await startRegistry({ auth: "basic" });
  const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix: "ocisync-library-" }));
  try {
    assert.equal(await configAbove(tmp), undefined, "the script's folder must have no config");
    assert.ok(!tmp.startsWith(new URL("..", import.meta.url).pathname), "outside the repository");
    await Deno.writeTextFile(`${tmp}/sync_flows.ts`, SCRIPT);
    await Deno.mkdir(`${tmp}/flows/lib`, { recursive: true });
    await Deno.writeTextFile(`${tmp}/flows/flow.py`, "print('hello')\n");
    await Deno.writeTextFile(`${tmp}/flows/lib/util.py`, "X = 1\n");
    const auth = btoa(`${registry.username}:${registry.password}`);
    await Deno.mkdir(`${tmp}/docker`);
    await Deno.writeTextFile(
      `${tmp}/docker/config.json`,
      JSON.stringify({ auths: { [registry.host]: { auth } } }),
      { mode: 0o600 },
    );
    await Deno.mkdir(`${tmp}/empty-docker`);
    await Deno.writeTextFile(`${tmp}/empty-docker/config.json`, "{}", { mode: 0o600 });
    // Only the Docker config of the test: no other auth file of this machine is read. Deno's own
    // cache stays where it is: under the new HOME, the script would fetch npm packages again.
    const cache = await denoDir();
    const env = (dockerConfig: string) => ({
      DOCKER_CONFIG: dockerConfig,
      HOME: `${tmp}/home`,
      DENO_DIR: cache,
      REGISTRY_AUTH_FILE: "",
      XDG_RUNTIME_DIR: `${tmp}/run`,
      XDG_CONFIG_HOME: `${tmp}/config`,
      NO_COLOR: "1",
    });
    const reference = `${registry.host}/team/flows:v1`;
    const script = (dockerConfig: string, out: string) =>
      run(
        Deno.execPath(),
        ["run", ...LIBRARY_FLAGS, "sync_flows.ts", reference, "flows", out],
        { cwd: tmp, env: env(dockerConfig) },
      );

    // Without credentials, the registry refuses the push: the Docker config is what lets it in.
    const refused = await script(`${tmp}/empty-docker`, "refused");
    assert.notEqual(refused.code, 0, refused.stdout);
    assert.match(refused.stderr, /AuthError/);
    assert.doesNotMatch(refused.stderr, /not a dependency|--config/);

    const result = await script(`${tmp}/docker`, "out");
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^pushed ${reference}@sha256:[0-9a-f]{64}\n`));
    assert.match(result.stdout, /\npulled opt into out\n$/);
    assert.equal(await Deno.readTextFile(`${tmp}/out/opt/flows/flow.py`), "print('hello')\n");
    assert.equal(await Deno.readTextFile(`${tmp}/out/opt/flows/lib/util.py`), "X = 1\n");
    assert.equal(await Deno.stat(`${tmp}/refused`).catch(() => undefined), undefined);

    const requests = await registry.requests();
    const manifestPut = requests.find((r) => r.method === "PUT" && r.path.includes("/manifests/"));
    assert.equal(manifestPut?.status, 201);
  } finally {
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("copy() takes several sources, platforms and skipBlobsIn, and a failed copy leaves the archive as it was", async () => {
  const registry = await startRegistry();
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-library-" });
  try {
    await writeTree(`${tmp}/base`, { "lib.txt": { type: "file", content: "base\n" } });
    for (const name of ["app:v1", "tools:t1", "app:v2"]) {
      const dir = `${tmp}/src-${name.replace(":", "-")}`;
      await writeTree(dir, { "app.txt": { type: "file", content: name } });
      const push = await ocisync([
        ...["push", `${registry.host}/${name}`, `${tmp}/base:/base`, `${dir}:/app`],
        ...["--platform", "linux/amd64,linux/arm64"],
      ]);
      assert.equal(push.code, 0, shown(push));
    }
    const settings = { credentials: false as const };
    const release = `${tmp}/release.tar`;
    const copied = await copy(
      [`${registry.host}/app:v1`, `${registry.host}/tools:t1`],
      `oci-archive:${release}`,
      { ...settings, platforms: ["linux/arm64"] },
    );
    assert.deepEqual(copied.map((c) => [c.source, c.tag]), [
      [`${registry.host}/app:v1`, "v1"],
      [`${registry.host}/tools:t1`, "t1"],
    ]);
    // One platform of each index: skopeo reads the manifest the registry has for arm64.
    for (const [name, tag] of [["app:v1", "v1"], ["tools:t1", "t1"]]) {
      const there = await runOk("skopeo", [
        ...["inspect", "--raw", "--tls-verify=false", "--override-arch", "arm64"],
        `docker://${registry.host}/${name}`,
      ]);
      const index = JSON.parse(there);
      const arm64 = index.manifests.find((m: { platform: { architecture: string } }) =>
        m.platform.architecture === "arm64"
      );
      const raw = await runOk("skopeo", ["inspect", "--raw", `oci-archive:${release}:${tag}`]);
      assert.equal(sha256Digest(raw), arm64.digest, name);
    }

    // A delta of app:v2 against the release leaves out the shared base layer.
    const [delta] = await copy(`${registry.host}/app:v2`, `oci-archive:${tmp}/delta.tar`, {
      ...settings,
      platform: "linux/arm64",
      skipBlobsIn: [`oci-archive:${release}`],
    });
    assert.equal(delta.result?.expected?.length, 1);

    // A second source that does not exist: the archive is left byte for byte.
    const before = sha256Digest(await Deno.readFile(release));
    await assert.rejects(
      copy([`${registry.host}/app:v2`, `${registry.host}/nowhere:v9`], `oci-archive:${release}`, {
        ...settings,
        platform: "linux/arm64",
      }),
      NotFoundError,
    );
    assert.equal(sha256Digest(await Deno.readFile(release)), before);

    // A gzip bomb into a docker-archive: refused by maxExtractSize, nothing written.
    await writeImage(`${tmp}/bomb`, [new Uint8Array(8 * 1024 * 1024)], true);
    await assert.rejects(
      copy(`oci:${tmp}/bomb:v1`, `docker-archive:${tmp}/bomb.tar:app:v1`, {
        maxExtractSize: 1024 * 1024,
      }),
      (error: unknown) => error instanceof UnsafeContentError && error.option === "maxExtractSize",
    );
    assert.equal(await Deno.stat(`${tmp}/bomb.tar`).catch(() => undefined), undefined);

    // Several sources into a registry repository: a usage error.
    await assert.rejects(
      copy(
        [`oci:${tmp}/bomb:v1`, `oci-archive:${release}:v1`],
        `${registry.host}/mirror`,
        settings,
      ),
      UsageError,
    );
  } finally {
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});
