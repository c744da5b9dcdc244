/**
 * `ocisync pack SRC -o FILE`: one deterministic layer from a folder.
 *
 * @module
 */
import { stepProgress, transferDisplay } from "../progress.ts";
import type { ParsedArgs } from "../args.ts";
import { compressionOption, sourceDateEpoch } from "../common.ts";
import { formatBytes, type Output } from "../output.ts";
import { UsageError } from "../../errors/mod.ts";
import { destinationOf, type WriteMode } from "../../fs/atomic.ts";
import { writeLayerFile } from "../../layer/mod.ts";
import { packSpec } from "../specs.ts";
export { packSpec } from "../specs.ts";

/**
 * Where `-o VALUE` writes a layer, how (see `destinationOf`), and the output that reports it.
 * `-` is standard output, as for tar; when the layer goes to stdout (`-`, `/dev/stdout`), the
 * result is printed on stderr so that it does not corrupt the layer, and a terminal is refused.
 *
 * @throws {UsageError} when the layer would be written to a terminal.
 * @example
 * ```ts
 * import { layerOutput } from "./pack.ts";
 * import { Output } from "../output.ts";
 * const { path } = await layerOutput("flows.tar.gz", new Output({})); // "flows.tar.gz"
 * ```
 */
export async function layerOutput(
  value: string,
  out: Output,
): Promise<{ path: string; mode: WriteMode; out: Output }> {
  const path = value === "-" ? "/dev/stdout" : value;
  const { mode } = await destinationOf(path);
  if (mode !== "stdout") return { path, mode, out };
  if (Deno.stdout.isTerminal()) {
    throw new UsageError("refusing to write a layer to a terminal", {
      hint: "redirect standard output: ocisync pack SRC -o - > layer.tar.gz",
    });
  }
  return { path, mode, out: out.resultOnStderr() };
}

/** Runs `pack`. */
export async function pack(args: ParsedArgs, out: Output): Promise<void> {
  const { options } = args;
  const output = options.output as string | undefined;
  if (!output) throw new UsageError("pack needs -o FILE", { hint: `usage: ${packSpec.usage}` });
  const compression = compressionOption(options);
  const destination = await layerOutput(output, out);
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
