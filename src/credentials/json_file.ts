/**
 * Reading and writing the JSON files that hold credentials, so that no error ever quotes them:
 * a malformed file is named, with the line and column of the fault, and nothing of its text.
 *
 * @example
 * ```ts
 * import { readJsonObject } from "./json_file.ts";
 * const config = await readJsonObject("/nonexistent/config.json", "Docker config");
 * console.log(config); // undefined: a missing file is no error
 * ```
 * @module
 */
import { OcisyncError, UsageError } from "../errors/mod.ts";
import { parentOf, writeFileAtomic } from "../fs/atomic.ts";
import { readNamedText } from "../fs/read.ts";

// JSON strings and numbers, sticky: they match at lastIndex or not at all. A JSON string must
// not contain raw control characters, hence the range in the pattern.
// deno-lint-ignore no-control-regex
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/**
 * Reads a file holding one JSON object. A missing file is `undefined`; an unreadable one an
 * {@linkcode OcisyncError}, and a malformed one a {@linkcode UsageError}, naming the path (and
 * `what` it is) and never quoting the content.
 *
 * @example
 * ```ts
 * import { readJsonObject } from "./json_file.ts";
 * const path = `${await Deno.makeTempDir()}/auth.json`;
 * await Deno.writeTextFile(path, '{"auths": {}}');
 * await readJsonObject(path, "auth file"); // { auths: {} }
 * ```
 */
export async function readJsonObject(
  path: string,
  what: string,
): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readNamedText(path, what);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    if (error instanceof OcisyncError) throw error;
    throw new OcisyncError(`cannot read ${what} ${path}: ${errorText(error)}`, {
      cause: error,
      hint: "check that it is a readable file",
    });
  }
  // Editors on Windows may start the file with a byte order mark, which JSON.parse refuses.
  text = text.replace(/^\uFEFF/, "");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // The parser's message may quote the text around the error, secrets included: keep only
    // where it is. No cause either, for the same reason.
    throw malformed(path, `it is not valid JSON${jsonErrorPlace(text)}`, what);
  }
  if (!isObject(value)) throw malformed(path, "it must contain a JSON object", what);
  return value;
}

/**
 * Writes a JSON object as Docker writes its config (tab-indented), atomically, with mode 0600,
 * creating the folder with mode 0700. A symlink is written through, not replaced, as dotfile
 * managers link configs; a link to nothing is refused rather than followed, as it would make
 * whoever runs this create a file where someone else's link points.
 *
 * @throws {OcisyncError} when `path` is a link to nothing.
 * @throws {UsageError} as root, when another user could lead `path` elsewhere.
 * @example
 * ```ts
 * import { writeJsonObject } from "./json_file.ts";
 * await writeJsonObject(`${await Deno.makeTempDir()}/docker/config.json`, { auths: {} });
 * ```
 */
export async function writeJsonObject(
  path: string,
  value: Record<string, unknown>,
): Promise<void> {
  await refuseExposed(path);
  let target = path;
  try {
    target = await Deno.realPath(path);
  } catch {
    if (await Deno.lstat(path).then(() => true, () => false)) {
      throw new OcisyncError(`${path} is a symbolic link to nothing: it was not written`, {
        hint: "remove the link, or create the file it names",
      });
    }
    await makeFolderOf(path);
  }
  // Tabs, as Docker writes it, so that a login does not reformat the whole file.
  const bytes = new TextEncoder().encode(`${JSON.stringify(value, null, "\t")}\n`);
  // Made 0600 (less the umask, which only narrows it) before the rename: no chmod by path after
  // it, which would follow a link put at the path meanwhile.
  await writeFileAtomic(target, [bytes], { mode: 0o600 });
}

/**
 * As root, refuses a credentials file that another user could lead elsewhere: a link of theirs
 * at its path (in `/tmp`, say, through `REGISTRY_AUTH_FILE`), or a folder of theirs on its way;
 * root would write its credentials where they chose, or over a file of root's. `checked` is
 * the part of the path looked at: writers check the file's folder before they make it or a lock
 * in it, which would land there too, and the file itself when they write it.
 *
 * @throws {UsageError} as root, when another user could lead `checked` elsewhere.
 * @example
 * ```ts
 * import { refuseExposed } from "./json_file.ts";
 * await refuseExposed(`${await Deno.makeTempDir()}/docker/config.json`);
 * ```
 */
export async function refuseExposed(path: string, checked: string = path): Promise<void> {
  // Loaded when a file is first written, as a layout's lock is: every registry command reads
  // credentials, and only login and logout write them.
  const { refuseReplaceableAsRoot } = await import("../fs/shielded.ts");
  await refuseReplaceableAsRoot(
    checked,
    (why) =>
      new UsageError(`refusing to write credentials as root to ${path}: ${why}`, {
        hint: "keep the file in a folder only root can change",
      }),
  );
}

/**
 * Makes the folder of `path` (mode 0700) if it does not exist.
 *
 * @example
 * ```ts
 * import { makeFolderOf } from "./json_file.ts";
 * await makeFolderOf(`${await Deno.makeTempDir()}/docker/config.json`);
 * ```
 */
export async function makeFolderOf(path: string): Promise<void> {
  const folder = parentOf(path);
  if (folder !== "") await Deno.mkdir(folder, { recursive: true, mode: 0o700 });
}

/**
 * The error for a file whose content is wrong: `malformed WHAT PATH: PROBLEM`. `problem` must
 * never quote a value from the file.
 *
 * @example
 * ```ts
 * import { malformed } from "./json_file.ts";
 * throw malformed("/home/me/.docker/config.json", '"auths" must be an object');
 * ```
 */
export function malformed(path: string, problem: string, what = "auth file"): UsageError {
  return new UsageError(`malformed ${what} ${path}: ${problem}`, {
    hint: "fix or remove the file",
  });
}

/**
 * ` at line L, column C` for the first syntax error in `text`, ` (it ends too early)` when it
 * stops in the middle of a value, or `""` when it is valid JSON.
 *
 * Why a scanner of its own beside `JSON.parse`: V8's messages quote the text around the fault,
 * which here may be a password, and some of them ("Unexpected token …") say nothing of where
 * it is, so the message cannot be kept nor mined for a position. The scanner runs only after
 * `JSON.parse` has failed; it does not parse, it only finds the place, the same on any runtime.
 *
 * @example
 * ```ts
 * import { jsonErrorPlace } from "./json_file.ts";
 * jsonErrorPlace('{\n  "a": x\n}'); // " at line 2, column 8"
 * jsonErrorPlace('{"a": '); // " (it ends too early)"
 * ```
 */
export function jsonErrorPlace(text: string): string {
  const offset = jsonErrorOffset(text);
  if (offset === undefined) return "";
  if (offset >= text.length) return " (it ends too early)";
  const before = text.slice(0, offset).split("\n");
  return ` at line ${before.length}, column ${before[before.length - 1].length + 1}`;
}

/**
 * Whether `value` is a JSON object (not an array, not null).
 *
 * @example
 * ```ts
 * import { isObject } from "./json_file.ts";
 * isObject({}); // true
 * isObject([]); // false
 * ```
 */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * An error's message, for errors that hold no secret (file system and process errors).
 *
 * @example
 * ```ts
 * import { errorText } from "./json_file.ts";
 * errorText(new Error("denied")); // "denied"
 * ```
 */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Where a JSON text stops being valid JSON, or `undefined` if it is valid. */
function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  const fail = (): never => {
    throw new SyntaxError(String(i));
  };
  const space = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const expect = (token: string) => {
    if (!text.startsWith(token, i)) fail();
    i += token.length;
  };
  const match = (pattern: RegExp) => {
    pattern.lastIndex = i;
    if (!pattern.test(text)) fail();
    i = pattern.lastIndex;
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      i++;
      space();
      if (text[i] === close) return void i++;
      for (;;) {
        if (c === "{") {
          space();
          match(STRING);
          space();
          expect(":");
        }
        value();
        space();
        if (text[i] === ",") i++;
        else return expect(close);
      }
    }
    if (c === '"') return match(STRING);
    if (c === "t" || c === "f" || c === "n") return match(/true|false|null/y);
    match(NUMBER);
  };
  try {
    value();
    space();
    return i < text.length ? i : undefined;
  } catch (error) {
    return error instanceof SyntaxError ? i : undefined;
  }
}
