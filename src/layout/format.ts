/**
 * The files of an OCI image layout (image-spec `image-layout.md`): `oci-layout`,
 * `index.json` and `blobs/<alg>/<hex>`, with the checks and the locked
 * read-modify-write of `index.json` that `LayoutTarget` and `gcLayout` share.
 *
 * @example
 * ```ts
 * import { checkLayout, readIndex } from "./format.ts";
 * await checkLayout("./images");
 * console.log((await readIndex("./images")).manifests.length);
 * ```
 * @module
 */
import { type Digest, isDigest, parseDigest } from "../digest/parse.ts";
import { verifyBytes, verifyingStream } from "../digest/verify.ts";
import {
  cutText,
  escapeRemote,
  IntegrityError,
  NotFoundError,
  OcisyncError,
  UnsafeContentError,
  UsageError,
} from "../errors/mod.ts";
import { writeFileAtomic } from "../fs/atomic.ts";
import { openFileAt, openRegularFile, readRegularFile, readUpTo } from "../fs/read.ts";
import { MediaType } from "../oci/mediatypes.ts";
import {
  type Descriptor,
  type Index,
  type ManifestOrIndex,
  MAX_MANIFEST_BYTES,
  parseManifestOrIndex,
} from "../oci/types.ts";
import { withLock } from "./lock.ts";
import { lstatOrUndefined, statOrUndefined } from "../fs/stat.ts";

/** The annotation that holds an `index.json` entry's tag. */
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";

/** The only `imageLayoutVersion` the image-spec defines. */
const LAYOUT_VERSION = "1.0.0";

const encoder = new TextEncoder();
// A "not found" error lists the tags only when there are few enough to read.
const MAX_LISTED_TAGS = 10;

/**
 * The path of a blob: `ROOT/blobs/<algorithm>/<hex>`.
 *
 * @throws {UsageError} when the digest is malformed, so it can never name a path outside `blobs/`.
 * @example
 * ```ts
 * import { blobPath } from "./format.ts";
 * blobPath("./images", "sha256:" + "a".repeat(64)); // "./images/blobs/sha256/aaa…"
 * ```
 */
export function blobPath(root: string, digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${root}/blobs/${algorithm}/${hex}`;
}

/**
 * The lock file that serialises changes to `index.json`: `ROOT/index.json.lock`.
 *
 * @example
 * ```ts
 * import { lockPath } from "./format.ts";
 * lockPath("./images"); // "./images/index.json.lock"
 * ```
 */
export function lockPath(root: string): string {
  return `${root}/index.json.lock`;
}

/**
 * Checks that `root` is an image layout of version 1.0.0 and that its `index.json` is valid.
 *
 * @throws {NotFoundError} when the directory, `oci-layout` or `index.json` is missing.
 * @throws {OcisyncError} when `oci-layout` has another version or either file is malformed.
 * @example
 * ```ts
 * import { checkLayout } from "./format.ts";
 * await checkLayout("./images");
 * ```
 */
export async function checkLayout(root: string): Promise<void> {
  const info = statOrUndefined(root);
  if (!info?.isDirectory) {
    const problem = info ? "it is not a directory" : "the directory does not exist";
    throw new NotFoundError(`no OCI image layout at ${root}: ${problem}`);
  }
  const bytes = await readLayoutFile(
    `${root}/oci-layout`,
    `${root} is not an OCI image layout: it has no oci-layout file`,
    MAX_LAYOUT_FILE_BYTES,
  );
  checkLayoutVersion(`${root}/oci-layout`, new TextDecoder().decode(bytes));
  checkBlobFolders(root);
  await readIndex(root);
}

/**
 * Refuses a layout whose `blobs` folder, or a folder of it for an algorithm (`blobs/sha256`),
 * is a link or not a folder: gc would remove, and writes would land, wherever it leads (the
 * blobs of another layout, containerd's store, a system folder when root runs). Missing ones
 * are fine: writers make them. Checked when a layout is opened, before a blob is written, and
 * before gc removes anything.
 *
 * @throws {UnsafeContentError} naming the folder.
 * @example
 * ```ts
 * import { checkBlobFolders } from "./format.ts";
 * checkBlobFolders("./images");
 * ```
 */
export function checkBlobFolders(root: string): void {
  const blobs = `${root}/blobs`;
  for (const folder of [blobs, ...BLOB_ALGORITHMS.map((algorithm) => `${blobs}/${algorithm}`)]) {
    const info = lstatOrUndefined(folder);
    if (info === undefined || info.isDirectory) continue;
    throw new UnsafeContentError(
      `${folder} is ${info.isSymlink ? "a symlink" : "not a folder"}: a layout keeps its blobs ` +
        "in folders of its own, and nothing is written or removed through it",
      { hint: `make ${folder} a folder of the layout` },
    );
  }
}

/** The digest algorithms whose blobs a layout may hold: the folders of `blobs/`. */
export const BLOB_ALGORITHMS: readonly string[] = ["sha256", "sha512"];

/**
 * Checks that the text of an `oci-layout` file declares version 1.0.0. `file` names it in messages:
 * `ROOT/oci-layout`, or `ARCHIVE: oci-layout` for an entry of an archive.
 *
 * @throws {OcisyncError} when the text is not JSON, or declare another version (or none).
 * @example
 * ```ts
 * import { checkLayoutVersion } from "./format.ts";
 * checkLayoutVersion("app.tar: oci-layout", '{"imageLayoutVersion":"1.0.0"}');
 * ```
 */
export function checkLayoutVersion(file: string, text: string): void {
  let version: unknown;
  try {
    version = JSON.parse(text)?.imageLayoutVersion;
  } catch (error) {
    throw new OcisyncError(`${file} is not valid JSON`, { cause: error });
  }
  if (version !== LAYOUT_VERSION) {
    throw new OcisyncError(
      `${file} has imageLayoutVersion ${JSON.stringify(version)}; ` +
        `only ${LAYOUT_VERSION} is supported`,
    );
  }
}

/**
 * Makes `root` an empty image layout, keeping whatever of one is already there. Safe to run
 * from several processes at once.
 *
 * @example
 * ```ts
 * import { initLayout } from "./format.ts";
 * await initLayout("./images");
 * ```
 */
export async function initLayout(root: string): Promise<void> {
  await Deno.mkdir(root, { recursive: true });
  // Looked at before anything is made in them, and made one at a time: a recursive mkdir would
  // follow a link at `blobs`, and make `sha256` wherever it leads, before the refusal.
  checkBlobFolders(root);
  for (const folder of [`${root}/blobs`, `${root}/blobs/sha256`]) {
    await Deno.mkdir(folder).catch((error) => {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    });
  }
  if (!statOrUndefined(`${root}/oci-layout`)) {
    const layout = JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION });
    await writeFileAtomic(`${root}/oci-layout`, [encoder.encode(layout)], { replacePath: true });
  }
  // Under the lock, so that a concurrent writer's first entries are never overwritten.
  await withLock(lockPath(root), async () => {
    if (!statOrUndefined(`${root}/index.json`)) {
      await writeIndex(root, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] });
    }
  });
}

/**
 * Reads and validates `index.json`. It is held whole, so it is bounded as a manifest is: a file
 * over {@linkcode MAX_MANIFEST_BYTES} is refused before it is read.
 *
 * @throws {NotFoundError} when it is missing.
 * @throws {IntegrityError} when it is too large, or not a valid image index (an entry whose
 * digest is not a digest included).
 * @example
 * ```ts
 * import { readIndex } from "./format.ts";
 * const { manifests } = await readIndex("./images");
 * ```
 */
export async function readIndex(root: string): Promise<Index> {
  const bytes = await readIndexBytes(root);
  let doc: ManifestOrIndex;
  try {
    doc = parseManifestOrIndex(bytes);
  } catch (error) {
    throw new IntegrityError(
      `${root}/index.json is not a valid image index: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (doc.kind !== "index") {
    throw new IntegrityError(`${root}/index.json is a manifest (${doc.mediaType}), not an index`);
  }
  return doc.index;
}

/** The bytes of `index.json`, refused unread when the file is larger than a manifest may be. */
function readIndexBytes(root: string): Promise<Uint8Array> {
  return readLayoutFile(
    `${root}/index.json`,
    `${root} is not an OCI image layout: it has no index.json`,
    MAX_MANIFEST_BYTES,
  );
}

/**
 * `oci-layout` holds one short JSON object: a larger one (a link to `/dev/zero`) is refused
 * unread.
 */
const MAX_LAYOUT_FILE_BYTES = 64 * 1024;

/**
 * A small file of the layout (`index.json`, `oci-layout`): a regular file, refused unread when
 * larger than `limit`, whose absence is a {@linkcode NotFoundError} that says `missing`. Writers
 * replace `index.json` by renaming, so the file opened here never grows; one that another
 * program appends to is refused rather than read cut short.
 */
function readLayoutFile(path: string, missing: string, limit: number): Promise<Uint8Array> {
  return missingAs(missing, () => readRegularFile(path, limit, LAYOUT_FILES));
}

/**
 * Changes `index.json` under the layout's lock: reads it, lets `change` edit it in place, and
 * writes it back atomically unless `change` returns `false`.
 *
 * @example
 * ```ts
 * import { updateIndex } from "./format.ts";
 * // Unlist the untagged entries.
 * await updateIndex("./images", (index) => {
 *   index.manifests = index.manifests.filter((d) => d.annotations !== undefined);
 * });
 * ```
 */
export function updateIndex(root: string, change: (index: Index) => boolean | void): Promise<void> {
  return withLock(lockPath(root), async () => {
    const index = await readIndex(root);
    if (change(index) !== false) await writeIndex(root, index);
  });
}

async function writeIndex(root: string, index: Index): Promise<void> {
  // Replaced whatever it is: a link would carry the write out of the layout.
  await writeFileAtomic(`${root}/index.json`, [encoder.encode(JSON.stringify(index))], {
    replacePath: true,
  });
}

/**
 * A blob's bytes as a stream that errors with an {@linkcode IntegrityError} if the file does
 * not match the descriptor, so a corrupted layout is noticed.
 *
 * @throws {NotFoundError} when the blob is not in the layout.
 * @example
 * ```ts
 * import { openBlob } from "./format.ts";
 * const stream = await openBlob("./images", {
 *   mediaType: "application/vnd.oci.empty.v1+json",
 *   digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
 *   size: 2,
 * });
 * ```
 */
export async function openBlob(
  root: string,
  descriptor: Descriptor,
): Promise<ReadableStream<Uint8Array>> {
  return (await openBlobFrom(root, descriptor, 0)).pipeThrough(verifyingStream(descriptor, "blob"));
}

/**
 * A blob's bytes from `offset` to the end of its file, unverified: the reader of a part cannot
 * check it against the digest (see {@linkcode openBlob} for the whole, verified).
 *
 * @throws {NotFoundError} when the blob is not in the layout.
 * @example
 * ```ts
 * import { openBlobFrom } from "./format.ts";
 * const rest = await openBlobFrom("./images", {
 *   mediaType: "application/vnd.oci.empty.v1+json",
 *   digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
 *   size: 2,
 * }, 1);
 * ```
 */
export async function openBlobFrom(
  root: string,
  descriptor: Descriptor,
  offset: number,
): Promise<ReadableStream<Uint8Array>> {
  const file = await openBlobFile(root, descriptor);
  return await openFileAt(file, offset, descriptor.size - offset);
}

function blobMissing(root: string, descriptor: Descriptor): string {
  return `blob ${descriptor.digest} not found in oci:${root}`;
}

/** The file of a blob, open for reading. */
function openBlobFile(root: string, descriptor: Descriptor): Promise<Deno.FsFile> {
  return openFile(blobPath(root, descriptor.digest), blobMissing(root, descriptor));
}

/**
 * A file of the layout, open for reading; a missing one is a {@linkcode NotFoundError} that says
 * `missing`. It must be a regular file of the layout's own ({@linkcode openRegularFile}): a link
 * would have root copying another user's layout send root's own files, a large blob's bytes
 * before their digest can be checked; a fifo would hang every reader, a sync's tick included.
 */
function openFile(path: string, missing: string): Promise<Deno.FsFile> {
  return missingAs(missing, () => openRegularFile(path, LAYOUT_FILES));
}

/** What `read` gives; a missing file is a {@linkcode NotFoundError} that says `missing`. */
async function missingAs<T>(missing: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new NotFoundError(missing);
    throw error;
  }
}

/** What a layout's files must be, said when one is not. */
const LAYOUT_FILES = "a layout's files are regular files of its own";

/**
 * A manifest's or index's bytes, verified against the descriptor.
 *
 * @throws {NotFoundError} when the blob is not in the layout.
 * @throws {IntegrityError} when it does not match, or is larger than a manifest may be.
 * @example
 * ```ts
 * import { readManifestBlob, readIndex } from "./format.ts";
 * const [first] = (await readIndex("./images")).manifests;
 * const bytes = await readManifestBlob("./images", first);
 * ```
 */
export async function readManifestBlob(root: string, descriptor: Descriptor): Promise<Uint8Array> {
  if (descriptor.size > MAX_MANIFEST_BYTES) {
    throw new IntegrityError(
      `manifest ${descriptor.digest} has ${descriptor.size} bytes, over the limit of ` +
        `${MAX_MANIFEST_BYTES}`,
    );
  }
  using file = await openBlobFile(root, descriptor);
  // One byte more than the descriptor's size: verifyBytes refuses a blob that is longer.
  const bytes = await readUpTo(file, descriptor.size + 1);
  await verifyBytes(bytes, descriptor, "blob");
  return bytes;
}

/**
 * The tag of an `index.json` entry: its `org.opencontainers.image.ref.name`, if it has one.
 *
 * @example
 * ```ts
 * import { refName } from "./format.ts";
 * refName({
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
 *   size: 2,
 *   annotations: { "org.opencontainers.image.ref.name": "v1" },
 * }); // "v1"
 * ```
 */
export function refName(descriptor: Descriptor): string | undefined {
  return descriptor.annotations?.[REF_NAME_ANNOTATION];
}

/**
 * The tags of `index.json` entries, in their order, each once.
 *
 * @example
 * ```ts
 * import { readIndex, uniqueTags } from "./format.ts";
 * console.log(uniqueTags((await readIndex("./images")).manifests));
 * ```
 */
export function uniqueTags(entries: Descriptor[]): string[] {
  return [...new Set(entries.map(refName).filter((tag) => tag !== undefined))];
}

/**
 * The end of a "not found" message: the tags of `index.json` entries, each written out on one
 * line ({@linkcode escapeRemote}) and cut to 200 characters ({@linkcode cutText}), or how many
 * there are.
 *
 * @example
 * ```ts
 * import { readIndex, tagSummary } from "./format.ts";
 * console.log(`tag "v9" not found: ${tagSummary((await readIndex("./images")).manifests)}`);
 * ```
 */
export function tagSummary(entries: Descriptor[]): string {
  const tags = uniqueTags(entries);
  if (tags.length === 0) return "it has no tags";
  if (tags.length > MAX_LISTED_TAGS) return `it has ${tags.length} tags`;
  return `its tags are ${tags.map((tag) => cutText(escapeRemote(tag))).join(", ")}`;
}

/**
 * Runs a push of `body` and returns what it returns; when it fails, `body` is cancelled, so
 * that its source is released. A body already piped is cancelled by its pipe, and the
 * cancelling here then fails harmlessly.
 *
 * @example
 * ```ts
 * import { cancelOnError } from "./format.ts";
 * const body = ReadableStream.from([new Uint8Array(2)]);
 * await cancelOnError(body, () => Promise.resolve(false));
 * ```
 */
export async function cancelOnError<T>(
  body: ReadableStream<Uint8Array>,
  push: () => Promise<T>,
): Promise<T> {
  try {
    return await push();
  } catch (error) {
    await body.cancel().catch(() => {});
    throw error;
  }
}

/**
 * The `index.json` entry a reference names, as a layout or an `oci-archive:` resolves it: with
 * no reference, the only entry, as skopeo picks it (several need a tag or digest, for guessing
 * would copy the wrong image); a digest, its entry, or else what `describe` finds for an
 * unlisted manifest blob; a tag, its entry. `name` names the place in messages.
 *
 * @throws {NotFoundError} when nothing matches (for a tag, the message lists the tags), or no
 * reference is given and there are no entries.
 * @throws {UsageError} when no reference is given and there are several entries.
 * @example
 * ```ts
 * import { readIndex, resolveEntry } from "./format.ts";
 * import { NotFoundError } from "../errors/mod.ts";
 * const { manifests } = await readIndex("./images");
 * const descriptor = await resolveEntry("oci:./images", manifests, "v1", (digest) => {
 *   throw new NotFoundError(`manifest ${digest} not found`);
 * });
 * ```
 */
export async function resolveEntry(
  name: string,
  entries: Descriptor[],
  reference: string | undefined,
  describe: (digest: Digest) => Promise<Descriptor>,
): Promise<Descriptor> {
  if (reference === undefined) {
    if (entries.length === 1) return entries[0];
    if (entries.length === 0) throw new NotFoundError(`${name} holds no images`);
    throw new UsageError(`${name} holds ${entries.length} images: name one`, {
      hint: `write ${name}:TAG or ${name}@DIGEST; ${tagSummary(entries)}`,
    });
  }
  if (isDigest(reference)) {
    return entries.find((d) => d.digest === reference) ?? await describe(reference);
  }
  const tagged = entries.find((d) => refName(d) === reference);
  if (tagged) return tagged;
  throw new NotFoundError(`tag "${reference}" not found in ${name}: ${tagSummary(entries)}`);
}
