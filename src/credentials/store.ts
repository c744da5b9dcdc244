/**
 * What every credential source has in common: the {@linkcode Credential} it yields, the
 * {@linkcode CredentialStore} interface that Docker configs and credential helpers implement,
 * and how registry hosts and config keys are normalised, so that `docker.io`,
 * `index.docker.io` and `https://index.docker.io/v1/` find the same credential.
 *
 * @example
 * ```ts
 * import { normaliseHost, serverAddress } from "./store.ts";
 * normaliseHost("Registry-1.Docker.io"); // "docker.io"
 * serverAddress("docker.io"); // "https://index.docker.io/v1/"
 * ```
 * @module
 */
import { DEFAULT_REGISTRY, DOCKER_HUB_ALIASES } from "../ref/mod.ts";

/**
 * What a registry accepts to authenticate: a username and password; an identity token (an
 * OAuth2 refresh token, exchanged at the registry's token server), possibly with the username
 * it belongs to; or a registry token (a bearer token the registry takes as it is, Docker's
 * `registrytoken`).
 *
 * @example
 * ```ts
 * import type { Credential } from "./store.ts";
 * const basic: Credential = { username: "me", password: "s3cret" };
 * const refresh: Credential = { identityToken: "eyJ…" };
 * ```
 */
export interface Credential {
  /** The user name, for basic authentication or a token request. */
  username?: string;
  /** The password or personal access token. */
  password?: string;
  /** An OAuth2 refresh token, exchanged at the registry's token server. */
  identityToken?: string;
  /** A bearer token for the registry itself, sent as it is. */
  registryToken?: string;
}

/**
 * A place that keeps credentials per registry host, as oras-go's `credentials.Store` and
 * go-containerregistry's keychains do: a Docker config, a `docker-credential-*` helper.
 * Hosts are given as references name them (`docker.io`, `ghcr.io`, `127.0.0.1:5000`); each
 * store normalises them with {@linkcode normaliseHost}. `get` is also told the repository,
 * for stores that keep credentials per repository or namespace too (an auth file's
 * `quay.io/org` key): such a credential is for that repository, or those under that
 * namespace, and never for another.
 *
 * @example
 * ```ts
 * import type { Credential, CredentialStore } from "./store.ts";
 * // A store in memory, as a test might use.
 * const saved = new Map<string, Credential>();
 * const store: CredentialStore = {
 *   get: async (host) => saved.get(host),
 *   put: async (host, credential) => void saved.set(host, credential),
 *   erase: async (host) => saved.delete(host),
 * };
 * await store.put("ghcr.io", { username: "me", password: "s3cret" });
 * ```
 */
export interface CredentialStore {
  /**
   * The credential kept for `repository` of `host` (the most specific one, where a store keeps
   * some per namespace), or `undefined` when there is none. Without `repository`, the one for
   * the whole registry.
   */
  get(host: string, repository?: string): Promise<Credential | undefined>;
  /** Keeps `credential` for `host`, replacing any other. */
  put(host: string, credential: Credential): Promise<void>;
  /** Forgets the credential kept for `host`; resolves whether there was one. */
  erase(host: string): Promise<boolean>;
}

/**
 * Something that yields credentials, such as one link of a chain: every
 * {@linkcode CredentialStore}, and read-only sources such as a `--credentials` file.
 *
 * @example
 * ```ts
 * import type { CredentialSource } from "./store.ts";
 * const anonymous: CredentialSource = { get: async () => undefined };
 * ```
 */
export type CredentialSource = Pick<CredentialStore, "get">;

/**
 * Reads an environment variable; `undefined` when it is not set.
 *
 * @example
 * ```ts
 * import type { EnvLookup } from "./store.ts";
 * const env: EnvLookup = (name) => ({ HOME: "/home/me" } as Record<string, string>)[name];
 * ```
 */
export type EnvLookup = (name: string) => string | undefined;

/**
 * The key Docker has always written for Docker Hub, in config files and towards credential
 * helpers, where every other registry is keyed by its host.
 *
 * @example
 * ```ts
 * import { DOCKER_HUB_SERVER_ADDRESS, hostOfKey } from "./store.ts";
 * hostOfKey(DOCKER_HUB_SERVER_ADDRESS); // "docker.io"
 * ```
 */
export const DOCKER_HUB_SERVER_ADDRESS = "https://index.docker.io/v1/";

/**
 * `Deno.env.get`: the default {@linkcode EnvLookup}.
 *
 * @example
 * ```ts
 * import { defaultEnv } from "./store.ts";
 * defaultEnv("HOME"); // "/home/me", with --allow-env
 * ```
 */
export function defaultEnv(name: string): string | undefined {
  return Deno.env.get(name);
}

/**
 * A registry host as credential stores key it: lowercase, Docker Hub's aliases and config keys
 * (`index.docker.io`, `https://index.docker.io/v1/`) as `docker.io`. Anything that names no
 * registry is only lowercased.
 *
 * @example
 * ```ts
 * import { normaliseHost } from "./store.ts";
 * normaliseHost("GHCR.io"); // "ghcr.io"
 * normaliseHost("index.docker.io"); // "docker.io"
 * ```
 */
export function normaliseHost(registry: string): string {
  return hostOfKey(registry) ?? registry.toLowerCase();
}

/**
 * What an `auths` key names: a registry `host`, normalised as {@linkcode normaliseHost} does,
 * and, for a key scoped as containers-auth.json(5) describes (`quay.io/org`,
 * `registry.local/team/app`), the `namespace`: the repository, or the path above some
 * repositories, that its credential is for.
 *
 * @example
 * ```ts
 * import type { AuthKey } from "./store.ts";
 * const key: AuthKey = { host: "quay.io", namespace: "org/app" };
 * ```
 */
export interface AuthKey {
  /** The registry host: `docker.io` for Docker Hub's aliases. */
  host: string;
  /** The repository or namespace path the key is scoped to; none for the whole registry. */
  namespace?: string;
}

/**
 * What a config key names, or `undefined` for a key that names no registry. Keys may be URLs
 * (`https://host/v1/`, `http://host:5000`), hosts, hosts with an API path (`host/v2/`): all name
 * the whole registry, as Docker reads them. A key without a scheme whose path is not the API's
 * is scoped to that path (`quay.io/org/app`), as podman and skopeo write and read them; a path
 * with an empty segment (`quay.io/org/`, `quay.io//app`) names nothing, as no repository can be
 * under it.
 *
 * @example
 * ```ts
 * import { parseAuthKey } from "./store.ts";
 * parseAuthKey("https://index.docker.io/v1/"); // { host: "docker.io" }
 * parseAuthKey("Quay.io/org/app"); // { host: "quay.io", namespace: "org/app" }
 * ```
 */
export function parseAuthKey(key: string): AuthKey | undefined {
  let rest = key.trim();
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(rest);
  if (scheme !== null) rest = rest.slice(scheme[0].length);
  const slash = rest.indexOf("/");
  let host = slash < 0 ? rest : rest.slice(0, slash);
  const tail = slash < 0 ? "" : rest.slice(slash);
  host = host.replace(/^[^@]*@/, "").toLowerCase();
  if (host === "") return undefined;
  host = DOCKER_HUB_ALIASES.has(host) ? DEFAULT_REGISTRY : host;
  // A URL's path, and the API's path, are Docker's ways to write the whole registry.
  if (scheme !== null || /^\/*(?:v[12]\/*)?$/.test(tail)) return { host };
  const namespace = tail.slice(1);
  return namespace.split("/").includes("") ? undefined : { host, namespace };
}

/**
 * The registry host a config key names when it names the whole registry, or `undefined` for a
 * key scoped to a namespace (`quay.io/org`) and for one that names no registry; see
 * {@linkcode parseAuthKey}.
 *
 * @example
 * ```ts
 * import { hostOfKey } from "./store.ts";
 * hostOfKey("https://index.docker.io/v1/"); // "docker.io"
 * hostOfKey("http://127.0.0.1:5000/v2/"); // "127.0.0.1:5000"
 * hostOfKey("quay.io/some-org"); // undefined
 * ```
 */
export function hostOfKey(key: string): string | undefined {
  const parsed = parseAuthKey(key);
  return parsed?.namespace === undefined ? parsed?.host : undefined;
}

/**
 * How specific `key` is for `repository` of its registry: the number of path segments of its
 * namespace when the repository is that namespace or below it, 0 for a key of the whole
 * registry, `undefined` when the key is not for the repository. Without a repository (a
 * request to the registry itself, `GET /v2/`), only keys of the whole registry are for it.
 * Segments are compared whole: `team` is not above `team-b/app`.
 *
 * @example
 * ```ts
 * import { keySpecificity } from "./store.ts";
 * keySpecificity({ host: "r.io", namespace: "team" }, "team/app"); // 1
 * keySpecificity({ host: "r.io" }, "team/app"); // 0
 * keySpecificity({ host: "r.io", namespace: "team/other" }, "team/app"); // undefined
 * ```
 */
export function keySpecificity(key: AuthKey, repository?: string): number | undefined {
  if (key.namespace === undefined) return 0;
  if (repository !== undefined && `${repository}/`.startsWith(`${key.namespace}/`)) {
    return key.namespace.split("/").length;
  }
  return undefined;
}

/**
 * The key written for `key` in `auths`: {@linkcode serverAddress} for a whole registry, as
 * `docker login` writes it; `HOST/NAMESPACE` for a scoped one, as `podman login` writes it.
 *
 * @example
 * ```ts
 * import { formatAuthKey } from "./store.ts";
 * formatAuthKey({ host: "docker.io" }); // "https://index.docker.io/v1/"
 * formatAuthKey({ host: "docker.io", namespace: "acme/app" }); // "docker.io/acme/app"
 * ```
 */
export function formatAuthKey(key: AuthKey): string {
  const host = normaliseHost(key.host);
  return key.namespace === undefined ? serverAddress(host) : `${host}/${key.namespace}`;
}

/**
 * The key `docker login` writes for a host in `auths`, which is also the server URL given to
 * credential helpers: {@linkcode DOCKER_HUB_SERVER_ADDRESS} for Docker Hub, the host otherwise.
 *
 * @example
 * ```ts
 * import { serverAddress } from "./store.ts";
 * serverAddress("docker.io"); // "https://index.docker.io/v1/"
 * serverAddress("ghcr.io"); // "ghcr.io"
 * ```
 */
export function serverAddress(host: string): string {
  const normalised = normaliseHost(host);
  return normalised === DEFAULT_REGISTRY ? DOCKER_HUB_SERVER_ADDRESS : normalised;
}
