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
import { type BlobSource, bytesBlob, type ImagePlan } from "../image/plan.ts";
import { isMounter, type Target } from "../oci/target.ts";
import type { Descriptor } from "../oci/types.ts";
import { type BlobListener, reportingStream } from "../progress/mod.ts";

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
  const stats = await pushBlobs(target, [...plan.blobs, bytesBlob(plan.config)], options);
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

/**
 * Pushes blobs, `concurrency` at a time, skipping those the target has and mounting those it
 * can (see {@linkcode WriteOptions}). A blob listed twice is pushed once. When one fails, no
 * other starts, and the error is thrown once those under way have ended.
 *
 * @example
 * ```ts
 * import { pushBlobs } from "./write.ts";
 * import { targetBlob } from "../image/plan.ts";
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
        ? await target.mountBlob(descriptor, from, open, { signal })
        : await target.pushBlob(descriptor, lazyStream(open), { signal })
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
  const results = await Promise.allSettled(
    Array.from({ length: Math.max(1, options.concurrency ?? 4) }, () =>
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
