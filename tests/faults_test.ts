/**
 * Faults between ocisync and a registry, injected by the proxy of tests/helpers/fault_proxy.ts in
 * front of the real Distribution registry (token auth, as Docker Hub and GHCR use), and met by the
 * CLI as users run it: `push`, `pull` and `copy`. Each test programs its faults, runs the command,
 * and checks the outcome, the log, what the proxy saw and what the registry or the disk holds.
 */
import assert from "node:assert/strict";
import { ExitCode } from "../src/cli/exit.ts";
import { MediaType } from "../src/oci/mediatypes.ts";
import { retryDelay } from "../src/remote/transport.ts";
import { ocisync, runOk, type RunResult, shown } from "./helpers/cli.ts";
import { type FaultRule, type FrontProxy, startProxy } from "./helpers/fault_proxy.ts";
import { startRegistry, type TestRegistry } from "./helpers/registry.ts";
import { snapshot, writeTree } from "./helpers/tree.ts";
import { sha256Digest } from "./helpers/hash.ts";
import { randomBytes } from "./helpers/random.ts";

/** A registry behind the proxy, a scratch folder, and the image every test starts from. */
interface Fixture {
  registry: TestRegistry;
  proxy: FrontProxy;
  tmp: string;
  /** Runs ocisync with the registry's credentials on stdin. */
  run(args: string[]): Promise<RunResult>;
  /** Pushes the source tree to `repository:v1` directly; returns the layer's digest and size. */
  seed(repository: string): Promise<{ digest: string; layer: { digest: string; size: number } }>;
}

const BIG = 300_000;

async function withFixture(body: (fixture: Fixture) => Promise<void>): Promise<void> {
  const registry = await startRegistry({ auth: "token" });
  const proxy = startProxy(registry.host);
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-faults-" });
  const big = randomBytes(BIG);
  await writeTree(`${tmp}/src`, {
    "app": { type: "dir" },
    "app/big.bin": { type: "file", content: big },
    "app/small.txt": { type: "file", content: "small\n" },
  });
  const run = (args: string[]) =>
    ocisync([...args, "-u", registry.username, "--password-stdin"], { stdin: registry.password });
  const fixture: Fixture = {
    registry,
    proxy,
    tmp,
    run,
    async seed(repository) {
      const pushed = await run([
        "push",
        `${registry.host}/${repository}:v1`,
        `${tmp}/src`,
        "--json",
      ]);
      assert.equal(pushed.code, 0, pushed.stderr);
      const { digest, layers: [layer] } = JSON.parse(pushed.stdout);
      return { digest, layer };
    },
  };
  try {
    await body(fixture);
    assert.deepEqual(proxy.unused(), [], "every injected fault happened");
  } finally {
    await proxy.close();
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
}

/** Files whose names say they are left over from a failed write. */
async function leftovers(root: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(root)) {
    const path = `${root}/${entry.name}`;
    if (entry.name.startsWith(".ocisync-") || entry.name.endsWith(".tmp")) found.push(path);
    if (entry.isDirectory) found.push(...await leftovers(path));
  }
  return found;
}

function blobPath(digest: string): RegExp {
  return new RegExp(`/blobs/${digest}$`);
}

/** GETs of a path that the proxy saw, with their Range headers. */
function gets(proxy: FrontProxy, path: RegExp): (string | null)[] {
  return proxy.seen.filter((r) => r.method === "GET" && path.test(r.path)).map((r) => r.range);
}

const MANIFEST_TAG = /\/manifests\/v1$/;
const MANIFEST_DIGEST = /\/manifests\/sha256:/;
const RETRY_LINE = /: retrying in [\d.]+s \((backoff|Retry-After)\), retry \d of \d$/m;
// The first request of a fresh process carries no token: the registry refuses it with its
// challenge, and it is sent again with one. A fault meant for the registry's answer to that
// request skips the refusal.
const AFTER_CHALLENGE = { skip: 1 } as const;

Deno.test("retryDelay: Retry-After in seconds or as a date, capped at 60 s; else backoff with jitter", () => {
  assert.deepEqual(retryDelay(0, new Headers({ "retry-after": "2" })), {
    ms: 2000,
    reason: "Retry-After",
  });
  assert.deepEqual(retryDelay(3, new Headers({ "retry-after": "3600" })), {
    ms: 60_000,
    reason: "Retry-After 3600s, capped at 60s",
  });
  const inAnHour = new Date(Date.now() + 3_600_000).toUTCString();
  assert.deepEqual(retryDelay(0, new Headers({ "retry-after": inAnHour })).ms, 60_000);
  const past = new Date(Date.now() - 60_000).toUTCString();
  assert.deepEqual(retryDelay(0, new Headers({ "retry-after": past })), {
    ms: 0,
    reason: "Retry-After",
  });
  // Backoff doubles from 200 ms up to 10 s, each wait 50–100 % of its ceiling.
  for (let attempt = 0; attempt < 12; attempt++) {
    const ceiling = Math.min(10_000, 200 * 2 ** attempt);
    const waits = Array.from({ length: 50 }, () => retryDelay(attempt).ms);
    assert.ok(waits.every((ms) => ms >= ceiling / 2 && ms <= ceiling), `attempt ${attempt}`);
    assert.ok(new Set(waits).size > 1, "jitter spreads the waits");
  }
  assert.equal(retryDelay(0, new Headers({ "retry-after": "soon" })).reason, "backoff");
});

Deno.test("408, 429 and 5xx are retried: pull, push and copy succeed and say so", async () => {
  await withFixture(async ({ registry, proxy, tmp, run, seed }) => {
    const image = await seed("t/pull");
    proxy.inject(
      // The manifest, read by tag in one GET.
      { method: "GET", path: MANIFEST_TAG, fault: { kind: "status", status: 500 } },
      { method: "GET", path: MANIFEST_TAG, fault: { kind: "status", status: 502 } },
      { method: "GET", path: blobPath(image.layer.digest), fault: { kind: "status", status: 503 } },
      { method: "GET", path: /\/blobs\//, fault: { kind: "status", status: 504 } },
      { method: "GET", path: /\/blobs\//, fault: { kind: "status", status: 408 } },
    );
    const pull = await run(["pull", `${proxy.host}/t/pull:v1`, "-o", `${tmp}/out`, "-v"]);
    assert.equal(pull.code, 0, shown(pull));
    assert.deepEqual(await snapshot(`${tmp}/out`), await snapshot(`${tmp}/src`));
    assert.equal(pull.stderr.match(new RegExp(RETRY_LINE, "gm"))?.length, 5, pull.stderr);
    for (const status of [500, 502, 503, 504, 408]) {
      assert.match(
        pull.stderr,
        new RegExp(` -> ${status}\n.*: retrying in [\\d.]+s \\(backoff\\)`),
      );
    }

    // Push: every kind of request fails once, and each is sent again.
    proxy.inject(
      { method: "HEAD", path: /\/blobs\//, fault: { kind: "status", status: 500 } },
      { method: "POST", path: /\/blobs\/uploads\/$/, fault: { kind: "status", status: 503 } },
      { method: "PUT", path: /\/blobs\/uploads\//, fault: { kind: "status", status: 502 } },
      {
        method: "PUT",
        path: /\/manifests\//,
        fault: { kind: "status", status: 429, retryAfter: "0" },
      },
    );
    const before = (await registry.requests()).length;
    const push = await run(["push", `${proxy.host}/t/push:v1`, `${tmp}/src`, "--json"]);
    assert.equal(push.code, 0, shown(push));
    assert.equal(JSON.parse(push.stdout).digest, image.digest, "the same image as the seed");
    const stored = (await registry.requests()).slice(before);
    assert.equal(
      stored.filter((r) => r.method === "PUT" && r.path.includes("/blobs/") && r.status === 201)
        .length,
      2,
      "each blob is stored once",
    );

    // Copy from the registry into a layout, and from there back to another repository.
    proxy.inject(
      { method: "GET", path: blobPath(image.layer.digest), fault: { kind: "status", status: 503 } },
      { method: "GET", path: MANIFEST_TAG, fault: { kind: "status", status: 500 } },
      { method: "PUT", path: /\/manifests\//, fault: { kind: "status", status: 504 } },
    );
    const out = await run(["copy", `${proxy.host}/t/pull:v1`, `oci:${tmp}/layout:v1`, "-q"]);
    assert.equal(out.code, 0, shown(out));
    const back = await run(["copy", `oci:${tmp}/layout:v1`, `${proxy.host}/t/back:v1`, "-q"]);
    assert.equal(back.code, 0, shown(back));
    assert.equal(back.stdout.trim(), `${proxy.host}/t/back@${image.digest}`);
  });
});

Deno.test("429: Retry-After in seconds and as an HTTP date is waited for, and logged", async () => {
  await withFixture(async ({ proxy, tmp, run, seed }) => {
    const image = await seed("t/app");
    // Four seconds from now, less up to one as HTTP dates have whole seconds, less the first wait.
    const date = new Date(Date.now() + 4000).toUTCString();
    proxy.inject(
      {
        method: "GET",
        path: MANIFEST_TAG,
        fault: { kind: "status", status: 429, retryAfter: "1" },
      },
      {
        method: "GET",
        path: blobPath(image.layer.digest),
        fault: { kind: "status", status: 429, retryAfter: date },
      },
    );
    const pull = await run(["pull", `${proxy.host}/t/app:v1`, "-o", `${tmp}/out`, "-v"]);
    const finished = Date.now();
    assert.equal(pull.code, 0, shown(pull));
    assert.match(pull.stderr, /manifests\/v1: retrying in 1s \(Retry-After\), retry 1 of 3\n/);
    // How long is left of the date depends on how quickly the machine got there.
    assert.match(pull.stderr, /blobs\/sha256:\w+: retrying in \d+(\.\d+)?s \(Retry-After\)/);
    assert.ok(
      finished >= Date.parse(date),
      `done ${Date.parse(date) - finished} ms before ${date}`,
    );
    assert.deepEqual(await snapshot(`${tmp}/out`), await snapshot(`${tmp}/src`));
  });
});

Deno.test("a body reset or truncated mid-way is resumed with Range, for pull and copy", async () => {
  await withFixture(async ({ proxy, tmp, run, seed }) => {
    const image = await seed("t/app");
    const layer = blobPath(image.layer.digest);
    proxy.inject(
      { method: "GET", path: layer, fault: { kind: "reset", after: 100_000 } },
      { method: "GET", path: layer, fault: { kind: "truncate", after: 50_000 } },
      // The manifest, read by tag in one GET (after the token challenge's refusal).
      {
        method: "GET",
        path: MANIFEST_TAG,
        ...AFTER_CHALLENGE,
        fault: { kind: "truncate", after: 100 },
      },
    );
    const pull = await run(["pull", `${proxy.host}/t/app:v1`, "-o", `${tmp}/out`, "-v"]);
    assert.equal(pull.code, 0, shown(pull));
    assert.deepEqual(await snapshot(`${tmp}/out`), await snapshot(`${tmp}/src`));
    assert.deepEqual(gets(proxy, layer), [null, "bytes=100000-", "bytes=150000-"]);
    assert.deepEqual(gets(proxy, MANIFEST_TAG), [null, null, "bytes=100-"]);
    assert.match(pull.stderr, /the body broke off at byte 100000 \(.*\), resuming it; retrying in/);

    proxy.inject({ method: "GET", path: layer, fault: { kind: "reset", after: 1 } });
    const copy = await run(["copy", `${proxy.host}/t/app:v1`, `oci:${tmp}/layout:v1`, "-q"]);
    assert.equal(copy.code, 0, shown(copy));
    const stored = await Deno.readFile(`${tmp}/layout/blobs/sha256/${image.layer.digest.slice(7)}`);
    assert.equal(stored.byteLength, image.layer.size);
    assert.deepEqual(gets(proxy, layer).slice(-2), [null, "bytes=1-"]);
  });
});

Deno.test("uploads: a broken chunk resumes from the registry's Range; a broken PUT restarts that blob alone", async () => {
  await withFixture(async ({ registry, proxy, tmp, run }) => {
    // Over the 8 MiB chunk size: sent in PATCHes, then a closing PUT.
    const large = randomBytes(9 * 1024 * 1024);
    await writeTree(`${tmp}/large`, { "large.bin": { type: "file", content: large } });
    // A layer file made by GNU tar: its digest is known without ocisync.
    await writeTree(`${tmp}/small`, { "small.txt": { type: "file", content: "one PUT\n" } });
    await runOk("tar", ["-C", `${tmp}/small`, "-cf", `${tmp}/small.tar`, "small.txt"]);
    const small = sha256Digest(await Deno.readFile(`${tmp}/small.tar`));
    const uploads = /\/blobs\/uploads\/./;
    proxy.inject(
      // The first chunk of the large blob reaches the registry in part: it drops the session.
      { method: "PATCH", path: uploads, fault: { kind: "reset", after: 1 << 20 } },
      // In the new session, the second chunk is lost on the way: the first one is kept.
      { method: "PATCH", path: uploads, skip: 1, fault: { kind: "reset", after: 0 } },
      // The closing PUT reaches the registry, but its answer is lost.
      { method: "PUT", path: uploads, fault: { kind: "reset", after: 1 } },
      // The small blob's only request breaks after 100 bytes.
      {
        method: "PUT",
        path: new RegExp(`digest=${encodeURIComponent(small)}`),
        fault: { kind: "reset", after: 100 },
      },
    );
    const before = (await registry.requests()).length;
    const push = await run([
      "push",
      `${proxy.host}/t/up:v1`,
      `${tmp}/large`,
      `${tmp}/small.tar`,
      ...["--compression", "none", "--concurrency", "1", "--json"],
    ]);
    assert.equal(push.code, 0, shown(push));
    assert.equal(JSON.parse(push.stdout).layers[1].digest, small);
    const uploadLog = (await registry.requests()).slice(before)
      .filter((r) => r.status !== 401 && /\/blobs\/(uploads\/|sha256:)/.test(r.path))
      .map((r) => `${r.method} ${r.status}`);
    assert.deepEqual(uploadLog, [
      // The large blob: one HEAD, by the registry target before its upload.
      "HEAD 404",
      "POST 202",
      "PATCH 202", // 1 MiB of the first chunk, delivered before the failure
      "GET 404", // the session is gone; only the first chunk was sent, so start over
      "POST 202",
      "PATCH 202", // the first chunk
      "GET 204", // the registry holds it: go on from its Range
      "PATCH 202", // the second chunk
      "PUT 201", // stored, but the answer is lost
      "PUT 404", // sent again: the session is closed
      "HEAD 200", // and the blob is there
      // The small blob: 100 bytes arrive, do not match the digest; the repeat finds no session.
      "HEAD 404",
      "POST 202",
      "PUT 400",
      "PUT 404",
      "HEAD 404",
      "POST 202", // so it starts over, alone
      "PUT 201",
      // The config.
      "HEAD 404",
      "POST 202",
      "PUT 201",
    ]);
    const pull = await run(["pull", `${registry.host}/t/up:v1`, "-o", `${tmp}/out`]);
    assert.equal(pull.code, 0, shown(pull));
    assert.deepEqual(await Deno.readFile(`${tmp}/out/large.bin`), large);
  });
});

Deno.test("OCI-Chunk-Min-Length is followed up to 64 MiB: a registry cannot make a chunk the whole blob", async () => {
  // A registry naming 2^53 had every chunked upload hold its whole blob in memory, four at once.
  await withFixture(async ({ proxy, tmp, run }) => {
    const data = randomBytes(72 * 1024 * 1024);
    await writeTree(`${tmp}/data`, { "data.bin": { type: "file", content: data } });
    const uploads = /\/blobs\/uploads\/$/;
    proxy.inject({
      method: "POST",
      path: uploads,
      times: Infinity,
      fault: { kind: "header", name: "oci-chunk-min-length", value: "9007199254740991" },
    });
    // A docker-archive's layer is no file to read again from an offset: it goes up in chunks.
    const layout = `oci:${tmp}/layout:v1`;
    assert.equal((await ocisync(["push", layout, `${tmp}/data`, "--compression", "none"])).code, 0);
    const archive = `docker-archive:${tmp}/d.tar:t/chunks:v1`;
    assert.equal((await ocisync(["copy", layout, archive])).code, 0);
    const seen = proxy.seen.length;
    const copied = await run(["copy", archive, `${proxy.host}/t/chunks:v1`]);
    assert.equal(copied.code, 0, shown(copied));
    const chunks = proxy.seen.slice(seen)
      .filter((r) => r.path.includes("/blobs/uploads/") && r.method !== "POST")
      .map((r) => Number(r.headers["content-length"] ?? 0))
      .filter((bytes) => bytes > 1 << 20);
    // Not one request holding the whole layer: 64 MiB chunks, then the rest.
    assert.ok(chunks.length >= 2, `${chunks}`);
    assert.ok(chunks.every((bytes) => bytes <= 64 << 20), `${chunks}`);
  });
});

Deno.test("copy from a layout: a large blob goes up in one streamed PATCH, starts over when broken, and is refused unsent when it does not match its digest", async () => {
  await withFixture(async ({ registry, proxy, tmp, run }) => {
    // Over the size from which a blob that can be read from any offset is streamed. The layer
    // file is GNU tar's: its digest is known without ocisync.
    const data = randomBytes(33 * 1024 * 1024);
    await writeTree(`${tmp}/data`, { "data.bin": { type: "file", content: data } });
    await runOk("tar", ["-C", `${tmp}/data`, "-cf", `${tmp}/layer.tar`, "data.bin"]);
    const layer = sha256Digest(await Deno.readFile(`${tmp}/layer.tar`));
    const pushed = await ocisync(["push", `oci:${tmp}/layout:v1`, `${tmp}/layer.tar`]);
    assert.equal(pushed.code, 0, shown(pushed));

    const uploads = /\/blobs\/uploads\/./;
    // The blob's only PATCH breaks after 5 MiB: the registry drops the session.
    proxy.inject({ method: "PATCH", path: uploads, fault: { kind: "reset", after: 5 << 20 } });
    const before = (await registry.requests()).length;
    const copy = await run(["copy", `oci:${tmp}/layout:v1`, `${proxy.host}/t/big:v1`]);
    assert.equal(copy.code, 0, shown(copy));
    const uploaded = (await registry.requests()).slice(before)
      .filter((r) => r.status !== 401 && r.path.includes(`/blobs/uploads/`));
    // The config goes up beside the layer, in a POST and a PUT of its own, at any point: its
    // PUT names its digest, its POST is one of three.
    const configPut = (r: { method: string; path: string }) =>
      r.method === "PUT" && !r.path.includes(layer.slice("sha256:".length));
    assert.equal(uploaded.filter(configPut).length, 1);
    const log = uploaded.filter((r) => !configPut(r)).map((r) => `${r.method} ${r.status}`);
    assert.equal(log.filter((r) => r === "POST 202").length, 3, log.join());
    assert.deepEqual(log.filter((r) => r !== "POST 202"), [
      "PATCH 202", // 5 MiB of the layer reached the registry
      "GET 404", // which dropped the session:
      "PATCH 202", // start over, from the first byte: the whole layer in one request
      "PUT 201",
    ]);
    // A session opened before each PATCH.
    assert.ok(log.indexOf("POST 202") < log.indexOf("PATCH 202"), log.join());
    assert.equal(log[log.lastIndexOf("PATCH 202") - 1], "POST 202", log.join());
    const pull = await run(["pull", `${registry.host}/t/big:v1`, "-o", `${tmp}/out`]);
    assert.equal(pull.code, 0, shown(pull));
    assert.deepEqual(await Deno.readFile(`${tmp}/out/data.bin`), data);

    // From an oci-archive that skopeo wrote, the blob is a byte range of the file: one PATCH too.
    await runOk("skopeo", ["copy", "-q", `oci:${tmp}/layout:v1`, `oci-archive:${tmp}/app.tar`]);
    const seenBefore = proxy.seen.length;
    const fromArchive = await run(["copy", `oci-archive:${tmp}/app.tar`, `${proxy.host}/t/arc:v1`]);
    assert.equal(fromArchive.code, 0, shown(fromArchive));
    const patches = proxy.seen.slice(seenBefore).filter((r) => r.method === "PATCH");
    assert.equal(patches.length, 1);

    // A layout blob that no longer matches its digest fails the copy as an integrity error: not
    // resumed, not sent again, and no manifest refers to it.
    const file = `${tmp}/layout/blobs/sha256/${layer.slice("sha256:".length)}`;
    const bytes = await Deno.readFile(file);
    bytes[bytes.length - 4096] ^= 1;
    await Deno.writeFile(file, bytes);
    const seen = proxy.seen.length;
    const bad = await run(["copy", `oci:${tmp}/layout:v1`, `${proxy.host}/t/bad:v1`]);
    assert.equal(bad.code, ExitCode.Integrity, shown(bad));
    assert.match(bad.stderr, new RegExp(`blob ${layer} has digest sha256:[0-9a-f]{64}`));
    const sent = proxy.seen.slice(seen).map((r) => `${r.method} ${r.path.replace(/\?.*/, "")}`);
    assert.equal(sent.filter((r) => r.startsWith("PATCH")).length, 1, sent.join("\n"));
    assert.ok(!sent.some((r) => r.startsWith("PUT /v2/t/bad/manifests/")), sent.join("\n"));
    assert.ok(!sent.some((r) => r === `PUT /v2/t/bad/blobs/uploads/`), sent.join("\n"));
  });
});

Deno.test("copy between registries: a large blob streams into one PATCH, its source resumed under it; a flipped byte is refused unsent", async () => {
  await withFixture(async ({ registry, proxy, tmp, run }) => {
    const other = await startRegistry();
    try {
      // Over the size from which a blob that can be read from any offset is streamed. The layer
      // file is GNU tar's: its digest is known without ocisync.
      const data = randomBytes(33 * 1024 * 1024);
      await writeTree(`${tmp}/data`, { "data.bin": { type: "file", content: data } });
      await runOk("tar", ["-C", `${tmp}/data`, "-cf", `${tmp}/layer.tar`, "data.bin"]);
      const layer = sha256Digest(await Deno.readFile(`${tmp}/layer.tar`));
      const pushed = await run(["push", `${registry.host}/t/big:v1`, `${tmp}/layer.tar`]);
      assert.equal(pushed.code, 0, shown(pushed));
      const patches = async (repository: string) =>
        (await other.requests()).filter((r) =>
          r.method === "PATCH" && r.path.startsWith(`/v2/${repository}/blobs/uploads/`)
        );

      // The source's body breaks after 5 MiB: resumed with Range beneath the one PATCH.
      proxy.inject({
        method: "GET",
        path: blobPath(layer),
        fault: { kind: "reset", after: 5 << 20 },
      });
      // --username is for the destination: the source's credentials come from a file naming it.
      const source = `${tmp}/source.json`;
      await Deno.writeTextFile(
        source,
        JSON.stringify({
          auths: { [proxy.host]: { auth: btoa(`${registry.username}:${registry.password}`) } },
        }),
      );
      const copyTo = (repository: string) =>
        ocisync([
          "copy",
          `${proxy.host}/t/big:v1`,
          `${other.host}/${repository}:v1`,
          "--credentials",
          source,
        ]);
      const copy = await copyTo("t/big");
      assert.equal(copy.code, 0, shown(copy));
      const ranges = gets(proxy, blobPath(layer));
      assert.equal(ranges.length, 2, String(ranges));
      assert.equal(ranges[0], null);
      assert.match(ranges[1] ?? "", /^bytes=[1-9]\d*-$/);
      assert.equal((await patches("t/big")).length, 1);
      const pull = await ocisync(["pull", `${other.host}/t/big:v1`, "-o", `${tmp}/out`]);
      assert.equal(pull.code, 0, shown(pull));
      assert.deepEqual(await Deno.readFile(`${tmp}/out/data.bin`), data);

      // A flipped byte on the way from the source: exit 5, not resumed, not sent again, and no
      // manifest at the destination.
      proxy.inject({ method: "GET", path: blobPath(layer), fault: { kind: "flip" } });
      const bad = await copyTo("t/bad");
      assert.equal(bad.code, ExitCode.Integrity, shown(bad));
      // The registry logs the PATCH it was sent, unless the broken-off request ended too early.
      assert.ok((await patches("t/bad")).length <= 1);
      const written = (await other.requests()).filter((r) => r.path.startsWith("/v2/t/bad/"));
      const stored = (r: { method: string; path: string }) =>
        r.method === "PUT" &&
        (r.path.includes("/manifests/") || r.path.includes(encodeURIComponent(layer)));
      assert.ok(!written.some(stored), JSON.stringify(written));
    } finally {
      await other.stop();
    }
  });
});

Deno.test("auth: a 401 is answered once with a fresh token, never in a loop", async () => {
  await withFixture(async ({ registry, proxy, tmp, run, seed }) => {
    const image = await seed("t/app");
    const challenge = `Bearer realm="${registry.tokenRealm}",service="${registry.tokenService}",` +
      `scope="repository:t/app:pull",error="invalid_token"`;
    const unauthorized = {
      kind: "status",
      status: 401,
      headers: { "www-authenticate": challenge },
    } as const;
    const layer = blobPath(image.layer.digest);
    proxy.inject({ method: "GET", path: layer, fault: unauthorized });
    let tokens = registry.tokenRequests!.length;
    const pull = await run(["pull", `${proxy.host}/t/app:v1`, "-o", `${tmp}/once`]);
    assert.equal(pull.code, 0, shown(pull));
    assert.equal(gets(proxy, layer).length, 2);
    assert.equal(registry.tokenRequests!.length - tokens, 2, "the first token, and a fresh one");

    proxy.inject({ method: "GET", path: layer, times: Infinity, fault: unauthorized });
    tokens = registry.tokenRequests!.length;
    const refused = await run(["pull", `${proxy.host}/t/app:v1`, "-o", `${tmp}/never`]);
    assert.equal(refused.code, ExitCode.Auth, shown(refused));
    assert.match(refused.stderr, /-> 401.*\nhint: run `ocisync login /);
    assert.equal(gets(proxy, layer).length, 4, "one more try, then the error");
    assert.equal(registry.tokenRequests!.length - tokens, 2);
    assert.ok(!(await Deno.stat(`${tmp}/never`).catch(() => undefined)));
  });
});

Deno.test("stalls fail within --timeout, or are resumed", async () => {
  await withFixture(async ({ proxy, tmp, run, seed }) => {
    const image = await seed("t/app");
    const layer = blobPath(image.layer.digest);
    // A body that stops after 1000 bytes: with no retries, the pull fails after 2 s.
    proxy.inject({
      method: "GET",
      path: layer,
      fault: { kind: "stall", seconds: 30, after: 1000 },
    });
    let started = Date.now();
    const body = await run([
      ...["pull", `${proxy.host}/t/app:v1`, "-o", `${tmp}/body`, "--timeout", "2s"],
      ...["--retries", "0"],
    ]);
    let elapsed = Date.now() - started;
    assert.equal(body.code, ExitCode.Network, shown(body));
    assert.match(body.stderr, /no data for 2000 ms/);
    assert.ok(elapsed >= 2000 && elapsed < 6000, `failed after ${elapsed} ms`);

    // No headers at all: the same bound.
    proxy.inject({ method: "GET", path: MANIFEST_TAG, fault: { kind: "stall", seconds: 30 } });
    started = Date.now();
    const headers = await run([
      ...["pull", `${proxy.host}/t/app:v1`, "-o", `${tmp}/headers`, "--timeout", "2s"],
      ...["--retries", "0"],
    ]);
    elapsed = Date.now() - started;
    assert.equal(headers.code, ExitCode.Network, shown(headers));
    assert.match(headers.stderr, /no response within 2000 ms/);
    assert.ok(elapsed >= 2000 && elapsed < 6000, `failed after ${elapsed} ms`);

    // With retries, the stalled body is resumed where it stopped.
    proxy.inject({
      method: "GET",
      path: layer,
      fault: { kind: "stall", seconds: 30, after: 1000 },
    });
    const resumed = await run([
      ...["pull", `${proxy.host}/t/app:v1`, "-o", `${tmp}/resumed`, "--timeout", "1s", "-v"],
    ]);
    assert.equal(resumed.code, 0, shown(resumed));
    assert.match(resumed.stderr, /the body broke off at byte 1000 \(no data for 1000 ms\)/);
    assert.deepEqual(gets(proxy, layer).slice(-2), [null, "bytes=1000-"]);
    assert.deepEqual(await snapshot(`${tmp}/resumed`), await snapshot(`${tmp}/src`));
    for (const dir of ["body", "headers"]) {
      assert.ok(!(await Deno.stat(`${tmp}/${dir}`).catch(() => undefined)), dir);
    }

    // Copy into a layout and push: the same bounds, and nothing half-written.
    const bounded = ["--timeout", "1s", "--retries", "0"];
    proxy.inject({
      method: "GET",
      path: layer,
      fault: { kind: "stall", seconds: 30, after: 1000 },
    });
    started = Date.now();
    const copy = await run(["copy", `${proxy.host}/t/app:v1`, `oci:${tmp}/layout:v1`, ...bounded]);
    assert.equal(copy.code, ExitCode.Network, shown(copy));
    proxy.inject({ method: "PUT", path: /\/manifests\//, fault: { kind: "stall", seconds: 30 } });
    const push = await run(["push", `${proxy.host}/t/pushed:v1`, `${tmp}/src`, ...bounded]);
    assert.equal(push.code, ExitCode.Network, shown(push));
    assert.match(push.stderr, /PUT \S+\/manifests\/v1: no response within 1000 ms/);
    elapsed = Date.now() - started;
    assert.ok(elapsed < 8000, `both failed within ${elapsed} ms`);
    assert.ok(
      !(await Deno.stat(`${tmp}/layout/blobs/sha256/${image.layer.digest.slice(7)}`)
        .catch(() => undefined)),
    );
    assert.deepEqual(await leftovers(tmp), []);
  });
});

Deno.test("a flipped byte is never retried into success, and never written", async () => {
  await withFixture(async ({ registry, proxy, tmp, run, seed }) => {
    const image = await seed("t/app");
    const layer = blobPath(image.layer.digest);
    const layerFile = `${tmp}/layout/blobs/sha256/${image.layer.digest.slice(7)}`;

    // A layer blob, early enough that the decompressor trips over it before the digest is known.
    for (const offset of [20, -10]) {
      proxy.inject({ method: "GET", path: layer, fault: { kind: "flip", offset } });
      const pull = await run(["pull", `${proxy.host}/t/app:v1`, "-o", `${tmp}/out`]);
      assert.equal(pull.code, ExitCode.Integrity, shown(pull));
      assert.match(pull.stderr, new RegExp(`blob of .* ${image.layer.digest} has digest sha256:`));
    }
    assert.equal(gets(proxy, layer).length, 2, "each pull read the blob once: no retry");
    // The manifest, read by tag (after the token challenge's refusal).
    proxy.inject({
      method: "GET",
      path: MANIFEST_TAG,
      ...AFTER_CHALLENGE,
      fault: { kind: "flip" },
    });
    const manifest = await run(["pull", `${proxy.host}/t/app:v1`, "-o", `${tmp}/out`]);
    assert.equal(manifest.code, ExitCode.Integrity, shown(manifest));
    assert.match(
      manifest.stderr,
      /manifest v1 of .*: the registry says sha256:\w+, the bytes are sha256:/,
    );
    assert.ok(!(await Deno.stat(`${tmp}/out`).catch(() => undefined)), "no output folder");

    // Copy into a layout: the blob is not stored, nor the manifest that would name it.
    proxy.inject({ method: "GET", path: layer, fault: { kind: "flip" } });
    const copy = await run(["copy", `${proxy.host}/t/app:v1`, `oci:${tmp}/layout:v1`]);
    assert.equal(copy.code, ExitCode.Integrity, shown(copy));
    assert.ok(!(await Deno.stat(layerFile).catch(() => undefined)), "no layer blob");
    assert.ok(
      !(await Deno.lstat(`${tmp}/layout`).catch(() => undefined)),
      "the layout the copy made is taken back",
    );

    // Push: the registry refuses the flipped upload, and the tag never appears.
    proxy.inject({ method: "PUT", path: /\/blobs\/uploads\/.*digest=/, fault: { kind: "flip" } });
    const before = (await registry.requests()).length;
    const push = await run(["push", `${proxy.host}/t/flipped:v1`, `${tmp}/src`]);
    assert.equal(push.code, ExitCode.Integrity, shown(push));
    assert.match(push.stderr, /DIGEST_INVALID/);
    const sent = (await registry.requests()).slice(before);
    assert.equal(sent.filter((r) => r.status === 400).length, 1, "the refused PUT is not repeated");
    assert.ok(!sent.some((r) => r.method === "PUT" && r.path.includes("/manifests/")));
    assert.deepEqual(await leftovers(tmp), []);
  });
});

Deno.test("Docker-Content-Digest: missing is looked up, wrong is refused", async () => {
  await withFixture(async ({ proxy, tmp, run, seed }) => {
    const image = await seed("t/app");
    // A HEAD without it (`inspect -q` asks a HEAD for a digest): the manifest is fetched by tag
    // and hashed instead.
    proxy.inject({
      method: "HEAD",
      path: MANIFEST_TAG,
      ...AFTER_CHALLENGE,
      fault: { kind: "digest", value: null },
    });
    const manifests = (since: number) =>
      proxy.seen.slice(since).filter((r) => r.path.includes("/manifests/"))
        .map((r) => `${r.method} ${r.path}`);
    let start = proxy.seen.length;
    const digest = await run(["inspect", "-q", `${proxy.host}/t/app:v1`]);
    assert.equal(digest.code, 0, shown(digest));
    assert.equal(digest.stdout.trim(), image.digest);
    assert.deepEqual(manifests(start), [
      "HEAD /v2/t/app/manifests/v1", // refused: the challenge
      "HEAD /v2/t/app/manifests/v1",
      "GET /v2/t/app/manifests/v1",
    ]);
    // A GET without it (a pull reads the manifest by tag): the bytes are hashed, and that read is
    // the manifest the pull goes on with.
    proxy.inject({
      method: "GET",
      path: MANIFEST_TAG,
      ...AFTER_CHALLENGE,
      fault: { kind: "digest", value: null },
    });
    start = proxy.seen.length;
    const missing = await run(["pull", `${proxy.host}/t/app:v1`, "-o", `${tmp}/missing`, "--json"]);
    assert.equal(missing.code, 0, shown(missing));
    assert.equal(JSON.parse(missing.stdout).digest, image.digest);
    assert.deepEqual(manifests(start), [
      "GET /v2/t/app/manifests/v1", // refused: the challenge
      "GET /v2/t/app/manifests/v1",
    ]);

    // A GET whose header names other bytes than it sent.
    const other = `sha256:${"0".repeat(64)}`;
    proxy.inject({
      method: "GET",
      path: MANIFEST_TAG,
      ...AFTER_CHALLENGE,
      fault: { kind: "digest", value: other },
    });
    const wrong = await run(["pull", `${proxy.host}/t/app:v1`, "-o", `${tmp}/wrong`]);
    assert.equal(wrong.code, ExitCode.Integrity, shown(wrong));
    assert.match(
      wrong.stderr,
      new RegExp(`the registry says ${other}, the bytes are ${image.digest}`),
    );
    assert.ok(!(await Deno.stat(`${tmp}/wrong`).catch(() => undefined)));

    // A manifest PUT (one per tag, none by digest) whose answer names other bytes.
    const pushed = proxy.seen.length;
    const tags = await run(["copy", `${proxy.host}/t/app:v1`, `${proxy.host}/t/tags:a`]);
    assert.equal(tags.code, 0, shown(tags));
    assert.deepEqual(
      proxy.seen.slice(pushed).filter((r) => r.method === "PUT").map((r) => r.path),
      ["/v2/t/tags/manifests/a"],
    );
    proxy.inject({ method: "PUT", path: /\/manifests\//, fault: { kind: "digest", value: other } });
    const stored = await run(["copy", `${proxy.host}/t/app:v1`, `${proxy.host}/t/stored:v1`]);
    assert.equal(stored.code, ExitCode.Integrity, shown(stored));
    assert.match(
      stored.stderr,
      new RegExp(`manifest v1 for .*t/stored: the registry stored ${other}, not ${image.digest}`),
    );
  });
});

Deno.test("copy into a layout: a failed blob leaves no temporary file of another one", async () => {
  await withFixture(async ({ registry, proxy, tmp, run }) => {
    const push = await run([
      ...["push", `${registry.host}/t/two:v1`, `${tmp}/src:/a`, `${tmp}/src:/b`],
      ...["--compression", "none", "--json"],
    ]);
    assert.equal(push.code, 0, shown(push));
    const [first, second] = JSON.parse(push.stdout).layers;
    // A layout that was there before, which keeps what the copy stored (a new one is taken back).
    await Deno.mkdir(`${tmp}/layout`);
    await Deno.writeTextFile(`${tmp}/layout/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
    await Deno.writeTextFile(`${tmp}/layout/index.json`, '{"schemaVersion":2,"manifests":[]}');
    proxy.inject(
      {
        method: "GET",
        path: blobPath(first.digest),
        fault: { kind: "stall", seconds: 1, after: 1 },
      },
      { method: "GET", path: blobPath(second.digest), fault: { kind: "flip" } },
    );
    const copy = await run(["copy", `${proxy.host}/t/two:v1`, `oci:${tmp}/layout:v1`]);
    assert.equal(copy.code, ExitCode.Integrity, shown(copy));
    assert.deepEqual(await leftovers(`${tmp}/layout`), []);
    assert.ok(
      !(await Deno.stat(`${tmp}/layout/blobs/sha256/${second.digest.slice(7)}`).catch(() =>
        undefined
      )),
    );
  });
});

Deno.test("a blob redirected to storage is fetched without the Authorization header", async () => {
  await withFixture(async ({ proxy, tmp, run, seed }) => {
    const image = await seed("t/app");
    proxy.inject({
      method: "GET",
      path: /\/blobs\/sha256:/,
      times: Infinity,
      fault: { kind: "redirect" },
    });
    const pull = await run(["pull", `${proxy.host}/t/app:v1`, "-o", `${tmp}/out`, "-v"]);
    assert.equal(pull.code, 0, shown(pull));
    assert.deepEqual(await snapshot(`${tmp}/out`), await snapshot(`${tmp}/src`));
    const copy = await run(["copy", `${proxy.host}/t/app:v1`, `oci:${tmp}/layout:v1`, "-q"]);
    assert.equal(copy.code, 0, shown(copy));
    assert.equal(copy.stdout.trim(), `oci:${tmp}/layout@${image.digest}`);

    const redirected = proxy.seen.filter((r) => r.fault === "redirect");
    assert.equal(redirected.length, 4, "config and layer, for pull and copy");
    assert.ok(redirected.every((r) => r.authorization?.startsWith("Bearer ")));
    assert.equal(proxy.storage.length, 4);
    for (const request of proxy.storage) {
      assert.equal(request.authorization, null, `${request.path} carries no credentials`);
      assert.ok(!("authorization" in request.headers));
    }
    // The signature of the storage URL stays out of the log.
    assert.match(
      pull.stderr,
      /\/storage\/v2\/t\/app\/blobs\/sha256:\w+\?X-Amz-Signature=\*\*\* -> 200/,
    );
  });
});

Deno.test("oversized and malformed manifests are refused clearly", async () => {
  await withFixture(async ({ proxy, tmp, run, seed }) => {
    await seed("t/app");
    // The manifest, read by tag (after the token challenge's refusal).
    proxy.inject({
      method: "GET",
      path: MANIFEST_TAG,
      ...AFTER_CHALLENGE,
      fault: { kind: "oversize" },
    });
    const oversized = await run(["pull", `${proxy.host}/t/app:v1`, "-o", `${tmp}/out`]);
    assert.equal(oversized.code, ExitCode.Integrity, shown(oversized));
    assert.match(oversized.stderr, /larger than 4194304 bytes/);

    const malformed: [string, RegExp][] = [
      ["<html><body>502 Bad Gateway</body></html>", /invalid manifest: not JSON/],
      [
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}',
        /config is not an object/,
      ],
      ['{"schemaVersion":1,"name":"old"}', /schemaVersion is 1, expected 2/],
    ];
    for (const [body, message] of malformed) {
      proxy.inject({
        method: "GET",
        path: MANIFEST_TAG,
        ...AFTER_CHALLENGE,
        fault: { kind: "replace", body },
      });
      const pull = await run(["pull", `${proxy.host}/t/app:v1`, "-o", `${tmp}/out`]);
      assert.equal(pull.code, ExitCode.Integrity, shown(pull));
      assert.match(pull.stderr, message);
      assert.equal(pull.stderr.trim().split("\n").length, 1, "one line, no stack");
    }
    assert.ok(!(await Deno.stat(`${tmp}/out`).catch(() => undefined)));
  });
});

Deno.test("a Content-Type that contradicts the manifest's mediaType: the digested document wins", async () => {
  await withFixture(async ({ proxy, tmp, run, seed }) => {
    const image = await seed("t/app");
    const docker = { kind: "contentType", value: MediaType.DockerManifest } as const;
    // copy reads the manifest by tag, in one GET.
    proxy.inject({ method: "GET", path: MANIFEST_TAG, ...AFTER_CHALLENGE, fault: docker });
    const copy = await run(["copy", `${proxy.host}/t/app:v1`, `oci:${tmp}/layout:v1`, "-q"]);
    assert.equal(copy.code, 0, shown(copy));
    const [entry] = JSON.parse(await Deno.readTextFile(`${tmp}/layout/index.json`)).manifests;
    assert.equal(entry.digest, image.digest);
    assert.equal(entry.mediaType, MediaType.OciManifest);
    // So does pull.
    proxy.inject({ method: "GET", path: MANIFEST_TAG, ...AFTER_CHALLENGE, fault: docker });
    const pull = await run(["pull", `${proxy.host}/t/app:v1`, "-o", `${tmp}/out`, "--json"]);
    assert.equal(pull.code, 0, shown(pull));
    assert.equal(JSON.parse(pull.stdout).digest, image.digest);
  });
});

Deno.test("error bodies that are not JSON are quoted, on one line", async () => {
  await withFixture(async ({ proxy, tmp, run, seed }) => {
    await seed("t/app");
    const html = "<html><head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>";
    proxy.inject({
      method: "GET",
      path: MANIFEST_TAG,
      times: Infinity,
      fault: { kind: "status", status: 502, body: html },
    });
    const pull = await run([
      "pull",
      `${proxy.host}/t/app:v1`,
      "-o",
      `${tmp}/out`,
      "--retries",
      "1",
    ]);
    assert.equal(pull.code, ExitCode.Network, shown(pull));
    assert.equal(
      pull.stderr,
      `ocisync: error: manifest v1 of ${proxy.host}/t/app: GET http://${proxy.host}/v2/t/app/manifests/v1 ` +
        "-> 502, BODY: <html><head><title>502 Bad Gateway</title></head>\n",
    );
  });
});

/** The digest the sync state holds for `reference`, if any. */
async function stateDigest(path: string): Promise<string | undefined> {
  const text = await Deno.readTextFile(path).catch(() => undefined);
  if (text === undefined) return undefined;
  const digests = JSON.stringify(JSON.parse(text)).match(/sha256:[0-9a-f]{64}/g) ?? [];
  return digests[0];
}

/** The version folders of a `sync -o DIR`, and where `DIR/current` points. */
async function syncFolder(dir: string): Promise<{ current?: string; versions: string[] }> {
  const current = await Deno.readLink(`${dir}/current`).catch(() => undefined);
  const versions = await Array.fromAsync(Deno.readDir(`${dir}/.ocisync`)).catch(() => []);
  return { current, versions: versions.map((e) => e.name).sort() };
}

Deno.test("sync: retries, stalls, redirects, flipped bytes and bad manifests; no advanced state", async () => {
  await withFixture(async ({ proxy, tmp, run, seed }) => {
    const v1 = await seed("t/sync");
    const ref = `${proxy.host}/t/sync:v1`;
    const state = `${tmp}/state.json`;
    const sync = (...args: string[]) =>
      run(["sync", ref, "-o", `${tmp}/dir`, "--state", state, "--once", ...args]);

    // Transient statuses, then a redirect to storage: the tick succeeds.
    proxy.inject(
      { method: "HEAD", path: /\/manifests\/v1$/, fault: { kind: "status", status: 503 } },
      { method: "GET", path: blobPath(v1.layer.digest), fault: { kind: "status", status: 502 } },
      { method: "GET", path: blobPath(v1.layer.digest), fault: { kind: "redirect" } },
    );
    const first = await sync("-v");
    assert.equal(first.code, 0, shown(first));
    assert.equal(await stateDigest(state), v1.digest);
    assert.deepEqual(await snapshot(`${tmp}/dir/current`), await snapshot(`${tmp}/src`));
    assert.ok(proxy.storage.every((r) => r.authorization === null) && proxy.storage.length === 1);
    const good = await syncFolder(`${tmp}/dir`);

    // A new version, which every fault below keeps from being delivered.
    await writeTree(`${tmp}/src`, { "app/new.txt": { type: "file", content: "v2\n" } });
    const v2 = await seed("t/sync");
    const failures: [FaultRule[], string[], number, RegExp][] = [
      [
        [{ method: "GET", path: blobPath(v2.layer.digest), fault: { kind: "flip" } }],
        [],
        ExitCode.Integrity,
        /has digest sha256:/,
      ],
      [
        [{ method: "GET", path: MANIFEST_DIGEST, fault: { kind: "oversize" } }],
        [],
        ExitCode.Integrity,
        /larger than 4194304 bytes/,
      ],
      [
        [{
          method: "GET",
          path: blobPath(v2.layer.digest),
          fault: { kind: "stall", seconds: 30, after: 10 },
        }],
        ["--timeout", "1s", "--retries", "0"],
        ExitCode.Network,
        /no data for 1000 ms/,
      ],
    ];
    for (const [rules, args, code, message] of failures) {
      proxy.inject(...rules);
      const failed = await sync(...args);
      assert.equal(failed.code, code, shown(failed));
      assert.match(failed.stderr, message);
      assert.equal(await stateDigest(state), v1.digest, "the state is not advanced");
      assert.deepEqual(await syncFolder(`${tmp}/dir`), good, "no new version, same current");
      assert.deepEqual(await leftovers(tmp), []);
    }
    const caught = await sync();
    assert.equal(caught.code, 0, shown(caught));
    assert.equal(await stateDigest(state), v2.digest);
  });
});
