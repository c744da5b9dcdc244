/**
 * Appends layers to a base image, as `crane append` and Jib do, without
 * running anything from the base: its manifest and config are read, its
 * layers, config and history kept, ours added after them, and the config's
 * runtime settings edited.
 *
 * Base blobs are never downloaded when the destination has them or can mount
 * them (another repository of the same registry); between two registries,
 * or a layout and a registry, they stream from one to the other. The result
 * depends only on the base's digest, the layers and the edits, so the same
 * inputs give the same digest.
 *
 * The result is always an OCI manifest. Docker schema 2 media types of a
 * base are written as their OCI equivalents: the bytes, and so the digests,
 * are the same.
 *
 * @example
 * ```ts
 * import { assembleImage, fetchBase, pushAssembled } from "./append.ts";
 * import { prepareLayer } from "../push/mod.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const layout = await LayoutTarget.open("./images", { create: true });
 * const base = await fetchBase(layout, "busybox", await layout.resolve("busybox"));
 * const work = await Deno.makeTempDir();
 * const layer = await prepareLayer({ kind: "folder", path: "./app", prefix: "app" }, work, 0);
 * const image = assembleImage([layer], {
 *   base,
 *   platform: { os: "linux", architecture: "amd64" },
 *   created: "1970-01-01T00:00:00Z",
 *   edits: { workdir: "/app", env: ["PATH=/app/bin:$PATH"], entrypoint: ["/app/run.sh"] },
 * });
 * const pushed = await pushAssembled(layout, ["app"], image);
 * console.log(pushed.digest);
 * ```
 * @module
 */
import { blobSource } from "../copy/mod.ts";
import { IntegrityError, UsageError } from "../errors/mod.ts";
import { MediaType } from "../oci/mediatypes.ts";
import { historyEntry } from "./build.ts";
import type { Target } from "../oci/target.ts";
import type { Descriptor, ImageConfig, Manifest, Platform } from "../oci/types.ts";
import type { BlobListener } from "../progress/mod.ts";
import { fetchImageManifest } from "../pull/mod.ts";
import { type BlobSource, type PreparedLayer, pushBlobs, type PushResult } from "../push/mod.ts";
import { formatReference, type Reference } from "../ref/mod.ts";
import {
  closeTarget,
  openTarget,
  type OpenTargetOptions,
  resolveReference,
} from "../target/mod.ts";
import { imageConfig, imageManifest, type JsonBlob, jsonBlob, sorted } from "./build.ts";
import { fetchConfig } from "./config.ts";
import { formatPlatform, parsePlatform } from "./platform.ts";

// Re-exported so that this module's documentation is complete on its own.
export type { Digest } from "../digest/mod.ts";
export type { ImageLayer, JsonBlob } from "./build.ts";
export type { Descriptor, ImageConfig, Manifest, Platform } from "../oci/types.ts";
export type { Target } from "../oci/target.ts";
export type { BlobEvent, BlobListener } from "../progress/mod.ts";
export type { PreparedLayer, PushResult, TransferStats } from "../push/mod.ts";
export type { LayoutReference, Reference, RegistryReference } from "../ref/mod.ts";
export type {
  Credential,
  CredentialLookup,
  HttpRequest,
  HttpResponse,
  RegistryClient,
  RegistryClientOptions,
  RegistryOptions,
  TransportOptions,
} from "../remote/mod.ts";
export type { OpenTargetOptions } from "../target/mod.ts";

/** The image-spec's annotation naming the base image. */
export const BASE_NAME_ANNOTATION = "org.opencontainers.image.base.name";
/** The image-spec's annotation holding the base image's manifest digest. */
export const BASE_DIGEST_ANNOTATION = "org.opencontainers.image.base.digest";

/** The platform of images, and the one chosen from a base index, when none is asked for. */
export const DEFAULT_PLATFORM: Platform = { os: "linux", architecture: "amd64" };

/** Docker schema 2 media types and their OCI equivalents, for the same bytes. */
const OCI_EQUIVALENTS: Record<string, string> = {
  [MediaType.DockerLayerGzip]: MediaType.OciLayerGzip,
  "application/vnd.docker.image.rootfs.diff.tar": MediaType.OciLayer,
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
};

/**
 * Changes to an image's runtime settings. Every field is optional; what is
 * not given keeps the base's value.
 */
export interface ConfigEdits {
  /**
   * `NAME=VALUE` settings, applied in order over the base's environment. In
   * a value, `$NAME` and `${NAME}` are replaced by the variable's value so
   * far, so `PATH=/opt/x/bin:$PATH` prepends to the base's `PATH`. When the
   * variable is unset or empty, the reference and one `:` beside it are
   * dropped (never an empty `PATH` entry, which would mean the working
   * directory). `$$` is a literal `$`.
   */
  env?: string[];
  /** The working directory; absolute. */
  workdir?: string;
  /** The entrypoint; empty for none. Setting it drops the base's `Cmd`, as a Dockerfile does. */
  entrypoint?: string[];
  /** The default arguments; empty for none. */
  cmd?: string[];
  /** The user, `NAME`, `UID` or `UID:GID`. */
  user?: string;
  /** Labels, merged over the base's. */
  labels?: Record<string, string>;
}

/** A base image, resolved to one platform. */
export interface BaseImage {
  /** Where the base's blobs are read or mounted from. */
  target: Target;
  /** The base's reference, for the `org.opencontainers.image.base.name` annotation. */
  name: string;
  /** The base's image manifest (the chosen platform's, for an index). */
  descriptor: Descriptor;
  /** That manifest. */
  manifest: Manifest;
  /** Its config. */
  config: ImageConfig;
}

/**
 * Reads a base image: its manifest, choosing `platform` from an index
 * (default linux/amd64), and its config.
 *
 * @throws {UsageError} when a single-platform base is not of `platform`.
 * @throws {IntegrityError} when the config is too large or malformed (as `fetchConfig` of
 * `./config.ts` checks it), or its `rootfs.diff_ids` do not match the layers.
 * @example
 * ```ts
 * import { fetchBase } from "./append.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const layout = await LayoutTarget.open("./images");
 * const base = await fetchBase(layout, "oci:./images:busybox", await layout.resolve("busybox"), {
 *   os: "linux",
 *   architecture: "arm64",
 * });
 * console.log(base.config.architecture);
 * ```
 */
export async function fetchBase(
  target: Target,
  name: string,
  descriptor: Descriptor,
  platform?: Platform,
): Promise<BaseImage> {
  const chosen = await fetchImageManifest(target, descriptor, platform ?? DEFAULT_PLATFORM);
  const { manifest } = chosen;
  const { config } = await fetchConfig(target, manifest.config).catch((error) => {
    throw error instanceof IntegrityError
      ? new IntegrityError(`base ${name}: ${error.message}`, { cause: error })
      : error;
  });
  if (config.rootfs?.diff_ids?.length !== manifest.layers.length) {
    throw new IntegrityError(
      `base ${name}: its config lists ${config.rootfs?.diff_ids?.length ?? 0} diff_ids for ` +
        `${manifest.layers.length} layers`,
    );
  }
  if (platform && chosen.descriptor === descriptor) {
    const [want, have] = [platform, config].map((p) =>
      formatPlatform(parsePlatform(formatPlatform(p)))
    );
    if (want !== have) {
      throw new UsageError(`base ${name} is a ${have} image, not ${want}`, {
        hint: "choose a base of that platform, or leave --platform out",
      });
    }
  }
  return { target, name, descriptor: chosen.descriptor, manifest, config };
}

/**
 * Opens the target of a base reference and reads the base from it, as
 * {@linkcode fetchBase} does. Close `base.target` with `closeTarget` when done.
 * `documents`, when given, wraps the target for reading the base's manifests
 * and config only (a cache, say); `base.target` is always the target itself,
 * from which a push reads or mounts the layers.
 *
 * @example
 * ```ts
 * import { openBase } from "./append.ts";
 * import { closeTarget } from "../target/mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const base = await openBase(parseReference("localhost:5000/base/busybox:1"));
 * closeTarget(base.target);
 * ```
 */
export async function openBase(
  reference: Reference,
  options: OpenTargetOptions = {},
  platform?: Platform,
  documents?: (target: Target) => Target,
): Promise<BaseImage> {
  const target = await openTarget(reference, options);
  try {
    const reader = documents?.(target) ?? target;
    const descriptor = await resolveReference(reader, reference);
    const base = await fetchBase(reader, formatReference(reference), descriptor, platform);
    return { ...base, target };
  } catch (error) {
    closeTarget(target);
    throw error;
  }
}

/** Options of {@linkcode assembleImage}. */
export interface AssembleOptions {
  /** The image to append to; without one, the layers make the whole image. */
  base?: BaseImage;
  /** The platform of an image without a base; a base's own platform wins. */
  platform: Platform;
  /** The config's `created`, and the history's, RFC 3339. */
  created: string;
  /** Runtime settings. */
  edits?: ConfigEdits;
  /** Manifest annotations, over the base annotations this adds. */
  annotations?: Record<string, string>;
}

/** An image ready to push: its documents and where its blobs come from. */
export interface AssembledImage {
  /** The config blob. */
  config: JsonBlob;
  /** The manifest, whose digest is the image's. */
  manifest: JsonBlob;
  /** The layers added, with their files. */
  layers: PreparedLayer[];
  /** Every layer of the image, the base's first, as the manifest lists them. */
  imageLayers: Descriptor[];
  /** The base, whose blobs the push reads or mounts. */
  base?: BaseImage;
}

/**
 * Builds the config and the manifest of `layers` on top of `options.base`:
 * the base's layers and `rootfs.diff_ids` then ours, its history then one
 * entry per layer, `created` replaced, and the edits applied. Nothing is
 * sent, so the digest is known before a push (`--dry-run`).
 *
 * @example
 * ```ts
 * import { assembleImage } from "./append.ts";
 * const image = assembleImage([], {
 *   platform: { os: "linux", architecture: "amd64" },
 *   created: "1970-01-01T00:00:00Z",
 *   edits: { env: ["PYTHONPATH=/opt/ocisync/deps"] },
 * });
 * console.log(image.manifest.descriptor.digest);
 * ```
 */
export function assembleImage(layers: PreparedLayer[], options: AssembleOptions): AssembledImage {
  const { base, created } = options;
  const history = layers.map(() => historyEntry(created));
  const config: ImageConfig = base
    ? {
      ...base.config,
      created,
      rootfs: {
        type: "layers",
        diff_ids: [...base.config.rootfs.diff_ids, ...layers.map((l) => l.diffId)],
      },
      history: [...(base.config.history ?? []), ...history],
    }
    : imageConfig({ platform: options.platform, created, layers });
  const configBlob = jsonBlob(editConfig(config, options.edits ?? {}), MediaType.OciConfig);
  const baseLayers = (base?.manifest.layers ?? []).map((d) => ({
    ...d,
    mediaType: OCI_EQUIVALENTS[d.mediaType] ?? d.mediaType,
  }));
  const annotations = {
    ...(base
      ? { [BASE_NAME_ANNOTATION]: base.name, [BASE_DIGEST_ANNOTATION]: base.descriptor.digest }
      : {}),
    ...options.annotations,
  };
  const imageLayers = [...baseLayers, ...layers.map((l) => l.descriptor)];
  return {
    config: configBlob,
    manifest: jsonBlob(
      imageManifest(configBlob.descriptor, imageLayers, annotations),
      MediaType.OciManifest,
    ),
    layers,
    imageLayers,
    ...(base ? { base } : {}),
  };
}

/** Options of {@linkcode pushAssembled}. */
export interface PushAssembledOptions {
  /** Blobs sent at once. Default 4. */
  concurrency?: number;
  /** Progress events. */
  onBlob?: BlobListener;
}

/**
 * Pushes an assembled image: the base's blobs the destination lacks
 * (mounted where it can), our layers and config, then the manifest under
 * `tags`.
 *
 * @example
 * ```ts
 * import { assembleImage, pushAssembled } from "./append.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const layout = await LayoutTarget.open("./images", { create: true });
 * const image = assembleImage([], {
 *   platform: { os: "linux", architecture: "amd64" },
 *   created: "1970-01-01T00:00:00Z",
 * });
 * await pushAssembled(layout, ["empty"], image);
 * ```
 */
export async function pushAssembled(
  destination: Target,
  tags: string[],
  image: AssembledImage,
  options: PushAssembledOptions = {},
): Promise<PushResult> {
  const { base } = image;
  const blobs: BlobSource[] = [
    ...(base ? base.manifest.layers.map((d) => blobSource(base.target, destination, d)) : []),
    ...image.layers.map((layer) => ({
      descriptor: layer.descriptor,
      open: async () => (await Deno.open(layer.path)).readable,
    })),
    {
      descriptor: image.config.descriptor,
      open: () => Promise.resolve(ReadableStream.from([image.config.bytes])),
    },
  ];
  const stats = await pushBlobs(destination, blobs, options.concurrency ?? 4, options.onBlob);
  await destination.pushManifest(image.manifest.descriptor, image.manifest.bytes, tags);
  return {
    digest: image.manifest.descriptor.digest,
    manifest: image.manifest.descriptor,
    config: image.config.descriptor,
    layers: image.imageLayers,
    stats,
  };
}

/**
 * Applies runtime edits to a config, returning a new config.
 *
 * @throws {UsageError} for an `env` entry without `=`, or a relative `workdir`.
 * @example
 * ```ts
 * import { editConfig } from "./append.ts";
 * const config = editConfig(
 *   { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] },
 *     config: { Env: ["PATH=/usr/bin:/bin"] } },
 *   { env: ["PATH=/opt/x/bin:$PATH"], workdir: "/opt/x" },
 * );
 * config.config?.Env; // ["PATH=/opt/x/bin:/usr/bin:/bin"]
 * ```
 */
export function editConfig(config: ImageConfig, edits: ConfigEdits): ImageConfig {
  const runtime = { ...config.config };
  if (edits.env?.length) runtime.Env = mergeEnv(runtime.Env ?? [], edits.env);
  if (edits.workdir !== undefined) {
    if (!edits.workdir.startsWith("/")) {
      throw new UsageError(`the working directory must be absolute, not "${edits.workdir}"`);
    }
    runtime.WorkingDir = edits.workdir;
  }
  if (edits.entrypoint !== undefined) {
    setOrDelete(runtime, "Entrypoint", edits.entrypoint);
    if (edits.cmd === undefined) delete runtime.Cmd;
  }
  if (edits.cmd !== undefined) setOrDelete(runtime, "Cmd", edits.cmd);
  if (edits.user !== undefined) runtime.User = edits.user;
  if (edits.labels && Object.keys(edits.labels).length) {
    runtime.Labels = sorted({ ...runtime.Labels, ...edits.labels });
  }
  return { ...config, config: runtime };
}

function setOrDelete(
  runtime: NonNullable<ImageConfig["config"]>,
  key: "Entrypoint" | "Cmd",
  value: string[],
): void {
  if (value.length) runtime[key] = value;
  else delete runtime[key];
}

/** The base's `NAME=VALUE` list with `settings` applied in order; names keep their place. */
function mergeEnv(base: string[], settings: string[]): string[] {
  const env = new Map<string, string>();
  for (const entry of base) {
    const eq = entry.indexOf("=");
    env.set(eq < 0 ? entry : entry.slice(0, eq), eq < 0 ? "" : entry.slice(eq + 1));
  }
  for (const setting of settings) {
    const eq = setting.indexOf("=");
    if (eq <= 0) throw new UsageError(`an environment setting is NAME=VALUE, not "${setting}"`);
    env.set(setting.slice(0, eq), expand(setting.slice(eq + 1), env));
  }
  return [...env].map(([name, value]) => `${name}=${value}`);
}

/** `$NAME` and `${NAME}` from `env`; an empty one takes a neighbouring `:` with it. */
function expand(value: string, env: Map<string, string>): string {
  return value.replace(
    /\$\$|(:?)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))(:?)/g,
    (match, before: string | undefined, braced?: string, bare?: string, after?: string) => {
      if (match === "$$") return "$";
      const found = env.get((braced ?? bare)!);
      if (found) return `${before}${found}${after}`;
      return before && after ? ":" : "";
    },
  );
}
