/**
 * The transfer display: on a terminal, one live line per blob with bytes,
 * rate and ETA, and an overall line, redrawn at most ten times a second on
 * stderr. Elsewhere (a pipe, `NO_COLOR`, `-q`, `--json`), no escape codes:
 * one plain line per finished blob, and details with `--verbose`.
 *
 * @module
 */
import { formatBytes, type Output } from "./output.ts";
import type { BlobEvent, BlobListener } from "../progress/mod.ts";

interface Row {
  size: number;
  bytes: number;
  started: number;
  state: BlobEvent["state"];
}

const REDRAW_MS = 100;
const BAR_WIDTH = 20;

/**
 * A display for one command's transfers. `close()` it before printing the
 * result, so the last redraw stays above it; closing twice is harmless.
 */
export interface TransferDisplay {
  listener: BlobListener;
  close(): void;
}

/**
 * A display that reports transfers as `verb` ("uploaded", "pulled",
 * "copied").
 */
export function transferDisplay(out: Output, verb: string): TransferDisplay {
  if (!out.interactive) {
    return {
      listener: (event) => {
        const short = event.descriptor.digest.slice(7, 19);
        if (event.state === "done") {
          out.info(`${short}: ${verb} ${formatBytes(event.descriptor.size)}`);
        } else if (event.state === "skipped") out.verbose(`${short}: already there`);
        else if (event.state === "mounted") out.verbose(`${short}: mounted`);
      },
      close: () => {},
    };
  }
  const rows = new Map<string, Row>();
  const begun = performance.now();
  let drawn = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const render = () => {
    timer = undefined;
    const now = performance.now();
    const lines: string[] = [];
    let bytes = 0;
    let size = 0;
    for (const [digest, row] of rows) {
      bytes += row.bytes;
      size += row.size;
      lines.push(line(digest.slice(7, 19), row, now));
    }
    const total = { size, bytes, started: begun, state: "progress" as const };
    lines.push(line("total       ", total, now));
    // Up to the first line drawn before, then each line cleared and written again.
    out.draw((drawn ? `\x1b[${drawn}A` : "") + lines.map((l) => `\r\x1b[2K${l}\n`).join(""));
    drawn = lines.length;
  };
  return {
    listener: (event) => {
      const digest = event.descriptor.digest;
      const row = rows.get(digest) ??
        { size: event.descriptor.size, bytes: 0, started: performance.now(), state: event.state };
      row.state = event.state;
      if (event.state === "progress") row.bytes = event.bytes ?? row.bytes;
      if (event.state === "done" || event.state === "skipped" || event.state === "mounted") {
        row.bytes = row.size;
      }
      rows.set(digest, row);
      timer ??= setTimeout(render, REDRAW_MS);
    },
    close: () => {
      if (timer !== undefined) clearTimeout(timer);
      if (rows.size) render();
      rows.clear();
      drawn = 0;
    },
  };
}

function line(name: string, row: Row, now: number): string {
  const fraction = row.size ? Math.min(1, row.bytes / row.size) : 1;
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}]`;
  const label = row.state === "skipped"
    ? "already there"
    : row.state === "mounted"
    ? "mounted"
    : row.state === "done"
    ? "done"
    : "";
  const seconds = (now - row.started) / 1000;
  const rate = seconds > 0 ? row.bytes / seconds : 0;
  const eta = rate > 0 && row.bytes < row.size
    ? `ETA ${Math.ceil((row.size - row.bytes) / rate)}s`
    : "";
  return [
    name,
    bar,
    `${formatBytes(row.bytes)} / ${formatBytes(row.size)}`,
    label || `${formatBytes(rate)}/s`,
    eta,
  ].filter(Boolean).join("  ");
}
