/**
 * Errors as plain data, to cross from a worker thread and be thrown again as the class they
 * were: an ocisync error keeps its kind (and so its exit code), hint and option; one of
 * `Deno.errors` keeps its class and `code`, which the CLI reads to explain OS errors.
 *
 * @example
 * ```ts
 * import { receivedError, sendableError } from "./sent.ts";
 * import { UnsafeContentError } from "./mod.ts";
 * const error = receivedError(sendableError(new UnsafeContentError("refused", { option: "maxEntries" })));
 * console.log(error instanceof UnsafeContentError); // true
 * ```
 * @module
 */
import {
  AuthError,
  type ErrorKind,
  IntegrityError,
  NetworkError,
  NotFoundError,
  OcisyncError,
  type OcisyncErrorOptions,
  UnsafeContentError,
  UsageError,
} from "./mod.ts";

/** An error as it crosses threads: enough to throw one of the same class again. */
export interface SentError {
  /** `UnsafeContentError`, `NotFound`, `PermissionDenied`… */
  name: string;
  /** The message, unchanged. */
  message: string;
  /** An ocisync error's kind. */
  kind?: string;
  /** An ocisync error's hint. */
  hint?: string;
  /** An ocisync error's option. */
  option?: string;
  /** An OS error's code, e.g. `ENAMETOOLONG`. */
  code?: string;
}

/**
 * An error, as data that crosses threads.
 *
 * @example
 * ```ts
 * import { sendableError } from "./sent.ts";
 * postMessage({ error: sendableError(new Error("no")) });
 * ```
 */
export function sendableError(error: unknown): SentError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error) };
  const { hint, option, kind } = error as Partial<OcisyncError>;
  const code = (error as { code?: unknown }).code;
  return {
    name: error.name,
    message: error.message,
    ...(kind === undefined ? {} : { kind }),
    ...(hint === undefined ? {} : { hint }),
    ...(option === undefined ? {} : { option }),
    ...(typeof code === "string" ? { code } : {}),
  };
}

const OCISYNC_ERRORS: Record<
  ErrorKind,
  new (message: string, options?: OcisyncErrorOptions) => OcisyncError
> = {
  "other": OcisyncError,
  "usage": UsageError,
  "auth": AuthError,
  "not-found": NotFoundError,
  "integrity": IntegrityError,
  "network": NetworkError,
  "unsafe-content": UnsafeContentError,
};

/**
 * The error that was sent, as the class of its kind for an ocisync error, or as one of
 * `Deno.errors` with its `code`.
 *
 * @example
 * ```ts
 * import { receivedError } from "./sent.ts";
 * const error = receivedError({ name: "NotFound", message: "gone", code: "ENOENT" });
 * console.log(error instanceof Deno.errors.NotFound); // true
 * ```
 */
export function receivedError(sent: SentError): Error {
  const OcisyncClass = Object.hasOwn(OCISYNC_ERRORS, sent.kind ?? "")
    ? OCISYNC_ERRORS[sent.kind as ErrorKind]
    : undefined;
  if (OcisyncClass) return new OcisyncClass(sent.message, { hint: sent.hint, option: sent.option });
  const errors = Deno.errors as Record<string, (new (message: string) => Error) | undefined>;
  const DenoError = errors[sent.name];
  const error = DenoError ? new DenoError(sent.message) : new Error(sent.message);
  if (!DenoError) error.name = sent.name;
  if (sent.code !== undefined) Object.assign(error, { code: sent.code });
  return error;
}
