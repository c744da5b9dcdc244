/**
 * `ocisync pull REF [-o DIR]`: an image's files, or an artifact's, into a
 * folder, from a registry or an `oci:` layout.
 *
 * @module
 */
import type { ParsedArgs } from "../args.ts";
import { parseMaxEntries, platformOption } from "../common.ts";
import { openSession } from "../registry_flags.ts";
import { explainError, type Output } from "../output.ts";
import { transferDisplay } from "../progress.ts";
import { parseSize } from "../../units/mod.ts";
import { formatPlatform, hostPlatform } from "../../image/platform.ts";
import { pull as pullInto } from "../../pull/mod.ts";
import { formatReference, parseReference, registryOf } from "../../ref/mod.ts";
import { resolveToRead } from "../../target/mod.ts";
import { DEFAULT_MAX_EXTRACT_SIZE } from "../specs.ts";
import { tagPolicyOption } from "../options.ts";
import { escapeRemote, UsageError } from "../../errors/mod.ts";
import type { LayerOperation } from "../../pull/mod.ts";
import { signatureLines, verifiedJson, verifierOption } from "./verify.ts";
export { DEFAULT_MAX_EXTRACT_SIZE, MAX_ENTRIES_OPTION, pullSpec } from "../specs.ts";

/** The values of `--layer-media-type` and `--layer-operation`, checked. */
export function layerOptions(
  options: ParsedArgs["options"],
): { layerMediaTypes?: string[]; layerOperation?: LayerOperation } {
  const globs = options["layer-media-type"] as string[] | undefined;
  if (globs?.some((glob) => glob.trim() === "")) {
    throw new UsageError("--layer-media-type takes a media type or a glob, not an empty one");
  }
  const operation = options["layer-operation"] as string | undefined;
  if (operation !== undefined && operation !== "extract" && operation !== "copy") {
    throw new UsageError(`--layer-operation must be extract or copy, not "${operation}"`);
  }
  return {
    ...(globs?.length ? { layerMediaTypes: globs } : {}),
    ...(operation ? { layerOperation: operation } : {}),
  };
}

/** Runs `pull`. */
export async function pull(args: ParsedArgs, out: Output): Promise<void> {
  const { options } = args;
  const reference = parseReference(args.positionals[0]);
  const directory = options.output as string | undefined ?? ".";
  if (directory === "-") {
    // For pack and push, `-o -` is standard output; a pull writes a folder.
    throw new UsageError("pull writes a folder, not standard output: -o - names none", {
      hint: "give a folder; ./- for one named -",
    });
  }
  const platform = platformOption(options) ?? hostPlatform();
  const maxExtractSize = parseSize(
    options["max-extract-size"] as string | undefined ?? DEFAULT_MAX_EXTRACT_SIZE,
    "--max-extract-size",
  );
  const layers = layerOptions(options);
  const policy = tagPolicyOption(options);
  // Keys and the trusted root are read before any request.
  const verifier = await verifierOption(options);
  await using session = await openSession(options, out, registryOf(reference));
  const target = await session.open(reference);
  const display = transferDisplay(out, "pulled");
  try {
    let tag: string | undefined;
    let descriptor;
    if (policy) {
      // Loaded only for a policy: its semver parser is an npm package, slow to start.
      const { resolveTagPolicy } = await import("../../sync/policy.ts");
      ({ tag, descriptor } = await resolveTagPolicy(target, reference, policy));
    } else {
      // The manifest is read next: a registry answers both in one GET.
      descriptor = await resolveToRead(target, reference);
    }
    const result = await pullInto(target, descriptor, directory, {
      ...layers,
      verifier,
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
    const verified = verifiedJson(result.verified);
    out.result({
      human: [
        `pulled ${name}${tag ? `:${tag}` : ""}@${result.digest} into ${directory}`,
        ...(verified ? signatureLines(verified.signatures).map((line) => `  ${line}`) : []),
        ...(result.digest !== result.resolvedDigest
          ? [`  platform ${formatPlatform(platform)} of index ${result.resolvedDigest}`]
          : []),
        // Names from the image: each on this one line, its line breaks written out.
        `  ${result.kind === "artifact" ? "files" : "entries"}: ${
          result.files.map(escapeRemote).join(", ")
        }`,
      ].join("\n"),
      json: {
        reference: formatReference(reference),
        ...(tag ? { tag } : {}),
        digest: result.digest,
        resolvedDigest: result.resolvedDigest,
        kind: result.kind,
        directory,
        files: result.files,
        ...(result.stats ? { stats: result.stats } : {}),
        ...(verified ? { verified } : {}),
      },
      quiet: `${name}@${result.digest}`,
    });
  } finally {
    display.close();
  }
}
