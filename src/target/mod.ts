/**
 * Opens the {@linkcode Target} a reference names: a registry repository, or
 * an OCI image layout directory for `oci:PATH`.
 *
 * @example
 * ```ts
 * import { openTarget, resolveReference } from "./mod.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const ref = parseReference("oci:./bundle:v1");
 * const target = await openTarget(ref);
 * const descriptor = await resolveReference(target, ref);
 * ```
 * @module
 */
import { LayoutTarget } from "../layout/mod.ts";
import type { Target } from "../oci/target.ts";
import type { Descriptor } from "../oci/types.ts";
import { type Reference, referenceString } from "../ref/mod.ts";
import { RegistryTarget } from "../remote/registry.ts";
import type { RegistryOptions } from "../remote/registry.ts";

/** Options of {@linkcode openTarget}. */
export interface OpenTargetOptions extends RegistryOptions {
  /** Create the layout directory when it does not exist (for writing). */
  create?: boolean;
}

/** The tag a registry reference means when it names none, as in Docker. */
export const DEFAULT_TAG = "latest";

/** Opens the target of a reference. */
export async function openTarget(
  reference: Reference,
  options: OpenTargetOptions = {},
): Promise<Target> {
  if (reference.kind === "layout") {
    return await LayoutTarget.open(reference.path, { create: options.create });
  }
  return new RegistryTarget(reference, options);
}

/**
 * Resolves a reference to its manifest's descriptor: its digest, else its
 * tag; a registry reference with neither means `latest`, a layout with
 * neither means its only image.
 */
export async function resolveReference(target: Target, reference: Reference): Promise<Descriptor> {
  const wanted = referenceString(reference);
  if (wanted === undefined && target instanceof LayoutTarget) {
    return await target.resolveOrDefault(undefined);
  }
  return await target.resolve(wanted ?? DEFAULT_TAG);
}

/**
 * The tags to write for a reference that is a push's destination: its tag,
 * else `latest`. A digest-only destination gets no tag.
 */
export function destinationTags(reference: Reference): string[] {
  if (reference.tag) return [reference.tag];
  return reference.digest ? [] : [DEFAULT_TAG];
}

/** Closes a target's connections, when it has any. */
export function closeTarget(target: Target): void {
  if (target instanceof RegistryTarget) target.close();
}
