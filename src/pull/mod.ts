/**
 * Pulls an image or an artifact from any {@linkcode Target} into a folder.
 *
 * - An image's layers are applied in order, with OCI whiteouts, by the safe
 *   `Unpacker` of `../unpack/mod.ts`, on a thread of its own unless they are
 *   small (`openUnpacker`); each layer's uncompressed digest is checked
 *   against the config's `rootfs.diff_ids`.
 * - An artifact (every layer has an `org.opencontainers.image.title`) becomes
 *   one file per layer at its title path; ORAS's packed directories
 *   (`io.deis.oras.content.unpack`) are unpacked and their digest checked.
 *
 * Everything is written into a private staging folder (0700) on the
 * destination's file system and moved into place only after every digest has
 * been verified, so a failed pull leaves the destination as it was. A missing
 * destination becomes the image by one rename (opened to 0755 just before); an
 * existing folder, empty or not, is merged into, and keeps its owner, its mode
 * and every path the image does not have, unless `replace` is set: what can
 * fail is checked before anything moves, and a merge that fails all the same
 * is undone. `/` and mount
 * points are refused unless `allowMountRoot` is set. When root pulls, no folder
 * the pull writes through may be one that another user can replace by a link:
 * see `Staging` and `mergeInto`.
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
import { type FileIdentity, lstatOrUndefined, sameFile } from "../fs/stat.ts";
import { exposure, shieldedChain } from "../fs/shielded.ts";
import { chmodIfSame } from "../fs/modes.ts";
import { makeMarkedFolder, unmarkTemporary, withoutInterruption } from "../fs/interrupted.ts";
import { mountPointBelow, removeFolderTree } from "../fs/mounts.ts";
import { type Digest, hashing, Sha256 } from "../digest/mod.ts";
import { isFileSystemRefusal } from "../errors/os.ts";
import {
  escapeRemote,
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
import { boundOf, checkDeclaredSizes, DEFAULT_MAX_EXTRACT_BYTES } from "../unpack/limits.ts";
import type { UnpackStats } from "../unpack/mod.ts";
import { MAX_RETAINED_BYTES, PathTree, RetainedBudget } from "../unpack/path_tree.ts";
import { type LayerUnpacker, openUnpacker } from "../unpack/threaded.ts";
import { fetchImageManifest, type ImageVerifier, type VerifiedImage } from "./read.ts";
import { artifactPath, refuseWhiteout } from "./titles.ts";
import { removeDeadStagings, STAGING_PREFIX } from "./leftovers.ts";

// Re-exported for the readers that have imported them from here; they are defined in
// `../oci/annotations.ts`, where the builders that write them find them too.

/** Options of {@linkcode pull}. */
export interface PullOptions {
  /** The platform to choose from an index. Default: the host's. */
  platform?: Platform;
  /**
   * The most bytes the layers may decompress to, all together. Layers whose declared sizes add
   * up to more than that limit allows compressed (`compressedLimit` of `../unpack/limits.ts`)
   * are refused before any is fetched. Default 32 GiB.
   */
  maxExtractSize?: number;
  /** The most tar entries the layers may hold. Default: 1,000,000. */
  maxEntries?: number;
  /**
   * The most bytes of memory that what the pull keeps about paths may take, in the unpack (see
   * `UnpackOptions.maxRetainedBytes` of `../unpack/mod.ts`) and again in a merge into a folder
   * with content: a record of each path the merge changes, to put it back if the merge fails,
   * and the names of the folders it is merging. Past it the pull fails (an
   * `UnsafeContentError`), and the destination is as it was. Default
   * {@linkcode MAX_RETAINED_BYTES} (128 MiB).
   */
  maxRetainedBytes?: number;
  /**
   * Make the destination exactly the image: what else it holds is deleted, and the new tree
   * is renamed into place whole; a destination with a file system mounted inside it is refused
   * (a `UsageError`), as its files would be deleted too. Without it, a destination with content
   * is merged into: the image's paths are added or overwritten, and nothing else is touched.
   */
  replace?: boolean;
  /** Allow `/` or the root of a mounted file system as the destination. */
  allowMountRoot?: boolean;
  /** Progress events, for a display. */
  onBlob?: BlobListener;
  /**
   * Verify a signature before anything is fetched or written (`Verifier` of
   * `../trust/verifier.ts`): the pull then uses the digest that verified, the index's or the
   * chosen platform's manifest's. When none verifies, it throws (a `SignatureError`, exit 8) and
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
  /**
   * Stops the pull: the fetches of manifests and layers end with the signal's reason, and
   * nothing is put in place (the staging folder is removed, as for any failure).
   */
  signal?: AbortSignal;
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
    signal: options.signal,
  });
  const { descriptor: chosen, manifest } = await fetchImageManifest(
    target,
    verified?.descriptor ?? descriptor,
    options.platform,
    { signal: options.signal },
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
  // Every name is checked before anything is written.
  const names = copying
    ? copiedNames(manifest, taken)
    : isArtifact
    ? taken.map((index) => artifactPath(manifest.layers[index]))
    : [];
  // Refused before anything is fetched: a layer that decompresses to nothing would otherwise be
  // read for as long as its declared size lasts.
  checkDeclaredSizes(
    taken.map((index) => manifest.layers[index]),
    boundOf(options.maxExtractSize, DEFAULT_MAX_EXTRACT_BYTES, "maxExtractSize"),
  );
  const staging = await Staging.make(placement.stagingParent);
  let unpacker: LayerUnpacker | undefined;
  try {
    // On a thread of its own unless the layers are small: the file system calls overlap the
    // download and decompression.
    unpacker = openUnpacker(staging.tree, {
      maxSize: options.maxExtractSize,
      maxEntries: options.maxEntries,
      maxRetainedBytes: options.maxRetainedBytes,
    }, taken.reduce((sum, index) => sum + manifest.layers[index].size, 0));
    let files: string[] | undefined;
    if (copying) {
      files = [];
      for (const [n, index] of taken.entries()) {
        const layer = manifest.layers[index];
        options.onBlob?.({ descriptor: layer, state: "started" });
        const body = reportingStream(
          await target.fetchBlob(layer, { signal: options.signal }),
          layer,
          options.onBlob,
        );
        await writeFile(unpacker, names[n], layer.size, body);
        options.onBlob?.({ descriptor: layer, state: "done" });
        files.push(names[n]);
      }
    } else if (isArtifact) {
      files = [];
      for (const [n, index] of taken.entries()) {
        await pullArtifactLayer(target, manifest.layers[index], names[n], unpacker, options);
        files.push(names[n]);
      }
    } else {
      await pullImageLayers(target, manifest, taken, unpacker, options);
    }
    staging.check();
    // An image's are its top-level entries, read once the tree is known to be the one made.
    files ??= [...Deno.readDirSync(staging.tree)].map((e) => e.name).sort();
    await unpacker.finish();
    staging.placing();
    // Renames that leave the destination missing or half merged if cut, then the removal of
    // what they moved aside: a stop waits for both.
    await withoutInterruption(async () => {
      try {
        await placement.place(staging);
      } finally {
        await staging.remove();
      }
    });
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
    // Every apply and finish has settled, so a worker is idle and writes nothing more.
    unpacker?.close();
    await staging.remove();
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
 * @throws {UnsafeContentError} for a title that is not a plain file name, or is a whiteout's,
 * or two layers with one name.
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
        `refusing to copy layer ${index} as "${
          escapeRemote(title)
        }": a copied layer is named by a plain ` +
          "file name (no /, no . or ..)",
        { hint: "extract the layers instead (the default), which writes titles as paths" },
      );
    }
    refuseWhiteout(title, [title]);
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
  unpacker: LayerUnpacker,
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
  unpacker: LayerUnpacker,
  options: PullOptions,
): Promise<void> {
  const { config } = await fetchConfig(target, manifest.config, { signal: options.signal });
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
      reportingStream(
        await target.fetchBlob(layer, { signal: options.signal }),
        layer,
        options.onBlob,
      ),
      unpacker,
      diffId,
      `layer ${layer.digest}`,
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
    `layer ${layer.digest} ("${
      escapeRemote(title)
    }") is not a tar archive: this manifest mixes titled and ` +
      "untitled layers, so it was read as an image; an artifact titles every layer",
    { hint: "push it again as an artifact, with every file titled", cause: error, option: "files" },
  );
}

/** Writes an artifact layer's file, or unpacks its packed directory, at `path`. */
async function pullArtifactLayer(
  target: Target,
  layer: Descriptor,
  path: string,
  unpacker: LayerUnpacker,
  options: PullOptions,
): Promise<void> {
  options.onBlob?.({ descriptor: layer, state: "started" });
  const body = reportingStream(
    await target.fetchBlob(layer, { signal: options.signal }),
    layer,
    options.onBlob,
  );
  if (layer.annotations?.[ORAS_UNPACK_ANNOTATION] === "true") {
    // A packed directory: its tar holds paths under the title, like ORAS writes.
    const tarDigest = new Sha256();
    await unpackBlob(body, unpacker, tarDigest, `layer ${layer.digest}`);
    const expected = layer.annotations[ORAS_DIGEST_ANNOTATION];
    const actual = tarDigest.digest();
    if (expected && expected !== actual) {
      throw new IntegrityError(
        `directory ${
          layer.annotations[TITLE_ANNOTATION]
        } unpacks to ${actual}, but ORAS says ${expected}`,
      );
    }
  } else {
    // Write through the unpacker so the same path rules apply as for any entry.
    await writeFile(unpacker, path, layer.size, body);
  }
  options.onBlob?.({ descriptor: layer, state: "done" });
}

/**
 * Applies a layer blob (`blob` verifies its own digest as it is read) and hashes its tar into
 * `tarDigest`; `what` names the layer in messages. What follows the tar's end-of-archive blocks
 * is read too, so that both digests cover every byte. When applying fails, the rest of the blob is read before the error is
 * thrown: bytes that do not match their digest are reported as such (exit 5), whatever the
 * decompressor or the tar reader made of them, and only a blob that is what was published is
 * called unsafe. A file system that refuses the writes (full, read-only) fails it at once: the
 * bytes cannot have caused that, and the rest of the blob is not fetched.
 */
async function unpackBlob(
  blob: ReadableStream<Uint8Array>,
  unpacker: LayerUnpacker,
  tarDigest: Sha256,
  what: string,
): Promise<void> {
  const reader = blob.getReader();
  // Reads without releasing `reader`, so the rest can still be read after a failure.
  const bytes = (async function* () {
    for (let read = await reader.read(); !read.done; read = await reader.read()) yield read.value;
  })();
  const tar = hashing(unpacker.meter(decompressStream(bytes, { what })), tarDigest);
  try {
    await unpacker.apply(readTar(tar));
    for await (const _ of tar) { /* padding after the end of the archive */ }
  } catch (error) {
    if (error instanceof IntegrityError || error instanceof NetworkError) throw error;
    if (isFileSystemRefusal(error)) {
      // A full or read-only disk is no fault of the bytes: reading the rest would only download it.
      await reader.cancel().catch(() => {});
      throw error;
    }
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
  place(staging: Staging): Promise<void>;
}

/**
 * Chooses how the tree reaches `destination`, before anything is fetched:
 * - a missing folder is the new tree, renamed into its place (see {@linkcode renameInto});
 * - any folder with `replace` is swapped for the new tree by renames, so that it is the image
 *   exactly;
 * - any other folder is merged into: the image's paths are added or overwritten, and nothing
 *   that the pull did not write is removed. An empty folder is merged into too, not replaced:
 *   it keeps its owner and mode (a service's folder that root pulls into stays the service's),
 *   its parent need not be writable, and what is put in it during the pull stays.
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
    return { stagingParent: parent, place: (staging) => renameInto(staging, trimmed) };
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
  if (mountRoot) {
    if (options.replace) {
      throw new UsageError(`cannot replace ${destination}: it is a mount point`, {
        hint: "without replacing it, the image is merged into it",
        option: "replace",
      });
    }
    return {
      stagingParent: real,
      place: (staging) => mergeInto(staging, real, options.maxRetainedBytes),
    };
  }
  if (options.replace) {
    // The old content is removed once swapped out: with a file system mounted in it, that
    // removal would delete the mounted files, and the mount would move with the old folder.
    const mounted = await mountPointBelow(real);
    if (mounted !== undefined) {
      throw new UsageError(
        `cannot replace ${destination}: a file system is mounted inside it, at ${mounted}, ` +
          "whose files would be deleted with the old content; nothing was changed",
        {
          hint: `unmount ${mounted} first, or pull without replacing the folder, which merges ` +
            "the image into it",
          option: "replace",
        },
      );
    }
    return { stagingParent: parentOf(real), place: (staging) => swapInto(staging, real) };
  }
  // Inside the destination, so that every rename of the merge stays on its file system.
  return {
    stagingParent: real,
    place: (staging) => mergeInto(staging, real, options.maxRetainedBytes),
  };
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash > 0 ? path.slice(0, slash) : slash === 0 ? "/" : ".";
}

/**
 * The folder a pull writes into before anything is put in place, private to its owner (0700)
 * from its creation to its removal. The image's tree is `tree` inside it; beside the tree are
 * what the placement moves out of the destination: the old folder that `replace` swaps out,
 * and each entry that a merge overwrites, kept until the merge is done so that a failed merge
 * can put it back.
 *
 * Every use goes through its path, and the runtime has no calls relative to an open folder:
 * so the folder is checked to be the one made (its device and inode, by `lstat`, never
 * through a link) before the layers are finished, before each step that puts the tree in
 * place, and before it is removed. When root pulls, it is made only in a folder that no other
 * user can change (see {@linkcode Staging.make}).
 */
class Staging {
  /** The private folder. */
  readonly folder: string;
  /** The image's tree, inside the folder: the unpacker's root. */
  readonly tree: string;
  /** Whether root made it: then no other user may be able to replace a folder the pull uses. */
  readonly byRoot: boolean;
  /** Set when the folder holds what a failed merge could not put back, so it must stay. */
  keep = false;
  readonly #identity: Deno.FileInfo;

  private constructor(folder: string, identity: Deno.FileInfo) {
    this.folder = folder;
    this.tree = `${folder}/tree`;
    this.byRoot = identity.uid === 0;
    this.#identity = identity;
  }

  /**
   * Makes the folder in `parent` (made first when missing), or, when root pulls and another
   * user could replace it there, in the deepest folder above on the same file system that no
   * other user can change: one who could would swap it for a link to, say, `/etc`, and root
   * would write the image there, and merge `/etc`'s own files into the destination.
   *
   * @throws {UsageError} when root pulls and no such folder is on that file system.
   */
  static async make(parent: string): Promise<Staging> {
    try {
      await Deno.mkdir(parent, { recursive: true });
    } catch (error) {
      throw new UsageError(`cannot create ${parent}: ${(error as Error).message}`);
    }
    const real = await Deno.realPath(parent);
    const staging = await Staging.#makeIn(real);
    // The runtime tells the process's uid only with the sys permission, which a program using
    // the library may not grant; the owner of the folder it has just made is that uid.
    if (!staging.byRoot) return staging;
    const chain = await shieldedChain(real);
    const device = (await Deno.stat(real)).dev;
    const safe = chain.folders.findLast((f) => f.info.dev === device && !exposure(f.info, 0));
    if (safe?.path === real) return staging;
    // Never used: only its name was exposed.
    await staging.remove();
    if (safe === undefined) {
      const why = chain.exposed ??
        `a folder made in ${real} can be replaced by another user: ${
          exposure(chain.folders.at(-1)!.info, 0)
        }`;
      throw new UsageError(
        `refusing to pull as root through ${real}: ${why}, so that user could swap the ` +
          "staging folder for a link and redirect what root writes; no folder above it on " +
          "the same file system is safe to stage in",
        { hint: "pull as the user who owns that folder, or into a folder only root can change" },
      );
    }
    return await Staging.#makeIn(safe.path);
  }

  /**
   * Makes the folder (mkdir, which fails on anything at its name) and its tree, both 0700, and
   * removes those of pulls that died there (see {@linkcode removeDeadStagings}).
   */
  static async #makeIn(parent: string): Promise<Staging> {
    // Until the tree is put in place, a stopped process removes the folder.
    const folder = makeMarkedFolder(parent, STAGING_PREFIX);
    const staging = new Staging(folder, await Deno.lstat(folder));
    await Deno.mkdir(staging.tree, { mode: 0o700 });
    await removeDeadStagings(parent, staging.#identity.uid!);
    return staging;
  }

  /** @throws {OcisyncError} when something else is now at the folder's path. */
  check(): void {
    if (!sameFolder(lstatOrUndefined(this.folder), this.#identity)) {
      throw new OcisyncError(
        `the staging folder ${this.folder} was replaced while the pull ran: refusing to go on ` +
          "through it; nothing was put in place",
      );
    }
  }

  /** Checks the folder and opens the tree to the mode it has in place: the moment before. */
  async openTree(): Promise<void> {
    this.check();
    await Deno.chmod(this.tree, PLACED_MODE);
  }

  /**
   * Says that the tree is being put in place: from here the folder may hold what the placement
   * moves out of the destination, which a stopped process must not remove with it.
   */
  placing(): void {
    unmarkTemporary(this.folder);
  }

  /**
   * The path in the folder for the entry that the placement moves out of the destination under
   * the number `n`: a placement gives each such entry a number of its own.
   */
  aside(n: number): string {
    return `${this.folder}/aside-${n}`;
  }

  /** Removes the folder, unless it must stay or is no longer the one made. */
  async remove(): Promise<void> {
    unmarkTemporary(this.folder);
    if (this.keep || !sameFolder(lstatOrUndefined(this.folder), this.#identity)) return;
    // A file system mounted in the swapped-out content after planPlacement looked keeps its
    // files: the folder is then left.
    await removeFolderTree(this.folder).catch(() => {});
  }
}

/** The mode of a folder that the tree becomes: others may read what was pulled. */
const PLACED_MODE = 0o755;

/** Whether `info` (from `lstat`) is the folder `identity` was, and not a link to one. */
function sameFolder(info: Deno.FileInfo | undefined, identity: FileIdentity): boolean {
  return info?.isDirectory === true && sameFile(identity, info);
}

/**
 * Renames the tree to `destination`, which was missing when the pull began. A rename replaces
 * a folder only while it is empty: a folder filled meanwhile (by the user, or by another pull)
 * fails the pull, rather than going with a swapped-out folder.
 */
async function renameInto(staging: Staging, destination: string): Promise<void> {
  const target = await placedTarget(staging, destination);
  await staging.openTree();
  try {
    await Deno.rename(staging.tree, target);
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOTEMPTY") throw error;
    throw new OcisyncError(
      `cannot pull: ${destination} was not there when the pull began, and a folder with ` +
        "content was put there since; it was left as it is",
      { hint: "pull again: the image is then merged into what is there", cause: error },
    );
  }
}

/**
 * Replaces the folder `destination` by the tree: its old content is moved into the staging
 * folder first, and removed with it.
 */
async function swapInto(staging: Staging, destination: string): Promise<void> {
  const target = await placedTarget(staging, destination);
  await staging.openTree();
  const old = staging.aside(0);
  await Deno.rename(target, old);
  try {
    await Deno.rename(staging.tree, target);
  } catch (error) {
    await Deno.rename(old, target);
    throw error;
  }
}

/**
 * The path the tree is renamed to, for `destination`: its folder's real path and its name. When
 * root pulls, that folder and each one on the way to it must be folders that no other user can
 * replace: one who could would swap it for a link between the check and the renames, and choose
 * where root puts the image, or which folder of that name root swaps out and removes.
 *
 * @throws {UsageError} when root pulls and another user could.
 */
async function placedTarget(staging: Staging, destination: string): Promise<string> {
  const folder = await Deno.realPath(parentOf(destination));
  if (staging.byRoot) {
    const { exposed } = await shieldedChain(folder);
    if (exposed) {
      throw new UsageError(
        `refusing to pull into ${destination} as root: ${exposed}; that user could swap it ` +
          "for a link between root's check and its renames, and so choose where the image " +
          "goes, or what is swapped out and removed; nothing was changed",
        { hint: "pull as the user who owns that folder, or into a folder only root can change" },
      );
    }
  }
  return `${folder === "/" ? "" : folder}/${destination.slice(destination.lastIndexOf("/") + 1)}`;
}

/**
 * Merges the tree into the folder `destination`: each path of the image is added, or replaces
 * what is at that path, and nothing else is removed. Only real folders are entered on either
 * side: a destination symlink is replaced, never followed.
 *
 * What can be checked is checked before anything moves: a destination folder where the image
 * has a file or link (it would lose its content), a destination path on another file system
 * than the staging folder (no rename reaches it), and, when root pulls, a folder to enter that
 * another user could replace by a link between the check and the move. Each entry the merge
 * overwrites is moved into the staging folder first, and each step is noted (see
 * {@linkcode Merge}): when one fails all the same, or what is noted would pass
 * `maxRetainedBytes`, every step is undone.
 */
async function mergeInto(
  staging: Staging,
  destination: string,
  maxRetainedBytes: number | undefined,
): Promise<void> {
  staging.check();
  const top = await Deno.lstat(destination);
  const { dev: device } = await Deno.lstat(staging.folder);
  if (top.dev !== device) throw crossDevice(destination);
  if (staging.byRoot) {
    const { exposed } = await shieldedChain(destination);
    if (exposed) throw exposedFolder(destination, exposed);
  }
  await checkMerge(staging.tree, destination, top, {
    destination,
    device,
    byRoot: staging.byRoot,
  });
  const budget = new RetainedBudget(
    boundOf(maxRetainedBytes, MAX_RETAINED_BYTES, "maxRetainedBytes"),
    MERGE_KEPT,
  );
  const merge = new Merge(staging, destination, device, budget);
  try {
    await merge.moveTree("", top);
  } catch (error) {
    await merge.undo(error);
    throw error;
  }
}

/** Walks the tree against the destination, and throws for what would fail or be unsafe. */
async function checkMerge(
  from: string,
  to: string,
  toInfo: Deno.FileInfo,
  rules: { destination: string; device: number; byRoot: boolean },
): Promise<void> {
  for await (const child of Deno.readDir(from)) {
    const target = `${to}/${child.name}`;
    const there = lstatOrUndefined(target);
    if (there === undefined) continue;
    if (there.dev !== rules.device) throw crossDevice(target);
    if (!there.isDirectory) continue;
    if (!child.isDirectory) throw folderConflict(target.slice(rules.destination.length + 1));
    const why = rules.byRoot ? exposure(toInfo, there.uid) : undefined;
    if (why) throw exposedFolder(target, `${target} can be replaced by another user: ${why}`);
    await checkMerge(`${from}/${child.name}`, target, there, rules);
  }
}

/** What a merge holds against its budget, as the message past `maxRetainedBytes` says it. */
const MERGE_KEPT = "the paths a merge into the destination changed, noted to put them back if " +
  "it fails, and the names of the folders it is merging";

/** The steps a merge takes at one path, as the bits of the path's record. */
const Step = {
  /** What was there is kept in the staging folder, at `aside-N`, N the record's number. */
  aside: 1,
  /** The image's entry was renamed there, from the same path in the tree. */
  moved: 2,
  /** The folder there was given its owner's write permission, for the moves into it. */
  opened: 4,
  /** The folder there was given the image's mode. */
  modeSet: 8,
} as const;

/** The bits of a record that {@linkcode Step} uses; the folder's mode before the merge is above. */
const STEP_BITS = 4;

/**
 * What a record costs besides its path's node: two numbers (its steps, its folder's inode) in
 * arrays, with the room the arrays grow by.
 */
const RECORD_BYTES = 24;

/**
 * What a listed name costs besides its characters: its string's header, its slot in the list,
 * with the room the list grows by, and its slot in the sort's copy.
 */
const LISTED_NAME_BYTES = 40;

/** What a listed folder's name costs besides, as an entry of the set of a listing's folders. */
const LISTED_FOLDER_BYTES = 32;

/**
 * The moves of one merge, noted so that a failed merge can be taken back.
 *
 * What it notes does not grow with the paths' length: each path it changes (relative, the same
 * in the tree and in the destination) is a node of a tree of names ({@linkcode PathTree}), a
 * folder's name once however many paths pass through it, and its number is a record: the steps
 * taken there, the mode the folder there had before the merge changed it, and that folder's
 * inode. Full paths are built again only to undo. A folder is listed for its names alone, the
 * names of the folders being merged are held only while they are, and they count with the tree
 * against a {@linkcode RetainedBudget}: past it the merge fails, and is undone as for any
 * failure. A step is noted before it is taken (what it takes from the budget) and marked done
 * once it is, so that nothing is done that the undo does not know of.
 */
class Merge {
  readonly #staging: Staging;
  readonly #destination: string;
  /** The device of both sides: every folder whose mode a step changes is on it. */
  readonly #device: number;
  readonly #budget: RetainedBudget;
  /** The number of the record of each path changed. */
  readonly #paths: PathTree;
  /** Each record's steps done (bits of {@linkcode Step}), and above them its folder's mode. */
  readonly #steps: number[] = [];
  /** Each record's folder's inode, once a step changed its mode; else 0. */
  readonly #inodes: number[] = [];

  constructor(staging: Staging, destination: string, device: number, budget: RetainedBudget) {
    this.#staging = staging;
    this.#destination = destination;
    this.#device = device;
    this.#budget = budget;
    this.#paths = new PathTree(budget);
  }

  /**
   * Moves each entry of the tree's folder `path` ("" for the tree itself) into the destination's
   * folder at the same path, which `lstat` saw as `toInfo`, in name order (a failure's extent
   * does not depend on the order the file system lists). That folder is checked to be the one
   * seen again before each move into it, so no move follows a link put in its place.
   */
  async moveTree(path: string, toInfo: Deno.FileInfo): Promise<void> {
    this.#staging.check();
    const from = this.#inTree(path);
    const to = this.#inDestination(path);
    await this.#inNameOrder(from, async (name, isDirectory) => {
      const child = path === "" ? name : `${path}/${name}`;
      const source = `${from}/${name}`;
      const target = `${to}/${name}`;
      // A folder's mode is needed; a file's entry is enough (the tree is private to this pull).
      const info = isDirectory ? await Deno.lstat(source) : undefined;
      unchangedFolder(to, toInfo);
      const there = lstatOrUndefined(target);
      if (there !== undefined && there.dev !== this.#device) throw crossDevice(target);
      if (there?.isDirectory) {
        if (!info) throw folderConflict(target);
        return await this.#mergeFolder(child, info, there);
      }
      const record = this.#newRecord(child);
      // rename() replaces a file or a link in one step, but a folder replaces neither; either
      // way, what was there is kept aside until the merge is done.
      if (there) {
        await Deno.rename(target, this.#staging.aside(record));
        this.#steps[record] |= Step.aside;
      }
      if (info) return await this.#moveFolder(record, child, info);
      await Deno.rename(source, target);
      this.#steps[record] |= Step.moved;
    });
  }

  /**
   * Undoes every step done: first each folder that was given the image's mode gets back the one
   * it had before, each folder before those below it (that mode may close a folder to its
   * owner); then each path, each after those below it, gets back its mode, its entry goes back
   * into the tree, and what was there comes back. An undoing that fails leaves the folder kept.
   */
  async undo(cause: unknown): Promise<void> {
    const failures: string[] = [];
    const attempt = async (step: () => Promise<void> | void) => {
      try {
        await step();
      } catch (error) {
        failures.push((error as Error).message);
      }
    };
    for (const [path, record] of this.#paths.shallowestFirst()) {
      const steps = this.#steps[record];
      if ((steps & Step.modeSet) === 0) continue;
      const before = (steps >> STEP_BITS) | (steps & Step.opened ? OWNER_WRITE : 0);
      await attempt(() => this.#modeBack(path, record, before));
    }
    for (const [path, record] of this.#paths.deepestFirst()) {
      const steps = this.#steps[record];
      const there = this.#inDestination(path);
      if (steps & Step.opened) {
        await attempt(() => this.#modeBack(path, record, steps >> STEP_BITS));
      }
      if (steps & Step.moved) await attempt(() => Deno.rename(there, this.#inTree(path)));
      if (steps & Step.aside) {
        await attempt(() => Deno.rename(this.#staging.aside(record), there));
      }
    }
    if (failures.length === 0) return;
    this.#staging.keep = true;
    throw new OcisyncError(
      `${(cause as Error).message}; putting the destination back failed too (${failures[0]}): ` +
        `what the merge moved or replaced is kept in ${this.#staging.folder}`,
      { cause },
    );
  }

  /**
   * Calls `each` with the name of each entry of the folder `folder`, and whether it is a folder, in
   * name order. The names, one folder's and not their paths, are held until it returns, against
   * the budget.
   */
  async #inNameOrder(
    folder: string,
    each: (name: string, isDirectory: boolean) => Promise<void>,
  ): Promise<void> {
    const names: string[] = [];
    const folders = new Set<string>();
    let held = 0;
    try {
      for await (const entry of Deno.readDir(folder)) {
        const bytes = LISTED_NAME_BYTES + entry.name.length +
          (entry.isDirectory ? LISTED_FOLDER_BYTES : 0);
        this.#budget.take(bytes);
        held += bytes;
        names.push(entry.name);
        if (entry.isDirectory) folders.add(entry.name);
      }
      // By UTF-16 code units, as `<` compares them.
      names.sort();
      for (const name of names) await each(name, folders.has(name));
    } finally {
      this.#budget.give(held);
    }
  }

  /**
   * Merges the tree's folder `path`, which `lstat` saw as `info`, into the destination's folder
   * there, seen as `there`. A folder without its owner's write permission (0555, as images make
   * `/usr`) takes in and lets go of no entry, for any user but root: both sides are opened to
   * their owner for the moves, and the image's mode is set last.
   */
  async #mergeFolder(path: string, info: Deno.FileInfo, there: Deno.FileInfo): Promise<void> {
    const mode = info.mode! & 0o7777;
    if ((mode & OWNER_WRITE) === 0) await Deno.chmod(this.#inTree(path), mode | OWNER_WRITE);
    let record: number | undefined;
    let entered = there;
    if ((there.mode! & OWNER_WRITE) === 0) {
      record = this.#newRecord(path);
      this.#setMode(record, Step.opened, path, there, there.mode! | OWNER_WRITE);
      entered = { ...there, mode: there.mode! | OWNER_WRITE };
    }
    await this.moveTree(path, entered);
    if ((entered.mode! & 0o7777) === mode) return;
    record ??= this.#newRecord(path);
    this.#setMode(record, Step.modeSet, path, entered, mode);
  }

  /**
   * Moves the tree's folder `path`, which `lstat` saw as `info`, to the free path in the
   * destination. A folder moved into another folder needs its own write permission, for its
   * `..` entry, for any user but root: one without it (0555) is opened to its owner for the
   * move, and gets its mode back in place.
   */
  async #moveFolder(record: number, path: string, info: Deno.FileInfo): Promise<void> {
    const from = this.#inTree(path);
    const to = this.#inDestination(path);
    const mode = info.mode! & 0o7777;
    if ((mode & OWNER_WRITE) === 0) await Deno.chmod(from, mode | OWNER_WRITE);
    await Deno.rename(from, to);
    this.#steps[record] |= Step.moved;
    // The folder moved, known by its inode in the tree: whoever may write the destination may
    // have put something else at its name since.
    if ((mode & OWNER_WRITE) === 0) {
      this.#setMode(record, Step.modeSet, path, { ...info, mode: mode | OWNER_WRITE }, mode);
    }
  }

  /**
   * Gives the destination's folder `path`, which `lstat` saw as `info`, the mode `mode`, as the
   * step `step` of its record; the first such step there notes the mode it had and its inode.
   * Set on the folder seen, never through a link put at its name ({@linkcode chmodIfSame}).
   */
  #setMode(
    record: number,
    step: number,
    path: string,
    info: Deno.FileInfo,
    mode: number,
  ): void {
    const folder = this.#inDestination(path);
    unchangedFolder(folder, info);
    if ((this.#steps[record] & (Step.opened | Step.modeSet)) === 0) {
      this.#steps[record] |= (info.mode! & 0o7777) << STEP_BITS;
      this.#inodes[record] = info.ino!;
    }
    chmodUnchanged(folder, info, mode, this.#staging.byRoot);
    this.#steps[record] |= step;
  }

  /** Gives the destination's folder `path` the mode `mode` back, if it is the folder changed. */
  #modeBack(path: string, record: number, mode: number): void {
    const folder = this.#inDestination(path);
    chmodUnchanged(
      folder,
      { dev: this.#device, ino: this.#inodes[record] },
      mode,
      this.#staging.byRoot,
    );
  }

  /**
   * Notes a record for `path`, with no step done yet, and returns its number.
   *
   * @throws {UnsafeContentError} when the budget cannot hold it.
   */
  #newRecord(path: string): number {
    const record = this.#steps.length;
    this.#budget.take(RECORD_BYTES);
    this.#paths.set(path, record);
    this.#steps.push(0);
    this.#inodes.push(0);
    return record;
  }

  /** The path `path` (relative) in the tree. */
  #inTree(path: string): string {
    return path === "" ? this.#staging.tree : `${this.#staging.tree}/${path}`;
  }

  /** The path `path` (relative) in the destination. */
  #inDestination(path: string): string {
    return path === "" ? this.#destination : `${this.#destination}/${path}`;
  }
}

/** The mode bit that lets a folder's owner add, rename and remove its entries. */
const OWNER_WRITE = 0o200;

/** @throws {OcisyncError} when `path` is no longer the folder `lstat` saw as `info`. */
function unchangedFolder(path: string, info: FileIdentity): void {
  if (!sameFolder(lstatOrUndefined(path), info)) throw replacedInMerge(path);
}

/**
 * Sets the mode of the folder `info` at `path`, if it is still there. As root, on the folder
 * opened without following a link ({@linkcode chmodIfSame}): another user who may write the
 * destination could put a link at its name after any look. Any other user changes only what
 * they could change anyway, and by path, which needs no read permission on the folder (an
 * open does).
 */
function chmodUnchanged(path: string, info: FileIdentity, mode: number, byRoot: boolean): void {
  if (!byRoot) {
    unchangedFolder(path, info);
    Deno.chmodSync(path, mode);
    return;
  }
  let set: boolean;
  try {
    set = chmodIfSame(path, info, mode);
  } catch (error) {
    throw replacedInMerge(path, error);
  }
  if (!set) throw replacedInMerge(path);
}

function replacedInMerge(path: string, cause?: unknown): OcisyncError {
  return new OcisyncError(
    `cannot pull: ${path} was replaced while the pull merged into it: refusing to write ` +
      "through it",
    { cause },
  );
}

function folderConflict(path: string): OcisyncError {
  return new OcisyncError(
    `cannot pull: the image has a file at ${path}, where the destination has a folder`,
    {
      hint: "move the folder away, or replace the destination to make it the image",
      option: "replace",
    },
  );
}

function crossDevice(path: string): OcisyncError {
  return new OcisyncError(
    `cannot pull: ${path} is on another file system than the staging folder (a mount point), ` +
      "so the merge cannot move the image's files into it; nothing was changed",
    { hint: "unmount it while pulling, or pull into another folder" },
  );
}

function exposedFolder(path: string, why: string): UsageError {
  return new UsageError(
    `refusing to merge into ${path} as root: ${why}; that user could swap it for a link ` +
      "between root's check and its move, and so redirect the files moved into it or the mode " +
      "set on it; nothing was changed",
    {
      hint: "pull as the user who owns that folder, or replace the destination whole",
      option: "replace",
    },
  );
}
