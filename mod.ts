/**
 * ocisync as a library: deterministic layers, references, digests, the typed
 * errors, registries and OCI layouts as `Target`s, and the push, pull, copy and
 * sync jobs that the CLI runs.
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
export { readTar, type TarEntryType, type TarReadEntry } from "./src/tar/reader.ts";
export { decompressStream, detectCompression } from "./src/compress/decompress.ts";
export { Unpacker, type UnpackOptions, type UnpackStats } from "./src/unpack/mod.ts";
export {
  formatPlatform,
  hostPlatform,
  parsePlatform,
  selectManifest,
} from "./src/image/platform.ts";
export {
  artifactManifest,
  createdAt,
  EMPTY_CONFIG,
  imageConfig,
  type ImageConfigSpec,
  type ImageLayer,
  imageManifest,
  type JsonBlob,
  jsonBlob,
} from "./src/image/build.ts";
export { gcLayout, type GcResult, LayoutTarget, REF_NAME_ANNOTATION } from "./src/layout/mod.ts";
export type { LayoutOpenOptions } from "./src/layout/mod.ts";
export {
  type Challenge,
  type FetchedManifest,
  type HttpExchange,
  type HttpRequest,
  type HttpResponse,
  parseChallenges,
  RegistryClient,
  type RegistryClientOptions,
  type RegistryOptions,
  RegistryTarget,
  type TagsPage,
  type TagsPageOptions,
  type TransportOptions,
} from "./src/remote/mod.ts";
export {
  type Credential,
  type CredentialLookup,
  credentialLookup,
  type CredentialOptions,
  dockerConfigPath,
  type EnvLookup,
  removeCredential,
  saveCredential,
  type SaveCredentialOptions,
} from "./src/remote/credentials.ts";
export {
  closeTarget,
  DEFAULT_TAG,
  destinationTags,
  openTarget,
  type OpenTargetOptions,
  resolveReference,
} from "./src/target/mod.ts";
export {
  type ArtifactFile,
  type BlobSource,
  type LayerSource,
  type PreparedLayer,
  prepareLayer,
  type PrepareOptions,
  pushArtifact,
  type PushArtifactOptions,
  pushBlobs,
  pushImage,
  type PushImageOptions,
  type PushResult,
  type TransferStats,
} from "./src/push/mod.ts";
export {
  fetchImageManifest,
  ORAS_DIGEST_ANNOTATION,
  ORAS_UNPACK_ANNOTATION,
  pull,
  type PullOptions,
  type PullResult,
  TITLE_ANNOTATION,
} from "./src/pull/mod.ts";
export {
  type BlobEvent,
  type BlobListener,
  reportingStream,
  type StepEvent,
  type StepListener,
  StepReporter,
} from "./src/progress/mod.ts";
export { blobSource, copyImage, type CopyOptions, type CopyResult } from "./src/copy/mod.ts";
export {
  directoryOutput,
  type DirectoryOutputOptions,
  eventsOutput,
  type EventsOutputOptions,
  execOutput,
  type ExecOutputOptions,
  type HealthReport,
  layerPaths,
  type ListenAddress,
  parseJitter,
  parseListenAddress,
  parseSyncConfig,
  serveSyncHttp,
  SYNC_DEFAULTS,
  type SyncChange,
  type SyncConfig,
  type SyncHttpOptions,
  syncLoop,
  SyncMetrics,
  type SyncOptions,
  type SyncOutput,
  SyncState,
  type SyncStateEntry,
  type SyncTargetConfig,
  syncTargetConfig,
  type SyncTargetKey,
  type SyncTargetValues,
  type SyncTick,
  type TargetHealth,
  versionDirectory,
  webhookOutput,
  type WebhookOutputOptions,
} from "./src/sync/mod.ts";
export {
  buildDepsLayer,
  cacheKey,
  DEFAULT_DEPS_PREFIX,
  defaultCacheDir,
  type DepsLayer,
  type DepsOptions,
  findInstaller,
  installArgs,
  type Installer,
  INSTALLER_COMMAND_ENV,
  type InstallerChoice,
  type InstallerName,
  type InstallOptions,
  LayerCache,
  normalizeInstall,
  type NormalizeResult,
  PORTABLE_SHEBANG,
  readRequirements,
  type RequirementsInput,
  runInstaller,
} from "./src/python/mod.ts";
export {
  type AssembledImage,
  assembleImage,
  type AssembleOptions,
  BASE_DIGEST_ANNOTATION,
  BASE_NAME_ANNOTATION,
  type BaseImage,
  type ConfigEdits,
  DEFAULT_PLATFORM,
  editConfig,
  fetchBase,
  openBase,
  pushAssembled,
  type PushAssembledOptions,
} from "./src/image/append.ts";
export {
  buildImage,
  type BuildOptions,
  type BuildResult,
  type BuiltLayer,
  parseRecipe,
  readRecipe,
  type Recipe,
  type RecipeLayer,
  type RequirementsLayer,
  type SourceLayer,
} from "./src/build/mod.ts";
