/**
 * Runs a Python package installer, pip or uv, into a staging folder, for the
 * platform of the target image rather than the build host's.
 *
 * @example
 * ```ts
 * import { findInstaller, runInstaller } from "./installer.ts";
 * const installer = await findInstaller("pip");
 * await runInstaller(installer, { requirements: "requirements.txt", target: "/tmp/staging" });
 * ```
 * @module
 */
import { NotFoundError, OcisyncError, UsageError } from "../errors/mod.ts";
import { INSTALLER_COMMAND_ENV } from "./defaults.ts";
import { markProcess, unmarkProcess } from "../fs/interrupted.ts";
import type { HostTags } from "./platform.ts";

/** The installers ocisync can drive. */
export type InstallerName = "pip" | "uv";

/** Which installer to use: one by name, or `auto` (uv when it is on PATH, else pip). */
export type InstallerChoice = InstallerName | "auto";

/** An installer found on this machine. */
export interface Installer {
  /** Which command-line dialect it speaks. */
  name: InstallerName;
  /** The program and its first arguments, e.g. `["python3", "-m", "pip"]`. */
  command: string[];
  /** Its version, e.g. `pip 24.0 (python 3.11)`: part of the cache key. */
  version: string;
}

/** What to install, and for which target. */
export interface InstallOptions {
  /** The requirements file. */
  requirements: string;
  /** The empty folder to install into. */
  target: string;
  /** The target's Python version, e.g. `3.12`. */
  pythonVersion?: string;
  /** The target's platform tags, e.g. `manylinux2014_x86_64`. */
  platforms?: string[];
  /** The target's Python implementation, e.g. `cp`. */
  implementation?: string;
  /** The target's ABIs, e.g. `cp312` (pip's `--abi`; uv takes them from the Python version). */
  abi?: string[];
  /** The package index. */
  indexUrl?: string;
  /** More package indexes. */
  extraIndexUrls?: string[];
  /** Folders or pages of links to archives. */
  findLinks?: string[];
  /** Use no index at all: only `findLinks`. */
  noIndex?: boolean;
  /** Each line the installer prints, as it prints it. */
  onOutput?: (line: string) => void;
}

const DEFAULT_COMMANDS: Record<InstallerName, string[]> = {
  pip: ["python3", "-m", "pip"],
  uv: ["uv"],
};

/**
 * Finds the installer and asks for its version. `command` (else
 * `$OCISYNC_INSTALLER_COMMAND`), split on spaces, replaces the default
 * command: `python3 -m pip` for pip, `uv` for uv. With `auto`, an explicit
 * command is taken to be pip.
 *
 * @throws {NotFoundError} when the installer's program is not installed.
 * @example
 * ```ts
 * import { findInstaller } from "./installer.ts";
 * const pip = await findInstaller("pip", "python3.12 -m pip");
 * console.log(pip.version);
 * ```
 */
export async function findInstaller(
  choice: InstallerChoice = "auto",
  command: string | undefined = Deno.env.get(INSTALLER_COMMAND_ENV),
): Promise<Installer> {
  const given = givenCommand(command);
  let name: InstallerName = choice === "auto" ? "pip" : choice;
  if (choice === "auto" && !given && (await capture(["uv", "--version"])) !== undefined) {
    name = "uv";
  }
  const program = given ?? DEFAULT_COMMANDS[name];
  // pip run as a module is asked through Python (see PYTHON_FACTS_SCRIPT), anything else as is.
  const python = name === "pip" ? pipPython(program) : undefined;
  const text = python ? (await pythonFacts(python))?.pip : await capture([...program, "--version"]);
  if (text === undefined) {
    const asked = python ? program.join(" ") : `${program.join(" ")} --version`;
    throw new NotFoundError(`cannot run \`${asked}\`: deps needs ${name}`, {
      hint: name === "pip"
        ? "install python3 and pip (Debian: apt-get install python3-pip), or name another command"
        : "install uv, or use pip",
      option: name === "pip" ? "installerCommand" : "installer",
    });
  }
  return { name, command: program, version: versionOf(name, text) };
}

/**
 * The Python of an installer command that runs pip as a module (`python3.12` of `python3.12 -m
 * pip`); undefined for any other command (a wrapper script, a `pip` executable).
 */
function pipPython(words: string[]): string[] | undefined {
  const option = words.indexOf("-m");
  return option > 0 && words[option + 1] === "pip" ? words.slice(0, option) : undefined;
}

/** An installer command as given, split on spaces; undefined when it is blank. */
function givenCommand(command: string | undefined): string[] | undefined {
  return command?.trim() ? command.trim().split(/\s+/) : undefined;
}

/**
 * The Python that runs the installer, as a command: what precedes `-m pip` in the installer's
 * command (`python3.12` of `python3.12 -m pip`), else `python3`, the default pip's and the
 * first one on PATH, which uv finds too. `command` is as {@linkcode findInstaller} takes it.
 *
 * @example
 * ```ts
 * import { installerPython } from "./installer.ts";
 * installerPython("python3.12 -m pip"); // ["python3.12"]
 * installerPython("uv"); // ["python3"]
 * ```
 */
export function installerPython(
  command: string | undefined = Deno.env.get(INSTALLER_COMMAND_ENV),
): string[] {
  return pipPython(givenCommand(command) ?? []) ?? ["python3"];
}

/**
 * Prints, as JSON, what a build asks of the installer's Python, in one short run:
 * - `pip`: pip's version as `pip --version` tells it (`pip 24.0 from … (python 3.12)`, less the
 *   path), from `pip.__version__`, which is what `--version` prints; absent when pip is not
 *   there. `-m pip --version` loads pip's whole command line first: 0.3 to 0.5 s of Python on
 *   every build, cache hit or not, where this whole script takes a few tens of milliseconds.
 * - `python` and `platform`: the host's tags as pip sees them: the first tag pip accepts is the
 *   most specific one, and names what all the others derive from. Without pip (uv's Python), the
 *   facts such tags come from: the extension modules' ABI, the platform and the C library.
 */
const PYTHON_FACTS_SCRIPT = `
import json, sys
facts = {}
try:
    import pip
    facts["pip"] = "pip %s (python %d.%d)" % (pip.__version__, sys.version_info[0], sys.version_info[1])
except Exception:
    pass
try:
    from pip._vendor.packaging.tags import sys_tags
    tag = next(iter(sys_tags()))
    python, machine = tag.interpreter + "-" + tag.abi, tag.platform
except Exception:
    import platform, sysconfig
    python = str(sysconfig.get_config_var("SOABI") or sysconfig.get_config_var("EXT_SUFFIX"))
    machine = "-".join([sysconfig.get_platform()] + list(platform.libc_ver()) + [platform.mac_ver()[0]])
facts["python"], facts["platform"] = python, machine
print(json.dumps(facts))
`;

/** What {@linkcode PYTHON_FACTS_SCRIPT} tells of a Python. */
interface PythonFacts {
  /** pip's version, as `--version` tells it; undefined when that Python has no pip. */
  pip?: string;
  /** The host's tags; undefined when the answer held none. */
  tags?: HostTags;
}

/**
 * The runs of {@linkcode PYTHON_FACTS_SCRIPT} under way, by command: a build asks the
 * installer's version and the host's tags of one Python at once, and one run answers both (a
 * pyenv shim alone takes 0.3 s to start one). A run is forgotten once it ends, so that a later
 * question sees a pip upgraded meanwhile.
 */
const factsUnderWay = new Map<string, Promise<PythonFacts | undefined>>();

/**
 * What `python` tells of itself (see {@linkcode PYTHON_FACTS_SCRIPT}); undefined when it cannot
 * be run or answers something else.
 */
function pythonFacts(python: string[]): Promise<PythonFacts | undefined> {
  const key = JSON.stringify(python);
  let facts = factsUnderWay.get(key);
  if (facts === undefined) {
    facts = capture([...python, "-c", PYTHON_FACTS_SCRIPT]).then(parseFacts);
    factsUnderWay.set(key, facts);
    // Forgotten either way; a failure is the callers' to see, not an unhandled rejection here.
    const forget = () => factsUnderWay.delete(key);
    facts.then(forget, forget);
  }
  return facts;
}

/** The facts in a run's output (see {@linkcode pythonFacts}). */
function parseFacts(text: string | undefined): PythonFacts | undefined {
  let said;
  try {
    said = JSON.parse(text ?? "");
  } catch {
    return undefined;
  }
  if (typeof said !== "object" || said === null) return undefined;
  const { pip, python, platform } = said;
  return {
    pip: typeof pip === "string" ? pip : undefined,
    tags: typeof python === "string" && typeof platform === "string"
      ? { python, platform }
      : undefined,
  };
}

/**
 * Asks `python` (a command, see {@linkcode installerPython}) for the host's tags: one short run
 * of Python, which imports nothing of pip but its version and its tags, and also answers a
 * {@linkcode findInstaller} of that Python's pip asked meanwhile.
 *
 * @returns undefined when `python` cannot be run, or answers something else.
 * @example
 * ```ts
 * import { hostTags } from "./installer.ts";
 * await hostTags(["python3"]); // { python: "cp312-cp312", platform: "manylinux_2_36_x86_64" }
 * ```
 */
export async function hostTags(python: string[]): Promise<HostTags | undefined> {
  return (await pythonFacts(python))?.tags;
}

/** The stable part of `--version`: pip prints its own path, which differs between hosts. */
function versionOf(name: InstallerName, text: string): string {
  const pip = /pip (\S+).*\(python (\S+)\)/.exec(text);
  if (name === "pip" && pip) return `pip ${pip[1]} (python ${pip[2]})`;
  return text.trim().split("\n")[0];
}

/**
 * The arguments that install `options` with `installer`. pip gets
 * `install --target DIR --no-compile`; uv gets `pip install --target DIR`
 * (it does not compile unless asked). Any target option implies
 * `--only-binary :all:`, since a source build would run on the host.
 *
 * @throws {UsageError} for a target option that uv cannot express.
 * @example
 * ```ts
 * import { installArgs } from "./installer.ts";
 * installArgs("pip", { requirements: "r.txt", target: "/t", platforms: ["manylinux2014_x86_64"] });
 * ```
 */
export function installArgs(installer: InstallerName, options: InstallOptions): string[] {
  const args = installer === "pip"
    ? ["install", "--target", options.target, "--no-compile", "--disable-pip-version-check"]
    : ["pip", "install", "--target", options.target];
  args.push("-r", options.requirements);
  const platforms = options.platforms ?? [];
  const abis = options.abi ?? [];
  if (options.pythonVersion) args.push("--python-version", options.pythonVersion);
  if (installer === "pip") {
    for (const platform of platforms) args.push("--platform", platform);
    if (options.implementation) args.push("--implementation", options.implementation);
    for (const abi of abis) args.push("--abi", abi);
  } else {
    // Tags that mean one platform to uv (manylinux2014 and manylinux_2_17, two musllinux
    // versions) are one `--python-platform`, the first's.
    const uvPlatforms = new Map(platforms.map((tag) => [uvPlatformKey(tag), uvPlatform(tag)]));
    if (uvPlatforms.size > 1) {
      throw new UsageError("uv takes one platform tag", { hint: "use pip", option: "installer" });
    }
    if (platforms.length > 0) args.push("--python-platform", uvPlatform(platforms[0]));
    // uv installs for CPython only, and takes its ABI from the Python version.
    if (options.implementation && options.implementation !== "cp") {
      throw new UsageError("uv takes no implementation", { hint: "use pip", option: "installer" });
    }
    const own = options.pythonVersion?.replace(/^(\d+)\.(\d+).*$/, "cp$1$2");
    if (abis.some((abi) => abi !== own)) {
      throw new UsageError("uv takes no ABI", { hint: "use pip", option: "installer" });
    }
  }
  if (options.pythonVersion || platforms.length || options.implementation || abis.length) {
    args.push("--only-binary", ":all:");
  }
  if (options.indexUrl) args.push("--index-url", options.indexUrl);
  for (const url of options.extraIndexUrls ?? []) args.push("--extra-index-url", url);
  for (const link of options.findLinks ?? []) args.push("--find-links", link);
  if (options.noIndex) args.push("--no-index");
  return args;
}

/** What uv makes of a tag: `manylinux2014` is `manylinux_2_17`, and musllinux is one platform. */
function uvPlatformKey(tag: string): string {
  return uvPlatform(tag)
    .replace(/-manylinux2014$/, "-manylinux_2_17")
    .replace(/-manylinux2010$/, "-manylinux_2_12");
}

/** pip's platform tag as uv's `--python-platform`: `manylinux2014_x86_64` → `x86_64-manylinux2014`. */
function uvPlatform(tag: string): string {
  const match = /^(manylinux\d+|manylinux_\d+_\d+|musllinux_\d+_\d+|linux)_(x86_64|aarch64)$/
    .exec(tag);
  if (!match) {
    throw new UsageError(`uv cannot target the platform tag ${tag}`, {
      hint: "use pip",
      option: "installer",
    });
  }
  const [, family, arch] = match;
  if (family === "linux") return `${arch}-unknown-linux-gnu`;
  if (family.startsWith("musllinux")) return `${arch}-unknown-linux-musl`;
  return `${arch}-${family}`;
}

/**
 * Runs the installer. Its output goes to `options.onOutput` line by line.
 *
 * @throws {OcisyncError} carrying the installer's own error output when it fails.
 * @example
 * ```ts
 * import { findInstaller, runInstaller } from "./installer.ts";
 * await runInstaller(await findInstaller("pip"), {
 *   requirements: "requirements.txt",
 *   target: await Deno.makeTempDir(),
 *   noIndex: true,
 *   findLinks: ["./wheels"],
 * });
 * ```
 */
export async function runInstaller(installer: Installer, options: InstallOptions): Promise<void> {
  const [program, ...first] = installer.command;
  const child = new Deno.Command(program, {
    args: [...first, ...installArgs(installer.name, options)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // A group of its own, ended whole (pip runs builds of its own) when ocisync is stopped:
    // else it would go on writing into the target that the stop removes.
    detached: true,
  }).spawn();
  markProcess(child.pid);
  const errors: string[] = [];
  const forward = async (stream: ReadableStream<Uint8Array>, keep?: string[]) => {
    for await (const line of lines(stream)) {
      keep?.push(line);
      options.onOutput?.(line);
    }
  };
  const [status] = await Promise.all([
    child.status,
    forward(child.stdout),
    forward(child.stderr, errors),
  ]).finally(() => unmarkProcess(child.pid));
  if (!status.success) {
    // Its words are quoted apart from the message: a package's build prints what it likes.
    const said = errors.join("\n").trim();
    throw new OcisyncError(`${installer.name} failed with exit code ${status.code}`, {
      hint: said === ""
        ? "it said nothing on stderr; verbose output shows all it printed"
        : "above, the installer's own messages; verbose output shows all it printed",
      option: "verbose",
      ...(said === "" ? {} : { quoted: said.split("\n") }),
    });
  }
}

/** Runs a command and returns its stdout, or undefined when the program is missing or fails. */
async function capture(command: string[]): Promise<string | undefined> {
  try {
    const output = await new Deno.Command(command[0], {
      args: command.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return output.success ? new TextDecoder().decode(output.stdout) : undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let pending = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (pending + text).split(/\r?\n/);
    pending = parts.pop()!;
    yield* parts;
  }
  if (pending) yield pending;
}
