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
 * With several platforms (the recipe's `platforms:`, or `options.platforms`), the build writes
 * an OCI image index with one manifest per platform. Each platform gets its own dependency
 * layers, installed for its wheels (`pipTarget` of `../python/platform.ts`: manylinux2014 tags,
 * or musllinux ones for `libc: musl`, `--implementation cp` and `--abi cp3XX`) and cached per
 * platform; code layers are packed once, and every manifest lists the same blob, sent once.
 * Each manifest appends to that platform's manifest of the base's index; a platform the base
 * lacks is refused before anything is installed or sent.
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
import { UsageError } from "../errors/mod.ts";
import { appendPlan } from "../image/append.ts";
import { createdAt } from "../image/build.ts";
import type { PreparedLayer } from "../image/blob.ts";
import { type ImagePlan, imagePlan, type IndexPlan, indexPlan } from "../image/plan.ts";
import { DEFAULT_PLATFORM, formatPlatform } from "../image/platform.ts";
import { normalizePrefix } from "../layer/mod.ts";
import type { Descriptor, Platform } from "../oci/types.ts";
import { type BlobListener, type StepListener, StepReporter } from "../progress/mod.ts";
import type { OpenedBase } from "../pull/read.ts";
import { prepareLayer } from "../push/mod.ts";
import { type PushResult, writePlan } from "../push/write.ts";
import {
  baseIndexAnnotations,
  type IndexPushResult,
  type OpenedBaseIndex,
  requireBasePlatforms,
  writeIndexPlan,
} from "../push/index.ts";
import { buildDepsLayer, type DepsOptions, type Libc, pipTarget } from "../python/mod.ts";
import { type Reference, writtenPaths } from "../ref/mod.ts";
import {
  checkTags,
  closeTarget,
  destinationTags,
  openTarget,
  type OpenTargetOptions,
  Session,
} from "../target/mod.ts";
import { openCachedBase, openCachedBaseIndex } from "./base_cache.ts";
import type { Recipe, RequirementsLayer } from "./recipe.ts";

// The types this module's API is written in, each from its home, so that its documentation is
// complete on its own.
export type { Digest } from "../digest/mod.ts";
export type { ConfigEdits } from "../image/edit.ts";
export type { BlobSource, PreparedLayer } from "../image/blob.ts";
export type { ImagePlan, IndexPlan } from "../image/plan.ts";
export type { IndexPushResult } from "../push/index.ts";
export type { JsonBlob } from "../image/build.ts";
export type { Descriptor, Platform } from "../oci/types.ts";
export type { BlobEvent, BlobListener, StepEvent, StepListener } from "../progress/mod.ts";
export type { PushResult, TransferStats } from "../push/write.ts";
export type { Compression } from "../compress/mod.ts";
export type {
  DepsOptions,
  InstallerChoice,
  InstallerName,
  InstallOptions,
  Libc,
} from "../python/mod.ts";
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
import { makeWorkFolder } from "../fs/interrupted.ts";

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
  /**
   * The image's platforms, over the recipe's `platform` and `platforms` (`--platform
   * linux/amd64,linux/arm64`). More than one makes an index. As with the recipe's `platforms:`,
   * even one chooses the wheels of dependency layers that give no `platforms` of their own.
   */
  platforms?: Platform[];
  /** The target images' C library, over the recipe's `libc` (`--libc`). Default glibc. */
  libc?: Libc;
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
  /**
   * Details, one line each: the base's documents read from the cache, damaged entries, cache
   * writes that failed.
   */
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
  /** For dependency layers of a multi-platform build: the platform they were installed for. */
  platform?: Platform;
}

/** One platform's image of a multi-platform build. */
export interface PlatformImage {
  /** The platform, as the index lists it. */
  platform: Platform;
  /** The manifest's digest. */
  digest: Digest;
  /** The plan of the image. */
  image: ImagePlan;
  /** Its layers built from the recipe, in order: its dependency layers, the shared code layers. */
  layers: BuiltLayer[];
}

/** What a build made. */
export interface BuildResult {
  /** Where the image went (or would go). */
  reference: Reference;
  /** Its tags. */
  tags: string[];
  /** The manifest digest; for a multi-platform build, the index's. */
  digest: Digest;
  /**
   * The plan: the config, the manifest and where each layer comes from. For a multi-platform
   * build, the first platform's; see `platforms`.
   */
  image: ImagePlan;
  /**
   * The layers built from the recipe, in order; for a multi-platform build, each code layer
   * once and each platform's dependency layers (with their `platform`).
   */
  layers: BuiltLayer[];
  /** Requirements not pinned to one version, across the dependency layers. */
  unpinned: string[];
  /** What the push did; absent for a dry run and for a multi-platform build (see `indexPush`). */
  push?: PushResult;
  /** A multi-platform build's index plan. */
  index?: IndexPlan;
  /** A multi-platform build's images, one per platform, in the index's order. */
  platforms?: PlatformImage[];
  /** What a multi-platform push did; absent for a dry run. */
  indexPush?: IndexPushResult;
}

/**
 * The tags a build of `recipe` writes: the image reference's (else `latest`, unless it is by
 * digest), then the recipe's; each checked against the destination (see `checkTags`), so that a
 * caller can refuse a bad one before it reads credentials or installs anything.
 *
 * @throws {UsageError} for a tag that the destination cannot hold.
 * @example
 * ```ts
 * import { parseRecipe, recipeTags } from "./mod.ts";
 * const recipe = parseRecipe(
 *   "image: oci:./out:v1\ntags: [latest]\nlayers:\n  - source: ./flows\n    dest: /opt/flows\n",
 *   "ocisync.yaml",
 * );
 * recipeTags(recipe); // ["v1", "latest"]
 * ```
 */
export function recipeTags(recipe: Recipe): string[] {
  const tags = [...destinationTags(recipe.image), ...recipe.tags];
  checkTags(recipe.image, tags);
  return tags;
}

/**
 * Builds the image a recipe describes and pushes it, unless `dryRun`.
 *
 * @throws {NotFoundError} when the base lacks one of several platforms, before anything is
 * installed or sent.
 * @throws {UsageError} for a tag that the image's destination cannot hold (see
 * {@linkcode recipeTags}), before anything is installed or sent.
 * @throws {UsageError} for a requirements layer with its own `platforms` (pip tags) in a build
 * of several platforms.
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
  const tags = recipeTags(recipe);
  // `platforms` (the recipe's or the caller's) chooses the dependency layers' wheels; the older
  // `platform:` alone leaves the installer's defaults, as it always has.
  const chosen = options.platforms ?? recipe.platforms;
  if (chosen !== undefined && chosen.length === 0) {
    throw new UsageError("platforms: give at least one platform");
  }
  const multi = chosen !== undefined && chosen.length > 1;
  if (multi) {
    const fixed = recipe.layers.find((layer) => layer.kind === "requirements" && layer.platforms);
    if (fixed) {
      throw new UsageError(
        `${recipe.file}: the requirements layer ${
          (fixed as RequirementsLayer).requirements
        } gives its own platforms (pip tags), which fit one image platform, not ${
          chosen.map(formatPlatform).join(", ")
        }`,
        { hint: "leave its platforms: out: each platform's wheels are chosen from it" },
      );
    }
  }
  const libc = options.libc ?? recipe.libc;
  // The base and the destination share one session: a base on the registry pushed to costs no
  // second challenge, and its layers are mounted rather than sent.
  const { create: _create, session: given, client, ...sessionOptions } = options.targets ?? {};
  const owned = given === undefined && client === undefined
    ? new Session(sessionOptions)
    : undefined;
  const targets: OpenTargetOptions | undefined = owned ? { session: owned } : options.targets;
  await using workFolder = makeWorkFolder("ocisync-build-");
  const work = workFolder.path;
  let base: OpenedBase | undefined;
  /** The base of a one-platform build while it opens, beside the making of the layers. */
  let baseOpening: Promise<OpenedBase> | undefined;
  const baseReading = new AbortController();
  let baseIndex: OpenedBaseIndex | undefined;
  try {
    // A multi-platform build reads the base's index first: a platform it lacks stops the build
    // before anything is installed or sent.
    if (multi && recipe.base) {
      baseIndex = await openCachedBaseIndex(recipe.base, {
        targets,
        cacheDir: options.cacheDir,
        onDetail: options.onDetail,
      });
      requireBasePlatforms(baseIndex, chosen);
    }
    const unpinned: string[] = [];
    const packed = new Map<number, PreparedLayer>();
    const depsFor = async (platform: Platform | undefined, slot: string) => {
      const layers = new Map<number, { prepared: PreparedLayer; built: BuiltLayer }>();
      for (const [index, layer] of recipe.layers.entries()) {
        if (layer.kind !== "requirements") continue;
        const path = `${work}/${slot}${index}.layer`;
        const deps = await buildDepsLayer(layer.requirements, path, {
          ...depsTarget(layer, chosen !== undefined ? platform : undefined, libc),
          prefix: layer.dest,
          compression: recipe.compression,
          mtime,
          cache: options.cache,
          cacheDir: options.cacheDir,
          scratchOutput: true,
          installerCommand: options.installerCommand,
          onOutput: options.onInstallerOutput,
          onStep: options.onStep,
          onDetail: options.onDetail,
        });
        const descriptor = { mediaType: deps.mediaType, digest: deps.digest, size: deps.size };
        layers.set(index, {
          prepared: { path, descriptor, diffId: deps.diffId },
          built: {
            kind: layer.kind,
            dest: layer.dest,
            descriptor,
            cached: deps.cached,
            ...(multi && platform ? { platform } : {}),
          },
        });
        unpinned.push(...deps.unpinned.filter((name) => !unpinned.includes(name)));
      }
      return layers;
    };
    const pack = async () => {
      for (const [index, layer] of recipe.layers.entries()) {
        if (layer.kind !== "source") continue;
        const step = new StepReporter(
          options.onStep,
          `pack:${index}`,
          `packing ${layer.source} into ${layer.dest}`,
        );
        step.started();
        packed.set(
          index,
          await prepareLayer(
            { kind: "folder", path: layer.source, prefix: normalizePrefix(layer.dest) },
            work,
            mtime,
            {
              compression: recipe.compression,
              exclude: layer.exclude,
              onProgress: step.progress,
              skip: writtenPaths(recipe.image),
            },
          ),
        );
        step.done();
      }
    };
    /** One platform's layers in the recipe's order: its own dependency layers, the code. */
    const inOrder = (deps: Awaited<ReturnType<typeof depsFor>>) => {
      const prepared: PreparedLayer[] = [];
      const built: BuiltLayer[] = [];
      for (const [index, layer] of recipe.layers.entries()) {
        const own = deps.get(index);
        if (own) {
          prepared.push(own.prepared);
          built.push(own.built);
        } else {
          const code = packed.get(index)!;
          prepared.push(code);
          built.push({ kind: "source", dest: layer.dest, descriptor: code.descriptor });
        }
      }
      return { prepared, built };
    };
    const settings = {
      created: createdAt(mtime),
      edits: recipe.config,
      annotations: recipe.annotations,
    };

    if (multi) {
      await pack();
      const images: PlatformImage[] = [];
      for (const [i, platform] of chosen.entries()) {
        const { prepared, built } = inOrder(await depsFor(platform, `${i}-`));
        const baseImage = await baseIndex?.image(platform);
        const plan: ImagePlan = baseImage
          ? {
            ...appendPlan(baseImage, prepared, settings),
            entry: { platform: baseImage.descriptor.platform ?? platform },
          }
          : imagePlan(prepared, { ...settings, platform });
        images.push({
          platform: plan.entry?.platform ?? platform,
          digest: plan.manifest.descriptor.digest,
          image: plan,
          layers: built,
        });
      }
      const index = indexPlan(
        images.map((p) => p.image),
        baseIndex ? baseIndexAnnotations(baseIndex, recipe.annotations) : recipe.annotations,
      );
      const layers = [
        ...images.flatMap((p) => p.layers.filter((l) => l.kind === "requirements")),
        ...images[0].layers.filter((l) => l.kind === "source"),
      ];
      const result: BuildResult = {
        reference: recipe.image,
        tags,
        digest: index.index.descriptor.digest,
        image: images[0].image,
        layers,
        unpinned,
        index,
        platforms: images,
      };
      if (options.dryRun) return result;
      const destination = await openTarget(recipe.image, { ...targets, create: true });
      try {
        const step = new StepReporter(options.onStep, "push", `pushing to ${destination.name}`);
        step.started();
        const indexPush = await writeIndexPlan(destination, index, tags, {
          concurrency: options.concurrency,
          onBlob: options.onBlob,
          destinationDigest: recipe.image.digest,
        });
        step.done();
        return { ...result, indexPush };
      } finally {
        await closeTarget(destination);
      }
    }

    const platform = chosen?.[0] ?? recipe.platform;
    // The base is read from its registry (a token, the tag, maybe its documents) while the layers
    // are made; its failure is the build's once they are.
    baseOpening = recipe.base
      ? openCachedBase(recipe.base, {
        targets,
        platform,
        cacheDir: options.cacheDir,
        onDetail: options.onDetail,
        signal: baseReading.signal,
      })
      : undefined;
    baseOpening?.catch(() => {});
    const deps = await depsFor(platform, "");
    await pack();
    const { prepared, built } = inOrder(deps);
    if (baseOpening) base = await baseOpening;
    const image = base
      ? appendPlan(base, prepared, settings)
      : imagePlan(prepared, { ...settings, platform: platform ?? DEFAULT_PLATFORM });
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
        destinationDigest: recipe.image.digest,
      });
      step.done();
      return { ...result, push };
    } finally {
      await closeTarget(destination);
    }
  } finally {
    if (base) await closeTarget(base.target);
    else if (baseOpening) {
      // The layers failed while the base was read: its requests stop, so that their error goes
      // out now, not after the registry's answer or its timeout; a base that opened is closed.
      baseReading.abort();
      const opened = await baseOpening.catch(() => undefined);
      if (opened) await closeTarget(opened.target);
    }
    if (baseIndex) await closeTarget(baseIndex.target);
    await owned?.close();
  }
}

/**
 * A requirements layer's installer options for `platform`: with no platform, or a layer that
 * gives its own pip tags, the layer's own; otherwise pip's tags of the platform, `cp`, and
 * CPython's ABI of the layer's Python version.
 */
function depsTarget(
  layer: RequirementsLayer,
  platform: Platform | undefined,
  libc: Libc | undefined,
): Omit<DepsOptions, "prefix"> {
  const { kind: _kind, requirements: _requirements, dest: _dest, ...own } = layer;
  if (platform === undefined || layer.platforms) return own;
  const target = pipTarget(platform, {
    pythonVersion: layer.pythonVersion,
    implementation: layer.implementation,
    libc,
  });
  return { ...own, ...target };
}
