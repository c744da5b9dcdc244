/**
 * The only place that writes to the terminal. Every command reports its
 * result through one of three modes, chosen the same way everywhere: human
 * text, one JSON document (`--json`), or the single most useful value (`-q`).
 * Logs go to stderr so that stdout stays machine-readable.
 *
 * @module
 */
import { OcisyncError } from "../errors/mod.ts";
import { type HttpExchange, redactUrl } from "../remote/transport.ts";

/** How a command reports. */
export interface OutputMode {
  /** Print the result as one JSON document, and no progress or status lines. */
  json?: boolean;
  /** Print only the result's most useful value, and no progress or status lines. */
  quiet?: boolean;
  /** Log each HTTP request and other details on stderr. */
  verbose?: boolean;
  /** Also log HTTP headers, redacted, and the stack traces of unexpected errors. */
  debug?: boolean;
}

/** Where output goes; tests and the library can pass their own writers. */
export interface OutputStreams {
  /** Where results go. */
  stdout: { writeSync(bytes: Uint8Array): number };
  /** Where logs, warnings, errors and progress go. */
  stderr: { writeSync(bytes: Uint8Array): number };
}

const encoder = new TextEncoder();

/** Writes results and logs for one command run. */
export class Output {
  /** The mode this output reports in. */
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

  /** A detail shown with `--debug` only. */
  debug(message: string): void {
    if (this.mode.debug) writeAll(this.#streams.stderr, `${message}\n`);
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

  /**
   * Reports a failure on stderr: one line, then the hint. With `--debug`, the stack trace of
   * an unexpected error follows, or of the unexpected cause of an ocisync error.
   */
  error(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    let text = `ocisync: error: ${message}\n`;
    if (error instanceof OcisyncError && error.hint) text += `hint: ${error.hint}\n`;
    const unexpected = error instanceof OcisyncError ? error.cause : error;
    if (this.mode.debug && unexpected instanceof Error && !(unexpected instanceof OcisyncError)) {
      text += `${unexpected.stack}\n`;
    }
    writeAll(this.#streams.stderr, text);
  }
}

/** Headers whose whole value is a secret. */
const SECRET_HEADER = /cookie|token|secret|password|signature|session|api-?key|credential/i;

/**
 * A header as `--debug` shows it: credentials replaced by `***` (the scheme of an
 * `Authorization` is kept), cookies and any header named like a secret hidden, and the query
 * values of URLs in it (a `Location` to signed object storage) redacted as in request logs.
 *
 * @example
 * ```ts
 * import { redactHeader } from "./output.ts";
 * redactHeader("authorization", "Bearer eyJhbGciOi…"); // "Bearer ***"
 * redactHeader("set-cookie", "session=abc; HttpOnly"); // "***"
 * ```
 */
export function redactHeader(name: string, value: string): string {
  const lower = name.toLowerCase();
  if (lower === "authorization" || lower === "proxy-authorization") {
    const scheme = /^\S+(?=\s)/.exec(value)?.[0];
    return scheme ? `${scheme} ***` : "***";
  }
  if (SECRET_HEADER.test(lower)) return "***";
  return value.replace(/\bhttps?:\/\/[^\s<>",;]+/g, (match) => {
    const url = URL.parse(match);
    return url ? redactUrl(url) : "***";
  });
}

/**
 * Logs one HTTP exchange with its headers through `out.debug`, redacted by
 * {@linkcode redactHeader}, each line prefixed `[number]`. Bodies are never logged: token responses carry `token`,
 * `access_token` and `refresh_token` there.
 *
 * @example
 * ```ts
 * import { logExchange, Output } from "./output.ts";
 * logExchange(new Output({ debug: true }), {
 *   method: "GET",
 *   url: new URL("http://127.0.0.1:5000/v2/"),
 *   requestHeaders: new Headers({ authorization: "Basic c2VjcmV0" }),
 *   status: 200,
 *   statusText: "OK",
 *   responseHeaders: new Headers(),
 * }, 1);
 * ```
 */
export function logExchange(out: Output, exchange: HttpExchange, number: number): void {
  const id = `[${number}]`;
  out.debug(`${id} > ${exchange.method} ${redactUrl(exchange.url)}`);
  for (const [name, value] of exchange.requestHeaders) {
    out.debug(`${id} > ${name}: ${redactHeader(name, value)}`);
  }
  out.debug(`${id} < ${exchange.status} ${exchange.statusText}`.trimEnd());
  for (const [name, value] of exchange.responseHeaders) {
    out.debug(`${id} < ${name}: ${redactHeader(name, value)}`);
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
