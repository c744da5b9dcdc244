/**
 * Opens a target of one kind, loading that kind's code only when a reference needs it: a
 * layout reads files, an archive loads the decompressors (`node:zlib`), a registry its HTTP
 * client and `node:crypto`. So importing `./mod.ts` loads none of them, and `inspect oci:…`
 * starts no Node compatibility layer. The specifiers are literals: `deno compile` embeds them.
 *
 * @example
 * ```ts
 * import { openLocalTarget } from "./open.ts";
 * const layout = await openLocalTarget({ kind: "layout", path: "./bundle" }, { create: true });
 * ```
 * @module
 */
import type { Target } from "../oci/target.ts";
import type { ArchiveReference, LayoutReference, RegistryReference } from "../ref/mod.ts";
import type { RegistryOptions, RegistryTarget } from "../remote/registry.ts";
import type { SessionOpenOptions } from "./session.ts";

/**
 * Opens an OCI image layout or an archive.
 *
 * @throws {NotFoundError} when it does not exist and `create` is not set.
 * @example
 * ```ts
 * import { openLocalTarget } from "./open.ts";
 * const archive = await openLocalTarget({ kind: "archive", format: "oci", path: "app.tar" }, {});
 * ```
 */
export async function openLocalTarget(
  reference: LayoutReference | ArchiveReference,
  options: SessionOpenOptions,
): Promise<Target> {
  if (reference.kind === "layout") {
    const { LayoutTarget } = await import("../layout/mod.ts");
    return await LayoutTarget.open(reference.path, { create: options.create });
  }
  const { openArchiveTarget } = await import("../archive/mod.ts");
  return await openArchiveTarget(reference, options);
}

/**
 * A registry repository's target; nothing is sent yet.
 *
 * @example
 * ```ts
 * import { openRegistryTarget } from "./open.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const reference = parseReference("localhost:5000/app");
 * if (reference.kind === "registry") await openRegistryTarget(reference, { retries: 0 });
 * ```
 */
export async function openRegistryTarget(
  reference: RegistryReference,
  options: RegistryOptions,
): Promise<RegistryTarget> {
  const { RegistryTarget } = await import("../remote/registry.ts");
  return new RegistryTarget(reference, options);
}
