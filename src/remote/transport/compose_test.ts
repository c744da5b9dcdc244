/** The layers as `../transport.ts` composes them, over a fake network and a fake clock. */
import assert from "node:assert/strict";
import { NetworkError } from "../../errors/mod.ts";
import { fetchRequest, layeredFetch } from "../transport.ts";
import { VERSION } from "../../version.ts";
import type { FetchRequest, FetchResponse } from "./fetch.ts";
import {
  bytes,
  FakeClock,
  request,
  response,
  settle,
  stream,
  text,
  untilSettled,
} from "./fakes_test.ts";

const REGISTRY = "https://r.example";
const BLOB = `${REGISTRY}/v2/app/blobs/sha256:1`;
const STORAGE = "https://s3.example/blob?X-Amz-Signature=secret";

Deno.test("layeredFetch: a retried, redirected, reset and resumed blob arrives whole; credentials stay home", async () => {
  const clock = new FakeClock();
  const sent: FetchRequest[] = [];
  const answers: ((request: FetchRequest) => FetchResponse)[] = [
    () => response(503, { headers: { "retry-after": "1" } }),
    () => response(307, { headers: { location: STORAGE } }),
    // The runtime's own words for a reset: the error layer makes them a NetworkError.
    () => response(200, { body: stream(bytes("hel"), new TypeError("connection reset")) }),
    () => response(307, { headers: { location: STORAGE } }),
    () => response(206, { headers: { "content-range": "bytes 3-4/5" }, body: "lo" }),
  ];
  const base = (request: FetchRequest) => {
    sent.push(request);
    const answer = answers[sent.length - 1](request);
    return Promise.resolve({ ...answer, method: request.method, url: request.url });
  };
  const lines: string[] = [];
  const send = layeredFetch(base, {
    retries: 3,
    clock,
    random: () => 0,
    log: (line) => lines.push(line),
  });
  const answer = await untilSettled(
    clock,
    send(request("GET", BLOB, { headers: { authorization: "Bearer abc" } })),
  );
  assert.equal(answer.url.href, STORAGE);
  assert.equal(await untilSettled(clock, text(answer.body)), "hello");
  assert.deepEqual(
    sent.map((r) => [r.url.host, r.headers.get("authorization"), r.headers.get("range")]),
    [
      ["r.example", "Bearer abc", null],
      ["r.example", "Bearer abc", null],
      ["s3.example", null, null],
      ["r.example", "Bearer abc", "bytes=3-"],
      ["s3.example", null, "bytes=3-"],
    ],
  );
  const storage = "https://s3.example/blob?X-Amz-Signature=***";
  assert.deepEqual(lines, [
    `GET ${BLOB} -> 503`,
    `GET ${BLOB}: retrying in 1s (Retry-After), retry 1 of 3`,
    `GET ${BLOB} -> 307`,
    `GET ${storage} -> 200`,
    `GET ${BLOB}: the body broke off at byte 3 (connection reset), resuming it; ` +
    `retrying in 0.1s (backoff), retry 1 of 3`,
    `GET ${BLOB} -> 307`,
    `GET ${storage} -> 206`,
  ]);
});

Deno.test("layeredFetch: no headers within the timeout is retried, then a NetworkError that says so", async () => {
  const clock = new FakeClock();
  let sent = 0;
  const silent = () => {
    sent++;
    return new Promise<never>(() => {});
  };
  const lines: string[] = [];
  const send = layeredFetch(silent, {
    retries: 1,
    timeout: 1000,
    clock,
    random: () => 0,
    log: (line) => lines.push(line),
  });
  await assert.rejects(
    untilSettled(clock, send(request("HEAD", `${REGISTRY}/v2/`))),
    (error) =>
      error instanceof NetworkError &&
      error.message === `HEAD ${REGISTRY}/v2/: no response within 1000 ms`,
  );
  assert.equal(sent, 2);
  assert.deepEqual(lines, [
    `HEAD ${REGISTRY}/v2/ -> no response within 1000 ms`,
    `HEAD ${REGISTRY}/v2/: retrying in 0.1s (backoff), retry 1 of 1`,
    `HEAD ${REGISTRY}/v2/ -> no response within 1000 ms`,
  ]);
});

Deno.test("layeredFetch: an abort during a backoff ends the request at once, with no timer left", async () => {
  const clock = new FakeClock();
  let sent = 0;
  const busy = (request: FetchRequest) => {
    sent++;
    return Promise.resolve({ ...response(503), method: request.method, url: request.url });
  };
  const controller = new AbortController();
  const work = layeredFetch(busy, { retries: 3, clock })(
    request("GET", BLOB, { signal: controller.signal }),
  );
  await settle(() => clock.pending.length > 0);
  const reason = new DOMException("stopped", "AbortError");
  controller.abort(reason);
  await assert.rejects(work, (error) => error === reason);
  assert.equal(sent, 1);
  assert.deepEqual(clock.pending, []);
});

Deno.test("fetchRequest: the User-Agent is set, and Authorization comes from its own field alone", () => {
  const signal = new AbortController().signal;
  const sent = fetchRequest({
    method: "PUT",
    url: new URL(BLOB),
    headers: { Authorization: "smuggled", "content-type": "application/octet-stream" },
    body: bytes("x"),
    signal,
  });
  assert.equal(sent.headers.get("user-agent"), `ocisync/${VERSION}`);
  assert.equal(sent.headers.has("authorization"), false);
  assert.equal(sent.headers.get("content-type"), "application/octet-stream");
  assert.equal(sent.signal, signal);
  assert.equal(
    fetchRequest({ method: "GET", url: new URL(BLOB), authorization: "Basic dTpw" }).headers.get(
      "authorization",
    ),
    "Basic dTpw",
  );
});
