import assert from "node:assert/strict";
import { type DisplayClock, RateMeter, transferDisplay } from "./progress.ts";
import type { Output } from "./output.ts";
import { stripEscapes } from "../../tests/helpers/cli.ts";

const MiB = 1024 * 1024;
const DIGEST = `sha256:${"a".repeat(64)}` as const;
const OTHER = `sha256:${"b".repeat(64)}` as const;

/** A clock that moves only when told, and a terminal that keeps what was drawn. */
function harness() {
  let now = 0;
  let pending: { at: number; callback: () => void } | undefined;
  const frames: string[] = [];
  const clock: DisplayClock = {
    now: () => now,
    setTimeout: (callback, ms) => (pending = { at: now + ms, callback }),
    clearTimeout: () => (pending = undefined),
  };
  const out = { interactive: true, draw: (text: string) => frames.push(text) } as unknown as Output;
  return {
    clock,
    out,
    frames,
    /** Moves the clock to `at` ms, firing a redraw that falls due on the way. */
    advance(at: number) {
      if (pending && pending.at <= at) {
        now = pending.at;
        const { callback } = pending;
        pending = undefined;
        callback();
      }
      now = at;
    },
    last: () => stripEscapes(frames[frames.length - 1]).replaceAll("\r", ""),
  };
}

/** Feeds a blob's progress from `from` to `to` ms at `rate` bytes per second, every 10 ms. */
function stream(
  listener: ReturnType<typeof transferDisplay>["listener"],
  h: ReturnType<typeof harness>,
  size: number,
  from: number,
  to: number,
  rate: number,
  start = 0,
): number {
  let bytes = start;
  for (let at = from; at <= to; at += 10) {
    h.advance(at);
    bytes = Math.min(size, start + Math.round(rate * (at - from) / 1000));
    listener({ descriptor: { mediaType: "x", digest: DIGEST, size }, state: "progress", bytes });
  }
  return bytes;
}

Deno.test("progress: the first line is drawn as soon as work starts", () => {
  const h = harness();
  const display = transferDisplay(h.out, "uploaded", h.clock);
  display.step({ id: "pack", label: "packing ./flows", state: "started", bytes: 0 });
  assert.equal(h.frames.length, 1, "drawn at once, not after a delay");
  assert.match(h.last(), /^packing \.\/flows +\[-+\] +0 B/);
});

Deno.test("progress: rates and ETA come from bytes moved over a sliding window", () => {
  const h = harness();
  const display = transferDisplay(h.out, "uploaded", h.clock);
  const descriptor = { mediaType: "x", digest: DIGEST, size: 200 * MiB };
  // The blob is announced, then nothing moves for 4 s (packing, say), then 58 MiB/s for 2 s.
  display.listener({ descriptor, state: "started" });
  const moved = stream(display.listener, h, descriptor.size, 4000, 6000, 58 * MiB);
  display.close();
  const [row, total] = h.last().trim().split("\n");
  const rate = (text: string) => {
    const [, value, unit] = text.match(/([0-9.]+) (MiB|KiB|B)\/s/)!;
    return Number(value) * { MiB, KiB: 1024, B: 1 }[unit as "MiB"];
  };
  assert.ok(Math.abs(rate(row) / (58 * MiB) - 1) < 0.05, row);
  assert.ok(Math.abs(rate(total) / (58 * MiB) - 1) < 0.05, total);
  const etaSeconds = Math.ceil((descriptor.size - moved) / (58 * MiB));
  assert.match(row, new RegExp(`ETA ${etaSeconds}s$`));
  assert.match(total, new RegExp(`ETA ${etaSeconds}s$`));
});

Deno.test("progress: skipped and mounted blobs count in no rate and no total", () => {
  const h = harness();
  const display = transferDisplay(h.out, "uploaded", h.clock);
  display.listener({
    descriptor: { mediaType: "x", digest: OTHER, size: 1024 * MiB },
    state: "skipped",
  });
  stream(display.listener, h, 10 * MiB, 0, 1000, 5 * MiB);
  display.close();
  const total = h.last().trim().split("\n").pop()!;
  assert.match(total, /^total +\[#+-+\] +5\.0 MiB \/ 10\.0 MiB +5\.0 MiB\/s +ETA 1s$/);
});

Deno.test("progress: a stall longer than the window shows no rate and no ETA", () => {
  const h = harness();
  const display = transferDisplay(h.out, "uploaded", h.clock);
  stream(display.listener, h, 100 * MiB, 0, 1000, 10 * MiB);
  h.advance(10_000);
  display.close();
  const row = h.last().trim().split("\n")[0];
  assert.match(row, / 0 B\/s$/);
});

Deno.test("RateMeter: keeps a bounded number of samples for a fast stream", () => {
  const meter = new RateMeter();
  for (let at = 0; at <= 60_000; at++) meter.record(at, at * 1000);
  assert.equal(Math.round(meter.rate(60_000)), 1_000_000);
});
