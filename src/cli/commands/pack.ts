/**
 * `ocisync pack SRC -o FILE`: one deterministic layer from a folder.
 *
 * @module
 */
import type { CommandSpec, ParsedArgs } from "../args.ts";
import {
  COMPRESSION_OPTION,
  compressionOption,
  OUTPUT_OPTIONS,
  sourceDateEpoch,
} from "../common.ts";
import { formatBytes, type Output } from "../output.ts";
import { UsageError } from "../../errors/mod.ts";
import { writeLayerFile } from "../../layer/mod.ts";

/** The spec of `pack`. */
export const packSpec: CommandSpec = {
  name: "pack",
  summary: "build one deterministic layer from a folder",
  usage:
    "ocisync pack SRC -o FILE [--prefix PATH] [--exclude GLOB]... [--compression gzip|zstd|none]",
  positionals: [1, 1],
  options: [
    {
      name: "output",
      short: "o",
      type: "string",
      value: "FILE",
      description: "where to write the layer",
    },
    {
      name: "prefix",
      type: "string",
      value: "PATH",
      description: "where SRC lands in the layer",
      default: "/",
    },
    {
      name: "exclude",
      type: "list",
      value: "GLOB",
      description: "leave out paths that match (gitignore syntax)",
    },
    COMPRESSION_OPTION,
    {
      name: "mtime",
      type: "string",
      value: "EPOCH",
      description: "the mtime of every entry",
      default: "$SOURCE_DATE_EPOCH or 0",
    },
    ...OUTPUT_OPTIONS,
  ],
  examples: [
    "ocisync pack ./flows -o flows.tar.gz",
    "ocisync pack ./flows --prefix /opt/prefect/flows --exclude '*.log' -o flows.tar.zst --compression zstd",
    "SOURCE_DATE_EPOCH=1700000000 ocisync pack ./site -o site.tar --compression none --json",
  ],
};

/** Runs `pack`. */
export async function pack(args: ParsedArgs, out: Output): Promise<void> {
  const { options } = args;
  const output = options.output as string | undefined;
  if (!output) throw new UsageError("pack needs -o FILE", { hint: `usage: ${packSpec.usage}` });
  const compression = compressionOption(options);
  const layer = await writeLayerFile(args.positionals[0], output, {
    prefix: options.prefix as string | undefined,
    exclude: options.exclude as string[] | undefined,
    compression,
    mtime: sourceDateEpoch(options.mtime as string | undefined),
  });
  out.result({
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
