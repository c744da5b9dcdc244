/**
 * Tests of the registry target (src/remote) against the real Distribution registry of
 * tests/helpers/registry.ts, in its anonymous, basic and token modes. Where a test needs
 * behaviour the registry cannot be made to show (a redirect to object storage, a failing
 * chunk, a 503, tag pagination, which Distribution 2.8 does not implement), the front proxy
 * of tests/helpers/fault_proxy.ts forwards to the real registry and alters only that one thing.
 */
import assert from "node:assert/strict";
import { sha256Digest } from "../src/digest/mod.ts";
import { ExitCode, exitCodeOf } from "../src/cli/exit.ts";
import {
  AuthError,
  IntegrityError,
  NetworkError,
  NotFoundError,
  UnsafeContentError,
} from "../src/errors/mod.ts";
import { MediaType } from "../src/oci/mediatypes.ts";
import type { Descriptor } from "../src/oci/types.ts";
import { parseRegistryReference } from "../src/ref/mod.ts";
import {
  concurrencyLimit,
  type Credential,
  redactUrl,
  RegistryClient,
  type RegistryOptions,
  RegistryTarget,
  Transport,
} from "../src/remote/mod.ts";
import { type FrontProxy, startProxy } from "./helpers/fault_proxy.ts";
import { startRegistry, type TestRegistry } from "./helpers/registry.ts";
import { requireTool } from "./helpers/tools.ts";
import { randomBytes } from "./helpers/random.ts";

const CHUNK = 64 * 1024;
const enc = new TextEncoder();

function blob(bytes: Uint8Array, mediaType: string = MediaType.OciLayer): Descriptor {
  return { mediaType, digest: sha256Digest(bytes), size: bytes.byteLength };
}

/** A stream that yields `bytes` in uneven pieces, as files and pipes do. */
function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  const pieces: Uint8Array[] = [];
  for (let i = 0, step = 1000; i < bytes.byteLength; i += step, step = step * 3 % 70001 + 1) {
    pieces.push(bytes.subarray(i, i + step));
  }
  return ReadableStream.from(pieces);
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Credentials of `reg` for the registry named `host` (by default the registry's own). */
function credentialsOf(
  reg: TestRegistry,
  override: Credential = {},
  host: string = reg.host,
): RegistryOptions {
  const credential = { username: reg.username, password: reg.password, ...override };
  return { credentials: (registry) => Promise.resolve(registry === host ? credential : undefined) };
}

function targetOf(host: string, repository: string, options: RegistryOptions = {}) {
  return new RegistryTarget(parseRegistryReference(`${host}/${repository}`), options);
}

/** Pushes a one-layer image and tags it; returns the manifest's descriptor and bytes. */
async function pushImage(
  target: RegistryTarget,
  tags: string[],
  extra: Record<string, unknown> = {},
): Promise<{ descriptor: Descriptor; bytes: Uint8Array; layer: Uint8Array }> {
  const config = enc.encode(JSON.stringify({ architecture: "amd64", os: "linux" }));
  const layer = enc.encode(`layer of ${target.name} ${crypto.randomUUID()}`);
  await target.pushBlob(blob(config, MediaType.OciConfig), ReadableStream.from([config]));
  await target.pushBlob(blob(layer), ReadableStream.from([layer]));
  const bytes = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: blob(config, MediaType.OciConfig),
    layers: [blob(layer)],
    ...extra,
  }));
  const descriptor = blob(bytes, MediaType.OciManifest);
  await target.pushManifest(descriptor, bytes, tags);
  return { descriptor, bytes, layer };
}

async function requestsSince(reg: TestRegistry, start: number) {
  return (await reg.requests()).slice(start).map((r) => `${r.method} ${r.path} ${r.status}`);
}

function assertNoSecrets(lines: string[], secrets: string[]): void {
  const text = lines.join("\n");
  for (const secret of secrets) assert.ok(!text.includes(secret), `log leaks ${secret}`);
  assert.doesNotMatch(text, /authorization|Basic |Bearer |eyJ/i);
}

/**
 * A certificate for `address`, made by openssl in `dir` (`cert.pem`, `key.pem`), as a TLS
 * listener takes it.
 */
async function selfSignedCertificate(
  dir: string,
  address: string,
): Promise<{ cert: string; key: string }> {
  requireTool("openssl", "openssl");
  const made = await new Deno.Command("openssl", {
    args: [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-keyout", `${dir}/key.pem`, "-out", `${dir}/cert.pem`, "-days", "1"],
      ...["-subj", "/CN=ocisync-test-registry", "-addext", `subjectAltName=IP:${address}`],
      ...["-addext", "basicConstraints=critical,CA:FALSE"],
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(made.success, new TextDecoder().decode(made.stderr));
  return {
    cert: await Deno.readTextFile(`${dir}/cert.pem`),
    key: await Deno.readTextFile(`${dir}/key.pem`),
  };
}

/** One request that a {@linkcode catcher} got. */
interface Caught {
  method: string;
  path: string;
  authorization: string | null;
  body: string;
}

/**
 * A host that is not the registry: on 127.0.0.2, another origin than anything on 127.0.0.1. It
 * records every request, and answers each with a 401 whose Bearer challenge names a realm on
 * itself: the lure a hostile host would set for the registry's credentials.
 */
function catcher(): { origin: string; caught: Caught[]; close(): Promise<void> } {
  const caught: Caught[] = [];
  const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve({
    hostname: "127.0.0.2",
    port: 0,
    onListen() {},
  }, async (request): Promise<Response> => {
    const url = new URL(request.url);
    caught.push({
      method: request.method,
      path: url.pathname + url.search,
      authorization: request.headers.get("authorization"),
      body: await request.text(),
    });
    const realm = `http://127.0.0.2:${server.addr.port}/steal`;
    return new Response("no", {
      status: 401,
      headers: { "www-authenticate": `Bearer realm="${realm}",service="lure"` },
    });
  });
  return {
    origin: `http://127.0.0.2:${server.addr.port}`,
    caught,
    close: () => server.shutdown(),
  };
}

// ---------------------------------------------------------------------------

Deno.test("transport: schemes, hosts and redaction", () => {
  const transport = new Transport();
  assert.equal(transport.registryUrl("docker.io", "/v2/").href, "https://registry-1.docker.io/v2/");
  assert.equal(transport.registryUrl("ghcr.io", "/v2/").href, "https://ghcr.io/v2/");
  assert.equal(transport.registryUrl("localhost:5000", "/v2/").href, "http://localhost:5000/v2/");
  assert.equal(transport.registryUrl("127.0.0.9", "/v2/").href, "https://127.0.0.9/v2/");
  assert.equal(transport.registryUrl("[::1]:5000", "/v2/").href, "http://[::1]:5000/v2/");
  assert.equal(
    new Transport({ plainHttp: true }).registryUrl("reg.lan:5000", "/v2/").href,
    "http://reg.lan:5000/v2/",
  );
  assert.equal(
    redactUrl(new URL("https://u:p@s3.example/b?X-Amz-Signature=abc&digest=sha256:1&_state=x")),
    "https://***:***@s3.example/b?X-Amz-Signature=***&digest=sha256:1&_state=***",
  );
});

Deno.test("concurrencyLimit: at most n tasks at once, all of them run", async () => {
  const limited = concurrencyLimit(2);
  let running = 0;
  let peak = 0;
  const results = await Promise.all([1, 2, 3, 4, 5].map((n) =>
    limited(async () => {
      peak = Math.max(peak, ++running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
      return n * 10;
    })
  ));
  assert.deepEqual(results, [10, 20, 30, 40, 50]);
  assert.equal(peak, 2);
});

Deno.test("anonymous: push, resolve, pull, skip, concurrency", async () => {
  const reg = await startRegistry();
  const log: string[] = [];
  const target = targetOf(reg.host, "t/app", {
    chunkSize: CHUNK,
    concurrency: 2,
    log: (line) => log.push(line),
  });
  try {
    // A small blob: POST, then one PUT with the bytes. No `GET /v2/` comes first: the HEAD
    // would have met any 401.
    const small = enc.encode("small blob\n");
    let start = (await reg.requests()).length;
    await target.pushBlob(blob(small), streamOf(small));
    const [head, post, put, ...more] = await requestsSince(reg, start);
    assert.deepEqual([head, post, more], [
      `HEAD /v2/t/app/blobs/${sha256Digest(small)} 404`,
      "POST /v2/t/app/blobs/uploads/ 202",
      [],
    ]);
    const digestParameter = encodeURIComponent(sha256Digest(small));
    assert.match(
      put,
      new RegExp(`^PUT /v2/t/app/blobs/uploads/[0-9a-f-]+\\?.*digest=${digestParameter}.* 201$`),
    );

    // A large blob: PATCHes of 64 KiB (the last one shorter), then an empty PUT.
    const large = randomBytes(3 * CHUNK + 4321);
    start = (await reg.requests()).length;
    await target.pushBlob(blob(large), streamOf(large));
    const methods = (await reg.requests()).slice(start).map((r) => `${r.method} ${r.status}`);
    assert.deepEqual(methods, [
      "HEAD 404",
      "POST 202",
      "PATCH 202",
      "PATCH 202",
      "PATCH 202",
      "PATCH 202",
      "PUT 201",
    ]);

    // A blob of exactly one chunk still goes in one PUT.
    const exact = randomBytes(CHUNK);
    start = (await reg.requests()).length;
    await target.pushBlob(blob(exact), streamOf(exact));
    assert.deepEqual((await reg.requests()).slice(start).map((r) => r.method), [
      "HEAD",
      "POST",
      "PUT",
    ]);

    // Pull both back, verified.
    assert.deepEqual(await readAll(await target.fetchBlob(blob(small))), small);
    assert.deepEqual(await readAll(await target.fetchBlob(blob(large))), large);
    assert.equal(await target.hasBlob(blob(large)), true);
    assert.equal(await target.hasBlob(blob(enc.encode("absent"))), false);

    // From an offset, with Range, for an upload of it elsewhere that resumes.
    for (const offset of [0, 1, large.length - 1, large.length, large.length + 1]) {
      assert.deepEqual(
        await readAll(await target.fetchBlobFrom(blob(large), offset)),
        large.subarray(offset),
        `from ${offset}`,
      );
    }
    // The last two ask for nothing: no request.
    const ranges = (await reg.requests()).slice(-3).map((r) => `${r.method} ${r.status}`);
    assert.deepEqual(ranges, ["GET 200", "GET 206", "GET 206"]);
    await assert.rejects(target.fetchBlobFrom(blob(enc.encode("absent")), 1), NotFoundError);

    // A second push of the same blob is one HEAD.
    start = (await reg.requests()).length;
    let pulled = false;
    const source = new ReadableStream<Uint8Array>({
      pull() {
        pulled = true;
      },
    }, { highWaterMark: 0 });
    await target.pushBlob(blob(large), source);
    assert.deepEqual(await requestsSince(reg, start), [
      `HEAD /v2/t/app/blobs/${sha256Digest(large)} 200`,
    ]);
    assert.equal(pulled, false, "the source of a skipped blob is not read");

    // Manifests: by digest and by each tag; resolve with HEAD; fetch verified.
    const image = await pushImage(target, ["v1", "latest"]);
    start = (await reg.requests()).length;
    assert.deepEqual(await target.resolve("v1"), image.descriptor);
    assert.deepEqual((await reg.requests()).slice(start).map((r) => r.method), ["HEAD"]);
    assert.deepEqual(await target.resolve(image.descriptor.digest), image.descriptor);
    assert.deepEqual(await target.fetchManifest(image.descriptor), image.bytes);
    const byTag = await target.fetchReference("latest");
    assert.deepEqual(byTag.descriptor, image.descriptor);
    assert.deepEqual(byTag.bytes, image.bytes);
    assert.deepEqual((await Array.fromAsync(target.tags())).sort(), ["latest", "v1"]);

    // An index of the image, pushed and fetched back.
    const indexBytes = enc.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [{ ...image.descriptor, platform: { architecture: "amd64", os: "linux" } }],
    }));
    const index = blob(indexBytes, MediaType.OciIndex);
    await target.pushManifest(index, indexBytes, ["multi"]);
    assert.deepEqual(await target.resolve("multi"), index);

    // Several blobs at once, through the limit of 2.
    const many = [1, 2, 3, 4, 5].map((n) => randomBytes(n * 1000));
    await Promise.all(many.map((bytes) => target.pushBlob(blob(bytes), streamOf(bytes))));
    for (const bytes of many) assert.equal(await target.hasBlob(blob(bytes)), true);

    // One log line per exchange; upload state is redacted.
    assert.ok(
      log.includes(`HEAD http://${reg.host}/v2/t/app/blobs/${sha256Digest(small)} -> 404`),
      log.join("\n"),
    );
    assert.ok(log.some((line) => /^PATCH .*\?_state=\*\*\* -> 202$/.test(line)), log.join("\n"));
    assert.ok(!log.some((line) => /_state=[^*]/.test(line)));
  } finally {
    await reg.stop();
  }
});

Deno.test("anonymous: not found, bad bytes and wrong descriptors", async () => {
  const reg = await startRegistry();
  const target = targetOf(reg.host, "t/app");
  try {
    await pushImage(target, ["v1"]);
    const missingTag = await target.resolve("nope").catch((e) => e);
    assert.ok(missingTag instanceof NotFoundError, String(missingTag));
    assert.equal(exitCodeOf(missingTag), ExitCode.NotFound);
    assert.match(missingTag.message, /manifest nope of .*MANIFEST_UNKNOWN: manifest unknown/);

    const absent = blob(enc.encode("never pushed"));
    await assert.rejects(target.fetchBlob(absent), (e: Error) => {
      assert.ok(e instanceof NotFoundError);
      return /BLOB_UNKNOWN/.test(e.message);
    });
    await assert.rejects(Array.fromAsync(targetOf(reg.host, "t/none").tags()), (e: Error) => {
      assert.ok(e instanceof NotFoundError);
      return /NAME_UNKNOWN/.test(e.message);
    });

    // A descriptor whose size is wrong: the stream refuses the bytes.
    const bytes = enc.encode("sized");
    await target.pushBlob(blob(bytes), streamOf(bytes));
    const stream = await target.fetchBlob({ ...blob(bytes), size: 4 });
    await assert.rejects(readAll(stream), IntegrityError);

    // Bytes that do not match the descriptor are refused before the upload completes.
    const wrong = { ...blob(enc.encode("claimed")), size: 5 };
    await assert.rejects(target.pushBlob(wrong, streamOf(enc.encode("other"))), IntegrityError);
    assert.equal(await target.hasBlob(wrong), false);
    await assert.rejects(
      target.pushManifest(blob(enc.encode("{}")), enc.encode("{ }"), []),
      IntegrityError,
    );
    // A manifest that names a blob the registry lacks.
    const orphan = enc.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: blob(enc.encode("no config"), MediaType.OciConfig),
      layers: [],
    }));
    await assert.rejects(
      target.pushManifest(blob(orphan, MediaType.OciManifest), orphan, []),
      NotFoundError,
    );
    await assert.rejects(target.resolve("../v1"), /invalid tag/);
  } finally {
    await reg.stop();
  }
});

Deno.test("anonymous: cross-repository mount", async () => {
  const reg = await startRegistry();
  const client = new RegistryClient();
  const source = targetOf(reg.host, "t/base", { client });
  const target = targetOf(reg.host, "t/derived", { client, chunkSize: CHUNK });
  try {
    const layer = randomBytes(3 * CHUNK);
    await source.pushBlob(blob(layer), streamOf(layer));

    let start = (await reg.requests()).length;
    const fromSource = () => source.fetchBlob(blob(layer));
    assert.equal(await target.mountBlob(blob(layer), source, fromSource), "mounted");
    const mounted = await requestsSince(reg, start);
    assert.deepEqual(mounted, [
      `POST /v2/t/derived/blobs/uploads/?mount=${encodeURIComponent(sha256Digest(layer))}` +
      "&from=t%2Fbase 201",
    ]);
    assert.equal(await target.hasBlob(blob(layer)), true);

    // Not in the source: the registry starts an ordinary upload, which the same call finishes.
    const other = enc.encode("only here");
    start = (await reg.requests()).length;
    const fallbackBytes = () => Promise.resolve(streamOf(other));
    assert.equal(await target.mountBlob(blob(other), source, fallbackBytes), "copied");
    const fallback = (await reg.requests()).slice(start).map((r) => `${r.method} ${r.status}`);
    assert.deepEqual(fallback, ["POST 202", "PUT 201"]);
    assert.deepEqual(await readAll(await target.fetchBlob(blob(other))), other);
  } finally {
    await reg.stop();
  }
});

Deno.test("anonymous: tags, paginated by Link header", async () => {
  const reg = await startRegistry();
  // Distribution 2.8 ignores n and last: the proxy pages its full answer as the spec says.
  const proxy = startProxy(reg.host, async (request, url) => {
    const n = Number(url.searchParams.get("n"));
    if (!url.pathname.endsWith("/tags/list") || n === 0) return undefined;
    const whole = await proxy.forward(request);
    const { name, tags } = await whole.json();
    const last = url.searchParams.get("last");
    const rest = (tags as string[]).sort().filter((tag) => last === null || tag > last);
    const page = rest.slice(0, n);
    const headers = new Headers();
    if (rest.length > n) {
      headers.set("link", `</v2/${name}/tags/list?n=${n}&last=${page.at(-1)}>; rel="next"`);
    }
    return Response.json({ name, tags: page }, { headers });
  });
  try {
    const tags = ["a", "b", "c", "d", "e", "f", "g"];
    await pushImage(targetOf(reg.host, "t/app"), tags);
    const target = targetOf(proxy.host, "t/app");

    const pages: string[][] = [];
    let page = await target.tagsPage({ n: 2 });
    pages.push(page.tags);
    while (page.last !== undefined) {
      page = await target.tagsPage({ n: 2, last: page.last });
      pages.push(page.tags);
    }
    assert.deepEqual(pages, [["a", "b"], ["c", "d"], ["e", "f"], ["g"]]);

    assert.deepEqual(await Array.fromAsync(target.tags({ pageSize: 3 })), tags);
    const listed = proxy.seen.filter((r) => r.path.includes("/tags/list")).map((r) => r.path);
    assert.deepEqual(listed.slice(-3), [
      "/v2/t/app/tags/list?n=3",
      "/v2/t/app/tags/list?n=3&last=c",
      "/v2/t/app/tags/list?n=3&last=f",
    ]);
    assert.deepEqual((await Array.fromAsync(target.tags())).sort(), tags);
  } finally {
    await proxy.close();
    await reg.stop();
  }
});

Deno.test("anonymous: referrers, through the fallback tag schema", async () => {
  const reg = await startRegistry();
  const target = targetOf(reg.host, "t/app");
  try {
    const image = await pushImage(target, ["v1"]);
    const signature = await pushImage(target, [], {
      artifactType: "application/example.signature",
      subject: image.descriptor,
    });
    assert.deepEqual(await Array.fromAsync(target.referrers(image.descriptor)), []);
    const entry = { ...signature.descriptor, artifactType: "application/example.signature" };
    const indexBytes = enc.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [entry],
    }));
    const tag = image.descriptor.digest.replace(":", "-");
    await target.pushManifest(blob(indexBytes, MediaType.OciIndex), indexBytes, [tag]);
    assert.deepEqual(await Array.fromAsync(target.referrers(image.descriptor)), [entry]);
  } finally {
    await reg.stop();
  }
});

Deno.test("basic auth: push and pull; wrong or missing credentials", async () => {
  const reg = await startRegistry({ auth: "basic" });
  const log: string[] = [];
  try {
    const target = targetOf(reg.host, "t/app", {
      ...credentialsOf(reg),
      chunkSize: CHUNK,
      log: (line) => log.push(line),
    });
    const image = await pushImage(target, ["v1"]);
    const large = randomBytes(2 * CHUNK + 1);
    await target.pushBlob(blob(large), streamOf(large));
    assert.deepEqual(await target.resolve("v1"), image.descriptor);
    assert.deepEqual(await readAll(await target.fetchBlob(blob(large))), large);
    assertNoSecrets(log, [reg.password]);

    const wrong = targetOf(reg.host, "t/app", credentialsOf(reg, { password: "wrong" }));
    const refused = await wrong.resolve("v1").catch((e) => e);
    assert.ok(refused instanceof AuthError, String(refused));
    assert.equal(exitCodeOf(refused), ExitCode.Auth);
    assert.match(refused.hint ?? "", /^check the password or token of user ocisync/);
    assert.match(refused.message, /401/);
    assert.ok(!refused.message.includes("wrong"));

    await assert.rejects(targetOf(reg.host, "t/app").resolve("v1"), AuthError);
  } finally {
    await reg.stop();
  }
});

Deno.test("token auth: scopes, token cache, mount scopes, wrong password", async () => {
  const reg = await startRegistry({ auth: "token" });
  const log: string[] = [];
  const tokens = reg.tokenRequests!;
  try {
    const client = new RegistryClient({ ...credentialsOf(reg), log: (line) => log.push(line) });
    const target = targetOf(reg.host, "t/app", { client, chunkSize: CHUNK });
    const image = await pushImage(target, ["v1"]);
    const large = randomBytes(2 * CHUNK + 7);
    await target.pushBlob(blob(large), streamOf(large));
    assert.deepEqual(
      tokens.map((t) => [t.method, t.scope.join(" "), t.account, t.service, t.status]),
      [["GET", "repository:t/app:pull,push", reg.username, reg.tokenService, 200]],
      "one token for the whole push",
    );

    const reader = targetOf(reg.host, "t/app", { client });
    assert.deepEqual(await reader.resolve("v1"), image.descriptor);
    assert.deepEqual(await reader.fetchManifest(image.descriptor), image.bytes);
    assert.deepEqual(await readAll(await reader.fetchBlob(blob(large))), large);
    assert.deepEqual(tokens.slice(1).map((t) => t.scope.join(" ")), ["repository:t/app:pull"]);

    // A mount asks for pull on the source repository too.
    const derived = targetOf(reg.host, "t/derived", { client });
    const fromApp = () => target.fetchBlob(blob(large));
    assert.equal(await derived.mountBlob(blob(large), target, fromApp), "mounted");
    assert.deepEqual(tokens.at(-1)!.scope.sort(), [
      "repository:t/app:pull",
      "repository:t/derived:pull,push",
    ]);
    assertNoSecrets(log, [reg.password]);

    const wrong = targetOf(reg.host, "t/app", credentialsOf(reg, { password: "wrong" }));
    const refused = await wrong.resolve("v1").catch((e) => e);
    assert.ok(refused instanceof AuthError, String(refused));
    assert.match(refused.message, /token for .*401.*invalid username or password/);
    assert.match(refused.hint ?? "", /^check the password or token of user ocisync/);
  } finally {
    await reg.stop();
  }
});

Deno.test("token auth: a token without the scope is refreshed once, then refused", async () => {
  const reg = await startRegistry({ auth: "token", anonymousPull: true });
  try {
    await pushImage(targetOf(reg.host, "t/app", credentialsOf(reg)), ["v1"]);
    const anonymous = targetOf(reg.host, "t/app");
    assert.equal((await anonymous.resolve("v1")).mediaType, MediaType.OciManifest);

    const before = reg.tokenRequests!.length;
    const bytes = enc.encode("anonymous push");
    await assert.rejects(anonymous.pushBlob(blob(bytes), streamOf(bytes)), AuthError);
    assert.deepEqual(
      reg.tokenRequests!.slice(before).map((t) => t.scope.join(" ")),
      ["repository:t/app:pull,push", "repository:t/app:pull,push"],
    );
  } finally {
    await reg.stop();
  }
});

Deno.test("token auth: identity token through the OAuth2 refresh-token grant", async () => {
  const reg = await startRegistry({ auth: "token" });
  try {
    const response = await fetch(reg.tokenRealm!, {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "password",
        username: reg.username,
        password: reg.password,
        service: reg.tokenService!,
        client_id: "ocisync-test",
        access_type: "offline",
      }),
    });
    const { refresh_token: identityToken } = await response.json();
    assert.equal(typeof identityToken, "string");

    const target = targetOf(reg.host, "t/app", {
      credentials: () => Promise.resolve({ identityToken }),
    });
    const image = await pushImage(target, ["v1"]);
    assert.deepEqual(await target.resolve("v1"), image.descriptor);
    const grants = reg.tokenRequests!.slice(1);
    assert.ok(grants.length > 0);
    for (const grant of grants) {
      assert.deepEqual(
        [grant.method, grant.grantType, grant.account, grant.service, grant.status],
        ["POST", "refresh_token", reg.username, reg.tokenService, 200],
      );
    }
    assert.deepEqual(grants[0].scope, ["repository:t/app:pull,push"]);

    const forged = targetOf(reg.host, "t/app", {
      credentials: () => Promise.resolve({ identityToken: "forged" }),
    });
    await assert.rejects(forged.resolve("v1"), AuthError);
  } finally {
    await reg.stop();
  }
});

Deno.test("token auth: identity tokens fall back to GET where OAuth2 POST is 404", async () => {
  const reg = await startRegistry({ auth: "token" });
  const tokenMethods: string[] = [];
  // A token server without OAuth2, as GCR's was: POST is 404, GET takes the token as password.
  const tokenServer = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (r) => {
    tokenMethods.push(r.method);
    if (r.method === "POST") {
      await r.body?.cancel();
      return new Response("not found", { status: 404 });
    }
    const url = new URL(r.url);
    return await fetch(`${reg.tokenRealm}${url.search}`, { headers: r.headers });
  });
  const realm = `http://127.0.0.1:${tokenServer.addr.port}/token`;
  const proxy = startProxy(reg.host, async (request) => {
    const response = await proxy.forward(request);
    const challenge = response.headers.get("www-authenticate");
    if (challenge === null) return response;
    const headers = new Headers(response.headers);
    headers.set("www-authenticate", challenge.replace(reg.tokenRealm!, realm));
    return new Response(response.body, { status: response.status, headers });
  });
  try {
    const target = targetOf(
      proxy.host,
      "t/app",
      credentialsOf(reg, { password: undefined, identityToken: reg.password }, proxy.host),
    );
    const image = await pushImage(target, ["v1"]);
    assert.deepEqual(await target.resolve("v1"), image.descriptor);
    assert.deepEqual(tokenMethods, ["POST", "GET", "POST", "GET"]);
    assert.deepEqual(
      reg.tokenRequests!.map((t) => [t.method, t.account, t.scope.join()]),
      [
        ["GET", reg.username, "repository:t/app:pull,push"],
        ["GET", reg.username, "repository:t/app:pull"],
      ],
    );
  } finally {
    await proxy.close();
    await tokenServer.shutdown();
    await reg.stop();
  }
});

Deno.test("redirects: credentials stay with the registry; bytes are verified", async () => {
  const reg = await startRegistry({ auth: "basic" });
  const stored = new Map<string, Uint8Array<ArrayBuffer>>();
  const storageRequests: { path: string; authorization: boolean }[] = [];
  // Object storage on another port, hence another origin.
  const storage = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const url = new URL(request.url);
    storageRequests.push({
      path: url.pathname + url.search,
      authorization: request.headers.has("authorization"),
    });
    const bytes = stored.get(url.pathname.slice("/storage/".length));
    return bytes ? new Response(bytes) : new Response("no such key", { status: 404 });
  });
  const proxy = startProxy(reg.host, (request, url) => {
    const digest = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname)?.[1];
    // As a registry does, it asks for credentials (the real registry's 401) before it redirects.
    if (request.method !== "GET" || digest === undefined || !request.headers.has("authorization")) {
      return Promise.resolve(undefined);
    }
    const location = `http://127.0.0.1:${storage.addr.port}/storage/${digest}` +
      "?X-Amz-Signature=topsecret";
    return Promise.resolve(new Response(null, { status: 307, headers: { location } }));
  });
  try {
    const log: string[] = [];
    const direct = targetOf(reg.host, "t/app", credentialsOf(reg));
    const bytes = randomBytes(100_000);
    await direct.pushBlob(blob(bytes), streamOf(bytes));
    stored.set(sha256Digest(bytes), bytes);

    const pulling = targetOf(proxy.host, "t/app", {
      ...credentialsOf(reg, {}, proxy.host),
      log: (line) => log.push(line),
    });
    assert.deepEqual(await readAll(await pulling.fetchBlob(blob(bytes))), bytes);
    assert.deepEqual(storageRequests, [{
      path: `/storage/${sha256Digest(bytes)}?X-Amz-Signature=topsecret`,
      authorization: false,
    }]);
    // The first request to the proxy's host learns the challenge from its 401; the one that
    // is redirected carries the credentials, which the storage never sees.
    const blobGets = proxy.seen.filter((r) => r.method === "GET" && r.path.includes("/blobs/"));
    assert.deepEqual(blobGets.map((r) => r.authorization !== null), [false, true]);
    assert.ok(log.some((line) => line.includes("/storage/") && line.endsWith("-> 200")));
    assertNoSecrets(log, [reg.password, "topsecret"]);

    // Storage that serves a flipped byte: the stream fails at its end.
    const flipped = bytes.slice();
    flipped[50_000] ^= 1;
    stored.set(sha256Digest(bytes), flipped);
    const stream = await pulling.fetchBlob(blob(bytes));
    await assert.rejects(readAll(stream), (e: Error) => {
      assert.ok(e instanceof IntegrityError);
      assert.equal(exitCodeOf(e), ExitCode.Integrity);
      return true;
    });
  } finally {
    await proxy.close();
    await storage.shutdown();
    await reg.stop();
  }
});

Deno.test("proxy: Accept lists every manifest type; tampered manifests are refused", async () => {
  const reg = await startRegistry();
  let tamper = false;
  const proxy = startProxy(reg.host, async (request, url) => {
    if (!tamper || request.method !== "GET" || !url.pathname.includes("/manifests/")) {
      return undefined;
    }
    const response = await proxy.forward(request);
    const text = (await response.text()).replace('"amd64"', '"arm64"');
    return new Response(text, { headers: response.headers });
  });
  try {
    const target = targetOf(proxy.host, "t/app");
    const image = await pushImage(target, ["v1"]);
    await target.resolve("v1");
    await target.fetchManifest(image.descriptor);
    const manifestRequests = proxy.seen.filter((r) =>
      r.method !== "PUT" && /\/manifests\/(v1|sha256:)/.test(r.path)
    );
    assert.ok(manifestRequests.length >= 2);
    for (const r of manifestRequests) {
      assert.equal(
        r.accept,
        [
          MediaType.OciManifest,
          MediaType.OciIndex,
          MediaType.DockerManifest,
          MediaType.DockerManifestList,
        ].join(", "),
      );
    }

    // An index whose platform the proxy rewrites on the way.
    const bytes = enc.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [{ ...image.descriptor, platform: { architecture: "amd64", os: "linux" } }],
    }));
    await target.pushManifest(blob(bytes, MediaType.OciIndex), bytes, ["multi"]);
    tamper = true;
    await assert.rejects(target.fetchManifest(blob(bytes, MediaType.OciIndex)), IntegrityError);
    await assert.rejects(target.fetchReference("multi"), IntegrityError);
  } finally {
    await proxy.close();
    await reg.stop();
  }
});

Deno.test("uploads resume after a failed chunk, or start over on the first", async () => {
  const reg = await startRegistry();
  // What the proxy does to each PATCH in turn: forward it, fail it before it reaches the
  // registry, or deliver half its bytes and then fail.
  let plan: ("forward" | "drop" | "half")[] = [];
  const proxy = startProxy(reg.host, async (request) => {
    if (request.method !== "PATCH") return undefined;
    const action = plan.shift();
    if (action === "drop") {
      await request.body?.cancel();
      return new Response("bad gateway", { status: 502 });
    }
    if (action === "half") {
      const body = new Uint8Array(await request.arrayBuffer());
      const half = body.subarray(0, body.length / 2);
      const headers = new Headers(request.headers);
      headers.set("content-range", `0-${half.length - 1}`);
      const partial = new Request(request.url, { method: "PATCH", headers, body: half });
      await (await proxy.forward(partial, half)).body?.cancel();
      return new Response("bad gateway", { status: 502 });
    }
    return undefined;
  });
  try {
    const target = targetOf(proxy.host, "t/app", { chunkSize: CHUNK });
    const first = randomBytes(3 * CHUNK);
    plan = ["forward", "drop"];
    let start = (await reg.requests()).length;
    await target.pushBlob(blob(first), streamOf(first));
    assert.deepEqual((await reg.requests()).slice(start).map((r) => `${r.method} ${r.status}`), [
      "HEAD 404",
      "POST 202",
      "PATCH 202",
      "GET 204", // the upload's status, after PATCH 2 failed: resend the whole chunk
      "PATCH 202",
      "PATCH 202",
      "PUT 201",
    ]);
    assert.deepEqual(await readAll(await target.fetchBlob(blob(first))), first);

    const second = randomBytes(2 * CHUNK);
    plan = ["half"];
    start = (await reg.requests()).length;
    await target.pushBlob(blob(second), streamOf(second));
    assert.deepEqual((await reg.requests()).slice(start).map((r) => `${r.method} ${r.status}`), [
      "HEAD 404",
      "POST 202",
      "PATCH 202", // half of the first chunk
      "GET 404", // Distribution drops a session whose size disagrees with its state
      "POST 202",
      "PATCH 202",
      "PATCH 202",
      "PUT 201",
    ]);
    assert.deepEqual(await readAll(await target.fetchBlob(blob(second))), second);

    // Bytes of an earlier chunk lost: the spent stream cannot give them again.
    const third = randomBytes(2 * CHUNK);
    plan = ["forward", "half"];
    const lost = await target.pushBlob(blob(third), streamOf(third)).catch((e) => e);
    assert.ok(lost instanceof NetworkError, String(lost));
    assert.equal(lost.hint, "push again");
    assert.equal(await target.hasBlob(blob(third)), false);
  } finally {
    await proxy.close();
    await reg.stop();
  }
});

Deno.test("a manifest PUT answered MANIFEST_BLOB_UNKNOWN is sent again, twice at most", async () => {
  // Distribution says so while another push rewrites the link of a blob the manifest names.
  const reg = await startRegistry();
  let unknown = 0;
  const proxy = startProxy(reg.host, (request, url) => {
    if (request.method !== "PUT" || !url.pathname.includes("/manifests/") || unknown === 0) {
      return Promise.resolve(undefined);
    }
    unknown--;
    return Promise.resolve(Response.json({
      errors: [{ code: "MANIFEST_BLOB_UNKNOWN", message: "blob unknown to registry" }],
    }, { status: 400 }));
  });
  try {
    const target = targetOf(proxy.host, "t/app");
    unknown = 2;
    const image = await pushImage(target, ["v1"]);
    assert.equal(unknown, 0);
    assert.deepEqual(await target.resolve("v1"), image.descriptor);
    unknown = 3;
    await assert.rejects(pushImage(target, ["v2"]), (e: Error) => {
      assert.match(e.message, /MANIFEST_BLOB_UNKNOWN/);
      return true;
    });
  } finally {
    await proxy.close();
    await reg.stop();
  }
});

Deno.test("retries: Retry-After is honoured; a persistent 5xx becomes NetworkError", async () => {
  const reg = await startRegistry();
  let unavailable = 1;
  let broken = false;
  const proxy = startProxy(reg.host, (request, url) => {
    if (!url.pathname.includes("/manifests/") || request.method === "PUT") {
      return Promise.resolve(undefined);
    }
    if (unavailable > 0) {
      unavailable--;
      return Promise.resolve(
        new Response("busy", { status: 503, headers: { "retry-after": "0" } }),
      );
    }
    return Promise.resolve(broken ? new Response("oops", { status: 500 }) : undefined);
  });
  try {
    const log: string[] = [];
    const target = targetOf(proxy.host, "t/app", { retries: 2, log: (line) => log.push(line) });
    const image = await pushImage(target, ["v1"]);
    assert.deepEqual(await target.resolve("v1"), image.descriptor);
    const url = `http://${proxy.host}/v2/t/app/manifests/v1`;
    assert.deepEqual(log.filter((line) => line.startsWith(`HEAD ${url}`)), [
      `HEAD ${url} -> 503`,
      `HEAD ${url}: retrying in 0s (Retry-After), retry 1 of 2`,
      `HEAD ${url} -> 200`,
    ]);

    broken = true;
    const failed = await target.resolve("v1").catch((e) => e);
    assert.ok(failed instanceof NetworkError, String(failed));
    assert.equal(exitCodeOf(failed), ExitCode.Network);
    assert.match(failed.message, /HEAD \S+ -> 500$/);
    assert.equal(log.filter((line) => line.endsWith("-> 500")).length, 3, "one try, two retries");
    // A GET's answer has a body, quoted in the error.
    await assert.rejects(target.fetchReference("v1"), /GET \S+ -> 500, BODY: oops$/);
  } finally {
    await proxy.close();
    await reg.stop();
  }
});

Deno.test("timeouts and connection failures are NetworkErrors", async () => {
  const { promise: released, resolve: release } = Promise.withResolvers<void>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const path = new URL(request.url).pathname;
    if (path.includes("/manifests/")) {
      await released; // no headers, ever
      return new Response("late");
    }
    // A blob whose body stalls after its first bytes.
    return new Response(
      new ReadableStream({
        async start(controller) {
          controller.enqueue(enc.encode("first bytes"));
          await released;
          controller.close();
        },
      }),
    );
  });
  try {
    const host = `127.0.0.1:${server.addr.port}`;
    const target = targetOf(host, "t/app", { retries: 0, timeout: 200, idleTimeout: 200 });
    await assert.rejects(target.resolve("v1"), (e: Error) => {
      assert.ok(e instanceof NetworkError, String(e));
      return /no response within 200 ms/.test(e.message);
    });
    const stream = await target.fetchBlob(blob(enc.encode("a blob of more bytes")));
    await assert.rejects(readAll(stream), (e: Error) => {
      assert.ok(e instanceof NetworkError, String(e));
      return /no data for 200 ms/.test(e.message);
    });
  } finally {
    release();
    await server.shutdown();
  }

  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const log: string[] = [];
  const target = targetOf(`127.0.0.1:${closedPort}`, "t/app", {
    retries: 1,
    log: (line) => log.push(line),
  });
  await assert.rejects(target.resolve("v1"), (e: Error) => {
    assert.ok(e instanceof NetworkError, String(e));
    // The first request names itself: there is no `GET /v2/` before it.
    return /^HEAD http:\/\/127\.0\.0\.1:\d+\/v2\/t\/app\/manifests\/v1: .*[Cc]onnection refused/
      .test(e.message);
  });
  assert.equal(log.filter((line) => line.startsWith("HEAD ") && line.includes("->")).length, 2);
});

Deno.test("https: registries other than localhost use TLS; caFile trusts a private certificate", async () => {
  // Still loopback, but not one of the three hosts that get plain HTTP by default.
  const address = "127.0.0.2";
  const dir = await Deno.makeTempDir({ prefix: "ocisync-tls-" });
  const reg = await startRegistry({ auth: "basic" });
  let proxy: FrontProxy | undefined;
  try {
    const tls = await selfSignedCertificate(dir, address);
    proxy = startProxy(reg.host, undefined, { hostname: address, tls });

    const log: string[] = [];
    const target = targetOf(proxy.host, "t/app", {
      ...credentialsOf(reg, {}, proxy.host),
      caFile: `${dir}/cert.pem`,
      log: (line) => log.push(line),
    });
    try {
      const image = await pushImage(target, ["v1"]);
      assert.deepEqual(await target.resolve("v1"), image.descriptor);
    } finally {
      target.close();
    }
    assert.ok(log.length > 0 && log.every((line) => line.includes(`https://${proxy!.host}/`)));

    const untrusted = targetOf(proxy.host, "t/app", { retries: 0 });
    await assert.rejects(untrusted.resolve("v1"), (e: Error) => {
      assert.ok(e instanceof NetworkError, String(e));
      return /UnknownIssuer/.test(e.message);
    });
    const unreadable = targetOf(proxy.host, "t/app", { caFile: `${dir}/missing.pem` });
    await assert.rejects(unreadable.resolve("v1"), (e: Error) => {
      assert.ok(e instanceof NotFoundError, String(e));
      assert.equal(e.message, `no such CA file: ${dir}/missing.pem`);
      return true;
    });
    const folder = targetOf(proxy.host, "t/app", { caFile: dir });
    await assert.rejects(folder.resolve("v1"), (e: Error) => {
      assert.ok(!(e instanceof NotFoundError), String(e));
      return e.message.startsWith(`cannot read the CA file ${dir}: `);
    });
  } finally {
    await proxy?.close();
    await reg.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("token auth: tokens are reused until expires_in, less a margin", async () => {
  // The client stops using a token 5 s before it expires, or a tenth of its life before when
  // that is shorter: this one lasts 1.8 s for it (with 5 s, it was stale at once, and every
  // request fetched a token of its own).
  const reg = await startRegistry({ auth: "token", tokenExpiresIn: 2 });
  try {
    const target = targetOf(reg.host, "t/app", credentialsOf(reg));
    await pushImage(target, ["v1"]);
    const pullTokens = () =>
      reg.tokenRequests!.filter((t) => t.scope.join() === "repository:t/app:pull").length;
    await target.resolve("v1");
    await target.resolve("v1");
    assert.equal(pullTokens(), 1);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    await target.resolve("v1");
    assert.equal(pullTokens(), 2);
  } finally {
    await reg.stop();
  }
});

Deno.test("credentials go to the registry's origin only, whatever its answers name", async (t) => {
  const reg = await startRegistry({ auth: "basic" });
  const other = catcher();
  // The registry, behind a proxy that points its pagination, its upload sessions and its blob
  // downloads to another host.
  const proxy = startProxy(reg.host, async (request, url) => {
    if (url.pathname.endsWith("/tags/list") && request.headers.has("authorization")) {
      const response = await proxy.forward(request);
      response.headers.set("link", `<${other.origin}/v2/t/app/tags/list?last=a>; rel="next"`);
      return response;
    }
    if (request.method === "POST" && url.pathname.endsWith("/blobs/uploads/")) {
      const response = await proxy.forward(request);
      if (response.status === 202) {
        response.headers.set("location", `${other.origin}/v2/t/app/blobs/uploads/session`);
      }
      return response;
    }
    if (request.method === "GET" && url.pathname.includes("/blobs/sha256:")) {
      if (!request.headers.has("authorization")) return undefined;
      return new Response(null, {
        status: 307,
        headers: { location: `${other.origin}/storage${url.pathname}` },
      });
    }
    return undefined;
  });
  const target = targetOf(proxy.host, "t/app", credentialsOf(reg, {}, proxy.host));
  try {
    const image = await pushImage(targetOf(reg.host, "t/app", credentialsOf(reg)), ["a", "b"]);

    await t.step("a Link to another host: fetched without credentials", async () => {
      await assert.rejects(Array.fromAsync(target.tags()), (e: Error) => {
        // The other host's refusal, named as such: the user's password was not refused.
        assert.match(e.message, /127\.0\.0\.2/);
        assert.doesNotMatch(e.message, /refused the credentials/);
        return true;
      });
    });
    await t.step("an upload Location on another host: sent there without credentials", async () => {
      const bytes = enc.encode("a blob for the other host");
      await assert.rejects(target.pushBlob(blob(bytes), ReadableStream.from([bytes])));
    });
    await t.step("a redirect to a host that asks for credentials: they are not given", async () => {
      await assert.rejects(target.fetchBlob(image.descriptor), (e: Error) => {
        assert.match(e.message, /127\.0\.0\.2/);
        assert.doesNotMatch(e.message, /refused the credentials/);
        return true;
      });
    });
    await t.step(
      "the registry's own challenge stays: its requests still authenticate",
      async () => {
        const seen = proxy.seen.length;
        assert.deepEqual(await target.resolve("a"), image.descriptor);
        assert.ok(proxy.seen.slice(seen).every((r) => r.authorization?.startsWith("Basic ")));
      },
    );
    assert.ok(other.caught.length >= 3, JSON.stringify(other.caught));
    assert.deepEqual(other.caught.filter((r) => r.authorization !== null), []);
    assert.deepEqual(other.caught.filter((r) => r.path.startsWith("/steal")), []);
  } finally {
    await target.close();
    await proxy.close();
    await other.close();
    await reg.stop();
  }
});

Deno.test("a token server's redirect to another host does not get an identity token", async () => {
  const other = catcher();
  const tokenServer = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(null, { status: 307, headers: { location: `${other.origin}/token` } }),
  );
  const realm = `http://127.0.0.1:${tokenServer.addr.port}/token`;
  const registry = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response("{}", {
        status: 401,
        headers: { "www-authenticate": `Bearer realm="${realm}",service="test"` },
      }),
  );
  const host = `127.0.0.1:${registry.addr.port}`;
  const target = targetOf(host, "t/app", {
    credentials: () => Promise.resolve({ identityToken: "refreshTOKEN123" }),
  });
  try {
    await assert.rejects(target.resolve("v1"), (e: Error) => {
      assert.ok(e instanceof AuthError, String(e));
      assert.match(
        e.message,
        /redirected to http:\/\/127\.0\.0\.2:\d+; its body holds credentials/,
      );
      return true;
    });
    assert.deepEqual(other.caught.filter((r) => r.body.includes("refreshTOKEN123")), []);
  } finally {
    await target.close();
    await registry.shutdown();
    await tokenServer.shutdown();
    await other.close();
  }
});

Deno.test("an HTTPS registry's plain-HTTP token server gets no credentials", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocisync-tls-" });
  const tokenRequests: (string | null)[] = [];
  const tokenServer = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    tokenRequests.push(request.headers.get("authorization"));
    return Response.json({ token: "anonymous" });
  });
  const realm = `http://127.0.0.1:${tokenServer.addr.port}/token`;
  const registry = Deno.serve({
    hostname: "127.0.0.2",
    port: 0,
    onListen() {},
    ...await selfSignedCertificate(dir, "127.0.0.2"),
  }, () =>
    new Response("{}", {
      status: 401,
      headers: { "www-authenticate": `Bearer realm="${realm}",service="test"` },
    }));
  const host = `127.0.0.2:${registry.addr.port}`;
  const target = targetOf(host, "t/app", {
    credentials: () => Promise.resolve({ username: "user", password: "s3cretPW" }),
    caFile: `${dir}/cert.pem`,
  });
  try {
    await assert.rejects(target.resolve("v1"), (e: Error) => {
      assert.ok(e instanceof AuthError, String(e));
      assert.match(e.message, /over plain HTTP, while 127\.0\.0\.2:\d+ is served over HTTPS/);
      return true;
    });
    assert.deepEqual(tokenRequests, []);
  } finally {
    await target.close();
    await registry.shutdown();
    await tokenServer.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an HTTPS registry cannot lead a request to plain HTTP: redirect, upload location, link", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocisync-tls-" });
  // What a network attacker would answer on the plain-HTTP leg.
  const forgedRequests: string[] = [];
  const forger = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    forgedRequests.push(request.url);
    return Response.json({ schemaVersion: 2, tags: ["forged"] });
  });
  const plain = `http://127.0.0.1:${forger.addr.port}`;
  const registry = Deno.serve({
    hostname: "127.0.0.2",
    port: 0,
    onListen() {},
    ...await selfSignedCertificate(dir, "127.0.0.2"),
  }, (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/v2/") return new Response("{}");
    if (pathname.includes("/manifests/")) {
      return new Response(null, { status: 307, headers: { location: `${plain}/manifest` } });
    }
    if (pathname.endsWith("/tags/list")) {
      return Response.json({ name: "t/app", tags: ["v1"] }, {
        headers: { link: `<${plain}/v2/t/app/tags/list?last=v1>; rel="next"` },
      });
    }
    if (request.method === "HEAD") return new Response(null, { status: 404 });
    return new Response(null, { status: 202, headers: { location: `${plain}/upload/1` } });
  });
  const target = targetOf(`127.0.0.2:${registry.addr.port}`, "t/app", {
    caFile: `${dir}/cert.pem`,
    retries: 0,
  });
  const downgrade = (by: RegExp) => (e: Error) => {
    assert.ok(e instanceof UnsafeContentError, String(e));
    assert.equal(exitCodeOf(e), ExitCode.UnsafeContent);
    assert.match(e.message, by);
    assert.match(e.message, /from https to plain http/);
    return true;
  };
  try {
    await assert.rejects(target.resolve("v1"), downgrade(/a redirect led there/));
    await assert.rejects(Array.fromAsync(target.tags()), downgrade(/a link from the registry/));
    const bytes = enc.encode("layer");
    await assert.rejects(
      target.pushBlob(blob(bytes), streamOf(bytes)),
      downgrade(/an upload location/),
    );
    assert.deepEqual(forgedRequests, [], "nothing was asked over plain HTTP");
  } finally {
    await target.close();
    await registry.shutdown();
    await forger.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a registry on this machine whose plain-HTTP token server is elsewhere gets no credentials, unless plain HTTP was chosen", async () => {
  // 127.0.0.2 is another host to ocisync: only localhost, 127.0.0.1 and [::1] are this machine.
  const tokenRequests: (string | null)[] = [];
  const tokenServer = Deno.serve({ hostname: "127.0.0.2", port: 0, onListen() {} }, (request) => {
    tokenRequests.push(request.headers.get("authorization"));
    return Response.json({ token: "granted" });
  });
  const realm = `http://127.0.0.2:${tokenServer.addr.port}/token`;
  const registry = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) =>
      request.headers.get("authorization") === "Bearer granted"
        ? new Response("{}", { headers: { "docker-content-digest": `sha256:${"a".repeat(64)}` } })
        : new Response("{}", {
          status: 401,
          headers: { "www-authenticate": `Bearer realm="${realm}",service="test"` },
        }),
  );
  const host = `127.0.0.1:${registry.addr.port}`;
  const credentials = () => Promise.resolve({ username: "user", password: "s3cretPW" });
  const tunnel = targetOf(host, "t/app", { credentials });
  const chosen = targetOf(host, "t/app", { credentials, plainHttp: true });
  try {
    await assert.rejects(tunnel.resolve("v1"), (e: Error) => {
      assert.ok(e instanceof AuthError, String(e));
      assert.match(e.message, /over plain HTTP, while 127\.0\.0\.1:\d+ is on this machine/);
      return true;
    });
    assert.deepEqual(tokenRequests, []);
    await chosen.resolve("v1").catch(() => {});
    assert.deepEqual(tokenRequests, [`Basic ${btoa("user:s3cretPW")}`], "sent when chosen");
  } finally {
    await tunnel.close();
    await chosen.close();
    await registry.shutdown();
    await tokenServer.shutdown();
  }
});

Deno.test("auth messages say what was sent: tokens a Basic registry cannot take, registry tokens", async () => {
  const reg = await startRegistry({ auth: "basic" });
  const seen: (string | null)[] = [];
  // A registry that asks for a Bearer token and takes only "regtok"; its realm is never asked.
  const bearer = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const authorization = request.headers.get("authorization");
    seen.push(authorization);
    if (authorization === "Bearer regtok") return new Response("{}", { status: 404 });
    return new Response("{}", {
      status: 401,
      headers: { "www-authenticate": `Bearer realm="http://127.0.0.1:9/token",service="x"` },
    });
  });
  const bearerHost = `127.0.0.1:${bearer.addr.port}`;
  try {
    const withToken = (credential: Credential, host: string) =>
      targetOf(host, "t/app", { credentials: () => Promise.resolve(credential) });
    await assert.rejects(
      withToken({ identityToken: "idtok" }, reg.host).resolve("v1"),
      /asks for a user name and password, and the credentials found for it hold an identity token only, which was not sent/,
    );
    await assert.rejects(
      withToken({ registryToken: "regtok" }, reg.host).resolve("v1"),
      /hold a registry token only, which was not sent/,
    );
    // The registry token goes as the bearer token itself; the token server is not asked.
    await assert.rejects(
      withToken({ registryToken: "regtok" }, bearerHost).resolve("v1"),
      NotFoundError,
    );
    assert.equal(seen.at(-1), "Bearer regtok");
    await assert.rejects(
      withToken({ registryToken: "expired" }, bearerHost).resolve("v1"),
      /refused the registry token/,
    );
  } finally {
    await bearer.shutdown();
    await reg.stop();
  }
});
