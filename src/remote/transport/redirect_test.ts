import assert from "node:assert/strict";
import { NetworkError, UnsafeContentError } from "../../errors/mod.ts";
import { redirects } from "./redirect.ts";
import { BLOB, request, response, scriptedFetch, text } from "./fakes_test.ts";

const to = (status: number, location: string) => response(status, { headers: { location } });

Deno.test("redirects: Authorization goes along on the same origin", async () => {
  const fake = scriptedFetch(to(307, "/v2/app/blobs/elsewhere"), response(200, { body: "ok" }));
  const answer = await redirects(fake.fetch)(
    request("GET", BLOB, { headers: { authorization: "Bearer abc", accept: "*/*" } }),
  );
  assert.equal(await text(answer.body), "ok");
  assert.equal(answer.url.href, "https://r.example/v2/app/blobs/elsewhere");
  assert.deepEqual(
    fake.requests.map((r) => [r.url.href, r.headers.get("authorization"), r.headers.get("accept")]),
    [
      [BLOB, "Bearer abc", "*/*"],
      ["https://r.example/v2/app/blobs/elsewhere", "Bearer abc", "*/*"],
    ],
  );
});

Deno.test("redirects: Authorization never goes to another origin, nor to another port or scheme", async () => {
  for (
    const storage of [
      "https://s3.example/b?sig=1",
      "https://r.example:8443/b",
    ]
  ) {
    const fake = scriptedFetch(to(307, storage), response(200));
    const answer = await redirects(fake.fetch)(
      request("GET", BLOB, { headers: { authorization: "Bearer abc", accept: "*/*" } }),
    );
    assert.equal(answer.status, 200);
    assert.equal(answer.url.href, storage, "the response answers the last hop");
    assert.equal(fake.requests[1].headers.get("authorization"), null, storage);
    assert.equal(fake.requests[1].headers.get("accept"), "*/*", "other headers go along");
  }
});

Deno.test("redirects: Authorization is not carried from http to https on the same host", async () => {
  const fake = scriptedFetch(to(307, "https://r.example/b"), response(200));
  await redirects(fake.fetch)(
    request("GET", "http://r.example/v2/app/blobs/sha256:1", {
      headers: { authorization: "Bearer abc" },
    }),
  );
  assert.equal(fake.requests[1].headers.get("authorization"), null);
});

Deno.test("redirects: a request made over https is never led to plain http, at any hop", async () => {
  for (
    const script of [
      [to(302, "http://r.example/v2/app/manifests/v1")],
      [to(302, "https://cdn.example/x"), to(302, "http://cdn.example/y")],
    ]
  ) {
    const fake = scriptedFetch(...script, response(200, { body: "forged" }));
    await assert.rejects(
      redirects(fake.fetch)(request("GET", BLOB)),
      (error: Error) =>
        error instanceof UnsafeContentError && /from https to plain http/.test(error.message),
    );
    assert.equal(fake.requests.length, script.length, "nothing was asked over plain http");
  }
});

Deno.test("redirects: back on the first origin, Authorization is sent again; without it, nothing changes", async () => {
  const fake = scriptedFetch(
    to(302, "https://cdn.example/x"),
    to(302, "https://r.example/v2/app/blobs/y"),
    response(200),
  );
  await redirects(fake.fetch)(request("GET", BLOB, { headers: { authorization: "Basic dTpw" } }));
  assert.deepEqual(fake.requests.map((r) => r.headers.get("authorization")), [
    "Basic dTpw",
    null,
    "Basic dTpw",
  ]);

  const anonymous = scriptedFetch(to(307, "https://s3.example/b"), response(200));
  await redirects(anonymous.fetch)(request("GET", BLOB));
  assert.equal(anonymous.requests[1].headers.has("authorization"), false);
});

Deno.test("redirects: 303, and 301 or 302 after a POST, become a GET without a body; 307 and 308 keep both", async () => {
  const cases: [number, string, string, boolean][] = [
    [303, "POST", "GET", false],
    [303, "PUT", "GET", false],
    [303, "HEAD", "HEAD", true], // a HEAD stays as it was
    [301, "POST", "GET", false],
    [302, "POST", "GET", false],
    [302, "PUT", "PUT", true],
    [307, "POST", "POST", true],
    [308, "PUT", "PUT", true],
  ];
  for (const [status, method, then, keepsBody] of cases) {
    const fake = scriptedFetch(to(status, "/next"), response(201));
    const answer = await redirects(fake.fetch)(request(method, BLOB, { body: "data" }));
    const second = fake.requests[1];
    assert.equal(second.method, then, `${status} after ${method}`);
    assert.equal(second.body !== undefined, keepsBody, `${status} after ${method}: body`);
    assert.equal(answer.method, then, "the response names the method of the last hop");
  }
});

Deno.test("redirects: each redirect's body is freed; a 3xx without Location is an answer", async () => {
  let cancelled = false;
  const fake = scriptedFetch(
    { ...to(307, "/next"), body: new ReadableStream({ cancel: () => void (cancelled = true) }) },
    response(304),
  );
  const answer = await redirects(fake.fetch)(request("GET", BLOB));
  assert.equal(cancelled, true);
  assert.equal(answer.status, 304);
  assert.equal(fake.requests.length, 2);
});

Deno.test("redirects: more than 10 is a NetworkError that names the first request, redacted", async () => {
  const fake = scriptedFetch(to(302, "/loop?token=secret"));
  await assert.rejects(
    redirects(fake.fetch)(request("GET", `${BLOB}?_state=secret`)),
    (error) =>
      error instanceof NetworkError &&
      error.message === `GET ${BLOB}?_state=***: more than 10 redirects`,
  );
  assert.equal(fake.requests.length, 11);
});
