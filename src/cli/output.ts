/**
 * The only place that writes to the terminal. Every command reports its
 * result through one of three modes, chosen the same way everywhere: human
 * text, one JSON document (`--json`), or the single most useful value (`-q`).
 * Logs go to stderr so that stdout stays machine-readable.
 *
 * @module
 */
import { OcisyncError } from "../errors/mod.ts";

/** How a command reports. */
export interface OutputMode {
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

/** Where output goes; tests and the library can pass their own writers. */
export interface OutputStreams {
  stdout: { writeSync(bytes: Uint8Array): number };
  stderr: { writeSync(bytes: Uint8Array): number };
}

const encoder = new TextEncoder();

/** Writes results and logs for one command run. */
export class Output {
  readonly mode: OutputMode;
  readonly #streams: OutputStreams;

  /** Creates an output for a mode; defaults to the process's stdout and stderr. */
  constructor(
    mode: OutputMode,
    streams: OutputStreams = { stdout: Deno.stdout, stderr: Deno.stderr },
  ) {
    this.mode = mode;
    this.#streams = streams;
  }

  /** Prints a command's result in the active mode. */
  result(result: { human: string; json: unknown; quiet: string }): void {
    const text = this.mode.json
      ? JSON.stringify(result.json, null, 2)
      : this.mode.quiet
      ? result.quiet
      : result.human;
    writeAll(this.#streams.stdout, `${text}\n`);
  }

  /** A progress or status line on stderr; silent with `-q` and `--json`. */
  info(message: string): void {
    if (!this.mode.quiet && !this.mode.json) writeAll(this.#streams.stderr, `${message}\n`);
  }

  /** A detail shown with `--verbose` only. */
  verbose(message: string): void {
    if (this.mode.verbose) writeAll(this.#streams.stderr, `${message}\n`);
  }

  /**
   * Whether live progress may be drawn: stderr is a terminal, `NO_COLOR` is
   * unset, and the mode is neither `-q` nor `--json`.
   */
  get interactive(): boolean {
    return !this.mode.quiet && !this.mode.json && !Deno.env.get("NO_COLOR") &&
      "isTerminal" in this.#streams.stderr &&
      (this.#streams.stderr as { isTerminal(): boolean }).isTerminal();
  }

  /** Writes raw text on stderr, for the progress display's redraws. */
  draw(text: string): void {
    writeAll(this.#streams.stderr, text);
  }

  /** A warning on stderr, shown in every mode. */
  warn(message: string): void {
    writeAll(this.#streams.stderr, `ocisync: warning: ${message}\n`);
  }

  /** Reports a failure on stderr: one line, then the hint. */
  error(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    let text = `ocisync: error: ${message}\n`;
    if (error instanceof OcisyncError && error.hint) text += `hint: ${error.hint}\n`;
    if (!(error instanceof OcisyncError) && this.mode.verbose && error instanceof Error) {
      text += `${error.stack}\n`;
    }
    writeAll(this.#streams.stderr, text);
  }
}

function writeAll(stream: { writeSync(bytes: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let offset = 0;
  while (offset < bytes.length) offset += stream.writeSync(bytes.subarray(offset));
}

/**
 * A byte count in binary units, e.g. `1.5 MiB`.
 *
 * @example
 * ```ts
 * import { formatBytes } from "./output.ts";
 * formatBytes(1536); // "1.5 KiB"
 * ```
 */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}
