/**
 * Config edits: changes to an image's runtime settings (environment,
 * working directory, entrypoint, arguments, user, labels), applied to a
 * config as a Dockerfile's instructions would be. Pure: a config in, a new
 * config out.
 *
 * @example
 * ```ts
 * import { editConfig } from "./edit.ts";
 * const config = editConfig(
 *   { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } },
 *   { workdir: "/app", entrypoint: ["/app/run.sh"] },
 * );
 * console.log(config.config?.WorkingDir); // "/app"
 * ```
 * @module
 */
import { UsageError } from "../errors/mod.ts";
import type { ImageConfig } from "../oci/types.ts";
import { sorted } from "./build.ts";

/**
 * Changes to an image's runtime settings. Every field is optional; what is
 * not given keeps the base's value.
 */
export interface ConfigEdits {
  /**
   * `NAME=VALUE` settings, applied in order over the base's environment. In
   * a value, `$NAME` and `${NAME}` are replaced by the variable's value so
   * far, so `PATH=/opt/x/bin:$PATH` prepends to the base's `PATH`. When the
   * variable is unset or empty, the reference and one `:` beside it are
   * dropped (never an empty `PATH` entry, which would mean the working
   * directory). `$$` is a literal `$`.
   */
  env?: string[];
  /** The working directory; absolute. */
  workdir?: string;
  /** The entrypoint; empty for none. Setting it drops the base's `Cmd`, as a Dockerfile does. */
  entrypoint?: string[];
  /** The default arguments; empty for none. */
  cmd?: string[];
  /** The user, `NAME`, `UID` or `UID:GID`. */
  user?: string;
  /** Labels, merged over the base's. */
  labels?: Record<string, string>;
}

/**
 * Applies runtime edits to a config, returning a new config.
 *
 * @throws {UsageError} for an `env` entry without `=`, or a relative `workdir`
 * (see {@linkcode checkConfigEdits}).
 * @example
 * ```ts
 * import { editConfig } from "./edit.ts";
 * const config = editConfig(
 *   { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] },
 *     config: { Env: ["PATH=/usr/bin:/bin"] } },
 *   { env: ["PATH=/opt/x/bin:$PATH"], workdir: "/opt/x" },
 * );
 * config.config?.Env; // ["PATH=/opt/x/bin:/usr/bin:/bin"]
 * ```
 */
export function editConfig(config: ImageConfig, edits: ConfigEdits): ImageConfig {
  checkConfigEdits(edits);
  const runtime = { ...config.config };
  if (edits.env?.length) runtime.Env = mergeEnv(runtime.Env ?? [], edits.env);
  if (edits.workdir !== undefined) runtime.WorkingDir = edits.workdir;
  if (edits.entrypoint !== undefined) {
    setOrDelete(runtime, "Entrypoint", edits.entrypoint);
    if (edits.cmd === undefined) delete runtime.Cmd;
  }
  if (edits.cmd !== undefined) setOrDelete(runtime, "Cmd", edits.cmd);
  if (edits.user !== undefined) runtime.User = edits.user;
  if (edits.labels && Object.keys(edits.labels).length) {
    runtime.Labels = sorted({ ...runtime.Labels, ...edits.labels });
  }
  return { ...config, config: runtime };
}

/**
 * Refuses edits that {@linkcode editConfig} would refuse, without a config: a command checks its
 * flags with it before it packs or sends anything.
 *
 * @throws {UsageError} for an `env` entry without `=`, or a relative `workdir`.
 * @example
 * ```ts
 * import { checkConfigEdits } from "./edit.ts";
 * checkConfigEdits({ env: ["A=1"], workdir: "/app" }); // fine
 * checkConfigEdits({ env: ["NOVALUE"] }); // throws
 * ```
 */
export function checkConfigEdits(edits: ConfigEdits): void {
  for (const setting of edits.env ?? []) {
    if (setting.indexOf("=") <= 0) {
      throw new UsageError(`an environment setting is NAME=VALUE, not "${setting}"`);
    }
  }
  if (edits.workdir !== undefined && !edits.workdir.startsWith("/")) {
    throw new UsageError(`the working directory must be absolute, not "${edits.workdir}"`);
  }
}

function setOrDelete(
  runtime: NonNullable<ImageConfig["config"]>,
  key: "Entrypoint" | "Cmd",
  value: string[],
): void {
  if (value.length) runtime[key] = value;
  else delete runtime[key];
}

/** The base's `NAME=VALUE` list with `settings` applied in order; names keep their place. */
function mergeEnv(base: string[], settings: string[]): string[] {
  const env = new Map<string, string>();
  for (const entry of base) {
    const eq = entry.indexOf("=");
    env.set(eq < 0 ? entry : entry.slice(0, eq), eq < 0 ? "" : entry.slice(eq + 1));
  }
  for (const setting of settings) {
    const eq = setting.indexOf("=");
    env.set(setting.slice(0, eq), expand(setting.slice(eq + 1), env));
  }
  return [...env].map(([name, value]) => `${name}=${value}`);
}

/** `$NAME` and `${NAME}` from `env`; an empty one takes a neighbouring `:` with it. */
function expand(value: string, env: Map<string, string>): string {
  return value.replace(
    /\$\$|(:?)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))(:?)/g,
    (match, before: string | undefined, braced?: string, bare?: string, after?: string) => {
      if (match === "$$") return "$";
      const found = env.get((braced ?? bare)!);
      if (found) return `${before}${found}${after}`;
      return before && after ? ":" : "";
    },
  );
}
