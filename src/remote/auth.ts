/**
 * Authenticated requests to registries, as Docker's clients make them: a lazy `GET /v2/` ping
 * per registry learns the challenge; `Basic` challenges get the credentials directly; `Bearer`
 * challenges get a token from the realm (Docker token spec), cached per registry and scope set
 * until it expires. Credentials come from a {@linkcode CredentialLookup}, asked once per
 * registry, and never appear in logs or errors.
 *
 * @example
 * ```ts
 * import { RegistryClient, repositoryScope } from "./auth.ts";
 * const client = new RegistryClient({
 *   credentials: async () => ({ username: "me", password: "secret" }),
 * });
 * const response = await client.request("ghcr.io", [repositoryScope("org/app", ["pull"])], {
 *   method: "HEAD",
 *   url: client.url("ghcr.io", "/v2/org/app/manifests/latest"),
 * });
 * console.log(response.status);
 * ```
 * @module
 */
import { AuthError } from "../errors/mod.ts";
import type { Credential, CredentialLookup } from "./credentials.ts";
import { registryHost } from "../ref/mod.ts";
import { type Challenge, parseChallenges } from "./challenge.ts";
import {
  discardBody,
  type HttpRequest,
  type HttpResponse,
  readBody,
  responseError,
  Transport,
  type TransportOptions,
} from "./transport.ts";

/**
 * An action on a repository, as token scopes name them.
 *
 * @example
 * ```ts
 * import type { Action } from "./auth.ts";
 * const actions: Action[] = ["pull", "push"];
 * ```
 */
export type Action = "pull" | "push";

/**
 * The token scope for actions on a repository: `repository:NAME:pull,push`.
 *
 * @example
 * ```ts
 * import { repositoryScope } from "./auth.ts";
 * repositoryScope("library/alpine", ["pull"]); // "repository:library/alpine:pull"
 * ```
 */
export function repositoryScope(repository: string, actions: readonly Action[]): string {
  return `repository:${repository}:${actions.join(",")}`;
}

/**
 * Options of {@linkcode RegistryClient}: how to connect, and where credentials come from.
 *
 * @example
 * ```ts
 * import type { RegistryClientOptions } from "./auth.ts";
 * const options: RegistryClientOptions = { plainHttp: true, log: console.error };
 * ```
 */
export interface RegistryClientOptions extends TransportOptions {
  /** Where credentials come from. Without it, every request is anonymous. */
  credentials?: CredentialLookup;
}

/** A bearer token and when to stop using it. */
interface CachedToken {
  token: string;
  expiresAt: number;
}

// The Docker token spec's lifetime when a token server gives none.
const DEFAULT_TOKEN_LIFETIME_S = 60;
// Stop using a token a little early, so that it does not expire on its way to the registry.
const TOKEN_EXPIRY_MARGIN_MS = 5_000;
const TOKEN_RESPONSE_LIMIT = 1024 * 1024;
const OAUTH_CLIENT_ID = "ocisync";

/**
 * An HTTP client that authenticates to registries. One per process is enough: share it among
 * targets so that pings, credentials and tokens are reused. Safe for concurrent requests.
 *
 * @example
 * ```ts
 * import { RegistryClient } from "./auth.ts";
 * const client = new RegistryClient();
 * const response = await client.request("localhost:5000", [], {
 *   method: "GET",
 *   url: client.url("localhost:5000", "/v2/_catalog"),
 * });
 * console.log(response.status);
 * client.close();
 * ```
 */
export class RegistryClient {
  #transport: Transport;
  #lookup?: CredentialLookup;
  /** Per registry host: the challenge of its `/v2/`, or undefined when it needs no auth. */
  #challenges = new Map<string, Promise<Challenge | undefined>>();
  /** Per registry as written in references. */
  #credentials = new Map<string, Promise<Credential | undefined>>();
  /** Per registry host and sorted scope set. */
  #tokens = new Map<string, Promise<CachedToken>>();

  /** Creates a client; nothing is sent until the first request. */
  constructor(options: RegistryClientOptions = {}) {
    this.#transport = new Transport(options);
    this.#lookup = options.credentials;
  }

  /**
   * The URL of `path` on a registry; see {@linkcode Transport.registryUrl}.
   *
   * @example
   * ```ts
   * import { RegistryClient } from "./auth.ts";
   * new RegistryClient().url("ghcr.io", "/v2/").href; // "https://ghcr.io/v2/"
   * ```
   */
  url(registry: string, path: string): URL {
    return this.#transport.registryUrl(registry, path);
  }

  /**
   * Sends a request to `registry` with the authorization that its challenge asks for, for the
   * given token scopes. On a 401 it answers the challenge of that response with fresh
   * credentials or a fresh token once, never more. Any status is returned, 401 included: map
   * failures with {@linkcode responseError}.
   *
   * @throws {AuthError} when the token server refuses the credentials, or a challenge is
   * malformed.
   * @throws {NetworkError} when the registry or the token server cannot be reached.
   * @example
   * ```ts
   * import { RegistryClient, repositoryScope } from "./auth.ts";
   * const client = new RegistryClient();
   * const scopes = [repositoryScope("library/alpine", ["pull"])];
   * const response = await client.request("docker.io", scopes, {
   *   method: "HEAD",
   *   url: client.url("docker.io", "/v2/library/alpine/manifests/latest"),
   *   headers: { accept: "application/vnd.oci.image.index.v1+json" },
   * });
   * console.log(response.headers.get("docker-content-digest"));
   * ```
   */
  async request(
    registry: string,
    scopes: readonly string[],
    request: HttpRequest,
  ): Promise<HttpResponse> {
    const challenge = await this.#challenge(registry);
    const authorization = await this.#authorization(registry, challenge, scopes, false);
    const response = await this.#transport.fetch({ ...request, authorization });
    if (response.status !== 401) return response;
    // A token can expire or be revoked early, and a registry may ask for credentials on some
    // repositories only, after an anonymous ping: answer this response's challenge, once.
    let renewed: Challenge | undefined;
    try {
      renewed = selectChallenge(response.headers.get("www-authenticate")) ?? challenge;
    } catch (error) {
      await discardBody(response);
      throw error;
    }
    if (renewed !== undefined) {
      this.#challenges.set(registryHost(registry), Promise.resolve(renewed));
    }
    const retried = await this.#authorization(registry, renewed, scopes, true);
    if (retried === undefined || retried === authorization) return response;
    await discardBody(response);
    return await this.#transport.fetch({ ...request, authorization: retried });
  }

  /** Releases the TLS client made for a `caFile`, if any. */
  close(): void {
    this.#transport.close();
  }

  #challenge(registry: string): Promise<Challenge | undefined> {
    const host = registryHost(registry);
    let challenge = this.#challenges.get(host);
    if (challenge === undefined) {
      challenge = this.#ping(registry);
      this.#challenges.set(host, challenge);
      // A failed ping is not remembered: the next request pings again.
      challenge.catch(() => {
        if (this.#challenges.get(host) === challenge) this.#challenges.delete(host);
      });
    }
    return challenge;
  }

  async #ping(registry: string): Promise<Challenge | undefined> {
    const response = await this.#transport.fetch({
      method: "GET",
      url: this.url(registry, "/v2/"),
    });
    if (response.status === 401) {
      await discardBody(response);
      return selectChallenge(response.headers.get("www-authenticate"));
    }
    if (response.status !== 200) {
      throw await responseError(response, { registry, subject: `API of ${registry}` });
    }
    await discardBody(response);
    return undefined;
  }

  async #authorization(
    registry: string,
    challenge: Challenge | undefined,
    scopes: readonly string[],
    refresh: boolean,
  ): Promise<string | undefined> {
    if (challenge === undefined) return undefined;
    const credential = await this.#credential(registry);
    if (challenge.scheme === "basic") return basicAuthorization(credential);
    return `Bearer ${await this.#token(registry, challenge, scopes, credential, refresh)}`;
  }

  #credential(registry: string): Promise<Credential | undefined> {
    let credential = this.#credentials.get(registry);
    if (credential === undefined) {
      credential = this.#lookup?.(registry) ?? Promise.resolve(undefined);
      this.#credentials.set(registry, credential);
    }
    return credential;
  }

  async #token(
    registry: string,
    challenge: Challenge,
    scopes: readonly string[],
    credential: Credential | undefined,
    refresh: boolean,
  ): Promise<string> {
    const key = `${registryHost(registry)} ${[...new Set(scopes)].sort().join(" ")}`;
    const cached = refresh ? undefined : this.#tokens.get(key);
    if (cached !== undefined) {
      // Concurrent requests share one pending token request; a failed one is not reused.
      const token = await cached.catch(() => undefined);
      if (token !== undefined && token.expiresAt > Date.now()) return token.token;
    }
    const fresh = this.#fetchToken(registry, challenge, scopes, credential);
    this.#tokens.set(key, fresh);
    return (await fresh).token;
  }

  async #fetchToken(
    registry: string,
    challenge: Challenge,
    scopes: readonly string[],
    credential: Credential | undefined,
  ): Promise<CachedToken> {
    const realm = URL.parse(challenge.params.get("realm") ?? "");
    if (realm === null || (realm.protocol !== "https:" && realm.protocol !== "http:")) {
      throw new AuthError(`${registry} sent a Bearer challenge without a valid realm URL`);
    }
    const service = challenge.params.get("service");
    const requestedAt = Date.now();
    let response: HttpResponse;
    if (credential?.identityToken) {
      response = await this.#postToken(realm, service, scopes, credential.identityToken);
      // The token spec lets servers without OAuth2 answer 404; they take the token as password.
      if (response.status === 404) {
        await discardBody(response);
        const basic = { username: credential.username, password: credential.identityToken };
        response = await this.#getToken(realm, service, scopes, basic);
      }
    } else {
      response = await this.#getToken(realm, service, scopes, credential);
    }
    if (response.status !== 200) {
      throw await responseError(response, { registry, subject: `token for ${registry}` });
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown } | null;
    try {
      body = JSON.parse(new TextDecoder().decode(await readBody(response, TOKEN_RESPONSE_LIMIT)));
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      body = null;
    }
    const token = body?.token ?? body?.access_token;
    if (typeof token !== "string" || token === "") {
      throw new AuthError(`the token server of ${registry} answered without a token`);
    }
    const lifetime = typeof body?.expires_in === "number" && body.expires_in > 0
      ? body.expires_in
      : DEFAULT_TOKEN_LIFETIME_S;
    return { token, expiresAt: requestedAt + lifetime * 1000 - TOKEN_EXPIRY_MARGIN_MS };
  }

  /** The Docker token protocol: a GET, with Basic credentials when there are some. */
  #getToken(
    realm: URL,
    service: string | undefined,
    scopes: readonly string[],
    credential: Credential | undefined,
  ): Promise<HttpResponse> {
    const url = new URL(realm);
    if (service !== undefined) url.searchParams.set("service", service);
    for (const scope of scopes) url.searchParams.append("scope", scope);
    return this.#transport.fetch({
      method: "GET",
      url,
      authorization: basicAuthorization(credential),
    });
  }

  /** OAuth2's refresh-token grant, which the token spec uses for identity tokens. */
  #postToken(
    realm: URL,
    service: string | undefined,
    scopes: readonly string[],
    refreshToken: string,
  ): Promise<HttpResponse> {
    const form = new URLSearchParams({
      grant_type: "refresh_token",
      refresh_token: refreshToken,
      client_id: OAUTH_CLIENT_ID,
      scope: scopes.join(" "),
    });
    if (service !== undefined) form.set("service", service);
    return this.#transport.fetch({
      method: "POST",
      url: realm,
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new TextEncoder().encode(form.toString()),
    });
  }
}

/** The challenge to answer: Bearer if offered, else Basic; none for other schemes. */
function selectChallenge(header: string | null): Challenge | undefined {
  const challenges = parseChallenges(header ?? "");
  return challenges.find((c) => c.scheme === "bearer") ??
    challenges.find((c) => c.scheme === "basic");
}

function basicAuthorization(credential: Credential | undefined): string | undefined {
  if (credential?.username === undefined || credential.password === undefined) return undefined;
  const bytes = new TextEncoder().encode(`${credential.username}:${credential.password}`);
  return `Basic ${btoa(Array.from(bytes, (byte) => String.fromCharCode(byte)).join(""))}`;
}
