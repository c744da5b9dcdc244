/**
 * Tests of the registry harness itself (tests/helpers/registry.ts), against the
 * real Distribution registry, with plain `fetch` and skopeo as an independent peer.
 */
import assert from "node:assert/strict";
import { parseScope, startRegistry, type TestRegistry } from "./helpers/registry.ts";
import { requireTool } from "./helpers/tools.ts";
import { sha256Digest } from "./helpers/hash.ts";

const EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json";
const MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json";
const enc = new TextEncoder();

function basicAuth(reg: TestRegistry, password = reg.password): string {
  return `Basic ${btoa(`${reg.username}:${password}`)}`;
}

/** fetch that always consumes the body, returning it as text. */
async function http(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(url, { redirect: "manual", ...init });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** Monolithic upload: POST /blobs/uploads/ then PUT ?digest=. Returns the digest. */
async function uploadBlob(
  reg: TestRegistry,
  repo: string,
  data: Uint8Array<ArrayBuffer>,
  authorization?: string,
): Promise<string> {
  const digest = sha256Digest(data);
  const headers: Record<string, string> = authorization ? { authorization } : {};
  const post = await http(`http://${reg.host}/v2/${repo}/blobs/uploads/`, {
    method: "POST",
    headers,
  });
  assert.equal(post.status, 202, post.text);
  const location = new URL(post.headers.get("location")!, `http://${reg.host}`);
  location.searchParams.set("digest", digest);
  const put = await http(location.href, {
    method: "PUT",
    headers: { ...headers, "content-type": "application/octet-stream" },
    body: data,
  });
  assert.equal(put.status, 201, put.text);
  assert.equal(put.headers.get("docker-content-digest"), digest);
  return digest;
}

/** A tiny OCI manifest whose config is the empty descriptor `{}` and no layers. */
function emptyManifest(): { body: Uint8Array<ArrayBuffer>; digest: string } {
  const config = enc.encode("{}");
  const manifest = {
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPE,
    config: { mediaType: EMPTY_MEDIA_TYPE, digest: sha256Digest(config), size: config.length },
    layers: [{ mediaType: EMPTY_MEDIA_TYPE, digest: sha256Digest(config), size: config.length }],
  };
  const body = enc.encode(JSON.stringify(manifest));
  return { body, digest: sha256Digest(body) };
}

/** Parses `Bearer realm="…",service="…",scope="…"`. */
function parseChallenge(header: string | null): Record<string, string> {
  assert.ok(header, "missing WWW-Authenticate");
  const m = header.match(/^Bearer\s+(.*)$/i);
  assert.ok(m, `not a Bearer challenge: ${header}`);
  const params: Record<string, string> = {};
  for (const p of m[1].matchAll(/(\w+)="([^"]*)"/g)) params[p[1]] = p[2];
  return params;
}

async function getToken(
  reg: TestRegistry,
  scopes: string[],
  authorization?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const url = new URL(reg.tokenRealm!);
  url.searchParams.set("service", reg.tokenService!);
  for (const s of scopes) url.searchParams.append("scope", s);
  const res = await http(url.href, { headers: authorization ? { authorization } : {} });
  return { status: res.status, body: res.text ? JSON.parse(res.text) : {} };
}

function jwtClaims(token: string): Record<string, unknown> {
  const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(part));
}

Deno.test("requireTool: present and missing tools", () => {
  requireTool("sh", "dash");
  assert.throws(
    () => requireTool("ocisync-no-such-tool-xyz", "ocisync-pkg"),
    { message: /^ocisync-no-such-tool-xyz is not installed: run `apt-get install -y ocisync-pkg`/ },
  );
});

Deno.test("parseScope splits on the first and last colon", () => {
  assert.deepEqual(parseScope("repository:a/b/c:pull,push"), {
    type: "repository",
    name: "a/b/c",
    actions: ["pull", "push"],
  });
  assert.deepEqual(parseScope("repository:weird:name:*"), {
    type: "repository",
    name: "weird:name",
    actions: ["*"],
  });
  assert.deepEqual(parseScope("registry:catalog:*"), {
    type: "registry",
    name: "catalog",
    actions: ["*"],
  });
  assert.equal(parseScope("nonsense"), undefined);
  assert.equal(parseScope("repository:x"), undefined);
});

Deno.test("anonymous registry: ping, blob upload, HEAD, request log", async () => {
  const reg = await startRegistry();
  try {
    assert.match(reg.host, /^127\.0\.0\.1:\d+$/);
    assert.equal(reg.tokenRealm, undefined);
    assert.deepEqual(await reg.requests(), [], "readiness probes are not counted");

    const ping = await http(`http://${reg.host}/v2/`);
    assert.equal(ping.status, 200);
    assert.equal(ping.headers.get("docker-distribution-api-version"), "registry/2.0");

    const data = enc.encode("hello ocisync\n");
    const digest = await uploadBlob(reg, "t", data);
    const head = await http(`http://${reg.host}/v2/t/blobs/${digest}`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), String(data.length));
    const missing = await http(`http://${reg.host}/v2/t/blobs/sha256:${"0".repeat(64)}`, {
      method: "HEAD",
    });
    assert.equal(missing.status, 404);

    const reqs = await reg.requests();
    assert.deepEqual(
      reqs.map((r) => [r.method, r.status]),
      [["GET", 200], ["POST", 202], ["PUT", 201], ["HEAD", 200], ["HEAD", 404]],
    );
    assert.equal(reqs[0].path, "/v2/");
    assert.equal(reqs[1].path, "/v2/t/blobs/uploads/");
    assert.ok(reqs[2].path.includes(`digest=${encodeURIComponent(digest)}`), reqs[2].path);
    assert.equal(reqs[3].path, `/v2/t/blobs/${digest}`);

    // the blob is really in the storage directory
    const hex = digest.slice("sha256:".length);
    const stat = await Deno.stat(
      `${reg.root}/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`,
    );
    assert.equal(stat.size, data.length);
  } finally {
    await reg.stop();
  }
});

Deno.test("pause/resume and restart keep port and storage", async () => {
  const reg = await startRegistry();
  try {
    const digest = await uploadBlob(reg, "t", enc.encode("survives restarts"));
    await reg.pause();
    await assert.rejects(fetch(`http://${reg.host}/v2/`), "registry is down while paused");
    await reg.resume();
    assert.equal(
      (await http(`http://${reg.host}/v2/t/blobs/${digest}`, { method: "HEAD" })).status,
      200,
    );
    await reg.restart();
    assert.equal(
      (await http(`http://${reg.host}/v2/t/blobs/${digest}`, { method: "HEAD" })).status,
      200,
    );
    // the request log survives restarts too
    assert.deepEqual((await reg.requests()).map((r) => r.method), ["POST", "PUT", "HEAD", "HEAD"]);
  } finally {
    await reg.stop();
  }
  // stop() is idempotent and removed the storage
  await reg.stop();
  await assert.rejects(Deno.stat(reg.root), Deno.errors.NotFound);
});

Deno.test("basic auth registry: 401 without credentials, 200 with", async () => {
  const reg = await startRegistry({ auth: "basic", username: "alice" });
  try {
    assert.equal(reg.username, "alice");
    assert.ok(reg.password.length >= 16);
    const anon = await http(`http://${reg.host}/v2/`);
    assert.equal(anon.status, 401);
    assert.match(anon.headers.get("www-authenticate") ?? "", /^Basic realm=/);
    const wrong = await http(`http://${reg.host}/v2/`, {
      headers: { authorization: basicAuth(reg, "wrong") },
    });
    assert.equal(wrong.status, 401);
    const ok = await http(`http://${reg.host}/v2/`, {
      headers: { authorization: basicAuth(reg) },
    });
    assert.equal(ok.status, 200);
    const digest = await uploadBlob(reg, "t/x", enc.encode("basic"), basicAuth(reg));
    assert.match(digest, /^sha256:/);
    // 401s are counted too (they only appear in the access log, not in the JSON log)
    assert.deepEqual(
      (await reg.requests()).map((r) => r.status),
      [401, 401, 200, 202, 201],
    );
  } finally {
    await reg.stop();
  }
});

Deno.test("token auth registry: challenge, token, push, anonymous denied, skopeo", async () => {
  requireTool("skopeo", "skopeo");
  const reg = await startRegistry({ auth: "token", password: "s3cret:with:colons" });
  try {
    assert.ok(reg.tokenRealm?.startsWith("http://127.0.0.1:"));
    const ping = await http(`http://${reg.host}/v2/`);
    assert.equal(ping.status, 401);
    const challenge = parseChallenge(ping.headers.get("www-authenticate"));
    assert.equal(challenge.realm, reg.tokenRealm);
    assert.equal(challenge.service, "test-registry");

    // wrong credentials are refused by the token server
    const bad = await getToken(reg, ["repository:t/x:pull"], basicAuth(reg, "nope"));
    assert.equal(bad.status, 401);

    // an authenticated token grants what was asked
    const scope = "repository:t/x:pull,push";
    const tok = await getToken(reg, [scope], basicAuth(reg));
    assert.equal(tok.status, 200);
    assert.equal(typeof tok.body.token, "string");
    assert.equal(tok.body.access_token, tok.body.token);
    assert.equal(tok.body.expires_in, 300);
    assert.equal(typeof tok.body.issued_at, "string");
    const claims = jwtClaims(tok.body.token as string);
    assert.equal(claims.aud, "test-registry");
    assert.equal(claims.iss, "ocisync-test");
    assert.equal(claims.sub, reg.username);
    assert.deepEqual(claims.access, [{
      type: "repository",
      name: "t/x",
      actions: ["pull", "push"],
    }]);
    const bearer = `Bearer ${tok.body.token}`;

    const ping2 = await http(`http://${reg.host}/v2/`, { headers: { authorization: bearer } });
    assert.equal(ping2.status, 200);
    // the registry really verifies the signature: a tampered token is refused
    const [h, p, sig] = (tok.body.token as string).split(".");
    const forged = `${h}.${p}.${sig.startsWith("A") ? "B" : "A"}${sig.slice(1)}`;
    const ping3 = await http(`http://${reg.host}/v2/`, {
      headers: { authorization: `Bearer ${forged}` },
    });
    assert.equal(ping3.status, 401);

    // push: config blob {} and a manifest with a tag
    const configDigest = await uploadBlob(reg, "t/x", enc.encode("{}"), bearer);
    assert.equal(
      configDigest,
      "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    );
    const manifest = emptyManifest();
    const put = await http(`http://${reg.host}/v2/t/x/manifests/tag1`, {
      method: "PUT",
      headers: { authorization: bearer, "content-type": MANIFEST_MEDIA_TYPE },
      body: manifest.body,
    });
    assert.equal(put.status, 201, put.text);
    assert.equal(put.headers.get("docker-content-digest"), manifest.digest);

    // the token does not cover another repository
    const other = await http(`http://${reg.host}/v2/t/other/blobs/uploads/`, {
      method: "POST",
      headers: { authorization: bearer },
    });
    assert.equal(other.status, 401);
    assert.equal(parseChallenge(other.headers.get("www-authenticate")).error, "insufficient_scope");

    // an anonymous token has an empty access list: no push, no pull
    const anon = await getToken(reg, [scope]);
    assert.equal(anon.status, 200);
    assert.deepEqual(jwtClaims(anon.body.token as string).access, []);
    const anonBearer = `Bearer ${anon.body.token}`;
    const anonPush = await http(`http://${reg.host}/v2/t/x/blobs/uploads/`, {
      method: "POST",
      headers: { authorization: anonBearer },
    });
    assert.ok([401, 403].includes(anonPush.status), `anonymous push got ${anonPush.status}`);
    const anonPull = await http(`http://${reg.host}/v2/t/x/manifests/tag1`, {
      headers: { authorization: anonBearer, accept: MANIFEST_MEDIA_TYPE },
    });
    assert.equal(anonPull.status, 401);

    // OAuth2 password grant with a refresh token, then the refresh_token grant
    const form = (params: Record<string, string>) =>
      http(reg.tokenRealm!, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(params),
      });
    const pw = await form({
      grant_type: "password",
      username: reg.username,
      password: reg.password,
      service: "test-registry",
      scope: "repository:t/x:pull",
      client_id: "ocisync-test",
      access_type: "offline",
    });
    assert.equal(pw.status, 200, pw.text);
    const pwBody = JSON.parse(pw.text);
    assert.equal(typeof pwBody.refresh_token, "string");
    const refreshed = await form({
      grant_type: "refresh_token",
      refresh_token: pwBody.refresh_token,
      service: "test-registry",
      scope: "repository:t/x:pull",
      client_id: "ocisync-test",
    });
    assert.equal(refreshed.status, 200, refreshed.text);
    const pull = await http(`http://${reg.host}/v2/t/x/manifests/tag1`, {
      headers: {
        authorization: `Bearer ${JSON.parse(refreshed.text).access_token}`,
        accept: MANIFEST_MEDIA_TYPE,
      },
    });
    assert.equal(pull.status, 200);
    assert.equal(pull.text, new TextDecoder().decode(manifest.body));
    const badRefresh = await form({ grant_type: "refresh_token", refresh_token: "forged" });
    assert.equal(badRefresh.status, 401);
    const badPassword = await form({ grant_type: "password", username: "x", password: "y" });
    assert.equal(badPassword.status, 401);

    assert.deepEqual(
      reg.tokenRequests!.map((r) => [r.method, r.grantType, r.account, r.status]),
      [
        ["GET", undefined, undefined, 401],
        ["GET", undefined, reg.username, 200],
        ["GET", undefined, undefined, 200],
        ["POST", "password", reg.username, 200],
        ["POST", "refresh_token", reg.username, 200],
        ["POST", "refresh_token", undefined, 401],
        ["POST", "password", undefined, 401],
      ],
    );
    assert.deepEqual(reg.tokenRequests![1].scope, [scope]);

    // skopeo, an independent client, logs in through our token server and reads the tag
    const before = reg.tokenRequests!.length;
    const out = await new Deno.Command("skopeo", {
      args: [
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        `${reg.username}:${reg.password}`,
        `docker://${reg.host}/t/x:tag1`,
      ],
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.ok(out.success, `skopeo failed: ${stderr}`);
    assert.deepEqual(
      JSON.parse(new TextDecoder().decode(out.stdout)),
      JSON.parse(new TextDecoder().decode(manifest.body)),
    );
    const skopeoTokens = reg.tokenRequests!.slice(before);
    assert.ok(skopeoTokens.length >= 1);
    assert.ok(skopeoTokens.every((r) => r.account === reg.username && r.status === 200));
    assert.ok(skopeoTokens.some((r) => r.scope.includes("repository:t/x:pull")));

    // the registry saw the skopeo requests too
    const reqs = await reg.requests();
    assert.ok(
      reqs.some((r) =>
        r.method === "GET" && r.path === "/v2/t/x/manifests/tag1" && r.status === 200 &&
        r.userAgent?.includes("skopeo")
      ),
      JSON.stringify(reqs),
    );
  } finally {
    await reg.stop();
  }
});

Deno.test("token auth registry with anonymousPull: anonymous can pull, not push", async () => {
  const reg = await startRegistry({ auth: "token", anonymousPull: true });
  try {
    const bearer = `Bearer ${
      (await getToken(reg, ["repository:t/x:pull,push"], basicAuth(reg))).body.token
    }`;
    const digest = await uploadBlob(reg, "t/x", enc.encode("public"), bearer);

    const anon = await getToken(reg, ["repository:t/x:pull,push"]);
    assert.deepEqual(jwtClaims(anon.body.token as string).access, [
      { type: "repository", name: "t/x", actions: ["pull"] },
    ]);
    const anonBearer = `Bearer ${anon.body.token}`;
    const pull = await http(`http://${reg.host}/v2/t/x/blobs/${digest}`, {
      headers: { authorization: anonBearer },
    });
    assert.equal(pull.status, 200);
    assert.equal(pull.text, "public");
    const push = await http(`http://${reg.host}/v2/t/x/blobs/uploads/`, {
      method: "POST",
      headers: { authorization: anonBearer },
    });
    assert.ok([401, 403].includes(push.status), `anonymous push got ${push.status}`);
  } finally {
    await reg.stop();
  }
});
