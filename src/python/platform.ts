/**
 * An image's platform as pip's target options: an OCI platform
 * (`linux/arm64`) becomes the platform tags of the wheels that run there
 * (`manylinux2014_aarch64`, `manylinux_2_17_aarch64`), and a Python version
 * the ABI of its CPython (`3.12` → `cp312`).
 *
 * | OCI platform     | glibc (the default)                              | `libc: musl` (Alpine)                        |
 * | ---------------- | ------------------------------------------------ | -------------------------------------------- |
 * | `linux/amd64`    | `manylinux2014_x86_64`, `manylinux_2_17_x86_64`   | `musllinux_1_2_x86_64`, `musllinux_1_1_x86_64` |
 * | `linux/arm64`    | `manylinux2014_aarch64`, `manylinux_2_17_aarch64` | `musllinux_1_2_aarch64`, `musllinux_1_1_aarch64` |
 * | `linux/arm/v7`   | `manylinux2014_armv7l`, `manylinux_2_17_armv7l`   | `musllinux_1_2_armv7l`, `musllinux_1_1_armv7l` |
 * | `linux/386`      | `manylinux2014_i686`, `manylinux_2_17_i686`       | `musllinux_1_2_i686`, `musllinux_1_1_i686`   |
 * | `linux/ppc64le`  | `manylinux2014_ppc64le`, `manylinux_2_17_ppc64le` | `musllinux_1_2_ppc64le`, `musllinux_1_1_ppc64le` |
 * | `linux/s390x`    | `manylinux2014_s390x`, `manylinux_2_17_s390x`     | `musllinux_1_2_s390x`, `musllinux_1_1_s390x` |
 *
 * pip also accepts the older `manylinux2010` and `manylinux1` wheels for a
 * `manylinux2014` x86 tag. Any other platform is refused.
 *
 * @example
 * ```ts
 * import { pipPlatformTags, pipTargetTags } from "./platform.ts";
 * pipPlatformTags("linux/arm64"); // ["manylinux2014_aarch64", "manylinux_2_17_aarch64"]
 * pipTargetTags(["linux/amd64", "musllinux_1_2_x86_64"]); // OCI platforms mapped, tags kept
 * ```
 * @module
 */
import { UsageError } from "../errors/mod.ts";
import { formatPlatform, parsePlatform } from "../image/platform.ts";
import type { Platform } from "../oci/types.ts";

/** The C library of the target image: glibc (manylinux wheels) or musl (Alpine, musllinux). */
export type Libc = "glibc" | "musl";

/** The C libraries {@linkcode Libc} names, for a parser. */
export const LIBCS: readonly Libc[] = ["glibc", "musl"];

/** The wheels' name of each architecture an OCI platform may have (`arm` only as `v7`). */
const WHEEL_ARCH: Record<string, string> = {
  amd64: "x86_64",
  arm64: "aarch64",
  "arm/v7": "armv7l",
  "386": "i686",
  ppc64le: "ppc64le",
  s390x: "s390x",
};

/**
 * The pip platform tags of an OCI platform's wheels (see the module's table).
 *
 * @throws {UsageError} for a platform that is not Linux, or an architecture without wheels.
 * @example
 * ```ts
 * import { pipPlatformTags } from "./platform.ts";
 * pipPlatformTags({ os: "linux", architecture: "amd64" });
 * // ["manylinux2014_x86_64", "manylinux_2_17_x86_64"]
 * pipPlatformTags("linux/arm64", "musl"); // ["musllinux_1_2_aarch64", "musllinux_1_1_aarch64"]
 * ```
 */
export function pipPlatformTags(platform: Platform | string, libc: Libc = "glibc"): string[] {
  const parsed = typeof platform === "string" ? parsePlatform(platform) : platform;
  const key = parsed.architecture === "arm"
    ? `arm/${parsed.variant ?? "v7"}`
    : parsed.architecture === "aarch64"
    ? "arm64"
    : parsed.architecture === "x86_64"
    ? "amd64"
    : parsed.architecture;
  const arch = WHEEL_ARCH[key];
  if (parsed.os !== "linux" || arch === undefined) {
    throw new UsageError(
      `no Python wheel platform tags for ${formatPlatform(parsed)}: ` +
        `ocisync maps linux/${Object.keys(WHEEL_ARCH).join(", linux/")}`,
      { hint: "give pip's platform tags instead, e.g. manylinux2014_x86_64" },
    );
  }
  return libc === "musl"
    ? [`musllinux_1_2_${arch}`, `musllinux_1_1_${arch}`]
    : [`manylinux2014_${arch}`, `manylinux_2_17_${arch}`];
}

/**
 * Whether a `--platform` value is an OCI platform (`os/arch[/variant]`) rather than a pip tag.
 *
 * @example
 * ```ts
 * import { isOciPlatform } from "./platform.ts";
 * isOciPlatform("linux/arm64"); // true
 * isOciPlatform("manylinux2014_aarch64"); // false
 * ```
 */
export function isOciPlatform(value: string): boolean {
  return value.includes("/");
}

/**
 * The pip platform tags of `values`, each an OCI platform (mapped by
 * {@linkcode pipPlatformTags}) or a pip tag (kept as it is), in order and
 * without repeats: what `deps --platform` accepts.
 *
 * @throws {UsageError} for an OCI platform that has no wheel tags, or is malformed.
 * @example
 * ```ts
 * import { pipTargetTags } from "./platform.ts";
 * pipTargetTags(["linux/arm64"]); // ["manylinux2014_aarch64", "manylinux_2_17_aarch64"]
 * pipTargetTags(["manylinux2014_x86_64"]); // ["manylinux2014_x86_64"]
 * ```
 */
export function pipTargetTags(values: string[], libc: Libc = "glibc"): string[] {
  const tags = values.flatMap((value) =>
    isOciPlatform(value) ? pipPlatformTags(value, libc) : [value]
  );
  return [...new Set(tags)];
}

/**
 * CPython's ABI tag for a Python version: `3.12` → `cp312`, `3.9` → `cp39`.
 *
 * @throws {UsageError} for a version that is not `3.X` (or `3.X.Y`).
 * @example
 * ```ts
 * import { cpythonAbi } from "./platform.ts";
 * cpythonAbi("3.12"); // "cp312"
 * ```
 */
export function cpythonAbi(pythonVersion: string): string {
  const match = /^(\d+)\.(\d+)(?:\.\d+)?$/.exec(pythonVersion.trim());
  if (!match) {
    throw new UsageError(`invalid Python version "${pythonVersion}": expected X.Y, e.g. 3.12`);
  }
  return `cp${match[1]}${match[2]}`;
}

/** pip's target options for one image platform. */
export interface PipTarget {
  /** The platform tags, `--platform` each. */
  platforms: string[];
  /** The implementation, `--implementation`: `cp` unless given. */
  implementation: string;
  /** The ABIs, `--abi` each: CPython's of `pythonVersion` when it is known and the implementation is `cp`. */
  abi?: string[];
}

/**
 * pip's target options for an image of `platform` running `pythonVersion`
 * of `implementation` (default `cp`): what a multi-platform build installs
 * each platform's dependency layer with.
 *
 * @throws {UsageError} as {@linkcode pipPlatformTags} and {@linkcode cpythonAbi} do.
 * @example
 * ```ts
 * import { pipTarget } from "./platform.ts";
 * pipTarget("linux/arm64", { pythonVersion: "3.12" });
 * // { platforms: ["manylinux2014_aarch64", "manylinux_2_17_aarch64"],
 * //   implementation: "cp", abi: ["cp312"] }
 * ```
 */
export function pipTarget(
  platform: Platform | string,
  options: { pythonVersion?: string; implementation?: string; libc?: Libc } = {},
): PipTarget {
  const implementation = options.implementation ?? "cp";
  return {
    platforms: pipPlatformTags(platform, options.libc),
    implementation,
    ...(options.pythonVersion && implementation === "cp"
      ? { abi: [cpythonAbi(options.pythonVersion)] }
      : {}),
  };
}

/**
 * What pip takes from the host for whatever the target options leave out: the tags of the
 * Python that runs it and of the machine, as pip names them in wheel file names.
 */
export interface HostTags {
  /** The interpreter and its ABI: `cp312-cp312`, `cp313-cp313t` (free-threaded), `pp310-pypy310_pp73`. */
  python: string;
  /** The OS, architecture and C library: `manylinux_2_36_x86_64`, `musllinux_1_2_aarch64`, `macosx_14_0_arm64`. */
  platform: string;
}

/**
 * Which of the host's tags pip falls back on for a target: the Python's unless its version,
 * implementation and ABI are all given (pip fills in any of them from the interpreter it runs
 * on), and the platform's unless platform tags are given. None for a target that says it all, as
 * an OCI platform with a Python version does once mapped.
 *
 * @example
 * ```ts
 * import { hostTagsUsed } from "./platform.ts";
 * hostTagsUsed({}); // ["python", "platform"]
 * hostTagsUsed({ platforms: ["manylinux2014_x86_64"] }); // ["python"]
 * hostTagsUsed({
 *   pythonVersion: "3.12",
 *   platforms: ["manylinux2014_aarch64"],
 *   implementation: "cp",
 *   abi: ["cp312"],
 * }); // []
 * ```
 */
export function hostTagsUsed(
  target: { pythonVersion?: string; platforms?: string[]; implementation?: string; abi?: string[] },
): (keyof HostTags)[] {
  const used: (keyof HostTags)[] = [];
  if (!(target.pythonVersion && target.implementation && target.abi?.length)) used.push("python");
  if (!target.platforms?.length) used.push("platform");
  return used;
}
