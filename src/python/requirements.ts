/**
 * Reads a pip requirements file the way the dependency cache needs it: the
 * bytes of the file and of every file it includes (`-r`, `-c`), and the
 * requirements that are not pinned to one exact version.
 *
 * @example
 * ```ts
 * import { readRequirements } from "./requirements.ts";
 * const input = await readRequirements("requirements.txt");
 * if (input.unpinned.length) console.error(`not pinned: ${input.unpinned.join(", ")}`);
 * ```
 * @module
 */
import { NotFoundError, OcisyncError } from "../errors/mod.ts";

/** A requirements file as read: the main file first, then the files it includes. */
export interface RequirementsInput {
  /** Each file read, with its bytes, in the order pip reads them. */
  files: { path: string; bytes: Uint8Array }[];
  /** Requirements that may resolve to another version tomorrow, as written. */
  unpinned: string[];
}

/** `-r FILE` and `-c FILE`, in their long and `=` forms. */
const INCLUDE = /^(-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+)(\S+)$/;
/** `name[extras] == version` or `=== version`: exactly one version, no wildcard. */
const PINNED = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*===?\s*[^\s,;*]+$/;
/** `name[extras] @ URL`, a direct reference. */
const DIRECT = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*@\s*(\S+)$/;
/** A bare name, which a constraints file may pin. */
const NAME = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?$/;

/**
 * Reads a requirements file and the files it includes, relative to the file
 * that names them, as pip does. A requirement counts as pinned when it names
 * one exact version (`==1.2.3`, `===1.2.3`), when a constraints file pins its
 * name so, or when it is a direct URL carrying a hash (`#sha256=…` or
 * `--hash`). Everything else (ranges, bare names, editable installs, URLs
 * without a hash) is reported as unpinned.
 *
 * @throws {NotFoundError} when a file does not exist.
 * @example
 * ```ts
 * import { readRequirements } from "./requirements.ts";
 * const { files, unpinned } = await readRequirements("requirements.txt");
 * console.log(files.length, unpinned);
 * ```
 */
export async function readRequirements(path: string): Promise<RequirementsInput> {
  const files: RequirementsInput["files"] = [];
  const candidates: { text: string; name?: string }[] = [];
  const constrained = new Set<string>();
  const read = async (file: string, constraints: boolean, seen: string[]) => {
    if (seen.includes(file)) return;
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(file);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new NotFoundError(`no such requirements file: ${file}`);
      }
      throw new OcisyncError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
    }
    files.push({ path: file, bytes });
    for (const line of logicalLines(new TextDecoder().decode(bytes))) {
      const include = INCLUDE.exec(line);
      if (include) {
        const nested = include[2];
        if (nested.includes("://")) {
          candidates.push({ text: line });
          continue;
        }
        const isConstraints = include[1] === "-c" || include[1] === "--constraint";
        await read(resolveBeside(file, nested), isConstraints, [...seen, file]);
        continue;
      }
      if (/^-e\b|^--editable\b/.test(line)) {
        candidates.push({ text: line });
        continue;
      }
      if (line.startsWith("-")) continue; // index and install options, not requirements
      const requirement = line.replace(/\s--hash[=\s]\S+/g, "").split(";")[0].trim();
      const pinned = PINNED.exec(requirement);
      if (pinned && constraints) constrained.add(canonicalName(pinned[1]));
      if (pinned || constraints) continue;
      const direct = DIRECT.exec(requirement);
      if (direct && (/#sha256=/.test(direct[3]) || /\s--hash[=\s]/.test(line))) continue;
      candidates.push({ text: requirement, name: NAME.exec(requirement)?.[1] });
    }
  };
  await read(path, false, []);
  const unpinned = candidates
    .filter((c) => c.name === undefined || !constrained.has(canonicalName(c.name)))
    .map((c) => c.text);
  return { files, unpinned };
}

/** Lines without comments and blank lines, with `\` continuations joined. */
function logicalLines(text: string): string[] {
  return text.replace(/\\\r?\n/g, " ").split(/\r?\n/)
    .map((line) => line.replace(/(^|\s)#.*$/, "").trim())
    .filter((line) => line !== "");
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
