/**
 * The OCI image-spec's JSON documents as TypeScript types, with parsers that
 * validate what they read.
 *
 * @example
 * ```ts
 * import { parseManifestOrIndex } from "./types.ts";
 * const doc = parseManifestOrIndex(new TextEncoder().encode(
 *   '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}',
 * ));
 * console.log(doc.kind); // "index"
 * ```
 * @module
 */
import { DIGEST_FORMS, isDigest } from "../digest/parse.ts";
import type { Digest } from "../digest/parse.ts";
import { IntegrityError } from "../errors/mod.ts";
import { isIndexMediaType, MediaType } from "./mediatypes.ts";

/** A platform, as in an index entry or an image config. */
export interface Platform {
  /** The CPU architecture, e.g. `amd64`, `arm64`. */
  architecture: string;
  /** The operating system, e.g. `linux`. */
  os: string;
  /** The CPU variant, e.g. `v8` for arm64. */
  variant?: string;
  /** The OS version, used by Windows images. */
  "os.version"?: string;
  /** Required OS features. */
  "os.features"?: string[];
}

/** A content descriptor: what a manifest or index says about a blob. */
export interface Descriptor {
  /** The media type of the referenced content. */
  mediaType: string;
  /** The digest of the referenced content. */
  digest: Digest;
  /** The size in bytes of the referenced content. */
  size: number;
  /** Other places the content can be downloaded from. */
  urls?: string[];
  /** Arbitrary metadata, e.g. `org.opencontainers.image.title`. */
  annotations?: Record<string, string>;
  /** The platform, for entries of an index. */
  platform?: Platform;
  /** The artifact type, for manifests of artifacts. */
  artifactType?: string;
  /** The content itself, base64-encoded, for small blobs. */
  data?: string;
}

/** An image manifest (OCI or Docker schema 2). */
export interface Manifest {
  /** Always 2. */
  schemaVersion: 2;
  /** The manifest media type. */
  mediaType?: string;
  /** The artifact type, when the manifest is an artifact. */
  artifactType?: string;
  /** The image config, or the empty descriptor for artifacts. */
  config: Descriptor;
  /** The layers, in order from the base up. */
  layers: Descriptor[];
  /** The manifest this one refers to (signatures, SBOMs). */
  subject?: Descriptor;
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
}

/** An image index (OCI) or manifest list (Docker). */
export interface Index {
  /** Always 2. */
  schemaVersion: 2;
  /** The index media type. */
  mediaType?: string;
  /** The artifact type, when the index is an artifact. */
  artifactType?: string;
  /** The manifests, usually one per platform. */
  manifests: Descriptor[];
  /** The manifest this one refers to. */
  subject?: Descriptor;
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
}

/** An image config: the parts ocisync reads and writes. */
export interface ImageConfig {
  /** When the image was created, as RFC 3339. */
  created?: string;
  /** Who created the image. */
  author?: string;
  /** The CPU architecture. */
  architecture: string;
  /** The operating system. */
  os: string;
  /** The CPU variant. */
  variant?: string;
  /** The runtime defaults: user, env, entrypoint, command, working dir, labels. */
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    WorkingDir?: string;
    Labels?: Record<string, string>;
    [key: string]: unknown;
  };
  /** The layers' uncompressed digests, in order. */
  rootfs: { type: "layers"; diff_ids: Digest[] };
  /** One entry per layer or empty-layer step. */
  history?: {
    created?: string;
    created_by?: string;
    comment?: string;
    empty_layer?: boolean;
  }[];
}

/** A parsed manifest or index, tagged by kind. */
export type ManifestOrIndex =
  | { kind: "manifest"; manifest: Manifest; mediaType: string }
  | { kind: "index"; index: Index; mediaType: string };

/** The largest manifest ocisync accepts, as the distribution-spec suggests. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

function fail(message: string): never {
  throw new IntegrityError(`invalid manifest: ${message}`);
}

/**
 * Whether a parsed JSON value is an object: not `null`, not an array.
 *
 * @example
 * ```ts
 * import { isJsonObject } from "./types.ts";
 * isJsonObject(JSON.parse("null")); // false
 * ```
 */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Validates a descriptor's required fields.
 *
 * @throws {IntegrityError} when a field is missing or has the wrong type.
 * @example
 * ```ts
 * import { checkDescriptor } from "./types.ts";
 * checkDescriptor({ mediaType: "x/y", digest: "sha256:" + "0".repeat(64), size: 1 }, "layer");
 * ```
 */
export function checkDescriptor(value: unknown, where: string): Descriptor {
  if (!isJsonObject(value)) fail(`${where} is not an object`);
  if (typeof value.mediaType !== "string" || value.mediaType === "") {
    fail(`${where} has no mediaType`);
  }
  // Checked against the digest grammar here, where every descriptor read from JSON passes, so
  // that no digest can become a path component (`blobs/sha256/../..`) further on.
  if (typeof value.digest !== "string" || !isDigest(value.digest)) {
    fail(`${where} has an invalid digest ${quoted(value.digest)}: expected ${DIGEST_FORMS}`);
  }
  if (typeof value.size !== "number" || !Number.isSafeInteger(value.size) || value.size < 0) {
    fail(`${where} has an invalid size`);
  }
  if (value.annotations !== undefined) checkStringMap(value.annotations, `${where} annotations`);
  for (const field of ["artifactType", "data"] as const) {
    if (value[field] !== undefined && typeof value[field] !== "string") {
      fail(`${where} has a ${field} that is not a string`);
    }
  }
  if (value.urls !== undefined && !isStringArray(value.urls)) {
    fail(`${where} has urls that are not a list of strings`);
  }
  if (value.platform !== undefined) checkPlatform(value.platform, `${where} platform`);
  return value as unknown as Descriptor;
}

/** A value from hostile JSON, for a message: as JSON, and cut short. */
function quoted(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function isStringArray(value: unknown): boolean {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

function checkPlatform(value: unknown, where: string): void {
  if (
    !isJsonObject(value) || typeof value.os !== "string" ||
    typeof value.architecture !== "string" ||
    !["variant", "os.version"].every((k) =>
      value[k] === undefined || typeof value[k] === "string"
    ) ||
    (value["os.features"] !== undefined && !isStringArray(value["os.features"]))
  ) {
    fail(`${where} is not an object with os and architecture strings`);
  }
}

function checkStringMap(value: unknown, where: string): void {
  if (!isJsonObject(value) || Object.values(value).some((v) => typeof v !== "string")) {
    fail(`${where} must map strings to strings`);
  }
}

/**
 * Parses manifest bytes into a manifest or an index, and validates the
 * structure. The media type comes from the document, or from `contentType`
 * when the document has none (older Docker manifests), or from its shape.
 *
 * @throws {IntegrityError} when the bytes are not a valid manifest or index.
 * @example
 * ```ts
 * import { parseManifestOrIndex } from "./types.ts";
 * const bytes = new TextEncoder().encode('{"schemaVersion":2,"manifests":[]}');
 * parseManifestOrIndex(bytes).kind; // "index"
 * ```
 */
export function parseManifestOrIndex(bytes: Uint8Array, contentType?: string): ManifestOrIndex {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) {
    fail(`${bytes.byteLength} bytes is over the ${MAX_MANIFEST_BYTES}-byte limit`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    fail(`not JSON (${(error as Error).message})`);
  }
  if (!isJsonObject(doc)) fail("not a JSON object");
  if (doc.schemaVersion !== 2) fail(`schemaVersion is ${doc.schemaVersion}, expected 2`);
  for (const field of ["mediaType", "artifactType"] as const) {
    if (doc[field] !== undefined && typeof doc[field] !== "string") {
      fail(`${field} is not a string`);
    }
  }
  const mediaType = typeof doc.mediaType === "string"
    ? doc.mediaType
    : contentType && contentType !== "application/json"
    ? contentType
    : Array.isArray(doc.manifests)
    ? MediaType.OciIndex
    : MediaType.OciManifest;
  if (doc.annotations !== undefined) checkStringMap(doc.annotations, "annotations");
  if (doc.subject !== undefined) checkDescriptor(doc.subject, "subject");
  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(doc.manifests)) fail("index has no manifests array");
    doc.manifests.forEach((d, i) => checkDescriptor(d, `manifests[${i}]`));
    return { kind: "index", index: doc as unknown as Index, mediaType };
  }
  if (mediaType !== MediaType.OciManifest && mediaType !== MediaType.DockerManifest) {
    fail(`unsupported media type ${mediaType}`);
  }
  checkDescriptor(doc.config, "config");
  if (!Array.isArray(doc.layers)) fail("manifest has no layers array");
  doc.layers.forEach((d, i) => checkDescriptor(d, `layers[${i}]`));
  return { kind: "manifest", manifest: doc as unknown as Manifest, mediaType };
}
