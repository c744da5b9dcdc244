/**
 * The exit codes of the CLI, and which error gets which. They live here, beside the other
 * things the command line alone decides (flags, messages, hints): the library's errors say what
 * went wrong (their `kind`), and this table says what a process exits with for it.
 *
 * @example
 * ```ts
 * import { ExitCode, exitCodeOf } from "./exit.ts";
 * import { NotFoundError } from "../errors/mod.ts";
 * console.log(exitCodeOf(new NotFoundError("no such folder: ./flows")) === ExitCode.NotFound);
 * ```
 * @module
 */
import { type ErrorKind, OcisyncError } from "../errors/mod.ts";
import { SignatureError } from "../trust/errors.ts";

/** The documented exit codes. The README's table mirrors this object. */
export const ExitCode = {
  /** Success. */
  Ok: 0,
  /** Any failure without a more specific code. */
  Other: 1,
  /** Bad command line: unknown command or option, a malformed value. */
  Usage: 2,
  /** The registry refused the credentials, or none were found. */
  Auth: 3,
  /** A file, folder, repository, tag or blob does not exist. */
  NotFound: 4,
  /** A digest or size did not match: bytes were refused, never written. */
  Integrity: 5,
  /** The network failed: connection, TLS, timeout, or a server error that outlived the retries. */
  Network: 6,
  /** Content that cannot be archived or extracted safely: path escapes, devices, fifos, whiteout names. */
  UnsafeContent: 7,
  /** No signature over the digest verified with the given keys or identity: nothing was written. */
  Verification: 8,
} as const;

/** One of the values of {@linkcode ExitCode}. */
export type ExitCodeValue = typeof ExitCode[keyof typeof ExitCode];

/** The code of each kind of error; a registry error's kind is that of its status and codes. */
const CODE_OF_KIND: Record<ErrorKind, ExitCodeValue> = {
  other: ExitCode.Other,
  usage: ExitCode.Usage,
  auth: ExitCode.Auth,
  "not-found": ExitCode.NotFound,
  integrity: ExitCode.Integrity,
  network: ExitCode.Network,
  "unsafe-content": ExitCode.UnsafeContent,
};

/**
 * The exit code for any thrown value: that of an ocisync error's kind, or
 * {@linkcode ExitCode.Other} for anything else. A {@linkcode SignatureError} (its kind is
 * `integrity`) has a code of its own, {@linkcode ExitCode.Verification}, so that a script can
 * tell an unsigned image from corrupted bytes; in both, nothing was written.
 *
 * @example
 * ```ts
 * import { exitCodeOf } from "./exit.ts";
 * import { UsageError } from "../errors/mod.ts";
 * console.log(exitCodeOf(new UsageError("x"))); // 2
 * console.log(exitCodeOf(new Error("x"))); // 1
 * ```
 */
export function exitCodeOf(error: unknown): ExitCodeValue {
  if (error instanceof SignatureError) return ExitCode.Verification;
  return error instanceof OcisyncError ? CODE_OF_KIND[error.kind] : ExitCode.Other;
}

/**
 * The signals that stop a command, each with its number: a command stopped by one exits with 128
 * and the number, as a shell reports (Ctrl-C's SIGINT: 130). Windows has SIGINT alone. `sync`
 * stops on them too: it ends its loops, abandons a pull under way, and exits 0, or as above
 * when they stopped `--once` before its tick ended.
 *
 * @example
 * ```ts
 * import { STOP_SIGNALS } from "./exit.ts";
 * console.log(STOP_SIGNALS.SIGINT); // 2
 * ```
 */
export const STOP_SIGNALS: Readonly<Partial<Record<Deno.Signal, number>>> =
  Deno.build.os === "windows" ? { SIGINT: 2 } : { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
