/**
 * Reads a pip requirements file the way the dependency cache needs it: the
 * bytes of the file and of every file it includes (`-r`, `-c`), what else the
 * lines make the installer read (find-links, local archives and folders,
 * `${NAME}` variables), and the requirements that are not pinned to one exact
 * version. Lines are split into a requirement and options as pip splits them,
 * so `-rother.txt`, `--requirement=other.txt` and `--req other.txt` are all
 * followed.
 *
 * @example
 * ```ts
 * import { readRequirements } from "./requirements.ts";
 * const input = await readRequirements("requirements.txt");
 * if (input.unpinned.length) console.error(`not pinned: ${input.unpinned.join(", ")}`);
 * ```
 * @module
 */
import { NotFoundError, OcisyncError, UsageError } from "../errors/mod.ts";
import { readUpTo } from "../fs/read.ts";
import { localPath } from "./local.ts";

/** A requirements file as read: the main file first, then the files it includes. */
export interface RequirementsInput {
  /** Each file read, with its bytes, in the order pip reads them. */
  files: { path: string; bytes: Uint8Array }[];
  /** Requirements that may resolve to another version tomorrow, as written. */
  unpinned: string[];
  /**
   * The local find-links the files give (`-f`, `--find-links`), as pip takes
   * them: beside the file that names them when that path exists, else as
   * written. Remote ones are left out: their text is in the files' bytes.
   */
  findLinks: string[];
  /**
   * The local paths that requirements install from (`./pkg`, `dist/x.whl`,
   * `name @ file:///x.whl`), relative to the working directory, where pip
   * resolves them.
   */
  localPaths: string[];
  /** The `${NAME}` variables the files use, sorted, with the values pip puts in their place. */
  variables: [string, string][];
  /** Lines with an option that pip's requirements files do not have (a newer pip's, a typo). */
  unknownOptions: string[];
}

/** An option of a requirements file: pip's `req_file.py` accepts these, and no others. */
interface OptionSpec {
  long: string;
  short?: string;
  /** Whether it takes a value. Every short option does. */
  value: boolean;
}

const OPTIONS: OptionSpec[] = [
  { long: "--index-url", short: "-i", value: true },
  { long: "--extra-index-url", value: true },
  { long: "--no-index", value: false },
  { long: "--constraint", short: "-c", value: true },
  { long: "--requirement", short: "-r", value: true },
  { long: "--editable", short: "-e", value: true },
  { long: "--find-links", short: "-f", value: true },
  { long: "--no-binary", value: true },
  { long: "--only-binary", value: true },
  { long: "--prefer-binary", value: false },
  { long: "--require-hashes", value: false },
  { long: "--pre", value: false },
  { long: "--trusted-host", value: true },
  { long: "--use-feature", value: true },
  { long: "--global-option", value: true },
  { long: "--hash", value: true },
  { long: "--config-settings", short: "-C", value: true },
];

/** An option as given on a line: its long name, and what its value may mean. */
interface GivenOption {
  name: string;
  /**
   * The value, or two readings of it: pip reads `-r=FILE` as `=FILE` (a short
   * option's value starts right after it), uv as `FILE`.
   */
  values: string[];
}

/** `name[extras] == version` or `=== version`: exactly one version, no wildcard. */
const PINNED = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*===?\s*[^\s,;*]+$/;
/** `name[extras] @ URL`, a direct reference. */
const DIRECT = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*@\s*(\S+)$/;
/** A bare name, which a constraints file may pin. */
const NAME = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?$/;
/** The archives pip installs from a path (its `is_archive_file`). */
const ARCHIVE = /\.(whl|zip|tar|tgz|tbz|txz|tlz|tar\.(gz|bz2|xz|lz|lzma))$/i;
/** A URL of any scheme, `file:` included. */
const URL_LIKE = /^[A-Za-z][A-Za-z0-9+.-]*:/;
/** pip's `${NAME}` in requirements files: capitals, digits and `_` only. */
const VARIABLE = /\$\{([A-Z0-9_]+)\}/g;

/**
 * Reads a requirements file and the files it includes, relative to the file
 * that names them, as pip does. A requirement counts as pinned when it names
 * one exact version (`==1.2.3`, `===1.2.3`), when a constraints file pins its
 * name so, or when it is a direct URL carrying a hash (`#sha256=…` or
 * `--hash`). Everything else (ranges, bare names, URLs without a hash, remote
 * includes) is reported as unpinned.
 *
 * @throws {NotFoundError} when a file does not exist.
 * @throws {UsageError} for an editable install (`-e`, `--editable`), in any of the files: it
 * would ship the build host's path to the package, not the package.
 * @example
 * ```ts
 * import { readRequirements } from "./requirements.ts";
 * const { files, unpinned, findLinks } = await readRequirements("requirements.txt");
 * console.log(files.length, unpinned, findLinks);
 * ```
 */
export async function readRequirements(path: string): Promise<RequirementsInput> {
  const input: RequirementsInput = {
    files: [],
    unpinned: [],
    findLinks: [],
    localPaths: [],
    variables: [],
    unknownOptions: [],
  };
  const candidates: { text: string; name?: string }[] = [];
  const constrained = new Set<string>();
  const variables = new Map<string, string>();
  const read = async (file: string, constraints: boolean, seen: string[]) => {
    if (seen.includes(file)) return;
    const bytes = await readFile(file);
    input.files.push({ path: file, bytes });
    for (const line of logicalLines(new TextDecoder().decode(bytes))) {
      const { requirement, options } = splitLine(expandVariables(line, variables));
      if (options === undefined) {
        input.unknownOptions.push(line);
        continue;
      }
      if (options.some((option) => option.name === "--editable")) throw editableRefused(file, line);
      if (requirement !== "") {
        pushDefined(input.localPaths, localTarget(requirement));
        const hashed = options.some((option) => option.name === "--hash");
        const withoutMarkers = requirement.split(";")[0].trim();
        const pinned = PINNED.exec(withoutMarkers);
        if (pinned && constraints) constrained.add(canonicalName(pinned[1]));
        if (pinned || constraints) continue;
        const direct = DIRECT.exec(withoutMarkers);
        if (direct && (/#sha256=/.test(direct[3]) || hashed)) continue;
        candidates.push({ text: withoutMarkers, name: NAME.exec(withoutMarkers)?.[1] });
        continue;
      }
      // Any other option's whole effect is its text, which the file's bytes carry.
      for (const { name, values } of options) {
        if (name === "--requirement" || name === "--constraint") {
          const local = values.map(localPath);
          if (local.includes(undefined)) {
            candidates.push({ text: line }); // a remote file: what it says may change
            continue;
          }
          const paths = values.map((value, i) =>
            value === local[i] ? resolveBeside(file, value) : local[i]!
          );
          for (const nested of await presentOrLast(paths)) {
            await read(nested, name === "--constraint", [...seen, file]);
          }
        } else if (name === "--find-links") {
          for (const value of values) {
            const local = localPath(value);
            if (local === undefined) continue;
            const beside = resolveBeside(file, local);
            input.findLinks.push(local === value && await isPresent(beside) ? beside : local);
          }
        }
      }
    }
  };
  await read(path, false, []);
  input.unpinned = candidates
    .filter((c) => c.name === undefined || !constrained.has(canonicalName(c.name)))
    .map((c) => c.text);
  input.variables = [...variables].sort(([a], [b]) => a < b ? -1 : 1);
  return input;
}

/**
 * An editable install (`-e ./pkg`, `-e git+https://…`) links the installed package to its source
 * on the build host (a `.pth` file or a finder holding the host's absolute path), and installs none
 * of its code: the layer would ship a path that the image does not have.
 */
function editableRefused(file: string, line: string): UsageError {
  return new UsageError(
    `${file}: "${line}" is an editable install, which would put this machine's path to the ` +
      "package in the layer, and none of its code",
    { hint: "drop -e: a plain path (./pkg) or URL installs the package's code into the layer" },
  );
}

/**
 * The most bytes a requirements file may hold: hashed lock files of hundreds of packages take
 * a few hundred KB.
 */
const MAX_REQUIREMENTS_BYTES = 4 * 1024 * 1024;

/**
 * A requirements or constraints file, read for the cache key: a regular file only. The installer
 * reads it again after this: a pipe (`-r <(…)`, `/dev/stdin`) would reach it empty and install
 * nothing, under the key of what was read here; a device (`/dev/zero`) would never end.
 */
async function readFile(file: string): Promise<Uint8Array> {
  const notRegular = () =>
    new UsageError(
      `${file} is not a regular file: the installer reads a requirements file after ocisync ` +
        "has, and a pipe or a device would not give it the same lines",
      { hint: "write the requirements to a file, and give its path" },
    );
  try {
    // Checked before the open too: opening a fifo waits for a writer.
    if (!(await Deno.stat(file)).isFile) throw notRegular();
    using opened = await Deno.open(file);
    const info = await opened.stat();
    if (!info.isFile) throw notRegular();
    if (info.size > MAX_REQUIREMENTS_BYTES) {
      throw new UsageError(
        `${file} has ${info.size} bytes, over the ${MAX_REQUIREMENTS_BYTES} a requirements file may`,
      );
    }
    return await readUpTo(opened, info.size);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (error instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`no such requirements file: ${file}`);
    }
    throw new OcisyncError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
}

/** Lines without comments and blank lines, with `\` continuations joined. */
function logicalLines(text: string): string[] {
  return text.replace(/\\\r?\n/g, " ").split(/\r?\n/)
    .map((line) => line.replace(/(^|\s)#.*$/, "").trim())
    .filter((line) => line !== "");
}

/** `line` with pip's substitutions of `${NAME}` (set and not empty), each recorded in `used`. */
function expandVariables(line: string, used: Map<string, string>): string {
  return line.replace(VARIABLE, (text, name: string) => {
    const value = Deno.env.get(name) ?? "";
    used.set(name, value);
    return value || text;
  });
}

/**
 * A line as pip splits it (`break_args_options`): the requirement is the words
 * before the first that starts with `-`, the rest are options, split as a shell
 * would. The options are undefined when pip would not accept them.
 */
function splitLine(line: string): { requirement: string; options?: GivenOption[] } {
  const words = line.split(" ");
  const first = words.findIndex((word) => word.startsWith("-"));
  const requirement = words.slice(0, first < 0 ? undefined : first).join(" ").trim();
  if (first < 0) return { requirement, options: [] };
  const optionWords = shellWords(words.slice(first).join(" "));
  return { requirement, options: optionWords && parseOptions(optionWords) };
}

/** Options as Python's optparse reads them for pip; undefined for one it would refuse. */
function parseOptions(words: string[]): GivenOption[] | undefined {
  const given: GivenOption[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    if (word === "--") break;
    if (!word.startsWith("-") || word === "-") continue; // a stray argument, which pip ignores
    const long = word.startsWith("--");
    const equals = long ? word.indexOf("=") : -1;
    const spec = long
      ? longOption(equals < 0 ? word : word.slice(0, equals))
      : OPTIONS.find((option) => option.short === word.slice(0, 2));
    if (!spec) return undefined;
    let value = long
      ? (equals < 0 ? undefined : word.slice(equals + 1))
      : (word.length > 2 ? word.slice(2) : undefined);
    if (!spec.value) {
      if (value !== undefined) return undefined;
      given.push({ name: spec.long, values: [] });
      continue;
    }
    value ??= words[++i];
    if (value === undefined) return undefined;
    const attached = !long && word.length > 2 && value.startsWith("=");
    given.push({ name: spec.long, values: attached ? [value, value.slice(1)] : [value] });
  }
  return given;
}

/** A long option by its name or by a prefix of one name only, as optparse allows. */
function longOption(name: string): OptionSpec | undefined {
  const matches = OPTIONS.filter((option) => option.long.startsWith(name));
  return matches.find((option) => option.long === name) ??
    (matches.length === 1 ? matches[0] : undefined);
}

/** Words as Python's `shlex.split` makes them; undefined where it fails (an open quote). */
function shellWords(text: string): string[] | undefined {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\" && '"\\$`'.includes(text[i + 1] ?? "")) word += text[++i];
      else word += c;
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "\\") {
      if (i + 1 === text.length) return undefined;
      word = (word ?? "") + text[++i];
    } else {
      word ??= "";
      if (c === "'" || c === '"') quote = c;
      else word += c;
    }
  }
  if (quote !== undefined) return undefined;
  if (word !== undefined) words.push(word);
  return words;
}

/**
 * The local path a requirement installs from, told from a project name as pip
 * tells it: a `file:` URL, or text that looks like a path (a `/`, a leading
 * `.`) or ends like an archive. Extras and environment markers are not part
 * of it.
 */
function localTarget(requirement: string): string | undefined {
  const direct = DIRECT.exec(requirement.split(/\s*;/)[0]);
  if (direct) return /^file:/i.test(direct[3]) ? localPath(direct[3]) : undefined;
  // pip ends a URL's marker at "; " and a path's at ";".
  const text = URL_LIKE.test(requirement) ? requirement.split("; ")[0] : requirement.split(";")[0];
  const target = text.trim().replace(/\[[^\]]*\]$/, "");
  const path = localPath(target);
  if (path === undefined || path !== target) return path;
  return path.includes("/") || path.startsWith(".") || ARCHIVE.test(path) ? path : undefined;
}

function pushDefined(list: string[], value: string | undefined): void {
  if (value !== undefined) list.push(value);
}

/** The paths of `paths` that exist, or else the last, so that its absence is the error. */
async function presentOrLast(paths: string[]): Promise<string[]> {
  const present = [];
  for (const path of paths) if (await isPresent(path)) present.push(path);
  return present.length ? present : paths.slice(-1);
}

async function isPresent(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** PEP 503's normalised project name. */
function canonicalName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, "-");
}

function resolveBeside(file: string, relative: string): string {
  if (relative.startsWith("/")) return relative;
  const slash = file.lastIndexOf("/");
  return slash < 0 ? relative : `${file.slice(0, slash + 1)}${relative}`;
}
