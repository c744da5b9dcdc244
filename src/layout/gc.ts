/**
 * Garbage collection of an OCI image layout: removes the blobs that nothing
 * listed in `index.json` reaches, and that are older than a grace period.
 *
 * Reachable are the `index.json` entries; the children of every index among
 * them, recursively; and the config and layers of every manifest. A manifest's
 * `subject` is not followed: a referrer does not keep its subject alive (as in
 * a registry), and a referrer itself is kept only while it is listed.
 *
 * A document of a type not read here (an image-spec 1.1-rc artifact manifest
 * with `blobs`, a Docker schema 1 manifest with `fsLayers`, a type yet to come)
 * is never taken to refer to nothing: when it is JSON, every descriptor in it
 * (any object with a `digest`), wherever it is, and every schema 1 `blobSum`
 * are kept, and each such descriptor is read in turn as a document. An entry or
 * an index's child whose media type says JSON but that is not JSON (or is over
 * the manifest size limit) stops the collection, naming it, for what it refers
 * to cannot be known; one of another media type that is not JSON is an opaque
 * blob, kept itself.
 *
 * It is safe while other processes push into the layout:
 *
 * - It holds the layout's `index.json` lock while it reads the index, decides
 *   and removes, so no manifest can be listed meanwhile.
 * - A push writes its blobs before the manifest that lists them, without that
 *   lock. Unreachable blobs written (mtime) or reused by a push (atime, which
 *   `LayoutTarget.pushBlob` sets) within the grace period, one hour by default
 *   as registries keep recent uploads, are therefore kept: they may belong to a
 *   push under way. A blob is set aside by a rename and its times read again
 *   before it is removed, so a reuse racing with the removal keeps the blob.
 * - A blob's temporary file (`.HEX.RANDOM.tmp` in `blobs/ALG/`, a write in
 *   progress) is removed only once not modified for a day, or for the grace
 *   period when that is longer ({@linkcode LEFTOVER_AGE_MS}): a live writer
 *   keeps writing it, so its mtime stays fresh, and one untouched for that long
 *   was left by a writer that died. Other files are never touched.
 *
 * @example
 * ```ts
 * import { gcLayout } from "./gc.ts";
 * const { freedBytes } = await gcLayout("./images");
 * ```
 * @module
 */
import { type Digest, isDigest } from "../digest/parse.ts";
import { IntegrityError, NotFoundError, OcisyncError, UsageError } from "../errors/mod.ts";
import { LEFTOVER_AGE_MS, temporaryTarget } from "../fs/atomic.ts";
import { MANIFEST_MEDIA_TYPES } from "../oci/mediatypes.ts";
import {
  type Descriptor,
  isJsonObject,
  type ManifestOrIndex,
  MAX_MANIFEST_BYTES,
  parseManifestOrIndex,
} from "../oci/types.ts";
import {
  BLOB_ALGORITHMS,
  checkBlobFolders,
  checkLayout,
  lockPath,
  readIndex,
  readManifestBlob,
} from "./format.ts";
import { refuseReplaceableAsRoot } from "../fs/shielded.ts";
import { withLock } from "./lock.ts";
import { lstatOrUndefined, statOrUndefined } from "../fs/stat.ts";

/** A blob, by digest and size. */
type GcBlob = { digest: Digest; size: number };

/** What {@linkcode gcLayout} did. */
export interface GcResult {
  /** The blobs removed, by digest. */
  removed: { digest: Digest; size: number }[];
  /**
   * The temporary files of blob writes that died, removed: their paths in the layout
   * (`blobs/ALG/.HEX.RANDOM.tmp`), sorted.
   */
  removedTemporary: { path: string; size: number }[];
  /** The bytes of the removed blobs and temporary files. */
  freedBytes: number;
  /** How many blobs were kept: the reachable ones and those of `withinGrace`. */
  kept: number;
  /** Unreachable blobs kept because they were written or reused within the grace period. */
  withinGrace: { digest: Digest; size: number }[];
}

/** The default grace period of {@linkcode gcLayout}: one hour. */
export const DEFAULT_GC_GRACE_MS = 60 * 60_000;

/** Where a blob waits while its removal is checked: `.<hex>.gc`, in its own folder. */
const ASIDE = /^\.([0-9a-f]+)\.gc$/;

/**
 * A blob reached, and how it is treated:
 *
 * - `manifest`: an `index.json` entry or an index's child, a manifest or index by the image-spec.
 *   Read, and refused when it cannot be read though its media type says it is JSON.
 * - `found`: a descriptor found in a document of a type not read here. Read, and followed, only
 *   when it turns out to be JSON: it may be a payload of any kind.
 * - `blob`: a manifest's config or layer, a schema 1 `blobSum`: kept, never read.
 *
 * A `manifest` or `found` whose media type is a manifest or index is read as one, and refused
 * unless valid.
 */
type Reached =
  | { role: "manifest" | "found"; descriptor: Descriptor }
  | { role: "blob"; digest: Digest };

/**
 * Removes the blobs of the layout at `path` that `index.json` does not reach and that are older
 * than the grace period, and the temporary files of blob writes not modified for a day (or for
 * the grace period, when longer), which writes that died left.
 *
 * `options.graceMs`: unreachable blobs written or reused less than this many milliseconds ago
 * are kept, for a push may be writing the image they belong to. 0 removes them all, which is
 * safe only when nothing writes to the layout. Default: {@linkcode DEFAULT_GC_GRACE_MS}, one
 * hour.
 *
 * @throws {NotFoundError} when there is no layout at `path`.
 * @throws {OcisyncError} when a reachable manifest or index is unreadable or corrupt, or a
 * listed document whose media type says JSON is not JSON, for the blobs it refers to cannot be
 * known; the message names it, and nothing is removed. Also when the `index.json` lock stays
 * held by another process for 30 s.
 * @example
 * ```ts
 * import { gcLayout } from "./gc.ts";
 * const { removed, freedBytes, kept, withinGrace } = await gcLayout("./images");
 * console.log(`removed ${removed.length} blobs (${freedBytes} bytes), kept ${kept}`);
 * console.log(`${withinGrace.length} unreachable blobs are younger than an hour`);
 * ```
 */
export async function gcLayout(
  path: string,
  options: { graceMs?: number } = {},
): Promise<GcResult> {
  const graceMs = options.graceMs ?? DEFAULT_GC_GRACE_MS;
  if (!(graceMs >= 0)) throw new UsageError(`the grace period must be 0 or more, not ${graceMs}`);
  await checkLayout(path);
  await refuseReplaceableBlobsAsRoot(path);
  return await withLock(lockPath(path), async () => {
    await restoreLeftovers(path);
    const reachable = await mark(path, (await readIndex(path)).manifests);
    return await sweep(path, reachable, graceMs);
  });
}

/**
 * As root, refuses a layout whose blob folders, or the entries root removes from them, another
 * user could replace: gc renames and removes blob by blob through their paths, and such a user
 * could swap `blobs/sha256` for a link to a folder of root's between two removals, and have root
 * remove the files there named like the layout's unreachable blobs.
 *
 * @throws {UsageError} naming the folder and why.
 */
async function refuseReplaceableBlobsAsRoot(root: string): Promise<void> {
  for (const folder of BLOB_ALGORITHMS.map((algorithm) => `${root}/blobs/${algorithm}`)) {
    if (!lstatOrUndefined(folder)?.isDirectory) continue;
    await refuseReplaceableAsRoot(folder, (why) =>
      new UsageError(
        `refusing to collect garbage in ${root} as root: ${why}; that user could swap the ` +
          "folder for a link between two removals and have root remove files elsewhere; " +
          "nothing was removed",
        { hint: "run gc as the user who owns the layout" },
      ));
  }
}

async function mark(root: string, entries: Descriptor[]): Promise<Set<string>> {
  const reachable = new Set<string>();
  try {
    await walkReachable(
      entries,
      (digest) => reachable.add(digest) !== undefined,
      async (descriptor) => {
        try {
          return await readManifestBlob(root, descriptor);
        } catch (error) {
          // Missing children are normal: skopeo keeps a whole index but only some of its images.
          if (error instanceof NotFoundError) return undefined;
          throw error;
        }
      },
    );
  } catch (error) {
    throw new OcisyncError(`cannot collect garbage in ${root}: ${(error as Error).message}`, {
      cause: error,
      hint: "nothing was removed: repair that blob, or remove what lists it, then run gc again",
    });
  }
  return reachable;
}

/**
 * Walks what `entries` reach, depth first, as the module documentation tells: each entry and
 * each child of an index is a document that may refer to blobs; so is each descriptor of a
 * document of a type not known here; a manifest's config and layers are not. `reach` is called
 * with each blob reached, each time it is reached, and answers whether it is there to follow;
 * `read` is called once a digest and role, for a document that is there, and answers its
 * verified bytes, or `undefined` when it is missing. Both `gcLayout` and an `oci-archive:` being
 * written keep what this reaches.
 *
 * @throws {IntegrityError} when a manifest or index of a known media type is not valid, or an
 * `index.json` entry or index child whose media type says JSON is not JSON or is over
 * {@linkcode MAX_MANIFEST_BYTES}: the blobs it refers to cannot be known. Errors of `read` pass
 * unchanged, but for a descriptor found in an unknown document, which is then kept unread.
 * @example
 * ```ts
 * import { walkReachable } from "./gc.ts";
 * import { readIndex, readManifestBlob } from "./format.ts";
 * const reached = new Set<string>();
 * await walkReachable(
 *   (await readIndex("./images")).manifests,
 *   (digest) => reached.add(digest) !== undefined,
 *   (descriptor) => readManifestBlob("./images", descriptor),
 * );
 * ```
 */
export async function walkReachable(
  entries: Descriptor[],
  reach: (digest: Digest) => boolean | Promise<boolean>,
  read: (descriptor: Descriptor) => Promise<Uint8Array | undefined>,
): Promise<void> {
  const opened = new Set<string>();
  const pending: Reached[] = entries.map((descriptor) => ({ role: "manifest", descriptor }));
  for (let next = pending.pop(); next; next = pending.pop()) {
    if (next.role === "blob") {
      await reach(next.digest);
      continue;
    }
    const { role, descriptor } = next;
    // By role: a document found first, and read leniently, is read again as a listed manifest.
    const key = `${role} ${descriptor.digest}`;
    if (!await reach(descriptor.digest) || opened.has(key)) continue;
    opened.add(key);
    pending.push(...await referencesOf(descriptor, role, read));
  }
}

/** What a document reached refers to; see {@linkcode walkReachable}. */
async function referencesOf(
  descriptor: Descriptor,
  role: "manifest" | "found",
  read: (descriptor: Descriptor) => Promise<Uint8Array | undefined>,
): Promise<Reached[]> {
  if (MANIFEST_MEDIA_TYPES.includes(descriptor.mediaType)) {
    const bytes = await read(descriptor);
    return bytes ? referencesOfKnown(descriptor, bytes) : [];
  }
  // A listed manifest that says it is JSON must be; anything else may be an opaque blob.
  const strict = role === "manifest" && saysJson(descriptor.mediaType);
  if (descriptor.size > MAX_MANIFEST_BYTES) {
    if (strict) throw unreadable(descriptor, `has more than ${MAX_MANIFEST_BYTES} bytes`);
    return [];
  }
  let bytes;
  try {
    bytes = await read(descriptor);
  } catch (error) {
    // A payload found in an artifact is no concern of the walk's: it is kept as it is.
    if (role === "found") return [];
    throw error;
  }
  const json = bytes && parseJson(bytes);
  if (json) return referencesIn(json.value);
  if (bytes && strict) throw unreadable(descriptor, "is not JSON");
  return [];
}

/** The children of a manifest or index of a known media type, refused unless valid. */
function referencesOfKnown(descriptor: Descriptor, bytes: Uint8Array): Reached[] {
  let doc: ManifestOrIndex;
  try {
    doc = parseManifestOrIndex(bytes, descriptor.mediaType);
  } catch (error) {
    throw unreadable(descriptor, `is not valid (${(error as Error).message})`);
  }
  if (doc.kind === "index") {
    return doc.index.manifests.map((child) => ({ role: "manifest", descriptor: child }));
  }
  const { config, layers } = doc.manifest;
  return [config, ...layers].map(({ digest }) => ({ role: "blob", digest }));
}

/**
 * Every blob a JSON document of a type not known here may refer to: each object with a valid
 * `digest`, wherever it is (an artifact manifest's `blobs` and `subject`, a field yet to come),
 * which may be a document itself when it has a size to read it by; and each schema 1 `blobSum`.
 * Iterative, for a hostile document may nest deeper than the call stack goes.
 */
function referencesIn(json: unknown): Reached[] {
  const found: Reached[] = [];
  const stack = [json];
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
      continue;
    }
    if (!isJsonObject(value)) continue;
    const { digest, size, mediaType, blobSum } = value;
    if (typeof blobSum === "string" && isDigest(blobSum)) {
      found.push({ role: "blob", digest: blobSum });
    }
    if (typeof digest === "string" && isDigest(digest)) {
      found.push(
        typeof size === "number" && Number.isSafeInteger(size) && size >= 0
          ? {
            role: "found",
            descriptor: { mediaType: typeof mediaType === "string" ? mediaType : "", digest, size },
          }
          : { role: "blob", digest },
      );
    }
    for (const child of Object.values(value)) stack.push(child);
  }
  return found;
}

/** Whether a media type says its content is JSON: `application/json`, `+json`, or schema 1's `+prettyjws`. */
function saysJson(mediaType: string): boolean {
  const type = mediaType.split(";")[0].trim().toLowerCase();
  return type === "application/json" || type.endsWith("+json") || type.endsWith("+prettyjws");
}

/** UTF-8 JSON, parsed; `undefined` when the bytes are not that. */
function parseJson(bytes: Uint8Array): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) };
  } catch {
    return undefined;
  }
}

/** The refusal of a document whose references cannot be known. */
function unreadable(descriptor: Descriptor, why: string): IntegrityError {
  return new IntegrityError(
    `manifest ${descriptor.digest} (${descriptor.mediaType}) ${why}, so the blobs it refers ` +
      "to cannot be known",
  );
}

async function sweep(root: string, reachable: Set<string>, graceMs: number): Promise<GcResult> {
  const result: GcResult = {
    removed: [],
    removedTemporary: [],
    freedBytes: 0,
    kept: 0,
    withinGrace: [],
  };
  const temporary: { path: string; size: number }[] = [];
  checkBlobFolders(root);
  for (const algorithm of await listDir(`${root}/blobs`, "isDirectory")) {
    const dir = `${root}/blobs/${algorithm}`;
    for (const name of await listDir(dir, "isFile")) {
      const digest = `${algorithm}:${name}`;
      if (isTemporary(algorithm, name)) {
        const size = await removeIfLeft(`${dir}/${name}`, Math.max(LEFTOVER_AGE_MS, graceMs));
        if (size !== undefined) temporary.push({ path: `blobs/${algorithm}/${name}`, size });
        continue;
      }
      // Anything else that is not a blob is not ours to touch.
      if (!isDigest(digest)) continue;
      if (reachable.has(digest)) {
        result.kept++;
        continue;
      }
      const blob = await removeUnlessYoung(`${dir}/${name}`, graceMs);
      if (blob === undefined) continue;
      const entry = { digest, size: blob.size };
      if (blob.removed) {
        result.removed.push(entry);
        result.freedBytes += blob.size;
      } else {
        result.kept++;
        result.withinGrace.push(entry);
      }
    }
  }
  result.removed.sort(byDigest);
  result.withinGrace.sort(byDigest);
  result.removedTemporary = temporary.sort((a, b) => a.path < b.path ? -1 : 1);
  result.freedBytes += temporary.reduce((sum, file) => sum + file.size, 0);
  return result;
}

/** Whether `name`, in `blobs/<algorithm>/`, is the temporary file of a blob being written. */
function isTemporary(algorithm: string, name: string): boolean {
  const hex = temporaryTarget(name);
  return hex !== undefined && isDigest(`${algorithm}:${hex}`);
}

/**
 * Removes the file at `path`, never a link, when it was not modified for `ageMs`; its size, or
 * `undefined` when it is kept or has vanished (its write finished).
 */
async function removeIfLeft(path: string, ageMs: number): Promise<number | undefined> {
  const info = lstatOrUndefined(path);
  const modified = info?.mtime?.getTime();
  if (!info?.isFile || modified === undefined || Date.now() - modified < ageMs) return undefined;
  try {
    await Deno.remove(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  return info.size;
}

/** Puts back the blobs that a gc stopped half-way had set aside, before anything is judged. */
async function restoreLeftovers(root: string): Promise<void> {
  checkBlobFolders(root);
  for (const algorithm of await listDir(`${root}/blobs`, "isDirectory")) {
    const dir = `${root}/blobs/${algorithm}`;
    for (const name of await listDir(dir, "isFile")) {
      const hex = ASIDE.exec(name)?.[1];
      if (hex && isDigest(`${algorithm}:${hex}`)) await restore(`${dir}/${name}`, `${dir}/${hex}`);
    }
  }
}

/**
 * Removes an unreachable blob unless it was written or reused within `graceMs`. The blob is
 * first renamed aside and its times read again: a push that reused it set its atime before that
 * rename (and is kept), or finds it gone after and writes it again. `undefined` when it has
 * vanished.
 */
async function removeUnlessYoung(
  path: string,
  graceMs: number,
): Promise<{ size: number; removed: boolean } | undefined> {
  const info = statOrUndefined(path);
  if (!info?.isFile) return undefined;
  if (isYoung(info, graceMs)) return { size: info.size, removed: false };
  const slash = path.lastIndexOf("/");
  const aside = `${path.slice(0, slash)}/.${path.slice(slash + 1)}.gc`;
  try {
    await Deno.rename(path, aside);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const now = await Deno.stat(aside);
  if (isYoung(now, graceMs)) {
    await restore(aside, path);
    return { size: now.size, removed: false };
  }
  await Deno.remove(aside);
  return { size: now.size, removed: true };
}

/** Puts a blob set aside back, unless a push has written it again meanwhile. */
async function restore(aside: string, path: string): Promise<void> {
  if (statOrUndefined(path)) await Deno.remove(aside);
  else await Deno.rename(aside, path);
}

/** Whether a blob was written, or reused by a push (its atime), within the grace period. */
function isYoung(info: Deno.FileInfo, graceMs: number): boolean {
  const used = Math.max(info.mtime?.getTime() ?? 0, info.atime?.getTime() ?? 0);
  return graceMs > 0 && Date.now() - used < graceMs;
}

function byDigest(a: GcBlob, b: GcBlob): number {
  return a.digest < b.digest ? -1 : 1;
}

/** The names of a directory's entries of one kind, read before any is removed. */
async function listDir(path: string, kind: "isFile" | "isDirectory"): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(path))).filter((e) => e[kind]).map((e) => e.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}
