/**
 * `ocisync deps -r requirements.txt -o deps.tar.gz`: Python dependencies as
 * one deterministic layer, installed for the target image's platform.
 *
 * @module
 */
import { transferDisplay } from "../progress.ts";
import type { ParsedArgs } from "../args.ts";
import { compressionOption, sourceDateEpoch, streamOutput } from "../common.ts";
import { formatBytes, type Output, quotedLines } from "../output.ts";
import { UsageError } from "../../errors/mod.ts";
import { buildDepsLayer, type InstallerChoice, type Libc, LIBCS } from "../../python/mod.ts";
import { platformList } from "../platforms.ts";
import { depsSpec, INSTALLERS } from "../specs.ts";
export { depsSpec } from "../specs.ts";

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
  const destination = await streamOutput(output, out, "ocisync deps REQS -o - > deps.tar.gz");
  const display = transferDisplay(destination.out, "packed");
  const layer = await buildDepsLayer(requirements, destination.path, {
    prefix: options.prefix as string | undefined,
    pythonVersion: options["python-version"] as string | undefined,
    platforms: platformList(options),
    libc: libcOption(options),
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
    onOutput: (line) => quotedLines([line]).forEach((quoted) => out.verbose(quoted)),
    onStep: display.step,
    onDetail: (message) => out.verbose(message),
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
 * The C library `--libc` names; undefined when it is not given.
 *
 * @throws {UsageError} for anything but glibc or musl.
 * @example
 * ```ts
 * import { libcOption } from "./deps.ts";
 * libcOption({ libc: "musl" }); // "musl"
 * ```
 */
export function libcOption(options: ParsedArgs["options"]): Libc | undefined {
  const value = options.libc as string | undefined;
  if (value === undefined) return undefined;
  if (!(LIBCS as readonly string[]).includes(value)) {
    throw new UsageError(`--libc must be ${LIBCS.join(" or ")}, not ${value}`);
  }
  return value as Libc;
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
