/**
 * The library's calls stop when their signal aborts, at any step: they reject with the abort's
 * reason, soon, and write nothing more (no tag after an abort). A proxy in front of a real
 * registry holds a blob's download back, so that the abort comes while the call waits on it:
 * without the signal, a delayed download finished and the copy wrote its tag, and a stalled one
 * waited for the whole timeout and threw a NetworkError.
 */
import assert from "node:assert/strict";
import {
  copy,
  inspect,
  layerFromFolder,
  pullTo,
  pushFiles,
  pushFolder,
  writeLayerFile,
} from "../mod.ts";
import { type FaultRule, type FrontProxy, startProxy } from "./helpers/fault_proxy.ts";
import { randomBytes } from "./helpers/random.ts";
import { startRegistry } from "./helpers/registry.ts";
import { withTempDir } from "./helpers/tree.ts";

/** Blob downloads held back for `seconds`, from the first byte, or after `after` bytes. */
function heldDownloads(seconds: number, after?: number): FaultRule {
  return {
    method: "GET",
    path: /\/blobs\/sha256:/,
    times: Infinity,
    fault: { kind: "stall", seconds, ...(after === undefined ? {} : { after }) },
  };
}

/**
 * A registry holding `app:v1`, a folder with a 1 MiB file of random bytes, behind a proxy with
 * `rule`; `fn` gets the proxy and a temporary folder.
 */
async function withHeldImage(
  rule: FaultRule,
  fn: (proxy: FrontProxy, tmp: string) => Promise<void>,
): Promise<void> {
  const registry = await startRegistry();
  const proxy = startProxy(registry.host);
  try {
    await withTempDir("ocisync-library-abort-", async (tmp) => {
      await Deno.mkdir(`${tmp}/src`);
      await Deno.writeFile(`${tmp}/src/data.bin`, randomBytes(1024 * 1024));
      await pushFolder(`${registry.host}/app:v1`, `${tmp}/src`, { credentials: false });
      proxy.inject(rule);
      await fn(proxy, tmp);
    });
  } finally {
    await proxy.close();
    await registry.stop();
  }
}

/** A signal aborted with `reason` once the proxy has held a request back. */
function abortWhenHeld(proxy: FrontProxy, reason: Error): AbortSignal {
  const stop = new AbortController();
  const timer = setInterval(() => {
    if (proxy.seen.some((request) => request.fault === "stall")) {
      clearInterval(timer);
      stop.abort(reason);
    }
  }, 10);
  stop.signal.addEventListener("abort", () => clearInterval(timer));
  return stop.signal;
}

/** Runs `call`, which must reject with `reason` within `seconds`. */
async function rejectsSoon(call: Promise<unknown>, reason: Error, seconds: number) {
  const started = Date.now();
  await assert.rejects(call, (error) => error === reason);
  const took = (Date.now() - started) / 1000;
  assert.ok(took < seconds, `rejected after ${took} s, not within ${seconds} s`);
}

/** The tags a layout's `index.json` lists; none when it has no index. */
async function layoutTags(layout: string): Promise<string[]> {
  const text = await Deno.readTextFile(`${layout}/index.json`).catch(() => undefined);
  if (text === undefined) return [];
  const index = JSON.parse(text) as { manifests: { annotations?: Record<string, string> }[] };
  return index.manifests.map((m) => m.annotations?.["org.opencontainers.image.ref.name"] ?? "");
}

Deno.test("copy() into a layout aborted while a blob's download is delayed rejects with the reason and writes no tag", async () => {
  await withHeldImage(heldDownloads(3), async (proxy, tmp) => {
    const reason = new Error("stopped by the caller");
    await rejectsSoon(
      copy(`${proxy.host}/app:v1`, `oci:${tmp}/mirror:v1`, {
        credentials: false,
        signal: abortWhenHeld(proxy, reason),
      }),
      reason,
      2.5,
    );
    // The delayed downloads end after the abort; nothing may be written then either.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    assert.deepEqual(await layoutTags(`${tmp}/mirror`), []);
  });
});

Deno.test("copy() into an oci-archive aborted while a download stalls rejects at once with the reason, not the timeout's NetworkError", async () => {
  await withHeldImage(heldDownloads(60, 64 * 1024), async (proxy, tmp) => {
    const reason = new Error("stopped by the caller");
    await rejectsSoon(
      copy(`${proxy.host}/app:v1`, `oci-archive:${tmp}/app.tar`, {
        credentials: false,
        retries: 0,
        timeout: 30_000,
        signal: abortWhenHeld(proxy, reason),
      }),
      reason,
      10,
    );
    assert.deepEqual([...Deno.readDirSync(tmp)].map((e) => e.name), ["src"]);
  });
});

Deno.test("inspect() and pullTo() aborted while the image's config downloads reject with the reason at once", async () => {
  await withHeldImage(heldDownloads(20), async (proxy, tmp) => {
    const reason = new Error("stopped by the caller");
    const settings = { credentials: false as const, timeout: 60_000 };
    await rejectsSoon(
      inspect(`${proxy.host}/app:v1`, { ...settings, signal: abortWhenHeld(proxy, reason) }),
      reason,
      10,
    );
    proxy.seen.length = 0;
    await rejectsSoon(
      pullTo(`${proxy.host}/app:v1`, `${tmp}/out`, {
        ...settings,
        signal: abortWhenHeld(proxy, reason),
      }),
      reason,
      10,
    );
    assert.equal(await Deno.lstat(`${tmp}/out`).then(() => true, () => false), false);
  });
});

/** `tmp/big`: 24 MiB of random bytes in 3 files, which take a while to pack. */
async function bigFolder(tmp: string): Promise<string> {
  await Deno.mkdir(`${tmp}/big`);
  for (const name of ["a", "b", "c"]) {
    await Deno.writeFile(`${tmp}/big/${name}.bin`, randomBytes(8 * 1024 * 1024));
  }
  return `${tmp}/big`;
}

Deno.test("layerFromFolder stops packing when its signal aborts: the next piece throws the reason", async () => {
  await withTempDir("ocisync-library-abort-", async (tmp) => {
    const stop = new AbortController();
    const reason = new Error("stopped by the caller");
    const { bytes, layer } = layerFromFolder(await bigFolder(tmp), { signal: stop.signal });
    const chunks = bytes[Symbol.asyncIterator]();
    assert.equal((await chunks.next()).done, false);
    stop.abort(reason);
    await assert.rejects(chunks.next(), (error) => error === reason);
    await assert.rejects(layer, (error) => error === reason);
  });
});

Deno.test("pushFolder and pushFiles aborted stop packing at once, not once the folder is packed", async () => {
  await withTempDir("ocisync-library-abort-", async (tmp) => {
    const folder = await bigFolder(tmp);
    let started = Date.now();
    await writeLayerFile(folder, `${tmp}/layer.tar.gz`);
    const packing = Date.now() - started;
    const reason = new Error("stopped by the caller");
    const signal = AbortSignal.abort(reason);
    for (
      const push of [
        () => pushFolder(`oci:${tmp}/layout:v1`, folder, { signal }),
        () => pushFiles(`oci:${tmp}/layout:v1`, [folder], { signal }),
        () => pushFiles(`oci:${tmp}/layout:v1`, [`${tmp}/layer.tar.gz`], { signal }),
      ]
    ) {
      started = Date.now();
      await assert.rejects(push(), (error) => error === reason);
      const took = Date.now() - started;
      assert.ok(took < packing / 4, `stopped after ${took} ms; packing takes ${packing} ms`);
    }
    assert.equal(await Deno.lstat(`${tmp}/layout`).then(() => true, () => false), false);
  });
});
