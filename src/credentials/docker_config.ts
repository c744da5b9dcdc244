/**
 * Docker's config file (`~/.docker/config.json`), and containers' `auth.json`, which has the
 * same shape, as a {@linkcode CredentialStore}:
 *
 * ```json
 * {
 *   "auths": { "ghcr.io": { "auth": "base64(user:pass)" }, "quay.io": { "identitytoken": "…" } },
 *   "credHelpers": { "123456789.dkr.ecr.us-east-1.amazonaws.com": "ecr-login" },
 *   "credsStore": "desktop"
 * }
 * ```
 *
 * {@linkcode DockerConfig.placement} is the one place where the choice between a credential
 * helper and the `auths` entry is made, and `get`, `put` and `erase` all follow it:
 *
 * - `get` reads `credHelpers[host]`, then `auths`, then `credsStore`: the first that has
 *   a credential wins. In `auths`, the most specific key for the repository is read, as
 *   containers-auth.json(5) orders them: `host/team/app`, then `host/team`, then `host`. An
 *   empty entry (Docker Desktop leaves them for credentials kept in its store) or one with a
 *   username alone falls through to `credsStore`.
 * - `put` writes to the host's helper (`credHelpers[host]`, else `credsStore`) and leaves an
 *   empty `auths` entry, as `docker login` does; without a helper, into `auths`, under the key
 *   `docker login` writes (`https://index.docker.io/v1/` for Docker Hub, the host otherwise).
 *   A credential scoped to a namespace (`host/team/app`) goes into `auths` alone, as
 *   `podman login` writes it: helpers keep credentials per registry.
 * - `erase` erases through that same helper, and removes every `auths` entry for the host,
 *   whatever form its key is written in; for a scoped key, that key's entry alone.
 *
 * Keys may be written as hosts or URLs (see {@linkcode parseAuthKey}); Docker Hub's aliases all
 * mean `docker.io`. Scoped keys are read in Docker's config as in containers' `auth.json`, as
 * podman and skopeo read them: Docker itself, when a registry has no key of its own, takes the
 * first scoped key it meets for the whole registry, which would send one repository's
 * credential to every other. Every other part of the file is kept when it is written.
 *
 * @example
 * ```ts
 * import { DockerConfigStore } from "./docker_config.ts";
 * const store = new DockerConfigStore(`${await Deno.makeTempDir()}/config.json`);
 * await store.put("ghcr.io", { username: "me", password: "s3cret" });
 * await store.get("ghcr.io"); // { username: "me", password: "s3cret" }
 * ```
 * @module
 */
import { CredentialHelper, isHelperName } from "./helper.ts";
import { OcisyncError, UsageError } from "../errors/mod.ts";
import { statOrUndefined } from "../fs/stat.ts";
import { parentOf } from "../fs/atomic.ts";
import {
  isObject,
  makeFolderOf,
  malformed,
  readJsonObject,
  refuseExposed,
  writeJsonObject,
} from "./json_file.ts";
import { loginFilePath } from "./paths.ts";
import {
  type AuthKey,
  type Credential,
  type CredentialStore,
  defaultEnv,
  type EnvLookup,
  formatAuthKey,
  keySpecificity,
  normaliseHost,
  parseAuthKey,
} from "./store.ts";

// The fields of an `auths` entry that hold a credential; the others (`email`) are kept.
const CREDENTIAL_FIELDS = ["auth", "username", "password", "identitytoken", "registrytoken"];

/**
 * One place in a Docker config where a host's credential may be kept: a credential helper,
 * named by the config's `field`, or `auths` entries, under `keys` (the best first: the most
 * specific, then the form `docker login` writes).
 *
 * @example
 * ```ts
 * import type { Place } from "./docker_config.ts";
 * const places: Place[] = [
 *   { kind: "helper", name: "pass", field: 'credHelpers["ghcr.io"]' },
 *   { kind: "auths", keys: ["ghcr.io", "https://ghcr.io"] },
 * ];
 * ```
 */
export type Place =
  | { kind: "helper"; name: string; field: string }
  | { kind: "auths"; keys: string[] };

/**
 * Where a host's credential is kept in a Docker config: the places `get` reads, in order, and
 * the place `put` writes a credential for the whole registry to and `erase` erases it from
 * (besides every `auths` entry).
 *
 * @example
 * ```ts
 * import { DockerConfig, type Placement } from "./docker_config.ts";
 * const config = DockerConfig.parse({ credsStore: "desktop" }, "config.json");
 * const placement: Placement = config.placement("ghcr.io");
 * // read: [{ kind: "helper", name: "desktop", field: "credsStore" }]
 * // write: { kind: "helper", name: "desktop", field: "credsStore" }
 * ```
 */
export interface Placement {
  /** `credHelpers[host]`, the `auths` entry, `credsStore`: those the config has. */
  read: Place[];
  /** The host's helper (`credHelpers[host]`, else `credsStore`), else `auths`. */
  write: Place;
}

/**
 * Options of {@linkcode DockerConfig.parse} and {@linkcode DockerConfigStore}.
 *
 * @example
 * ```ts
 * import type { DockerConfigOptions } from "./docker_config.ts";
 * const options: DockerConfigOptions = { label: "auth file" };
 * ```
 */
export interface DockerConfigOptions {
  /** Reads `PATH`, to find and run credential helpers. Default: `Deno.env.get`. */
  env?: EnvLookup;
  /** What the file is called in errors: `malformed LABEL PATH: …`. Default: `Docker config`. */
  label?: string;
  /**
   * Called with the file's path before a lookup when the file holds a secret itself (rather
   * than naming helpers that keep them), e.g. to check who else may read it.
   */
  onSecrets?: (path: string) => Promise<void>;
}

/** One `auths` entry, validated and decoded; no credential when it cannot authenticate. */
interface AuthEntry {
  credential?: Credential;
}

/**
 * A Docker config read and validated: {@linkcode DockerConfig.placement} decides where each
 * host's credential is kept, and `get`, `put` and `erase` act there. `put` and `erase` change
 * the config in memory; {@linkcode DockerConfigStore} writes it back.
 *
 * @example
 * ```ts
 * import { DockerConfig } from "./docker_config.ts";
 * const config = DockerConfig.parse(
 *   { auths: { "https://index.docker.io/v1/": { auth: btoa("me:s3cret") } } },
 *   "/home/me/.docker/config.json",
 * );
 * await config.get("docker.io"); // { username: "me", password: "s3cret" }
 * ```
 */
export class DockerConfig {
  /** The file the config was read from, for messages. */
  readonly path: string;
  /** The config as read, every unknown part kept; changed by `put` and `erase`. */
  readonly raw: Record<string, unknown>;
  #auths = new Map<string, AuthEntry>();
  #credHelpers = new Map<string, string>();
  #credsStore?: string;
  #env: EnvLookup;

  private constructor(raw: Record<string, unknown>, path: string, env: EnvLookup) {
    this.raw = raw;
    this.path = path;
    this.#env = env;
  }

  /**
   * Validates a config and decodes its `auths` entries.
   *
   * @throws {UsageError} naming `path` when a part is malformed; no value is ever quoted.
   */
  static parse(
    raw: Record<string, unknown>,
    path: string,
    options: Pick<DockerConfigOptions, "env"> = {},
  ): DockerConfig {
    const config = new DockerConfig(raw, path, options.env ?? defaultEnv);
    const { auths, credHelpers, credsStore } = raw;
    if (auths !== undefined) {
      if (!isObject(auths)) throw malformed(path, '"auths" must be an object');
      for (const [key, value] of Object.entries(auths)) {
        config.#auths.set(key, parseAuthEntry(key, value, path));
      }
    }
    if (credHelpers !== undefined) {
      if (!isObject(credHelpers)) throw malformed(path, '"credHelpers" must be an object');
      for (const [key, name] of Object.entries(credHelpers)) {
        const field = `credHelpers[${JSON.stringify(key)}]`;
        if (typeof name !== "string") throw malformed(path, `${field} must be a string`);
        // Docker reads an empty helper name as no helper.
        if (name === "") continue;
        if (!isHelperName(name)) throw malformed(path, `${field} is not a helper name`);
        config.#credHelpers.set(key, name);
      }
    }
    if (credsStore !== undefined) {
      if (typeof credsStore !== "string") throw malformed(path, '"credsStore" must be a string');
      if (credsStore !== "" && !isHelperName(credsStore)) {
        throw malformed(path, '"credsStore" is not a helper name');
      }
      if (credsStore !== "") config.#credsStore = credsStore;
    }
    return config;
  }

  /** Whether the config holds a secret itself, rather than naming helpers that keep them. */
  get holdsSecrets(): boolean {
    return [...this.#auths.values()].some((entry) => entry.credential !== undefined);
  }

  /**
   * Where the credential for `repository` of `host` is kept (for the whole registry without
   * `repository`): the one place the helper-or-`auths` choice is made. `credHelpers[host]` is
   * read first and is where a credential is written; then the `auths` keys for the repository,
   * the most specific first; `credsStore` is read after `auths` (so that a credential in the
   * file is used as it is), and written to when the host has no helper of its own.
   */
  placement(host: string, repository?: string): Placement {
    const registry = normaliseHost(host);
    const helperKey = matchingKeys(this.#credHelpers.keys(), registry)[0];
    const own: Place | undefined = helperKey === undefined ? undefined : {
      kind: "helper",
      name: this.#credHelpers.get(helperKey)!,
      field: `credHelpers[${JSON.stringify(helperKey)}]`,
    };
    const store: Place | undefined = this.#credsStore === undefined
      ? undefined
      : { kind: "helper", name: this.#credsStore, field: "credsStore" };
    const keys = matchingKeys(this.#auths.keys(), registry, repository);
    const auths: Place = { kind: "auths", keys };
    return {
      read: [own, keys.length > 0 ? auths : undefined, store].filter((place): place is Place =>
        place !== undefined
      ),
      write: own ?? store ?? auths,
    };
  }

  /**
   * The credential for `repository` of `host` (for the whole registry without `repository`),
   * from the first place of its placement that has one.
   *
   * @throws {AuthError} when a helper it needs is missing, fails or prints nonsense.
   */
  async get(host: string, repository?: string): Promise<Credential | undefined> {
    for (const place of this.placement(host, repository).read) {
      if (place.kind === "helper") {
        const found = await this.#helper(place).get(host);
        if (found !== undefined) return found;
      } else {
        // Only the best key is read: an empty entry there defers to the helpers, as in Docker,
        // not to a less specific key, as in podman.
        const credential = this.#auths.get(place.keys[0])?.credential;
        if (credential !== undefined) return { ...credential };
      }
    }
    return undefined;
  }

  /**
   * Keeps `credential` for `key` where its placement says, changing {@linkcode raw}. `key` is a
   * registry host, or `HOST/NAMESPACE` for a credential scoped to a repository or a namespace
   * of repositories, as `podman login HOST/NAMESPACE` keeps it. For a host: through the
   * helper, leaving an empty `auths` entry that tells Docker a credential exists and hides any
   * stale one in the file; else in the `auths` entry itself. A scoped credential goes into its
   * `auths` entry; a host whose credentials a helper keeps refuses it. Other fields of the
   * entry (`email`) are kept. The credentials of other entries for the same key
   * (`http://HOST/v2/`, an alias of Docker Hub) go: lookups ignore them, and an old password
   * would stay in the file.
   *
   * @throws {UsageError} when the credential cannot be kept (an empty password, a username
   * with `:`), when `key` names no registry, or when it is scoped and the host's credentials
   * are kept by a helper.
   * @throws {AuthError} when the helper is missing or fails.
   */
  async put(key: string, credential: Credential): Promise<void> {
    const fields = authsFields(credential);
    const target = checkedKey(key);
    const registry = target.host;
    const place = this.placement(registry).write;
    if (target.namespace !== undefined && place.kind === "helper") {
      throw new UsageError(
        `${this.path} keeps the credentials of ${registry} in a credential helper ` +
          `(${place.field}), which keeps one per registry: the credential for ` +
          `${formatAuthKey(target)} was not saved`,
        {
          hint: `log in to ${registry} itself, or set REGISTRY_AUTH_FILE to a file ` +
            `without credential helpers`,
        },
      );
    }
    const auths = isObject(this.raw.auths) ? this.raw.auths : {};
    const written = formatAuthKey(target);
    const entry = withoutCredential(auths[written]);
    for (const other of sameKeys(Object.keys(auths), target)) {
      if (other === written) continue;
      const rest = withoutCredential(auths[other]);
      if (Object.keys(rest).length === 0) delete auths[other];
      else auths[other] = rest;
    }
    if (place.kind === "helper") {
      await this.#helper(place).put(registry, credential);
      auths[written] = entry;
    } else {
      auths[written] = { ...entry, ...fields };
    }
    this.raw.auths = auths;
  }

  /**
   * Forgets the credential of `key` (a host, or `HOST/NAMESPACE`; see
   * {@linkcode DockerConfig.put}), changing {@linkcode raw}. For a host: through the helper its
   * placement writes to, and every `auths` entry for the whole registry; the entries scoped
   * to its namespaces stay, as `podman logout HOST` leaves them. For a scoped key: its `auths`
   * entries alone, whatever form its host is written in. Resolves whether anything was removed.
   *
   * @throws {UsageError} when `key` names no registry.
   * @throws {AuthError} when the helper is missing or fails.
   */
  async erase(key: string): Promise<boolean> {
    const target = checkedKey(key);
    const auths = isObject(this.raw.auths) ? this.raw.auths : {};
    // The file's own entries first: a helper that is missing or fails must not keep them.
    const keys = sameKeys(Object.keys(auths), target);
    for (const found of keys) delete auths[found];
    let removed = keys.length > 0;
    const { write } = this.placement(target.host);
    if (target.namespace === undefined && write.kind === "helper") {
      if (await this.#helper(write).erase(target.host)) removed = true;
    }
    return removed;
  }

  #helper(place: Place & { kind: "helper" }): CredentialHelper {
    return new CredentialHelper(place.name, {
      env: this.#env,
      origin: { path: this.path, field: place.field },
    });
  }
}

/**
 * A Docker config file (or containers' `auth.json`) as a {@linkcode CredentialStore}. The file
 * is read at each call, so that it may change between them; a missing file holds nothing, and
 * is created by `put` (in a folder with mode 0700). Writes are atomic, with mode 0600, through
 * a symlink rather than over it, and keep every other part of the file.
 *
 * @example
 * ```ts
 * import { DockerConfigStore } from "./docker_config.ts";
 * const store = new DockerConfigStore(`${await Deno.makeTempDir()}/config.json`);
 * await store.put("docker.io", { username: "me", password: "s3cret" });
 * // the file: {"auths": {"https://index.docker.io/v1/": {"auth": "bWU6czNjcmV0"}}}
 * await store.erase("docker.io"); // true
 * ```
 */
export class DockerConfigStore implements CredentialStore {
  /** The config file. */
  readonly path: string;
  #options: DockerConfigOptions;

  /** A store over the config at `path`; nothing is read until it is used. */
  constructor(path: string, options: DockerConfigOptions = {}) {
    this.path = path;
    this.#options = options;
  }

  /**
   * The credential for `repository` of `host`: see {@linkcode DockerConfig.get}.
   *
   * @throws {UsageError} when the file is malformed.
   * @throws {AuthError} when a helper it needs is missing or fails.
   */
  async get(host: string, repository?: string): Promise<Credential | undefined> {
    const config = await this.#read();
    if (config === undefined) return undefined;
    if (config.holdsSecrets) await this.#options.onSecrets?.(this.path);
    return config.get(host, repository);
  }

  /**
   * Keeps `credential` for `key`, a host or `HOST/NAMESPACE`: see {@linkcode DockerConfig.put}.
   * A malformed file is left as it is.
   *
   * @throws {UsageError} when the credential, the key or the file is malformed, or the key
   * is scoped and a helper keeps the host's credentials.
   * @throws {AuthError} when a helper is missing or fails.
   */
  async put(key: string, credential: Credential): Promise<void> {
    // Checked before the file is read, so that a bad credential is reported as such.
    authsFields(credential);
    await this.#changing(async () => {
      const config = await this.#read() ??
        DockerConfig.parse({}, this.path, this.#options);
      await config.put(key, credential);
      await writeJsonObject(this.path, config.raw);
    });
  }

  /**
   * Forgets the credential of `key`, a host or `HOST/NAMESPACE`: see
   * {@linkcode DockerConfig.erase}. The file is written only when an entry was removed from it.
   *
   * @throws {UsageError} when the file or the key is malformed.
   * @throws {AuthError} when a helper is missing or fails.
   */
  async erase(key: string): Promise<boolean> {
    // No file, nothing to forget, and no folder or lock to make for it.
    if (statOrUndefined(this.path) === undefined) return false;
    return await this.#changing(async () => {
      const config = await this.#read();
      if (config === undefined) return false;
      const before = JSON.stringify(config.raw);
      // The file's entries go even when the helper fails: its error is reported after.
      const erased = await config.erase(key).then(
        (removed) => ({ removed, error: undefined }),
        (error) => ({ removed: false, error }),
      );
      if (JSON.stringify(config.raw) !== before) await writeJsonObject(this.path, config.raw);
      if (erased.error !== undefined) throw erased.error;
      return erased.removed || JSON.stringify(config.raw) !== before;
    });
  }

  /**
   * Runs a read, change and write of the file under its lock (`PATH.lock`), so that two logins
   * at once keep both entries. The file must be this process's user's: rewritten by another
   * user (root, on a host), it would change owner, and its owner would lose it.
   */
  async #changing<T>(change: () => Promise<T>): Promise<T> {
    await refuseExposed(this.path, parentOf(this.path) || ".");
    await makeFolderOf(this.path);
    const lockPath = `${this.path}.lock`;
    const { withLock } = await import("../fs/lock.ts");
    return await withLock(lockPath, async () => {
      const [mine, file] = await Promise.all([
        Deno.lstat(lockPath),
        Deno.stat(this.path).catch(() => undefined),
      ]);
      if (file !== undefined && mine.uid !== null && file.uid !== mine.uid) {
        throw new OcisyncError(
          `${this.path} belongs to user ${file.uid}, and this process runs as user ${mine.uid}: ` +
            `rewritten, the file would change owner; it was left as it is`,
          { hint: "log in as the file's owner, or set DOCKER_CONFIG to a folder of your own" },
        );
      }
      return await change();
    });
  }

  async #read(): Promise<DockerConfig | undefined> {
    const raw = await readJsonObject(this.path, this.#options.label ?? "Docker config");
    return raw === undefined ? undefined : DockerConfig.parse(raw, this.path, this.#options);
  }
}

/**
 * Options of {@linkcode saveCredential} and {@linkcode removeCredential}.
 *
 * @example
 * ```ts
 * import type { SaveCredentialOptions } from "./docker_config.ts";
 * const options: SaveCredentialOptions = { configPath: "/tmp/docker/config.json" };
 * ```
 */
export interface SaveCredentialOptions {
  /** The file to change. Default: {@linkcode loginFilePath}, the first that lookups read. */
  configPath?: string;
  /** Reads environment variables: `DOCKER_CONFIG`, `HOME`, and `PATH` for helpers. */
  env?: EnvLookup;
  /** The home directory. Default: `$HOME`, else `$USERPROFILE`. */
  home?: string;
}

/**
 * Saves a credential as `docker login` does, or, for a key scoped to a repository or
 * namespace (`HOST/NAMESPACE`), as `podman login` does (see {@linkcode DockerConfigStore.put}),
 * and returns the path of the file written: {@linkcode loginFilePath} (`$REGISTRY_AUTH_FILE`
 * when set, else the Docker config) unless `options.configPath` is given.
 *
 * @throws {UsageError} when the credential or the existing config is malformed, or a scoped
 * key meets a credential helper.
 * @throws {AuthError} when a credential helper is missing or fails.
 * @example
 * ```ts
 * import { saveCredential } from "./docker_config.ts";
 * const configPath = `${await Deno.makeTempDir()}/config.json`;
 * await saveCredential("ghcr.io", { username: "me", password: "s3cret" }, { configPath });
 * ```
 */
export async function saveCredential(
  key: string,
  credential: { username: string; password: string },
  options: SaveCredentialOptions,
): Promise<string> {
  // The credential is checked before the path, which may not be found.
  authsFields(credential);
  const env = options.env ?? defaultEnv;
  const path = options.configPath ?? loginFilePath(env, options.home);
  await new DockerConfigStore(path, { env }).put(key, credential);
  return path;
}

/**
 * Removes a registry's credential from one file as `docker logout` does, or the one scoped
 * to `HOST/NAMESPACE` alone as `podman logout` does (see {@linkcode DockerConfigStore.erase}):
 * `options.configPath`, else {@linkcode loginFilePath}. Resolves whether anything was removed.
 * Lookups read other files too ({@linkcode authFilePaths}): to forget a key everywhere, remove
 * it from each.
 *
 * @throws {UsageError} when the existing config is malformed.
 * @throws {AuthError} when a credential helper is missing or fails.
 * @example
 * ```ts
 * import { removeCredential } from "./docker_config.ts";
 * const configPath = `${await Deno.makeTempDir()}/config.json`;
 * await removeCredential("ghcr.io", { configPath }); // false: nothing was saved
 * ```
 */
export function removeCredential(
  key: string,
  options: SaveCredentialOptions,
): Promise<boolean> {
  const env = options.env ?? defaultEnv;
  const path = options.configPath ?? loginFilePath(env, options.home);
  return new DockerConfigStore(path, { env }).erase(key);
}

function parseAuthEntry(key: string, value: unknown, path: string): AuthEntry {
  const field = `auths[${JSON.stringify(key)}]`;
  if (!isObject(value)) throw malformed(path, `${field} must be an object`);
  for (const name of CREDENTIAL_FIELDS) {
    if (value[name] !== undefined && typeof value[name] !== "string") {
      throw malformed(path, `${field}.${name} must be a string`);
    }
  }
  let username = value.username as string | undefined;
  let password = value.password as string | undefined;
  const auth = value.auth as string | undefined;
  if (auth !== undefined && auth !== "") {
    // The value is never quoted in the error: it is the password, barely disguised.
    const decoded = decodeBase64(auth);
    const colon = decoded?.indexOf(":") ?? -1;
    if (decoded === undefined || colon < 0) {
      throw malformed(path, `${field}.auth must be base64 of "username:password"`);
    }
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  const identityToken = value.identitytoken || undefined;
  const registryToken = value.registrytoken || undefined;
  const credential: Credential = {};
  if (username) credential.username = username;
  if (password !== undefined && (username || password !== "")) credential.password = password;
  if (typeof identityToken === "string") credential.identityToken = identityToken;
  if (typeof registryToken === "string") credential.registryToken = registryToken;
  // Docker Desktop leaves empty entries for credentials kept in its store; a username alone
  // cannot authenticate either. Both fall through to the next source.
  const usable = credential.password !== undefined || identityToken !== undefined ||
    registryToken !== undefined;
  return { credential: usable ? credential : undefined };
}

/**
 * The fields of an `auths` entry that hold `credential`, checked: `auth` for a username and
 * password, `identitytoken` (with `username`, if any), `registrytoken`.
 */
function authsFields(credential: Credential): Record<string, string> {
  const { username, password, identityToken, registryToken } = credential;
  if (identityToken || registryToken) {
    const fields: Record<string, string> = {};
    if (username) fields.username = username;
    if (identityToken) fields.identitytoken = identityToken;
    if (registryToken) fields.registrytoken = registryToken;
    return fields;
  }
  if (username === undefined || username === "" || username.includes(":")) {
    // "user:pass" is split at the first colon, so a username cannot contain one.
    throw new UsageError('the username must not be empty or contain ":"');
  }
  if (password === undefined || password === "") {
    throw new UsageError("the password must not be empty");
  }
  return { auth: encodeBase64(`${username}:${password}`) };
}

/** A copy of an `auths` entry without its credential fields, to keep e.g. `email`. */
function withoutCredential(entry: unknown): Record<string, unknown> {
  if (!isObject(entry)) return {};
  return Object.fromEntries(
    Object.entries(entry).filter(([name]) => !CREDENTIAL_FIELDS.includes(name)),
  );
}

/**
 * The keys among `keys` for `repository` of `host` (for the whole registry without it), best
 * first: the most specific (see {@linkcode keySpecificity}); among keys as specific, the one
 * `docker login` or `podman login` writes, else one without a scheme, else an https URL, else
 * any other form; ties go to the first in code-point order, so that the choice does not depend
 * on the order of the file.
 */
function matchingKeys(keys: Iterable<string>, host: string, repository?: string): string[] {
  const matching: { key: string; specificity: number; spelling: number }[] = [];
  for (const key of keys) {
    const parsed = parseAuthKey(key);
    if (parsed?.host !== host) continue;
    const specificity = keySpecificity(parsed, repository);
    if (specificity === undefined) continue;
    matching.push({ key, specificity, spelling: spellingRank(key, parsed) });
  }
  return matching
    .sort((a, b) =>
      b.specificity - a.specificity || a.spelling - b.spelling ||
      (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
    )
    .map(({ key }) => key);
}

/** The keys among `keys` that name exactly `target`: its host and namespace, in any form. */
function sameKeys(keys: Iterable<string>, target: AuthKey): string[] {
  return [...keys].filter((key) => {
    const parsed = parseAuthKey(key);
    return parsed?.host === target.host && parsed.namespace === target.namespace;
  });
}

/** How usual a key's form is: the one `docker login` writes, a bare host, https, other URLs. */
function spellingRank(key: string, parsed: AuthKey): number {
  if (key === formatAuthKey(parsed)) return 0;
  return !key.includes("://") ? 1 : /^https:/i.test(key) ? 2 : 3;
}

/** `key` as `put` and `erase` take it: a host, or `HOST/NAMESPACE`. */
function checkedKey(key: string): AuthKey {
  const parsed = parseAuthKey(key);
  if (parsed === undefined) {
    throw new UsageError(`"${key}" names no registry, nor a repository or namespace in one`);
  }
  return parsed;
}

function encodeBase64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

function decodeBase64(text: string): string | undefined {
  try {
    const binary = atob(text.trim());
    const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
