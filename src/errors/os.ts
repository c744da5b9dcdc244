/**
 * Errors of Deno's file calls (`Deno.errors.PermissionDenied`, `NotFound`…) as ocisync's own:
 * the message names the operation and the path first, with advice where a user can act. The
 * library's high-level calls throw them so, and the CLI words its errors with them.
 *
 * @example
 * ```ts
 * import { explainOsError } from "./os.ts";
 * const raw = Object.assign(new Error("Permission denied (os error 13): open '/x'"), {
 *   code: "EACCES",
 * });
 * (explainOsError(raw) as Error).message; // "cannot open /x: Permission denied (os error 13)"
 * ```
 * @module
 */
import { NotFoundError, OcisyncError, type OcisyncErrorOptions } from "./mod.ts";

/** Deno's message for a failed OS call: `TEXT (os error N)`, then the call and its paths. */
const OS_ERROR = /^(?<text>.+ \(os error \d+\))(?:: (?<call>[a-z_]+)(?: '(?<paths>.*)')?)?$/s;

/** Deno's names of calls, in words, where the name alone would puzzle a user. */
const CALLS: Record<string, string> = {
  tmpdir: "create a temporary folder",
  tmpfile: "create a temporary file",
  mkdir: "create the folder",
  readdir: "list",
  realpath: "resolve",
  lstat: "stat",
  readfile: "read",
  writefile: "write",
};

/** Advice by errno code, for the errors a user can do something about. */
const OS_HINTS: Record<string, string> = {
  ENAMETOOLONG: "a name in a path can be at most 255 bytes, and a whole path 4095",
  EACCES: "this user may not do that there: check the owner and mode of the path and its folder",
  EPERM: "this user may not do that there: check the owner and mode of the path and its folder",
  EROFS: "the file system is mounted read-only",
  ENOSPC: "the file system is full",
  EDQUOT: "this user's disk quota is used up",
  ENOTDIR: "a part of the path is a file, not a folder",
  ELOOP: "the path has a loop of symbolic links",
  EMFILE: "too many open files: raise the limit (ulimit -n)",
};

/**
 * `error` as an {@linkcode OcisyncError} when it is an error of a Deno file call, naming the path
 * and the operation first: Deno words one as `File name too long (os error 36): open '/x/…'`,
 * which becomes `cannot open /x/…: File name too long (os error 36)`, with a hint where one
 * helps, and `error` as its `cause`. A missing path is a {@linkcode NotFoundError}. Some calls
 * name no path (`makeTempDir` ends its message in `: tmpdir`), so a caller that knows what it was
 * doing passes `context`, e.g. `pull into ./out`, which then leads the message. Anything else
 * (ocisync's own errors included) is returned as it is.
 *
 * @example
 * ```ts
 * import { explainOsError } from "./os.ts";
 * const raw = Object.assign(new Error("Permission denied (os error 13): tmpdir"), { code: "EACCES" });
 * (explainOsError(raw, "pull into ./out") as Error).message;
 * // "pull into ./out: cannot create a temporary folder: Permission denied (os error 13)"
 * ```
 */
export function explainOsError(error: unknown, context?: string): unknown {
  if (error instanceof OcisyncError) return error;
  const parts = error instanceof Error ? OS_ERROR.exec(error.message)?.groups : undefined;
  if (!parts) return error;
  const { text, call, paths } = parts;
  const [from, to] = paths?.split("' -> '") ?? [];
  const where = from === undefined ? "" : ` ${from}${to === undefined ? "" : ` to ${to}`}`;
  const action = call === undefined ? "" : `cannot ${CALLS[call] ?? call}${where}: `;
  // A path in the message says where already; the context is for calls that name none.
  const lead = context && from === undefined ? `${context}: ` : "";
  const advice = osErrorHint(error);
  const temporary = from === undefined && !context && (call === "tmpdir" || call === "tmpfile");
  // A missing path is exit 4, as the README's table says, whichever call found it missing.
  const Kind: ErrorClass = error instanceof Deno.errors.NotFound ? NotFoundError : OcisyncError;
  return new Kind(`${lead}${action}${text}`, {
    hint: temporary ? temporaryFolderHint(advice) : advice,
    cause: error,
  });
}

type ErrorClass = new (message: string, options: OcisyncErrorOptions) => OcisyncError;

/**
 * Advice for the OS error `error` (by its errno code), when a user can do something about it.
 *
 * @example
 * ```ts
 * import { osErrorHint } from "./os.ts";
 * osErrorHint(Object.assign(new Error("No space left"), { code: "ENOSPC" })); // "the file system is full"
 * ```
 */
export function osErrorHint(error: unknown): string | undefined {
  return OS_HINTS[codeOf(error)];
}

/**
 * The errno codes of a file system that refuses a write whatever is written: it is full, out of
 * quota, read-only, not this user's to write, or failing.
 */
const REFUSING_FILE_SYSTEM = new Set(["ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "EIO"]);

/** The errno codes of a file system with no room left for this user. */
const OUT_OF_SPACE = new Set(["ENOSPC", "EDQUOT"]);

/** How many causes deep an error's code is looked for. */
const MAX_CAUSES = 8;

/**
 * Whether `error`, or an error it was caused by (ocisync's own wording of it), is the local file
 * system refusing a write for what it is (full, read-only, not this user's), not for what was
 * written: reading more of the same input cannot change it.
 *
 * @example
 * ```ts
 * import { isFileSystemRefusal } from "./os.ts";
 * const full = Object.assign(new Error("No space left on device (os error 28)"), { code: "ENOSPC" });
 * isFileSystemRefusal(full); // true
 * isFileSystemRefusal(new Error("not a tar archive")); // false
 * ```
 */
export function isFileSystemRefusal(error: unknown): boolean {
  return hasCode(error, REFUSING_FILE_SYSTEM);
}

/**
 * Whether `error`, or an error it was caused by, is a file system out of space (`ENOSPC`) or out
 * of this user's quota (`EDQUOT`).
 *
 * @example
 * ```ts
 * import { isOutOfSpace } from "./os.ts";
 * isOutOfSpace(Object.assign(new Error("Disk quota exceeded (os error 122)"), { code: "EDQUOT" })); // true
 * ```
 */
export function isOutOfSpace(error: unknown): boolean {
  return hasCode(error, OUT_OF_SPACE);
}

/** Whether `error` or one of its causes has one of `codes` as its errno code. */
function hasCode(error: unknown, codes: ReadonlySet<string>): boolean {
  let current = error;
  for (let depth = 0; current instanceof Error && depth < MAX_CAUSES; depth++) {
    if (codes.has(codeOf(current))) return true;
    current = current.cause;
  }
  return false;
}

/** The errno code (`ENOENT`) of an error of a Deno call, or "". */
function codeOf(error: unknown): string {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : "";
}

/**
 * The folder that temporary files without a folder of their own go in, which Deno's message
 * does not name: the runtime uses `$TMPDIR`, else `/tmp`.
 */
function temporaryFolderHint(advice: string | undefined): string {
  let folder = "/tmp";
  try {
    folder = Deno.env.get("TMPDIR") || folder;
  } catch { /* no permission to read the environment: the default */ }
  return `temporary files go in ${folder} ($TMPDIR)${advice ? `; ${advice}` : ""}`;
}
