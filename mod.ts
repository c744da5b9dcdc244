/**
 * ocisync as a library for Deno: push folders and files to OCI registries and `oci:` layouts,
 * pull them into folders, copy, inspect, and keep a folder in step with a tag.
 *
 * **The high-level API** does one job per call, from reference strings, with the credentials
 * the CLI would use (Docker's config, containers' `auth.json`, credential helpers); it prints
 * nothing and throws the typed errors below ({@linkcode UsageError}, {@linkcode AuthError},
 * {@linkcode NotFoundError}, {@linkcode IntegrityError}, {@linkcode NetworkError},
 * {@linkcode UnsafeContentError}, all {@linkcode OcisyncError}s):
 * {@linkcode pushFolder}, {@linkcode pushFiles}, {@linkcode pullTo}, {@linkcode copy},
 * {@linkcode inspect}, {@linkcode syncOnce} and {@linkcode watch}.
 * An error of the file system (`Deno.errors.PermissionDenied`, `NotFound`, …) comes as an
 * {@linkcode OcisyncError} too (a {@linkcode NotFoundError} for a missing path), whose message
 * names the operation and the path, with the Deno error as its `cause`. A call whose `signal`
 * aborts stops what it is doing (a transfer, the packing of a folder), writes nothing more, and
 * throws the signal's reason, as `fetch` does.
 *
 * **The building blocks** are what those calls are made of, for the jobs they do not cover:
 * references and digests; the `Target` interface, with registries ({@linkcode RegistryTarget})
 * and layouts ({@linkcode LayoutTarget}) opened through a {@linkcode Session}; deterministic
 * layers; pure plans of images and artifacts ({@linkcode imagePlan}, {@linkcode appendPlan},
 * {@linkcode artifactPlan}) and the one writer ({@linkcode writePlan}); {@linkcode pull},
 * {@linkcode copyImage}, {@linkcode syncLoop}, {@linkcode buildImage}, and credentials.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pullTo, pushFolder } from "./mod.ts";
 * const tmp = await Deno.makeTempDir();
 * await Deno.mkdir(`${tmp}/flows`);
 * await Deno.writeTextFile(`${tmp}/flows/flow.py`, "print('hi')\n");
 * // A registry reference (`ghcr.io/acme/flows:v1`) works the same, with the Docker login.
 * const pushed = await pushFolder(`oci:${tmp}/bundle:v1`, `${tmp}/flows`, { dest: "/opt/flows" });
 * const pulled = await pullTo(`oci:${tmp}/bundle:v1`, `${tmp}/out`);
 * assert.equal(pulled.digest, pushed.digest);
 * assert.equal(await Deno.readTextFile(`${tmp}/out/opt/flows/flow.py`), "print('hi')\n");
 * await Deno.remove(tmp, { recursive: true });
 * ```
 *
 * @example The building blocks: a layer, a plan, the writer
 * ```ts
 * import assert from "node:assert/strict";
 * import { imagePlan, LayoutTarget, prepareLayer, writePlan } from "./mod.ts";
 * const tmp = await Deno.makeTempDir();
 * await Deno.mkdir(`${tmp}/flows`);
 * await Deno.writeTextFile(`${tmp}/flows/flow.py`, "print('hi')\n");
 * const layer = await prepareLayer({ kind: "folder", path: `${tmp}/flows`, prefix: "opt/flows" }, tmp, 0);
 * const plan = imagePlan([layer], {
 *   platform: { os: "linux", architecture: "arm64" },
 *   created: "1970-01-01T00:00:00Z",
 * });
 * const target = await LayoutTarget.open(`${tmp}/bundle`, { create: true });
 * const pushed = await writePlan(target, plan, ["v1"]);
 * assert.equal((await target.resolve("v1")).digest, pushed.digest);
 * await Deno.remove(tmp, { recursive: true });
 * ```
 * @module
 */

// The high-level API: one job per call, from reference strings.
export {
  type CallSettings,
  type CopiedImage,
  copy,
  type CopyImageOptions,
  type Credentials,
  DEFAULT_ARTIFACT_TYPE,
  inspect,
  type Inspection,
  type InspectionBase,
  pullTo,
  type PullToOptions,
  type PushedImage,
  pushFiles,
  type PushFilesOptions,
  pushFolder,
  type PushFolderOptions,
  type SyncFolderOptions,
  syncOnce,
  watch,
  type WatchOptions,
} from "./src/api/mod.ts";

// The building blocks.
// The typed errors every function throws: usage, auth, not found, integrity, network, unsafe content.
export * from "./src/errors/mod.ts";
// Digests: parse, compute, and hash streams as they pass.
export * from "./src/digest/mod.ts";
// References: registry repositories and `oci:` layouts, parsed and written back.
export * from "./src/ref/mod.ts";
// OCI media types, the annotations ocisync reads and writes, and the manifest types.
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
// The `Target` interface every place implements, and its optional capabilities.
export {
  type BlobRangeFetcher,
  type BlobWriter,
  type CallOptions,
  type Closer,
  type Discarder,
  type FetchedManifest,
  isBlobRangeFetcher,
  isBlobWriter,
  isCloser,
  isDiscarder,
  isMounter,
  isPushAuthenticator,
  isReferenceFetcher,
  isReferrerLister,
  isTagPager,
  type Mounter,
  type MountResult,
  type PendingBlob,
  type PushAuthenticator,
  type ReferenceFetcher,
  type ReferrerLister,
  type TagPager,
  type Target,
} from "./src/oci/target.ts";
// Deterministic layers: walk a folder, write a tar, compress it.
export {
  type Compression,
  type CompressionOptions,
  COMPRESSIONS,
  compressStream,
  type GzipOptions,
  layerMediaType,
} from "./src/compress/mod.ts";
export {
  IGNORE_FILE,
  type Layer,
  layerFromFolder,
  type LayerOptions,
  type LayerStream,
  walkFolder,
  type WalkOptions,
  writeLayerFile,
} from "./src/layer/mod.ts";
export { type TarEntry, type TarOptions, tarStream } from "./src/tar/writer.ts";
// Reading layers: tar entries, decompression, and the safe unpacker.
export { readTar, type TarEntryType, type TarReadEntry } from "./src/tar/reader.ts";
export { decompressStream, detectCompression } from "./src/compress/decompress.ts";
export type { ZstdPiecesOptions } from "./src/compress/zstd_frames.ts";
export { Unpacker, type UnpackOptions, type UnpackStats } from "./src/unpack/mod.ts";
// Platforms: parse, format, pick one from an index.
export {
  DEFAULT_PLATFORM,
  formatPlatform,
  hostPlatform,
  parsePlatform,
  selectManifest,
} from "./src/image/platform.ts";
// Pure builders of configs and manifests.
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
// Plans: an image, an artifact, or layers appended to a base, with the sources of their blobs.
export {
  type ArtifactBlob,
  artifactPlan,
  type ImagePlan,
  imagePlan,
  type ImagePlanOptions,
  type IndexPlan,
  indexPlan,
  planImage,
} from "./src/image/plan.ts";
export {
  type BlobSource,
  bytesBlob,
  fileBlob,
  type PreparedLayer,
  targetBlob,
} from "./src/image/blob.ts";
export { type AppendOptions, appendPlan, type BaseImage } from "./src/image/append.ts";
export { type ConfigEdits, editConfig } from "./src/image/edit.ts";
// OCI image layout directories as targets, and their garbage collection.
export { gcLayout, type GcResult, LayoutTarget, REF_NAME_ANNOTATION } from "./src/layout/mod.ts";
export type { LayoutOpenOptions } from "./src/layout/mod.ts";
// Registries as targets, over the distribution API, and the client that authenticates to them.
export {
  type HttpExchange,
  type HttpRequest,
  type HttpResponse,
  type MountSource,
  RegistryClient,
  type RegistryClientOptions,
  type RegistryOptions,
  RegistryTarget,
  type TagsOptions,
  type TagsPage,
  type TagsPageOptions,
  type TransportOptions,
} from "./src/remote/mod.ts";
// Credentials, found and saved where docker, podman, skopeo and ORAS keep them.
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
  loginFilePath,
  removeCredential,
  saveCredential,
  type SaveCredentialOptions,
} from "./src/credentials/mod.ts";
// Sessions: open targets from references, one registry client per registry.
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
// Pushing: layers and artifact files prepared, and the one writer of plans.
export {
  type ArtifactFile,
  type ArtifactPlanOptions,
  type LayerSource,
  planArtifact,
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
// Several platforms: an index of images, and layers appended to every platform of a base.
export {
  appendToIndex,
  type AppendToIndexOptions,
  openBaseIndex,
  type OpenedBaseIndex,
  writeIndexPlan,
} from "./src/push/index.ts";
// Pulling into a folder, and reading manifests and bases.
export { type LayerOperation, pull, type PullOptions, type PullResult } from "./src/pull/mod.ts";
export {
  fetchBase,
  fetchImageManifest,
  type ImageVerifier,
  openBase,
  type OpenedBase,
  type VerifiedImage,
  type VerifyImageOptions,
} from "./src/pull/read.ts";
// Progress events of transfers and steps, for a display to draw.
export {
  type BlobEvent,
  type BlobListener,
  reportingStream,
  type StepEvent,
  type StepListener,
  StepReporter,
} from "./src/progress/mod.ts";
// Copying between any two targets.
export { copyImage, type CopyOptions, type CopyResult } from "./src/copy/mod.ts";
// The sync loop, its outputs, its state, and its health endpoint.
export {
  directoryOutput,
  type DirectoryOutputOptions,
  eventsOutput,
  type EventsOutputOptions,
  type EventsSink,
  execOutput,
  type ExecOutputOptions,
  type HealthReport,
  layerPaths,
  type ListenAddress,
  lockSyncPaths,
  serveSyncHttp,
  type SyncChange,
  type SyncHttpOptions,
  type SyncHttpServer,
  type SyncLocks,
  syncLoop,
  SyncMetrics,
  type SyncOptions,
  type SyncOutput,
  SyncState,
  type SyncStateEntry,
  type SyncTargetConfig,
  type SyncTick,
  type TagPolicy,
  type TargetHealth,
  verifierPolicy,
} from "./src/sync/mod.ts";
export { versionDirectory } from "./src/sync/version_directory.ts";
export { webhookOutput, type WebhookOutputOptions } from "./src/sync/webhook.ts";
export { parseSyncConfig, type SyncConfig } from "./src/sync/config_file.ts";
// Python dependencies as a layer.
export {
  buildDepsLayer,
  DEFAULT_DEPS_PREFIX,
  type DepsLayer,
  type DepsOptions,
  type InstallerChoice,
  type InstallerName,
  type InstallOptions,
  type Libc,
  LIBCS,
  pipPlatformTags,
} from "./src/python/mod.ts";
// Signatures: cosign's classic form and Sigstore bundles, signed with a key, verified with keys
// or keylessly against a trusted root.
export * as trust from "./src/trust/mod.ts";
export { SignatureError, type SignatureFailure, type VerifierFiles } from "./src/trust/mod.ts";
// Build recipes: images from a YAML file.
export {
  buildImage,
  type BuildOptions,
  type BuildResult,
  type BuiltLayer,
  type IndexPushResult,
  parseRecipe,
  type PlatformImage,
  readRecipe,
  type Recipe,
  type RecipeLayer,
  type RequirementsLayer,
  type SourceLayer,
} from "./src/build/mod.ts";
