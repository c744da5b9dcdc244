/**
 * `ocisync deps -r requirements.txt -o deps.tar.gz`: Python dependencies as
 * one deterministic layer, installed for the target image's platform.
 *
 * @module
 */
import { transferDisplay } from "../progress.ts";
import type { CommandSpec, OptionSpec, ParsedArgs } from "../args.ts";
import {
  COMPRESSION_OPTION,
  compressionOption,
  OUTPUT_OPTIONS,
  sourceDateEpoch,
} from "../common.ts";
import { formatBytes, type Output } from "../output.ts";
import { layerOutput, packSpec } from "./pack.ts";
import { UsageError } from "../../errors/mod.ts";
import {
  buildDepsLayer,
  DEFAULT_DEPS_PREFIX,
  INSTALLER_COMMAND_ENV,
  type InstallerChoice,
} from "../../python/mod.ts";

const INSTALLERS = ["auto", "pip", "uv"];

/** One of `pack`'s options: the layer is written as `pack` writes it. */
function packOption(name: string): OptionSpec {
  return packSpec.options.find((option) => option.name === name)!;
}

/** The spec of `deps`. */
export const depsSpec: CommandSpec = {
  name: "deps",
  summary: "install Python dependencies into a layer",
  usage: "ocisync deps -r requirements.txt -o FILE [--python-version V] [--platform TAG]...",
  positionals: [0, 0],
  options: [
    {
      name: "requirements",
      short: "r",
      type: "string",
      value: "FILE",
      description: "the requirements file",
    },
    packOption("output"),
    {
      name: "prefix",
      type: "string",
      value: "PATH",
      description: "where the packages land in the image",
      default: DEFAULT_DEPS_PREFIX,
    },
    {
      name: "python-version",
      type: "string",
      value: "X.Y",
      description: "the target image's Python",
      default: "the installer's",
    },
    {
      name: "platform",
      type: "list",
      value: "TAG",
      description: "a platform tag of the target, e.g. manylinux2014_x86_64",
    },
    {
      name: "implementation",
      type: "string",
      value: "IMPL",
      description: "the target's Python implementation, e.g. cp",
    },
    { name: "index-url", type: "string", value: "URL", description: "the package index" },
    { name: "extra-index-url", type: "list", value: "URL", description: "another index" },
    {
      name: "find-links",
      type: "list",
      value: "URL",
      description: "a folder or page of archives",
    },
    { name: "no-index", type: "boolean", description: "use no index, only --find-links" },
    {
      name: "installer",
      type: "string",
      value: "NAME",
      description: "pip, uv, or auto: uv when it is on PATH",
      default: "auto",
    },
    {
      name: "installer-command",
      type: "string",
      value: "CMD",
      description: "run the installer as CMD, e.g. 'python3.12 -m pip'",
      default: `$${INSTALLER_COMMAND_ENV}, else python3 -m pip or uv`,
    },
    { name: "no-cache", type: "boolean", description: "install again, ignoring the cache" },
    COMPRESSION_OPTION,
    packOption("mtime"),
    ...OUTPUT_OPTIONS,
  ],
  examples: [
    "ocisync deps -r requirements.txt -o deps.tar.gz",
    "ocisync deps -r requirements.txt -o deps.tar.gz --python-version 3.12 " +
    "--platform manylinux2014_x86_64 --implementation cp",
    "ocisync deps -r requirements.txt -o deps.tar.gz --no-index --find-links ./wheels --json",
  ],
};

/** Runs `deps`. */
export async function deps(args: ParsedArgs, out: Output): Promise<void> {
  const { options } = args;
  const requirements = options.requirements as string | undefined;
  const output = options.output as string | undefined;
  if (!requirements || !output) {
    throw new UsageError("deps needs -r FILE and -o FILE", { hint: `usage: ${depsSpec.usage}` });
  }
  const compression = compressionOption(options);
  const installer = (options.installer as string | undefined ?? "auto") as InstallerChoice;
  if (!INSTALLERS.includes(installer)) {
    throw new UsageError(`--installer must be one of ${INSTALLERS.join(", ")}`);
  }
  const destination = await layerOutput(output, out);
  const display = transferDisplay(destination.out, "packed");
  const layer = await buildDepsLayer(requirements, destination.path, {
    prefix: options.prefix as string | undefined,
    pythonVersion: options["python-version"] as string | undefined,
    platforms: options.platform as string[] | undefined,
    implementation: options.implementation as string | undefined,
    indexUrl: options["index-url"] as string | undefined,
    extraIndexUrls: options["extra-index-url"] as string[] | undefined,
    findLinks: options["find-links"] as string[] | undefined,
    noIndex: options["no-index"] === true,
    installer,
    installerCommand: options["installer-command"] as string | undefined,
    // The cache copies the layer back from the output, which a fifo or a device cannot give.
    cache: options["no-cache"] !== true && destination.mode === "replace",
    compression,
    mtime: sourceDateEpoch(options.mtime as string | undefined),
    onOutput: (line) => out.verbose(line),
    onStep: display.step,
  }).finally(() => display.close());
  warnUnpinned(out, layer.unpinned);
  const { cached, installer: installedBy, unpinned, ...description } = layer;
  destination.out.result({
    human: [
      `${output}${cached ? " (from the cache)" : ""}`,
      `  mediaType ${layer.mediaType}`,
      `  digest    ${layer.digest}`,
      `  diffId    ${layer.diffId}`,
      `  size      ${formatBytes(layer.size)} (${layer.size} bytes)`,
      `  entries   ${layer.entries}`,
      `  installer ${installedBy}`,
    ].join("\n"),
    json: { path: output, ...description, cached, installer: installedBy, unpinned },
    quiet: layer.digest,
  });
}

/**
 * Warns that requirements without one exact version make the layer change
 * over time, naming them.
 *
 * @example
 * ```ts
 * import { warnUnpinned } from "./deps.ts";
 * import { Output } from "../output.ts";
 * warnUnpinned(new Output({}), ["requests>=2"]);
 * ```
 */
export function warnUnpinned(out: Output, unpinned: string[]): void {
  if (unpinned.length === 0) return;
  out.warn(
    `not pinned with ==, so this layer cannot be reproduced over time: ${unpinned.join(", ")}`,
  );
}
