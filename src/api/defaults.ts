/**
 * The defaults of the library's high-level API, in a module of their own so that `--help` can
 * show them without loading the API.
 *
 * @example
 * ```ts
 * import { DEFAULT_ARTIFACT_TYPE } from "./defaults.ts";
 * console.log(`--artifact-type defaults to ${DEFAULT_ARTIFACT_TYPE}`);
 * ```
 * @module
 */

/** The artifact type `pushFiles` writes when none is given, as ORAS does. */
export const DEFAULT_ARTIFACT_TYPE = "application/vnd.unknown.artifact.v1";
