/**
 * The credential sources of a command, in the order the README documents; the first that
 * yields a credential for the repository wins:
 *
 * 1. an explicit username and password (`--username` with `--password-stdin`), for
 *    {@linkcode CredentialOptions.registry} only;
 * 2. a credentials file (`--credentials FILE`): a Docker config, or
 *    `{"username", "password", "registry"?}`, whose credential without a `registry` is for
 *    {@linkcode CredentialOptions.registry} only;
 * 3. the standard auth files, as {@linkcode authFilePaths} lists them: `$REGISTRY_AUTH_FILE`,
 *    `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`),
 *    `$XDG_RUNTIME_DIR/containers/auth.json` and `$XDG_CONFIG_HOME/containers/auth.json` (else
 *    `~/.config/containers/auth.json`). Missing files are skipped.
 *
 * The files are the ones podman and skopeo read, but not in their order: as
 * containers-auth.json(5) says, they read `$REGISTRY_AUTH_FILE`, else
 * `$XDG_RUNTIME_DIR/containers/auth.json`, then `$XDG_CONFIG_HOME/containers/auth.json`, and
 * Docker's config last. ocisync reads Docker's config second, as it is the file `login` writes
 * when `$REGISTRY_AUTH_FILE` is unset, so that what it saves is found first: where a registry
 * has a credential in both, ocisync sends Docker's, and podman the runtime file's. Within a
 * file, the most specific key for the repository wins, as containers-auth.json(5) orders them
 * (`host/team/app`, then `host/team`, then `host`); across files, the first file that yields a
 * credential for the repository wins, as in podman, even when a later file has a more specific
 * key.
 *
 * A file that holds credentials and that other users may read is reported through
 * {@linkcode CredentialOptions.warn}, once per file, as ssh warns about keys.
 *
 * @example
 * ```ts
 * import { credentialLookup } from "./chain.ts";
 * const lookup = credentialLookup({});
 * const credential = await lookup("ghcr.io"); // undefined when nothing is configured
 * ```
 * @module
 */
import { NotFoundError, UsageError } from "../errors/mod.ts";
import { exposureWarning } from "../fs/stat.ts";
import { DockerConfig, DockerConfigStore } from "./docker_config.ts";
import { malformed, readJsonObject } from "./json_file.ts";
import { authFilePaths } from "./paths.ts";
import {
  type AuthKey,
  type Credential,
  type CredentialSource,
  defaultEnv,
  type EnvLookup,
  keySpecificity,
  normaliseHost,
  parseAuthKey,
} from "./store.ts";

/**
 * Finds the credential for a repository of a registry host, both as written in references
 * after normalisation: `docker.io` and `library/alpine`, `ghcr.io` and `acme/app`. Without a
 * repository (a request to the registry itself: `login`'s check), the credential for the whole
 * registry. Resolves `undefined` when there is none. A credential kept for a repository or a
 * namespace (an auth file's `ghcr.io/acme` key) is found for the repositories under it only.
 *
 * @example
 * ```ts
 * import { credentialLookup, type CredentialLookup } from "./chain.ts";
 * const lookup: CredentialLookup = credentialLookup({
 *   username: "me",
 *   password: "s3cret",
 *   registry: "docker.io",
 * });
 * await lookup("docker.io", "library/alpine"); // { username: "me", password: "s3cret" }
 * await lookup("ghcr.io", "acme/app"); // undefined: they are not for it
 * ```
 */
export type CredentialLookup = (
  registry: string,
  repository?: string,
) => Promise<Credential | undefined>;

/**
 * Options of {@linkcode credentialLookup} and {@linkcode credentialChain}.
 *
 * @example
 * ```ts
 * import type { CredentialOptions } from "./chain.ts";
 * const options: CredentialOptions = { credentialsFile: "./creds.json" };
 * ```
 */
export interface CredentialOptions {
  /** The explicit username (`--username`); needs {@linkcode CredentialOptions.password}. */
  username?: string;
  /** The explicit password (`--password-stdin`); needs {@linkcode CredentialOptions.username}. */
  password?: string;
  /** A credentials file (`--credentials FILE`): a Docker config or `{"username", "password"}`. */
  credentialsFile?: string;
  /**
   * The registry that the explicit username and password are for, and a credentials file's
   * credential that names no registry: no other registry is given them. A command that reads
   * from one registry and writes to another (a copy, a build on a base image from Docker Hub)
   * would otherwise send a password meant for one to the other, or to its token server.
   * Default: every registry, for a caller that talks to one only.
   */
  registry?: string;
  /**
   * Reads environment variables: `REGISTRY_AUTH_FILE`, `DOCKER_CONFIG`, `XDG_RUNTIME_DIR`,
   * `XDG_CONFIG_HOME`, `HOME`, and `PATH` to find and run credential helpers.
   * Default: `Deno.env.get`.
   */
  env?: EnvLookup;
  /** The home directory. Default: `$HOME`, else `$USERPROFILE`. */
  home?: string;
  /**
   * Receives warnings: a file that holds credentials and that other users may read or write
   * (`FILE is readable by other users; chmod 600 FILE`, as ssh warns about keys), once per
   * file. The library prints nothing itself. Default: warnings are dropped.
   */
  warn?: (message: string) => void;
}

/**
 * Sources tried in order: the first credential found for the repository wins. Hosts are
 * normalised with {@linkcode normaliseHost} before any source is asked.
 *
 * @example
 * ```ts
 * import { CredentialChain } from "./chain.ts";
 * import { DockerConfigStore } from "./docker_config.ts";
 * const chain = new CredentialChain([
 *   new DockerConfigStore("/etc/ocisync/auth.json"),
 *   new DockerConfigStore(`${Deno.env.get("HOME")}/.docker/config.json`),
 * ]);
 * await chain.get("ghcr.io", "acme/app");
 * ```
 */
export class CredentialChain implements CredentialSource {
  /** The sources, in the order they are asked. */
  readonly sources: readonly CredentialSource[];

  /** A chain of `sources`, asked in this order. */
  constructor(sources: readonly CredentialSource[]) {
    this.sources = [...sources];
  }

  /**
   * The first credential a source yields for `repository` of `host` (for the whole registry
   * without `repository`); an error in a source stops the chain.
   */
  async get(host: string, repository?: string): Promise<Credential | undefined> {
    const registry = normaliseHost(host);
    for (const source of this.sources) {
      const found = await source.get(registry, repository);
      if (found !== undefined) return found;
    }
    return undefined;
  }
}

/**
 * The chain of a command's credential sources, in the documented order (see the module
 * documentation). Paths are found from `options.env` now; files are read at each `get`.
 *
 * @throws {UsageError} at once, when only one of `username` and `password` is given.
 * @example
 * ```ts
 * import { credentialChain } from "./chain.ts";
 * const chain = credentialChain({ warn: (message) => console.error(message) });
 * await chain.get("ghcr.io");
 * ```
 */
export function credentialChain(options: CredentialOptions): CredentialChain {
  checkExplicit(options);
  const env = options.env ?? defaultEnv;
  const onSecrets = exposureCheck(options.warn);
  const sources: CredentialSource[] = [];
  const { username, password } = options;
  const registry = options.registry === undefined ? undefined : normaliseHost(options.registry);
  if (username !== undefined && password !== undefined) {
    sources.push({
      get: (host) =>
        Promise.resolve(
          registry === undefined || registry === host ? { username, password } : undefined,
        ),
    });
  }
  if (options.credentialsFile !== undefined) {
    sources.push(new CredentialsFile(options.credentialsFile, { env, onSecrets, registry }));
  }
  for (const path of authFilePaths(env, options.home)) {
    sources.push(new DockerConfigStore(path, { env, label: "auth file", onSecrets }));
  }
  return new CredentialChain(sources);
}

/**
 * A {@linkcode CredentialLookup} over {@linkcode credentialChain}. Each call asks the sources
 * again (files are read, helpers run): a credential that `ocisync login` or a rotating helper
 * changed is found by the next call, which a long `sync` needs. The registry client keeps what
 * it found for a registry until the registry refuses it, so a helper that prompts runs once.
 *
 * @throws {UsageError} at once, when only one of `username` and `password` is given.
 * @example
 * ```ts
 * import { credentialLookup } from "./chain.ts";
 * const credentialsFile = `${await Deno.makeTempDir()}/creds.json`;
 * await Deno.writeTextFile(credentialsFile, '{"username": "me", "password": "s3cret"}');
 * const lookup = credentialLookup({ credentialsFile });
 * await lookup("127.0.0.1:5000"); // { username: "me", password: "s3cret" }
 * ```
 */
export function credentialLookup(options: CredentialOptions): CredentialLookup {
  checkExplicit(options);
  // Built at the first lookup: a command that never needs a credential reads no environment.
  let chain: CredentialChain | undefined;
  return (registry, repository) => (chain ??= credentialChain(options)).get(registry, repository);
}

/**
 * A `--credentials` file, in either shape: a Docker config (looked up as
 * {@linkcode DockerConfig.get} does), or `{"username", "password", "registry"?}`, which applies
 * to its `registry` only when it names one (a host, or a repository or namespace in one, as an
 * auth file's keys do: `ghcr.io/acme`), else to the registry the source is constructed for
 * (the command's own), else to any. Unlike the standard files, it must exist.
 *
 * @example
 * ```ts
 * import { CredentialsFile } from "./chain.ts";
 * const path = `${await Deno.makeTempDir()}/creds.json`;
 * await Deno.writeTextFile(path, '{"username": "me", "password": "s3cret", "registry": "ghcr.io"}');
 * const file = new CredentialsFile(path);
 * await file.get("ghcr.io"); // { username: "me", password: "s3cret" }
 * await file.get("quay.io"); // undefined
 * ```
 */
export class CredentialsFile implements CredentialSource {
  /** The file. */
  readonly path: string;
  #env: EnvLookup;
  #onSecrets?: (path: string) => Promise<void>;
  #registry?: string;

  /**
   * A source reading `path` at each `get`. `options.env` reads `PATH` for the helpers a Docker
   * config names; `options.onSecrets` is called before a secret in the file is used;
   * `options.registry` is the one registry that a credential naming none is for.
   */
  constructor(
    path: string,
    options: {
      env?: EnvLookup;
      onSecrets?: (path: string) => Promise<void>;
      registry?: string;
    } = {},
  ) {
    this.path = path;
    this.#env = options.env ?? defaultEnv;
    this.#onSecrets = options.onSecrets;
    this.#registry = options.registry === undefined ? undefined : normaliseHost(options.registry);
  }

  /**
   * The credential the file holds for `repository` of `host` (for the whole registry without
   * `repository`).
   *
   * @throws {NotFoundError} when the file does not exist.
   * @throws {UsageError} when it is malformed or mixes both shapes.
   */
  async get(host: string, repository?: string): Promise<Credential | undefined> {
    const path = this.path;
    const raw = await readJsonObject(path, "credentials file");
    if (raw === undefined) throw new NotFoundError(`credentials file not found: ${path}`);
    const isDocker = "auths" in raw || "credHelpers" in raw || "credsStore" in raw;
    const isPlain = "username" in raw || "password" in raw;
    if (isDocker && isPlain) {
      throw malformed(
        path,
        'it mixes a Docker config ("auths", "credHelpers", "credsStore") with "username"/"password"',
      );
    }
    if (isDocker) {
      const config = DockerConfig.parse(raw, path, { env: this.#env });
      if (config.holdsSecrets) await this.#onSecrets?.(path);
      return config.get(host, repository);
    }
    if (!isPlain) {
      throw malformed(
        path,
        'expected a Docker config with "auths", or {"username", "password", "registry"?}',
      );
    }
    const { username, password, registry } = raw;
    if (typeof username !== "string" || username === "") {
      throw malformed(path, '"username" must be a non-empty string');
    }
    if (typeof password !== "string") throw malformed(path, '"password" must be a string');
    await this.#onSecrets?.(path);
    let scope: AuthKey | undefined = this.#registry === undefined
      ? undefined
      : { host: this.#registry };
    if (registry !== undefined) {
      scope = typeof registry === "string" ? parseAuthKey(registry) : undefined;
      if (scope === undefined) {
        throw malformed(
          path,
          '"registry" must be a registry host such as "ghcr.io", or a repository or ' +
            'namespace in one ("ghcr.io/acme")',
        );
      }
    }
    const forIt = scope === undefined ||
      (scope.host === normaliseHost(host) && keySpecificity(scope, repository) !== undefined);
    return forIt ? { username, password } : undefined;
  }
}

function checkExplicit(options: CredentialOptions): void {
  if ((options.username === undefined) !== (options.password === undefined)) {
    throw new UsageError(
      options.username === undefined
        ? "a password was given without a username"
        : "a username was given without a password",
      { hint: "give both a username and a password, or neither", option: "username" },
    );
  }
}

/**
 * Checks files for modes that let other users read or write them, and warns through `warn`,
 * once per file, as ssh does for private keys. Without `warn`, checks nothing.
 */
function exposureCheck(
  warn: ((message: string) => void) | undefined,
): (path: string) => Promise<void> {
  const checked = new Set<string>();
  return async (path) => {
    if (warn === undefined || checked.has(path)) return;
    checked.add(path);
    const warning = await exposureWarning(path);
    if (warning) warn(warning);
  };
}
