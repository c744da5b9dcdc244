/**
 * `ocisync build`: a recipe ({@linkcode Recipe}) becomes an image. Each
 * layer is built (dependency layers through their cache), appended to the
 * base when there is one, and pushed to a registry or an `oci:` layout;
 * with `dryRun`, the same work is done but nothing is pushed: the digests
 * are computed. The base's manifests and config are cached by digest (see
 * `./base_cache.ts`), so a dry run with a cached dependency layer and a base
 * pinned by digest that was read before needs no network.
 *
 * Without a base, the image holds only its layers: a Kubernetes image volume
 * can mount it as it is.
 *
 * @example
 * ```ts
 * import { buildImage, readRecipe } from "./mod.ts";
 * const result = await buildImage(await readRecipe("ocisync.yaml"), { mtime: 0 });
 * console.log(result.digest, result.push?.stats.pushed);
 * ```
 * @module
 */
import type { Digest } from "../digest/mod.ts";
import { appendPlan } from "../image/append.ts";
import { createdAt } from "../image/build.ts";
import { type ImagePlan, imagePlan, type PreparedLayer } from "../image/plan.ts";
import { DEFAULT_PLATFORM } from "../image/platform.ts";
import { normalizePrefix } from "../layer/mod.ts";
import type { Descriptor } from "../oci/types.ts";
import { type BlobListener, type StepListener, StepReporter } from "../progress/mod.ts";
import type { OpenedBase } from "../pull/read.ts";
import { prepareLayer } from "../push/mod.ts";
import { type PushResult, writePlan } from "../push/write.ts";
import { buildDepsLayer } from "../python/mod.ts";
import type { Reference } from "../ref/mod.ts";
import {
  closeTarget,
  destinationTags,
  openTarget,
  type OpenTargetOptions,
  Session,
} from "../target/mod.ts";
import { openCachedBase } from "./base_cache.ts";
import type { Recipe, RequirementsLayer } from "./recipe.ts";

// The types this module's API is written in, each from its home, so that its documentation is
// complete on its own.
export type { Digest } from "../digest/mod.ts";
export type { ConfigEdits } from "../image/edit.ts";
export type { BlobSource, ImagePlan, PreparedLayer } from "../image/plan.ts";
export type { JsonBlob } from "../image/build.ts";
export type { Descriptor, Platform } from "../oci/types.ts";
export type { BlobEvent, BlobListener, StepEvent, StepListener } from "../progress/mod.ts";
export type { PushResult, TransferStats } from "../push/write.ts";
export type { Compression } from "../compress/mod.ts";
export type { DepsOptions, InstallerChoice, InstallerName, InstallOptions } from "../python/mod.ts";
export type { LayoutReference, Reference, RegistryReference } from "../ref/mod.ts";
export type { OpenTargetOptions } from "../target/mod.ts";
export {
  parseRecipe,
  readRecipe,
  type Recipe,
  type RecipeLayer,
  type RequirementsLayer,
  type SourceLayer,
} from "./recipe.ts";

/** Options of {@linkcode buildImage}. */
export interface BuildOptions {
  /**
   * How to open the destination and the base: credentials and transport, or a `session`. Without
   * a session (or a shared `client`), the build opens both through one session of its own.
   */
  targets?: OpenTargetOptions;
  /**
   * Compute the digests without pushing: the layers are still built (the
   * installer runs unless the dependency layer is cached) and the base's
   * documents read (from the cache when it is pinned by digest and was read
   * before).
   */
  dryRun?: boolean;
  /** The mtime of every entry and the config's `created`, in seconds. Default 0. */
  mtime?: number;
  /** Use the dependency cache. Default true. The base's documents are cached regardless. */
  cache?: boolean;
  /** The cache folder: dependency layers and the base's documents. */
  cacheDir?: string;
  /** Replaces the installer's command (see `findInstaller`). */
  installerCommand?: string;
  /** Blobs sent at once. Default 4. */
  concurrency?: number;
  /** Transfer events. */
  onBlob?: BlobListener;
  /** What the build is doing: installing, packing (with bytes), pushing. */
  onStep?: StepListener;
  /** Details, one line each: the base's documents read from the cache, damaged entries. */
  onDetail?: (message: string) => void;
  /** Each line the installer prints. */
  onInstallerOutput?: (line: string) => void;
}

/** One layer the build made. */
export interface BuiltLayer {
  /** From a requirements file or a folder. */
  kind: RequirementsLayer["kind"] | "source";
  /** Where it lands in the image. */
  dest: string;
  /** The layer blob. */
  descriptor: Descriptor;
  /** For dependency layers: whether the cache had it. */
  cached?: boolean;
}

/** What a build made. */
export interface BuildResult {
  /** Where the image went (or would go). */
  reference: Reference;
  /** Its tags. */
  tags: string[];
  /** The manifest digest. */
  digest: Digest;
  /** The plan: the config, the manifest and where each layer comes from. */
  image: ImagePlan;
  /** The layers built from the recipe, in order. */
  layers: BuiltLayer[];
  /** Requirements not pinned to one version, across the dependency layers. */
  unpinned: string[];
  /** What the push did; absent for a dry run. */
  push?: PushResult;
}

/**
 * Builds the image a recipe describes and pushes it, unless `dryRun`.
 *
 * @example
 * ```ts
 * import { buildImage, parseRecipe } from "./mod.ts";
 * const recipe = parseRecipe(
 *   "image: oci:./out:v1\nlayers:\n  - source: ./flows\n    dest: /opt/flows\n",
 *   "ocisync.yaml",
 * );
 * const { digest } = await buildImage(recipe, { dryRun: true });
 * ```
 */
export async function buildImage(recipe: Recipe, options: BuildOptions = {}): Promise<BuildResult> {
  const mtime = options.mtime ?? 0;
  const tags = [...destinationTags(recipe.image), ...recipe.tags];
  // The base and the destination share one session: a base on the registry pushed to costs no
  // second challenge, and its layers are mounted rather than sent.
  const { create: _create, session: given, client, ...sessionOptions } = options.targets ?? {};
  const owned = given === undefined && client === undefined
    ? new Session(sessionOptions)
    : undefined;
  const targets: OpenTargetOptions | undefined = owned ? { session: owned } : options.targets;
  const work = await Deno.makeTempDir({ prefix: "ocisync-build-" });
  let base: OpenedBase | undefined;
  try {
    const prepared: PreparedLayer[] = [];
    const built: BuiltLayer[] = [];
    const unpinned: string[] = [];
    for (const [index, layer] of recipe.layers.entries()) {
      if (layer.kind === "requirements") {
        const deps = await buildDepsLayer(layer.requirements, `${work}/${index}.layer`, {
          ...layer,
          prefix: layer.dest,
          compression: recipe.compression,
          mtime,
          cache: options.cache,
          cacheDir: options.cacheDir,
          installerCommand: options.installerCommand,
          onOutput: options.onInstallerOutput,
          onStep: options.onStep,
        });
        const descriptor = { mediaType: deps.mediaType, digest: deps.digest, size: deps.size };
        prepared.push({
          path: `${work}/${index}.layer`,
          descriptor,
          diffId: deps.diffId,
        });
        built.push({ kind: layer.kind, dest: layer.dest, descriptor, cached: deps.cached });
        unpinned.push(...deps.unpinned);
      } else {
        const step = new StepReporter(
          options.onStep,
          `pack:${index}`,
          `packing ${layer.source} into ${layer.dest}`,
        );
        step.started();
        const packed = await prepareLayer(
          { kind: "folder", path: layer.source, prefix: normalizePrefix(layer.dest) },
          work,
          mtime,
          { compression: recipe.compression, exclude: layer.exclude, onProgress: step.progress },
        );
        step.done();
        prepared.push(packed);
        built.push({ kind: layer.kind, dest: layer.dest, descriptor: packed.descriptor });
      }
    }
    if (recipe.base) {
      base = await openCachedBase(recipe.base, {
        targets,
        platform: recipe.platform,
        cacheDir: options.cacheDir,
        onDetail: options.onDetail,
      });
    }
    const settings = {
      created: createdAt(mtime),
      edits: recipe.config,
      annotations: recipe.annotations,
    };
    const image = base
      ? appendPlan(base, prepared, settings)
      : imagePlan(prepared, { ...settings, platform: recipe.platform ?? DEFAULT_PLATFORM });
    const result = {
      reference: recipe.image,
      tags,
      digest: image.manifest.descriptor.digest,
      image,
      layers: built,
      unpinned,
    };
    if (options.dryRun) return result;
    const destination = await openTarget(recipe.image, { ...targets, create: true });
    try {
      const step = new StepReporter(options.onStep, "push", `pushing to ${destination.name}`);
      step.started();
      const push = await writePlan(destination, image, tags, {
        concurrency: options.concurrency,
        onBlob: options.onBlob,
      });
      step.done();
      return { ...result, push };
    } finally {
      await closeTarget(destination);
    }
  } finally {
    if (base) await closeTarget(base.target);
    await owned?.close();
    await Deno.remove(work, { recursive: true });
  }
}
