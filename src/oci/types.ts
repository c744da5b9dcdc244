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
import { isDigest } from "../digest/mod.ts";
import type { Digest } from "../digest/mod.ts";
import { IntegrityError } from "../errors/mod.ts";
import { isIndexMediaType, MediaType } from "./mediatypes.ts";

/** A platform, as in an index entry or an image config. */
export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
}

/** A content descriptor: what a manifest or index says about a blob. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
  data?: string;
}

/** An image manifest (OCI or Docker schema 2). */
export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** An image index (OCI) or manifest list (Docker). */
export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** An image config: the parts ocisync reads and writes. */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    WorkingDir?: string;
    Labels?: Record<string, string>;
    [key: string]: unknown;
  };
  rootfs: { type: "layers"; diff_ids: Digest[] };
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

function isObject(value: unknown): value is Record<string, unknown> {
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
  if (!isObject(value)) fail(`${where} is not an object`);
  if (typeof value.mediaType !== "string" || value.mediaType === "") {
    fail(`${where} has no mediaType`);
  }
  if (typeof value.digest !== "string" || !isDigest(value.digest)) {
    fail(`${where} has an invalid digest`);
  }
  if (typeof value.size !== "number" || !Number.isSafeInteger(value.size) || value.size < 0) {
    fail(`${where} has an invalid size`);
  }
  if (value.annotations !== undefined) checkStringMap(value.annotations, `${where} annotations`);
  return value as unknown as Descriptor;
}

function checkStringMap(value: unknown, where: string): void {
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== "string")) {
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
  if (!isObject(doc)) fail("not a JSON object");
  if (doc.schemaVersion !== 2) fail(`schemaVersion is ${doc.schemaVersion}, expected 2`);
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
