/**
 * `ocisync pack SRC -o FILE`: one deterministic layer from a folder.
 *
 * @module
 */
import { stepProgress, transferDisplay } from "../progress.ts";
import type { ParsedArgs } from "../args.ts";
import { compressionOption, sourceDateEpoch, streamOutput } from "../common.ts";
import { formatBytes, type Output } from "../output.ts";
import { UsageError } from "../../errors/mod.ts";
import { writeLayerFile } from "../../layer/mod.ts";
import { packSpec } from "../specs.ts";
export { packSpec } from "../specs.ts";

/** Runs `pack`. */
export async function pack(args: ParsedArgs, out: Output): Promise<void> {
  const { options } = args;
  const output = options.output as string | undefined;
  if (!output) throw new UsageError("pack needs -o FILE", { hint: `usage: ${packSpec.usage}` });
  const compression = compressionOption(options);
  const destination = await streamOutput(output, out, "ocisync pack SRC -o - > layer.tar.gz");
  const display = transferDisplay(destination.out, "packed");
  // Packing is the whole command: its line is for a terminal, not a status line in a log.
  const step = destination.out.interactive
    ? stepProgress(display, `packing ${args.positionals[0]}`)
    : undefined;
  step?.started();
  let layer;
  try {
    layer = await writeLayerFile(args.positionals[0], destination.path, {
      prefix: options.prefix as string | undefined,
      exclude: options.exclude as string[] | undefined,
      compression,
      mtime: sourceDateEpoch(options.mtime as string | undefined),
      onProgress: step?.progress,
    });
    step?.done();
  } finally {
    display.close();
  }
  destination.out.result({
    human: [
      `${output}`,
      `  mediaType ${layer.mediaType}`,
      `  digest    ${layer.digest}`,
      `  diffId    ${layer.diffId}`,
      `  size      ${formatBytes(layer.size)} (${layer.size} bytes)`,
      `  entries   ${layer.entries}`,
    ].join("\n"),
    json: { path: output, ...layer },
    quiet: layer.digest,
  });
}
