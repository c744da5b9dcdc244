/**
 * Pulls an image or an artifact from any {@linkcode Target} into a folder.
 *
 * - An image's layers are applied in order, with OCI whiteouts, by the safe
 *   `Unpacker` of `../unpack/mod.ts`, on a thread of its own
 *   ({@linkcode ThreadedUnpacker}); each layer's uncompressed digest is
 *   checked against the config's `rootfs.diff_ids`.
 * - An artifact (every layer has an `org.opencontainers.image.title`) becomes
 *   one file per layer at its title path; ORAS's packed directories
 *   (`io.deis.oras.content.unpack`) are unpacked and their digest checked.
 *
 * Everything is written into a temporary folder on the destination's file
 * system and moved into place only after every digest has been verified, so a
 * failed pull leaves the destination as it was. A missing or empty destination
 * becomes the image by one rename; a folder with content is merged into, and
 * keeps every path the image does not have, unless `replace` is set. `/` and
 * mount points are refused unless `allowMountRoot` is set.
 *
 * @example
 * ```ts
 * import { pull } from "./mod.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const layout = await LayoutTarget.open("./bundle");
 * const result = await pull(layout, await layout.resolve("v1"), "./out");
 * console.log(result.digest, result.files.length);
 * ```
 * @module
 */
import { decompressStream } from "../compress/decompress.ts";
import { type Digest, hashing, Sha256 } from "../digest/mod.ts";
import {
  IntegrityError,
  NetworkError,
  NotFoundError,
  OcisyncError,
  UnsafeContentError,
  UsageError,
} from "../errors/mod.ts";
import { fetchConfig } from "../image/config.ts";
import {
  ORAS_DIGEST_ANNOTATION,
  ORAS_UNPACK_ANNOTATION,
  TITLE_ANNOTATION,
} from "../oci/annotations.ts";
import type { Target } from "../oci/target.ts";
import type { Descriptor, Manifest, Platform } from "../oci/types.ts";
import { type BlobListener, reportingStream } from "../progress/mod.ts";
import { NotTarError, readTar } from "../tar/reader.ts";
import type { UnpackStats } from "../unpack/mod.ts";
import { ThreadedUnpacker } from "../unpack/threaded.ts";
import { fetchImageManifest, type ImageVerifier, type VerifiedImage } from "./read.ts";

// Re-exported for the readers that have imported them from here; they are defined in
// `../oci/annotations.ts`, where the builders that write them find them too.

/** Options of {@linkcode pull}. */
export interface PullOptions {
  /** The platform to choose from an index. Default: the host's. */
  platform?: Platform;
  /** The most bytes the layers may decompress to. */
  maxExtractSize?: number;
  /** The most tar entries the layers may hold. Default: 1,000,000. */
  maxEntries?: number;
  /**
   * Make the destination exactly the image: what else it holds is deleted, and the new tree
   * is renamed into place whole. Without it, a destination with content is merged into: the
   * image's paths are added or overwritten, and nothing else is touched.
   */
  replace?: boolean;
  /** Allow `/` or the root of a mounted file system as the destination. */
  allowMountRoot?: boolean;
  /** Progress events, for a display. */
  onBlob?: BlobListener;
  /**
   * Verify a signature before anything is fetched or written (`Verifier` of
   * `../trust/verifier.ts`): the pull then uses the digest that verified, the index's or the
   * chosen platform's manifest's. When none verifies, it throws (a `SignatureError`, exit 5) and
   * the destination is untouched.
   */
  verifier?: ImageVerifier;
  /**
   * Take only the layers whose media type matches one of these globs (`*` matches any run of
   * characters, `/` included): `application/vnd.oci.image.layer.v1.tar*`, `text/*`. The other
   * layers are never fetched. No match is a `NotFoundError`. Whether the pull is an artifact's
   * (files at their titles) is judged on the layers taken. Default: every layer.
   */
  layerMediaTypes?: string[];
  /**
   * What to do with the layers taken: `extract` applies an image's tar layers, or writes an
   * artifact's files at their titles (the default); `copy` stores each layer's blob as it is,
   * as a file named by its `org.opencontainers.image.title`, else `layer-<index>` (the index in
   * the manifest). A title that is not a plain file name (a `/`, `.` or `..`) is refused.
   */
  layerOperation?: LayerOperation;
}

/**
 * What {@linkcode PullOptions.layerOperation} does with each layer taken.
 *
 * @example
 * ```ts
 * import type { LayerOperation } from "./mod.ts";
 * const operation: LayerOperation = "copy";
 * ```
 */
export type LayerOperation = "extract" | "copy";

/**
 * Whether `mediaType` matches one of `globs`, where `*` matches any run of characters and
 * everything else itself.
 *
 * @example
 * ```ts
 * import { matchesMediaType } from "./mod.ts";
 * matchesMediaType(["application/vnd.oci.image.layer.v1.tar*"], "application/vnd.oci.image.layer.v1.tar+gzip"); // true
 * matchesMediaType(["text/*"], "application/json"); // false
 * ```
 */
export function matchesMediaType(globs: readonly string[], mediaType: string): boolean {
  return globs.some((glob) => globPattern(glob).test(mediaType));
}

/** A glob whose only wildcard is `*`, as an anchored regular expression. */
function globPattern(glob: string): RegExp {
  const literal = (part: string) => part.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  return new RegExp(`^${glob.split("*").map(literal).join(".*")}$`);
}

/** What a pull wrote. */
export interface PullResult {
  /** The digest of the manifest that was pulled (the platform's, for an index). */
  digest: Digest;
  /** The digest that was resolved: the index's, when there is one. */
  resolvedDigest: Digest;
  /** Whether layers were applied as an image or written as artifact files. */
  kind: "image" | "artifact";
  /**
   * The paths written, relative to the destination: each file for an artifact, the top-level
   * entries for an image (whose counts are in `stats`).
   */
  files: string[];
  /** Entry counts, for images whose layers were extracted. */
  stats?: UnpackStats;
  /** With a verifier: what it verified (a `VerifiedSignatures` with `Verifier`). */
  verified?: VerifiedImage;
  /** The layers taken, as their indexes in the manifest: all of them unless selected. */
  layers: number[];
}

/** Pulls the image or artifact that `descriptor` names into `destination`. */
export async function pull(
  target: Target,
  descriptor: Descriptor,
  destination: string,
  options: PullOptions = {},
): Promise<PullResult> {
  const placement = await planPlacement(destination, options);
  // Nothing is fetched or written before a signature over the exact digest has verified; from
  // then on only the digest that verified is used.
  const verified = await options.verifier?.verify(target, descriptor, {
    platform: options.platform,
  });
  const { descriptor: chosen, manifest } = await fetchImageManifest(
    target,
    verified?.descriptor ?? descriptor,
    options.platform,
  );
  const taken = selectLayers(manifest, chosen, options.layerMediaTypes);
  // Judged on the layers taken: a selection of titled layers is written as files.
  const isArtifact = taken.length > 0 &&
    taken.every((index) => manifest.layers[index].annotations?.[TITLE_ANNOTATION]);
  const copying = options.layerOperation === "copy";
  if (options.layerOperation !== undefined && !copying && options.layerOperation !== "extract") {
    throw new UsageError(
      `the layer operation must be extract or copy, not "${options.layerOperation}"`,
    );
  }
  const names = copying ? copiedNames(manifest, taken) : [];
  const staging = await stagingFolder(placement.stagingParent);
  let unpacker: ThreadedUnpacker | undefined;
  try {
    // On a thread of its own: the file system calls overlap the download and decompression.
    unpacker = new ThreadedUnpacker(staging, {
      maxSize: options.maxExtractSize,
      maxEntries: options.maxEntries,
    });
    let files: string[];
    if (copying) {
      files = [];
      for (const [n, index] of taken.entries()) {
        const layer = manifest.layers[index];
        options.onBlob?.({ descriptor: layer, state: "started" });
        const body = reportingStream(await target.fetchBlob(layer), layer, options.onBlob);
        await writeFile(unpacker, names[n], layer.size, body);
        options.onBlob?.({ descriptor: layer, state: "done" });
        files.push(names[n]);
      }
    } else if (isArtifact) {
      files = [];
      for (const index of taken) {
        files.push(await pullArtifactLayer(target, manifest.layers[index], unpacker, options));
      }
    } else {
      await pullImageLayers(target, manifest, taken, unpacker, options);
      files = [...Deno.readDirSync(staging)].map((e) => e.name).sort();
    }
    await unpacker.finish();
    await placement.place(staging);
    return {
      digest: chosen.digest,
      resolvedDigest: descriptor.digest,
      kind: isArtifact ? "artifact" : "image",
      files,
      ...(isArtifact || copying ? {} : { stats: unpacker.stats }),
      ...(verified ? { verified } : {}),
      layers: taken,
    };
  } finally {
    // Every apply and finish has settled, so the worker is idle and writes nothing more.
    unpacker?.close();
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
}

/**
 * The indexes of the layers whose media type matches `globs` (all of them without globs).
 *
 * @throws {NotFoundError} when globs are given and no layer matches.
 */
function selectLayers(
  manifest: Manifest,
  chosen: Descriptor,
  globs: readonly string[] | undefined,
): number[] {
  const all = manifest.layers.map((_, index) => index);
  if (globs === undefined || globs.length === 0) return all;
  const taken = all.filter((index) => matchesMediaType(globs, manifest.layers[index].mediaType));
  if (taken.length === 0) {
    const present = [...new Set(manifest.layers.map((layer) => layer.mediaType))];
    throw new NotFoundError(
      `no layer of ${chosen.digest} has a media type matching ${globs.join(", ")}; it has ${
        present.join(", ") || "no layers"
      }`,
    );
  }
  return taken;
}

/**
 * The file name of each layer copied as it is: its title, else `layer-<index>`.
 *
 * @throws {UnsafeContentError} for a title that is not a plain file name, or two layers with
 * one name.
 */
function copiedNames(manifest: Manifest, taken: number[]): string[] {
  const names = taken.map((index) => {
    const title = manifest.layers[index].annotations?.[TITLE_ANNOTATION];
    if (title === undefined || title === "") return `layer-${index}`;
    if (
      title.includes("/") || title.includes("\\") || title.includes("\0") || title === "." ||
      title === ".."
    ) {
      throw new UnsafeContentError(
        `refusing to copy layer ${index} as "${title}": a copied layer is named by a plain ` +
          "file name (no /, no . or ..)",
        { hint: "extract the layers instead (the default), which writes titles as paths" },
      );
    }
    return title;
  });
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) {
      throw new UnsafeContentError(`refusing to copy two layers as "${name}"`);
    }
    seen.add(name);
  }
  return names;
}

/** Writes `body` as the file `name`, through the unpacker's path rules and limits. */
async function writeFile(
  unpacker: ThreadedUnpacker,
  name: string,
  size: number,
  body: ReadableStream<Uint8Array>,
): Promise<void> {
  await unpacker.apply(
    (async function* () {
      yield {
        name,
        type: "file" as const,
        typeFlag: "0",
        mode: 0o644,
        size,
        mtime: Math.floor(Date.now() / 1000),
        linkName: "",
        body,
      };
    })(),
  );
}

async function pullImageLayers(
  target: Target,
  manifest: Manifest,
  taken: number[],
  unpacker: ThreadedUnpacker,
  options: PullOptions,
): Promise<void> {
  const { config } = await fetchConfig(target, manifest.config);
  const diffIds = config.rootfs?.diff_ids;
  if (diffIds && diffIds.length !== manifest.layers.length) {
    throw new IntegrityError(
      `the config lists ${diffIds.length} diff_ids for ${manifest.layers.length} layers`,
    );
  }
  for (const index of taken) {
    const layer = manifest.layers[index];
    options.onBlob?.({ descriptor: layer, state: "started" });
    const diffId = new Sha256();
    await unpackBlob(
      reportingStream(await target.fetchBlob(layer), layer, options.onBlob),
      unpacker,
      diffId,
    ).catch((error) => {
      throw explainMixedTitles(error, layer);
    });
    const actual = diffId.digest();
    if (diffIds && actual !== diffIds[index]) {
      throw new IntegrityError(
        `layer ${layer.digest} uncompresses to ${actual}, but the config says ${diffIds[index]}`,
      );
    }
    options.onBlob?.({ descriptor: layer, state: "done" });
  }
}

/**
 * A titled layer that is no tar, in a manifest that also has untitled layers: it was read as an
 * image's layer because an artifact titles every layer, which is worth saying.
 */
function explainMixedTitles(error: unknown, layer: Descriptor): unknown {
  const title = layer.annotations?.[TITLE_ANNOTATION];
  if (!(error instanceof NotTarError) || title === undefined) return error;
  return new UnsafeContentError(
    `layer ${layer.digest} ("${title}") is not a tar archive: this manifest mixes titled and ` +
      "untitled layers, so it was read as an image; an artifact titles every layer",
    { hint: "push it again as an artifact, with every file titled", cause: error, option: "files" },
  );
}

async function pullArtifactLayer(
  target: Target,
  layer: Descriptor,
  unpacker: ThreadedUnpacker,
  options: PullOptions,
): Promise<string> {
  const title = layer.annotations![TITLE_ANNOTATION];
  const parts = title.split("/").filter((p) => p !== "" && p !== ".");
  if (title.startsWith("/") || parts.includes("..") || parts.length === 0) {
    throw new UnsafeContentError(`refusing artifact file "${title}": it leaves the target`);
  }
  options.onBlob?.({ descriptor: layer, state: "started" });
  const body = reportingStream(await target.fetchBlob(layer), layer, options.onBlob);
  if (layer.annotations?.[ORAS_UNPACK_ANNOTATION] === "true") {
    // A packed directory: its tar holds paths under the title, like ORAS writes.
    const tarDigest = new Sha256();
    await unpackBlob(body, unpacker, tarDigest);
    const expected = layer.annotations[ORAS_DIGEST_ANNOTATION];
    const actual = tarDigest.digest();
    if (expected && expected !== actual) {
      throw new IntegrityError(
        `directory ${title} unpacks to ${actual}, but ORAS says ${expected}`,
      );
    }
  } else {
    // Write through the unpacker so the same path rules apply as for any entry.
    await writeFile(unpacker, parts.join("/"), layer.size, body);
  }
  options.onBlob?.({ descriptor: layer, state: "done" });
  return parts.join("/");
}

/**
 * Applies a layer blob (`blob` verifies its own digest as it is read) and hashes its tar into
 * `tarDigest`. What follows the tar's end-of-archive blocks is read too, so that both digests
 * cover every byte. When applying fails, the rest of the blob is read before the error is
 * thrown: bytes that do not match their digest are reported as such (exit 5), whatever the
 * decompressor or the tar reader made of them, and only a blob that is what was published is
 * called unsafe.
 */
async function unpackBlob(
  blob: ReadableStream<Uint8Array>,
  unpacker: ThreadedUnpacker,
  tarDigest: Sha256,
): Promise<void> {
  const reader = blob.getReader();
  // Reads without releasing `reader`, so the rest can still be read after a failure.
  const bytes = (async function* () {
    for (let read = await reader.read(); !read.done; read = await reader.read()) yield read.value;
  })();
  const tar = hashing(unpacker.meter(decompressStream(bytes)), tarDigest);
  try {
    await unpacker.apply(readTar(tar));
    for await (const _ of tar) { /* padding after the end of the archive */ }
  } catch (error) {
    if (error instanceof IntegrityError || error instanceof NetworkError) throw error;
    try {
      while (!(await reader.read()).done) { /* verifying the rest */ }
    } catch (mismatch) {
      if (mismatch instanceof IntegrityError) throw mismatch;
    }
    throw error;
  }
}

/** Where a pull stages its tree, and how it then puts the tree in place. */
interface Placement {
  /** The folder in which the staging folder is made: on the destination's file system. */
  stagingParent: string;
  /** Puts the verified tree in place. */
  place(staging: string): Promise<void>;
}

/**
 * Chooses how the tree reaches `destination`, before anything is fetched:
 * - a missing or empty folder, or any folder with `replace`, is swapped for the new tree by
 *   renames, so that it is the image exactly;
 * - a folder with content is merged into: the image's paths are added or overwritten, and
 *   nothing that the pull did not write is removed.
 *
 * `/` and the root of a mounted file system are refused without `allowMountRoot`.
 */
async function planPlacement(destination: string, options: PullOptions): Promise<Placement> {
  if (destination === "") throw new UsageError("the destination folder is an empty string");
  const trimmed = destination.replace(/\/+$/, "") || "/";
  const existing = await Deno.stat(trimmed).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  });
  const parent = parentOf(trimmed);
  if (!existing) {
    return {
      stagingParent: parent,
      place: (staging) => Deno.rename(staging, trimmed),
    };
  }
  if (!existing.isDirectory) throw new UsageError(`${destination} exists and is not a folder`);
  const real = await Deno.realPath(trimmed);
  const mountRoot = real === "/" || (await Deno.stat(`${real}/..`)).dev !== existing.dev;
  if (mountRoot && !options.allowMountRoot) {
    throw new UsageError(
      `refusing to pull into ${destination}: it is ${
        real === "/" ? "the root folder" : "the root of a mounted file system"
      }`,
      { hint: "pull into a folder below it, or allow it if you mean it", option: "allowMountRoot" },
    );
  }
  const isEmpty = (await Deno.readDir(real)[Symbol.asyncIterator]().next()).done;
  if (mountRoot) {
    if (options.replace) {
      throw new UsageError(`cannot replace ${destination}: it is a mount point`, {
        hint: "without replacing it, the image is merged into it",
        option: "replace",
      });
    }
    return { stagingParent: real, place: (staging) => mergeInto(staging, real) };
  }
  if (isEmpty || options.replace) {
    return { stagingParent: parentOf(real), place: (staging) => swapInto(staging, real) };
  }
  // Inside the destination, so that every rename of the merge stays on its file system.
  return { stagingParent: real, place: (staging) => mergeInto(staging, real) };
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash > 0 ? path.slice(0, slash) : slash === 0 ? "/" : ".";
}

/** A fresh, empty folder in `parent`, whose renames stay on one file system. */
async function stagingFolder(parent: string): Promise<string> {
  try {
    await Deno.mkdir(parent, { recursive: true });
  } catch (error) {
    throw new UsageError(`cannot create ${parent}: ${(error as Error).message}`);
  }
  const staging = await Deno.makeTempDir({ dir: parent, prefix: ".ocisync-pull-" });
  // makeTempDir is private (0700); the folder may become the destination, which others may read.
  await Deno.chmod(staging, 0o755);
  return staging;
}

/** Replaces the folder `destination` by the tree `staging`, its old content moved aside first. */
async function swapInto(staging: string, destination: string): Promise<void> {
  const aside = `${staging}.old`;
  await Deno.rename(destination, aside);
  try {
    await Deno.rename(staging, destination);
  } catch (error) {
    await Deno.rename(aside, destination);
    throw error;
  }
  await Deno.mkdir(staging); // the caller's cleanup expects it
  await Deno.remove(aside, { recursive: true });
}

/**
 * Merges the tree `staging` into the folder `destination`: each path of the image is added,
 * or replaces what is at that path, and nothing else is removed. A destination folder where
 * the image has a file or link would lose its content, so that is refused before anything
 * moves. Only real folders are entered on either side: a destination symlink is replaced,
 * never followed.
 */
async function mergeInto(staging: string, destination: string): Promise<void> {
  await findConflict(staging, destination, "");
  await moveTree(staging, destination);
}

async function findConflict(from: string, to: string, relative: string): Promise<void> {
  for await (const child of Deno.readDir(from)) {
    const there = await lstatOrUndefined(`${to}/${child.name}`);
    if (!there?.isDirectory) continue;
    const path = relative ? `${relative}/${child.name}` : child.name;
    if (!child.isDirectory) {
      throw new OcisyncError(
        `cannot pull: the image has a file at ${path}, where the destination has a folder`,
        {
          hint: "move the folder away, or replace the destination to make it the image",
          option: "replace",
        },
      );
    }
    await findConflict(`${from}/${child.name}`, `${to}/${child.name}`, path);
  }
}

async function moveTree(from: string, to: string): Promise<void> {
  for await (const child of Deno.readDir(from)) {
    const source = `${from}/${child.name}`;
    const target = `${to}/${child.name}`;
    const there = await lstatOrUndefined(target);
    if (there?.isDirectory && child.isDirectory) {
      await moveTree(source, target);
      // The image's mode, set on the folder that lstat just saw: no link is followed.
      await Deno.chmod(target, (await Deno.lstat(source)).mode! & 0o777);
      continue;
    }
    // rename() replaces a file or a link in one step, but a folder cannot replace either.
    if (there && child.isDirectory) await Deno.remove(target);
    await Deno.rename(source, target);
  }
}

async function lstatOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  return await Deno.lstat(path).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  });
}
