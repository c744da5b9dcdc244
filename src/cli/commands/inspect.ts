/**
 * `ocisync inspect REF` and `ocisync tags REPO`.
 *
 * @module
 */
import type { ParsedArgs } from "../args.ts";
import { escapeRemote, NotFoundError, UsageError } from "../../errors/mod.ts";
import { registryOptions } from "../registry_flags.ts";
import { formatBytes, type Output } from "../output.ts";
import { MediaType } from "../../oci/mediatypes.ts";
import type { Target } from "../../oci/target.ts";
import { type Descriptor, isJsonObject, parseManifestOrIndex } from "../../oci/types.ts";
import { formatReference, parseReference, registryOf } from "../../ref/mod.ts";
import { closeTarget, openTarget, resolveReference, resolveToRead } from "../../target/mod.ts";
export { inspectSpec, tagsSpec } from "../specs.ts";

/** Runs `inspect`. */
export async function inspect(args: ParsedArgs, out: Output): Promise<void> {
  const { options } = args;
  // Each prints one document on stdout: together, one would be dropped without a word.
  if (options.raw && options.config) {
    throw new UsageError("--raw prints the manifest and --config the config: give one of them");
  }
  const reference = parseReference(args.positionals[0]);
  const target = await openTarget(
    reference,
    await registryOptions(options, out, registryOf(reference)),
  );
  try {
    // -q alone: --json outranks it, as everywhere, and --raw and --config outrank both.
    const digestOnly = options.quiet && !options.json && !options.raw && !options.config;
    // The digest alone needs a HEAD; anything more reads the manifest, which a registry sends in
    // the GET that resolves the tag.
    const descriptor = digestOnly
      ? await resolveReference(target, reference)
      : await resolveToRead(target, reference);
    const name = formatReference({ ...reference, tag: undefined, digest: undefined });
    if (digestOnly) {
      out.result({ human: "", json: null, quiet: descriptor.digest });
      return;
    }
    // The code that reads configs and shows platforms and titles loads only now: `-q` alone,
    // the common use in scripts, starts without it.
    const [{ formatPlatform }, { TITLE_ANNOTATION }] = await Promise.all([
      import("../../image/platform.ts"),
      import("../../oci/annotations.ts"),
    ]);
    if (options.config) {
      out.data(await configOf(target, descriptor, name, out));
      return;
    }
    const bytes = await target.fetchManifest(descriptor);
    if (options.raw) {
      out.data(bytes);
      return;
    }
    const parsed = parseManifestOrIndex(bytes, descriptor.mediaType);
    const summary = {
      reference: formatReference(reference),
      digest: descriptor.digest,
      mediaType: parsed.mediaType,
      size: bytes.length,
    };
    if (parsed.kind === "index") {
      const { index } = parsed;
      out.result({
        human: [
          `${name}@${descriptor.digest}`,
          `  mediaType ${parsed.mediaType}`,
          `  platforms`,
          ...index.manifests.map((m) =>
            `    ${m.platform ? formatPlatform(m.platform) : "(none)"}  ${m.digest}  ${m.mediaType}`
          ),
        ].map(escapeRemote).join("\n"),
        json: { ...summary, index },
        quiet: descriptor.digest,
      });
      return;
    }
    const { manifest } = parsed;
    const config = await readConfig(target, manifest.config);
    const total = manifest.layers.reduce((n, l) => n + l.size, manifest.config.size + bytes.length);
    const platform = config?.os && config.architecture
      ? formatPlatform(config as { os: string; architecture: string; variant?: string })
      : undefined;
    out.result({
      human: [
        `${name}@${descriptor.digest}`,
        `  mediaType ${parsed.mediaType}`,
        ...(manifest.artifactType ? [`  artifactType ${manifest.artifactType}`] : []),
        ...(platform ? [`  platform  ${platform}`] : []),
        ...(config?.created ? [`  created   ${config.created}`] : []),
        `  config    ${manifest.config.digest} ${manifest.config.mediaType}`,
        `  layers`,
        ...manifest.layers.map((l) => {
          const title = l.annotations?.[TITLE_ANNOTATION];
          return `    ${l.digest}  ${formatBytes(l.size).padStart(10)}  ${l.mediaType}${
            title ? `  ${title}` : ""
          }`;
        }),
        `  total     ${formatBytes(total)}`,
        ...Object.entries(manifest.annotations ?? {}).map(([k, v]) => `  annotation ${k}=${v}`),
      ].map(escapeRemote).join("\n"),
      json: {
        ...summary,
        totalSize: total,
        ...(platform ? { platform } : {}),
        manifest,
        ...(config ? { config } : {}),
      },
      quiet: descriptor.digest,
    });
  } finally {
    await closeTarget(target);
  }
}

/**
 * The bytes of the config `--config` prints: the image's, or, of an index, that of the host's
 * platform, as `pull` chooses it (inspect takes no `--platform`), said on stderr.
 *
 * @throws {NotFoundError} when the index has no image of the host's platform, with a hint to
 * inspect one of its images by digest.
 */
async function configOf(
  target: Target,
  descriptor: Descriptor,
  name: string,
  out: Output,
): Promise<Uint8Array> {
  const [{ fetchConfigBytes }, { formatPlatform, hostPlatform }, { fetchImageManifest }] =
    await Promise.all([
      import("../../image/config.ts"),
      import("../../image/platform.ts"),
      import("../../pull/read.ts"),
    ]);
  const host = hostPlatform();
  const image = await fetchImageManifest(target, descriptor, host).catch((error) => {
    // No image of the host's: selectManifest's hint names --platform, which inspect lacks.
    if (!(error instanceof NotFoundError) || error.option !== "platform") throw error;
    throw new NotFoundError(error.message, {
      hint: `\`ocisync inspect ${name}@${descriptor.digest}\` lists the digest of each; ` +
        `give one: \`ocisync inspect ${name}@DIGEST --config\``,
      cause: error,
    });
  });
  if (image.descriptor.digest !== descriptor.digest) {
    out.info(
      `${name}@${descriptor.digest} is an index: the config of ${formatPlatform(host)} ` +
        `(the host's), ${image.descriptor.digest}`,
    );
  }
  return await fetchConfigBytes(target, image.manifest.config);
}

/**
 * The config to summarise: an image's, checked (a config that is not a JSON object is an error);
 * or an artifact's, whose config may be anything, when it happens to be a JSON object.
 */
async function readConfig(
  target: Target,
  descriptor: Descriptor,
): Promise<Record<string, unknown> | undefined> {
  const { fetchConfig, fetchConfigBytes } = await import("../../image/config.ts");
  if (IMAGE_CONFIG_TYPES.includes(descriptor.mediaType)) {
    return (await fetchConfig(target, descriptor)).config as unknown as Record<string, unknown>;
  }
  const bytes = await fetchConfigBytes(target, descriptor);
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return isJsonObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The media types of image configs, OCI and Docker; any other config is an artifact's. */
const IMAGE_CONFIG_TYPES: readonly string[] = [MediaType.OciConfig, MediaType.DockerConfig];

/** Runs `tags`. */
export async function tags(args: ParsedArgs, out: Output): Promise<void> {
  const reference = parseReference(args.positionals[0]);
  const target = await openTarget(
    reference,
    await registryOptions(args.options, out, registryOf(reference)),
  );
  try {
    const all = await Array.fromAsync(target.tags());
    out.result({
      // One line a tag, whatever a registry lists.
      human: all.map(escapeRemote).join("\n"),
      json: { repository: formatReference(reference), tags: all },
      quiet: all.map(escapeRemote).join("\n"),
    });
  } finally {
    await closeTarget(target);
  }
}
