/**
 * ocisync as a library: deterministic layers, references, digests and the
 * typed errors. More of the API (registries, layouts, push, pull, copy, sync)
 * lands here as it is built.
 *
 * @example
 * ```ts
 * import { parseReference, writeLayerFile } from "./mod.ts";
 * const ref = parseReference("oci:./bundle:v1");
 * const layer = await writeLayerFile("./flows", "flows.tar.gz", { prefix: "opt/flows" });
 * console.log(ref.kind, layer.digest);
 * ```
 * @module
 */
export * from "./src/errors/mod.ts";
export * from "./src/digest/mod.ts";
export * from "./src/ref/mod.ts";
export { isIndexMediaType, MANIFEST_MEDIA_TYPES, MediaType } from "./src/oci/mediatypes.ts";
export type {
  Descriptor,
  ImageConfig,
  Index,
  Manifest,
  ManifestOrIndex,
  Platform,
} from "./src/oci/types.ts";
export { parseManifestOrIndex } from "./src/oci/types.ts";
export type { Target } from "./src/oci/target.ts";
export {
  type Compression,
  COMPRESSIONS,
  compressStream,
  layerMediaType,
} from "./src/compress/mod.ts";
export {
  IGNORE_FILE,
  type Layer,
  layerFromFolder,
  type LayerOptions,
  type LayerStream,
  normalizePrefix,
  walkFolder,
  type WalkOptions,
  writeLayerFile,
} from "./src/layer/mod.ts";
export { type TarEntry, type TarOptions, tarStream } from "./src/tar/writer.ts";
