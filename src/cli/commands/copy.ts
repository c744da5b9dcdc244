/**
 * `ocisync copy SRC... DST`: between registries, `oci:` layouts and archive
 * files, digests preserved; the air-gapped workflow. Several sources go into
 * one `oci-archive:` or `oci:` layout, each image under its own tag.
 *
 * @module
 */
import { platformChoice } from "../platforms.ts";
import type { ParsedArgs } from "../args.ts";
import { positiveInteger, streamOutput } from "../common.ts";
import { openSession } from "../registry_flags.ts";
import { formatBytes, type Output } from "../output.ts";
import { transferDisplay } from "../progress.ts";
import {
  blobsOfReferences,
  type CopiedImage,
  type CopyOptions,
  type CopyResult,
  copySource,
  type CopyTagsOptions,
  type PlannedSource,
  planSources,
} from "../../copy/mod.ts";
import { UsageError } from "../../errors/mod.ts";
import { formatPlatform, hostPlatform } from "../../image/platform.ts";
import { formatReference, parseReference, type Reference, registryOf } from "../../ref/mod.ts";
import { checkSeveralSources } from "../../target/mod.ts";
import { parseSize } from "../../units/mod.ts";
import { DEFAULT_MAX_EXTRACT_SIZE } from "../specs.ts";
import { tagPolicyOption, verifierFiles } from "../options.ts";
import type { verifiedJson } from "./verify.ts";
export { copySpec } from "../specs.ts";

/** Runs `copy`. */
export async function copy(args: ParsedArgs, reporting: Output): Promise<void> {
  const { options } = args;
  const references = args.positionals.map(parseReference);
  const destinationRef = references.pop()!;
  // An archive written to standard output: the report goes to stderr, not into the archive.
  const { out } = destinationRef.kind === "archive"
    ? await streamOutput(
      destinationRef.path,
      reporting,
      "ocisync copy SRC oci-archive:/dev/stdout > app.tar",
    )
    : { out: reporting };
  const sourceRefs = references;
  checkSeveralSources(sourceRefs, destinationRef);
  const allTags = options["all-tags"] === true;
  if (
    allTags &&
    (sourceRefs.some((ref) => ref.tag || ref.digest) || destinationRef.tag || destinationRef.digest)
  ) {
    throw new UsageError("--all-tags copies a whole repository: give SRC and DST without tags");
  }
  const policy = tagPolicyOption(options);
  if (policy && allTags) {
    throw new UsageError("--all-tags copies every tag: --semver and --tag-regex pick one");
  }
  // Every value is checked before the destination is opened: opening a layout creates it.
  // `all` is every platform: the whole index, as without the flag.
  const choice = platformChoice(options);
  // A docker-archive holds one platform: of an index, the host's unless the flag says.
  const toDockerArchive = destinationRef.kind === "archive" && destinationRef.format === "docker";
  if (toDockerArchive && choice === "all") {
    throw new UsageError("a docker-archive holds one platform: --platform all cannot go into it", {
      hint: "name one, e.g. --platform linux/amd64",
    });
  }
  const hostOnly = toDockerArchive && choice === undefined;
  const platforms = hostOnly ? [hostPlatform()] : choice === "all" ? undefined : choice;
  if (hostOnly) {
    out.info(`a docker-archive holds one platform: ${formatPlatform(platforms![0])} (the host's)`);
  }
  const skipRefs = (options["skip-blobs-in"] as string[] | undefined)?.map(parseReference);
  if (skipRefs && !(destinationRef.kind === "archive" && destinationRef.format === "oci")) {
    throw new UsageError("--skip-blobs-in writes a delta: DST must be an oci-archive:FILE", {
      hint: "ocisync copy SRC oci-archive:delta.tar --skip-blobs-in REF",
    });
  }
  const maxExtractSize = parseSize(
    options["max-extract-size"] as string | undefined ?? DEFAULT_MAX_EXTRACT_SIZE,
    "--max-extract-size",
  );
  // The tag policy (npm:semver) and the signature verifier (node:crypto, tweetnacl) load only
  // when their flags ask for them: a plain copy, often only mounts, starts faster without.
  const resolvePolicy = policy && (await import("../../sync/policy.ts")).resolveTagPolicy;
  const verify = Object.keys(verifierFiles(options)).length > 0
    ? await import("./verify.ts")
    : undefined;
  // Keys and the trusted root are read before any request.
  const verifier = await verify?.verifierOption(options);
  const concurrency = positiveInteger(options.concurrency as string | undefined, "--concurrency");
  // One session for every end: within one registry they share its challenge and tokens.
  await using session = await openSession(
    options,
    out,
    registryOf(destinationRef, ...sourceRefs, ...(skipRefs ?? [])),
  );
  const display = transferDisplay(out, "copied");
  try {
    // A failure anywhere drops what an archive staged: its file is left as it was.
    const copied = await session.discardOnFailure(async () => {
      const skipBlobs = skipRefs && await blobsOfReferences(session, skipRefs);
      const plans = await planSources(session, sourceRefs, destinationRef, {
        allTags,
        pick: policy && resolvePolicy && ((target, ref) => resolvePolicy(target, ref, policy)),
      });
      const destination = await session.open(destinationRef, { create: true, maxExtractSize });
      const copyOptions: CopyTagsOptions = {
        platforms,
        skipBlobs,
        referrers: options.referrers === true,
        signatures: options.signatures === true,
        verifier,
        concurrency,
        onBlob: display.listener,
        onCopied: (tag, result) => out.info(`copied ${tag} ${result.digest}`),
      };
      const copied: CopiedImage[] = [];
      for (const plan of plans) {
        const images = await copySource(plan, destination, copyOptions);
        if (!plan.allTags) explain(out, plan, images[0].result!, copyOptions, skipRefs);
        copied.push(...images);
      }
      return copied;
    });
    // An archive is written as the session closes: reported only once it is.
    await session.close();
    display.close();
    const describeVerified = verify &&
      ((image: CopiedImage) => {
        const each = image.result?.verifications ?? image.verifications;
        return verify.verifiedJson(image.result?.verified ?? each?.[0], each);
      });
    report(out, sourceRefs, destinationRef, copied, describeVerified);
  } finally {
    display.close();
  }
}

/** Says what a copy of one image changed: a platform's digest, blobs left out of a delta. */
function explain(
  out: Output,
  plan: PlannedSource,
  result: CopyResult,
  { platforms }: CopyOptions,
  skipRefs: Reference[] | undefined,
): void {
  const source = formatReference(plan.reference);
  if (result.sourceIndex) {
    out.info(
      `copied ${platforms?.length} platforms of ${source}: the new index is ${result.digest}, ` +
        `not the source's ${result.sourceIndex}`,
    );
  } else if (platforms && result.digest !== plan.descriptor!.digest) {
    out.info(
      `copied one platform of ${source}: the digest is ${result.digest}, not the index's ` +
        plan.descriptor!.digest,
    );
  }
  if (result.expected?.length) {
    const there = skipRefs!.map(formatReference).join(", ");
    out.info(
      `left out ${result.expected.length} blob(s) of ${source} that ${there} ` +
        `${skipRefs!.length === 1 ? "has" : "have"}; the archive lists them as expected`,
    );
  }
}

/**
 * Prints what the copy did. With several sources, each image says which it came from (`from` in
 * text, `source` in JSON, where `sources` lists them all), and `-q` prints one line per image.
 * `describeVerified` says what was verified, when a verifier was given.
 */
function report(
  out: Output,
  sourceRefs: Reference[],
  destinationRef: Reference,
  copied: CopiedImage[],
  describeVerified?: (image: CopiedImage) => ReturnType<typeof verifiedJson>,
): void {
  const several = sourceRefs.length > 1;
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
        `${c.leftOut ? "left out" : c.result ? "copied" : "up to date"} ` +
        `${name}${c.tag ? `:${c.tag}` : ""}@${c.digest}` + (several ? ` from ${c.source}` : "") +
        (c.leftOut ? `: ${c.leftOut}` : "")
      ),
      `  blobs ${total.copied} copied (${
        formatBytes(total.bytes)
      }), ${total.skipped} already there, ` +
      `${total.mounted} mounted`,
      ...(total.signatures > 0 ? [`  signatures ${total.signatures} copied`] : []),
      ...(describeVerified && copied.some((c) => describeVerified(c))
        ? [`  verified at the source: ${copied.filter((c) => describeVerified(c)).length}`]
        : []),
    ].join("\n"),
    json: {
      source: formatReference(sourceRefs[0]),
      ...(several ? { sources: sourceRefs.map(formatReference) } : {}),
      destination: formatReference(destinationRef),
      digest: last?.digest ?? null,
      ...(last?.result?.sourceIndex ? { sourceIndex: last.result.sourceIndex } : {}),
      images: copied.map((c) => {
        const verified = describeVerified?.(c);
        return {
          ...(several ? { source: c.source } : {}),
          tag: c.tag ?? null,
          digest: c.digest,
          skipped: !c.result,
          ...(c.picked ? { sourceTag: c.picked } : {}),
          ...(c.result?.sourceIndex ? { sourceIndex: c.result.sourceIndex } : {}),
          ...(c.result?.expected ? { expectedBlobs: c.result.expected.map((d) => d.digest) } : {}),
          ...(verified ? { verified } : {}),
          ...(c.leftOut ? { leftOut: c.leftOut } : {}),
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
    quiet: several
      ? copied.map((c) => `${name}@${c.digest}`).join("\n")
      : last
      ? `${name}@${last.digest}`
      : "",
  });
}
