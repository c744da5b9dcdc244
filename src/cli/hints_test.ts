import assert from "node:assert/strict";
import {
  NotFoundError,
  RegistryError,
  registryError,
  type RegistryErrorDetails,
} from "../errors/mod.ts";
import { withHint } from "./hints.ts";

/** A registry error as `responseError` makes it; its message says nothing the hints read. */
function failure(details: Partial<RegistryErrorDetails> & { status: number }): RegistryError {
  return registryError("the message is not read", {
    codes: [],
    messages: [],
    method: "GET",
    url: "http://127.0.0.1:1/v2/",
    ...details,
  });
}

const args = (...positionals: string[]) => ({ options: {}, positionals });

Deno.test("withHint: NAME_UNKNOWN about a repository in the arguments says it does not exist", async () => {
  const error = failure({
    status: 404,
    codes: ["NAME_UNKNOWN"],
    url: "http://127.0.0.1:1/v2/acme/nope/tags/list",
    registry: "127.0.0.1:1",
    repository: "acme/nope",
  });
  const hinted = await withHint(error, args("127.0.0.1:1/acme/nope:v1"));
  assert.ok(hinted instanceof RegistryError && hinted instanceof NotFoundError);
  assert.equal(
    hinted.hint,
    "the repository 127.0.0.1:1/acme/nope does not exist: check its name, or push to it first",
  );
  assert.deepEqual([hinted.status, hinted.codes, hinted.repository], [
    404,
    ["NAME_UNKNOWN"],
    "acme/nope",
  ]);
  assert.equal(hinted.cause, error);
  // Another repository, or another registry, in the arguments: no hint.
  assert.equal(await withHint(error, args("127.0.0.1:1/acme/other")), error);
  assert.equal(await withHint(error, args("127.0.0.2:1/acme/nope")), error);
  // The message alone is never read: a plain NotFoundError that quotes the code gets nothing.
  const plain = new NotFoundError(
    "GET http://127.0.0.1:1/v2/acme/nope/tags/list -> 404, NAME_UNKNOWN",
  );
  assert.equal(await withHint(plain, args("127.0.0.1:1/acme/nope")), plain);
});

Deno.test("withHint: MANIFEST_UNKNOWN for the tag of the reference lists the repository's tags", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/v2/") return new Response("{}");
    if (path === "/v2/acme/app/tags/list") {
      return Response.json({ name: "acme/app", tags: ["v1", "v2"] });
    }
    return new Response("", { status: 404 });
  });
  try {
    const host = `127.0.0.1:${server.addr.port}`;
    const manifest = (tag: string) =>
      failure({
        status: 404,
        codes: ["MANIFEST_UNKNOWN"],
        url: `http://${host}/v2/acme/app/manifests/${tag}`,
        registry: host,
        repository: "acme/app",
      });
    const hinted = await withHint(manifest("v9"), args(`${host}/acme/app:v9`));
    assert.ok(hinted instanceof RegistryError);
    assert.equal(hinted.hint, `${host}/acme/app has the tags v1, v2`);
    // No tag in the reference means latest.
    const latest = await withHint(manifest("latest"), args(`${host}/acme/app`));
    assert.equal((latest as RegistryError).hint, `${host}/acme/app has the tags v1, v2`);
    // A manifest of another tag (a base image's, say) is not the reference's.
    const other = manifest("v10");
    assert.equal(await withHint(other, args(`${host}/acme/app:v1`)), other);
  } finally {
    await server.shutdown();
  }
});

Deno.test("withHint: a 401 or 403 without a hint says how to give credentials", async () => {
  for (const status of [401, 403]) {
    const hinted = await withHint(
      failure({ status, registry: "ghcr.io", url: "https://ghcr.io/v2/" }),
      args(),
    );
    assert.ok(hinted instanceof RegistryError);
    assert.equal(hinted.kind, "auth");
    assert.equal(hinted.hint, "run `ocisync login ghcr.io`, or pass --credentials");
  }
  // The library's own finding (refused credentials, say) keeps its hint.
  const refused = registryError("ghcr.io refused the credentials of user u", {
    status: 401,
    codes: [],
    messages: [],
    method: "GET",
    url: "https://ghcr.io/v2/",
    registry: "ghcr.io",
    hint: "check the password or token of user u",
  });
  assert.equal(await withHint(refused, args()), refused);
});
