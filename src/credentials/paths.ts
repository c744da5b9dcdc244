/**
 * Where credentials are kept on this machine: Docker's config and containers' `auth.json`
 * files, found as docker, podman, skopeo and ORAS find them.
 *
 * @example
 * ```ts
 * import { authFilePaths } from "./paths.ts";
 * authFilePaths(() => undefined, "/home/me");
 * // ["/home/me/.docker/config.json", "/home/me/.config/containers/auth.json"]
 * ```
 * @module
 */
import { UsageError } from "../errors/mod.ts";
import { defaultEnv, type EnvLookup } from "./store.ts";

/**
 * The Docker config file: `$DOCKER_CONFIG/config.json`, else `HOME/.docker/config.json`.
 *
 * @throws {UsageError} when neither `DOCKER_CONFIG` nor a home directory is known.
 * @example
 * ```ts
 * import { dockerConfigPath } from "./paths.ts";
 * dockerConfigPath(() => undefined, "/home/me"); // "/home/me/.docker/config.json"
 * dockerConfigPath((name) => name === "DOCKER_CONFIG" ? "/etc/docker" : undefined);
 * // "/etc/docker/config.json"
 * ```
 */
export function dockerConfigPath(env: EnvLookup = defaultEnv, home?: string): string {
  const path = findDockerConfigPath(env, home);
  if (path === undefined) {
    throw new UsageError("cannot find the Docker config: the home directory is unknown", {
      hint: "set HOME or DOCKER_CONFIG",
    });
  }
  return path;
}

/**
 * The file that `login` writes: the first one that lookups read ({@linkcode authFilePaths}),
 * so that what it saves is what the next command finds. That is `$REGISTRY_AUTH_FILE` when it
 * is set, as podman and skopeo write it, else the Docker config ({@linkcode dockerConfigPath}).
 *
 * @throws {UsageError} when neither is set and the home directory is unknown.
 * @example
 * ```ts
 * import { loginFilePath } from "./paths.ts";
 * loginFilePath((name) => name === "REGISTRY_AUTH_FILE" ? "/etc/auth.json" : undefined);
 * // "/etc/auth.json"
 * loginFilePath(() => undefined, "/home/me"); // "/home/me/.docker/config.json"
 * ```
 */
export function loginFilePath(env: EnvLookup = defaultEnv, home?: string): string {
  return nonEmpty(env("REGISTRY_AUTH_FILE")) ?? dockerConfigPath(env, home);
}

/**
 * The standard auth files, in the order they are tried, without duplicates:
 * `$REGISTRY_AUTH_FILE`, `$DOCKER_CONFIG/config.json` (else `HOME/.docker/config.json`),
 * `$XDG_RUNTIME_DIR/containers/auth.json`, and `$XDG_CONFIG_HOME/containers/auth.json` (else
 * `HOME/.config/containers/auth.json`). Variables that are unset or empty are skipped; `home`
 * defaults to `$HOME`, else `$USERPROFILE`.
 *
 * @example
 * ```ts
 * import { authFilePaths } from "./paths.ts";
 * const env = (name: string) => name === "XDG_RUNTIME_DIR" ? "/run/user/1000" : undefined;
 * authFilePaths(env, "/home/me");
 * // ["/home/me/.docker/config.json", "/run/user/1000/containers/auth.json",
 * //  "/home/me/.config/containers/auth.json"]
 * ```
 */
export function authFilePaths(env: EnvLookup = defaultEnv, home?: string): string[] {
  const homeDir = home ?? homeFromEnv(env);
  const paths = [
    nonEmpty(env("REGISTRY_AUTH_FILE")),
    findDockerConfigPath(env, homeDir),
  ];
  const runtime = nonEmpty(env("XDG_RUNTIME_DIR"));
  if (runtime !== undefined) paths.push(join(runtime, "containers", "auth.json"));
  const configHome = nonEmpty(env("XDG_CONFIG_HOME")) ??
    (homeDir === undefined ? undefined : join(homeDir, ".config"));
  if (configHome !== undefined) paths.push(join(configHome, "containers", "auth.json"));
  return [...new Set(paths.filter((path): path is string => path !== undefined))];
}

function findDockerConfigPath(env: EnvLookup, home: string | undefined): string | undefined {
  const dir = nonEmpty(env("DOCKER_CONFIG"));
  if (dir !== undefined) return join(dir, "config.json");
  const homeDir = home ?? homeFromEnv(env);
  return homeDir === undefined ? undefined : join(homeDir, ".docker", "config.json");
}

function homeFromEnv(env: EnvLookup): string | undefined {
  return nonEmpty(env("HOME")) ?? nonEmpty(env("USERPROFILE"));
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === "" ? undefined : value;
}

function join(dir: string, ...parts: string[]): string {
  return [dir.replace(/(?<=.)[\\/]+$/, ""), ...parts].join("/");
}
