/**
 * Load, against the real registry on loopback:
 *
 * - 50 `ocisync pull` processes of one reference at once, each into its own folder: all succeed,
 *   and all trees are the source tree;
 * - one `ocisync sync --config` with 100 targets at a 200 ms interval: its memory and open file
 *   descriptors stay flat, and each unchanged tick makes one request.
 */
import assert from "node:assert/strict";
import { RUN_FLAGS } from "../scripts/permissions.ts";
import { ocisync } from "./helpers/cli.ts";
import { startRegistry } from "./helpers/registry.ts";
import { snapshot, type TreeNode, writeTree } from "./helpers/tree.ts";

const PULLS = 50;

Deno.test(`${PULLS} parallel pulls of one image succeed with identical trees`, async () => {
  const registry = await startRegistry();
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-load-" });
  try {
    // About 3 MiB in 120 files and 12 folders, and a second layer.
    const tree: Record<string, TreeNode> = {};
    for (let d = 0; d < 12; d++) {
      tree[`lib/d${d}`] = { type: "dir" };
      for (let f = 0; f < 10; f++) {
        const content = new Uint8Array(1024 * (f * 5 + 1));
        crypto.getRandomValues(content.subarray(0, Math.min(content.length, 65536)));
        tree[`lib/d${d}/f${f}.bin`] = { type: "file", content, executable: f % 3 === 0 };
      }
    }
    tree["lib"] = { type: "dir" };
    tree["lib/link"] = { type: "symlink", target: "d0/f0.bin" };
    await writeTree(`${tmp}/src`, tree);
    await writeTree(`${tmp}/conf`, { "app.yaml": { type: "file", content: "replicas: 3\n" } });
    const ref = `${registry.host}/load/app:v1`;
    const push = await ocisync(["push", ref, `${tmp}/src:/srv`, `${tmp}/conf:/etc/app`, "-q"]);
    assert.equal(push.code, 0, push.stderr);

    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: PULLS }, (_, i) => ocisync(["pull", ref, "-o", `${tmp}/out/${i}`])),
    );
    const seconds = (Date.now() - started) / 1000;
    const failed = results.flatMap((r, i) => r.code === 0 ? [] : [`${i}: ${r.stderr}`]);
    assert.deepEqual(failed, [], "every pull succeeds");

    const expected = await snapshot(`${tmp}/src`);
    for (let i = 0; i < PULLS; i++) {
      assert.deepEqual(await snapshot(`${tmp}/out/${i}/srv`), expected, `tree ${i}`);
      assert.equal(await Deno.readTextFile(`${tmp}/out/${i}/etc/app/app.yaml`), "replicas: 3\n");
    }
    assert.deepEqual(
      [...Deno.readDirSync(`${tmp}/out`)].filter((e) => e.name.startsWith(".")),
      [],
      "no staging folder is left",
    );
    const blobGets = (await registry.requests()).filter((r) =>
      r.method === "GET" && r.path.includes("/blobs/") && r.status === 200
    );
    assert.equal(blobGets.length, PULLS * 3, "a config and two layers per pull");
    console.log(`${PULLS} pulls at once in ${seconds.toFixed(1)} s`);
  } finally {
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

const TARGETS = 100;
// The issue asks for 60 s; 40 keeps this file within its minute, with the pulls above.
const SYNC_SECONDS = 40;
// The first sample: V8 sizes its heap over the first seconds. Its heap after a full GC stays at
// 12-16 MB from the first ticks on (--trace-gc over 4 minutes), while the heap it reserves grows
// from about 90 to about 105 MB until some 20-40 s in; a sample at 10 s failed one run in three.
const WARM_UP_SECONDS = 20;

/** Resident memory in KiB and open descriptors of a process, from /proc. */
async function usage(pid: number): Promise<{ rssKiB: number; fds: number }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const rssKiB = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
  const fds = (await Array.fromAsync(Deno.readDir(`/proc/${pid}/fd`))).length;
  return { rssKiB, fds };
}

Deno.test(`sync --config: ${TARGETS} targets every 200 ms stay flat, one request per unchanged tick`, async () => {
  const registry = await startRegistry();
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-load-" });
  try {
    await writeTree(`${tmp}/files`, { "app.yaml": { type: "file", content: "replicas: 3\n" } });
    const push = await ocisync([
      ...["push", `${registry.host}/load/sync:t0`, "--files", `${tmp}/files/app.yaml`],
      ...["--artifact-type", "application/vnd.example.config", "--json"],
    ], { cwd: tmp });
    assert.equal(push.code, 0, push.stderr);
    // The other tags, straight through the distribution API.
    const manifestUrl = `http://${registry.host}/v2/load/sync/manifests`;
    const manifest = await fetch(`${manifestUrl}/t0`, {
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    const bytes = new Uint8Array(await manifest.arrayBuffer());
    for (let i = 1; i < TARGETS; i++) {
      const put = await fetch(`${manifestUrl}/t${i}`, {
        method: "PUT",
        headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
        body: bytes,
      });
      assert.equal(put.status, 201, await put.text());
    }
    const config = [
      "interval: 200ms",
      "jitter: 0%",
      "targets:",
      ...Array.from({ length: TARGETS }, (_, i) => [
        `  - reference: ${registry.host}/load/sync:t${i}`,
        "    events: true",
      ]).flat(),
    ].join("\n");
    await Deno.writeTextFile(`${tmp}/sync.yaml`, `${config}\n`);

    const before = (await registry.requests()).length;
    const main = new URL("../main.ts", import.meta.url).pathname;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...RUN_FLAGS, main, "sync", "--config", `${tmp}/sync.yaml`],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    await new Promise((resolve) => setTimeout(resolve, WARM_UP_SECONDS * 1000));
    const first = await usage(child.pid);
    await new Promise((resolve) => setTimeout(resolve, (SYNC_SECONDS - WARM_UP_SECONDS) * 1000));
    const last = await usage(child.pid);
    child.kill("SIGTERM");
    const { code, stdout, stderr } = await output;
    const log = new TextDecoder().decode(stderr);
    assert.equal(code, 0, log.slice(-2000));
    console.log(
      `RSS ${first.rssKiB} KiB after ${WARM_UP_SECONDS} s, ${last.rssKiB} KiB after ` +
        `${SYNC_SECONDS} s; open descriptors ${first.fds}, then ${last.fds}`,
    );
    assert.ok(last.rssKiB < first.rssKiB * 1.3, "memory stays flat");
    assert.ok(last.fds <= first.fds + 5, "descriptors stay flat");

    // Each target delivered its one change, as events.
    const synced = new TextDecoder().decode(stdout).split("\n")
      .filter((line) => line.includes('"action":"synced"'));
    assert.equal(synced.length, TARGETS);
    // Each tick made one request: the HEAD of its tag. The change made a few more, once.
    const requests = (await registry.requests()).slice(before);
    let unchanged = 0;
    for (let i = 0; i < TARGETS; i++) {
      const reference = `${registry.host}/load/sync:t${i}`;
      const ticks = (status: string) =>
        log.split("\n").filter((line) => line.includes(` ${reference} ${status}`)).length;
      const heads = requests.filter((r) =>
        r.method === "HEAD" && r.path === `/v2/load/sync/manifests/t${i}`
      ).length;
      assert.equal(ticks("changed"), 1, reference);
      assert.equal(ticks("failed"), 0, reference);
      // A tick that SIGTERM stopped may or may not have sent its HEAD.
      const done = ticks("changed") + ticks("unchanged");
      assert.ok(heads >= done && heads <= done + ticks("aborted"), `${reference}: ${heads} HEADs`);
      unchanged += ticks("unchanged");
    }
    const others = requests.filter((r) => r.method !== "HEAD");
    assert.ok(others.length <= 1 + TARGETS * 3, `${others.length} requests besides the HEADs`);
    assert.ok(unchanged > TARGETS * 50, `${unchanged} unchanged ticks`);
    console.log(`${unchanged} unchanged ticks, ${requests.length} requests in all`);
  } finally {
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});
