/**
 * The referrers of a manifest in a store without a referrers API: an OCI image layout, or an
 * oci-archive (a layout in a tar). Such a store holds referrers as ordinary manifests, found by
 * reading what its `index.json` reaches.
 *
 * @example
 * ```ts
 * import { referrersOfEntries } from "./referrers.ts";
 * import { LayoutTarget } from "./mod.ts";
 * import type { Descriptor } from "../oci/types.ts";
 * const layout = await LayoutTarget.open("./images");
 * const image = await layout.resolve("v1");
 * const read = (d: Descriptor) => layout.fetchManifest(d);
 * for await (const referrer of referrersOfEntries(await layout.listEntries(), read, image)) {
 *   console.log(referrer.digest);
 * }
 * ```
 * @module
 */
import { NotFoundError } from "../errors/mod.ts";
import { MANIFEST_MEDIA_TYPES } from "../oci/mediatypes.ts";
import { referrersQuery } from "../oci/referrers.ts";
import type { CallOptions } from "../oci/target.ts";
import { type Descriptor, type ManifestOrIndex, parseManifestOrIndex } from "../oci/types.ts";
import { refName } from "./format.ts";

/**
 * The manifests and indexes reached from `entries` (an `index.json`'s) whose `subject` is
 * `subject`, as the referrers API describes them: media type, digest, size, `artifactType` (the
 * manifest's, else its config's media type) and the manifest's annotations. Every manifest that
 * the entries reach, through nested indexes too, is read once with `read` (manifests only, never
 * layers); those the store lacks (`read` throws a {@linkcode NotFoundError}) are passed over. The
 * entries of an index tagged `<algorithm>-<hex>` (the distribution-spec's fallback tag schema,
 * as some tools keep referrers) count too. With `artifactType`, only the referrers of that type.
 * `subject` may also be given as a bare digest.
 *
 * @throws {IntegrityError} when a manifest does not match its descriptor or is malformed.
 * @example
 * ```ts
 * import { referrersOfEntries } from "./referrers.ts";
 * const none = referrersOfEntries([], () => Promise.reject(new Error("unread")), "sha256:…");
 * ```
 */
export async function* referrersOfEntries(
  entries: readonly Descriptor[],
  read: (descriptor: Descriptor) => Promise<Uint8Array>,
  subject: Descriptor | string,
  artifactType?: string,
  options: CallOptions = {},
): AsyncIterable<Descriptor> {
  const { signal } = options;
  const { digest, fallbackTag, wanted } = referrersQuery(subject, artifactType);
  const yielded = new Set<string>();
  const found = (referrer: Descriptor) => {
    if (!wanted(referrer) || yielded.has(referrer.digest)) return false;
    yielded.add(referrer.digest);
    return true;
  };
  const queue = [...entries];
  const seen = new Set<string>();
  // Breadth-first over the manifests the entries reach; each is read once.
  for (let next = 0; next < queue.length; next++) {
    signal?.throwIfAborted();
    const descriptor = queue[next];
    if (seen.has(descriptor.digest) || !MANIFEST_MEDIA_TYPES.includes(descriptor.mediaType)) {
      continue;
    }
    seen.add(descriptor.digest);
    let parsed: ManifestOrIndex;
    try {
      parsed = parseManifestOrIndex(await read(descriptor), descriptor.mediaType);
    } catch (error) {
      // A store may list what it does not hold, such as the platforms left out of a copy.
      if (error instanceof NotFoundError) continue;
      throw error;
    }
    const document = parsed.kind === "index" ? parsed.index : parsed.manifest;
    if (document.subject?.digest === digest) {
      const referrer = referrerDescriptor(descriptor, parsed);
      if (found(referrer)) yield referrer;
    }
    if (parsed.kind !== "index") continue;
    if (refName(descriptor) === fallbackTag) {
      for (const listed of parsed.index.manifests) if (found(listed)) yield listed;
    }
    queue.push(...parsed.index.manifests);
  }
}

/**
 * A referrer's descriptor as the distribution-spec's referrers API lists it: the manifest's
 * `artifactType`, else its config's media type, and its annotations.
 */
function referrerDescriptor(descriptor: Descriptor, parsed: ManifestOrIndex): Descriptor {
  const document = parsed.kind === "index" ? parsed.index : parsed.manifest;
  const artifactType = document.artifactType ??
    (parsed.kind === "manifest" ? parsed.manifest.config.mediaType : undefined);
  const referrer: Descriptor = {
    mediaType: parsed.mediaType,
    digest: descriptor.digest,
    size: descriptor.size,
  };
  if (artifactType !== undefined) referrer.artifactType = artifactType;
  if (document.annotations !== undefined && Object.keys(document.annotations).length > 0) {
    referrer.annotations = { ...document.annotations };
  }
  return referrer;
}
