/**
 * `ocisync build [-f ocisync.yaml]`: the whole recipe in one command, from
 * dependency and code layers to a pushed image.
 *
 * @module
 */
import type { CommandSpec, ParsedArgs } from "../args.ts";
import {
  OUTPUT_OPTIONS,
  positiveInteger,
  REGISTRY_OPTIONS,
  registryOptions,
  sourceDateEpoch,
} from "../common.ts";
import type { Output } from "../output.ts";
import { transferDisplay } from "../progress.ts";
import { warnUnpinned } from "./deps.ts";
import { CONCURRENCY_OPTION, reportPush } from "./push.ts";
import { buildImage, readRecipe } from "../../build/mod.ts";
import { INSTALLER_COMMAND_ENV } from "../../python/mod.ts";
import { parseReference } from "../../ref/mod.ts";

/** The spec of `build`. */
export const buildSpec: CommandSpec = {
  name: "build",
  summary: "build and push an image from an ocisync.yaml recipe",
  usage: "ocisync build [-f ocisync.yaml] [--image REF] [--tag T]... [--dry-run]",
  positionals: [0, 0],
  options: [
    {
      name: "file",
      short: "f",
      type: "string",
      value: "FILE",
      description: "the recipe",
      default: "ocisync.yaml",
    },
    {
      name: "image",
      type: "string",
      value: "REF",
      description: "push here instead of the recipe's image",
    },
    { name: "tag", short: "t", type: "list", value: "TAG", description: "also tag the image TAG" },
    {
      name: "dry-run",
      type: "boolean",
      description: "push nothing; still install the dependencies (unless cached), pack the " +
        "code, read the base's manifest and config from its registry (unless pinned by digest " +
        "and read before) and show the digests",
    },
    { name: "no-cache", type: "boolean", description: "install dependencies again" },
    {
      name: "installer-command",
      type: "string",
      value: "CMD",
      description: "run the Python installer as CMD",
      default: `$${INSTALLER_COMMAND_ENV}`,
    },
    CONCURRENCY_OPTION,
    ...REGISTRY_OPTIONS,
    ...OUTPUT_OPTIONS,
  ],
  examples: [
    "ocisync build",
    "ocisync build -f deploy/ocisync.yaml --tag latest -q",
    "ocisync build --image oci:./bundle:dev --dry-run --json",
  ],
};

/** Runs `build`. */
export async function build(args: ParsedArgs, out: Output): Promise<void> {
  const { options } = args;
  // The flags are checked before the recipe is read, so that a bad value is named first.
  const concurrency = positiveInteger(options.concurrency as string | undefined, "--concurrency");
  const targets = await registryOptions(options, out);
  const recipe = await readRecipe(options.file as string | undefined ?? "ocisync.yaml");
  if (options.image) recipe.image = parseReference(options.image as string);
  recipe.tags.push(...(options.tag as string[] | undefined ?? []));
  const dryRun = options["dry-run"] === true;
  const display = transferDisplay(out, "uploaded");
  try {
    const result = await buildImage(recipe, {
      targets,
      dryRun,
      mtime: sourceDateEpoch(),
      cache: options["no-cache"] !== true,
      installerCommand: options["installer-command"] as string | undefined,
      concurrency,
      onBlob: display.listener,
      onStep: display.step,
      onDetail: (message) => out.verbose(message),
      onInstallerOutput: (line) => out.verbose(line),
    });
    display.close();
    warnUnpinned(out, result.unpinned);
    for (const layer of result.layers) {
      const cached = layer.cached === undefined ? "" : layer.cached ? " (cached)" : " (installed)";
      out.verbose(`${layer.kind} ${layer.dest}: ${layer.descriptor.digest}${cached}`);
    }
    reportPush(out, result.reference, result.tags, {
      digest: result.digest,
      manifest: result.image.manifest.descriptor,
      config: result.image.config.descriptor,
      layers: result.image.blobs.map((blob) => blob.descriptor),
      stats: result.push?.stats ?? { pushed: 0, skipped: 0, mounted: 0, bytes: 0 },
    }, dryRun);
  } finally {
    display.close();
  }
}
