/**
 * Python dependencies as one deterministic layer: install a requirements
 * file with pip (or uv) into a staging folder, for the target image's
 * platform; remove what differs between machines and runs (see
 * {@linkcode normalizeInstall}); and pack the result as `pack` does, under
 * `/opt/ocisync/deps` by default.
 *
 * Layers are cached by what determines them, so an unchanged input reuses
 * the layer without running the installer. The cache key covers:
 *
 * - the bytes of the requirements file and of the files it includes, and
 *   the values of the `${NAME}` variables they use;
 * - the target options (Python version, platforms, implementation) and the
 *   index options (index URLs, no-index), as given;
 * - what pip takes from this machine where the target options leave it
 *   open (see `hostTagsUsed` of `./platform.ts`): the wheel tags of the
 *   installer's Python (version, implementation, ABI) and of the platform
 *   (OS, architecture, C library), so that a cache shared by an x86_64 and
 *   an arm64 host never gives one the other's wheels;
 * - what local find-links hold, the options' and the requirements files'
 *   (each file directly in a folder, by name, size and sha256, under the
 *   folder's real path), and the local archives that requirements name
 *   (`./dist/x.whl`, `name @ file:///x.whl`);
 * - the installer, its command's version, and the `PIP_*` and `UV_*`
 *   environment settings;
 * - the layer options (prefix, compression, mtime) and the version of the
 *   normalisation rules.
 *
 * It does not cover what an index or a remote find-links page serves: with
 * unpinned requirements, a cached layer may be older than what a fresh
 * install would pick. Use `cache: false` (`--no-cache`) to reinstall. A
 * requirement that installs a local folder (`./pkg`, `-e .`), or an option
 * that pip's requirements files do not have, makes the layer uncached: it is
 * neither read from nor written to the cache.
 *
 * @example
 * ```ts
 * import { buildDepsLayer } from "./mod.ts";
 * const layer = await buildDepsLayer("requirements.txt", "deps.tar.gz", {
 *   pythonVersion: "3.12",
 *   platforms: ["manylinux2014_x86_64"],
 * });
 * console.log(layer.digest, layer.cached, layer.unpinned);
 * ```
 * @module
 */
import type { Compression } from "../compress/mod.ts";
import { sha256Digest } from "../digest/mod.ts";
import { explainOsError } from "../errors/os.ts";
import { type Layer, normalizePrefix, writeLayerFile } from "../layer/mod.ts";
import { cacheKey, defaultCacheDir, LayerCache } from "./cache.ts";
import { DEFAULT_DEPS_PREFIX } from "./defaults.ts";
import {
  findInstaller,
  hostTags,
  type InstallerChoice,
  installerPython,
  type InstallOptions,
  runInstaller,
} from "./installer.ts";
import { normalizeInstall } from "./normalize.ts";
import { makeWorkFolder } from "../fs/interrupted.ts";
import {
  cpythonAbi,
  type HostTags,
  hostTagsUsed,
  isOciPlatform,
  type Libc,
  pipTargetTags,
} from "./platform.ts";
import { type LocalContent, localContent, localPath } from "./local.ts";
import { readRequirements, type RequirementsInput } from "./requirements.ts";
import { type StepListener, StepReporter } from "../progress/mod.ts";

export { cacheKey, defaultCacheDir, LayerCache } from "./cache.ts";
export { DEFAULT_DEPS_PREFIX, INSTALLER_COMMAND_ENV } from "./defaults.ts";
export {
  findInstaller,
  hostTags,
  installArgs,
  type Installer,
  type InstallerChoice,
  type InstallerName,
  installerPython,
  type InstallOptions,
  runInstaller,
} from "./installer.ts";
export { normalizeInstall, type NormalizeResult, PORTABLE_SHEBANG } from "./normalize.ts";
export {
  cpythonAbi,
  type HostTags,
  hostTagsUsed,
  isOciPlatform,
  type Libc,
  LIBCS,
  pipPlatformTags,
  type PipTarget,
  pipTarget,
  pipTargetTags,
} from "./platform.ts";
export { type LocalContent, localContent, type LocalFile, localPath } from "./local.ts";
export { readRequirements, type RequirementsInput } from "./requirements.ts";
// Re-exported so that this module's documentation is complete on its own.
export type { Compression } from "../compress/mod.ts";
export type { Digest } from "../digest/mod.ts";
export type { Layer } from "../layer/mod.ts";

/** Bump when a normalisation rule changes, so that older cache entries stop matching. */
const RULES_VERSION = 1;

/**
 * Options of {@linkcode buildDepsLayer}. `platforms` takes pip's tags
 * (`manylinux2014_aarch64`) and OCI platforms (`linux/arm64`) alike: an OCI
 * platform is mapped to its wheels' tags by `pipPlatformTags` (of `./platform.ts`,
 * for `libc`), and then, unless given, `implementation` is `cp` and `abi` is
 * CPython's of `pythonVersion`.
 */
export interface DepsOptions extends Omit<InstallOptions, "requirements" | "target"> {
  /** The target image's C library, for OCI platforms in `platforms`. Default glibc. */
  libc?: Libc;
  /** Where the packages land in the image. Default {@linkcode DEFAULT_DEPS_PREFIX}. */
  prefix?: string;
  /** The steps, for a progress display: installing, then packing the packages. */
  onStep?: StepListener;
  /** The layer's compression. Default gzip. */
  compression?: Compression;
  /** The mtime of every entry. Default 0. */
  mtime?: number;
  /** pip, uv, or `auto` (uv when on PATH). Default `auto`. */
  installer?: InstallerChoice;
  /** Replaces the installer's command, e.g. `python3.12 -m pip`. */
  installerCommand?: string;
  /** Read and write the cache. Default true. */
  cache?: boolean;
  /** The cache folder. Default {@linkcode defaultCacheDir}. */
  cacheDir?: string;
  /**
   * The output is a scratch file, only read, then removed (a build's work file): a cached layer
   * may then be linked there rather than copied, and a new one linked into the cache
   * (`scratch` of `LayerCache.get` and `LayerCache.put`).
   */
  scratchOutput?: boolean;
  /** Cache writes that failed, one line each: the layer is built all the same. */
  onDetail?: (message: string) => void;
}

/** A dependency layer, and how it was made. */
export interface DepsLayer extends Layer {
  /** Whether the layer came from the cache, without running the installer. */
  cached: boolean;
  /** The installer and its version, e.g. `pip 24.0 (python 3.11)`. */
  installer: string;
  /** Requirements not pinned to one version: the layer may change over time. */
  unpinned: string[];
}

/**
 * Installs `requirements` and packs the result into the layer file `output`.
 * A failing installer leaves no output file, and its error is the error's
 * message.
 *
 * @example
 * ```ts
 * import { buildDepsLayer } from "./mod.ts";
 * const layer = await buildDepsLayer("requirements.txt", "deps.tar.gz", {
 *   noIndex: true,
 *   findLinks: ["./wheels"],
 * });
 * ```
 */
export async function buildDepsLayer(
  requirements: string,
  output: string,
  options: DepsOptions = {},
): Promise<DepsLayer> {
  options = withPipTarget(options);
  const input = await readRequirements(requirements);
  // The installer's Python tells its version and the host's tags (one run of it, see
  // `pythonFacts`) while the local archives are hashed: a cache hit waits for the longer.
  const [installer, host, local] = await Promise.all([
    findInstaller(options.installer, options.installerCommand),
    hostInputs(options),
    localInputs(input, options.findLinks),
  ]);
  const layerOptions = {
    prefix: normalizePrefix(options.prefix ?? DEFAULT_DEPS_PREFIX),
    compression: options.compression ?? "gzip",
    mtime: options.mtime ?? 0,
  };
  const uncacheable = local.uncacheable ?? host.uncacheable;
  const cache = options.cache === false || uncacheable
    ? undefined
    : new LayerCache(`${options.cacheDir ?? defaultCacheDir()}/deps`);
  const key = cacheKey({
    rules: RULES_VERSION,
    requirements: input.files.map((file) => sha256Digest(file.bytes)),
    // The ABIs only when given, so that the keys of layers built without them stay as they were.
    target: [options.pythonVersion, options.platforms, options.implementation].concat(
      options.abi?.length ? [options.abi] : [],
    ),
    // Only when the target leaves some to the host, so that the keys of full targets stay as they were.
    ...(host.tags ? { host: host.tags } : {}),
    index: [options.indexUrl, options.extraIndexUrls, local.findLinks, options.noIndex],
    installer: [installer.name, installer.version],
    environment: installerEnvironment(),
    layer: layerOptions,
    // Only when there is any, so that the keys of layers without them stay as they were.
    ...(local.read ? { read: local.read } : {}),
  });
  const install = new StepReporter(
    options.onStep,
    `install:${output}`,
    `installing ${requirements}${uncacheable ? ` (not cached: ${uncacheable})` : ""}`,
  );
  const hit = await cache?.get(key, output, { scratch: options.scratchOutput });
  if (hit) {
    install.done(`${install.label} (cached)`);
    return { ...hit, cached: true, installer: installer.version, unpinned: input.unpinned };
  }

  await using work = makeWorkFolder("ocisync-deps-");
  const staging = work.path;
  install.started();
  await runInstaller(installer, { ...options, requirements, target: staging });
  install.done();
  await normalizeInstall(staging);
  const pack = new StepReporter(options.onStep, `pack:${output}`, `packing its packages`);
  pack.started();
  const layer = await writeLayerFile(staging, output, {
    ...layerOptions,
    onProgress: pack.progress,
  });
  pack.done();
  // A cache that cannot be written (a full disk) costs the next build an install, not this one
  // its layer.
  await cache?.put(key, output, layer, { scratch: options.scratchOutput }).catch((error) => {
    options.onDetail?.(`cannot cache ${output}: ${(explainOsError(error) as Error).message}`);
  });
  return { ...layer, cached: false, installer: installer.version, unpinned: input.unpinned };
}

/** What an install reads from this machine besides the requirements files, for the cache key. */
interface LocalInputs {
  /** The find-links option, each local one as what it holds; undefined when not given. */
  findLinks?: (string | LocalContent)[];
  /** The files' own local find-links, local archives and variables, when there are any. */
  read?: { findLinks: LocalContent[]; archives: LocalContent[]; variables: [string, string][] };
  /** Why the layer must not be cached, when it must not. */
  uncacheable?: string;
}

/**
 * Describes the local files that `input` and the find-links option make the
 * installer read. A requirement that is a folder makes the layer uncacheable:
 * it is a source tree, built by a backend the index serves, and its key would
 * need every file of the tree. So does an unknown option, whose effect is unknown.
 */
async function localInputs(
  input: RequirementsInput,
  findLinks: string[] | undefined,
): Promise<LocalInputs> {
  const folder = await firstFolder(input.localPaths);
  const uncacheable = folder !== undefined
    ? `installs the folder ${folder}`
    : input.unknownOptions.length
    ? `unknown option in ${input.unknownOptions[0]}`
    : undefined;
  if (uncacheable) return { uncacheable };
  const keyed = (link: string) => {
    const path = localPath(link);
    return path === undefined ? link : localContent(path);
  };
  const read = {
    findLinks: await Promise.all(input.findLinks.map(localContent)),
    archives: await Promise.all(input.localPaths.map(localContent)),
    variables: input.variables,
  };
  return {
    findLinks: findLinks && await Promise.all(findLinks.map(keyed)),
    read: Object.values(read).some((list) => list.length) ? read : undefined,
  };
}

async function firstFolder(paths: string[]): Promise<string | undefined> {
  for (const path of paths) {
    if ((await Deno.stat(path).catch(() => undefined))?.isDirectory) return path;
  }
  return undefined;
}

/** The host's tags that the install depends on, for the cache key. */
interface HostInputs {
  /** Those of the host's tags that pip falls back on; undefined when the target is given in full. */
  tags?: Partial<HostTags>;
  /** Why the layer must not be cached: the host's Python could not tell its tags. */
  uncacheable?: string;
}

/**
 * Asks the installer's Python for the host's tags that `options` leave pip to take from the
 * host (see {@linkcode hostTagsUsed}): only when there are any, and the cache is used.
 */
async function hostInputs(options: DepsOptions): Promise<HostInputs> {
  const used = hostTagsUsed(options);
  if (used.length === 0 || options.cache === false) return {};
  const python = installerPython(options.installerCommand);
  const host = await hostTags(python);
  if (!host) return { uncacheable: `\`${python.join(" ")}\` did not tell this host's wheel tags` };
  return { tags: Object.fromEntries(used.map((name) => [name, host[name]])) };
}

/** `options` with OCI platforms mapped to pip's tags, and pip's CPython target filled in. */
function withPipTarget(options: DepsOptions): DepsOptions {
  const given = options.platforms ?? [];
  if (!given.some(isOciPlatform)) return options;
  const implementation = options.implementation ?? "cp";
  return {
    ...options,
    platforms: pipTargetTags(given, options.libc),
    implementation,
    abi: options.abi ??
      (options.pythonVersion && implementation === "cp"
        ? [cpythonAbi(options.pythonVersion)]
        : undefined),
  };
}

/** The installers' environment settings, sorted: they change what gets installed. */
function installerEnvironment(): [string, string][] {
  return Object.entries(Deno.env.toObject())
    .filter(([name]) => name.startsWith("PIP_") || name.startsWith("UV_"))
    .sort(([a], [b]) => a < b ? -1 : 1);
}
