/**
 * `ocisync push REF SOURCE...`: an image from folders and layer files, or an
 * ORAS-style artifact with `--files`, to a registry or an `oci:` layout.
 *
 * @module
 */
import type { CommandSpec, ParsedArgs } from "../args.ts";
import {
  OUTPUT_OPTIONS,
  positiveInteger,
  REGISTRY_OPTIONS,
  registryOptions,
  sourceDateEpoch,
} from "../common.ts";
import { formatBytes, type Output } from "../output.ts";
import { transferDisplay } from "../progress.ts";
import { parseKeyValues } from "../units.ts";
import { type Compression, COMPRESSIONS } from "../../compress/mod.ts";
import { UsageError } from "../../errors/mod.ts";
import { createdAt } from "../../image/build.ts";
import { formatPlatform, parsePlatform } from "../../image/platform.ts";
import { normalizePrefix } from "../../layer/mod.ts";
import {
  type ArtifactFile,
  type LayerSource,
  prepareLayer,
  pushArtifact,
  pushImage,
  type PushResult,
} from "../../push/mod.ts";
import { formatReference, parseReference, type Reference } from "../../ref/mod.ts";
import { closeTarget, destinationTags, openTarget } from "../../target/mod.ts";

/** The spec of `push`. */
export const pushSpec: CommandSpec = {
  name: "push",
  summary: "push folders and layer files as an image, or files as an artifact",
  usage: "ocisync push REF SOURCE... [--tag T]... | ocisync push REF --files FILE[:TYPE]... " +
    "--artifact-type TYPE",
  positionals: [1, Infinity],
  options: [
    { name: "tag", short: "t", type: "list", value: "TAG", description: "also tag the image TAG" },
    {
      name: "platform",
      type: "string",
      value: "OS/ARCH",
      description: "the image's platform",
      default: "linux/amd64",
    },
    { name: "annotation", type: "list", value: "K=V", description: "a manifest annotation" },
    { name: "label", type: "list", value: "K=V", description: "a config label" },
    {
      name: "compression",
      type: "string",
      value: "ALGO",
      description: "gzip, zstd or none",
      default: "gzip",
    },
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
    },
    {
      name: "concurrency",
      type: "string",
      value: "N",
      description: "blobs uploaded at once",
      default: "4",
    },
    ...REGISTRY_OPTIONS,
    ...OUTPUT_OPTIONS,
  ],
  examples: [
    "ocisync push oci:./bundle:v1 ./flows:/opt/prefect/flows",
    "ocisync push ghcr.io/acme/flows:v1 ./flows:/opt/flows deps.tar.gz --tag latest -q",
    "ocisync push localhost:5000/config:v2 --files app.yaml policy.rego:application/vnd.opa.policy " +
    "--artifact-type application/vnd.acme.config",
  ],
};

/** Runs `push`. */
export async function push(args: ParsedArgs, out: Output): Promise<void> {
  const { options } = args;
  const [refText, ...sources] = args.positionals;
  if (sources.length === 0) {
    throw new UsageError("push needs at least one SOURCE", { hint: `usage: ${pushSpec.usage}` });
  }
  const reference = parseReference(refText);
  const tags = [...destinationTags(reference), ...(options.tag as string[] | undefined ?? [])];
  const annotations = parseKeyValues(options.annotation as string[] | undefined, "--annotation");
  const concurrency = positiveInteger(options.concurrency as string | undefined, "--concurrency") ??
    4;
  const mtime = sourceDateEpoch();
  const target = await openTarget(reference, {
    ...(await registryOptions(options, out)),
    create: true,
  });
  const work = await Deno.makeTempDir({ prefix: "ocisync-push-" });
  const display = transferDisplay(out, "uploaded");
  const onBlob = display.listener;
  try {
    let result: PushResult;
    if (options.files) {
      const artifactType = options["artifact-type"] as string | undefined;
      if (!artifactType) throw new UsageError("--files needs --artifact-type TYPE");
      result = await pushArtifact(target, tags, sources.map(artifactFile), work, mtime, {
        artifactType,
        annotations,
        concurrency,
        onBlob,
      });
    } else {
      const compression = (options.compression as string | undefined ?? "gzip") as Compression;
      if (!COMPRESSIONS.includes(compression)) {
        throw new UsageError(`--compression must be one of ${COMPRESSIONS.join(", ")}`);
      }
      const layers = [];
      for (const source of sources) {
        out.info(`packing ${source}`);
        layers.push(
          await prepareLayer(await layerSource(source), work, mtime, {
            compression,
            exclude: options.exclude as string[] | undefined,
          }),
        );
      }
      const platform = parsePlatform(options.platform as string | undefined ?? "linux/amd64");
      result = await pushImage(target, tags, layers, {
        platform,
        created: createdAt(mtime),
        labels: parseKeyValues(options.label as string[] | undefined, "--label"),
        annotations,
        concurrency,
        onBlob,
      });
      out.verbose(`platform ${formatPlatform(platform)}`);
    }
    display.close();
    report(out, reference, tags, result);
  } finally {
    display.close();
    closeTarget(target);
    await Deno.remove(work, { recursive: true });
  }
}

function report(out: Output, reference: Reference, tags: string[], result: PushResult): void {
  const name = formatReference({ ...reference, tag: undefined, digest: undefined });
  const [tag, ...additional] = tags;
  out.result({
    human: [
      `pushed ${name}@${result.digest}`,
      ...tags.map((t) => `  tag     ${t}`),
      ...result.layers.map((l) => `  layer   ${l.digest} ${formatBytes(l.size)}`),
      `  blobs   ${result.stats.pushed} uploaded, ${result.stats.skipped} already there`,
    ].join("\n"),
    json: {
      image_name: name,
      tag: tag ?? null,
      image: tag ? `${name}:${tag}` : `${name}@${result.digest}`,
      digest: result.digest,
      additional_tags: additional,
      layers: result.layers.map((l) => ({
        digest: l.digest,
        mediaType: l.mediaType,
        size: l.size,
        ...(l.annotations ? { annotations: l.annotations } : {}),
      })),
      uploaded: result.stats.pushed,
      skipped: result.stats.skipped,
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
  throw new UsageError(`no such folder or layer file: ${source}`, {
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
