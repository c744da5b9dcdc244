/**
 * Python wheels made for the tests with Python's own `zipfile`, so that pip
 * can install them offline with `--no-index --find-links`.
 *
 * @module
 */
import { runOk } from "./cli.ts";
import { requireTool } from "./tools.ts";

/** One wheel to write. */
export interface WheelSpec {
  /** The distribution name, e.g. `purepkg`. */
  name: string;
  /** Its version. */
  version: string;
  /** The compatibility tag, e.g. `py3-none-manylinux2014_x86_64`. Default `py3-none-any`. */
  tag?: string;
  /** Files by path inside the wheel; a string is UTF-8, an array is raw bytes. */
  files: Record<string, string | number[]>;
  /** Console scripts, `name: "module:function"`. */
  scripts?: Record<string, string>;
  /**
   * Files of this many pseudo-random bytes, like a native library's: seeded by
   * their path, so every run writes the same wheel.
   */
  blobs?: Record<string, number>;
}

/**
 * The fixtures: a pure package that ships a stray `.pyc`, one with a console
 * script, and a native-tagged package built for two architectures, whose
 * module says which one it is.
 */
export const FIXTURE_WHEELS: WheelSpec[] = [
  {
    name: "purepkg",
    version: "1.0",
    files: {
      "purepkg/__init__.py": "VALUE = 'pure'\n",
      "purepkg/__pycache__/__init__.cpython-311.pyc": [0xa7, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0],
    },
  },
  {
    name: "clitool",
    version: "2.0",
    files: { "clitool/__init__.py": "def main():\n    print('cli ok')\n" },
    scripts: { clitool: "clitool:main" },
  },
  ...["x86_64", "aarch64"].map((arch) => ({
    name: "nativepkg",
    version: "1.0",
    tag: `py3-none-manylinux2014_${arch}`,
    files: { "nativepkg/__init__.py": `ARCH = '${arch}'\n` },
  })),
];

const WRITER = `
import base64, hashlib, json, random, sys, zipfile
specs, out = json.load(sys.stdin), sys.argv[1]
for spec in specs:
    name, version = spec["name"], spec["version"]
    tag = spec.get("tag") or "py3-none-any"
    info = f"{name}-{version}.dist-info"
    files = {path: bytes(v) if isinstance(v, list) else v.encode() for path, v in spec["files"].items()}
    for path, size in (spec.get("blobs") or {}).items():
        files[path] = random.Random(path).randbytes(size)
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n".encode()
    purelib = "true" if tag.endswith("-any") else "false"
    files[f"{info}/WHEEL"] = (
        f"Wheel-Version: 1.0\\nGenerator: ocisync-tests\\nRoot-Is-Purelib: {purelib}\\nTag: {tag}\\n"
    ).encode()
    if spec.get("scripts"):
        lines = "".join(f"{k} = {v}\\n" for k, v in spec["scripts"].items())
        files[f"{info}/entry_points.txt"] = f"[console_scripts]\\n{lines}".encode()
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{info}/RECORD"] = ("\\n".join(record + [f"{info}/RECORD,,"]) + "\\n").encode()
    with zipfile.ZipFile(f"{out}/{name}-{version}-{tag}.whl", "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
`;

/**
 * Throws unless `python3 -m pip` runs, naming the Debian package to install.
 *
 * @example
 * ```ts
 * import { requirePip } from "./wheels.ts";
 * requirePip();
 * ```
 */
export function requirePip(): void {
  requireTool("python3", "python3");
  const pip = new Deno.Command("python3", {
    args: ["-m", "pip", "--version"],
    stdout: "null",
    stderr: "null",
  }).outputSync();
  if (!pip.success) {
    throw new Error("pip is not installed: run `apt-get install -y python3-pip` (or bash .ci/run)");
  }
}

/**
 * Writes `wheels` (default the fixtures) into `dir` and returns their file names.
 *
 * @example
 * ```ts
 * import { writeWheels } from "./wheels.ts";
 * const names = await writeWheels("/tmp/wheels");
 * ```
 */
export async function writeWheels(
  dir: string,
  wheels: WheelSpec[] = FIXTURE_WHEELS,
): Promise<string[]> {
  requireTool("python3", "python3");
  await Deno.mkdir(dir, { recursive: true });
  await runOk("python3", ["-c", WRITER, dir], { stdin: JSON.stringify(wheels) });
  return wheels.map((w) => `${w.name}-${w.version}-${w.tag ?? "py3-none-any"}.whl`);
}

/**
 * The recipe of a test project: `requirements.txt` installed by pip from the
 * wheels in `wheels/` only, and `flows/` packed at `/opt/prefect/flows`, with
 * `extra` YAML lines after them.
 *
 * @example
 * ```ts
 * import { offlineRecipe } from "./wheels.ts";
 * await Deno.writeTextFile("ocisync.yaml", offlineRecipe("oci:./layout:v1", ["tags: [latest]"]));
 * ```
 */
export function offlineRecipe(image: string, extra: string[] = []): string {
  return [
    `image: ${image}`,
    "layers:",
    "  - requirements: requirements.txt",
    "    installer: pip",
    "    no_index: true",
    "    find_links: [wheels]",
    "  - source: flows",
    "    dest: /opt/prefect/flows",
    ...extra,
    "",
  ].join("\n");
}

/**
 * A shell script that records each call's arguments in `log`, then runs
 * `python3 -m pip` with them: proof of whether the installer ran.
 *
 * @example
 * ```ts
 * import { recordingPip } from "./wheels.ts";
 * const pip = await recordingPip("/tmp/work");
 * ```
 */
export async function recordingPip(dir: string): Promise<{ command: string; log: string }> {
  const command = `${dir}/recording-pip`;
  const log = `${dir}/pip-calls.log`;
  await Deno.writeTextFile(
    command,
    `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec python3 -m pip "$@"\n`,
  );
  await Deno.chmod(command, 0o755);
  return { command, log };
}

/**
 * The calls a {@linkcode recordingPip} made that installed something.
 *
 * @example
 * ```ts
 * import { installCalls } from "./wheels.ts";
 * const calls = await installCalls("/tmp/work/pip-calls.log");
 * ```
 */
export async function installCalls(log: string): Promise<string[]> {
  const text = await Deno.readTextFile(log).catch(() => "");
  return text.split("\n").filter((line) => line.startsWith("install "));
}
