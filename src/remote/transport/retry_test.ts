import assert from "node:assert/strict";
import { NetworkError } from "../../errors/mod.ts";
import { isTransient, retryDelay, retrying } from "./retry.ts";
import {
  FakeClock,
  MANIFEST,
  request,
  response,
  scriptedFetch,
  settle,
  stream,
  untilSettled,
} from "./fakes_test.ts";

Deno.test("retryDelay: backoff doubles from 200 ms to a 10 s cap, each wait 50–100 % of its ceiling", () => {
  for (let attempt = 0; attempt < 12; attempt++) {
    const ceiling = Math.min(10_000, 200 * 2 ** attempt);
    assert.deepEqual(retryDelay(attempt, undefined, { random: () => 0 }), {
      ms: ceiling / 2,
      reason: "backoff",
    });
    assert.equal(retryDelay(attempt, undefined, { random: () => 0.999_999 }).ms, ceiling);
  }
  assert.equal(retryDelay(2, new Headers(), { random: () => 0.5 }).ms, 600);
});

Deno.test("retryDelay: Retry-After in seconds, as an HTTP date, capped at 60 s; unreadable is ignored", () => {
  const now = Date.UTC(2025, 0, 1, 12);
  const at = (ms: number) => new Headers({ "retry-after": new Date(now + ms).toUTCString() });
  const delay = (headers: Headers) => retryDelay(4, headers, { now, random: () => 0 });
  assert.deepEqual(delay(new Headers({ "retry-after": "2" })), { ms: 2000, reason: "Retry-After" });
  assert.deepEqual(delay(new Headers({ "retry-after": " 0 " })), { ms: 0, reason: "Retry-After" });
  assert.deepEqual(delay(at(5000)), { ms: 5000, reason: "Retry-After" });
  assert.deepEqual(delay(at(-60_000)), { ms: 0, reason: "Retry-After" }, "a date past: at once");
  assert.deepEqual(delay(at(3_600_000)), {
    ms: 60_000,
    reason: "Retry-After 3600s, capped at 60s",
  });
  assert.deepEqual(delay(new Headers({ "retry-after": "61" })), {
    ms: 60_000,
    reason: "Retry-After 61s, capped at 60s",
  });
  assert.deepEqual(delay(new Headers({ "retry-after": "60" })), {
    ms: 60_000,
    reason: "Retry-After",
  });
  for (const unreadable of ["soon", "", "-5 seconds"]) {
    assert.deepEqual(delay(new Headers({ "retry-after": unreadable })), {
      ms: 1600,
      reason: "backoff",
    }, unreadable);
  }
});

Deno.test("retrying: 408, 429, 500, 502, 503 and 504 are retried; other statuses are not", async () => {
  for (const status of [408, 429, 500, 502, 503, 504]) {
    const clock = new FakeClock();
    const fake = scriptedFetch(response(status), response(200));
    const send = retrying(fake.fetch, { retries: 3, clock });
    const answer = await untilSettled(clock, send(request("GET", MANIFEST)));
    assert.equal(answer.status, 200, `${status}`);
    assert.equal(fake.requests.length, 2, `${status}`);
  }
  for (const status of [200, 201, 301, 400, 401, 403, 404, 416, 501, 505]) {
    const fake = scriptedFetch(response(status), response(200));
    const answer = await retrying(fake.fetch, { retries: 3 })(request("GET", MANIFEST));
    assert.equal(answer.status, status);
    assert.equal(fake.requests.length, 1, `${status} is final`);
  }
});

Deno.test("retrying: a NetworkError is retried; other errors are not; the last failure is returned or thrown", async () => {
  const clock = new FakeClock();
  const reset = new NetworkError("GET …: the connection broke");
  const recovered = scriptedFetch(reset, reset, response(200));
  const send = retrying(recovered.fetch, { retries: 2, clock });
  assert.equal((await untilSettled(clock, send(request("GET", MANIFEST)))).status, 200);
  assert.equal(recovered.requests.length, 3);

  const down = scriptedFetch(reset);
  await assert.rejects(
    untilSettled(clock, retrying(down.fetch, { retries: 2, clock })(request("GET", MANIFEST))),
    (error) => error === reset,
  );
  assert.equal(down.requests.length, 3, "one try, two retries");

  const bug = new TypeError("not a network failure");
  const broken = scriptedFetch(bug);
  await assert.rejects(
    retrying(broken.fetch, { retries: 2, clock })(request("GET", MANIFEST)),
    bug,
  );
  assert.equal(broken.requests.length, 1);

  const busy = scriptedFetch(() => response(503, { body: "busy" }));
  const last = await untilSettled(
    clock,
    retrying(busy.fetch, { retries: 2, clock })(request("GET", MANIFEST)),
  );
  assert.equal(last.status, 503, "the last answer, once the retries are spent");
  assert.equal(await new Response(last.body).text(), "busy", "with its body, for the error");
  assert.equal(busy.requests.length, 3);

  const once = scriptedFetch(response(503), response(200));
  assert.equal((await retrying(once.fetch, { retries: 0 })(request("GET", MANIFEST))).status, 503);
  assert.equal(once.requests.length, 1, "no retries with retries: 0");
});

Deno.test("retrying: waits as long as it says, and frees each failed answer's connection", async () => {
  const clock = new FakeClock();
  let cancelled = 0;
  const failed = () =>
    response(503, {
      body: new ReadableStream({ cancel: () => void cancelled++ }),
    });
  const fake = scriptedFetch(
    failed(),
    { ...failed(), headers: new Headers({ "retry-after": "2" }) },
    response(200),
  );
  const lines: string[] = [];
  const send = retrying(fake.fetch, {
    retries: 3,
    clock,
    random: () => 0,
    log: (line) => lines.push(line),
  });
  const work = send(request("GET", `${MANIFEST}?_state=secret`));
  assert.equal(await clock.runNext(), 100, "backoff: half of 200 ms with no jitter");
  assert.equal(await clock.runNext(), 2000, "Retry-After: 2");
  assert.equal((await work).status, 200);
  assert.equal(cancelled, 2);
  assert.deepEqual(lines, [
    `GET ${MANIFEST}?_state=***: retrying in 0.1s (backoff), retry 1 of 3`,
    `GET ${MANIFEST}?_state=***: retrying in 2s (Retry-After), retry 2 of 3`,
  ]);
});

Deno.test("retrying: an abort ends a backoff at once, and an aborted request is not retried", async () => {
  const clock = new FakeClock();
  const fake = scriptedFetch(response(503), response(200));
  const controller = new AbortController();
  const send = retrying(fake.fetch, { retries: 3, clock });
  const work = send(request("GET", MANIFEST, { signal: controller.signal }));
  await settle(() => clock.pending.length > 0);
  assert.deepEqual(clock.pending.length, 1, "waiting before the first retry");
  const reason = new Error("stopped");
  controller.abort(reason);
  await assert.rejects(work, (error) => error === reason);
  assert.equal(fake.requests.length, 1, "not sent again");
  assert.deepEqual(clock.pending, [], "no timer left behind");

  // The layer below saw the abort first and failed with a network error: still not retried.
  const aborting = new AbortController();
  const cut = scriptedFetch(() => {
    aborting.abort();
    throw new NetworkError("GET …: the connection broke (aborted)");
  });
  await assert.rejects(
    retrying(cut.fetch, { retries: 3, clock })(
      request("GET", MANIFEST, { signal: aborting.signal }),
    ),
    NetworkError,
  );
  assert.equal(cut.requests.length, 1);
  assert.equal(isTransient(new NetworkError("x"), aborting.signal), false);

  // Aborted before it starts: the wait is not even begun.
  const early = scriptedFetch(response(503));
  await assert.rejects(
    retrying(early.fetch, { retries: 3, clock })(
      request("GET", MANIFEST, { signal: AbortSignal.abort(reason) }),
    ),
    (error) => error === reason,
  );
  assert.equal(early.requests.length, 1);
});

Deno.test("retrying: a stream body of a failed answer that errors does not stop the retry", async () => {
  const clock = new FakeClock();
  const fake = scriptedFetch(
    response(500, { body: stream(new Error("broken")) }),
    response(200),
  );
  const answer = await untilSettled(
    clock,
    retrying(fake.fetch, { retries: 1, clock })(request("GET", MANIFEST)),
  );
  assert.equal(answer.status, 200);
});
