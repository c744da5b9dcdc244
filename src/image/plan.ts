/**
 * Plans: an image or an artifact as it will be written, before anything is.
 * A plan holds the manifest and the config, as the exact bytes that are
 * hashed, and a {@linkcode BlobSource} for each layer. The builders here are
 * pure: the same inputs give the same bytes, and so the same digest, which is
 * known before a push (`--dry-run`). One writer, `writePlan` of
 * `../push/write.ts`, sends a plan to any `Target`.
 *
 * @example
 * ```ts
 * import { artifactPlan, imagePlan } from "./plan.ts";
 * const image = imagePlan([], {
 *   platform: { os: "linux", architecture: "amd64" },
 *   created: "1970-01-01T00:00:00Z",
 *   edits: { workdir: "/app" },
 * });
 * const artifact = artifactPlan("application/vnd.acme.config", []);
 * console.log(image.manifest.descriptor.digest, artifact.blobs.length);
 * ```
 * @module
 */
import type { Digest } from "../digest/mod.ts";
import {
  ORAS_DIGEST_ANNOTATION,
  ORAS_UNPACK_ANNOTATION,
  TITLE_ANNOTATION,
} from "../oci/annotations.ts";
import { UsageError } from "../errors/mod.ts";
import { MediaType } from "../oci/mediatypes.ts";
import type { Descriptor, ImageConfig, Index, Platform } from "../oci/types.ts";
import {
  artifactManifest,
  EMPTY_CONFIG,
  imageConfig,
  imageManifest,
  type JsonBlob,
  jsonBlob,
  sorted,
} from "./build.ts";
import { type ConfigEdits, editConfig } from "./edit.ts";
import { type BlobSource, fileBlob, type PreparedLayer } from "./blob.ts";

/**
 * An image or an artifact ready to write: its documents, and where its layers come from. A
 * writer sends `blobs` and the config first, and the manifest last.
 */
export interface ImagePlan {
  /** The manifest, whose digest is the image's. */
  manifest: JsonBlob;
  /** The config blob: the image's config, or the empty config of an artifact. */
  config: JsonBlob;
  /** The layers' blobs, in the manifest's order; the config is not among them. */
  blobs: BlobSource[];
  /**
   * How an index lists this manifest, over what {@linkcode indexPlan} finds itself (the
   * platform of an image's config): a base index's own `platform` (with its `os.version` or
   * `os.features`), or an entry's `annotations`. Not part of the manifest's bytes.
   */
  entry?: Pick<Descriptor, "platform" | "annotations" | "artifactType">;
}

/**
 * An image index ready to write: the index document, and the manifests it lists, each a plan
 * of its own, in the index's order. A writer writes the manifests first, the index last.
 */
export interface IndexPlan {
  /** The index, whose digest is the multi-platform image's. */
  index: JsonBlob;
  /** The manifests it lists, in order. */
  manifests: ImagePlan[];
}

/**
 * The plan of an image whose config is `config` and whose layers are `blobs`, in order, with
 * manifest `annotations` (sorted, so that their order does not change the digest). The other
 * builders end here.
 *
 * @example
 * ```ts
 * import { planImage } from "./plan.ts";
 * const plan = planImage(
 *   { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } },
 *   [],
 *   { "org.opencontainers.image.version": "1.0" },
 * );
 * console.log(plan.manifest.descriptor.digest);
 * ```
 */
export function planImage(
  config: ImageConfig,
  blobs: BlobSource[],
  annotations?: Record<string, string>,
): ImagePlan {
  const configBlob = jsonBlob(config, MediaType.OciConfig);
  const manifest = imageManifest(
    configBlob.descriptor,
    blobs.map((b) => b.descriptor),
    annotations,
  );
  return { manifest: jsonBlob(manifest, MediaType.OciManifest), config: configBlob, blobs };
}

/** Options of {@linkcode imagePlan}. */
export interface ImagePlanOptions {
  /** The platform written into the config. */
  platform: Platform;
  /** The config's `created`, and the history's, RFC 3339. */
  created: string;
  /** Runtime settings: environment, working directory, entrypoint, labels… */
  edits?: ConfigEdits;
  /** Manifest annotations. */
  annotations?: Record<string, string>;
}

/**
 * The plan of an image made of `layers` alone (no base): a config for `platform` with one
 * history entry per layer, the edits applied, and the manifest. A Kubernetes image volume can
 * mount such an image as it is.
 *
 * @throws {UsageError} for an edit that is not valid (see `editConfig`).
 * @example
 * ```ts
 * import { imagePlan } from "./plan.ts";
 * const plan = imagePlan([], {
 *   platform: { os: "linux", architecture: "arm64", variant: "v8" },
 *   created: "1970-01-01T00:00:00Z",
 *   edits: { labels: { "org.opencontainers.image.source": "https://github.com/acme/flows" } },
 * });
 * console.log(plan.config.descriptor.digest);
 * ```
 */
export function imagePlan(layers: PreparedLayer[], options: ImagePlanOptions): ImagePlan {
  const config = imageConfig({ platform: options.platform, created: options.created, layers });
  return planImage(
    editConfig(config, options.edits ?? {}),
    layers.map((layer) => fileBlob(layer.descriptor, layer.path)),
    options.annotations,
  );
}

/**
 * One file of an artifact, read and described: a file as it is, or a folder packed into a
 * tar+gzip blob as ORAS packs one.
 */
export interface ArtifactBlob {
  /** The title: the path the puller writes. */
  title: string;
  /** The blob on disk: the file itself, or the packed folder. */
  path: string;
  /** The blob's media type, digest and size, without annotations. */
  descriptor: Descriptor;
  /** For a packed folder: the digest of its uncompressed tar, which ORAS checks as it unpacks. */
  tarDigest?: Digest;
}

/**
 * The plan of an ORAS-compatible artifact: one layer per file, titled with its path, the empty
 * config, and `artifactType`. A packed folder's layer is marked for unpacking, with its tar's
 * digest, as ORAS writes it.
 *
 * @example
 * ```ts
 * import { artifactPlan } from "./plan.ts";
 * const plan = artifactPlan("application/vnd.acme.config", [{
 *   title: "app.yaml",
 *   path: "./app.yaml",
 *   descriptor: { mediaType: "application/yaml", digest: `sha256:${"0".repeat(64)}`, size: 10 },
 * }]);
 * console.log(plan.manifest.descriptor.digest);
 * ```
 */
export function artifactPlan(
  artifactType: string,
  files: ArtifactBlob[],
  annotations?: Record<string, string>,
): ImagePlan {
  const blobs = files.map((file) =>
    fileBlob({
      ...file.descriptor,
      // In this order: descriptor annotations are written as given, not sorted.
      annotations: file.tarDigest === undefined ? { [TITLE_ANNOTATION]: file.title } : {
        [TITLE_ANNOTATION]: file.title,
        [ORAS_DIGEST_ANNOTATION]: file.tarDigest,
        [ORAS_UNPACK_ANNOTATION]: "true",
      },
    }, file.path)
  );
  const manifest = artifactManifest(artifactType, blobs.map((b) => b.descriptor), annotations);
  return { manifest: jsonBlob(manifest, MediaType.OciManifest), config: EMPTY_CONFIG, blobs };
}

/**
 * The plan of an OCI image index over `manifests`, in the order given, with index
 * `annotations` (sorted). Each entry is the manifest's descriptor with its platform: the plan's
 * `entry.platform` when set, else the `os`, `architecture` and `variant` (and `os.version`,
 * `os.features`) of its config; an artifact's empty config gives none. `entry.annotations`
 * and `entry.artifactType` are copied. Pure: the same plans give the same index digest.
 *
 * @throws {UsageError} when two manifests are the same, or two entries claim one platform
 * without annotations to tell them apart.
 * @example
 * ```ts
 * import { imagePlan, indexPlan } from "./plan.ts";
 * const created = "1970-01-01T00:00:00Z";
 * const plan = indexPlan([
 *   imagePlan([], { platform: { os: "linux", architecture: "amd64" }, created }),
 *   imagePlan([], { platform: { os: "linux", architecture: "arm64", variant: "v8" }, created }),
 * ]);
 * console.log(plan.index.descriptor.digest, plan.manifests.length);
 * ```
 */
export function indexPlan(
  manifests: ImagePlan[],
  annotations?: Record<string, string>,
): IndexPlan {
  const seen = new Set<string>();
  const platforms = new Set<string>();
  const entries = manifests.map((plan): Descriptor => {
    const { mediaType, digest, size } = plan.manifest.descriptor;
    if (seen.has(digest)) throw new UsageError(`the index lists the manifest ${digest} twice`);
    seen.add(digest);
    const platform = plan.entry?.platform ?? configPlatform(plan.config);
    const entryAnnotations = plan.entry?.annotations;
    if (platform && !entryAnnotations) {
      const key = JSON.stringify(platform);
      if (platforms.has(key)) {
        throw new UsageError(
          `the index has two manifests for ${
            [platform.os, platform.architecture, platform.variant].filter(Boolean).join("/")
          }`,
        );
      }
      platforms.add(key);
    }
    return {
      mediaType,
      digest,
      size,
      ...(plan.entry?.artifactType ? { artifactType: plan.entry.artifactType } : {}),
      ...(platform ? { platform } : {}),
      ...(entryAnnotations && Object.keys(entryAnnotations).length
        ? { annotations: entryAnnotations }
        : {}),
    };
  });
  const index: Index = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: entries,
    ...(annotations && Object.keys(annotations).length ? { annotations: sorted(annotations) } : {}),
  };
  return { index: jsonBlob(index, MediaType.OciIndex), manifests };
}

/** The platform an image config names, in the order the image-spec lists its fields. */
function configPlatform(config: JsonBlob): Platform | undefined {
  if (config.descriptor.mediaType !== MediaType.OciConfig) return undefined;
  let parsed: Partial<ImageConfig> & { "os.version"?: string; "os.features"?: string[] };
  try {
    parsed = JSON.parse(new TextDecoder().decode(config.bytes));
  } catch {
    return undefined;
  }
  if (typeof parsed.os !== "string" || typeof parsed.architecture !== "string") return undefined;
  return {
    architecture: parsed.architecture,
    os: parsed.os,
    ...(typeof parsed["os.version"] === "string" ? { "os.version": parsed["os.version"] } : {}),
    ...(Array.isArray(parsed["os.features"]) ? { "os.features": parsed["os.features"] } : {}),
    ...(typeof parsed.variant === "string" ? { variant: parsed.variant } : {}),
  };
}
