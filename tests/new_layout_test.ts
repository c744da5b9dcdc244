/**
 * A copy or push into an `oci:` layout that did not exist, and that fails, leaves no layout
 * behind, nor the parent folders it made for it: whether the source is found missing once the
 * layout was opened, a blob does not match its digest, the network fails, the disk is full or a
 * signal stops it, and whether it is the command line or the library. A layout that was there
 * before stays as it was, an empty folder stays empty, and a new layout into which another
 * process has tagged an image meanwhile stays. The failures are real: a registry behind a proxy that breaks or stalls the layer's
 * download, source layouts with a blob taken out or flipped, a tmpfs too small for the layer.
 */
import assert from "node:assert/strict";
import { copy, pushFolder } from "../mod.ts";
import { ExitCode } from "../src/cli/exit.ts";
import { RUN_FLAGS } from "../scripts/permissions.ts";
import { ocisync, ocisyncOk, runOk, shown } from "./helpers/cli.ts";
import { type FrontProxy, startProxy } from "./helpers/fault_proxy.ts";
import { writeImage } from "./helpers/layers.ts";
import { randomBytes } from "./helpers/random.ts";
import { type TestRegistry, withRegistry } from "./helpers/registry.ts";
import { until } from "./helpers/wait.ts";
import { exists, namesIn } from "./helpers/tree.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const MiB = 1024 * 1024;

/** Every file under `root` with its bytes, by path relative to it. */
function filesUnder(root: string, prefix = ""): Map<string, string> {
  const found = new Map<string, string>();
  for (const entry of Deno.readDirSync(`${root}${prefix}`)) {
    const path = `${prefix}/${entry.name}`;
    if (entry.isDirectory) {
      for (const [name, text] of filesUnder(root, path)) found.set(name, text);
    } else found.set(path, Deno.readFileSync(`${root}${path}`).toHex());
  }
  return found;
}

/** The layout `dir`'s image v1: its manifest's digest and the path of its (only) layer blob. */
async function onlyLayer(dir: string): Promise<{ digest: string; layer: string }> {
  const index = JSON.parse(await Deno.readTextFile(`${dir}/index.json`));
  const digest = index.manifests[0].digest;
  const manifest = JSON.parse(await Deno.readTextFile(`${dir}/blobs/sha256/${digest.slice(7)}`));
  return { digest, layer: `${dir}/blobs/sha256/${manifest.layers[0].digest.slice(7)}` };
}

/** A source layout at `dir` whose layer is missing: found so only once the copy has begun. */
async function layoutWithoutLayer(dir: string): Promise<string> {
  await writeImage(dir, [randomBytes(64 * 1024)], true);
  const { digest, layer } = await onlyLayer(dir);
  await Deno.remove(layer);
  return `oci:${dir}@${digest}`;
}

/** A source layout at `dir` whose layer has one bit flipped. */
async function layoutWithFlippedLayer(dir: string): Promise<string> {
  await writeImage(dir, [randomBytes(64 * 1024)], true);
  const { digest, layer } = await onlyLayer(dir);
  const bytes = await Deno.readFile(layer);
  bytes[bytes.length - 1] ^= 1;
  await Deno.writeFile(layer, bytes);
  return `oci:${dir}@${digest}`;
}

/** `ocisync ARGS…` started, not waited for. */
function spawn(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...RUN_FLAGS, MAIN, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

/** Whether the new layout at `dir` has begun to take the layer: its temporary file is there. */
function takingLayer(dir: string): boolean {
  return namesIn(`${dir}/blobs/sha256`).some((name) => name.endsWith(".tmp"));
}

/**
 * A registry holding `app:v1`, a 2 MiB layer of random bytes, behind a proxy that stalls (or, for
 * `reset`, cuts) the downloads of blobs; a folder for the test.
 */
function withImage(
  fn: (registry: TestRegistry, proxy: FrontProxy, tmp: string) => Promise<void>,
): Promise<void> {
  return withRegistry({}, async (registry, tmp) => {
    await Deno.mkdir(`${tmp}/src`);
    await Deno.writeFile(`${tmp}/src/data.bin`, randomBytes(2 * MiB));
    await ocisyncOk(["push", `${registry.host}/app:v1`, `${tmp}/src`]);
    const proxy = startProxy(registry.host);
    try {
      await fn(registry, proxy, tmp);
    } finally {
      await proxy.close();
    }
  });
}

const STALLED_LAYER = {
  method: "GET",
  path: /\/blobs\/sha256:/,
  times: Infinity,
  fault: { kind: "stall" as const, seconds: 60, after: 64 * 1024 },
};

Deno.test("a failed copy or push into a new layout leaves neither it nor the folders made for it", () =>
  withImage(async (registry, proxy, tmp) => {
    const routes: { what: string; args: string[]; code: number }[] = [
      {
        what: "the source's layer found missing once the layout was opened",
        args: ["copy", await layoutWithoutLayer(`${tmp}/missing`), `oci:${tmp}/a/b/new`],
        code: ExitCode.NotFound,
      },
      {
        what: "a layer that does not match its digest",
        args: ["copy", await layoutWithFlippedLayer(`${tmp}/flipped`), `oci:${tmp}/a/b/new`],
        code: ExitCode.Integrity,
      },
      {
        what: "a push whose base's layer is missing",
        args: [
          ...["push", `oci:${tmp}/a/b/new:v1`, `${tmp}/src`],
          ...["--base", await layoutWithoutLayer(`${tmp}/base`)],
        ],
        code: ExitCode.NotFound,
      },
      {
        what: "a push of a file that does not exist",
        args: ["push", `oci:${tmp}/a/b/new:v1`, "--files", `${tmp}/missing-file`],
        code: ExitCode.NotFound,
      },
    ];
    // Each route is run, and what it left taken away, before the first is judged: all are seen.
    const left: string[] = [];
    const judge = async (what: string, leftover: string) => {
      if (!(await exists(leftover))) return;
      left.push(`${what}: ${namesIn(leftover).join(", ") || "(empty)"}`);
      Deno.removeSync(leftover, { recursive: true });
    };
    for (const { what, args, code } of routes) {
      const result = await ocisync(args);
      assert.equal(result.code, code, `${what}: ${shown(result)}`);
      await judge(what, `${tmp}/a`);
    }

    // The network fails in the middle of the layer, with no retry.
    proxy.inject({
      method: "GET",
      path: /\/blobs\/sha256:/,
      times: Infinity,
      fault: { kind: "reset", after: 256 * 1024 },
    });
    const cut = await ocisync([
      ...["copy", `${proxy.host}/app:v1`, `oci:${tmp}/a/b/new`],
      ...["--retries", "0"],
    ]);
    assert.equal(cut.code, ExitCode.Network, shown(cut));
    await judge("the network cut in the middle of the layer", `${tmp}/a`);

    // A disk too small for the layer.
    await Deno.mkdir(`${tmp}/mnt`);
    await runOk("mount", ["-t", "tmpfs", "-o", "size=1m", "none", `${tmp}/mnt`]);
    try {
      const full = await ocisync(["copy", `${registry.host}/app:v1`, `oci:${tmp}/mnt/new`]);
      assert.notEqual(full.code, 0, shown(full));
      assert.match(full.stderr, /No space left on device/);
      await judge("a full disk", `${tmp}/mnt/new`);
    } finally {
      await runOk("umount", [`${tmp}/mnt`]);
    }
    assert.deepEqual(left, []);
  }));

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test(`${signal} during a copy into a new layout leaves neither it nor its parents`, () =>
    withImage(async (_registry, proxy, tmp) => {
      proxy.inject(STALLED_LAYER);
      const child = spawn(["copy", `${proxy.host}/app:v1`, `oci:${tmp}/a/new`]);
      try {
        await until(() => takingLayer(`${tmp}/a/new`), "the layer's temporary file");
      } finally {
        child.kill(signal);
      }
      const { code, stderr } = await child.output();
      assert.equal(code, signal === "SIGINT" ? 130 : 143, new TextDecoder().decode(stderr));
      assert.equal(await exists(`${tmp}/a`), false, `${namesIn(`${tmp}/a/new`)}`);
    }));
}

Deno.test("the library's copy and push leave no new layout when they fail", () =>
  withImage(async (registry, _proxy, tmp) => {
    const flipped = await layoutWithFlippedLayer(`${tmp}/flipped`);
    await assert.rejects(copy(flipped, `oci:${tmp}/a/new`), /digest/);
    assert.equal(await exists(`${tmp}/a`), false);
    // Stopped once its first blob is in the layout: before the manifest is listed.
    const stop = new AbortController();
    await assert.rejects(
      pushFolder(`oci:${tmp}/a/new:v1`, `${tmp}/src`, {
        signal: stop.signal,
        onBlob: (event) => {
          if (event.state === "done") stop.abort(new Error("stopped by the test"));
        },
      }),
      /stopped by the test/,
    );
    assert.ok(stop.signal.aborted);
    assert.equal(await exists(`${tmp}/a`), false);
    // The same copy from the registry goes through, and leaves its layout.
    await copy(`${registry.host}/app:v1`, `oci:${tmp}/a/new:v1`);
    assert.deepEqual(namesIn(`${tmp}/a/new`), ["blobs", "index.json", "oci-layout"]);
  }));

Deno.test("a failed copy keeps a layout or folder that was there, as it was", () =>
  withImage(async (registry, _proxy, tmp) => {
    const missing = await layoutWithoutLayer(`${tmp}/missing`);
    // An empty layout, one holding an image, and a plain empty folder.
    await ocisyncOk(["copy", `${registry.host}/app:v1`, `oci:${tmp}/full:v1`]);
    await Deno.mkdir(`${tmp}/empty/blobs/sha256`, { recursive: true });
    await Deno.writeTextFile(`${tmp}/empty/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
    await Deno.writeTextFile(`${tmp}/empty/index.json`, '{"schemaVersion":2,"manifests":[]}');
    await Deno.mkdir(`${tmp}/folder`);
    for (const dir of ["empty", "full"]) {
      const before = filesUnder(`${tmp}/${dir}`);
      const result = await ocisync(["copy", missing, `oci:${tmp}/${dir}:v2`]);
      assert.equal(result.code, ExitCode.NotFound, shown(result));
      const after = filesUnder(`${tmp}/${dir}`);
      // Every file as it was; a blob the copy completed may stay, for gc to collect.
      for (const [path, bytes] of before) assert.equal(after.get(path), bytes, `${dir}${path}`);
      for (const path of after.keys()) {
        assert.ok(before.has(path) || /^\/blobs\/sha256\/[0-9a-f]{64}$/.test(path), path);
      }
    }
    const result = await ocisync(["copy", missing, `oci:${tmp}/folder`]);
    assert.equal(result.code, ExitCode.NotFound, shown(result));
    assert.ok(await exists(`${tmp}/folder`), "a folder that was there stays");
    // Empty, as it was: the layout's files made in it went with the failed copy.
    assert.deepEqual(namesIn(`${tmp}/folder`), []);
  }));

Deno.test("a new layout that another process tagged into meanwhile stays when the copy fails or is stopped", () =>
  withImage(async (_registry, proxy, tmp) => {
    proxy.inject(STALLED_LAYER);
    await Deno.writeTextFile(`${tmp}/notes.txt`, "another writer's\n");
    for (const stop of ["SIGTERM", "network"]) {
      const layout = `${tmp}/${stop}/new`;
      const child = spawn([
        ...["copy", `${proxy.host}/app:v1`, `oci:${layout}`],
        ...["--retries", "0", "--timeout", "60s"],
      ]);
      try {
        await until(() => takingLayer(layout), "the layer's temporary file");
        await ocisyncOk(["push", `oci:${layout}:theirs`, "--files", `${tmp}/notes.txt`]);
      } finally {
        // The stalled download fails once the proxy ends it; a signal stops the copy at once.
        if (stop === "SIGTERM") child.kill("SIGTERM");
        else await proxy.close();
      }
      const { code, stderr } = await child.output();
      assert.notEqual(code, 0, new TextDecoder().decode(stderr));
      const tags = JSON.parse(await ocisyncOk(["tags", `oci:${layout}`, "--json"]));
      assert.deepEqual(tags.tags ?? tags, ["theirs"]);
      await ocisyncOk(["pull", `oci:${layout}:theirs`, "-o", `${tmp}/${stop}/out`]);
      assert.equal(await Deno.readTextFile(`${tmp}/${stop}/out/notes.txt`), "another writer's\n");
    }
  }));
