/**
 * Issue 18, "no `GET /v2/` ping": what each command costs, counted in the real registry's access
 * log and the test token server's. The first request to a registry goes as it is; a 401 names
 * the challenge, which is answered once and kept for the requests that follow. The CLI runs as
 * users run it, a fresh process each time, so its token cache starts empty.
 */
import assert from "node:assert/strict";
import { sha256Digest } from "../src/digest/mod.ts";
import { MediaType } from "../src/oci/mediatypes.ts";
import { parseRegistryReference } from "../src/ref/mod.ts";
import { RegistryClient, type RegistryOptions, RegistryTarget } from "../src/remote/mod.ts";
import { costOf, sentDuring } from "./helpers/cost.ts";
import { type AuthMode, withRegistry } from "./helpers/registry.ts";
import { writeTree } from "./helpers/tree.ts";

const TREE = {
  "flows": { type: "dir" as const },
  "flows/hello.py": { type: "file" as const, content: "print('hello')\n" },
};

const HEAD_V1 = "HEAD /v2/t/app/manifests/v1";
const GET_V1 = "GET /v2/t/app/manifests/v1";

/**
 * The first request of a fresh process, by auth mode: anonymous, it is answered; otherwise it
 * is refused once, with the challenge, and sent again with credentials or a token.
 */
function freshProcess(auth: AuthMode, request: string, status = 200): string[] {
  return auth === "anonymous"
    ? [`${request} ${status}`]
    : [`${request} 401`, `${request} ${status}`];
}

for (const auth of ["anonymous", "basic", "token"] as const) {
  Deno.test(`${auth}: the cost of push (no ping), of an unchanged sync --once, of inspect (-q) and of pull`, async () => {
    await withRegistry({ auth }, async (registry, tmp) => {
      await writeTree(`${tmp}/src`, TREE);
      const ref = `${registry.host}/t/app:v1`;

      const push = await costOf(registry, tmp, ["push", ref, `${tmp}/src:/opt/flows`]);
      // With credentials, the push checks them before packing (see auth_errors_test.ts): Basic
      // costs a GET /v2/ that learns the challenge and one with the credentials; token auth,
      // the GET /v2/ and one token, which every later request of the push carries.
      const checked = {
        anonymous: [],
        basic: ["GET /v2/ 401", "GET /v2/ 200"],
        token: ["GET /v2/ 401"],
      }[auth];
      assert.deepEqual(push.requests.slice(0, checked.length), checked);
      const rest = push.requests.slice(checked.length);
      assert.ok(rest.length > 0 && rest.every((r) => r.includes(" /v2/t/app/")), rest.join("\n"));
      assert.ok(!rest.some((r) => r.endsWith(" 401")), `no request was refused:\n${rest}`);
      assert.deepEqual(push.tokens, auth === "token" ? ["repository:t/app:pull,push"] : []);

      const sync = ["sync", ref, "-o", `${tmp}/live`, "--once", "--state", `${tmp}/state.json`];
      await costOf(registry, tmp, sync);
      const unchanged = await costOf(registry, tmp, sync);
      assert.deepEqual(unchanged.requests, freshProcess(auth, HEAD_V1));
      assert.deepEqual(unchanged.tokens, auth === "token" ? ["repository:t/app:pull"] : []);

      const inspect = await costOf(registry, tmp, ["inspect", ref, "-q"]);
      assert.deepEqual(inspect.requests, freshProcess(auth, HEAD_V1));
      assert.deepEqual(inspect.tokens, auth === "token" ? ["repository:t/app:pull"] : []);

      // A whole manifest is read in the GET that resolves its tag: no HEAD, no GET by digest.
      const manifest = freshProcess(auth, GET_V1);
      const blob = /^GET \/v2\/t\/app\/blobs\/sha256:[0-9a-f]{64} 200$/;
      const shown = await costOf(registry, tmp, ["inspect", ref]);
      assert.deepEqual(shown.requests.slice(0, manifest.length), manifest, String(shown.requests));
      assert.equal(shown.requests.length, manifest.length + 1, String(shown.requests));
      assert.match(shown.requests.at(-1)!, blob); // the config
      const pull = await costOf(registry, tmp, ["pull", ref, "-o", `${tmp}/pulled`]);
      assert.deepEqual(pull.requests.slice(0, manifest.length), manifest, String(pull.requests));
      const blobs = pull.requests.slice(manifest.length);
      assert.ok(blobs.length > 0 && blobs.every((r) => blob.test(r)), String(pull.requests));
    });
  });
}

for (const auth of ["anonymous", "token"] as const) {
  Deno.test(`${auth}: a copy within a registry reads the source manifest once, mounts, and PUTs once`, async () => {
    await withRegistry({ auth }, async (registry, tmp) => {
      await writeTree(`${tmp}/src`, TREE);
      const source = `${registry.host}/t/app:v1`;
      await costOf(registry, tmp, ["push", source, `${tmp}/src:/opt/flows`]);
      const copy = await costOf(registry, tmp, ["copy", source, `${registry.host}/t/copy:v1`]);
      const requests = auth === "token" ? copy.requests.slice(1) : copy.requests;
      if (auth === "token") assert.equal(copy.requests[0], "GET /v2/t/app/manifests/v1 401");
      // One GET by tag resolves the source and reads its manifest: no HEAD, no GET by digest.
      assert.equal(requests[0], "GET /v2/t/app/manifests/v1 200", copy.requests.join("\n"));
      const mounts = requests.slice(1, -1);
      assert.equal(mounts.length, 2, copy.requests.join("\n")); // the config and the layer
      for (const mount of mounts) {
        assert.match(
          mount,
          /^POST \/v2\/t\/copy\/blobs\/uploads\/\?mount=sha256%3A[0-9a-f]{64}&from=t%2Fapp 201$/,
        );
      }
      assert.equal(requests.at(-1), "PUT /v2/t/copy/manifests/v1 201");
    });
  });
}

Deno.test("login costs what checking the password must: Basic two GET /v2/, token one and a token", async () => {
  for (const auth of ["basic", "token"] as const) {
    await withRegistry({ auth }, async (registry, tmp) => {
      const login = await costOf(registry, tmp, ["login", registry.host]);
      assert.deepEqual(
        login.requests,
        auth === "basic" ? ["GET /v2/ 401", "GET /v2/ 200"] : ["GET /v2/ 401"],
      );
      assert.deepEqual(login.tokens, auth === "token" ? [""] : []);
    });
  }
});

Deno.test("a body above 64 KiB is never sent before the challenge is known", async () => {
  await withRegistry({ auth: "basic" }, async (registry) => {
    const credentials: RegistryOptions["credentials"] = () =>
      Promise.resolve({ username: registry.username, password: registry.password });
    const url = (client: RegistryClient, path: string) => client.url(registry.host, path);
    // An upload session, started by another client.
    const starter = new RegistryClient({ credentials });
    const started = await starter.request(registry.host, [], {
      method: "POST",
      url: url(starter, "/v2/t/big/blobs/uploads/"),
    });
    await started.body?.cancel();
    assert.equal(started.status, 202);
    const location = new URL(started.headers.get("location")!, url(starter, "/"));

    const bytes = new Uint8Array(65 * 1024).fill(7);
    location.searchParams.set("digest", sha256Digest(bytes));
    const client = new RegistryClient({ credentials });
    const sent = await sentDuring(registry, async () => {
      const response = await client.request(registry.host, [], {
        method: "PUT",
        url: location,
        headers: { "content-type": "application/octet-stream" },
        body: bytes,
      });
      await response.body?.cancel();
      assert.equal(response.status, 201);
    });
    assert.equal(sent.requests.length, 2, sent.requests.join("\n"));
    assert.equal(sent.requests[0], "GET /v2/ 401", "the challenge first, with no body");
    assert.match(sent.requests[1], /^PUT \/v2\/t\/big\/blobs\/uploads\/.* 201$/, "the body once");
  });
});

Deno.test("concurrent first requests wait for the first one's 401: one refusal, one token", async () => {
  await withRegistry({ auth: "token" }, async (registry) => {
    const target = new RegistryTarget(parseRegistryReference(`${registry.host}/t/app`), {
      credentials: () =>
        Promise.resolve({ username: registry.username, password: registry.password }),
    });
    const blobs = [1, 2, 3, 4].map((n) => new TextEncoder().encode(`blob ${n}`));
    const sent = await sentDuring(registry, async () => {
      const found = await Promise.all(
        blobs.map((bytes) =>
          target.hasBlob({ mediaType: MediaType.OciLayer, digest: sha256Digest(bytes), size: 6 })
        ),
      );
      assert.deepEqual(found, [false, false, false, false]);
    });
    target.close();
    assert.equal(
      sent.requests.filter((r) => r.endsWith(" 401")).length,
      1,
      sent.requests.join("\n"),
    );
    assert.equal(
      sent.requests.filter((r) => r.endsWith(" 404")).length,
      4,
      sent.requests.join("\n"),
    );
    assert.deepEqual(sent.tokens, ["repository:t/app:pull"]);
  });
});
