/**
 * Appends layers to a base image, as `crane append` and Jib do, without
 * running anything from the base: its layers, config and history are kept,
 * ours added after them, and the config's runtime settings edited.
 *
 * The builder is pure: it takes the base as data (its manifest, its config,
 * and how to read its layers) and returns a plan. Reading the base from a
 * target is `openBase` of `../pull/read.ts`; writing the plan is `writePlan`
 * of `../push/write.ts`, which mounts or streams the base's layers and never
 * downloads those the destination has. The result depends only on the base's
 * digest, the layers and the edits, so the same inputs give the same digest.
 *
 * The result is always an OCI manifest. Docker schema 2 media types of a
 * base are written as their OCI equivalents: the bytes, and so the digests,
 * are the same.
 *
 * @example
 * ```ts
 * import { appendPlan } from "./append.ts";
 * import { bytesBlob } from "./blob.ts";
 * import { EMPTY_CONFIG } from "./build.ts";
 * const plan = appendPlan({
 *   name: "docker.io/library/busybox:1",
 *   descriptor: { mediaType: "application/vnd.oci.image.manifest.v1+json",
 *     digest: `sha256:${"0".repeat(64)}`, size: 2 },
 *   manifest: { schemaVersion: 2, config: EMPTY_CONFIG.descriptor, layers: [] },
 *   config: { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } },
 *   blob: () => bytesBlob(EMPTY_CONFIG),
 * }, [], {
 *   created: "1970-01-01T00:00:00Z",
 *   edits: { workdir: "/app", env: ["PATH=/app/bin:$PATH"] },
 * });
 * console.log(plan.manifest.descriptor.digest);
 * ```
 * @module
 */
import { BASE_DIGEST_ANNOTATION, BASE_NAME_ANNOTATION } from "../oci/annotations.ts";
import { MediaType } from "../oci/mediatypes.ts";
import { parseReference } from "../ref/mod.ts";
import type { Descriptor, ImageConfig, Manifest } from "../oci/types.ts";
import { historyEntry } from "./build.ts";
import { type ConfigEdits, editConfig } from "./edit.ts";
import { type BlobSource, fileBlob, type PreparedLayer } from "./blob.ts";
import { type ImagePlan, planImage } from "./plan.ts";

/** Docker schema 2 media types and their OCI equivalents, for the same bytes. */
const OCI_EQUIVALENTS: Record<string, string> = {
  [MediaType.DockerLayerGzip]: MediaType.OciLayerGzip,
  "application/vnd.docker.image.rootfs.diff.tar": MediaType.OciLayer,
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
};

/** A base image, resolved to one platform, as data: what an append keeps of it. */
export interface BaseImage {
  /** The base's reference, for the `org.opencontainers.image.base.name` annotation. */
  name: string;
  /** The base's image manifest (the chosen platform's, for an index). */
  descriptor: Descriptor;
  /** That manifest. */
  manifest: Manifest;
  /** Its config. */
  config: ImageConfig;
  /** How to read (or mount) one of the manifest's layers. */
  blob(descriptor: Descriptor): BlobSource;
}

/** Options of {@linkcode appendPlan}. */
export interface AppendOptions {
  /** The config's `created`, and the history's, RFC 3339. */
  created: string;
  /** Runtime settings, over the base's. */
  edits?: ConfigEdits;
  /** Manifest annotations, over the base annotations this adds. */
  annotations?: Record<string, string>;
}

/**
 * The plan of `layers` appended to `base`: the base's layers and `rootfs.diff_ids` then ours,
 * its history then one entry per layer, `created` replaced, the edits applied, and the base
 * named in the manifest's annotations. Nothing is read or sent.
 *
 * @throws {UsageError} for an edit that is not valid (see `editConfig`).
 * @example
 * ```ts
 * import { appendPlan } from "./append.ts";
 * import { openBase } from "../pull/read.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const base = await openBase(parseReference("docker.io/library/python:3.12-slim"));
 * const plan = appendPlan(base, [], {
 *   created: "1970-01-01T00:00:00Z",
 *   edits: { env: ["PYTHONPATH=/opt/ocisync/deps"] },
 * });
 * console.log(plan.manifest.descriptor.digest);
 * ```
 */
export function appendPlan(
  base: BaseImage,
  layers: PreparedLayer[],
  options: AppendOptions,
): ImagePlan {
  const { created } = options;
  const config: ImageConfig = {
    ...base.config,
    created,
    rootfs: {
      type: "layers",
      diff_ids: [...base.config.rootfs.diff_ids, ...layers.map((l) => l.diffId)],
    },
    history: [...(base.config.history ?? []), ...layers.map(() => historyEntry(created))],
  };
  const baseBlobs = base.manifest.layers.map((descriptor): BlobSource => ({
    ...base.blob(descriptor),
    descriptor: {
      ...descriptor,
      mediaType: OCI_EQUIVALENTS[descriptor.mediaType] ?? descriptor.mediaType,
    },
  }));
  return planImage(
    editConfig(config, options.edits ?? {}),
    [...baseBlobs, ...layers.map((layer) => fileBlob(layer.descriptor, layer.path))],
    { ...baseAnnotations(base), ...options.annotations },
  );
}

/**
 * The annotations that name a base image: `org.opencontainers.image.base.digest`, and
 * `.base.name` for a registry's image. A layout's or an archive's name is a path on this
 * machine: it would put the checkout's place in a pushed byte, and give each place its own
 * digest, so it is left out; the digest names the base all the same.
 *
 * @example
 * ```ts
 * import { baseAnnotations } from "./append.ts";
 * const digest = `sha256:${"0".repeat(64)}` as const;
 * baseAnnotations({ name: "oci:/home/me/base:v1", descriptor: { mediaType: "", digest, size: 0 } });
 * // only org.opencontainers.image.base.digest
 * ```
 */
export function baseAnnotations(
  base: { name: string; descriptor: Descriptor },
): Record<string, string> {
  const registry = parseReference(base.name).kind === "registry";
  return {
    ...(registry ? { [BASE_NAME_ANNOTATION]: base.name } : {}),
    [BASE_DIGEST_ANNOTATION]: base.descriptor.digest,
  };
}
