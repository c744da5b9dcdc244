/**
 * `ocisync copy SRC DST`: between registries and `oci:` layouts, digests
 * preserved; the air-gapped workflow.
 *
 * @module
 */
import type { CommandSpec, ParsedArgs } from "../args.ts";
import {
  openSession,
  OUTPUT_OPTIONS,
  platformOption,
  positiveInteger,
  REGISTRY_OPTIONS,
} from "../common.ts";
import { formatBytes, type Output } from "../output.ts";
import { transferDisplay } from "../progress.ts";
import { copyImage, type CopyResult } from "../../copy/mod.ts";
import { NotFoundError, UsageError } from "../../errors/mod.ts";
import type { Target } from "../../oci/target.ts";
import { formatReference, parseReference, type Reference } from "../../ref/mod.ts";
import { destinationTags, resolveReference } from "../../target/mod.ts";

/** The spec of `copy`. */
export const copySpec: CommandSpec = {
  name: "copy",
  summary: "copy an image between registries and oci: layouts, digests preserved",
  usage: "ocisync copy SRC DST [--all-tags] [--platform OS/ARCH] [--referrers]",
  positionals: [2, 2],
  options: [
    {
      name: "all-tags",
      short: "a",
      type: "boolean",
      description: "copy every tag of SRC's repository",
    },
    {
      name: "platform",
      type: "string",
      value: "OS/ARCH",
      description: "copy one platform of an index (the digest changes)",
    },
    {
      name: "referrers",
      type: "boolean",
      description: "also copy signatures and SBOMs that refer to it",
    },
    {
      name: "concurrency",
      type: "string",
      value: "N",
      description: "blobs transferred at once",
      default: "4",
    },
    ...REGISTRY_OPTIONS,
    ...OUTPUT_OPTIONS,
  ],
  examples: [
    "ocisync copy registry.example.com/app:1 oci:./bundle:1",
    "ocisync copy oci:./bundle:1 internal.registry/app:1",
    "ocisync copy --all-tags ghcr.io/acme/app oci:./mirror",
  ],
};

/** Runs `copy`. */
export async function copy(args: ParsedArgs, out: Output): Promise<void> {
  const { options } = args;
  const sourceRef = parseReference(args.positionals[0]);
  const destinationRef = parseReference(args.positionals[1]);
  const allTags = options["all-tags"] === true;
  if (
    allTags && (sourceRef.tag || sourceRef.digest || destinationRef.tag || destinationRef.digest)
  ) {
    throw new UsageError("--all-tags copies a whole repository: give SRC and DST without tags");
  }
  // Every value is checked before the destination is opened: opening a layout creates it.
  const platform = platformOption(options);
  const concurrency = positiveInteger(options.concurrency as string | undefined, "--concurrency");
  // One session for both ends: within one registry they share its challenge and tokens.
  await using session = await openSession(options, out);
  const source = await session.open(sourceRef);
  const destination = await session.open(destinationRef, { create: true });
  const display = transferDisplay(out, "copied");
  const copyOptions = {
    platform,
    referrers: options.referrers === true,
    concurrency,
    onBlob: display.listener,
  };
  try {
    const copied: { tag?: string; digest: string; skipped?: boolean; result?: CopyResult }[] = [];
    if (allTags) {
      for await (const tag of source.tags()) {
        const descriptor = await source.resolve(tag);
        if ((await resolveOrUndefined(destination, tag))?.digest === descriptor.digest) {
          copied.push({ tag, digest: descriptor.digest, skipped: true });
          continue;
        }
        const result = await copyImage(source, descriptor, destination, [tag], copyOptions);
        out.info(`copied ${tag} ${result.digest}`);
        copied.push({ tag, digest: result.digest, result });
      }
    } else {
      const descriptor = await resolveReference(source, sourceRef);
      // The destination's tag, else the source's; a copy by digest alone tags nothing.
      const tags = destinationRef.tag
        ? [destinationRef.tag]
        : sourceRef.tag
        ? [sourceRef.tag]
        : sourceRef.digest || destinationRef.digest
        ? []
        : destinationTags(destinationRef);
      const result = await copyImage(source, descriptor, destination, tags, copyOptions);
      if (copyOptions.platform && result.digest !== descriptor.digest) {
        out.info(
          `copied one platform: the digest is ${result.digest}, not the index's ${descriptor.digest}`,
        );
      }
      copied.push({ tag: tags[0], digest: result.digest, result });
    }
    display.close();
    report(out, sourceRef, destinationRef, copied);
  } finally {
    display.close();
  }
}

function report(
  out: Output,
  sourceRef: Reference,
  destinationRef: Reference,
  copied: { tag?: string; digest: string; skipped?: boolean; result?: CopyResult }[],
): void {
  const total = { copied: 0, skipped: 0, mounted: 0, bytes: 0, manifests: 0, referrers: 0 };
  for (const { result } of copied) {
    if (!result) continue;
    total.copied += result.stats.pushed;
    total.skipped += result.stats.skipped;
    total.mounted += result.stats.mounted;
    total.bytes += result.stats.bytes;
    total.manifests += result.manifests;
    total.referrers += result.referrers;
  }
  const name = formatReference({ ...destinationRef, tag: undefined, digest: undefined });
  const last = copied[copied.length - 1];
  out.result({
    human: [
      ...copied.map((c) =>
        `${c.skipped ? "up to date" : "copied"} ${name}${c.tag ? `:${c.tag}` : ""}@${c.digest}`
      ),
      `  blobs ${total.copied} copied (${
        formatBytes(total.bytes)
      }), ${total.skipped} already there, ` +
      `${total.mounted} mounted`,
    ].join("\n"),
    json: {
      source: formatReference(sourceRef),
      destination: formatReference(destinationRef),
      digest: last?.digest ?? null,
      images: copied.map((c) => ({ tag: c.tag ?? null, digest: c.digest, skipped: !!c.skipped })),
      blobsCopied: total.copied,
      blobsSkipped: total.skipped,
      blobsMounted: total.mounted,
      bytes: total.bytes,
      manifests: total.manifests,
      referrers: total.referrers,
    },
    quiet: last ? `${name}@${last.digest}` : "",
  });
}

async function resolveOrUndefined(target: Target, tag: string) {
  try {
    return await target.resolve(tag);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}
