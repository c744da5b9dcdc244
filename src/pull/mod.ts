/**
 * Pulls an image or an artifact from any {@linkcode Target} into a folder.
 *
 * - An image's layers are applied in order, with OCI whiteouts, by the safe
 *   {@linkcode Unpacker}; each layer's uncompressed digest is checked against
 *   the config's `rootfs.diff_ids`.
 * - An artifact (every layer has an `org.opencontainers.image.title`) becomes
 *   one file per layer at its title path; ORAS's packed directories
 *   (`io.deis.oras.content.unpack`) are unpacked and their digest checked.
 *
 * Everything is written into a temporary folder beside the destination and
 * moved into place only after every digest has been verified, so a failed
 * pull leaves the destination as it was.
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
import { IntegrityError, NetworkError, UnsafeContentError, UsageError } from "../errors/mod.ts";
import { hostPlatform, selectManifest } from "../image/platform.ts";
import type { Target } from "../oci/target.ts";
import {
  type Descriptor,
  type ImageConfig,
  type Manifest,
  parseManifestOrIndex,
  type Platform,
} from "../oci/types.ts";
import { type BlobListener, reportingStream } from "../progress/mod.ts";
import { readTar } from "../tar/reader.ts";
import { Unpacker, type UnpackStats } from "../unpack/mod.ts";

/** The annotation that names an artifact's file. */
export const TITLE_ANNOTATION = "org.opencontainers.image.title";
/** ORAS: this tar+gzip blob is a packed directory. */
export const ORAS_UNPACK_ANNOTATION = "io.deis.oras.content.unpack";
/** ORAS: the digest of a packed directory's uncompressed tar. */
export const ORAS_DIGEST_ANNOTATION = "io.deis.oras.content.digest";

/** Options of {@linkcode pull}. */
export interface PullOptions {
  /** The platform to choose from an index. Default: the host's. */
  platform?: Platform;
  /** The most bytes the layers may write. */
  maxExtractSize?: number;
  /** Progress events, for a display. */
  onBlob?: BlobListener;
}

/** What a pull wrote. */
export interface PullResult {
  /** The digest of the manifest that was pulled (the platform's, for an index). */
  digest: Digest;
  /** The digest that was resolved: the index's, when there is one. */
  resolvedDigest: Digest;
  /** Whether layers were applied as an image or written as artifact files. */
  kind: "image" | "artifact";
  /** The paths written, relative to the destination: top-level ones for images. */
  files: string[];
  /** Entry counts, for images. */
  stats?: UnpackStats;
}

/**
 * Resolves a manifest descriptor (choosing a platform from an index) to the
 * image manifest.
 */
export async function fetchImageManifest(
  target: Target,
  descriptor: Descriptor,
  platform: Platform = hostPlatform(),
): Promise<{ descriptor: Descriptor; manifest: Manifest }> {
  const parsed = parseManifestOrIndex(await target.fetchManifest(descriptor), descriptor.mediaType);
  if (parsed.kind === "manifest") return { descriptor, manifest: parsed.manifest };
  const chosen = selectManifest(parsed.index.manifests, platform);
  const child = parseManifestOrIndex(await target.fetchManifest(chosen), chosen.mediaType);
  if (child.kind !== "manifest") {
    throw new IntegrityError(`index entry ${chosen.digest} is an index, not an image manifest`);
  }
  return { descriptor: chosen, manifest: child.manifest };
}

/** Pulls the image or artifact that `descriptor` names into `destination`. */
export async function pull(
  target: Target,
  descriptor: Descriptor,
  destination: string,
  options: PullOptions = {},
): Promise<PullResult> {
  const { descriptor: chosen, manifest } = await fetchImageManifest(
    target,
    descriptor,
    options.platform,
  );
  const isArtifact = manifest.layers.length > 0 &&
    manifest.layers.every((layer) => layer.annotations?.[TITLE_ANNOTATION]);
  const staging = await stagingFolder(destination);
  try {
    const unpacker = new Unpacker(staging, { maxSize: options.maxExtractSize });
    let files: string[];
    if (isArtifact) {
      files = [];
      for (const layer of manifest.layers) {
        files.push(await pullArtifactLayer(target, layer, unpacker, options));
      }
    } else {
      await pullImageLayers(target, manifest, unpacker, options);
      files = [...Deno.readDirSync(staging)].map((e) => e.name).sort();
    }
    unpacker.finish();
    await moveIntoPlace(staging, destination);
    return {
      digest: chosen.digest,
      resolvedDigest: descriptor.digest,
      kind: isArtifact ? "artifact" : "image",
      files,
      ...(isArtifact ? {} : { stats: unpacker.stats }),
    };
  } finally {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
}

async function pullImageLayers(
  target: Target,
  manifest: Manifest,
  unpacker: Unpacker,
  options: PullOptions,
): Promise<void> {
  const configBytes = new Uint8Array(
    await new Response(await target.fetchBlob(manifest.config)).arrayBuffer(),
  );
  let config: ImageConfig;
  try {
    config = JSON.parse(new TextDecoder().decode(configBytes));
  } catch {
    throw new IntegrityError(`image config ${manifest.config.digest} is not JSON`);
  }
  const diffIds = config.rootfs?.diff_ids;
  if (diffIds && diffIds.length !== manifest.layers.length) {
    throw new IntegrityError(
      `the config lists ${diffIds.length} diff_ids for ${manifest.layers.length} layers`,
    );
  }
  for (const [index, layer] of manifest.layers.entries()) {
    options.onBlob?.({ descriptor: layer, state: "started" });
    const diffId = new Sha256();
    await unpackBlob(
      reportingStream(await target.fetchBlob(layer), layer, options.onBlob),
      unpacker,
      diffId,
    );
    const actual = diffId.digest();
    if (diffIds && actual !== diffIds[index]) {
      throw new IntegrityError(
        `layer ${layer.digest} uncompresses to ${actual}, but the config says ${diffIds[index]}`,
      );
    }
    options.onBlob?.({ descriptor: layer, state: "done" });
  }
}

async function pullArtifactLayer(
  target: Target,
  layer: Descriptor,
  unpacker: Unpacker,
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
    await unpacker.apply(
      (async function* () {
        yield {
          name: parts.join("/"),
          type: "file" as const,
          typeFlag: "0",
          mode: 0o644,
          size: layer.size,
          mtime: Math.floor(Date.now() / 1000),
          linkName: "",
          body,
        };
      })(),
    );
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
  unpacker: Unpacker,
  tarDigest: Sha256,
): Promise<void> {
  const reader = blob.getReader();
  // Reads without releasing `reader`, so the rest can still be read after a failure.
  const bytes = (async function* () {
    for (let read = await reader.read(); !read.done; read = await reader.read()) yield read.value;
  })();
  const tar = hashing(decompressStream(bytes), tarDigest);
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

/** A fresh folder beside `destination`, so the final rename stays on one file system. */
async function stagingFolder(destination: string): Promise<string> {
  const trimmed = destination.replace(/\/+$/, "") || "/";
  const slash = trimmed.lastIndexOf("/");
  const parent = slash > 0 ? trimmed.slice(0, slash) : slash === 0 ? "/" : ".";
  try {
    await Deno.mkdir(parent, { recursive: true });
  } catch (error) {
    throw new UsageError(`cannot create ${parent}: ${(error as Error).message}`);
  }
  const staging = await Deno.makeTempDir({ dir: parent, prefix: ".ocisync-pull-" });
  // makeTempDir is private (0700); the folder becomes the destination, which others may read.
  await Deno.chmod(staging, 0o755);
  return staging;
}

/**
 * Moves the verified tree into place: a missing or empty destination is
 * replaced by one rename; into a folder that has content, each top-level
 * entry is renamed in, replacing an entry of the same name.
 */
async function moveIntoPlace(staging: string, destination: string): Promise<void> {
  const existing = await Deno.lstat(destination).catch(() => undefined);
  if (existing && !existing.isDirectory) {
    throw new UsageError(`${destination} exists and is not a folder`);
  }
  const isEmpty = existing && (await Array.fromAsync(Deno.readDir(destination))).length === 0;
  if (!existing || isEmpty) {
    if (isEmpty) await Deno.remove(destination);
    await Deno.rename(staging, destination);
    await Deno.mkdir(staging); // the caller's cleanup expects it
    return;
  }
  const names = (await Array.fromAsync(Deno.readDir(staging))).map((e) => e.name);
  const aside = await Deno.makeTempDir({ dir: `${staging}/..`, prefix: ".ocisync-old-" });
  try {
    for (const name of names) {
      const target = `${destination}/${name}`;
      const old = await Deno.lstat(target).catch(() => undefined);
      // rename() replaces a file in one step, but not a folder, nor a file by a folder.
      if (old && (old.isDirectory || (await Deno.lstat(`${staging}/${name}`)).isDirectory)) {
        await Deno.rename(target, `${aside}/${name}`);
      }
      await Deno.rename(`${staging}/${name}`, target);
    }
  } finally {
    await Deno.remove(aside, { recursive: true });
  }
}
