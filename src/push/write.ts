/**
 * The one writer: {@linkcode writePlan} sends a plan (see `../image/plan.ts`)
 * to any {@linkcode Target}. Every command that writes an image or an
 * artifact (`push`, `push --base`, `push --files`, `build`) ends here, and
 * `copy` sends its blobs through {@linkcode pushBlobs}, the writer's first
 * stage.
 *
 * Blobs go first, several at a time; a blob the target has is never read,
 * and a blob of another repository of the same registry is mounted rather
 * than sent. The manifest goes last, so a reader never sees a manifest whose
 * blobs are missing.
 *
 * @example
 * ```ts
 * import { writePlan } from "./write.ts";
 * import { imagePlan } from "../image/plan.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const target = await LayoutTarget.open("./bundle", { create: true });
 * const plan = imagePlan([], {
 *   platform: { os: "linux", architecture: "amd64" },
 *   created: "1970-01-01T00:00:00Z",
 * });
 * const result = await writePlan(target, plan, ["v1"], { concurrency: 4 });
 * console.log(result.digest, result.stats.pushed);
 * ```
 * @module
 */
import { type BlobSource, bytesBlob, fileBlob, type PreparedLayer } from "../image/blob.ts";
import type { ImagePlan } from "../image/plan.ts";
import { IntegrityError, UsageError } from "../errors/mod.ts";
import { type BlobWriter, isBlobWriter, isMounter, type Target } from "../oci/target.ts";
import type { Descriptor } from "../oci/types.ts";
import { type BlobListener, reportingStream } from "../progress/mod.ts";
import { reopenable } from "../remote/registry.ts";
import { openFileAt } from "../fs/read.ts";

/**
 * A blob in a file: read in pieces of up to 64 KiB, and readable again from any offset (see
 * {@linkcode BlobSource.openAt}).
 */
export interface FileBlobSource extends BlobSource {
  /** The file. */
  path: string;
  /** The bytes from `offset` to the end. */
  openAt(offset: number): Promise<ReadableStream<Uint8Array>>;
}

/**
 * A blob in the file at `path`; see {@linkcode FileBlobSource}.
 *
 * @example
 * ```ts
 * import { fileSource } from "./write.ts";
 * const blob = fileSource({
 *   mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
 *   digest: `sha256:${"0".repeat(64)}`,
 *   size: 1,
 * }, "./layer.tar.gz");
 * const rest = await blob.openAt(0);
 * ```
 */
export function fileSource(descriptor: Descriptor, path: string): FileBlobSource {
  return {
    ...fileBlob(descriptor, path),
    path,
    openAt: (offset) => openFileAt(path, offset, descriptor.size - offset),
  };
}

/** Options of {@linkcode writePlan} and {@linkcode pushBlobs}. */
export interface WriteOptions {
  /** Blobs sent at once. Default 4. */
  concurrency?: number;
  /** Progress events. */
  onBlob?: BlobListener;
  /**
   * Stops the write: no blob starts after it aborts, and the manifest is not written. Blobs
   * under way get the signal too, and stop where their target can (a registry at once, a
   * layout between chunks, leaving no partial blob); the abort's reason is thrown.
   */
  signal?: AbortSignal;
  /**
   * The digest the destination reference names (`REPO@sha256:…`, `REPO:TAG@sha256:…`): an
   * assertion about what is written, not a name to write it under. A manifest (of an index
   * plan, the index) with another digest is refused with {@linkcode checkDestinationDigest}
   * before it or any tag is written, and before any blob is sent where its digest is known
   * then.
   */
  destinationDigest?: string;
}

/**
 * Refuses to write `manifest` where the destination reference names another digest: `REPO@D`
 * asserts that the manifest stored there has digest `D`, as skopeo reads it. Writing another
 * under it would store an image the reference does not name, and report success.
 *
 * @throws {IntegrityError} when `expected` is given and is not `manifest`'s digest.
 * @example
 * ```ts
 * import { checkDestinationDigest } from "./write.ts";
 * import { imagePlan } from "../image/plan.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const target = await LayoutTarget.open("./bundle", { create: true });
 * const plan = imagePlan([], {
 *   platform: { os: "linux", architecture: "amd64" },
 *   created: "1970-01-01T00:00:00Z",
 * });
 * checkDestinationDigest(target, plan.manifest.descriptor, undefined); // fine: none named
 * checkDestinationDigest(target, plan.manifest.descriptor, "sha256:ffff…"); // throws
 * ```
 */
export function checkDestinationDigest(
  target: Target,
  manifest: Descriptor,
  expected: string | undefined,
): void {
  if (expected === undefined || expected === manifest.digest) return;
  throw new IntegrityError(
    `the destination names ${target.name}@${expected}, but the manifest to write there is ` +
      `${manifest.digest}: neither it nor a tag was written`,
    { hint: "name the destination by a tag, or by the digest its manifest has" },
  );
}

/** What a transfer did. */
export interface TransferStats {
  /** Blobs sent. */
  pushed: number;
  /** Blobs the target already had. */
  skipped: number;
  /** Blobs linked from another repository of the same registry, without sending them. */
  mounted: number;
  /** Bytes sent. */
  bytes: number;
}

/** What a write made. */
export interface PushResult {
  /** The manifest's digest. */
  digest: Descriptor["digest"];
  /** The manifest's descriptor. */
  manifest: Descriptor;
  /** The config's descriptor. */
  config: Descriptor;
  /** The layers' descriptors, in order. */
  layers: Descriptor[];
  /** What was sent and what was skipped. */
  stats: TransferStats;
}

/**
 * Writes a plan to `target`: its layers' blobs and its config, those the target lacks, then
 * the manifest under each of `tags` (none: by digest only).
 *
 * @throws the first blob's error, once the blobs under way have ended; the manifest is then not
 * written.
 * @throws {IntegrityError} before anything is sent, when `destinationDigest` is another digest.
 * @example
 * ```ts
 * import { writePlan } from "./write.ts";
 * import { artifactPlan } from "../image/plan.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const target = await LayoutTarget.open("./bundle", { create: true });
 * await writePlan(target, artifactPlan("application/vnd.acme.empty", []), ["empty"]);
 * ```
 */
export async function writePlan(
  target: Target,
  plan: ImagePlan,
  tags: string[],
  options: WriteOptions = {},
): Promise<PushResult> {
  checkDestinationDigest(target, plan.manifest.descriptor, options.destinationDigest);
  const stats = await pushBlobs(target, [...plan.blobs, bytesBlob(plan.config)], options);
  return await writeManifest(target, plan, tags, options, stats);
}

/** Writes the manifest of a plan whose blobs are all on the target, sent as `stats` says. */
async function writeManifest(
  target: Target,
  plan: ImagePlan,
  tags: string[],
  options: WriteOptions,
  stats: TransferStats,
): Promise<PushResult> {
  options.signal?.throwIfAborted();
  await target.pushManifest(plan.manifest.descriptor, plan.manifest.bytes, tags, {
    signal: options.signal,
  });
  return {
    digest: plan.manifest.descriptor.digest,
    manifest: plan.manifest.descriptor,
    config: plan.config.descriptor,
    layers: plan.blobs.map((blob) => blob.descriptor),
    stats,
  };
}

function addStats(a: TransferStats, b: TransferStats): TransferStats {
  return {
    pushed: a.pushed + b.pushed,
    skipped: a.skipped + b.skipped,
    mounted: a.mounted + b.mounted,
    bytes: a.bytes + b.bytes,
  };
}

/** A layer whose digest and checks may still be being computed. */
export interface StartedLayer {
  /** The size of the layer's file, known before its digest. */
  size: number;
  /** The layer's blob, once its digest is known: at once for a packed folder. */
  blob: Promise<FileBlobSource>;
  /** For a layer file: its reads before its digest is known, which feed its checks. */
  early?: EarlyRead;
  /**
   * Settles with the layer once its `diffId` is known and its entries are checked; rejects
   * with the error that refuses it. The checks of a layer file start when it is first awaited,
   * or when its blob's upload begins to read it, whichever comes first (see `startLayer` of
   * `./mod.ts`); awaiting it again after an upload gives the verdict on the bytes uploaded.
   */
  checked: PromiseLike<PreparedLayer>;
}

/**
 * Reads of a layer file before its digest is known (`LayerFileChecks` of `./check.ts`): the
 * first from the start feeds the layer's checks.
 */
export interface EarlyRead {
  /** The file's bytes from `offset`. */
  openAt(offset: number): Promise<ReadableStream<Uint8Array>>;
  /** The bytes read were not stored under the digest: the checks read the file again. */
  dropped(): void;
}

/**
 * Writes an image from layers whose checks may still be running. The blobs of the layers in
 * `early` go up at once (to a target that takes blobs before their digest, a registry, while
 * the digest pass runs: the blob is then stored under the digest, or dropped when the target
 * has it already), and the checks of each read the bytes that its upload reads; the plan,
 * which needs every layer's `diffId`, is made by `plan` once the checks have ended, and its
 * config goes up then, while those uploads may still run. The manifest goes last, once every
 * blob is up and every layer's verdict is known to be on the bytes uploaded. When a check
 * fails, the uploads stop, no manifest is written, and the check's error is thrown: a refused
 * layer may leave its blob in the target, unreferenced, but never an image.
 *
 * @throws {IntegrityError} when a layer file changed while it was uploaded, or the manifest's
 * digest is not `destinationDigest` (the uploads then stop, and no manifest is written).
 * @example
 * ```ts
 * import { startLayer } from "./mod.ts";
 * import { writeStartedLayers } from "./write.ts";
 * import { imagePlan } from "../image/plan.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const work = await Deno.makeTempDir();
 * const layer = await startLayer({ kind: "file", path: "./deps.tar.gz" }, work, 0);
 * const target = await LayoutTarget.open("./bundle", { create: true });
 * await writeStartedLayers(target, [layer], [layer], (layers) =>
 *   imagePlan(layers, {
 *     platform: { os: "linux", architecture: "amd64" },
 *     created: "1970-01-01T00:00:00Z",
 *   }), ["v1"]);
 * ```
 */
export async function writeStartedLayers(
  target: Target,
  layers: StartedLayer[],
  early: StartedLayer[],
  plan: (layers: PreparedLayer[]) => ImagePlan | Promise<ImagePlan>,
  tags: string[],
  options: WriteOptions = {},
): Promise<PushResult> {
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const uploads = early.map((layer) => uploadEarly(target, layer, { ...options, signal }));
  const uploaded = Promise.allSettled(uploads.map((upload) => upload.done)).then(() => {});
  const fail = async (error: unknown, ...running: Promise<unknown>[]) => {
    stop.abort(error);
    await Promise.allSettled(running);
    return error;
  };
  // The checks of a layer that goes up early wait until its upload reads it, so that they read
  // the same chunks, or ends without reading it; the others start at once.
  let prepared: PreparedLayer[];
  let image: ImagePlan;
  try {
    prepared = await Promise.all(layers.map(async (layer) => {
      const upload = uploads[early.indexOf(layer)];
      if (upload) await Promise.race([upload.read, uploaded]);
      return await layer.checked;
    }));
    image = await plan(prepared);
    checkDestinationDigest(target, image.manifest.descriptor, options.destinationDigest);
  } catch (error) {
    throw await fail(error, uploaded);
  }
  const sent = new Set(early.map((layer) => prepared[layers.indexOf(layer)].descriptor.digest));
  // The config and the other blobs go up now, beside the early ones.
  const rest = pushBlobs(
    target,
    [...image.blobs, bytesBlob(image.config)].filter((blob) => !sent.has(blob.descriptor.digest)),
    { ...options, signal },
  );
  let stats: TransferStats;
  try {
    const [before, after] = await Promise.all([
      Promise.all(uploads.map((upload) => upload.done)),
      rest,
    ]);
    stats = [...before, after].reduce(addStats);
    // A blob read more than once (an upload that resumed), or read but not stored, has its
    // checks run again, on bytes verified against its digest: the first verdict judged bytes of
    // one read only.
    const confirmed = await Promise.all(early.map((layer) => layer.checked));
    early.forEach((layer, i) => {
      const { diffId, path } = prepared[layers.indexOf(layer)];
      if (confirmed[i].diffId !== diffId) {
        throw new IntegrityError(
          `${path} changed while it was pushed: its tar had digest ${diffId}, ` +
            `now ${confirmed[i].diffId}`,
        );
      }
    });
  } catch (error) {
    throw await fail(error, uploaded, rest);
  }
  return await writeManifest(target, image, tags, options, stats);
}

/** An upload under way: `read` settles when it first reads the file, or ends without. */
interface EarlyUpload {
  read: Promise<void>;
  done: Promise<TransferStats>;
}

/**
 * Sends a layer's blob at once. A target that takes blobs before their digest gets the file's
 * bytes while the digest pass runs; once the digest is known, the blob is committed under it,
 * or dropped when the target has it already. Any other target gets the blob once its digest is
 * known, as {@linkcode pushBlobs} sends it.
 */
function uploadEarly(target: Target, layer: StartedLayer, options: WriteOptions): EarlyUpload {
  const { promise: read, resolve: wasRead } = Promise.withResolvers<void>();
  const { early } = layer;
  let done: Promise<TransferStats>;
  if (early !== undefined && isBlobWriter(target)) {
    done = writeBeforeDigest(target, layer, early, options, wasRead);
  } else {
    done = layer.blob.then((blob) => {
      const watched = watchedBlob(blob);
      watched.read.then(wasRead);
      return pushBlobs(target, [watched.source], options);
    });
  }
  done.then(() => wasRead(), () => wasRead());
  return { read, done };
}

/**
 * A blob whose first read is watched: `read` settles when the blob is opened.
 */
function watchedBlob(blob: FileBlobSource): { source: FileBlobSource; read: Promise<void> } {
  const { promise: read, resolve: settle } = Promise.withResolvers<void>();
  const openAt = (offset: number) => {
    const opening = blob.openAt(offset);
    settle();
    return opening;
  };
  return { source: { ...blob, open: () => openAt(0), openAt }, read };
}

/** See {@linkcode uploadEarly}: the blob goes up while its digest is computed. */
async function writeBeforeDigest(
  target: Target & BlobWriter,
  layer: StartedLayer,
  early: EarlyRead,
  options: WriteOptions,
  wasRead: () => void,
): Promise<TransferStats> {
  const { onBlob, signal } = options;
  let known: Descriptor | undefined;
  const openAt = (offset: number) => {
    wasRead();
    return early.openAt(offset);
  };
  const first = lazyStream(async () => reportingStream(await openAt(0), () => known, onBlob));
  const pending = target.writeBlob(layer.size, reopenable(first, openAt), { signal });
  try {
    const { descriptor } = await layer.blob;
    known = descriptor;
    if (await target.hasBlob(descriptor, { signal })) {
      early.dropped();
      await pending.abort();
      onBlob?.({ descriptor, state: "skipped" });
      return { pushed: 0, skipped: 1, mounted: 0, bytes: 0 };
    }
    await pending.commit(descriptor);
    onBlob?.({ descriptor, state: "done" });
    return { pushed: 1, skipped: 0, mounted: 0, bytes: descriptor.size };
  } catch (error) {
    early.dropped();
    await pending.abort(error);
    throw error;
  }
}

/**
 * Pushes blobs, `concurrency` at a time, skipping those the target has and mounting those it
 * can (see {@linkcode WriteOptions}). A blob listed twice is pushed once. When one fails, no
 * other starts, and the error is thrown once those under way have ended.
 *
 * @example
 * ```ts
 * import { pushBlobs } from "./write.ts";
 * import { targetBlob } from "../image/blob.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * const from = await LayoutTarget.open("./bundle");
 * const to = await LayoutTarget.open("./mirror", { create: true });
 * const layer = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
 *   digest: `sha256:${"0".repeat(64)}` as const, size: 1 };
 * await pushBlobs(to, [targetBlob(from, layer)], { concurrency: 4 });
 * ```
 */
export async function pushBlobs(
  target: Target,
  blobs: BlobSource[],
  options: WriteOptions = {},
): Promise<TransferStats> {
  const { onBlob, signal } = options;
  const stats: TransferStats = { pushed: 0, skipped: 0, mounted: 0, bytes: 0 };
  const queue = [...new Map(blobs.map((b) => [b.descriptor.digest, b])).values()];
  const worker = async () => {
    for (let blob = queue.shift(); blob; blob = queue.shift()) {
      signal?.throwIfAborted();
      const { descriptor } = blob;
      // The target asks itself whether it has the blob; the source is opened only if not.
      const open = async () => reportingStream(await blob.open(), descriptor, onBlob);
      // A blob of another target is offered as a mount to a target that can mount: it decides
      // whether it can mount from that source (another repository of its registry), and sends
      // the bytes when it cannot. One call either way, which also learns whether it had the blob.
      const from = blob.from;
      const stored = from !== undefined && isMounter(target)
        ? await target.mountBlob(descriptor, from, () => Promise.resolve(body(blob, open)), {
          signal,
        })
        : await target.pushBlob(descriptor, body(blob, open), { signal })
        ? "copied"
        : "present";
      if (stored === "mounted") {
        stats.mounted++;
        onBlob?.({ descriptor, state: "mounted" });
        continue;
      }
      if (stored === "present") {
        stats.skipped++;
        onBlob?.({ descriptor, state: "skipped" });
        continue;
      }
      stats.pushed++;
      stats.bytes += blob.descriptor.size;
      onBlob?.({ descriptor: blob.descriptor, state: "done" });
    }
  };
  // After a failure no blob starts, and the error waits for those under way: the process may
  // exit right after it, and their temporary files must be gone by then.
  const concurrency = options.concurrency ?? 4;
  if (!Number.isFinite(concurrency)) {
    // NaN started no worker, and the push reported success with no blob sent.
    throw new UsageError(`concurrency must be a finite number, not ${concurrency}`);
  }
  const results = await Promise.allSettled(
    Array.from({ length: Math.max(1, Math.floor(concurrency)) }, () =>
      worker().catch((error) => {
        queue.length = 0;
        throw error;
      })),
  );
  const failure = results.find((result) => result.status === "rejected");
  if (failure) throw failure.reason;
  return stats;
}

/**
 * The body of a blob: one that can be read again from an offset (a file's) is marked so, for a
 * registry to stream it and resume it.
 */
function body(
  blob: BlobSource,
  open: () => Promise<ReadableStream<Uint8Array>>,
): ReadableStream<Uint8Array> {
  const stream = lazyStream(open);
  const openAt = blob.openAt?.bind(blob);
  return openAt ? reopenable(stream, openAt) : stream;
}

/**
 * A stream that opens its source on its first read, so that a blob the target turns out to
 * have is never fetched or read.
 */
function lazyStream(open: () => Promise<ReadableStream<Uint8Array>>): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      reader ??= (await open()).getReader();
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel(reason) {
      await reader?.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
