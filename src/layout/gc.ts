/**
 * Garbage collection of an OCI image layout: removes the blobs that nothing
 * listed in `index.json` reaches, and temporary files of interrupted writes.
 *
 * Reachable are the `index.json` entries; the children of every index among
 * them, recursively; and the config and layers of every manifest. A manifest's
 * `subject` is not followed: a referrer does not keep its subject alive (as in
 * a registry), and a referrer itself is kept only while it is listed.
 * Descriptors of unknown media types in an index are kept, and read as a
 * manifest or index when they parse as one.
 *
 * It holds the layout's `index.json` lock, so tags cannot change meanwhile. Blobs
 * are written without that lock, so it must not run while another process is
 * pushing into the layout: blobs pushed before their manifest is listed would be
 * removed.
 *
 * @example
 * ```ts
 * import { gcLayout } from "./gc.ts";
 * const { freedBytes } = await gcLayout("./images");
 * ```
 * @module
 */
import { type Digest, isDigest } from "../digest/mod.ts";
import { NotFoundError, OcisyncError } from "../errors/mod.ts";
import { MANIFEST_MEDIA_TYPES } from "../oci/mediatypes.ts";
import {
  type Descriptor,
  type ManifestOrIndex,
  MAX_MANIFEST_BYTES,
  parseManifestOrIndex,
} from "../oci/types.ts";
import { checkLayout, lockPath, readIndex, readManifestBlob } from "./format.ts";
import { withLock } from "./lock.ts";

/** What {@linkcode gcLayout} did. */
export interface GcResult {
  /** The blobs removed, by digest. */
  removed: { digest: Digest; size: number }[];
  /** The bytes of all removed files: the blobs and stale temporary files. */
  freedBytes: number;
  /** How many blobs were kept. */
  kept: number;
}

// A temporary file this old belongs to a write that died: src/fs/atomic names them `.NAME.RANDOM.tmp`.
const TEMP_FILE = /^\..+\.tmp$/;
const TEMP_MAX_AGE_MS = 60 * 60_000;

/** A blob to keep, and whether it is an index's child, which may have children of its own. */
interface Reached {
  descriptor: Descriptor;
  inIndex: boolean;
}

/**
 * Removes the blobs of the layout at `path` that `index.json` does not reach, and temporary
 * files older than an hour.
 *
 * @throws {NotFoundError} when there is no layout at `path`.
 * @throws {OcisyncError} when a reachable manifest or index is unreadable or corrupt, for its
 * children cannot be known then; nothing is removed.
 * @example
 * ```ts
 * import { gcLayout } from "./gc.ts";
 * const { removed, freedBytes, kept } = await gcLayout("./images");
 * console.log(`removed ${removed.length} blobs (${freedBytes} bytes), kept ${kept}`);
 * ```
 */
export async function gcLayout(path: string): Promise<GcResult> {
  await checkLayout(path);
  return await withLock(lockPath(path), async () => {
    const reachable = await mark(path, (await readIndex(path)).manifests);
    return await sweep(path, reachable);
  });
}

async function mark(root: string, entries: Descriptor[]): Promise<Set<string>> {
  const reachable = new Set<string>();
  const read = new Set<string>();
  const pending: Reached[] = entries.map((descriptor) => ({ descriptor, inIndex: true }));
  for (let next = pending.pop(); next; next = pending.pop()) {
    const { descriptor, inIndex } = next;
    reachable.add(descriptor.digest);
    if (!inIndex || read.has(descriptor.digest)) continue;
    read.add(descriptor.digest);
    const doc = await readDocument(root, descriptor);
    if (doc?.kind === "index") {
      pending.push(...doc.index.manifests.map((child) => ({ descriptor: child, inIndex: true })));
    } else if (doc?.kind === "manifest") {
      const { config, layers } = doc.manifest;
      pending.push(...[config, ...layers].map((child) => ({ descriptor: child, inIndex: false })));
    }
  }
  return reachable;
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

async function sweep(root: string, reachable: Set<string>): Promise<GcResult> {
  const result: GcResult = { removed: [], freedBytes: 0, kept: 0 };
  for (const algorithm of await listDir(`${root}/blobs`, "isDirectory")) {
    const dir = `${root}/blobs/${algorithm}`;
    for (const name of await listDir(dir, "isFile")) {
      const digest = `${algorithm}:${name}`;
      const path = `${dir}/${name}`;
      if (isDigest(digest)) {
        if (reachable.has(digest)) {
          result.kept++;
          continue;
        }
        const { size } = await Deno.stat(path);
        await Deno.remove(path);
        result.removed.push({ digest, size });
        result.freedBytes += size;
      } else if (TEMP_FILE.test(name)) {
        const { size, mtime } = await Deno.stat(path);
        if (Date.now() - (mtime?.getTime() ?? 0) < TEMP_MAX_AGE_MS) continue;
        await Deno.remove(path);
        result.freedBytes += size;
      }
    }
  }
  result.removed.sort((a, b) => a.digest < b.digest ? -1 : 1);
  return result;
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
