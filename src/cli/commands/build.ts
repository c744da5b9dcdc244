/**
 * `ocisync build [-f ocisync.yaml]`: the whole recipe in one command, from
 * dependency and code layers to a pushed image.
 *
 * @module
 */
import type { ParsedArgs } from "../args.ts";
import { positiveInteger, sourceDateEpoch } from "../common.ts";
import { registryOptions } from "../registry_flags.ts";
import { type Output, quotedLines } from "../output.ts";
import { transferDisplay } from "../progress.ts";
import { libcOption, warnUnpinned } from "./deps.ts";
import { parsePlatforms, platformList } from "../platforms.ts";
import { reportPush } from "./push.ts";
import { buildImage, readRecipe, recipeTags } from "../../build/mod.ts";
import { formatPlatform } from "../../image/platform.ts";
import { parseReference, registryOf } from "../../ref/mod.ts";
export { buildSpec } from "../specs.ts";

/** Runs `build`. */
export async function build(args: ParsedArgs, out: Output): Promise<void> {
  const { options } = args;
  // The flags are checked before the recipe is read, so that a bad value is named first.
  const concurrency = positiveInteger(options.concurrency as string | undefined, "--concurrency");
  const given = platformList(options);
  const platforms = given && parsePlatforms(given);
  const libc = libcOption(options);
  const recipe = await readRecipe(options.file as string | undefined ?? "ocisync.yaml");
  if (options.image) recipe.image = parseReference(options.image as string);
  recipe.tags.push(...(options.tag as string[] | undefined ?? []));
  // Checked before a password is read or anything installed; buildImage checks them again.
  recipeTags(recipe);
  const targets = await registryOptions(options, out, registryOf(recipe.image, recipe.base));
  const dryRun = options["dry-run"] === true;
  const display = transferDisplay(out, "uploaded");
  try {
    const result = await buildImage(recipe, {
      targets,
      dryRun,
      platforms,
      libc,
      mtime: sourceDateEpoch(),
      cache: options["no-cache"] !== true,
      installerCommand: options["installer-command"] as string | undefined,
      concurrency,
      onBlob: display.listener,
      onStep: display.step,
      onDetail: (message) => out.verbose(message),
      onInstallerOutput: (line) => quotedLines([line]).forEach((quoted) => out.verbose(quoted)),
    });
    display.close();
    warnUnpinned(out, result.unpinned);
    for (const layer of result.layers) {
      const cached = layer.cached === undefined ? "" : layer.cached ? " (cached)" : " (installed)";
      const platform = layer.platform ? ` for ${formatPlatform(layer.platform)}` : "";
      out.verbose(`${layer.kind} ${layer.dest}${platform}: ${layer.descriptor.digest}${cached}`);
    }
    const stats = { pushed: 0, skipped: 0, mounted: 0, bytes: 0 };
    reportPush(
      out,
      result.reference,
      result.tags,
      result.index
        ? {
          digest: result.digest,
          platforms: result.platforms!.map((image) => ({
            platform: formatPlatform(image.platform),
            digest: image.digest,
            layers: image.image.blobs.map((blob) => blob.descriptor),
          })),
          stats: result.indexPush?.stats ?? stats,
        }
        : {
          digest: result.digest,
          manifest: result.image.manifest.descriptor,
          config: result.image.config.descriptor,
          layers: result.image.blobs.map((blob) => blob.descriptor),
          stats: result.push?.stats ?? stats,
        },
      dryRun,
    );
  } finally {
    display.close();
  }
}
