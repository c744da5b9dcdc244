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
export {
  BASE_DIGEST_ANNOTATION,
  BASE_NAME_ANNOTATION,
  ORAS_DIGEST_ANNOTATION,
  ORAS_UNPACK_ANNOTATION,
  TITLE_ANNOTATION,
} from "./src/oci/annotations.ts";
export type {
  Descriptor,
  ImageConfig,
  Index,
  Manifest,
  ManifestOrIndex,
  Platform,
} from "./src/oci/types.ts";
export { parseManifestOrIndex } from "./src/oci/types.ts";
export {
  type CallOptions,
  type Closer,
  isCloser,
  isMounter,
  isPushAuthenticator,
  isReferrerLister,
  isTagPager,
  type Mounter,
  type MountResult,
  type PushAuthenticator,
  type ReferrerLister,
  type TagPager,
  type Target,
} from "./src/oci/target.ts";
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
  DEFAULT_PLATFORM,
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
export {
  type ArtifactBlob,
  artifactPlan,
  type BlobSource,
  bytesBlob,
  fileBlob,
  type ImagePlan,
  imagePlan,
  type ImagePlanOptions,
  planImage,
  type PreparedLayer,
  targetBlob,
} from "./src/image/plan.ts";
export { type AppendOptions, appendPlan, type BaseImage } from "./src/image/append.ts";
export { type ConfigEdits, editConfig } from "./src/image/edit.ts";
export { gcLayout, type GcResult, LayoutTarget, REF_NAME_ANNOTATION } from "./src/layout/mod.ts";
export type { LayoutOpenOptions } from "./src/layout/mod.ts";
export {
  type Challenge,
  type FetchedManifest,
  type HttpExchange,
  type HttpRequest,
  type HttpResponse,
  type MountSource,
  parseChallenges,
  RegistryClient,
  type RegistryClientOptions,
  type RegistryOptions,
  RegistryTarget,
  type TagsOptions,
  type TagsPage,
  type TagsPageOptions,
  type TransportOptions,
} from "./src/remote/mod.ts";
export {
  authFilePaths,
  type Credential,
  CredentialHelper,
  type CredentialHelperOptions,
  type CredentialLookup,
  credentialLookup,
  type CredentialOptions,
  type CredentialSource,
  type CredentialStore,
  type DockerConfigOptions,
  dockerConfigPath,
  DockerConfigStore,
  type EnvLookup,
  removeCredential,
  saveCredential,
  type SaveCredentialOptions,
} from "./src/credentials/mod.ts";
export {
  closeTarget,
  DEFAULT_TAG,
  destinationTags,
  openTarget,
  type OpenTargetOptions,
  resolveReference,
  Session,
  type SessionOpenOptions,
  type SessionOptions,
} from "./src/target/mod.ts";
export {
  type ArtifactFile,
  type LayerSource,
  prepareArtifactFile,
  prepareLayer,
  type PrepareOptions,
  pushArtifact,
  type PushArtifactOptions,
} from "./src/push/mod.ts";
export {
  pushBlobs,
  type PushResult,
  type TransferStats,
  type WriteOptions,
  writePlan,
} from "./src/push/write.ts";
export { pull, type PullOptions, type PullResult } from "./src/pull/mod.ts";
export { fetchBase, fetchImageManifest, openBase, type OpenedBase } from "./src/pull/read.ts";
export {
  type BlobEvent,
  type BlobListener,
  reportingStream,
  type StepEvent,
  type StepListener,
  StepReporter,
} from "./src/progress/mod.ts";
export { copyImage, type CopyOptions, type CopyResult } from "./src/copy/mod.ts";
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
