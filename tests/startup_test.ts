/**
 * What start-up loads. A `node:` module starts Deno's Node compatibility layer (about 25 ms,
 * more than an empty `deno run`), and an `npm:` package its npm resolver: the modules a short
 * command runs must import neither. What a module loads before its code runs is its static
 * import graph; `deno info --json` lists it, dynamic imports marked as such. What a whole run
 * loads, dynamic imports included, is read from Deno's debug log.
 */
import assert from "node:assert/strict";
import { ocisync, shown } from "./helpers/cli.ts";
import { pythonTar, writeImage } from "./helpers/layers.ts";
import { withRegistry } from "./helpers/registry.ts";
import { withTempDir } from "./helpers/tree.ts";

const ROOT = new URL("../", import.meta.url);

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier?: string }; isDynamic?: boolean }[];
}

/** Every module that importing `path` (relative to the repository) loads, dynamic imports aside. */
async function staticGraph(path: string): Promise<Set<string>> {
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL(path, ROOT).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
  const info = JSON.parse(new TextDecoder().decode(stdout));
  const modules = new Map<string, InfoModule>(
    info.modules.map((module: InfoModule) => [module.specifier, module]),
  );
  const loaded = new Set<string>();
  const pending: string[] = [info.roots[0]];
  while (pending.length > 0) {
    const specifier = pending.pop()!;
    if (loaded.has(specifier)) continue;
    loaded.add(specifier);
    for (const dependency of modules.get(specifier)?.dependencies ?? []) {
      const target = dependency.code?.specifier;
      if (target !== undefined && !dependency.isDynamic) pending.push(target);
    }
  }
  return loaded;
}

async function assertNoNodeOrNpm(path: string): Promise<void> {
  const foreign = [...await staticGraph(path)].filter((specifier) =>
    specifier.startsWith("node:") || specifier.startsWith("npm:")
  );
  assert.deepEqual(foreign, [], `${path} loads ${foreign.join(", ")}`);
}

Deno.test("`ocisync version` and `--help` load no node: module and no npm package", async () => {
  // main.ts's static graph is what every command loads before its own code, and all that
  // `version`, `--help` and `completions` run.
  await assertNoNodeOrNpm("main.ts");
});

Deno.test("reading digests, references and layouts loads no node: module", async () => {
  // What `inspect -q oci:…` needs of them: parsing, and a layout's index and manifests, verified
  // through Web Crypto.
  for (const path of ["src/digest/parse.ts", "src/digest/verify.ts", "src/ref/mod.ts"]) {
    await assertNoNodeOrNpm(path);
  }
  await assertNoNodeOrNpm("src/layout/mod.ts");
});

Deno.test("the targets and the registry client load no node: module until a kind needs it", async () => {
  // target/mod.ts loads a layout, an archive (node:zlib) or the registry client only to open
  // one; the client hashes manifests through Web Crypto.
  for (const path of ["src/target/mod.ts", "src/remote/registry.ts", "src/image/config.ts"]) {
    await assertNoNodeOrNpm(path);
  }
});

/**
 * What a run of `ocisync args` evaluated, as Deno's debug log names each module it evaluates:
 * the static graph plus the dynamic imports that ran; and which source files it read, which
 * may be more (see the test of `version` below). The Node compatibility layer shows as
 * `ext:deno_node/…` modules, an npm package as a file of Deno's npm cache.
 */
async function runLoads(
  args: string[],
): Promise<{ loaded: string[]; read: string[]; node: string[]; npm: string[]; stdout: string }> {
  const result = await ocisync(args, { env: { DENO_LOG: "debug" } });
  assert.equal(result.code, 0, shown(result));
  const loaded = [...result.stderr.matchAll(/ for ES module: (\S+?),? \[/g)].map((m) => m[1]);
  assert.ok(loaded.some((specifier) => specifier.endsWith("/src/cli/main.ts")), "no module log");
  const read = [...result.stderr.matchAll(/fetch_no_follow - specifier: (file:\S+)/g)]
    .map((m) => m[1]);
  assert.ok(read.some((specifier) => specifier.endsWith("/src/cli/main.ts")), "no read log");
  return {
    loaded,
    read,
    node: loaded.filter((specifier) => specifier.startsWith("ext:deno_node/")),
    npm: loaded.filter((specifier) => specifier.includes("/registry.npmjs.org/")),
    stdout: result.stdout,
  };
}

/**
 * Code that `inspect -q oci:` has no use for, each module about 0.3 ms of its start-up: the
 * registry client (auth and transport; `version` loads only the redaction of URLs), the
 * credential store, a layout's gc and lock, the config reader, the options of other commands,
 * the error hints, and the unpacker and pip installer (whose defaults the help shows).
 */
const NOT_FOR_READING_A_LAYOUT = [
  /\/src\/remote\/(?!transport\/redact\.ts$)/,
  /\/src\/credentials\//,
  /\/src\/layout\/gc\.ts$/,
  /\/src\/fs\/lock\.ts$/,
  /\/src\/oci\/referrers\.ts$/,
  /\/src\/image\/config\.ts$/,
  /\/src\/cli\/(common|hints|platforms)\.ts$/,
  /\/src\/unpack\/mod\.ts$/,
  /\/src\/python\/installer\.ts$/,
];

Deno.test("`version` and `inspect -q oci:` run without the Node layer or an npm package", async () => {
  await withTempDir("ocisync-startup-", async (tmp) => {
    await writeImage(`${tmp}/image`, [
      await pythonTar(`${tmp}/layer.tar`, [{ type: "file", name: "a", data: "a" }]),
    ]);
    for (const args of [["version"], ["inspect", "-q", `oci:${tmp}/image:v1`]]) {
      const { loaded, node, npm, stdout } = await runLoads(args);
      assert.deepEqual([...node, ...npm], [], `${args.join(" ")} loads them`);
      if (args[0] !== "inspect") continue;
      // The digest the test helper listed, not one of ocisync's.
      const index = JSON.parse(await Deno.readTextFile(`${tmp}/image/index.json`));
      assert.equal(stdout.trim(), index.manifests[0].digest);
      const needless = loaded.filter((specifier) =>
        NOT_FOR_READING_A_LAYOUT.some((pattern) => pattern.test(specifier))
      );
      assert.deepEqual(needless, [], "inspect -q oci: loads code it does not run");
    }
  });
});

Deno.test("`version` reads no other command's code: deno.json makes dynamic imports lazy", async () => {
  // Without `lazy-dynamic-imports`, `deno run` reads and parses every module that a literal
  // `import()` can reach before the first line runs (the whole program, about 140 files).
  const { read } = await runLoads(["version"]);
  const commands = read.filter((specifier) => /\/src\/cli\/commands\//.test(specifier));
  assert.deepEqual(
    commands.map((specifier) => specifier.replace(/.*\//, "")).sort(),
    ["mod.ts", "version.ts"],
  );
  assert.ok(read.length < 40, `${read.length} files read`);
});

Deno.test("a copy within a registry that only mounts loads neither the Node layer nor an npm package", async () => {
  await withRegistry({}, async (registry, tmp) => {
    await writeImage(`${tmp}/image`, [
      await pythonTar(`${tmp}/layer.tar`, [{ type: "file", name: "a", data: "a" }]),
    ]);
    const seed = await ocisync(["copy", `oci:${tmp}/image:v1`, `${registry.host}/app:v1`]);
    assert.equal(seed.code, 0, shown(seed));
    const copy = await runLoads(
      ["copy", `${registry.host}/app:v1`, `${registry.host}/mirror:v1`, "--json"],
    );
    assert.equal(JSON.parse(copy.stdout).blobsMounted, 2, "the copy mounts both blobs");
    // Nor the Node layer: the transport's timeouts are web timers, not Deno's `setTimeout`,
    // which loads `node:timers` (see src/remote/transport/timer.ts).
    assert.deepEqual([...copy.node, ...copy.npm], []);
    // The check sees them when they load: the tag policy's code imports npm:semver.
    const picked = await runLoads(
      ["copy", `${registry.host}/app`, `${registry.host}/picked`, "--tag-regex", "^v"],
    );
    assert.ok(picked.npm.length > 0 && picked.node.length > 0);
  });
});

Deno.test("pack and push of a folder load npm:ignore only for patterns to ignore", async () => {
  await withTempDir("ocisync-startup-", async (tmp) => {
    await Deno.mkdir(`${tmp}/flows`);
    await Deno.writeTextFile(`${tmp}/flows/flow.py`, "print('hi')\n");
    const plain = await runLoads(["pack", `${tmp}/flows`, "-o", `${tmp}/plain.tar.gz`]);
    assert.deepEqual(plain.npm, []);
    const file = await runLoads(["push", `oci:${tmp}/layout:v1`, `${tmp}/plain.tar.gz`]);
    assert.deepEqual(file.npm, []);
    // The check sees the package when it loads: for --exclude, and for a folder's .ociignore.
    const excluded = await runLoads(
      ["pack", `${tmp}/flows`, "-o", `${tmp}/excluded.tar.gz`, "--exclude", "*.pyc"],
    );
    assert.ok(excluded.npm.some((specifier) => specifier.includes("/ignore/")), "no npm:ignore");
    await Deno.writeTextFile(`${tmp}/flows/.ociignore`, "*.pyc\n");
    const ignored = await runLoads(["pack", `${tmp}/flows`, "-o", `${tmp}/ignored.tar.gz`]);
    assert.ok(ignored.npm.some((specifier) => specifier.includes("/ignore/")), "no npm:ignore");
  });
});

Deno.test("the check sees node: modules: digest/mod.ts loads node:crypto, verify.ts does not", async () => {
  // The check above would pass vacuously if `deno info` listed no node: module at all.
  assert.ok((await staticGraph("src/digest/mod.ts")).has("node:crypto"));
  assert.ok(!(await staticGraph("src/digest/verify.ts")).has("node:crypto"));
});

Deno.test("a copy's code loads no node: module until it hashes a large blob", async () => {
  // Blobs go through image/blob.ts, not the plan builders (whose sync hash needs node:crypto).
  await assertNoNodeOrNpm("src/cli/commands/copy.ts");
});

Deno.test("a pull loads no npm package unless a tag policy asks for its semver parser", async () => {
  // npm's loader costs a pull 50 ms of start-up; a verifier with public keys needs no npm code
  // (tweetnacl opens encrypted private keys only). The policy's code loads semver for either kind.
  await withTempDir("ocisync-startup-", async (tmp) => {
    await writeImage(`${tmp}/image`, [
      await pythonTar(`${tmp}/layer.tar`, [{ type: "file", name: "a", data: "a" }]),
    ]);
    const plain = await runLoads(["pull", `oci:${tmp}/image:v1`, "-o", `${tmp}/plain`]);
    assert.deepEqual(plain.npm, []);
    assert.ok(!plain.loaded.some((specifier) => specifier.endsWith("/src/trust/verifier.ts")));
    assert.equal(await Deno.readTextFile(`${tmp}/plain/a`), "a");
    const picked = await runLoads(
      ["pull", `oci:${tmp}/image`, "--tag-regex", "^v1$", "-o", `${tmp}/picked`],
    );
    assert.ok(picked.npm.some((specifier) => specifier.includes("/semver/")), "no npm:semver");
  });
});

Deno.test("a sync loads no npm package unless a tag policy or a config file asks for one", async () => {
  // Each `sync --once` from a timer or a hook paid for npm's loader (about 50 ms), npm:yaml and
  // npm:semver: the config file's parser and the policy's code load only when used.
  await withTempDir("ocisync-startup-", async (tmp) => {
    await writeImage(`${tmp}/image`, [
      await pythonTar(`${tmp}/layer.tar`, [{ type: "file", name: "a", data: "a" }]),
    ]);
    const once = ["--once", "--state", `${tmp}/state.json`];
    const plain = await runLoads(["sync", `oci:${tmp}/image:v1`, "-o", `${tmp}/plain`, ...once]);
    assert.deepEqual(plain.npm, []);
    // Nor the HTTP client, for a webhook, nor the signature formats, for a verifier.
    const unused = plain.loaded.filter((specifier) =>
      /\/src\/(remote\/transport\.ts|trust\/verifier\.ts)$/.test(specifier)
    );
    assert.deepEqual(unused, []);
    assert.equal(await Deno.readTextFile(`${tmp}/plain/current/a`), "a");
    const picked = await runLoads(
      ["sync", `oci:${tmp}/image`, "--tag-regex", "^v1$", "-o", `${tmp}/picked`, ...once],
    );
    assert.ok(picked.npm.some((specifier) => specifier.includes("/semver/")), "no npm:semver");
    assert.ok(!picked.npm.some((specifier) => specifier.includes("/yaml/")), "npm:yaml");
    await Deno.writeTextFile(
      `${tmp}/sync.yaml`,
      `targets:\n  - reference: oci:${tmp}/image:v1\n    output: ${tmp}/configured\n`,
    );
    const configured = await runLoads(["sync", "--config", `${tmp}/sync.yaml`, "--once"]);
    assert.ok(configured.npm.some((specifier) => specifier.includes("/yaml/")), "no npm:yaml");
    assert.ok(!configured.npm.some((specifier) => specifier.includes("/semver/")), "npm:semver");
    assert.equal(await Deno.readTextFile(`${tmp}/configured/current/a`), "a");
  });
});

Deno.test("a pull of small layers unpacks without starting a thread; of large ones, on its own", async () => {
  // A worker costs about 100 ms to start; it pays for itself only on trees worth overlapping.
  await withTempDir("ocisync-startup-", async (tmp) => {
    const big = "x".repeat(2 * 1024 * 1024);
    await writeImage(`${tmp}/small`, [
      await pythonTar(`${tmp}/small.tar`, [{ type: "file", name: "a", data: "a" }]),
    ]);
    await writeImage(`${tmp}/large`, [
      await pythonTar(`${tmp}/large.tar`, [{ type: "file", name: "big", data: big }]),
    ]);
    const worker = (loaded: string[]) => loaded.some((m) => m.endsWith("/src/unpack/worker.ts"));
    const small = await runLoads(["pull", `oci:${tmp}/small:v1`, "-o", `${tmp}/out-small`]);
    assert.equal(worker(small.loaded), false, "a small pull starts the unpacking thread");
    assert.equal(await Deno.readTextFile(`${tmp}/out-small/a`), "a");
    const large = await runLoads(["pull", `oci:${tmp}/large:v1`, "-o", `${tmp}/out-large`]);
    assert.equal(worker(large.loaded), true, "a large pull unpacks in the main thread");
    assert.equal(await Deno.readTextFile(`${tmp}/out-large/big`), big);
  });
});

Deno.test("a sync --once that finds nothing new loads neither the pull's code nor the Node layer", async () => {
  // What a timer's `sync --once` runs most of the time: one request, and the state says the
  // folder holds that digest. The pull's code (decompression, hashing, unpacking) and the Node
  // modules it needs (node:crypto, zlib, fs; with node:path, about 50 ms of start-up) load only
  // with a change, and node:timers, which Deno's `setInterval` loads, only at the lock's first
  // refresh (see fs/lock.ts).
  await withTempDir("ocisync-startup-", async (tmp) => {
    await writeImage(`${tmp}/image`, [
      await pythonTar(`${tmp}/layer.tar`, [{ type: "file", name: "a", data: "a" }]),
    ]);
    const args = ["sync", `oci:${tmp}/image:v1`, "-o", `${tmp}/out`, "--once", "--state"];
    const heavy = (loaded: string[]) =>
      loaded.filter((specifier) =>
        /^ext:deno_node\/(crypto|zlib|fs|path\/mod)\.ts$|\/src\/(pull\/mod|unpack\/mod|compress\/decompress)\.ts$/
          .test(specifier)
      );
    // The first run delivers, and loads them: the check sees them when they load.
    const first = await runLoads([...args, `${tmp}/state.json`]);
    assert.equal(await Deno.readTextFile(`${tmp}/out/current/a`), "a");
    assert.ok(heavy(first.loaded).length >= 3, heavy(first.loaded).join(", "));
    const unchanged = await runLoads([...args, `${tmp}/state.json`]);
    assert.deepEqual(heavy(unchanged.loaded), []);
    assert.deepEqual(unchanged.node, []);
  });
});
