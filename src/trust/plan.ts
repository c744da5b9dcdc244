/**
 * What a signer returns instead of pushing: the manifest to store, its config, the new blobs and
 * the tag, for the one writer to push (blobs and config first, the manifest last). Signing stays
 * a pure computation over what the target already holds.
 *
 * @example
 * ```ts
 * import type { SignaturePlan } from "./plan.ts";
 * function describe(plan: SignaturePlan): string {
 *   return `${plan.tag ?? "(untagged)"} -> ${plan.manifest.descriptor.digest}`;
 * }
 * ```
 * @module
 */
import { sha256Digest } from "../digest/mod.ts";
import type { Descriptor } from "../oci/types.ts";

/** Bytes held in memory with their descriptor. */
export interface PlannedBlob {
  /** The descriptor a manifest lists for the bytes. */
  descriptor: Descriptor;
  /** The bytes. */
  bytes: Uint8Array;
}

/** A signature manifest ready to push. */
export interface SignaturePlan {
  /** The manifest: push it last, under {@linkcode SignaturePlan.tag} when there is one. */
  manifest: PlannedBlob;
  /** The manifest's config blob. */
  config: PlannedBlob;
  /** Blobs the manifest lists that the target may not have yet (the new payload or bundle). */
  blobs: PlannedBlob[];
  /** The tag to push the manifest under (`sha256-<hex>.sig`), or none for a referrer. */
  tag?: string;
}

/**
 * A blob descriptor for bytes in memory.
 *
 * @example
 * ```ts
 * import { plannedBlob } from "./plan.ts";
 * plannedBlob(new TextEncoder().encode("{}"), "application/vnd.oci.empty.v1+json").descriptor.size; // 2
 * ```
 */
export function plannedBlob(
  bytes: Uint8Array,
  mediaType: string,
  extra: Partial<Descriptor> = {},
): PlannedBlob {
  return {
    descriptor: { mediaType, size: bytes.byteLength, digest: sha256Digest(bytes), ...extra },
    bytes,
  };
}

/**
 * The bytes of a JSON document with members in insertion order and no spaces.
 *
 * @example
 * ```ts
 * import { jsonBytes } from "./plan.ts";
 * jsonBytes({ a: 1 }); // bytes of '{"a":1}'
 * ```
 */
export function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
