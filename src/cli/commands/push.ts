/**
 * `ocisync push REF SOURCE...`: an image from folders and layer files, or an
 * ORAS-style artifact with `--files`, to a registry or an `oci:` layout.
 *
 * @module
 */
import { platformChoice } from "../platforms.ts";
import type { ParsedArgs } from "../args.ts";
import { compressionOption, positiveInteger, sourceDateEpoch, streamOutput } from "../common.ts";
import { openSession } from "../registry_flags.ts";
import { formatBytes, type Output } from "../output.ts";
import { stepProgress, transferDisplay } from "../progress.ts";
import { NotFoundError, UsageError } from "../../errors/mod.ts";
import { appendPlan } from "../../image/append.ts";
import { createdAt } from "../../image/build.ts";
import { checkConfigEdits, type ConfigEdits } from "../../image/edit.ts";
import type { PreparedLayer } from "../../image/blob.ts";
import { imagePlan, type IndexPlan, indexPlan } from "../../image/plan.ts";
import { DEFAULT_PLATFORM, formatPlatform } from "../../image/platform.ts";
import { normalizePrefix } from "../../layer/mod.ts";
import type { Digest } from "../../digest/mod.ts";
import type { Descriptor, Index } from "../../oci/types.ts";
import { openBase, type OpenedBase } from "../../pull/read.ts";
import {
  appendToIndex,
  openBaseIndex,
  type OpenedBaseIndex,
  requireBasePlatforms,
  writeIndexPlan,
} from "../../push/index.ts";
import {
  type ArtifactFile,
  type LayerSource,
  OVERLAPPED_LAYER_MIN,
  planArtifact,
  startLayer,
} from "../../push/mod.ts";
import {
  type PushResult,
  type StartedLayer,
  type TransferStats,
  writePlan,
  writeStartedLayers,
} from "../../push/write.ts";
import {
  formatReference,
  parseReference,
  type Reference,
  registryOf,
  writtenPaths,
} from "../../ref/mod.ts";
import { isPushAuthenticator, type Target } from "../../oci/target.ts";
import { checkTags, destinationTags } from "../../target/mod.ts";
import { parseKeyValues, parseSize } from "../../units/mod.ts";
import { DEFAULT_ARTIFACT_TYPE, DEFAULT_MAX_EXTRACT_SIZE, pushSpec } from "../specs.ts";
import { makeWorkFolder } from "../../fs/interrupted.ts";
export { CONCURRENCY_OPTION, DEFAULT_ARTIFACT_TYPE, pushSpec } from "../specs.ts";

/** Runs `push`. */
export async function push(args: ParsedArgs, reporting: Output): Promise<void> {
  const { options } = args;
  const [refText, ...sources] = args.positionals;
  const baseText = options.base as string | undefined;
  if (sources.length === 0 && !baseText) {
    throw new UsageError("push needs at least one SOURCE", { hint: `usage: ${pushSpec.usage}` });
  }
  const reference = parseReference(refText);
  // An archive written to standard output: the report goes to stderr, not into the archive.
  const { out } = reference.kind === "archive"
    ? await streamOutput(
      reference.path,
      reporting,
      "ocisync push oci-archive:/dev/stdout SRC > app.tar",
    )
    : { out: reporting };
  const choice = platformChoice(options);
  const all = choice === "all";
  if (all && !baseText) {
    throw new UsageError("--platform all needs --base: it means every platform of the base", {
      hint: "name the platforms, e.g. --platform linux/amd64,linux/arm64",
    });
  }
  const chosen = all ? undefined : choice;
  const several = all || (chosen !== undefined && chosen.length > 1);
  const keepIndexEntries = options["keep-index-entries"] === true;
  if (keepIndexEntries && !(several && baseText)) {
    throw new UsageError(
      "--keep-index-entries is for --base with --platform all or several platforms",
    );
  }
  const tags = [...destinationTags(reference), ...(options.tag as string[] | undefined ?? [])];
  // Every value is checked before a session opens or anything is packed: refused later, a tag
  // or a config edit would fail a push half done, the image stored under the other tags or a
  // layout made for it.
  checkTags(reference, tags);
  const files = options.files ? artifactFiles(options, sources) : undefined;
  const image = files
    ? undefined
    : { compression: compressionOption(options), edits: configEdits(options) };
  const annotations = parseKeyValues(options.annotation as string[] | undefined, "--annotation");
  const concurrency = positiveInteger(options.concurrency as string | undefined, "--concurrency") ??
    4;
  const mtime = sourceDateEpoch();
  const maxExtractSize = parseSize(
    options["max-extract-size"] as string | undefined ?? DEFAULT_MAX_EXTRACT_SIZE,
    "--max-extract-size",
  );
  const baseRef = baseText === undefined ? undefined : parseReference(baseText);
  // The destination and a base share it: a base on the destination's registry costs no second
  // challenge, and its pull token is asked for once.
  await using session = await openSession(options, out, registryOf(reference, baseRef));
  // Opened only once every layer is prepared: a refused layer leaves no empty layout behind.
  // A registry is opened first, and checks the credentials before any layer is packed.
  let target: Target | undefined;
  const openDestination = async () => {
    if (target) return target;
    target = await session.open(reference, { create: true });
    if (isPushAuthenticator(target)) await target.authenticateForPush();
    return target;
  };
  await using workFolder = makeWorkFolder("ocisync-push-");
  const work = workFolder.path;
  const display = transferDisplay(out, "uploaded");
  const onBlob = display.listener;
  let base: OpenedBase | undefined;
  try {
    let result: PushResult | IndexReport;
    if (files) {
      const artifactType = options["artifact-type"] as string | undefined ??
        DEFAULT_ARTIFACT_TYPE;
      // Every file is read, and every title checked, before a layout is created for them.
      if (reference.kind === "registry") await openDestination();
      const plan = await planArtifact(files, work, mtime, { artifactType, annotations });
      result = await writePlan(await openDestination(), plan, tags, {
        concurrency,
        onBlob,
        destinationDigest: reference.digest,
      });
    } else {
      const { compression, edits } = image!;
      if (reference.kind === "registry") await openDestination();
      const layers: StartedLayer[] = [];
      for (const source of sources) {
        const step = stepProgress(display, `packing ${source}`);
        step.started();
        layers.push(
          await startLayer(await layerSource(source), work, mtime, {
            compression,
            exclude: options.exclude as string[] | undefined,
            onProgress: step.progress,
            skip: writtenPaths(reference),
            maxExtractSize,
          }),
        );
        step.done();
      }
      const settings = { created: createdAt(mtime), edits, annotations };
      if (several) {
        // The same layers on each platform: an index. The base's index is read first, so that
        // a platform it lacks is named before anything is sent.
        let baseIndex: OpenedBaseIndex | undefined;
        if (baseRef) {
          out.info(`reading the base ${baseText}`);
          baseIndex = await openBaseIndex(baseRef, { session });
          if (chosen) requireBasePlatforms(baseIndex, chosen);
        }
        const prepared = await Promise.all(layers.map((layer) => layer.checked));
        const plan = baseIndex
          ? await appendToIndex(baseIndex, prepared, {
            ...settings,
            platforms: chosen ?? "all",
            keepIndexEntries,
          })
          : indexPlan(
            chosen!.map((platform) => imagePlan(prepared, { ...settings, platform })),
            annotations,
          );
        const ours = chosen?.length ?? baseIndex!.platforms.length;
        const written = await writeIndexPlan(await openDestination(), plan, tags, {
          concurrency,
          onBlob,
          destinationDigest: reference.digest,
        });
        result = indexReport(plan, ours, written.stats);
        out.verbose(`platforms ${result.platforms.map((p) => p.platform).join(", ")}`);
        await session.close(); // an archive is written now: reported only once it is
        display.close();
        reportPush(out, reference, tags, result);
        return;
      }
      const platform = chosen?.[0];
      if (baseRef) {
        out.info(`reading the base ${baseText}`);
        base = await openBase(baseRef, { session }, platform);
      }
      const opened = base;
      const plan = (prepared: PreparedLayer[]) =>
        opened
          ? appendPlan(opened, prepared, settings)
          : imagePlan(prepared, { ...settings, platform: platform ?? DEFAULT_PLATFORM });
      // A registry gets the blobs of large layer files while their entries are still being
      // checked; the manifest waits for the checks. Smaller layers, and every layer of a layout,
      // are checked first: a refused layer then sends nothing, and leaves a layout as it was.
      const early = reference.kind === "registry"
        ? layers.filter((layer) => layer.size >= OVERLAPPED_LAYER_MIN)
        : [];
      if (early.length === 0) await Promise.all(layers.map((layer) => layer.checked));
      result = await writeStartedLayers(await openDestination(), layers, early, plan, tags, {
        concurrency,
        onBlob,
        destinationDigest: reference.digest,
      });
      out.verbose(`platform ${formatPlatform(base?.config ?? platform ?? DEFAULT_PLATFORM)}`);
    }
    await session.close(); // an archive is written now: reported only once it is
    display.close();
    reportPush(out, reference, tags, result);
  } catch (error) {
    // A failed push writes no archive: what it staged is dropped, and the file left as it was.
    await session.discard();
    throw error;
  } finally {
    display.close();
  }
}

/** The options that change an image's config, refused for artifacts. */
const IMAGE_ONLY_OPTIONS = [
  "base",
  "keep-index-entries",
  "env",
  "workdir",
  "entrypoint",
  "cmd",
  "user",
  "label",
];

/**
 * What {@linkcode reportPush} reports of an image index: its digest, the images of our platforms
 * in it, and what was sent.
 */
export interface IndexReport {
  /** The index's digest. */
  digest: Digest;
  /** Each platform's image, in the index's order (kept attestations left out). */
  platforms: { platform: string; digest: Digest; layers: Descriptor[] }[];
  /** What was sent and skipped for all of them; zeros for a dry run. */
  stats: TransferStats;
}

/**
 * The report of an index plan whose first `ours` manifests are the images made for their
 * platforms (the rest, kept attestations).
 *
 * @example
 * ```ts
 * import { indexReport } from "./push.ts";
 * import { imagePlan, indexPlan } from "../../image/plan.ts";
 * const created = "1970-01-01T00:00:00Z";
 * const plan = indexPlan([
 *   imagePlan([], { platform: { os: "linux", architecture: "amd64" }, created }),
 *   imagePlan([], { platform: { os: "linux", architecture: "arm64" }, created }),
 * ]);
 * indexReport(plan, 2).platforms.length; // 2
 * ```
 */
export function indexReport(
  plan: IndexPlan,
  ours = plan.manifests.length,
  stats: TransferStats = { pushed: 0, skipped: 0, mounted: 0, bytes: 0 },
): IndexReport {
  // The platforms as the index lists them: an entry's own, else its config's.
  const entries = (JSON.parse(new TextDecoder().decode(plan.index.bytes)) as Index).manifests;
  return {
    digest: plan.index.descriptor.digest,
    platforms: plan.manifests.slice(0, ours).map((image, i) => ({
      platform: entries[i].platform ? formatPlatform(entries[i].platform) : "unknown",
      digest: image.manifest.descriptor.digest,
      layers: image.blobs.map((blob) => blob.descriptor),
    })),
    stats,
  };
}

/** The files of an artifact, once no option for images is given with them. */
function artifactFiles(options: ParsedArgs["options"], sources: string[]): ArtifactFile[] {
  const imageOnly = IMAGE_ONLY_OPTIONS.find((name) => options[name] !== undefined);
  if (imageOnly) throw new UsageError(`--${imageOnly} is for images, not --files artifacts`);
  return sources.map(artifactFile);
}

/** The config edits that the options ask for, checked. */
function configEdits(options: ParsedArgs["options"]): ConfigEdits {
  const edits: ConfigEdits = {
    env: options.env as string[] | undefined,
    workdir: options.workdir as string | undefined,
    user: options.user as string | undefined,
    labels: parseKeyValues(options.label as string[] | undefined, "--label"),
  };
  for (const name of ["entrypoint", "cmd"] as const) {
    const value = options[name] as string | undefined;
    if (value !== undefined) edits[name] = commandValue(value, `--${name}`);
  }
  checkConfigEdits(edits);
  return edits;
}

/** `["prog", "arg"]` as JSON, `""` for none, or one program without arguments. */
function commandValue(value: string, option: string): string[] {
  if (value === "") return [];
  if (!value.trimStart().startsWith("[")) return [value];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.some((part) => typeof part !== "string")) {
    throw new UsageError(`${option} must be a program or a JSON array of strings, not ${value}`, {
      hint: `${option} '["python3", "-m", "flows"]'`,
    });
  }
  return parsed;
}

/**
 * Prints what a push (or a build) made: a summary, the fields of
 * prefect-docker's `PushDockerImageResult` with the digest and transfer
 * counts for `--json`, or `NAME@DIGEST` for `-q`. A dry run reports the
 * digest it would push, with nothing transferred. For an image index
 * ({@linkcode IndexReport}), the digest is the index's, each platform's image
 * is listed (`platforms` in JSON), `layers` holds each layer of them once, and
 * there is no `image_id` (an index has no config).
 *
 * @example
 * ```ts
 * import { reportPush } from "./push.ts";
 * import { Output } from "../output.ts";
 * import { parseReference } from "../../ref/mod.ts";
 * const digest = `sha256:${"0".repeat(64)}` as const;
 * const descriptor = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest, size: 2 };
 * reportPush(new Output({ quiet: true }), parseReference("localhost:5000/a:v1"), ["v1"], {
 *   digest, manifest: descriptor, config: descriptor, layers: [],
 *   stats: { pushed: 0, skipped: 0, mounted: 0, bytes: 0 },
 * });
 * ```
 */
export function reportPush(
  out: Output,
  reference: Reference,
  tags: string[],
  result: PushResult | IndexReport,
  dryRun = false,
): void {
  const name = formatReference({ ...reference, tag: undefined, digest: undefined });
  const [tag, ...additional] = tags;
  const { stats } = result;
  const index = "platforms" in result ? result : undefined;
  const layers = index
    ? [...new Map(index.platforms.flatMap((p) => p.layers).map((l) => [l.digest, l])).values()]
    : (result as PushResult).layers;
  const width = Math.max(0, ...(index?.platforms ?? []).map((p) => p.platform.length));
  out.result({
    human: [
      `${dryRun ? "would push" : "pushed"} ${name}@${result.digest}${index ? " (index)" : ""}`,
      ...tags.map((t) => `  tag     ${t}`),
      ...index
        ? index.platforms.map((p) => `  image   ${p.platform.padEnd(width)} ${p.digest}`)
        : layers.map((l) => `  layer   ${l.digest} ${formatBytes(l.size)}`),
      ...(dryRun ? [] : [
        `  blobs   ${stats.pushed} uploaded (${formatBytes(stats.bytes)}), ` +
        `${stats.mounted} mounted, ${stats.skipped} already there`,
      ]),
    ].join("\n"),
    json: {
      image_name: name,
      tag: tag ?? null,
      image: tag ? `${name}:${tag}` : `${name}@${result.digest}`,
      digest: result.digest,
      // Docker's image ID, which prefect-docker's templates read as `build.image_id`; an index
      // has no config, and so none.
      ...(index ? {} : { image_id: (result as PushResult).config.digest }),
      additional_tags: additional,
      layers: layers.map(layerJson),
      ...(index
        ? {
          platforms: index.platforms.map((p) => ({
            platform: p.platform,
            digest: p.digest,
            layers: p.layers.map(layerJson),
          })),
        }
        : {}),
      uploaded: stats.pushed,
      skipped: stats.skipped,
      mounted: stats.mounted,
      uploaded_bytes: stats.bytes,
      ...(dryRun ? { dry_run: true } : {}),
    },
    quiet: `${name}@${result.digest}`,
  });
}

/** A layer's descriptor as `--json` prints it. */
function layerJson(layer: Descriptor) {
  return {
    digest: layer.digest,
    mediaType: layer.mediaType,
    size: layer.size,
    ...(layer.annotations ? { annotations: layer.annotations } : {}),
  };
}

/** `DIR[:DEST]` is a folder to pack; anything else is a layer file. */
async function layerSource(source: string): Promise<LayerSource> {
  const colon = source.lastIndexOf(":");
  const [path, dest] = colon > 0 ? [source.slice(0, colon), source.slice(colon + 1)] : [source, ""];
  const asFolder = await Deno.stat(path).catch(() => undefined);
  if (colon > 0 && asFolder?.isDirectory) {
    return { kind: "folder", path, prefix: normalizePrefix(dest) };
  }
  const whole = await Deno.stat(source).catch(() => undefined);
  if (whole?.isDirectory) return { kind: "folder", path: source, prefix: "" };
  if (whole?.isFile) return { kind: "file", path: source };
  throw new NotFoundError(`no such folder or layer file: ${source}`, {
    hint: "a SOURCE is DIR[:DEST] or a .tar, .tar.gz, .tgz or .tar.zst layer file",
  });
}

/** `FILE[:MEDIATYPE]`; the title is the path as given, or its base name when it leaves `.`. */
function artifactFile(value: string): ArtifactFile {
  const colon = value.lastIndexOf(":");
  const hasType = colon > 0 && value.slice(colon + 1).includes("/");
  const path = hasType ? value.slice(0, colon) : value;
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  const title = path.startsWith("/") || parts.includes("..")
    ? parts[parts.length - 1]
    : parts.join("/");
  if (!title) throw new UsageError(`cannot name artifact file "${value}"`);
  return { path, title, ...(hasType ? { mediaType: value.slice(colon + 1) } : {}) };
}
