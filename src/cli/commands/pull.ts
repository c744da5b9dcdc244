/**
 * `ocisync pull REF [-o DIR]`: an image's files, or an artifact's, into a
 * folder, from a registry or an `oci:` layout.
 *
 * @module
 */
import type { CommandSpec, OptionSpec, ParsedArgs } from "../args.ts";
import { DEFAULT_MAX_ENTRIES } from "../../unpack/mod.ts";
import { openSession, OUTPUT_OPTIONS, platformOption, REGISTRY_OPTIONS } from "../common.ts";
import { explainError, type Output } from "../output.ts";
import { transferDisplay } from "../progress.ts";
import { parseSize, parseWholeNumber, POSITIVE_BOUNDS } from "../../units/mod.ts";
import { formatPlatform, hostPlatform } from "../../image/platform.ts";
import { pull as pullInto } from "../../pull/mod.ts";
import { formatReference, parseReference } from "../../ref/mod.ts";
import { resolveReference } from "../../target/mod.ts";

/** The default limit on what a pull may decompress: a decompression bomb stops here. */
export const DEFAULT_MAX_EXTRACT_SIZE = "32GiB";

/** `--max-entries N`, for `pull` and `sync`. */
export const MAX_ENTRIES_OPTION: OptionSpec = {
  name: "max-entries",
  type: "string",
  value: "N",
  description: "the most tar entries the layers may hold",
  default: String(DEFAULT_MAX_ENTRIES),
};

/** The value of `--max-entries`: a whole number, 1 or more. */
export function parseMaxEntries(options: ParsedArgs["options"]): number {
  const text = options["max-entries"] as string | undefined;
  return text === undefined
    ? DEFAULT_MAX_ENTRIES
    : parseWholeNumber(text, "--max-entries", POSITIVE_BOUNDS);
}

/** The spec of `pull`. */
export const pullSpec: CommandSpec = {
  name: "pull",
  summary: "pull an image's files, or an artifact's, into a folder",
  usage: "ocisync pull REF [-o DIR] [--platform OS/ARCH]",
  positionals: [1, 1],
  options: [
    {
      name: "output",
      short: "o",
      type: "string",
      value: "DIR",
      description: "where to write",
      default: ".",
    },
    {
      name: "platform",
      type: "string",
      value: "OS/ARCH",
      description: "the platform to choose from an index",
      default: "the host's",
    },
    {
      name: "delete",
      type: "boolean",
      description:
        "make DIR exactly the image, deleting what else it holds (without it, a folder with content is merged into and keeps every path the image does not have)",
    },
    {
      name: "force",
      type: "boolean",
      description: "allow DIR to be / or the root of a mounted file system",
    },
    {
      name: "max-extract-size",
      type: "string",
      value: "SIZE",
      description: "the most bytes the layers may decompress to",
      default: DEFAULT_MAX_EXTRACT_SIZE,
    },
    MAX_ENTRIES_OPTION,
    ...REGISTRY_OPTIONS,
    ...OUTPUT_OPTIONS,
  ],
  examples: [
    "ocisync pull oci:./bundle:v1 -o ./flows",
    "ocisync pull oci:./bundle:v1 -o ./flows --delete",
    "ocisync pull ghcr.io/acme/flows:v1 -o /opt/prefect/flows --json",
    "ocisync pull localhost:5000/app@sha256:… --platform linux/arm64 -o ./rootfs",
  ],
};

/** Runs `pull`. */
export async function pull(args: ParsedArgs, out: Output): Promise<void> {
  const { options } = args;
  const reference = parseReference(args.positionals[0]);
  const directory = options.output as string | undefined ?? ".";
  const platform = platformOption(options) ?? hostPlatform();
  const maxExtractSize = parseSize(
    options["max-extract-size"] as string | undefined ?? DEFAULT_MAX_EXTRACT_SIZE,
    "--max-extract-size",
  );
  await using session = await openSession(options, out);
  const target = await session.open(reference);
  const display = transferDisplay(out, "pulled");
  try {
    const descriptor = await resolveReference(target, reference);
    const result = await pullInto(target, descriptor, directory, {
      platform,
      maxExtractSize,
      maxEntries: parseMaxEntries(options),
      replace: options.delete === true,
      allowMountRoot: options.force === true,
      onBlob: display.listener,
    }).catch((error) => {
      // Some OS errors name no path (a temporary folder beside DIR): say which pull it was.
      throw explainError(error, `pull into ${directory}`);
    });
    display.close();
    const name = formatReference({ ...reference, tag: undefined, digest: undefined });
    out.result({
      human: [
        `pulled ${name}@${result.digest} into ${directory}`,
        ...(result.digest !== result.resolvedDigest
          ? [`  platform ${formatPlatform(platform)} of index ${result.resolvedDigest}`]
          : []),
        `  ${result.kind === "artifact" ? "files" : "entries"}: ${result.files.join(", ")}`,
      ].join("\n"),
      json: {
        reference: formatReference(reference),
        digest: result.digest,
        resolvedDigest: result.resolvedDigest,
        kind: result.kind,
        directory,
        files: result.files,
        ...(result.stats ? { stats: result.stats } : {}),
      },
      quiet: `${name}@${result.digest}`,
    });
  } finally {
    display.close();
  }
}
