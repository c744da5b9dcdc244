/**
 * The name of a sync's version folder, for readers of the folders a sync delivers into. Apart
 * from `./outputs.ts`, which names them the same way with Web Crypto, because this one hashes
 * synchronously, with `node:crypto`, which a sync that finds nothing new does not load.
 *
 * @example
 * ```ts
 * import { versionDirectory } from "./version_directory.ts";
 * versionDirectory("/srv/flows", `sha256:${"a".repeat(64)}`); // "/srv/flows/.ocisync/aaaa…"
 * ```
 * @module
 */
import { type Digest, parseDigest } from "../digest/parse.ts";
import { sha256Digest } from "../digest/sha256.ts";
import { type DirectoryOutputOptions, layerSelection, versionFolder } from "./outputs.ts";

/**
 * The folder under `directory` that holds the image manifest `digest` (the platform's, for an
 * index) as `directoryOutput(directory, options)` delivers it: `DIR/.ocisync/<hex>`. With a
 * layer selection (`layerMediaTypes`, or `layerOperation: "copy"`), `DIR/.ocisync/<hex>-<12>`,
 * where `<12>` is the start of the sha256 hex of `layers=<globs, comma-separated>;<operation>`
 * (`*` for every layer). So everything that decides what a folder holds names it: another
 * platform or selection of one digest is another folder, pulled and swapped in whole.
 *
 * @example
 * ```ts
 * import { versionDirectory } from "./version_directory.ts";
 * const digest = `sha256:${"a".repeat(64)}` as const;
 * versionDirectory("/srv/flows", digest); // "/srv/flows/.ocisync/aaaa…"
 * versionDirectory("/srv/flows", digest, { layerOperation: "copy" }); // ".../aaaa…-<12 hex>"
 * ```
 */
export function versionDirectory(
  directory: string,
  digest: Digest,
  options: DirectoryOutputOptions = {},
): string {
  const selection = layerSelection(options);
  const hex = selection === ""
    ? ""
    : parseDigest(sha256Digest(new TextEncoder().encode(selection))).hex;
  return versionFolder(directory, digest, hex);
}
