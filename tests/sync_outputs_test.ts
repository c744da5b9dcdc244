/**
 * The sync's directory output on an `oci:` layout built here: another platform or layer
 * operation of one digest is delivered as a folder of its own, the hook is told that folder,
 * old versions are pruned, and a folder whose `current` was removed is delivered again.
 */
import assert from "node:assert/strict";
import { pythonTar, writeLayoutIndex } from "./helpers/layers.ts";
import { sha256Digest, sha256Hex } from "./helpers/hash.ts";
import { parseReference } from "../src/ref/mod.ts";
import { LayoutTarget } from "../src/layout/mod.ts";
import { ocisync } from "./helpers/cli.ts";
import { blob, jsonBlob } from "./helpers/images.ts";
import {
  directoryOutput,
  type DirectoryOutputOptions,
  execOutput,
  type Platform,
  syncLoop,
  type SyncOutput,
  SyncState,
  type SyncTick,
} from "../src/sync/mod.ts";
import { versionDirectory } from "../src/sync/version_directory.ts";
import { exists } from "./helpers/tree.ts";

const INDEX = "application/vnd.oci.image.index.v1+json";
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const AMD64: Platform = { os: "linux", architecture: "amd64" };
const ARM64: Platform = { os: "linux", architecture: "arm64" };

/**
 * An OCI layout at `dir` whose tag `v1` is an index of a linux/amd64 and a linux/arm64 image,
 * each of one uncompressed, untitled tar layer holding `which.txt` (its architecture). Returns
 * the digests of the index and of the arm64 manifest, and the arm64 layer's bytes.
 */
async function writeIndexLayout(
  dir: string,
): Promise<{ index: string; arm64: string; arm64Layer: Uint8Array }> {
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  const put = async (bytes: Uint8Array, mediaType: string) => {
    const digest = sha256Digest(bytes);
    await Deno.writeFile(`${dir}/blobs/sha256/${digest.slice("sha256:".length)}`, bytes);
    return { mediaType, digest, size: bytes.byteLength };
  };
  const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const manifests = [];
  const layers: Uint8Array[] = [];
  for (const platform of [AMD64, ARM64]) {
    const arch = platform.architecture;
    const tar = await pythonTar(`${dir}/${arch}.tar`, [
      { type: "file", name: "which.txt", data: `${arch}\n` },
    ]);
    layers.push(tar);
    const layer = await put(tar, "application/vnd.oci.image.layer.v1.tar");
    const config = await put(
      json({ ...platform, rootfs: { type: "layers", diff_ids: [sha256Digest(tar)] } }),
      "application/vnd.oci.image.config.v1+json",
    );
    const manifest = await put(
      json({ schemaVersion: 2, mediaType: MANIFEST, config, layers: [layer] }),
      MANIFEST,
    );
    manifests.push({ ...manifest, platform });
  }
  const index = await put(json({ schemaVersion: 2, mediaType: INDEX, manifests }), INDEX);
  await writeLayoutIndex(dir, index);
  return { index: index.digest, arm64: manifests[1].digest, arm64Layer: layers[1] };
}

async function withTemp(body: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-sync-outputs-" });
  try {
    await body(tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

Deno.test("-o DIR: a change of platform or layer operation swaps in a folder of its own", async () => {
  await withTemp(async (tmp) => {
    const { index, arm64: arm64Manifest, arm64Layer } = await writeIndexLayout(`${tmp}/layout`);
    const dir = `${tmp}/out`;
    const state = new SyncState();
    const hookSaw = `${tmp}/hook.txt`;
    const hex = (digest: string) => digest.slice("sha256:".length);
    // A folder of an older release, named by the index's digest: pruned like the others.
    const legacy = `${dir}/.ocisync/${hex(index)}`;
    await Deno.mkdir(legacy, { recursive: true });
    await Deno.utime(legacy, new Date(0), new Date(0));
    const sync = async (platform: Platform, options: DirectoryOutputOptions = {}) => {
      const ticks: SyncTick[] = [];
      const loop = syncLoop({
        reference: parseReference(`oci:${tmp}/layout:v1`),
        outputs: [
          directoryOutput(dir, options),
          execOutput(`printf %s "$OCISYNC_DIR" > ${hookSaw}`, { directory: dir, ...options }),
        ],
        platform,
        interval: 1000,
        once: true,
        state,
      });
      for await (const tick of loop) ticks.push(tick);
      assert.deepEqual(ticks.map((t) => [t.status, t.digest]), [["changed", index]]);
      const current = await Deno.realPath(`${dir}/current`);
      assert.equal(await Deno.readTextFile(hookSaw), current, "OCISYNC_DIR is the new version");
      return current;
    };
    const read = (path: string) => Deno.readTextFile(`${dir}/current/${path}`);

    // A swap's link that a SIGKILL left behind goes at the next swap.
    await Deno.mkdir(dir, { recursive: true });
    await Deno.symlink(".ocisync/gone", `${dir}/.current.tmp-0123abcd`);
    const amd64 = await sync(AMD64);
    assert.equal(await exists(`${dir}/.current.tmp-0123abcd`), false);
    assert.equal(await read("which.txt"), "amd64\n");
    const arm64 = await sync(ARM64);
    assert.equal(await read("which.txt"), "arm64\n");
    assert.notEqual(arm64, amd64);
    // Named by the platform's manifest, and with a selection, the hash of it (versionDirectory).
    const versions = `${await Deno.realPath(dir)}/.ocisync`;
    assert.equal(arm64, `${versions}/${hex(arm64Manifest)}`);

    const copied = await sync(ARM64, { layerOperation: "copy" });
    assert.equal(
      copied,
      `${versions}/${hex(arm64Manifest)}-${sha256Hex("layers=*;copy").slice(0, 12)}`,
    );
    assert.deepEqual([...Deno.readDirSync(copied)].map((e) => e.name), ["layer-0"]);
    // The library's name for it (hashed by node:crypto) is the one the outputs chose (by Web
    // Crypto, which a tick that finds nothing new uses without loading node:crypto).
    const named = versionDirectory(dir, arm64Manifest as `sha256:${string}`, {
      layerOperation: "copy",
    });
    assert.equal(await Deno.realPath(named), copied);
    assert.deepEqual(await Deno.readFile(`${copied}/layer-0`), arm64Layer);

    // Back to extract: the arm64 folder made before is still kept (--keep 2) and is reused.
    assert.equal(await sync(ARM64, { layerOperation: "extract" }), arm64);
    assert.equal(await read("which.txt"), "arm64\n");
    assert.equal(await exists(`${dir}/current/layer-0`), false);

    const kept = [...Deno.readDirSync(`${dir}/.ocisync`)].map((e) => `${dir}/.ocisync/${e.name}`);
    assert.deepEqual(kept.sort(), [arm64, copied].sort(), "the two most recent are kept");
  });
});

Deno.test("-o DIR: a removed current is delivered again at the next tick, even when pinned", async () => {
  await withTemp(async (tmp) => {
    const { index } = await writeIndexLayout(`${tmp}/layout`);
    const dir = `${tmp}/out`;
    const lines: string[] = [];
    const ticks = syncLoop({
      reference: parseReference(`oci:${tmp}/layout@${index}`),
      outputs: [directoryOutput(dir)],
      platform: ARM64,
      interval: 10,
      log: (line) => lines.push(line),
    });
    const next = async () => (await ticks.next()).value!.status;
    try {
      assert.equal(await next(), "changed");
      assert.equal(await next(), "unchanged");
      assert.deepEqual(lines, []);

      await Deno.remove(`${dir}/current`);
      assert.equal(await next(), "changed");
      assert.equal(await Deno.readTextFile(`${dir}/current/which.txt`), "arm64\n");
      assert.equal(lines.length, 1);
      assert.match(lines[0], new RegExp(`delivering ${index} again: .*${dir}/current`));

      // The version folder itself gone, the link left dangling.
      await Deno.remove(await Deno.realPath(`${dir}/current`), { recursive: true });
      assert.equal(await next(), "changed");
      assert.equal(await Deno.readTextFile(`${dir}/current/which.txt`), "arm64\n");
      assert.match(lines[1], /is gone$/);
      assert.equal(await next(), "unchanged");
    } finally {
      await ticks.return();
    }
  });
});

Deno.test("-o DIR: the folder and state of a release that named versions by the digest are kept", async () => {
  await withTemp(async (tmp) => {
    const { index } = await writeIndexLayout(`${tmp}/layout`);
    const dir = `${tmp}/out`;
    const statePath = `${tmp}/state.json`;
    const reference = `oci:${tmp}/layout:v1`;
    const run = async () => {
      const lines: string[] = [];
      const ticks: SyncTick[] = [];
      const loop = syncLoop({
        reference: parseReference(reference),
        outputs: [directoryOutput(dir)],
        platform: ARM64,
        interval: 1000,
        once: true,
        state: await SyncState.open(statePath),
        log: (line) => lines.push(line),
      });
      for await (const tick of loop) ticks.push(tick);
      return { statuses: ticks.map((t) => t.status), lines };
    };
    assert.deepEqual((await run()).statuses, ["changed"]);
    // As the older release left them: the folder named by the index, no manifest in the state.
    const old = `.ocisync/${index.slice("sha256:".length)}`;
    await Deno.rename(await Deno.realPath(`${dir}/current`), `${dir}/${old}`);
    await Deno.remove(`${dir}/current`);
    await Deno.symlink(old, `${dir}/current`);
    const state = JSON.parse(await Deno.readTextFile(statePath));
    assert.ok(state.references[reference].manifest, "the new release records the manifest");
    delete state.references[reference].manifest;
    await Deno.writeTextFile(statePath, JSON.stringify(state));

    assert.deepEqual(await run(), { statuses: ["unchanged"], lines: [] });
    await Deno.remove(`${dir}/${old}`, { recursive: true });
    const again = await run();
    assert.deepEqual(again.statuses, ["changed"]);
    assert.match(again.lines.join("\n"), new RegExp(`${dir}/${old} is gone$`));
  });
});

Deno.test("a hook that ignores SIGTERM is killed after killAfter: a stop ends the loop", async () => {
  await withTemp(async (tmp) => {
    await writeIndexLayout(`${tmp}/layout`);
    const started = `${tmp}/started`;
    const stop = new AbortController();
    const ticks: SyncTick[] = [];
    const loop = syncLoop({
      reference: parseReference(`oci:${tmp}/layout:v1`),
      outputs: [
        execOutput(`trap '' TERM; touch ${started}; sleep 30 & wait; sleep 30`, {
          killAfter: 300,
        }),
      ],
      platform: AMD64,
      interval: 1000,
      state: new SyncState(),
      signal: stop.signal,
    });
    const stopped = (async () => {
      while (!(await exists(started))) await new Promise((resolve) => setTimeout(resolve, 20));
      stop.abort();
      return Date.now();
    })();
    for await (const tick of loop) ticks.push(tick);
    const took = Date.now() - await stopped;
    assert.ok(took < 5_000, `the loop ended ${took} ms after the stop`);
    // The change is not recorded: the next run delivers it again.
    assert.ok(!ticks.some((t) => t.status === "changed"), JSON.stringify(ticks));
  });
});

Deno.test("the hook is told the folder the change put in place, not where DIR/current points later; its failure does not quote it", async () => {
  // Whoever may write to DIR could re-point `current` between the swap and the hook, which
  // read the link back, and root's hook then ran in their folder.
  await withTemp(async (tmp) => {
    await writeIndexLayout(`${tmp}/layout`);
    const dir = `${tmp}/out`;
    const elsewhere = `${tmp}/elsewhere`;
    await Deno.mkdir(elsewhere);
    const hookSaw = `${tmp}/hook.txt`;
    const meddler: SyncOutput = {
      id: "meddler",
      description: "meddler",
      apply: async () => {
        await Deno.remove(`${dir}/current`);
        await Deno.symlink(elsewhere, `${dir}/current`);
      },
    };
    const run = async (hook: string) => {
      const ticks: SyncTick[] = [];
      const loop = syncLoop({
        reference: parseReference(`oci:${tmp}/layout:v1`),
        outputs: [directoryOutput(dir), meddler, execOutput(hook, { directory: dir })],
        platform: AMD64,
        interval: 1000,
        once: true,
        state: new SyncState(),
      });
      try {
        for await (const tick of loop) ticks.push(tick);
      } catch (error) {
        return error as Error;
      }
      assert.deepEqual(ticks.map((t) => t.status), ["changed"]);
    };
    await run(`printf %s "$OCISYNC_DIR" > ${hookSaw}`);
    const told = await Deno.readTextFile(hookSaw);
    assert.notEqual(told, elsewhere);
    const [version] = await Array.fromAsync(Deno.readDir(`${dir}/.ocisync`));
    assert.equal(told, `${dir}/.ocisync/${version.name}`);

    const failed = await run("exit 7 # Authorization: Bearer HOOK-TOKEN");
    assert.equal(failed?.message, "the hook exited 7");
  });
});

Deno.test("a layer title with a line break cannot forge a line of the sync's log", async () => {
  await withTemp(async (tmp) => {
    const forged = "2026-01-01T00:00:00.000Z oci:/srv/prod:v1 changed sha256:aa -> sha256:bb";
    const layer = blob("application/octet-stream", new Uint8Array([0xff]));
    const config = blob("application/vnd.oci.empty.v1+json", new TextEncoder().encode("{}"));
    const manifest = jsonBlob(MANIFEST, {
      schemaVersion: 2,
      mediaType: MANIFEST,
      artifactType: "application/vnd.example",
      config: config.descriptor,
      layers: [{
        ...layer.descriptor,
        annotations: { "org.opencontainers.image.title": `x\n${forged}` },
      }],
    });
    const layout = await LayoutTarget.open(`${tmp}/layout`, { create: true });
    for (const { descriptor, bytes } of [layer, config]) {
      await layout.pushBlob(descriptor, ReadableStream.from([bytes]));
    }
    await layout.pushManifest(manifest.descriptor, manifest.bytes, ["v1"]);
    const result = await ocisync(["sync", `oci:${tmp}/layout:v1`, "--events", "--once"]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /is not UTF-8 text/);
    for (const line of result.stderr.split("\n")) assert.ok(!line.startsWith(forged), line);
  });
});

Deno.test("sync --exec-timeout stops a hook that runs too long, and fails the tick, even if it exits 0 on SIGTERM", async () => {
  await withTemp(async (tmp) => {
    await writeIndexLayout(`${tmp}/layout`);
    const reference = `oci:${tmp}/layout:v1`;
    const state = `${tmp}/state.json`;
    for (const hook of ["sleep 600", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]) {
      const started = Date.now();
      const run = await ocisync([
        "sync",
        reference,
        "--once",
        "--platform",
        "linux/amd64",
        "--state",
        state,
        "--exec",
        hook,
        "--exec-timeout",
        "1s",
      ]);
      assert.notEqual(run.code, 0, run.stderr);
      assert.match(run.stderr, /the hook ran past its timeout of 1s and/);
      assert.ok(Date.now() - started < 20_000, "stopped, not waited out");
      assert.equal(await Deno.lstat(state).then(() => true, () => false), false, "not recorded");
    }
    const lone = await ocisync(["sync", reference, "--once", "--events", "--exec-timeout", "1s"]);
    assert.equal(lone.code, 2, lone.stderr);
    assert.match(lone.stderr, /--exec-timeout needs --exec/);
  });
});

Deno.test("a hook that a stop cuts short is never delivered, even when it exits 0 on SIGTERM", async () => {
  await withTemp(async (tmp) => {
    await writeIndexLayout(`${tmp}/layout`);
    const started = `${tmp}/started`;
    const reference = parseReference(`oci:${tmp}/layout:v1`);
    // A cleanup trap, as hooks often have: its work was not done, yet it exits 0.
    const hook = `trap 'exit 0' TERM; touch ${started}; sleep 30 & wait; touch ${tmp}/done`;
    const stop = new AbortController();
    const state = new SyncState();
    const ticks: SyncTick[] = [];
    const stopping = (async () => {
      while (!(await exists(started))) await new Promise((resolve) => setTimeout(resolve, 20));
      stop.abort();
    })();
    const loop = syncLoop({
      reference,
      outputs: [execOutput(hook)],
      platform: AMD64,
      interval: 1000,
      state,
      signal: stop.signal,
    });
    for await (const tick of loop) ticks.push(tick);
    await stopping;
    assert.deepEqual(ticks.map((t) => t.status), ["aborted"]);
    assert.equal(state.get(`oci:${tmp}/layout:v1`), undefined, "not recorded");
    assert.equal(await exists(`${tmp}/done`), false);
  });
});

Deno.test("an output that returns after the stop is not taken as having delivered the change", async () => {
  await withTemp(async (tmp) => {
    await writeIndexLayout(`${tmp}/layout`);
    const stop = new AbortController();
    const state = new SyncState();
    // It goes on to the end whatever the signal says, as a careless output would.
    const careless: SyncOutput = {
      id: "careless",
      description: "careless",
      apply: async () => {
        stop.abort();
        await new Promise((resolve) => setTimeout(resolve, 10));
      },
    };
    const ticks: SyncTick[] = [];
    const loop = syncLoop({
      reference: parseReference(`oci:${tmp}/layout:v1`),
      outputs: [careless],
      platform: AMD64,
      interval: 1000,
      state,
      signal: stop.signal,
    });
    for await (const tick of loop) ticks.push(tick);
    assert.deepEqual(ticks.map((t) => t.status), ["aborted"]);
    assert.equal(state.get(`oci:${tmp}/layout:v1`), undefined, "not recorded");
  });
});

Deno.test("execOutput: a hook stopped by the sync fails its delivery whatever its exit code", async () => {
  await withTemp(async (tmp) => {
    const started = `${tmp}/started`;
    const stop = new AbortController();
    const output = execOutput(`trap 'exit 0' TERM; touch ${started}; sleep 30 & wait`);
    const digest = `sha256:${"a".repeat(64)}` as const;
    const applied = output.apply(
      {
        reference: "oci:x:v1",
        digest,
        manifestDigest: digest,
        paths: [],
        signal: stop.signal,
      } as unknown as Parameters<SyncOutput["apply"]>[0],
    );
    while (!(await exists(started))) await new Promise((resolve) => setTimeout(resolve, 20));
    stop.abort();
    await assert.rejects(applied, /the hook was stopped, as the sync was, and exited 0/);
  });
});

Deno.test("--events and --webhook name no path that pull refuses: a title out of the folder, absolute, or twice", async () => {
  await withTemp(async (tmp) => {
    const config = blob("application/vnd.oci.empty.v1+json", new TextEncoder().encode("{}"));
    const layout = await LayoutTarget.open(`${tmp}/layout`, { create: true });
    await layout.pushBlob(config.descriptor, ReadableStream.from([config.bytes]));
    const cases: [string, string[], RegExp][] = [
      [
        "escape",
        ["../../etc/cron.d/evil"],
        /refusing artifact file "\.\.\/\.\.\/etc\/cron\.d\/evil"/,
      ],
      ["absolute", ["/abs/flow.yaml"], /refusing artifact file "\/abs\/flow\.yaml"/],
      ["twice", ["dup.yaml", "./dup.yaml"], /refusing two layers at "dup\.yaml"/],
      ["untitled", ["layer-1", ""], /refusing two layers at "layer-1"/],
    ];
    for (const [tag, titles, refusal] of cases) {
      const layers = titles.map((_title, i) =>
        blob("text/yaml", new TextEncoder().encode(`${tag}: ${i}\n`))
      );
      for (const { descriptor, bytes } of layers) {
        await layout.pushBlob(descriptor, ReadableStream.from([bytes]));
      }
      const manifest = jsonBlob(MANIFEST, {
        schemaVersion: 2,
        mediaType: MANIFEST,
        artifactType: "application/x-flows",
        config: config.descriptor,
        layers: layers.map(({ descriptor }, i) => ({
          ...descriptor,
          ...(titles[i] ? { annotations: { "org.opencontainers.image.title": titles[i] } } : {}),
        })),
      });
      await layout.pushManifest(manifest.descriptor, manifest.bytes, [tag]);
      const reference = `oci:${tmp}/layout:${tag}`;
      const state = `${tmp}/${tag}.json`;
      const events = await ocisync(["sync", reference, "--events", "--state", state, "--once"]);
      // As a refused pull: exit 7, nothing written, nothing recorded.
      assert.equal(events.code, 7, `${tag}: ${events.stderr}`);
      assert.match(events.stderr, refusal, tag);
      assert.equal(events.stdout, "", tag);
      assert.equal(await exists(state), false, tag);
      if (tag === "escape") {
        let posts = 0;
        const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, () => {
          posts++;
          return new Response("ok");
        });
        try {
          const url = `http://127.0.0.1:${server.addr.port}/hook`;
          const webhook = await ocisync(["sync", reference, "--webhook", url, "--once"]);
          assert.equal(webhook.code, 7, webhook.stderr);
          assert.equal(posts, 0, "nothing posted");
        } finally {
          await server.shutdown();
        }
      }
      if (tag === "escape" || tag === "absolute") {
        const pulled = await ocisync(["pull", reference, "-o", `${tmp}/pulled-${tag}`]);
        assert.equal(pulled.code, 7, pulled.stderr);
        assert.match(pulled.stderr, refusal, tag);
      }
    }
  });
});
