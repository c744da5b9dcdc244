/**
 * The defaults of the Python dependency layers, in a module of their own so that `--help` can
 * show them without loading the installer.
 *
 * @example
 * ```ts
 * import { DEFAULT_DEPS_PREFIX } from "./defaults.ts";
 * console.log(`--prefix defaults to ${DEFAULT_DEPS_PREFIX}`);
 * ```
 * @module
 */

/** The environment variable that overrides the installer's command, like `--installer-command`. */
export const INSTALLER_COMMAND_ENV = "OCISYNC_INSTALLER_COMMAND";

/** Where dependencies land in the image unless told otherwise. */
export const DEFAULT_DEPS_PREFIX = "/opt/ocisync/deps";
