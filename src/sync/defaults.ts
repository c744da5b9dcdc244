/**
 * The defaults of a sync target's settings, in a module of their own so that `--help` can show
 * them without loading the configuration's YAML parser.
 *
 * @example
 * ```ts
 * import { SYNC_DEFAULTS } from "./defaults.ts";
 * console.log(`--interval defaults to ${SYNC_DEFAULTS.interval}`);
 * ```
 * @module
 */

/**
 * The defaults of a target's settings, as a user would write them.
 *
 * @example
 * ```ts
 * import { SYNC_DEFAULTS } from "./defaults.ts";
 * console.log(`--interval defaults to ${SYNC_DEFAULTS.interval}`);
 * ```
 */
export const SYNC_DEFAULTS: Readonly<Record<"interval" | "jitter" | "encoding" | "keep", string>> =
  { interval: "30s", jitter: "10%", encoding: "utf-8", keep: "2" };
