/**
 * Reading an image config from any {@linkcode Target}, bounded as manifests are: a config is a
 * JSON document read whole into memory, so a descriptor that declares a gigabyte, or a stream
 * that delivers more than it declared, must be refused before it is held.
 *
 * @example
 * ```ts
 * import { fetchConfig } from "./config.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * import { fetchImageManifest } from "../pull/read.ts";
 * const layout = await LayoutTarget.open("./images");
 * const { manifest } = await fetchImageManifest(layout, await layout.resolve("v1"));
 * const { config } = await fetchConfig(layout, manifest.config);
 * console.log(config.rootfs.diff_ids.length);
 * ```
 * @module
 */
import { isDigest } from "../digest/parse.ts";
import { IntegrityError } from "../errors/mod.ts";
import type { CallOptions, Target } from "../oci/target.ts";
import {
  type Descriptor,
  type ImageConfig,
  isJsonObject,
  MAX_MANIFEST_BYTES,
} from "../oci/types.ts";
import { readBounded } from "../streams/mod.ts";

/**
 * The largest config ocisync reads: the manifest limit, for a config is a JSON document held
 * whole, as a manifest is. Real configs are kilobytes; even long histories stay far below it.
 */
export const MAX_CONFIG_BYTES = MAX_MANIFEST_BYTES;

/**
 * A config blob's bytes, at most {@linkcode MAX_CONFIG_BYTES}. A descriptor that declares more is
 * refused before anything is fetched, and the read stops as soon as the stream delivers more than
 * the descriptor declares, whatever the target checks itself. `options` go to the fetch (a signal
 * stops it).
 *
 * @throws {IntegrityError} when the declared or delivered size is over the limit, or the bytes do
 * not match the descriptor.
 * @example
 * ```ts
 * import { fetchConfigBytes } from "./config.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * import { fetchImageManifest } from "../pull/read.ts";
 * const layout = await LayoutTarget.open("./images");
 * const { manifest } = await fetchImageManifest(layout, await layout.resolve("v1"));
 * Deno.stdout.writeSync(await fetchConfigBytes(layout, manifest.config));
 * ```
 */
export async function fetchConfigBytes(
  target: Target,
  descriptor: Descriptor,
  options: CallOptions = {},
): Promise<Uint8Array> {
  if (descriptor.size > MAX_CONFIG_BYTES) {
    throw new IntegrityError(
      `config ${descriptor.digest} declares ${descriptor.size} bytes, over the limit of ` +
        `${MAX_CONFIG_BYTES}: refusing to read it`,
    );
  }
  // Past the declared size, the stream is cancelled, so nothing more is fetched.
  const bytes = await readBounded(await target.fetchBlob(descriptor, options), descriptor.size);
  if (bytes === undefined) {
    throw new IntegrityError(
      `config ${descriptor.digest} is larger than its declared size ${descriptor.size}`,
    );
  }
  return bytes;
}

/**
 * An image config: its bytes, bounded as {@linkcode fetchConfigBytes} bounds them, and the JSON
 * object they hold, with the fields ocisync reads (`os`, `architecture`, `variant`, `config`,
 * `rootfs.diff_ids`, `history`) of the right types where present.
 *
 * @throws {IntegrityError} when the config is too large, does not match the descriptor, is not
 * JSON, is not a JSON object (`null`, a number, an array), or has a field of the wrong type.
 * @example
 * ```ts
 * import { fetchConfig } from "./config.ts";
 * import { LayoutTarget } from "../layout/mod.ts";
 * import { fetchImageManifest } from "../pull/read.ts";
 * const layout = await LayoutTarget.open("./images");
 * const { manifest } = await fetchImageManifest(layout, await layout.resolve("v1"));
 * const { bytes, config } = await fetchConfig(layout, manifest.config);
 * console.log(bytes.length, config.os, config.architecture);
 * ```
 */
export async function fetchConfig(
  target: Target,
  descriptor: Descriptor,
  options: CallOptions = {},
): Promise<{ bytes: Uint8Array; config: ImageConfig }> {
  const bytes = await fetchConfigBytes(target, descriptor, options);
  return { bytes, config: parseConfig(bytes, descriptor.digest) };
}

/** Parses and checks config bytes; `digest` names the config in errors. */
function parseConfig(bytes: Uint8Array, digest: string): ImageConfig {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    invalid(digest, `is not JSON (${(error as Error).message})`);
  }
  if (!isJsonObject(value)) invalid(digest, `is not a JSON object but ${kindOf(value)}`);
  const problem = fieldProblem(value);
  if (problem) invalid(digest, problem);
  return value as unknown as ImageConfig;
}

/**
 * What is wrong with the fields ocisync reads, if anything. A field that is absent or `null`
 * means "not given" to the code that reads configs, so both pass.
 */
function fieldProblem(config: Record<string, unknown>): string | undefined {
  const given = (value: unknown) => value !== undefined && value !== null;
  for (const field of ["os", "architecture", "variant"]) {
    if (given(config[field]) && typeof config[field] !== "string") {
      return `has an ${field} that is not a string`;
    }
  }
  if (given(config.config) && !isJsonObject(config.config)) {
    return "has a config that is not an object";
  }
  if (given(config.history) && !Array.isArray(config.history)) {
    return "has a history that is not a list";
  }
  if (!given(config.rootfs)) return undefined;
  if (!isJsonObject(config.rootfs)) return "has a rootfs that is not an object";
  const diffIds = config.rootfs.diff_ids;
  if (
    given(diffIds) &&
    !(Array.isArray(diffIds) && diffIds.every((d) => typeof d === "string" && isDigest(d)))
  ) {
    return "has rootfs.diff_ids that are not a list of digests";
  }
  return undefined;
}

function invalid(digest: string, problem: string): never {
  throw new IntegrityError(`image config ${digest} ${problem}`);
}

/** What a JSON value is, for a message: `null`, `a list`, `a number`… */
function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return `a ${typeof value}`;
}
