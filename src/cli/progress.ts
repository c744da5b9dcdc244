/**
 * The progress display: on a terminal, one live line per task (a folder being packed, dependencies
 * being installed, a blob going up or down) with its bytes, rate and ETA, and a total line, drawn
 * as soon as the first task starts and then at most ten times a second on stderr. Rates come from
 * the bytes actually moved over the last few seconds, so a pause before a transfer, or blobs that
 * were skipped or mounted, never skew them. Elsewhere (a pipe, `NO_COLOR`, `-q`, `--json`), no
 * escape codes: one plain line per finished blob, and details with `--verbose`.
 *
 * @module
 */
import { escapeControls, formatBytes, type Output } from "./output.ts";
import { type BlobListener, type StepListener, StepReporter } from "../progress/mod.ts";

/** How far back rates look. */
export const RATE_WINDOW_MS = 3000;
const REDRAW_MS = 100;
const SAMPLE_MS = 50;
const BAR_WIDTH = 20;

/** Bytes moved over a sliding window of time. */
export class RateMeter {
  #samples: { at: number; bytes: number }[] = [];

  /** Records that `bytes` (a running total) had been moved at time `at` (ms). */
  record(at: number, bytes: number): void {
    const last = this.#samples[this.#samples.length - 1];
    const beforeLast = this.#samples[this.#samples.length - 2];
    // An idle stretch collapses to its end, so a rate starts with the first byte that moves;
    // samples closer together than SAMPLE_MS are merged, so a fast stream keeps a few dozen.
    if (last && bytes === last.bytes && (!beforeLast || beforeLast.bytes === last.bytes)) {
      last.at = at;
      return;
    }
    if (last && beforeLast && at - beforeLast.at < SAMPLE_MS) {
      last.at = at;
      last.bytes = bytes;
      return;
    }
    this.#samples.push({ at, bytes });
    // Keep one sample older than the window, so the window is always covered.
    while (this.#samples.length > 2 && this.#samples[1].at <= at - RATE_WINDOW_MS) {
      this.#samples.shift();
    }
  }

  /** Bytes per second over the window that ends at `now`; 0 until two samples differ in time. */
  rate(now: number): number {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    if (!first || !last) return 0;
    const from = Math.max(first.at, now - RATE_WINDOW_MS);
    // Bytes before the window's start are interpolated away on the first sample's interval.
    const elapsed = (now - from) / 1000;
    if (elapsed <= 0) return 0;
    const startBytes = this.#bytesAt(from);
    return Math.max(0, (last.bytes - startBytes) / elapsed);
  }

  #bytesAt(at: number): number {
    let before = this.#samples[0];
    for (const sample of this.#samples) {
      if (sample.at > at) {
        const span = sample.at - before.at;
        return span > 0
          ? before.bytes + (sample.bytes - before.bytes) * (at - before.at) / span
          : sample.bytes;
      }
      before = sample;
    }
    return before.bytes;
  }
}

interface Task {
  label: string;
  /** The size when known: a blob's; a folder being packed has none. */
  size?: number;
  bytes: number;
  /** Whether bytes are counted: an installer's step has none, and shows its time instead. */
  counted: boolean;
  /** When the task was first seen, in the clock's ms. */
  began: number;
  /** Whether the bytes are moved by this command (not skipped or mounted). */
  moving: boolean;
  state: "running" | "done" | "skipped" | "mounted";
  meter: RateMeter;
}

/** A display for one command's work. `close()` it before printing the result. */
export interface TransferDisplay {
  /** Blob transfers. */
  listener: BlobListener;
  /** Other steps with bytes: packing, installing. */
  step: StepListener;
  close(): void;
}

/** What a display needs of the world, so that tests can drive its clock. */
export interface DisplayClock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

const REAL_CLOCK: DisplayClock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/** A display that reports transfers as `verb` ("uploaded", "pulled", "copied"). */
export function transferDisplay(
  out: Output,
  verb: string,
  clock: DisplayClock = REAL_CLOCK,
): TransferDisplay {
  if (!out.interactive) {
    const started = new Set<string>();
    return {
      listener: (event) => {
        const short = event.descriptor.digest.slice(7, 19);
        if (event.state === "done") {
          out.info(`${short}: ${verb} ${formatBytes(event.descriptor.size)}`);
        } else if (event.state === "skipped") out.verbose(`${short}: already there`);
        else if (event.state === "mounted") out.verbose(`${short}: mounted`);
      },
      // Without live lines, each step is one line when it begins, or ends without beginning.
      step: (event) => {
        if (event.state === "started") started.add(event.id);
        if (event.state === "started" || (event.state === "done" && !started.has(event.id))) {
          out.info(event.label);
        }
      },
      close: () => {},
    };
  }
  const tasks = new Map<string, Task>();
  const total = new RateMeter();
  let drawn = 0;
  let lastDraw = -Infinity;
  let timer: unknown;
  const render = () => {
    timer = undefined;
    const now = clock.now();
    lastDraw = now;
    const lines = [...tasks.values()].map((task) => line(task, now));
    const moving = [...tasks.values()].filter((t) => t.moving);
    if (moving.length) lines.push(totalLine(moving, total, now));
    // Up to the first line drawn before, then each line cleared and written again. The lines
    // name folders and tags, whose control characters must not reach the terminal.
    out.draw(
      (drawn ? `\x1b[${drawn}A` : "") +
        lines.map((l) => `\r\x1b[2K${escapeControls(l)}\n`).join(""),
    );
    drawn = lines.length;
    // A step that counts no bytes (an installer at work) still shows its time going by.
    if ([...tasks.values()].some((t) => t.state === "running" && !t.counted)) {
      timer = clock.setTimeout(render, 1000);
    }
  };
  const changed = (task: Task) => {
    const now = clock.now();
    task.meter.record(now, task.bytes);
    let moved = 0;
    for (const t of tasks.values()) if (t.moving) moved += t.bytes;
    total.record(now, moved);
    // The first line appears at once; after that, at most ten redraws a second.
    if (lastDraw === -Infinity) return render();
    if (timer === undefined) {
      timer = clock.setTimeout(render, Math.max(0, lastDraw + REDRAW_MS - now));
    }
  };
  const task = (id: string, make: () => Task) => {
    let found = tasks.get(id);
    if (!found) tasks.set(id, found = make());
    return found;
  };
  return {
    listener: (event) => {
      const { digest, size } = event.descriptor;
      const row = task(digest, () => ({
        label: digest.slice(7, 19),
        size,
        bytes: 0,
        counted: true,
        began: clock.now(),
        moving: true,
        state: "running",
        meter: new RateMeter(),
      }));
      if (event.state === "progress") row.bytes = event.bytes ?? row.bytes;
      if (event.state === "done") row.bytes = size;
      if (event.state === "done") row.state = "done";
      if (event.state === "skipped" || event.state === "mounted") {
        row.state = event.state;
        row.moving = false;
        row.bytes = size;
      }
      changed(row);
    },
    step: (event) => {
      const row = task(`step:${event.id}`, () => ({
        label: event.label,
        size: event.size,
        bytes: 0,
        counted: false,
        began: clock.now(),
        moving: false,
        state: "running",
        meter: new RateMeter(),
      }));
      row.label = event.label;
      if (event.bytes !== undefined) row.counted = true;
      row.bytes = event.bytes ?? row.bytes;
      if (event.state === "done") row.state = "done";
      changed(row);
    },
    close: () => {
      if (timer !== undefined) clock.clearTimeout(timer);
      if (tasks.size) render();
      tasks.clear();
      drawn = 0;
    },
  };
}

function line(task: Task, now: number): string {
  const label = task.state === "skipped"
    ? "already there"
    : task.state === "mounted"
    ? "mounted"
    : task.state === "done"
    ? "done"
    : `${formatBytes(task.meter.rate(now))}/s`;
  const running = task.state === "running";
  if (!task.counted) {
    const seconds = Math.floor((now - task.began) / 1000);
    return [task.label, bar(undefined, !running), running ? `${seconds}s` : "done"].join("  ");
  }
  return [
    task.label.padEnd(12),
    bar(
      task.size === undefined ? undefined : task.bytes / (task.size || 1),
      task.state !== "running",
    ),
    task.size === undefined
      ? formatBytes(task.bytes)
      : `${formatBytes(task.bytes)} / ${formatBytes(task.size)}`,
    label,
    running && task.size !== undefined ? eta(task.size - task.bytes, task.meter.rate(now)) : "",
  ].filter(Boolean).join("  ");
}

/** The moving tasks together: bytes moved, their sizes, the rate over the window, the ETA. */
function totalLine(moving: Task[], meter: RateMeter, now: number): string {
  const bytes = moving.reduce((n, t) => n + t.bytes, 0);
  const size = moving.reduce((n, t) => n + (t.size ?? t.bytes), 0);
  const rate = meter.rate(now);
  const finished = moving.every((t) => t.state !== "running");
  return [
    "total".padEnd(12),
    bar(bytes / (size || 1), finished),
    `${formatBytes(bytes)} / ${formatBytes(size)}`,
    `${formatBytes(rate)}/s`,
    finished ? "" : eta(size - bytes, rate),
  ].filter(Boolean).join("  ");
}

/** A bar for a known fraction; for an unknown one, a bar that is full only when done. */
function bar(fraction: number | undefined, done: boolean): string {
  const filled = fraction === undefined
    ? (done ? BAR_WIDTH : 0)
    : Math.round(Math.min(1, fraction) * BAR_WIDTH);
  return `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}]`;
}

function eta(remaining: number, rate: number): string {
  return rate > 0 && remaining > 0 ? `ETA ${Math.ceil(remaining / rate)}s` : "";
}

/** A line `label` on `display` that shows a step's bytes so far and its rate. */
export function stepProgress(display: TransferDisplay, label: string): StepReporter {
  return new StepReporter(display.step, crypto.randomUUID(), label);
}
