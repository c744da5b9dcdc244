/**
 * `ocisync copy SRC DST`: between registries and `oci:` layouts, digests
 * preserved; the air-gapped workflow.
 *
 * @module
 */
import { parsePlatforms, platformList } from "../platforms.ts";
import type { ParsedArgs } from "../args.ts";
import { openSession, positiveInteger } from "../common.ts";
import { formatBytes, type Output } from "../output.ts";
import { transferDisplay } from "../progress.ts";
import { collectBlobs, copyImage, type CopyResult, copyTags } from "../../copy/mod.ts";
import { UsageError } from "../../errors/mod.ts";
import { formatPlatform, hostPlatform } from "../../image/platform.ts";
import type { Target } from "../../oci/target.ts";
import type { Descriptor } from "../../oci/types.ts";
import { formatReference, parseReference, type Reference } from "../../ref/mod.ts";
import { destinationTags, resolveReference } from "../../target/mod.ts";
import { tagPolicyOption } from "../options.ts";
import { resolveTagPolicy } from "../../sync/policy.ts";
import { verifiedJson, verifierOption } from "./verify.ts";
export { copySpec } from "../specs.ts";

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
  const policy = tagPolicyOption(options);
  if (policy && allTags) {
    throw new UsageError("--all-tags copies every tag: --semver and --tag-regex pick one");
  }
  // Every value is checked before the destination is opened: opening a layout creates it.
  const list = platformList(options);
  const given = list && parsePlatforms(list);
  // A docker-archive holds one platform: of an index, the host's unless one is given.
  const toDockerArchive = destinationRef.kind === "archive" && destinationRef.format === "docker";
  const platforms = given ?? (toDockerArchive ? [hostPlatform()] : undefined);
  if (toDockerArchive && given === undefined) {
    out.info(`a docker-archive holds one platform: ${formatPlatform(platforms![0])} (the host's)`);
  }
  const skipRef = options["skip-blobs-in"] === undefined
    ? undefined
    : parseReference(options["skip-blobs-in"] as string);
  if (skipRef && !(destinationRef.kind === "archive" && destinationRef.format === "oci")) {
    throw new UsageError("--skip-blobs-in writes a delta: DST must be an oci-archive:FILE", {
      hint: "ocisync copy SRC oci-archive:delta.tar --skip-blobs-in REF",
    });
  }
  // Keys and the trusted root are read before any request.
  const verifier = await verifierOption(options);
  const concurrency = positiveInteger(options.concurrency as string | undefined, "--concurrency");
  // One session for both ends: within one registry they share its challenge and tokens.
  await using session = await openSession(options, out);
  const skipBlobs = skipRef ? await blobsOf(await session.open(skipRef), skipRef) : undefined;
  const source = await session.open(sourceRef);
  const destination = await session.open(destinationRef, { create: true });
  const display = transferDisplay(out, "copied");
  const copyOptions = {
    platforms,
    skipBlobs,
    referrers: options.referrers === true,
    signatures: options.signatures === true,
    verifier,
    concurrency,
    onBlob: display.listener,
  };
  try {
    const copied: Copied[] = [];
    if (allTags) {
      const done = await copyTags(source, destination, source.tags(), {
        ...copyOptions,
        onCopied: (tag, result) => out.info(`copied ${tag} ${result.digest}`),
      });
      for (const { tag, digest, result } of done) {
        copied.push(result ? { tag, digest, result } : { tag, digest, skipped: true });
      }
    } else {
      let picked: string | undefined;
      let descriptor;
      if (policy) {
        ({ tag: picked, descriptor } = await resolveTagPolicy(source, sourceRef, policy));
      } else {
        descriptor = await resolveReference(source, sourceRef);
      }
      // The destination's tag, else the source's (or the one the policy picked); a copy by
      // digest alone tags nothing.
      const tags = destinationRef.tag
        ? [destinationRef.tag]
        : sourceRef.tag
        ? [sourceRef.tag]
        : picked
        ? [picked]
        : sourceRef.digest || destinationRef.digest
        ? []
        : destinationTags(destinationRef);
      const result = await copyImage(source, descriptor, destination, tags, copyOptions);
      if (result.sourceIndex) {
        out.info(
          `copied ${platforms?.length} platforms: the new index is ${result.digest}, not the ` +
            `source's ${result.sourceIndex}`,
        );
      } else if (platforms && result.digest !== descriptor.digest) {
        out.info(
          `copied one platform: the digest is ${result.digest}, not the index's ${descriptor.digest}`,
        );
      }
      if (result.expected?.length) {
        out.info(
          `left out ${result.expected.length} blob(s) that ${
            skipRef && formatReference(skipRef)
          } ` +
            "has; the archive lists them as expected",
        );
      }
      copied.push({ tag: tags[0], digest: result.digest, result, picked });
    }
    display.close();
    report(out, sourceRef, destinationRef, copied);
  } finally {
    display.close();
  }
}

/**
 * The digests of the blobs and manifests of `ref` in `target`: its image when it names one,
 * else every tag's (and a layout's or archive's untagged entries).
 */
async function blobsOf(target: Target, ref: Reference): Promise<Set<string>> {
  let roots: Descriptor[];
  if (ref.tag || ref.digest) {
    roots = [await resolveReference(target, ref)];
  } else if ("listEntries" in target && typeof target.listEntries === "function") {
    roots = await (target.listEntries as () => Promise<Descriptor[]>)();
  } else {
    roots = [];
    for await (const tag of target.tags()) roots.push(await target.resolve(tag));
  }
  return await collectBlobs(target, roots);
}

/** One image a copy handled. */
interface Copied {
  /** The destination's tag. */
  tag?: string;
  digest: string;
  skipped?: boolean;
  result?: CopyResult;
  /** The source tag that --semver or --tag-regex picked. */
  picked?: string;
}

function report(
  out: Output,
  sourceRef: Reference,
  destinationRef: Reference,
  copied: Copied[],
): void {
  const total = {
    copied: 0,
    skipped: 0,
    mounted: 0,
    bytes: 0,
    manifests: 0,
    referrers: 0,
    signatures: 0,
  };
  for (const { result } of copied) {
    if (!result) continue;
    total.copied += result.stats.pushed;
    total.skipped += result.stats.skipped;
    total.mounted += result.stats.mounted;
    total.bytes += result.stats.bytes;
    total.manifests += result.manifests;
    total.referrers += result.referrers;
    total.signatures += result.signatures;
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
      ...(total.signatures > 0 ? [`  signatures ${total.signatures} copied`] : []),
      ...(copied.some((c) => c.result?.verified)
        ? [`  verified at the source: ${copied.filter((c) => c.result?.verified).length}`]
        : []),
    ].join("\n"),
    json: {
      source: formatReference(sourceRef),
      destination: formatReference(destinationRef),
      digest: last?.digest ?? null,
      ...(last?.result?.sourceIndex ? { sourceIndex: last.result.sourceIndex } : {}),
      images: copied.map((c) => {
        const verified = verifiedJson(c.result?.verified);
        return {
          tag: c.tag ?? null,
          digest: c.digest,
          skipped: !!c.skipped,
          ...(c.picked ? { sourceTag: c.picked } : {}),
          ...(c.result?.sourceIndex ? { sourceIndex: c.result.sourceIndex } : {}),
          ...(c.result?.expected ? { expectedBlobs: c.result.expected.map((d) => d.digest) } : {}),
          ...(verified ? { verified } : {}),
        };
      }),
      blobsCopied: total.copied,
      blobsSkipped: total.skipped,
      blobsMounted: total.mounted,
      bytes: total.bytes,
      manifests: total.manifests,
      referrers: total.referrers,
      signatures: total.signatures,
    },
    quiet: last ? `${name}@${last.digest}` : "",
  });
}
