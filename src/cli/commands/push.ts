/**
 * `ocisync push REF SOURCE...`: an image from folders and layer files, or an
 * ORAS-style artifact with `--files`, to a registry or an `oci:` layout.
 *
 * @module
 */
import type { CommandSpec, OptionSpec, ParsedArgs } from "../args.ts";
import {
  COMPRESSION_OPTION,
  compressionOption,
  openSession,
  OUTPUT_OPTIONS,
  positiveInteger,
  REGISTRY_OPTIONS,
  sourceDateEpoch,
} from "../common.ts";
import { formatBytes, type Output } from "../output.ts";
import { stepProgress, transferDisplay } from "../progress.ts";
import { NotFoundError, UsageError } from "../../errors/mod.ts";
import { appendPlan } from "../../image/append.ts";
import { createdAt } from "../../image/build.ts";
import type { ConfigEdits } from "../../image/edit.ts";
import { imagePlan } from "../../image/plan.ts";
import { DEFAULT_PLATFORM, formatPlatform, parsePlatform } from "../../image/platform.ts";
import { normalizePrefix } from "../../layer/mod.ts";
import { openBase, type OpenedBase } from "../../pull/read.ts";
import { type ArtifactFile, type LayerSource, prepareLayer, pushArtifact } from "../../push/mod.ts";
import { type PushResult, writePlan } from "../../push/write.ts";
import { formatReference, parseReference, type Reference } from "../../ref/mod.ts";
import { isPushAuthenticator, type Target } from "../../oci/target.ts";
import { destinationTags } from "../../target/mod.ts";
import { parseKeyValues } from "../../units/mod.ts";

/** `--concurrency N`, the blobs uploaded at once; `build` takes it too. */
export const CONCURRENCY_OPTION: OptionSpec = {
  name: "concurrency",
  type: "string",
  value: "N",
  description: "blobs uploaded at once",
  default: "4",
};

/** The artifact type of `--files` without `--artifact-type`, as ORAS defaults it. */
export const DEFAULT_ARTIFACT_TYPE = "application/vnd.unknown.artifact.v1";

/** The spec of `push`. */
export const pushSpec: CommandSpec = {
  name: "push",
  summary: "push folders and layer files as an image, or files as an artifact",
  usage: "ocisync push REF SOURCE... [--tag T]... [--base REF] | " +
    "ocisync push REF --files FILE[:TYPE]... [--artifact-type TYPE]",
  positionals: [1, Infinity],
  options: [
    { name: "tag", short: "t", type: "list", value: "TAG", description: "also tag the image TAG" },
    {
      name: "platform",
      type: "string",
      value: "OS/ARCH",
      description: "the image's platform; with --base, the one chosen from its index",
      default: "linux/amd64",
    },
    {
      name: "base",
      type: "string",
      value: "REF",
      description: "append the layers to this image, keeping its layers, config and history",
    },
    {
      name: "env",
      type: "list",
      value: "K=V",
      description: "set a variable; $NAME expands, so PATH=/opt/x/bin:$PATH prepends",
    },
    { name: "workdir", type: "string", value: "DIR", description: "the working directory" },
    {
      name: "entrypoint",
      type: "string",
      value: "CMD",
      description: 'the entrypoint: a program, or a JSON array ["prog", "arg"]; "" for none',
      allowEmpty: true,
    },
    {
      name: "cmd",
      type: "string",
      value: "CMD",
      description: "the default arguments, as for --entrypoint",
      allowEmpty: true,
    },
    { name: "user", type: "string", value: "USER", description: "the user, NAME or UID[:GID]" },
    { name: "annotation", type: "list", value: "K=V", description: "a manifest annotation" },
    { name: "label", type: "list", value: "K=V", description: "a config label" },
    COMPRESSION_OPTION,
    {
      name: "exclude",
      type: "list",
      value: "GLOB",
      description: "leave out paths of folders (gitignore syntax)",
    },
    {
      name: "files",
      type: "boolean",
      description: "push the SOURCEs as artifact files (ORAS style)",
    },
    {
      name: "artifact-type",
      type: "string",
      value: "TYPE",
      description: "the artifact type, with --files",
      default: DEFAULT_ARTIFACT_TYPE,
    },
    CONCURRENCY_OPTION,
    ...REGISTRY_OPTIONS,
    ...OUTPUT_OPTIONS,
  ],
  examples: [
    "ocisync push oci:./bundle:v1 ./flows:/opt/prefect/flows",
    "ocisync push ghcr.io/acme/flows:v1 ./flows:/opt/flows deps.tar.gz --tag latest -q",
    "ocisync push ghcr.io/acme/app:v1 ./app:/app --base docker.io/library/python:3.12-slim " +
    "--env PYTHONPATH=/opt/ocisync/deps --env 'PATH=/app/bin:$PATH' --workdir /app " +
    '--entrypoint \'["python3", "main.py"]\'',
    "ocisync push localhost:5000/config:v2 --files app.yaml policy.rego:application/vnd.opa.policy " +
    "--artifact-type application/vnd.acme.config",
  ],
};

/** Runs `push`. */
export async function push(args: ParsedArgs, out: Output): Promise<void> {
  const { options } = args;
  const [refText, ...sources] = args.positionals;
  const baseText = options.base as string | undefined;
  if (sources.length === 0 && !baseText) {
    throw new UsageError("push needs at least one SOURCE", { hint: `usage: ${pushSpec.usage}` });
  }
  const reference = parseReference(refText);
  const tags = [...destinationTags(reference), ...(options.tag as string[] | undefined ?? [])];
  const annotations = parseKeyValues(options.annotation as string[] | undefined, "--annotation");
  const concurrency = positiveInteger(options.concurrency as string | undefined, "--concurrency") ??
    4;
  const mtime = sourceDateEpoch();
  // The destination and a base share it: a base on the destination's registry costs no second
  // challenge, and its pull token is asked for once.
  await using session = await openSession(options, out);
  // Opened only once every layer is prepared: a refused layer leaves no empty layout behind.
  // A registry is opened first, and checks the credentials before any layer is packed.
  let target: Target | undefined;
  const openDestination = async () => {
    if (target) return target;
    target = await session.open(reference, { create: true });
    if (isPushAuthenticator(target)) await target.authenticateForPush();
    return target;
  };
  const work = await Deno.makeTempDir({ prefix: "ocisync-push-" });
  const display = transferDisplay(out, "uploaded");
  const onBlob = display.listener;
  let base: OpenedBase | undefined;
  try {
    let result: PushResult;
    if (options.files) {
      const artifactType = options["artifact-type"] as string | undefined ??
        DEFAULT_ARTIFACT_TYPE;
      const imageOnly = IMAGE_ONLY_OPTIONS.find((name) => options[name] !== undefined);
      if (imageOnly) throw new UsageError(`--${imageOnly} is for images, not --files artifacts`);
      const files = sources.map(artifactFile);
      // Every file is there before a layout is created for them.
      for (const file of files) await Deno.stat(file.path);
      result = await pushArtifact(
        await openDestination(),
        tags,
        files,
        work,
        mtime,
        {
          artifactType,
          annotations,
          concurrency,
          onBlob,
        },
      );
    } else {
      const compression = compressionOption(options);
      const edits = configEdits(options);
      if (reference.kind === "registry") await openDestination();
      const layers = [];
      for (const source of sources) {
        const step = stepProgress(display, `packing ${source}`);
        step.started();
        layers.push(
          await prepareLayer(await layerSource(source), work, mtime, {
            compression,
            exclude: options.exclude as string[] | undefined,
            onProgress: step.progress,
          }),
        );
        step.done();
      }
      const platform = options.platform ? parsePlatform(options.platform as string) : undefined;
      if (baseText) {
        out.info(`reading the base ${baseText}`);
        base = await openBase(parseReference(baseText), { session }, platform);
      }
      const settings = { created: createdAt(mtime), edits, annotations };
      const plan = base
        ? appendPlan(base, layers, settings)
        : imagePlan(layers, { ...settings, platform: platform ?? DEFAULT_PLATFORM });
      result = await writePlan(await openDestination(), plan, tags, { concurrency, onBlob });
      out.verbose(`platform ${formatPlatform(base?.config ?? platform ?? DEFAULT_PLATFORM)}`);
    }
    display.close();
    reportPush(out, reference, tags, result);
  } finally {
    display.close();
    await Deno.remove(work, { recursive: true });
  }
}

/** The options that change an image's config, refused for artifacts. */
const IMAGE_ONLY_OPTIONS = ["base", "env", "workdir", "entrypoint", "cmd", "user", "label"];

/** The config edits that the options ask for. */
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
 * digest it would push, with nothing transferred.
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
  result: PushResult,
  dryRun = false,
): void {
  const name = formatReference({ ...reference, tag: undefined, digest: undefined });
  const [tag, ...additional] = tags;
  const { stats } = result;
  out.result({
    human: [
      `${dryRun ? "would push" : "pushed"} ${name}@${result.digest}`,
      ...tags.map((t) => `  tag     ${t}`),
      ...result.layers.map((l) => `  layer   ${l.digest} ${formatBytes(l.size)}`),
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
      // Docker's image ID, which prefect-docker's templates read as `build.image_id`.
      image_id: result.config.digest,
      additional_tags: additional,
      layers: result.layers.map((l) => ({
        digest: l.digest,
        mediaType: l.mediaType,
        size: l.size,
        ...(l.annotations ? { annotations: l.annotations } : {}),
      })),
      uploaded: stats.pushed,
      skipped: stats.skipped,
      mounted: stats.mounted,
      uploaded_bytes: stats.bytes,
      ...(dryRun ? { dry_run: true } : {}),
    },
    quiet: `${name}@${result.digest}`,
  });
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
