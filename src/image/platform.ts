/**
 * Platforms: parsing `os/arch[/variant]`, the host's platform, and choosing
 * a manifest from an index.
 *
 * @example
 * ```ts
 * import { formatPlatform, parsePlatform } from "./platform.ts";
 * formatPlatform(parsePlatform("linux/arm64")); // "linux/arm64/v8"
 * ```
 * @module
 */
import { NotFoundError, UsageError } from "../errors/mod.ts";
import type { Descriptor, Platform } from "../oci/types.ts";

/** The platform of images, and the one chosen from a base index, when none is asked for. */
export const DEFAULT_PLATFORM: Platform = { os: "linux", architecture: "amd64" };

const ARCH_ALIASES: Record<string, string> = {
  x86_64: "amd64",
  x86: "386",
  i386: "386",
  aarch64: "arm64",
  armhf: "arm",
  armel: "arm",
};

/**
 * Parses `os/arch[/variant]`, normalising architecture aliases (`x86_64`,
 * `aarch64`) and giving arm64 its default variant `v8`.
 *
 * @throws {UsageError} for a malformed platform.
 * @example
 * ```ts
 * import { parsePlatform } from "./platform.ts";
 * parsePlatform("linux/x86_64"); // { os: "linux", architecture: "amd64" }
 * ```
 */
export function parsePlatform(value: string): Platform {
  const parts = value.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/.test(p))) {
    throw new UsageError(
      `invalid platform "${value}": expected os/arch[/variant], e.g. linux/amd64`,
    );
  }
  return normalizePlatform({ os: parts[0], architecture: parts[1], variant: parts[2] });
}

/**
 * Normalises aliases and default variants, so that two platforms compare by their fields. Only
 * `os`, `architecture` and `variant` are kept.
 *
 * @example
 * ```ts
 * import { normalizePlatform } from "./platform.ts";
 * normalizePlatform({ os: "linux", architecture: "aarch64" }); // linux/arm64/v8
 * ```
 */
export function normalizePlatform(platform: Platform): Platform {
  const architecture = ARCH_ALIASES[platform.architecture] ?? platform.architecture;
  let variant = platform.variant;
  if (architecture === "arm64" && !variant) variant = "v8";
  if (architecture === "arm" && !variant) variant = "v7";
  return { os: platform.os, architecture, ...(variant ? { variant } : {}) };
}

/**
 * Prints a platform as `os/arch[/variant]`.
 *
 * @example
 * ```ts
 * import { formatPlatform } from "./platform.ts";
 * formatPlatform({ os: "linux", architecture: "amd64" }); // "linux/amd64"
 * ```
 */
export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join("/");
}

/**
 * The platform of images for this host: Linux on the host's CPU (Docker on
 * macOS runs Linux images too), or Windows on Windows.
 *
 * @example
 * ```ts
 * import { hostPlatform } from "./platform.ts";
 * hostPlatform(); // { os: "linux", architecture: "amd64" } on an x86-64 machine
 * ```
 */
export function hostPlatform(): Platform {
  return normalizePlatform({
    os: Deno.build.os === "windows" ? "windows" : "linux",
    architecture: Deno.build.arch,
  });
}

/**
 * Picks the manifest for `wanted` from an index's entries. A wanted platform
 * without a variant matches any variant.
 *
 * @throws {NotFoundError} listing the platforms the index has.
 * @example
 * ```ts
 * import { selectManifest } from "./platform.ts";
 * const manifests = [{ mediaType: "m", digest: `sha256:${"1".repeat(64)}` as const, size: 1,
 *   platform: { os: "linux", architecture: "arm64", variant: "v8" } }];
 * selectManifest(manifests, { os: "linux", architecture: "arm64" }).size; // 1
 * ```
 */
export function selectManifest(manifests: Descriptor[], wanted: Platform): Descriptor {
  const want = normalizePlatform(wanted);
  const found = manifests.find((d) => {
    if (!d.platform) return false;
    const have = normalizePlatform(d.platform);
    return have.os === want.os && have.architecture === want.architecture &&
      (!wanted.variant || have.variant === want.variant);
  });
  if (found) return found;
  const available = manifests.filter((d) => d.platform).map((d) => formatPlatform(d.platform!));
  throw new NotFoundError(
    `the index has no manifest for ${formatPlatform(want)}; it has ${
      available.join(", ") || "none"
    }`,
    { hint: "choose one of them", option: "platform" },
  );
}

/** The annotation of Docker buildx's attestation manifests, in an index beside the images. */
export const DOCKER_REFERENCE_TYPE_ANNOTATION = "vnd.docker.reference.type";

/**
 * Whether an index entry is an image of a platform, rather than an attestation (an entry
 * annotated `vnd.docker.reference.type`, or of the platform `unknown/unknown`) or an entry
 * without a platform.
 *
 * @example
 * ```ts
 * import { isPlatformEntry } from "./platform.ts";
 * isPlatformEntry({ mediaType: "m", digest: `sha256:${"1".repeat(64)}`, size: 1,
 *   platform: { os: "unknown", architecture: "unknown" } }); // false
 * ```
 */
export function isPlatformEntry(descriptor: Descriptor): boolean {
  const { platform, annotations } = descriptor;
  if (!platform || annotations?.[DOCKER_REFERENCE_TYPE_ANNOTATION] !== undefined) return false;
  return platform.os !== "unknown" && platform.architecture !== "unknown";
}
