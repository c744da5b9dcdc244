/**
 * The only place that writes to the terminal. Every command reports its
 * result through one of three modes, chosen the same way everywhere: human
 * text, one JSON document (`--json`), or the single most useful value (`-q`).
 * When both are given, `--json` wins, in every command; a command's own data
 * flags (`inspect --raw` and `--config`) outrank both. Logs go to stderr so
 * that stdout stays machine-readable.
 *
 * Text for people (results, status lines, warnings, errors, hints and logs) has
 * its terminal control characters written out ({@linkcode escapeControls}): image annotations,
 * layer titles, tags and a registry's words reach these lines, and must not drive the terminal.
 * A warning, an error's message and its hint are one line each, whatever they quote: their line
 * breaks are written out too ({@linkcode escapeRemote}), so that a name with a `\n` cannot forge
 * a line such as `ocisync: pulled …`. What another program said (an installer's stderr) comes as
 * the error's `quoted` lines, printed under the message behind `  | `.
 * A `--json` document is printed as `JSON.stringify` made it, but for the characters that JSON
 * lets stand raw and that break a line or drive a terminal ({@linkcode stringifyJson}).
 *
 * @module
 */
import {
  escapeControl,
  escapeRemote,
  OcisyncError,
  type OcisyncErrorOptions,
  registryDetails,
  RegistryError,
  registryError,
  stringifyJson,
} from "../errors/mod.ts";
import type { HttpExchange } from "../remote/transport/logging.ts";
import { redactHeader, redactUrl } from "../remote/transport/redact.ts";
import { explainOsError, osErrorHint } from "../errors/os.ts";
import { SignatureError } from "../trust/errors.ts";
import { exitCodeOf } from "./exit.ts";

/** How a command reports. */
export interface OutputMode {
  /** Print the result as one JSON document, and no progress or status lines. */
  json?: boolean;
  /** Print only the result's most useful value, and no progress or status lines. */
  quiet?: boolean;
  /** Log each HTTP request and other details on stderr. */
  verbose?: boolean;
  /** Also log HTTP headers, redacted, and the stack trace of an error and its causes. */
  debug?: boolean;
  /**
   * Write warnings and the error as JSON lines on stderr, each with `time` and `level`, as
   * `sync --log-format json` writes its ticks: one stream that a log shipper parses whole.
   */
  logLines?: boolean;
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
  /**
   * The registry that the command's `--username` and a `--credentials` file's credential that
   * names none are for, once the command has chosen it (`registryOptions`): the hints that the
   * dispatcher adds after a failure look such credentials up for this registry alone.
   */
  credentialRegistry?: string;
  readonly #streams: OutputStreams;

  /** Creates an output for a mode; defaults to the process's stdout and stderr. */
  constructor(
    mode: OutputMode,
    streams: OutputStreams = { stdout: Deno.stdout, stderr: Deno.stderr },
  ) {
    this.mode = mode;
    this.#streams = streams;
  }

  /** Prints a command's result in the active mode; all but `--json` with controls written out. */
  result(result: { human: string; json: unknown; quiet: string }): void {
    if (this.mode.json) {
      writeAll(this.#streams.stdout, `${stringifyJson(result.json, 2)}\n`);
      return;
    }
    this.#print(this.#streams.stdout, this.mode.quiet ? result.quiet : result.human);
  }

  /**
   * Writes a document's own bytes on stdout, for a command's data flags (`inspect --raw` and
   * `--config`): byte for byte into a pipe or a file, which a script reads. On a terminal, the
   * bytes are a registry's and a terminal obeys escapes (a title, a cleared screen, an OSC 8
   * link), so they are shown as text with their control characters written out as
   * {@linkcode escapeControls} does, the newline and the tab kept; bytes that are not UTF-8 show
   * as U+FFFD.
   */
  data(bytes: Uint8Array): void {
    const stdout = this.#streams.stdout;
    if (!isTerminal(stdout)) return writeAllBytes(stdout, bytes);
    writeAll(stdout, escapeControls(new TextDecoder().decode(bytes)));
  }

  /**
   * An output in the same mode that prints its result on stderr: for a command whose data
   * goes to stdout (`pack -o -`), as tar's listing does, so that the two do not mix.
   */
  resultOnStderr(): Output {
    return new Output(this.mode, { stdout: this.#streams.stderr, stderr: this.#streams.stderr });
  }

  /** A progress or status line on stderr; silent with `-q` and `--json`. */
  info(message: string): void {
    if (!this.mode.quiet && !this.mode.json) this.#print(this.#streams.stderr, message);
  }

  /** A detail shown with `--verbose` only. */
  verbose(message: string): void {
    if (this.mode.verbose) this.#print(this.#streams.stderr, message);
  }

  /** A detail shown with `--debug` only. */
  debug(message: string): void {
    if (this.mode.debug) this.#print(this.#streams.stderr, message);
  }

  /**
   * Whether live progress may be drawn: stderr is a terminal, `NO_COLOR` is
   * unset, and the mode is neither `-q` nor `--json`.
   */
  get interactive(): boolean {
    return !this.mode.quiet && !this.mode.json && !Deno.env.get("NO_COLOR") &&
      isTerminal(this.#streams.stderr);
  }

  /**
   * Writes raw text on stderr, for the progress display's redraws: its escape codes are meant,
   * so they are not written out, and what it draws of names must be made safe by its caller
   * ({@linkcode escapeControls}).
   */
  draw(text: string): void {
    writeAll(this.#streams.stderr, text);
  }

  /** A warning on stderr, shown in every mode. */
  warn(message: string): void {
    if (this.mode.logLines) return this.#logLine({ level: "warning", msg: message });
    this.#print(this.#streams.stderr, `ocisync: warning: ${escapeRemote(message)}`);
  }

  /**
   * Reports a failure on stderr: one line, the lines another program said (`  | …`), then the
   * hint, on one line too. With `--debug`, the stack traces of the error and of each of its
   * causes follow.
   */
  error(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    const quoted = error instanceof OcisyncError ? error.quoted ?? [] : [];
    if (this.mode.logLines) {
      return this.#logLine({
        level: "error",
        msg: message,
        ...(quoted.length > 0 ? { quoted } : {}),
        ...(error instanceof OcisyncError && error.hint ? { hint: hintWithFlag(error) } : {}),
        ...(error instanceof SignatureError ? { rejected: error.rejected } : {}),
        exitCode: exitCodeOf(error),
      });
    }
    let text = `ocisync: error: ${escapeRemote(message)}`;
    for (const line of quotedLines(quoted)) text += `\n${line}`;
    // Why each signature was refused, as cosign says it.
    if (error instanceof SignatureError) {
      for (const line of refusalLines(error.rejected, this.mode.verbose === true)) {
        text += `\n${line}`;
      }
    }
    if (error instanceof OcisyncError && error.hint) {
      text += `\nhint: ${escapeRemote(hintWithFlag(error)!)}`;
    }
    // With --debug, where every error in the chain came from: the message first, the cause last.
    let depth = 0;
    for (let e: unknown = error; this.mode.debug && e instanceof Error && depth < 8; e = e.cause) {
      text += `\n${depth++ ? "caused by: " : ""}${stackOf(e)}`;
    }
    this.#print(this.#streams.stderr, text);
  }

  /** Writes one JSON line of `fields` on stderr, after the time. */
  #logLine(fields: Record<string, unknown>): void {
    this.#print(this.#streams.stderr, stringifyJson({ time: new Date(), ...fields }));
  }

  /** Writes text for people, and a newline, with its control characters written out. */
  #print(stream: { writeSync(bytes: Uint8Array): number }, text: string): void {
    writeAll(stream, `${escapeControls(text)}\n`);
  }
}

/**
 * Text fit for a terminal: each control character but the newline and the tab (ESC, CR, BEL,
 * backspace, DEL, and the C1 controls, which terminals obey too) written out as `\x1b` or
 * `\u009b`. Terminals act on these (clear a line, move the cursor, make an OSC 8 link, set the
 * title), so names and text from images and registries must not reach one as they are; a
 * newline and a tab only lay text out, and ocisync's own messages use them. The bidirectional
 * overrides and isolates (U+202A–U+202E, U+2066–U+2069) are written out too: they reorder what
 * follows, so that a name can read as another.
 *
 * @example
 * ```ts
 * import { escapeControls } from "./output.ts";
 * escapeControls("title\x1b[2K\r"); // "title\\x1b[2K\\x0d"
 * escapeControls("two\nlines\tand a \x9b"); // "two\nlines\tand a \\u009b"
 * ```
 */
export function escapeControls(text: string): string {
  // deno-lint-ignore no-control-regex -- control characters are what is written out
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g, escapeControl);
}

/**
 * The lines another program said, as an error quotes them: each behind `  | `, so that none can
 * pass for a line of ocisync's own, with its controls written out (a carriage return too).
 *
 * @example
 * ```ts
 * import { quotedLines } from "./output.ts";
 * quotedLines(["ERROR: no matching distribution\nocisync: pulled"]);
 * // ["  | ERROR: no matching distribution", "  | ocisync: pulled"]
 * ```
 */
export function quotedLines(quoted: readonly string[]): string[] {
  return quoted.flatMap((text) => text.split(/\r?\n/)).map((line) => `  | ${escapeControls(line)}`);
}

/**
 * An error's stack trace for `--debug`, its message on one line as {@linkcode Output.error}
 * prints it: the frames are ocisync's, the message may quote a registry or an image.
 */
function stackOf(error: Error): string {
  const stack = error.stack ?? `${error.name}: ${error.message}`;
  return error.message === ""
    ? stack
    : stack.replace(error.message, () => escapeRemote(error.message));
}

/** How many refused signatures a failed verification lists; `--verbose` lists them all. */
const REFUSALS_SHOWN = 5;

/**
 * The lines that say why each signature was refused (`SignatureError.rejected`, whose quotes of
 * registries and signatures are written out already): the first few, unless `all`.
 *
 * @example
 * ```ts
 * import { refusalLines } from "./output.ts";
 * refusalLines(["layer 0 (sha256:…): no key verified the signature"], false);
 * // ["  refused: layer 0 (sha256:…): no key verified the signature"]
 * ```
 */
export function refusalLines(rejected: readonly string[], all: boolean): string[] {
  const shown = all ? rejected : rejected.slice(0, REFUSALS_SHOWN);
  const more = rejected.length - shown.length;
  return [
    ...shown.map((line) => `  refused: ${escapeRemote(line)}`),
    ...(more > 0 ? [`  and ${more} more (--verbose lists them all)`] : []),
  ];
}

/** The flag of each library option that errors name in their hints. */
const OPTION_FLAGS: Record<string, string> = {
  maxEntries: "--max-entries",
  maxExtractSize: "--max-extract-size",
  maxEventsSize: "--max-events-size",
  replace: "--delete",
  allowMountRoot: "--force",
  files: "--files",
  username: "-u and --password-stdin",
  encoding: "--encoding base64",
  timeout: "--timeout",
  plainHttp: "--plain-http",
  caFile: "--ca-file FILE",
  http: "--http",
  platform: "--platform",
  installer: "--installer pip",
  installerCommand: "--installer-command",
  verbose: "--verbose",
  certificateIdentity: "--certificate-identity[-regexp]",
  certificateOidcIssuer: "--certificate-oidc-issuer[-regexp]",
  semver: "--semver",
  tagRegex: "--tag-regex",
};

/** The library's hint with the flag of the option it is about, as the CLI names it. */
function hintWithFlag(error: OcisyncError): string | undefined {
  const flag = error.option === undefined ? undefined : OPTION_FLAGS[error.option];
  return flag === undefined ? error.hint : `${error.hint} (${flag})`;
}

/**
 * The error as the CLI reports it, naming the path and the operation first: an error of a Deno
 * file call is worded by {@linkcode explainOsError} (`context`, e.g. `pull into ./out`, leads
 * the message of a call that names no path). ocisync's own errors are kept, and get the hint of
 * an OS error that caused them. Anything else is returned as it is.
 *
 * @example
 * ```ts
 * import { explainError } from "./output.ts";
 * const raw = Object.assign(new Error("Permission denied (os error 13): tmpdir"), { code: "EACCES" });
 * (explainError(raw, "pull into ./out") as Error).message;
 * // "pull into ./out: cannot create a temporary folder: Permission denied (os error 13)"
 * ```
 */
export function explainError(error: unknown, context?: string): unknown {
  if (error instanceof OcisyncError) return withOsHint(error);
  return explainOsError(error, context);
}

type ErrorClass = new (message: string, options: OcisyncErrorOptions) => OcisyncError;

/** `error` with the hint of the OS error that caused it, when it has none of its own. */
function withOsHint(error: OcisyncError): OcisyncError {
  const hint = osErrorHint(error.cause);
  if (error.hint !== undefined || hint === undefined) return error;
  // A registry error keeps its response's fields, which hints and exit codes are read from.
  if (error instanceof RegistryError) {
    return registryError(error.message, { ...registryDetails(error), hint, cause: error.cause });
  }
  // The same class, so that the kind, and with it the exit code, stays the one thrown.
  const Kind = error.constructor as ErrorClass;
  return new Kind(error.message, { hint, cause: error.cause, quoted: error.quoted });
}

/**
 * Logs one HTTP exchange with its headers through `out.debug`, redacted by
 * {@linkcode redactHeader} against the exchange's URL, each line prefixed `[number]`. Bodies
 * are never logged: token responses carry `token`, `access_token` and `refresh_token` there.
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
  const { url } = exchange;
  out.debug(`${id} > ${exchange.method} ${redactUrl(url)}`);
  // URLs in headers may be relative to the request's (`Location: /v2/…?_state=…`).
  for (const [name, value] of exchange.requestHeaders) {
    out.debug(`${id} > ${name}: ${redactHeader(name, value, url)}`);
  }
  out.debug(`${id} < ${exchange.status} ${exchange.statusText}`.trimEnd());
  for (const [name, value] of exchange.responseHeaders) {
    out.debug(`${id} < ${name}: ${redactHeader(name, value, url)}`);
  }
}

function writeAll(stream: { writeSync(bytes: Uint8Array): number }, text: string): void {
  writeAllBytes(stream, encoder.encode(text));
}

function writeAllBytes(stream: { writeSync(bytes: Uint8Array): number }, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += stream.writeSync(bytes.subarray(offset));
}

/** Whether a stream is a terminal; a writer without `isTerminal` (a test's) is none. */
function isTerminal(stream: object): boolean {
  return "isTerminal" in stream && (stream as { isTerminal(): boolean }).isTerminal();
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
