import assert from "node:assert/strict";
import { NetworkError } from "../../errors/mod.ts";
import { resuming } from "./resume.ts";
import {
  BLOB,
  bytes,
  FakeClock,
  request,
  response,
  scriptedFetch,
  settle,
  stream,
  text,
  untilSettled,
} from "./fakes_test.ts";

const reset = () => new NetworkError(`GET ${BLOB}: the connection to r.example broke (reset)`);
const partial = (status: number, range: string | undefined, ...parts: (string | Error)[]) =>
  response(status, {
    headers: range === undefined ? {} : { "content-range": range },
    body: stream(...parts.map((part) => (typeof part === "string" ? bytes(part) : part))),
  });

/** The text of the resumed body of a `GET` of BLOB, and the Range headers sent. */
async function download(
  answers: Parameters<typeof scriptedFetch>,
  retries = 3,
  log?: (line: string) => void,
): Promise<{ body: string; ranges: (string | null)[] }> {
  const clock = new FakeClock();
  const fake = scriptedFetch(...answers);
  const answer = await resuming(fake.fetch, { retries, clock, log, random: () => 0 })(
    request("GET", BLOB),
  );
  const body = await untilSettled(clock, text(answer.body));
  return { body, ranges: fake.requests.map((r) => r.headers.get("range")) };
}

Deno.test("resuming: a server that honours Range sends the rest", async () => {
  const lines: string[] = [];
  const result = await download(
    [
      partial(200, undefined, "hello ", reset()),
      partial(206, "bytes 6-10/11", "world"),
    ],
    3,
    (line) => lines.push(line),
  );
  assert.deepEqual(result, { body: "hello world", ranges: [null, "bytes=6-"] });
  assert.deepEqual(lines, [
    `GET ${BLOB}: the body broke off at byte 6 (the connection to r.example broke (reset)), ` +
    `resuming it; retrying in 0.1s (backoff), retry 1 of 3`,
  ]);
});

Deno.test("resuming: a server that ignores Range sends it all again, and the bytes held are skipped", async () => {
  const result = await download([
    partial(200, undefined, "hel", "lo ", reset()),
    partial(200, undefined, "hell", "o world"),
  ]);
  assert.deepEqual(result, { body: "hello world", ranges: [null, "bytes=6-"] });
});

Deno.test("resuming: a range that starts early is trimmed to the bytes not held", async () => {
  const result = await download([
    partial(200, undefined, "hello ", reset()),
    partial(206, "bytes 4-10/11", "o world"),
  ]);
  assert.equal(result.body, "hello world");
});

Deno.test("resuming: a body truncated twice is resumed twice, within the retries", async () => {
  const answers = () =>
    [
      partial(200, undefined, "hel", reset()),
      partial(206, "bytes 3-10/11", "lo ", reset()),
      partial(206, "bytes 6-10/11", "world"),
    ] as const;
  assert.deepEqual(await download([...answers()], 2), {
    body: "hello world",
    ranges: [null, "bytes=3-", "bytes=6-"],
  });
  await assert.rejects(download([...answers()], 1), NetworkError, "one resumption is not enough");
});

Deno.test("resuming: an answer that cannot continue the body fails it", async () => {
  for (
    const [answer, status] of [
      [partial(206, "bytes 8-10/11", "rld"), 206],
      [partial(206, undefined, "world"), 206],
      [response(416), 416],
      [response(200), 200],
    ] as const
  ) {
    await assert.rejects(
      download([partial(200, undefined, "hello ", reset()), answer]),
      (error) =>
        error instanceof NetworkError &&
        error.message === `GET ${BLOB}: cannot resume from byte 6 (-> ${status})`,
    );
  }
});

Deno.test("resuming: only a GET's 200 is resumed, and only after a network failure", async () => {
  const clock = new FakeClock();
  const bug = new TypeError("a bug, not the network");
  const fake = scriptedFetch(partial(200, undefined, "hel", bug));
  const answer = await resuming(fake.fetch, { retries: 3, clock })(request("GET", BLOB));
  await assert.rejects(text(answer.body), bug);
  assert.equal(fake.requests.length, 1);

  for (const [method, status] of [["POST", 200], ["GET", 206], ["GET", 404]] as const) {
    const body = stream(bytes("x"));
    const other = scriptedFetch(response(status, { body }));
    const passed = await resuming(other.fetch, { retries: 3 })(request(method, BLOB));
    assert.equal(passed.body, body, `${method} -> ${status} is passed through as it is`);
  }
});

Deno.test("resuming: an abort is not resumed, and ends the wait before a resumption", async () => {
  const clock = new FakeClock();
  const controller = new AbortController();
  const reason = new Error("stopped");
  const aborted = scriptedFetch(partial(200, undefined, "hel", reason));
  controller.abort(reason);
  const answer = await resuming(aborted.fetch, { retries: 3, clock })(
    request("GET", BLOB, { signal: controller.signal }),
  );
  await assert.rejects(text(answer.body), (error) => error === reason);
  assert.equal(aborted.requests.length, 1);

  const waiting = new AbortController();
  const fake = scriptedFetch(partial(200, undefined, "hel", reset()), partial(200, undefined));
  const broken = await resuming(fake.fetch, { retries: 3, clock })(
    request("GET", BLOB, { signal: waiting.signal }),
  );
  const reading = text(broken.body);
  await settle(() => clock.pending.length > 0);
  waiting.abort(reason);
  await assert.rejects(reading, (error) => error === reason);
  assert.equal(fake.requests.length, 1, "the rest is never asked for");
  assert.deepEqual(clock.pending, []);
});

Deno.test("resuming: a reader that gives up while the rest is asked for frees that connection too", async () => {
  const clock = new FakeClock();
  let cancelledLater = false;
  const later = Promise.withResolvers<void>();
  const fake = scriptedFetch(partial(200, undefined, "hel", reset()), async () => {
    await later.promise;
    return response(206, {
      headers: { "content-range": "bytes 3-4/5" },
      body: new ReadableStream({ cancel: () => void (cancelledLater = true) }),
    });
  });
  const answer = await resuming(fake.fetch, { retries: 3, clock })(request("GET", BLOB));
  const reader = answer.body!.getReader();
  assert.equal(new TextDecoder().decode((await reader.read()).value), "hel");
  const pending = reader.read();
  await clock.runNext();
  await settle(() => fake.requests.length === 2);
  const cancelled = reader.cancel();
  later.resolve();
  await cancelled;
  await pending.catch(() => {});
  await settle(() => cancelledLater);
});
