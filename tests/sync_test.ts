/**
 * `ocisync sync` against the real Distribution registry: events, the directory swap under a
 * concurrent reader, a connection cut mid-pull, the registry going away, hooks, webhooks and
 * `--config`. Long-running loops are real processes with the binary's permissions.
 */
import assert from "node:assert/strict";
import { RUN_FLAGS } from "../scripts/permissions.ts";
import { ocisync, ocisyncOk } from "./helpers/cli.ts";
import { isolatedEnv } from "./helpers/servers.ts";
import { startProxy } from "./helpers/fault_proxy.ts";
import { type TestRegistry, withRegistry } from "./helpers/registry.ts";
import { writeTree } from "./helpers/tree.ts";
import { groupMembers } from "./helpers/processes.ts";
import { pushArtifact } from "../src/push/mod.ts";
import { parseReference, parseRegistryReference } from "../src/ref/mod.ts";
import { RegistryTarget } from "../src/remote/registry.ts";
import { LayoutTarget } from "../src/layout/mod.ts";
import {
  directoryOutput,
  eventsOutput,
  parseJitter,
  syncLoop,
  SyncMetrics,
  SyncState,
  type SyncTick,
  type TargetHealth,
} from "../src/sync/mod.ts";
import { parseSyncConfig } from "../src/sync/config_file.ts";
import { UsageError } from "../src/errors/mod.ts";
import { sha256Digest } from "./helpers/hash.ts";
import { until } from "./helpers/wait.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ARTIFACT_TYPE = "application/vnd.example.config";

/** The manifest digest of a tag, as the registry serves it: the hash of its bytes. */
async function manifestDigest(registry: TestRegistry, repo: string, tag: string): Promise<string> {
  const response = await fetch(`http://${registry.host}/v2/${repo}/manifests/${tag}`, {
    headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
  });
  assert.equal(response.status, 200);
  return sha256Digest(new Uint8Array(await response.arrayBuffer()));
}

/** Pushes `files` (path → content) as an ORAS-style artifact, in-process, for speed. */
async function pushFiles(
  host: string,
  repo: string,
  tag: string,
  files: Record<string, string>,
  work: string,
): Promise<void> {
  await Deno.remove(work, { recursive: true }).catch(() => {});
  const folders = Object.keys(files).filter((p) => p.includes("/"))
    .map((p) => [p.slice(0, p.lastIndexOf("/")), { type: "dir" as const }]);
  await writeTree(work, {
    ...Object.fromEntries(folders),
    ...Object.fromEntries(
      Object.entries(files).map(([p, content]) => [p, { type: "file" as const, content }]),
    ),
  });
  const target = new RegistryTarget(parseRegistryReference(`${host}/${repo}`));
  const artifact = Object.keys(files).map((title) => ({ path: `${work}/${title}`, title }));
  await pushArtifact(target, [tag], artifact, work, 0, { artifactType: ARTIFACT_TYPE });
  target.close();
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line));
}

async function stateDigest(path: string, reference: string): Promise<string | undefined> {
  const state = JSON.parse(await Deno.readTextFile(path));
  return state.references[reference]?.digest;
}

/** A running `ocisync sync`: its stderr lines as they come, and a way to wait for one. */
class SyncProcess {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  #stdout: Promise<string>;
  #reading: Promise<void>;

  constructor(args: string[], env?: Record<string, string>) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...RUN_FLAGS, MAIN, "sync", ...args],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.child = child;
    this.#stdout = new Response(child.stdout).text();
    this.#reading = (async () => {
      let rest = "";
      for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
        const parts = (rest + text).split("\n");
        rest = parts.pop()!;
        this.lines.push(...parts);
      }
    })();
  }

  /** JSON log lines so far (with --log-format json). */
  logs(): Record<string, unknown>[] {
    return this.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  }

  /** Ticks logged so far (with --log-format json). */
  ticks(): (SyncTick & { exitCode?: number })[] {
    return this.logs().filter((e) => e.status !== undefined) as unknown as SyncTick[];
  }

  waitFor<T>(
    find: () => T | undefined | Promise<T | undefined>,
    what: string,
    timeout = 15_000,
  ): Promise<T> {
    return until(find, what, timeout, () => `; stderr:\n${this.lines.join("\n")}`);
  }

  /** Waits for the exit; kills the process first if `signal` is given. */
  async finish(signal?: Deno.Signal): Promise<{ code: number; stdout: string }> {
    if (signal) {
      try {
        this.child.kill(signal);
      } catch { /* already gone */ }
    }
    const { code } = await this.child.status;
    await this.#reading;
    return { code, stdout: await this.#stdout };
  }
}

/** Runs `body` with a sync process, which is always stopped and awaited. */
async function withSync(
  args: string[],
  body: (sync: SyncProcess) => Promise<void>,
  env?: Record<string, string>,
): Promise<void> {
  const sync = new SyncProcess(args, env);
  try {
    await body(sync);
  } finally {
    await sync.finish("SIGKILL");
  }
}

Deno.test("events: three puts, then after a retag the puts and one delete, then nothing", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const files = { "a.yaml": "a: 1\n", "b.yaml": "b: 2\n", "conf/c.yaml": "c: 3\n" };
    await writeTree(`${tmp}/v1`, {
      "conf": { type: "dir" },
      ...Object.fromEntries(
        Object.entries(files).map(([p, content]) => [p, { type: "file" as const, content }]),
      ),
    });
    const ref = `${registry.host}/team/config:prod`;
    const push = await ocisync(
      ["push", ref, "--files", ...Object.keys(files), "--artifact-type", ARTIFACT_TYPE],
      { cwd: `${tmp}/v1` },
    );
    assert.equal(push.code, 0, push.stderr);
    const v1 = await manifestDigest(registry, "team/config", "prod");
    const state = `${tmp}/state/sync.json`;

    const first = await ocisync(["sync", ref, "--once", "--events", "--state", state]);
    assert.equal(first.code, 0, first.stderr);
    const events = jsonLines(first.stdout);
    const expected = [];
    for (const [path, content] of Object.entries(files)) {
      expected.push({
        action: "put",
        path,
        content,
        digest: sha256Digest(content),
        artifact_digest: v1,
        reference: ref,
      });
    }
    assert.deepEqual(events, [...expected, {
      action: "synced",
      artifact_digest: v1,
      reference: ref,
    }]);
    assert.equal(await stateDigest(state, ref), v1);
    assert.match(first.stderr, /changed/);

    // v2: a.yaml changed, b.yaml kept, conf/c.yaml removed.
    await writeTree(`${tmp}/v2`, {
      "a.yaml": { type: "file", content: "a: 2\n" },
      "b.yaml": { type: "file", content: files["b.yaml"] },
    });
    const retag = await ocisync(
      ["push", ref, "--files", "a.yaml", "b.yaml", "--artifact-type", ARTIFACT_TYPE],
      { cwd: `${tmp}/v2` },
    );
    assert.equal(retag.code, 0, retag.stderr);
    const v2 = await manifestDigest(registry, "team/config", "prod");
    assert.notEqual(v2, v1);
    const second = await ocisync(["sync", ref, "--once", "--events", "--state", state]);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(jsonLines(second.stdout).map((e) => [e.action, e.path, e.artifact_digest]), [
      ["put", "a.yaml", v2],
      ["put", "b.yaml", v2],
      ["delete", "conf/c.yaml", v2],
      ["synced", undefined, v2],
    ]);
    assert.equal(jsonLines(second.stdout)[0].content, "a: 2\n");
    assert.equal(await stateDigest(state, ref), v2);

    const third = await ocisync(["sync", ref, "--once", "--events", "--state", state]);
    assert.equal(third.code, 0, third.stderr);
    assert.equal(third.stdout, "");
    assert.match(third.stderr, new RegExp(`unchanged ${v2}`));
  });
});

Deno.test("an unchanged tick costs one HEAD, and a token request only once it expired", async () => {
  // Tokens last 3 s, which the client stops using a tenth early: one expires between two ticks.
  await withRegistry({ auth: "token", tokenExpiresIn: 3 }, async (registry, tmp) => {
    const credentials = () =>
      Promise.resolve({ username: registry.username, password: registry.password });
    const repository = parseRegistryReference(`${registry.host}/team/app`);
    const target = new RegistryTarget(repository, { credentials });
    await writeTree(`${tmp}/files`, { "app.yaml": { type: "file", content: "x: 1\n" } });
    await pushArtifact(
      target,
      ["v1"],
      [{ path: `${tmp}/files/app.yaml`, title: "app.yaml" }],
      tmp,
      0,
      {
        artifactType: ARTIFACT_TYPE,
      },
    );
    target.close();

    const lines: string[] = [];
    const sink = {
      write: (chunk: Uint8Array) =>
        Promise.resolve(lines.push(new TextDecoder().decode(chunk)) && chunk.length),
    };
    const ticks = syncLoop({
      reference: parseReference(`${registry.host}/team/app:v1`),
      outputs: [eventsOutput(sink)],
      interval: 50,
      open: () => Promise.resolve(new RegistryTarget(repository, { credentials })),
    });
    const counts = async () => ({
      requests: (await registry.requests()).length,
      tokens: registry.tokenRequests!.length,
    });
    try {
      assert.equal((await ticks.next()).value?.status, "changed");
      assert.match(lines.join(""), /"action":"synced"/);
      for (let i = 0; i < 3; i++) {
        // The generator is suspended between ticks: nothing else is sent meanwhile.
        const before = await counts();
        const tick = (await ticks.next()).value!;
        assert.equal(tick.status, "unchanged");
        const after = await counts();
        const sent = (await registry.requests()).slice(before.requests);
        assert.deepEqual(sent.map((r) => [r.method, r.path]), [
          ["HEAD", "/v2/team/app/manifests/v1"],
        ]);
        assert.equal(after.tokens, before.tokens, "no token request while the token is fresh");
      }
      await new Promise((resolve) => setTimeout(resolve, 2800));
      const before = await counts();
      assert.equal((await ticks.next()).value?.status, "unchanged");
      const after = await counts();
      assert.equal(after.requests - before.requests, 1);
      assert.equal(after.tokens - before.tokens, 1, "one token request after it expired");
    } finally {
      await ticks.return();
    }
  });
});

Deno.test("sync with token auth: a fresh process pays one 401 and one token, then one HEAD a tick", async () => {
  await withRegistry({ auth: "token" }, async (registry, tmp) => {
    const credentials = { username: registry.username, password: registry.password };
    const target = new RegistryTarget(parseRegistryReference(`${registry.host}/team/app`), {
      credentials: () => Promise.resolve(credentials),
    });
    await writeTree(`${tmp}/files`, { "app.yaml": { type: "file", content: "x: 1\n" } });
    const files = [{ path: `${tmp}/files/app.yaml`, title: "app.yaml" }];
    await pushArtifact(target, ["v1"], files, tmp, 0, { artifactType: ARTIFACT_TYPE });
    target.close();
    const file = `${tmp}/credentials.json`;
    await Deno.writeTextFile(file, JSON.stringify(credentials), { mode: 0o600 });
    const ref = `${registry.host}/team/app:v1`;
    const state = `${tmp}/state.json`;
    const once = await ocisync([
      "sync",
      ref,
      "--once",
      "--events",
      "--state",
      state,
      "--credentials",
      file,
    ]);
    assert.equal(once.code, 0, once.stderr);

    const requests = (await registry.requests()).length;
    const tokens = registry.tokenRequests!.length;
    const args = [ref, "--events", "--state", state, "--credentials", file, "--interval", "100ms"];
    await withSync([...args, "--jitter", "0%", "--log-format", "json"], async (sync) => {
      await sync.waitFor(() => sync.ticks().length >= 5, "five ticks");
      await sync.finish("SIGTERM");
      const ticks = sync.ticks().filter((tick) => tick.status === "unchanged").length;
      const sent = (await registry.requests()).slice(requests).map((r) =>
        `${r.method} ${r.status}`
      );
      // The first tick: refused with the challenge, then sent with a token. Each tick after it:
      // one HEAD with the cached token. One more HEAD may be from a tick that SIGTERM ended.
      assert.deepEqual(sent.slice(0, 2), ["HEAD 401", "HEAD 200"]);
      assert.ok(sent.slice(2).every((r) => r === "HEAD 200"), sent.join("\n"));
      assert.ok(
        ticks >= 5 && [ticks, ticks + 1].includes(sent.length - 1),
        `${ticks} ticks:\n${sent}`,
      );
      assert.deepEqual(registry.tokenRequests!.slice(tokens).map((t) => t.scope.join(" ")), [
        "repository:team/app:pull",
      ]);
    });
  });
});

Deno.test("a cut mid-blob writes no state; the next tick emits the whole batch", async () => {
  await withRegistry({}, async (registry, tmp) => {
    // A proxy in front of the registry that cuts blob downloads halfway while armed.
    let armed = false;
    let cuts = 0;
    const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
      const url = new URL(request.url);
      const upstream = await fetch(`http://${registry.host}${url.pathname}${url.search}`, {
        method: request.method,
        headers: request.headers,
        body: request.body,
      });
      if (!(armed && request.method === "GET" && url.pathname.includes("/blobs/"))) {
        return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
      }
      cuts++;
      const bytes = new Uint8Array(await upstream.arrayBuffer());
      const body = new ReadableStream<Uint8Array>({
        start: (controller) => controller.enqueue(bytes.subarray(0, bytes.length >> 1)),
        // Later, so that the client has the headers and is reading the body: a failure before
        // the headers would be retried by the transport.
        pull: async (controller) => {
          await new Promise((resolve) => setTimeout(resolve, 300));
          controller.error(new Error("connection cut by the test proxy"));
        },
      });
      return new Response(body, { status: upstream.status, headers: upstream.headers });
    });
    try {
      const host = `127.0.0.1:${proxy.addr.port}`;
      const ref = `${host}/team/flows:live`;
      const state = `${tmp}/state.json`;
      const big = "x".repeat(256 * 1024);
      await pushFiles(host, "team/flows", "live", { "a.txt": `1${big}`, "b.txt": "1" }, `${tmp}/w`);
      const first = await ocisync(["sync", ref, "--once", "--events", "--state", state]);
      assert.equal(first.code, 0, first.stderr);
      const v1 = await manifestDigest(registry, "team/flows", "live");
      assert.equal(await stateDigest(state, ref), v1);

      await pushFiles(host, "team/flows", "live", { "a.txt": `2${big}`, "c.txt": "2" }, `${tmp}/w`);
      const v2 = await manifestDigest(registry, "team/flows", "live");
      // The transport resumes a broken body: the cut must outlast its one retry.
      armed = true;
      const cut = await ocisync(
        ["sync", ref, "--once", "--events", "--state", state, "--retries", "1"],
      );
      armed = false;
      // The transport may resume a broken body once (--retries 1): every attempt is cut.
      assert.ok(cuts >= 1, "the proxy cut the blob");
      assert.notEqual(cut.code, 0, cut.stderr);
      assert.match(cut.stderr, /error reading|connection|bytes/);
      assert.equal(cut.stdout, "", "no event of a half-pulled change");
      assert.equal(await stateDigest(state, ref), v1, "the state is untouched");

      const again = await ocisync(["sync", ref, "--once", "--events", "--state", state]);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(jsonLines(again.stdout).map((e) => [e.action, e.path]), [
        ["put", "a.txt"],
        ["put", "c.txt"],
        ["delete", "b.txt"],
        ["synced", undefined],
      ]);
      assert.equal(jsonLines(again.stdout)[0].digest, sha256Digest(`2${big}`));
      assert.equal(await stateDigest(state, ref), v2);
    } finally {
      await proxy.shutdown();
    }
  });
});

Deno.test("-o DIR: a reader never sees a missing file or a mix during 20 swaps", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const dir = `${tmp}/out`;
    const padding = "-".repeat(64 * 1024);
    const version = (i: number) => ({
      "a.txt": `v${i}\n${padding}`,
      "b.txt": `v${i}\n`,
      "sub/c.txt": `v${i}\n${padding}`,
    });
    await pushFiles(registry.host, "team/site", "live", version(0), `${tmp}/w`);
    const ref = `${registry.host}/team/site:live`;
    await withSync(
      [ref, "-o", dir, "--interval", "100ms", "--jitter", "0%", "--log-format", "json"],
      async (sync) => {
        const hexOf = async (repoTag: string) =>
          (await manifestDigest(registry, "team/site", repoTag)).slice("sha256:".length);
        const current = async () =>
          (await Deno.realPath(`${dir}/current`).catch(() => "")).split("/").pop();
        const first = await hexOf("live");
        await sync.waitFor(async () => (await current()) === first || undefined, "v0");

        let reading = true;
        let reads = 0;
        const seen = new Set<string>();
        const reader = (async () => {
          while (reading) {
            // Resolve the link once, then read below it: one version, whole.
            const root = await Deno.realPath(`${dir}/current`);
            const contents = await Promise.all(
              ["a.txt", "b.txt", "sub/c.txt"].map((p) => Deno.readTextFile(`${root}/${p}`)),
            );
            const markers = new Set(contents.map((c) => c.split("\n")[0]));
            assert.equal(markers.size, 1, `a mix of versions: ${[...markers]}`);
            seen.add([...markers][0]);
            reads++;
          }
        })();
        try {
          for (let i = 1; i <= 20; i++) {
            await pushFiles(registry.host, "team/site", "live", version(i), `${tmp}/w`);
            const hex = await hexOf("live");
            await sync.waitFor(async () => (await current()) === hex || undefined, `v${i}`);
          }
        } finally {
          reading = false;
          await reader;
        }
        assert.ok(reads > 20, `only ${reads} reads`);
        assert.ok(seen.size >= 10, `the reader saw ${seen.size} versions`);
        // The link moves, then old versions are pruned, then the tick's line is logged: wait
        // for the line before looking at what was kept.
        const changed = () => sync.ticks().filter((t) => t.status === "changed").length;
        await sync.waitFor(() => Promise.resolve(changed() >= 21 || undefined), "21 changes");
        assert.equal(changed(), 21);
        const kept = [...Deno.readDirSync(`${dir}/.ocisync`)].map((e) => e.name);
        assert.equal(kept.length, 2, `--keep 2 left ${kept}`);
        const { code } = await sync.finish("SIGTERM");
        assert.equal(code, 0);
      },
    );
  });
});

Deno.test("-o DIR wiped with --state elsewhere: rebuilt by the next run or tick, idle ticks one HEAD", async () => {
  await withRegistry({}, async (registry, tmp) => {
    await pushFiles(registry.host, "team/app", "live", { "a.yaml": "a: 1\n" }, `${tmp}/w`);
    const ref = `${registry.host}/team/app:live`;
    const v1 = await manifestDigest(registry, "team/app", "live");
    // The systemd layout: the state on disk, the folder on a tmpfs that a reboot empties.
    const dir = `${tmp}/run/flows`;
    const state = `${tmp}/lib/state.json`;
    const once = () => ocisync(["sync", ref, "--once", "-o", dir, "--state", state]);
    const first = await once();
    assert.equal(first.code, 0, first.stderr);
    await Deno.remove(dir, { recursive: true });
    const again = await once();
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, new RegExp(`changed ${v1} -> ${v1}`));
    // The CLI says why, as a warning.
    assert.match(again.stderr, new RegExp(`warning: .*: delivering ${v1} again: ${dir}/current `));
    assert.equal(await Deno.readTextFile(`${dir}/current/a.yaml`), "a: 1\n");
    assert.equal(await stateDigest(state, ref), v1);

    // A running loop: idle ticks cost one HEAD each, the check of the folder none.
    const lines: string[] = [];
    const ticks = syncLoop({
      reference: parseReference(ref),
      outputs: [directoryOutput(dir)],
      interval: 10,
      state: await SyncState.open(state),
      log: (line) => lines.push(line),
    });
    const sent = async (tick: () => Promise<void>) => {
      const before = (await registry.requests()).length;
      await tick();
      return (await registry.requests()).slice(before).map((r) => `${r.method} ${r.path}`);
    };
    const status = async (expected: SyncTick["status"]) =>
      assert.equal((await ticks.next()).value?.status, expected);
    try {
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(await sent(() => status("unchanged")), [
          "HEAD /v2/team/app/manifests/live",
        ]);
      }
      await Deno.remove(dir, { recursive: true });
      await status("changed");
      assert.equal(await Deno.readTextFile(`${dir}/current/a.yaml`), "a: 1\n");
      assert.equal(lines.length, 1, lines.join("\n"));
      assert.ok(lines[0].startsWith(`${ref}: delivering ${v1} again: ${dir}/current `), lines[0]);
      assert.deepEqual(await sent(() => status("unchanged")), [
        "HEAD /v2/team/app/manifests/live",
      ]);
    } finally {
      await ticks.return();
    }
  });
});

Deno.test("registry down: failures, /healthz 503, recovery, --max-failures exits 6", async () => {
  await withRegistry({}, async (registry, tmp) => {
    await pushFiles(registry.host, "team/app", "v1", { "a.yaml": "a: 1\n" }, `${tmp}/w`);
    const args = [
      `${registry.host}/team/app:v1`,
      "--events",
      "--interval",
      "300ms",
      "--jitter",
      "0%",
      "--http",
      "127.0.0.1:0",
      "--max-failures",
      "20",
      "--retries",
      "0",
      "--timeout",
      "2s",
      "--log-format",
      "json",
    ];
    await withSync(args, async (sync) => {
      const url = await sync.waitFor(
        () => sync.logs().find((e) => e.msg === "listening")?.url as string | undefined,
        "the HTTP server",
      );
      const get = async (path: string) => {
        const response = await fetch(`${url}${path}`);
        return { status: response.status, text: await response.text() };
      };
      await sync.waitFor(() => sync.ticks().find((t) => t.status === "changed"), "the first sync");
      assert.equal((await get("/healthz")).status, 200);

      await registry.pause();
      await sync.waitFor(
        () => sync.ticks().filter((t) => t.status === "failed").length >= 2 || undefined,
        "failures",
      );
      await sync.waitFor(async () => (await get("/healthz")).status === 503 || undefined, "503");
      const health = JSON.parse((await get("/healthz")).text);
      assert.equal(health.healthy, false);
      const metrics = (await get("/metrics")).text;
      const failures = Number(/^ocisync_sync_failures_total\{[^}]*\} (\d+)$/m.exec(metrics)?.[1]);
      assert.ok(failures >= 2, metrics);
      assert.match(
        metrics,
        new RegExp(
          `ocisync_sync_info\\{target="0",reference="${registry.host}/team/app:v1",digest="sha256:`,
        ),
      );
      assert.match(metrics, /^ocisync_sync_changes_total\{[^}]*\} 1$/m);
      assert.equal(sync.ticks().filter((t) => t.status === "failed")[0].exitCode, 6);

      await registry.resume();
      const failedSoFar = sync.ticks().length;
      await sync.waitFor(
        () => sync.ticks().slice(failedSoFar).find((t) => t.status === "unchanged"),
        "recovery",
      );
      assert.equal((await get("/healthz")).status, 200);

      await registry.pause();
      const { code } = await sync.finish();
      assert.equal(code, 6, sync.lines.join("\n"));
      const last = sync.ticks().at(-1)!;
      assert.equal(last.status, "failed");
      assert.equal(last.failures, 20);
      // The error the process exits with is a JSON line too, last.
      const exit = sync.logs().at(-1)!;
      assert.equal(exit.level, "error");
      assert.equal(exit.exitCode, 6);
    });
  });
});

Deno.test("--config: two targets of one reference have their own /healthz entry and metrics", async () => {
  // They shared one entry: the target whose hook always failed showed as healthy.
  await withRegistry({}, async (registry, tmp) => {
    await pushFiles(registry.host, "team/app", "v1", { "a.yaml": "a: 1\n" }, `${tmp}/w`);
    const reference = `${registry.host}/team/app:v1`;
    await Deno.writeTextFile(
      `${tmp}/sync.yaml`,
      `interval: 300ms\ntargets:\n  - reference: ${reference}\n    exec: "true"\n` +
        `  - reference: ${reference}\n    exec: "exit 3"\n`,
    );
    const args = ["--config", `${tmp}/sync.yaml`, "--http", "127.0.0.1:0", "--log-format", "json"];
    await withSync(args, async (sync) => {
      const url = await sync.waitFor(
        () => sync.logs().find((e) => e.msg === "listening")?.url as string | undefined,
        "the HTTP server",
      );
      await sync.waitFor(
        () => sync.ticks().filter((t) => t.status === "failed").length >= 2 || undefined,
        "the second target's failures",
      );
      const response = await fetch(`${url}/healthz`);
      const health = await response.json();
      assert.equal(response.status, 503);
      assert.deepEqual(
        health.targets.map((t: TargetHealth) => [t.target, t.reference, t.healthy, t.lastError]),
        [[0, reference, true, null], [1, reference, false, "the hook exited 3"]],
      );
      const metrics = await (await fetch(`${url}/metrics`)).text();
      const changes = [
        ...metrics.matchAll(
          /^ocisync_sync_changes_total\{target="(\d)",reference="([^"]*)"\} (\d+)$/gm,
        ),
      ]
        .map((m) => [m[1], m[2], m[3]]);
      assert.deepEqual(changes, [["0", reference, "1"], ["1", reference, "0"]]);
    });
  });
});

Deno.test("--http on an address in use is a usage error naming it and --http, before any tick", async () => {
  // It was exit 1 and a bare "Address already in use (os error 98)".
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-sync-http-" });
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const { port } = taken.addr;
    const args = ["sync", `oci:${tmp}/none:v1`, "-o", `${tmp}/out`, "--once"];
    const result = await ocisync([...args, "--http", `127.0.0.1:${port}`]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `^ocisync: error: cannot serve /healthz and /metrics on 127\\.0\\.0\\.1:${port}: ` +
          `Address already in use.*\\nhint: .*\\(--http\\)\\n$`,
      ),
    );
  } finally {
    taken.close();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("--exec: the hook's environment; a failing or stopped hook keeps the state", async () => {
  await withRegistry({}, async (registry, tmp) => {
    await pushFiles(registry.host, "team/app", "live", { "a.yaml": "a: 1\n" }, `${tmp}/w`);
    const ref = `${registry.host}/team/app:live`;
    const dir = `${tmp}/out`;
    const state = `${tmp}/state.json`;
    const hook =
      `printf '%s\\n' "$OCISYNC_REF" "$OCISYNC_DIGEST" "$OCISYNC_DIR" > ${tmp}/env.txt; ` +
      `cat "$OCISYNC_DIR/a.yaml" >> ${tmp}/env.txt; echo to-stdout`;
    const once = (command: string) =>
      ocisync(["sync", ref, "--once", "-o", dir, "--state", state, "--exec", command]);
    const ok = await once(hook);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, "", "the hook's stdout goes to stderr");
    assert.match(ok.stderr, /to-stdout/);
    const v1 = await manifestDigest(registry, "team/app", "live");
    const hex = v1.slice("sha256:".length);
    assert.deepEqual((await Deno.readTextFile(`${tmp}/env.txt`)).split("\n"), [
      ref,
      v1,
      `${await Deno.realPath(dir)}/.ocisync/${hex}`,
      "a: 1",
      "",
    ]);
    assert.equal(await stateDigest(state, ref), v1);

    await pushFiles(registry.host, "team/app", "live", { "a.yaml": "a: 2\n" }, `${tmp}/w`);
    const failing = await once("exit 3");
    assert.equal(failing.code, 1);
    assert.match(failing.stderr, /exited 3/);
    assert.equal(await stateDigest(state, ref), v1, "a failed hook keeps the old state");

    // A stop while the hook runs ends the hook and the process, cleanly, with the state as it was.
    const started = `${tmp}/started`;
    await withSync(
      [ref, "-o", dir, "--state", state, "--exec", `touch ${started}; sleep 30`],
      async (sync) => {
        await sync.waitFor(() => Deno.stat(started).then(() => true, () => undefined), "the hook");
        const stopAt = Date.now();
        const { code } = await sync.finish("SIGTERM");
        assert.equal(code, 0, sync.lines.join("\n"));
        assert.ok(Date.now() - stopAt < 5000, "the hook was stopped, not awaited");
        assert.match(sync.lines.join("\n"), /aborted/);
        assert.equal(await stateDigest(state, ref), v1);
      },
    );

    const fixed = await once("true");
    assert.equal(fixed.code, 0, fixed.stderr);
    const v2 = await manifestDigest(registry, "team/app", "live");
    assert.equal(await stateDigest(state, ref), v2);
    assert.equal(await Deno.readTextFile(`${dir}/current/a.yaml`), "a: 2\n");
  });
});

Deno.test("--exec: a sync SIGKILLed mid-hook; the next one ends that hook before it runs it again", async () => {
  await withRegistry({}, async (registry, tmp) => {
    await pushFiles(registry.host, "team/app", "live", { "a.yaml": "a: 1\n" }, `${tmp}/w`);
    const ref = `${registry.host}/team/app:live`;
    const log = `${tmp}/hook.log`;
    const hook = `echo "start $$" >> ${log}; sleep 3; echo "end $$" >> ${log}`;
    const args = [ref, "--once", "-o", `${tmp}/out`, "--state", `${tmp}/state.json`];
    args.push("--exec", hook);
    const started = async () => {
      const lines = (await Deno.readTextFile(log).catch(() => "")).split("\n");
      return lines.flatMap((line) => /^start (\d+)$/.exec(line)?.[1] ?? []).map(Number);
    };
    // Killed as the OOM killer kills: the hook, in a group of its own, runs on.
    const killed = new SyncProcess(args);
    const left = await killed.waitFor(async () => (await started())[0], "a hook");
    killed.child.kill("SIGKILL");
    // Not `finish`: its stderr stays open in the hook until the hook ends.
    await killed.child.status;
    assert.ok((await groupMembers(left)).length > 0, "the hook outlived its sync");

    const next = await ocisync(["sync", ...args]);
    assert.equal(next.code, 0, next.stderr);
    const [, again] = await started();
    assert.ok(again !== undefined && again !== left, "the next sync ran the hook again");
    // The first hook never ended on its own: it was ended before the second began, which then
    // ran to its end, once.
    assert.deepEqual((await Deno.readTextFile(log)).split("\n"), [
      `start ${left}`,
      `start ${again}`,
      `end ${again}`,
      "",
    ]);
    assert.deepEqual(await groupMembers(left), []);
    assert.match(
      next.stderr,
      new RegExp(
        `^ocisync: warning: ended hook process group ${left}, left running by an earlier sync ` +
          `that was killed while the hook ran \\(recorded in \\S+/state\\.json\\.hook-[0-9a-f]{16}\\)$`,
        "m",
      ),
    );
    assert.equal(
      await stateDigest(`${tmp}/state.json`, ref),
      await manifestDigest(
        registry,
        "team/app",
        "live",
      ),
    );
    const records = [...Deno.readDirSync(tmp)].filter((entry) => entry.name.includes(".hook-"));
    assert.deepEqual(records, [], "no record is left once the hook has ended");
    await killed.finish();
  });
});

Deno.test("--config: two targets, events for one, a folder and a webhook for the other", async () => {
  await withRegistry({}, async (registry, tmp) => {
    await pushFiles(registry.host, "team/one", "v1", { "one.yaml": "one: 1\n" }, `${tmp}/w`);
    await pushFiles(registry.host, "team/two", "v1", { "two.yaml": "two: 2\n" }, `${tmp}/w`);
    const posts: unknown[] = [];
    let failures = 1; // the first POST fails, to prove the retry
    const hook = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
      const body = await request.json();
      if (failures-- > 0) return new Response("busy", { status: 503 });
      posts.push(body);
      return new Response(null, { status: 204 });
    });
    try {
      const config = `${tmp}/sync.yaml`;
      await Deno.writeTextFile(
        config,
        [
          "interval: 1s",
          `state: ${tmp}/state.json`,
          "targets:",
          `  - reference: ${registry.host}/team/one:v1`,
          "    events: true",
          `  - reference: ${registry.host}/team/two:v1`,
          `    output: ${tmp}/two`,
          `    webhook: http://127.0.0.1:${hook.addr.port}/changed`,
          "",
        ].join("\n"),
      );
      const run = await ocisync(["sync", "--config", config, "--once"]);
      assert.equal(run.code, 0, run.stderr);
      const one = await manifestDigest(registry, "team/one", "v1");
      const two = await manifestDigest(registry, "team/two", "v1");
      assert.deepEqual(jsonLines(run.stdout).map((e) => [e.action, e.path, e.reference]), [
        ["put", "one.yaml", `${registry.host}/team/one:v1`],
        ["synced", undefined, `${registry.host}/team/one:v1`],
      ]);
      assert.equal(await Deno.readTextFile(`${tmp}/two/current/two.yaml`), "two: 2\n");
      assert.equal(posts.length, 1);
      assert.deepEqual(posts[0], {
        reference: `${registry.host}/team/two:v1`,
        digest: two,
        previous: null,
        paths: ["two.yaml"],
        syncedAt: (posts[0] as { syncedAt: string }).syncedAt,
      });
      assert.equal(await stateDigest(`${tmp}/state.json`, `${registry.host}/team/one:v1`), one);
      assert.equal(await stateDigest(`${tmp}/state.json`, `${registry.host}/team/two:v1`), two);

      // Errors in the file name its line and column.
      await Deno.writeTextFile(config, "targets:\n  - reference: x\n    event: true\n");
      const typo = await ocisync(["sync", "--config", config]);
      assert.equal(typo.code, 2);
      assert.match(typo.stderr, new RegExp(`${config}:3:5: unknown key "event"`));
      assert.match(typo.stderr, /did you mean "events"/);
      const mixed = await ocisync(["sync", "--config", config, "--events"]);
      assert.equal(mixed.code, 2);
      assert.match(mixed.stderr, /--events cannot be used with --config/);
    } finally {
      await hook.shutdown();
    }
  });
});

Deno.test("library: an oci: layout, non-UTF-8 layers, base64, a pinned digest", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-sync-" });
  try {
    await writeTree(`${tmp}/w`, {
      "ok.txt": { type: "file", content: "text\n" },
      "bin.dat": { type: "file", content: new Uint8Array([0xff, 0xfe, 0x00]) },
    });
    const layout = await LayoutTarget.open(`${tmp}/layout`, { create: true });
    await pushArtifact(
      layout,
      ["v1"],
      [
        { path: `${tmp}/w/ok.txt`, title: "ok.txt" },
        { path: `${tmp}/w/bin.dat`, title: "bin.dat" },
      ],
      `${tmp}/w`,
      0,
      { artifactType: ARTIFACT_TYPE },
    );
    const collect = () => {
      const lines: string[] = [];
      const writer = {
        write: (chunk: Uint8Array) => {
          lines.push(...jsonLinesOf(chunk));
          return Promise.resolve(chunk.length);
        },
      };
      return { lines, writer };
    };
    const jsonLinesOf = (chunk: Uint8Array) =>
      new TextDecoder().decode(chunk).split("\n").filter((l) => l !== "");

    const text = collect();
    const strict = syncLoop({
      reference: parseReference(`oci:${tmp}/layout:v1`),
      outputs: [eventsOutput(text.writer)],
      interval: 1000,
      once: true,
    });
    const failed = await strict.next();
    assert.equal(failed.value?.status, "failed");
    await assert.rejects(() => strict.next(), /bin\.dat.*not UTF-8/);
    assert.deepEqual(text.lines, [], "nothing written for a failed tick");

    const encoded = collect();
    const state = new SyncState();
    const loose = syncLoop({
      reference: parseReference(`oci:${tmp}/layout:v1`),
      outputs: [eventsOutput(encoded.writer, { encoding: "base64" })],
      interval: 1000,
      once: true,
      state,
    });
    assert.equal((await loose.next()).value?.status, "changed");
    const puts = encoded.lines.map((l) => JSON.parse(l)).filter((e) => e.action === "put");
    assert.deepEqual(puts.map((e) => [e.path, e.encoding, e.content]), [
      ["ok.txt", "base64", btoa("text\n")],
      ["bin.dat", "base64", btoa(String.fromCharCode(0xff, 0xfe, 0))],
    ]);

    // Pinned by digest, once synced: no work at all, not even a read of index.json.
    const digest = state.get(`oci:${tmp}/layout:v1`)!.digest;
    const pinned = parseReference(`oci:${tmp}/layout@${digest}`);
    let opened = 0;
    const ticks = syncLoop({
      reference: pinned,
      outputs: [eventsOutput(collect().writer, { encoding: "base64" })],
      interval: 10,
      open: async (reference) => {
        opened++;
        return await LayoutTarget.open((reference as { path: string }).path);
      },
    });
    try {
      assert.equal((await ticks.next()).value?.status, "changed");
      await Deno.remove(`${tmp}/layout/index.json`);
      for (let i = 0; i < 3; i++) assert.equal((await ticks.next()).value?.status, "unchanged");
      assert.equal(opened, 1);
    } finally {
      await ticks.return();
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("config, jitter and metrics: validation and formats", async () => {
  assert.equal(parseJitter("10%", "--jitter"), 0.1);
  assert.throws(() => parseJitter("150%", "--jitter"), UsageError);
  const config = await parseSyncConfig(
    [
      "interval: 1m",
      "targets:",
      "  - reference: localhost:5000/a:v1",
      "    events: true",
      "  - reference: localhost:5000/b:v1",
      "    interval: 5s",
      "    output: /srv/b",
      "    keep: 3",
    ].join("\n"),
    "sync.yaml",
  );
  assert.deepEqual(config.targets.map((t) => [t.interval, t.keep, t.events]), [
    [60_000, 2, true],
    [5_000, 3, false],
  ]);
  const bad = (text: string, message: RegExp) =>
    assert.rejects(() => parseSyncConfig(text, "s.yaml"), (e: Error) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, message);
      return true;
    });
  await bad("targets: [\n", /^s\.yaml:2:1: /);
  await bad("targets: []\n", /^s\.yaml:1:10: targets is empty/);
  await bad("targets:\n  - events: true\n", /^s\.yaml:2:5: reference is missing/);
  await bad("targets:\n  - reference: x\n", /^s\.yaml:2:5: targets\[0\] has no output/);
  await bad(
    "targets:\n  - reference: x\n    events: true\n    jitter: lots\n",
    /^s\.yaml:4:13: jitter/,
  );
  await bad(
    "targets:\n  - {reference: x, output: /o}\n  - {reference: y, output: /o}\n",
    /^s\.yaml:3:28: output: another target writes \/o/,
  );
  // One inside another's: its sync would pull into, or prune, the other's versions.
  await bad(
    "targets:\n  - {reference: x, output: /o}\n  - {reference: y, output: /o/current/sub}\n",
    /^s\.yaml:3:28: output: another target writes around \/o\/current\/sub/,
  );
  await bad(
    "targets:\n  - {reference: x, output: /o/.ocisync}\n  - {reference: y, output: /o}\n",
    /^s\.yaml:3:28: output: another target writes inside \/o/,
  );
  assert.equal(
    (await parseSyncConfig(
      "targets:\n  - {reference: x, output: /o}\n  - {reference: y, output: /o2}\n",
      "s.yaml",
    )).targets.length,
    2,
  );

  const metrics = new SyncMetrics([{ reference: 'r"1', interval: 1000 }]);
  const tick = (status: SyncTick["status"], startedAt: number): SyncTick => ({
    reference: 'r"1',
    status,
    digest: `sha256:${"a".repeat(64)}`,
    bytes: 10,
    startedAt,
    durationMs: 0,
    failures: status === "failed" ? 1 : 0,
  });
  assert.equal(metrics.health().healthy, false);
  metrics.record(tick("changed", Date.now()));
  metrics.record(tick("failed", Date.now()));
  assert.equal(metrics.health().healthy, true);
  assert.equal(metrics.health(Date.now() + 3001).healthy, false);
  const text = metrics.prometheus();
  assert.match(text, /^ocisync_sync_ticks_total\{target="0",reference="r\\"1"\} 2$/m);
  assert.match(text, /^ocisync_sync_failures_total\{target="0",reference="r\\"1"\} 1$/m);
  assert.match(text, /^ocisync_sync_pulled_bytes_total\{target="0",reference="r\\"1"\} 20$/m);
  assert.match(text, /^# TYPE ocisync_sync_changes_total counter$/m);
});

/**
 * Pushes `team/app:live`, one layer of text that does not compress, and returns a proxy before
 * the registry whose layer downloads stall after their first 1,000 bytes, for 60 s.
 */
async function stallingLayer(registry: TestRegistry, tmp: string) {
  const noise = Array.from({ length: 4000 }, () => crypto.randomUUID()).join("\n");
  await pushFiles(registry.host, "team/app", "live", { "big.txt": noise }, `${tmp}/w`);
  const proxy = startProxy(registry.host);
  proxy.inject({
    method: "GET",
    path: /\/blobs\/sha256:/,
    times: Infinity,
    fault: { kind: "stall", seconds: 60, after: 1000 },
  });
  return proxy;
}

for (const signal of ["SIGTERM", "SIGHUP"] as const) {
  Deno.test(`${signal} stops a pull in progress at once; nothing is put in place`, async () => {
    await withRegistry({}, async (registry, tmp) => {
      const proxy = await stallingLayer(registry, tmp);
      const dir = `${tmp}/out`;
      try {
        const sync = new SyncProcess([
          `${proxy.host}/team/app:live`,
          "-o",
          dir,
          "--interval",
          "1h",
          "--timeout",
          "2m",
        ]);
        await sync.waitFor(
          () => proxy.seen.some((r) => r.fault === "stall") || undefined,
          "a stalled layer download",
        );
        const stopped = Date.now();
        const { code } = await sync.finish(signal);
        assert.ok(Date.now() - stopped < 10_000, `took ${Date.now() - stopped} ms to stop`);
        assert.equal(code, 0, sync.lines.join("\n"));
        await assert.rejects(Deno.lstat(`${dir}/current`), Deno.errors.NotFound);
        const left = [...Deno.readDirSync(`${dir}/.ocisync`)].map((e) => e.name);
        assert.deepEqual(left, [], "no version or staging folder is left");
      } finally {
        await proxy.close();
      }
    });
  });
}

Deno.test("sync --once stopped by SIGTERM before its tick ends exits 143, having delivered nothing", async () => {
  // It exited 0, so an init container or a CI step went on without the content.
  await withRegistry({}, async (registry, tmp) => {
    const proxy = await stallingLayer(registry, tmp);
    const dir = `${tmp}/out`;
    try {
      const sync = new SyncProcess([
        `${proxy.host}/team/app:live`,
        "-o",
        dir,
        "--state",
        `${tmp}/state.json`,
        "--once",
      ]);
      await sync.waitFor(
        () => proxy.seen.some((r) => r.fault === "stall") || undefined,
        "a stalled layer download",
      );
      const { code } = await sync.finish("SIGTERM");
      assert.equal(code, 143, sync.lines.join("\n"));
      await assert.rejects(Deno.lstat(`${dir}/current`), Deno.errors.NotFound);
      const state = await Deno.readTextFile(`${tmp}/state.json`).catch(() => "");
      assert.doesNotMatch(state, /sha256:/, "no digest is recorded");
    } finally {
      await proxy.close();
    }
    // Once its tick has ended, --once exits 0 as before.
    const done = await ocisync(["sync", `${registry.host}/team/app:live`, "-o", dir, "--once"]);
    assert.equal(done.code, 0, done.stderr);
  });
});

Deno.test("a flood of connections that uses up the file descriptors does not end the sync; /healthz comes back", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-flood-" });
  const open: Deno.Conn[] = [];
  try {
    await writeTree(`${tmp}/src`, { "a.yaml": { type: "file", content: "a: 1\n" } });
    const pushed = await ocisync(["push", `oci:${tmp}/layout:v1`, `${tmp}/src`]);
    assert.equal(pushed.code, 0, pushed.stderr);
    // A soft limit as low as a service's can be, so that the flood reaches it.
    const command = [Deno.execPath(), "run", ...RUN_FLAGS, MAIN, "sync", `oci:${tmp}/layout:v1`]
      .concat(["-o", `${tmp}/out`, "--interval", "200ms", "--http", "127.0.0.1:0"])
      .map((word) => `'${word}'`).join(" ");
    const child = new Deno.Command("sh", {
      args: ["-c", `ulimit -n 150 && exec ${command}`],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const lines: string[] = [];
    const reading = (async () => {
      for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
        lines.push(...text.split("\n"));
      }
    })();
    try {
      const port = await until(() => {
        const match = lines.join("\n").match(/on http:\/\/127\.0\.0\.1:(\d+)/);
        return match ? Number(match[1]) : undefined;
      }, "the server's port");
      const healthy = async () => {
        try {
          const response = await fetch(`http://127.0.0.1:${port}/healthz`);
          await response.body?.cancel();
          return response.status === 200 || undefined;
        } catch {
          return undefined;
        }
      };
      await until(healthy, "a healthy first tick");
      // More idle connections than the process has descriptors.
      for (let i = 0; i < 200; i++) {
        try {
          open.push(await Deno.connect({ hostname: "127.0.0.1", port }));
        } catch {
          break;
        }
      }
      await until(() => lines.some((l) => l.includes("server failed")) || undefined, "the failure");
      for (const conn of open.splice(0)) conn.close();
      await until(healthy, "/healthz again", 45_000);
      assert.equal(await Promise.race([child.status.then(() => "ended"), delay(100)]), undefined);
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await reading;
    }
  } finally {
    for (const conn of open) conn.close();
    await Deno.remove(tmp, { recursive: true });
  }
});

function delay(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms));
}

Deno.test("a running sync finds credentials changed after it started, and a helper that failed once", async () => {
  await withRegistry({ auth: "basic" }, async (registry, tmp) => {
    const env = { ...isolatedEnv(tmp), PATH: `${tmp}/bin:${Deno.env.get("PATH")}` };
    await writeTree(`${tmp}/app`, { "main.py": { type: "file", content: "print('app')\n" } });
    const reference = `${registry.host}/t/app:v1`;
    await ocisyncOk(
      ["push", reference, `${tmp}/app`, "-u", registry.username, "--password-stdin"],
      {
        env,
        stdin: registry.password,
      },
    );
    const config = `${tmp}/docker/config.json`;
    const writeConfig = (value: unknown) => Deno.writeTextFile(config, JSON.stringify(value));
    const basic = (password: string) => btoa(`${registry.username}:${password}`);
    await Deno.mkdir(`${tmp}/docker`);
    const outputs = (sync: SyncProcess) =>
      sync.ticks().map((t) => t.status === "failed" ? `failed ${t.exitCode}` : t.status);

    // A stale password, then the right one saved while the sync runs (as `ocisync login` does).
    await writeConfig({ auths: { [registry.host]: { auth: basic("stale") } } });
    await withSync(
      [reference, "-o", `${tmp}/out`, "--interval", "100ms", "--log-format", "json"],
      async (sync) => {
        await sync.waitFor(() => outputs(sync).includes("failed 3") || undefined, "a refusal");
        await writeConfig({ auths: { [registry.host]: { auth: basic(registry.password) } } });
        await sync.waitFor(() => outputs(sync).includes("changed") || undefined, "the pull");
        assert.equal(await Deno.readTextFile(`${tmp}/out/current/main.py`), "print('app')\n");
      },
      env,
    );

    // A helper that fails on its first call only: the next tick asks it again.
    await Deno.mkdir(`${tmp}/bin`);
    await Deno.writeTextFile(
      `${tmp}/bin/docker-credential-flaky`,
      `#!/bin/sh
if [ ! -e '${tmp}/asked' ]; then touch '${tmp}/asked'; echo "keychain busy" >&2; exit 1; fi
echo '{"Username":"${registry.username}","Secret":"${registry.password}"}'
`,
      { mode: 0o755 },
    );
    await writeConfig({ credsStore: "flaky" });
    await withSync(
      [reference, "-o", `${tmp}/again`, "--interval", "100ms", "--log-format", "json"],
      async (sync) => {
        await sync.waitFor(() => outputs(sync).includes("changed") || undefined, "the pull");
        assert.equal(outputs(sync)[0], "failed 3");
        assert.match(sync.lines.join("\n"), /keychain busy/);
      },
      env,
    );
  });
});
