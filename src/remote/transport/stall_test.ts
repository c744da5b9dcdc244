import assert from "node:assert/strict";
import { StallError, stallGuard } from "./stall.ts";
import type { FetchRequest } from "./fetch.ts";
import {
  bytes,
  FakeClock,
  MANIFEST,
  request,
  response,
  scriptedFetch,
  settle,
  silentStream,
  stream,
  text,
} from "./fakes_test.ts";

const hang = (seen: FetchRequest[]) => (request: FetchRequest) => {
  seen.push(request);
  return new Promise<never>(() => {});
};

Deno.test("stallGuard: no headers within the timeout is a StallError, and the request below is aborted", async () => {
  const clock = new FakeClock();
  const seen: FetchRequest[] = [];
  const work = stallGuard(hang(seen), { timeout: 1000, clock })(request("GET", MANIFEST));
  await settle(() => clock.pending.length > 0);
  assert.deepEqual(clock.pending, [1000]);
  clock.advance(999);
  await settle();
  clock.advance(1);
  await assert.rejects(
    work,
    (error) => error instanceof StallError && error.phase === "headers" && error.ms === 1000,
  );
  assert.equal(seen[0].signal?.aborted, true, "the connection below is let go");
  assert.equal(seen[0].signal?.reason instanceof StallError, true);
});

Deno.test("stallGuard: 30 s by default, one more second per 64 KiB sent", async () => {
  for (const [size, ms] of [[0, 30_000], [65_535, 30_000], [131_072, 32_000]]) {
    const clock = new FakeClock();
    const work = stallGuard(hang([]), { clock })({
      ...request("PUT", MANIFEST),
      body: new Uint8Array(size),
    });
    await settle(() => clock.pending.length > 0);
    assert.deepEqual(clock.pending, [ms], `${size} bytes`);
    clock.advance(ms);
    await assert.rejects(work, StallError);
  }
});

Deno.test("stallGuard: a body that stalls longer than idleTimeout errors; each chunk restarts the wait", async () => {
  const clock = new FakeClock();
  let cancelled = false;
  const next = Promise.withResolvers<void>();
  let pulls = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (pulls++ === 0) {
        await next.promise;
        controller.enqueue(bytes("a"));
      } else await new Promise(() => {});
    },
    cancel: () => void (cancelled = true),
  }, { highWaterMark: 0 });
  const fake = scriptedFetch(response(200, { body }));
  const answer = await stallGuard(fake.fetch, { timeout: 1000, idleTimeout: 500, clock })(
    request("GET", MANIFEST),
  );
  assert.deepEqual(clock.pending, [], "the header timer is gone once headers came");
  const reader = answer.body!.getReader();
  const first = reader.read();
  await settle(() => clock.pending.length > 0);
  clock.advance(400);
  next.resolve();
  assert.equal(new TextDecoder().decode((await first).value), "a");
  assert.deepEqual(clock.pending, [], "no wait while nobody reads");
  const second = reader.read();
  await settle(() => clock.pending.length > 0);
  assert.deepEqual(clock.pending, [500], "a fresh wait for the next chunk");
  clock.advance(500);
  await assert.rejects(
    second,
    (error) =>
      error instanceof StallError && error.phase === "body" &&
      error.message === "no data for 500 ms",
  );
  await settle(() => cancelled);
});

Deno.test("stallGuard: a steady body is passed through whole, with no timer left", async () => {
  const clock = new FakeClock();
  const fake = scriptedFetch(response(200, { body: stream(bytes("he"), bytes("llo")) }));
  const answer = await stallGuard(fake.fetch, { clock })(request("GET", MANIFEST));
  assert.equal(await text(answer.body), "hello");
  assert.deepEqual(clock.pending, []);
});

Deno.test("stallGuard: the caller's abort ends the wait for headers and for the body at once", async () => {
  const clock = new FakeClock();
  const reason = new Error("stopped");
  const headers = new AbortController();
  const seen: FetchRequest[] = [];
  const waiting = stallGuard(hang(seen), { clock })(
    request("GET", MANIFEST, { signal: headers.signal }),
  );
  await settle(() => seen.length > 0);
  headers.abort(reason);
  await assert.rejects(waiting, (error) => error === reason);
  assert.equal(seen[0].signal?.reason, reason, "passed down");
  assert.deepEqual(clock.pending, []);

  const reading = new AbortController();
  const fake = scriptedFetch(response(200, { body: silentStream() }));
  const answer = await stallGuard(fake.fetch, { clock })(
    request("GET", MANIFEST, { signal: reading.signal }),
  );
  const read = text(answer.body);
  await settle(() => clock.pending.length > 0);
  reading.abort(reason);
  await assert.rejects(read, (error) => error === reason);
  assert.deepEqual(clock.pending, []);
});

Deno.test("stallGuard: a body that drips fails once an idle timeout of waiting brought under 1 KiB", async () => {
  // A byte a little under every idle timeout never tripped the wait for one read.
  const clock = new FakeClock();
  const drip = (size: number) =>
    new ReadableStream<Uint8Array>({
      async pull(controller) {
        await settle(() => clock.pending.length > 0);
        clock.advance(400);
        controller.enqueue(new Uint8Array(size));
      },
    }, { highWaterMark: 0 });
  const read = async (size: number, reads: number) => {
    const answer = await stallGuard(
      scriptedFetch(response(200, { body: drip(size) })).fetch,
      { idleTimeout: 500, clock },
    )(request("GET", MANIFEST));
    const reader = answer.body!.getReader();
    for (let i = 0; i < reads; i++) await reader.read();
    await reader.cancel();
  };
  await assert.rejects(
    read(1, 3),
    (error) =>
      error instanceof StallError && error.phase === "slow" &&
      error.message === "under 1024 bytes in 800 ms of waiting",
  );
  // As slow, but bringing its kilobyte in each window: a slow link, not a drip.
  await read(1024, 10);
});
