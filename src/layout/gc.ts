/**
 * Garbage collection of an OCI image layout: removes the blobs that nothing
 * listed in `index.json` reaches, and that are older than a grace period.
 *
 * Reachable are the `index.json` entries; the children of every index among
 * them, recursively; and the config and layers of every manifest. A manifest's
 * `subject` is not followed: a referrer does not keep its subject alive (as in
 * a registry), and a referrer itself is kept only while it is listed.
 * Descriptors of unknown media types in an index are kept, and read as a
 * manifest or index when they parse as one.
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
 * - Temporary files (`.NAME.RANDOM.tmp`, writes in progress) are never touched.
 *
 * @example
 * ```ts
 * import { gcLayout } from "./gc.ts";
 * const { freedBytes } = await gcLayout("./images");
 * ```
 * @module
 */
import { type Digest, isDigest } from "../digest/parse.ts";
import { NotFoundError, OcisyncError, UsageError } from "../errors/mod.ts";
import { MANIFEST_MEDIA_TYPES } from "../oci/mediatypes.ts";
import {
  type Descriptor,
  type ManifestOrIndex,
  MAX_MANIFEST_BYTES,
  parseManifestOrIndex,
} from "../oci/types.ts";
import { checkLayout, lockPath, readIndex, readManifestBlob } from "./format.ts";
import { withLock } from "./lock.ts";
import { statOrUndefined } from "../fs/stat.ts";

/** A blob, by digest and size. */
type GcBlob = { digest: Digest; size: number };

/** What {@linkcode gcLayout} did. */
export interface GcResult {
  /** The blobs removed, by digest. */
  removed: { digest: Digest; size: number }[];
  /** The bytes of the removed blobs. */
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

/** A blob to keep, and whether it is an index's child, which may have children of its own. */
interface Reached {
  descriptor: Descriptor;
  inIndex: boolean;
}

/**
 * Removes the blobs of the layout at `path` that `index.json` does not reach and that are older
 * than the grace period. Temporary files are left alone.
 *
 * `options.graceMs`: unreachable blobs written or reused less than this many milliseconds ago
 * are kept, for a push may be writing the image they belong to. 0 removes them all, which is
 * safe only when nothing writes to the layout. Default: {@linkcode DEFAULT_GC_GRACE_MS}, one
 * hour.
 *
 * @throws {NotFoundError} when there is no layout at `path`.
 * @throws {OcisyncError} when a reachable manifest or index is unreadable or corrupt, for its
 * children cannot be known then; nothing is removed. Also when the `index.json` lock stays
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
  return await withLock(lockPath(path), async () => {
    await restoreLeftovers(path);
    const reachable = await mark(path, (await readIndex(path)).manifests);
    return await sweep(path, reachable, graceMs);
  });
}

async function mark(root: string, entries: Descriptor[]): Promise<Set<string>> {
  const reachable = new Set<string>();
  await walkReachable(entries, (descriptor) => {
    reachable.add(descriptor.digest);
    return true;
  }, (descriptor) => readDocument(root, descriptor));
  return reachable;
}

/**
 * Walks what `entries` reach, depth first: each entry and each child of an index is a document
 * that may have children; a manifest's config and layers have none. `reach` is called at each
 * descriptor reached, each time it is reached, and answers whether it is there to follow; `read`
 * is called once a digest, for a document that is there, and answers it parsed, or `undefined`
 * to follow no further (a missing blob, or one that is not a manifest or index). Both
 * `gcLayout` and an `oci-archive:` being written keep what this reaches.
 *
 * @example
 * ```ts
 * import { walkReachable } from "./gc.ts";
 * import { readIndex, readManifestBlob } from "./format.ts";
 * import { parseManifestOrIndex } from "../oci/types.ts";
 * const reached = new Set<string>();
 * await walkReachable(
 *   (await readIndex("./images")).manifests,
 *   (descriptor) => reached.add(descriptor.digest) !== undefined,
 *   async (descriptor) => parseManifestOrIndex(await readManifestBlob("./images", descriptor)),
 * );
 * ```
 */
export async function walkReachable(
  entries: Descriptor[],
  reach: (descriptor: Descriptor) => boolean | Promise<boolean>,
  read: (descriptor: Descriptor) => Promise<ManifestOrIndex | undefined>,
): Promise<void> {
  const opened = new Set<string>();
  const pending: Reached[] = entries.map((descriptor) => ({ descriptor, inIndex: true }));
  for (let next = pending.pop(); next; next = pending.pop()) {
    const { descriptor, inIndex } = next;
    if (!await reach(descriptor)) continue;
    if (!inIndex || opened.has(descriptor.digest)) continue;
    opened.add(descriptor.digest);
    const doc = await read(descriptor);
    if (doc?.kind === "index") {
      pending.push(...doc.index.manifests.map((child) => ({ descriptor: child, inIndex: true })));
    } else if (doc?.kind === "manifest") {
      const { config, layers } = doc.manifest;
      pending.push(...[config, ...layers].map((child) => ({ descriptor: child, inIndex: false })));
    }
  }
}

/** An index's child as a manifest or index; `undefined` for a missing blob or another document. */
async function readDocument(
  root: string,
  descriptor: Descriptor,
): Promise<ManifestOrIndex | undefined> {
  const known = MANIFEST_MEDIA_TYPES.includes(descriptor.mediaType);
  if (!known && descriptor.size > MAX_MANIFEST_BYTES) return undefined;
  try {
    const bytes = await readManifestBlob(root, descriptor);
    // An unknown media type is read by the document's shape.
    return parseManifestOrIndex(bytes, known ? descriptor.mediaType : undefined);
  } catch (error) {
    // Missing children are normal: skopeo keeps a whole index but only some of its images.
    if (error instanceof NotFoundError || !known) return undefined;
    throw new OcisyncError(
      `cannot collect garbage in ${root}: manifest ${descriptor.digest} is unreadable: ` +
        (error as Error).message,
      { cause: error },
    );
  }
}

async function sweep(root: string, reachable: Set<string>, graceMs: number): Promise<GcResult> {
  const result: GcResult = { removed: [], freedBytes: 0, kept: 0, withinGrace: [] };
  for (const algorithm of await listDir(`${root}/blobs`, "isDirectory")) {
    const dir = `${root}/blobs/${algorithm}`;
    for (const name of await listDir(dir, "isFile")) {
      const digest = `${algorithm}:${name}`;
      // Anything that is not a blob, temporary files included, is not ours to touch.
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
  return result;
}

/** Puts back the blobs that a gc stopped half-way had set aside, before anything is judged. */
async function restoreLeftovers(root: string): Promise<void> {
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
  const info = await statOrUndefined(path);
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
  if (await statOrUndefined(path)) await Deno.remove(aside);
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
