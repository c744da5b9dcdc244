import assert from "node:assert/strict";
import { abortable, sleep } from "./fetch.ts";
import { FakeClock, settle } from "./fakes_test.ts";

Deno.test("sleep: waits on the clock, and an abort ends it at once with the reason", async () => {
  const clock = new FakeClock();
  let woke = false;
  const nap = sleep(5000, undefined, clock).then(() => woke = true);
  await settle(() => clock.pending.length > 0);
  clock.advance(4999);
  await settle();
  assert.equal(woke, false);
  clock.advance(1);
  await nap;

  const controller = new AbortController();
  const stopped = sleep(5000, controller.signal, clock);
  const reason = new Error("stopped");
  controller.abort(reason);
  await assert.rejects(stopped, (error) => error === reason);
  assert.deepEqual(clock.pending, [], "its timer is gone");
  await assert.rejects(sleep(1, AbortSignal.abort(reason), clock), (error) => error === reason);
  assert.deepEqual(clock.pending, []);
});

Deno.test("abortable: the promise's outcome, or the abort's reason as soon as it comes", async () => {
  assert.equal(await abortable(Promise.resolve(1)), 1);
  assert.equal(await abortable(Promise.resolve(2), new AbortController().signal), 2);
  const controller = new AbortController();
  const never = abortable(new Promise(() => {}), controller.signal);
  const reason = new Error("stopped");
  controller.abort(reason);
  await assert.rejects(never, (error) => error === reason);
  // The work itself goes on; its later failure is nobody's unhandled rejection.
  const late = Promise.withResolvers<void>();
  const gone = abortable(late.promise, AbortSignal.abort(reason));
  late.reject(new Error("late"));
  await assert.rejects(gone, (error) => error === reason);
  await late.promise.catch(() => {});
});
