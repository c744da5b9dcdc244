/**
 * Typed errors. Each kind carries the exit code the CLI returns for it and an
 * optional hint, so that the library can throw them unchanged and the CLI only
 * has to print them.
 *
 * @example
 * ```ts
 * import { NotFoundError, exitCodeOf } from "./mod.ts";
 * const err = new NotFoundError("no such folder: ./flows", { hint: "check the path" });
 * console.log(exitCodeOf(err)); // 4
 * ```
 * @module
 */

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
} as const;

/** One of the values of {@linkcode ExitCode}. */
export type ExitCodeValue = typeof ExitCode[keyof typeof ExitCode];

/** Options shared by every ocisync error. */
export interface OcisyncErrorOptions {
  /** A short suggestion for the user, printed after the message. */
  hint?: string;
  /** The underlying error, kept for `--debug`. */
  cause?: unknown;
}

/**
 * The base of every error ocisync throws on purpose.
 *
 * @example
 * ```ts
 * import { OcisyncError } from "./mod.ts";
 * try { throw new OcisyncError("boom") } catch (e) { console.log(e instanceof OcisyncError) }
 * ```
 */
export class OcisyncError extends Error {
  /** The process exit code for this error. */
  readonly exitCode: ExitCodeValue = ExitCode.Other;
  /** A short suggestion for the user, if one exists. */
  readonly hint?: string;

  /** Creates an error with a message and optional hint and cause. */
  constructor(message: string, options: OcisyncErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
}

/**
 * The command line is wrong: unknown command or option, or a malformed value.
 *
 * @example
 * ```ts
 * import { UsageError } from "./mod.ts";
 * throw new UsageError("--compression must be gzip, zstd or none");
 * ```
 */
export class UsageError extends OcisyncError {
  /** Always {@linkcode ExitCode.Usage}. */
  override readonly exitCode: ExitCodeValue = ExitCode.Usage;
}

/**
 * Credentials are missing or were refused.
 *
 * @example
 * ```ts
 * import { AuthError } from "./mod.ts";
 * throw new AuthError("registry.example.com refused the credentials", { hint: "run `ocisync login registry.example.com`" });
 * ```
 */
export class AuthError extends OcisyncError {
  /** Always {@linkcode ExitCode.Auth}. */
  override readonly exitCode: ExitCodeValue = ExitCode.Auth;
}

/**
 * Something named by the user does not exist.
 *
 * @example
 * ```ts
 * import { NotFoundError } from "./mod.ts";
 * throw new NotFoundError("tag v9 not found in library/alpine");
 * ```
 */
export class NotFoundError extends OcisyncError {
  /** Always {@linkcode ExitCode.NotFound}. */
  override readonly exitCode: ExitCodeValue = ExitCode.NotFound;
}

/**
 * Bytes did not match their digest or declared size. They were not written.
 *
 * @example
 * ```ts
 * import { IntegrityError } from "./mod.ts";
 * throw new IntegrityError("blob sha256:ab… has digest sha256:cd…");
 * ```
 */
export class IntegrityError extends OcisyncError {
  /** Always {@linkcode ExitCode.Integrity}. */
  override readonly exitCode: ExitCodeValue = ExitCode.Integrity;
}

/**
 * The network failed, or a server kept failing after the retries.
 *
 * @example
 * ```ts
 * import { NetworkError } from "./mod.ts";
 * throw new NetworkError("connection refused: 127.0.0.1:5000");
 * ```
 */
export class NetworkError extends OcisyncError {
  /** Always {@linkcode ExitCode.Network}. */
  override readonly exitCode: ExitCodeValue = ExitCode.Network;
}

/**
 * Content that cannot be archived or extracted safely: a path that escapes the
 * target, a device or fifo, a whiteout name in a folder to pack.
 *
 * @example
 * ```ts
 * import { UnsafeContentError } from "./mod.ts";
 * throw new UnsafeContentError("entry ../etc/passwd escapes the target");
 * ```
 */
export class UnsafeContentError extends OcisyncError {
  /** Always {@linkcode ExitCode.UnsafeContent}. */
  override readonly exitCode: ExitCodeValue = ExitCode.UnsafeContent;
}

/**
 * The exit code for any thrown value: an {@linkcode OcisyncError}'s own code,
 * or {@linkcode ExitCode.Other}.
 *
 * @example
 * ```ts
 * import { exitCodeOf, UsageError } from "./mod.ts";
 * console.log(exitCodeOf(new UsageError("x"))); // 2
 * console.log(exitCodeOf(new Error("x"))); // 1
 * ```
 */
export function exitCodeOf(error: unknown): ExitCodeValue {
  return error instanceof OcisyncError ? error.exitCode : ExitCode.Other;
}
