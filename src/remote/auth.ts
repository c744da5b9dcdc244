/**
 * Authenticated requests to registries, as oras-go's client makes them: no `GET /v2/` ping, but
 * the first request to a registry goes as it is, and a 401 names the challenge, which is then
 * kept for that registry; `Basic` challenges get the credentials directly; `Bearer` challenges
 * get a token from the realm (Docker token spec), cached per registry, repository and scope set
 * until it expires. Credentials come from a {@linkcode CredentialLookup}, asked once per
 * repository that requests are for (an auth file may keep one per repository or namespace),
 * and never appear in logs or errors. Tokens are checked against RFC 6750's token
 * syntax, and user names and passwords for line breaks, before they go into a header.
 *
 * A refusal says what is true: no credentials were found, the registry refused the credentials
 * of a named user, or it did not grant that user the access asked for.
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
import type { Credential, CredentialLookup } from "../credentials/mod.ts";
import {
  AuthError,
  type RegistryAuthError,
  registryDetails,
  type RegistryError,
  registryError,
} from "../errors/mod.ts";
import { isLoopbackRegistry, registryHost } from "../ref/mod.ts";
import { type Challenge, parseChallenges } from "./challenge.ts";
import {
  abortable,
  discardBody,
  type HttpRequest,
  type HttpResponse,
  readBody,
  refuseDowngrade,
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
// Stop using a token a little early, so that it does not expire on its way to the registry:
// 5 s, or a tenth of a shorter lifetime, whose token would otherwise be stale from the start
// and fetched anew for every request.
const TOKEN_EXPIRY_MARGIN_MS = 5_000;
const TOKEN_EXPIRY_MARGIN_SHARE = 0.1;
const TOKEN_RESPONSE_LIMIT = 1024 * 1024;
const OAUTH_CLIENT_ID = "ocisync";
// RFC 6750 §2.1 b64token: all a bearer token may hold. Anything else could end the header line
// and start another, so a token server's answer is checked before it is sent anywhere.
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
// Base64 hides these inside a Basic header, but the registry decodes them: no real user name or
// password holds one, and a hostile file could use them against the registry's parser.
const HEADER_BREAKING = /[\r\n\0]/;
// The largest body sent before the registry's challenge is known: one that may be sent twice,
// if the registry answers 401. A larger one waits for a `GET /v2/` to learn the challenge.
const UNCHALLENGED_BODY_LIMIT = 64 * 1024;

/**
 * An HTTP client that authenticates to registries. One per process is enough: share it among
 * targets so that challenges, credentials and tokens are reused. Safe for concurrent requests.
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
  /**
   * Per registry host, once a response has told: the challenge to answer, or undefined when the
   * registry asked for none. A host that is missing is not known yet.
   */
  #challenges = new Map<string, Challenge | undefined>();
  /** Per registry host: the first request, under way, whose answer will fill `#challenges`. */
  #discoveries = new Map<string, PromiseWithResolvers<void>>();
  /**
   * Per registry as written in references and repository (see `credentialKey`): what the
   * lookup found, until the registry refuses it (or asks for credentials where none were
   * found), so that a long-lived client (a sync's) asks again on its next request, and finds a
   * credential that was changed or rotated.
   */
  #credentials = new Map<string, Promise<Credential | undefined>>();
  /** Per registry host, repository (whose credential fetched it) and sorted scope set. */
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
   * given token scopes, with the credentials found for `repository`, the one the request is
   * about (its URL's; a mount's destination, whose scopes also name its source): a credential
   * kept for another repository is never sent, and without `repository` only one for the whole
   * registry is. The first request to a registry goes without any, as oras-go's client
   * sends it: a 401 names the challenge, which is answered with credentials or a token, and the
   * request is sent once more; the challenge is then kept for the registry, so that the requests
   * that follow carry their authorization from the start. Requests made while the first one is
   * under way wait for its answer. A body larger than 64 KiB is never sent just to learn the
   * challenge: a `GET /v2/` learns it first.
   *
   * On a 401 it answers the challenge of that response with fresh credentials or a fresh token
   * once, never more. Any status is returned, 401 included: map failures with
   * {@linkcode RegistryClient.failure}.
   *
   * The request's `signal` ends it at once, wherever it waits: for another request's answer,
   * for credentials or a token (which go on for the requests that share them), for the
   * registry, before a retry, or for more of the body.
   *
   * @throws {AuthError} when the token server refuses the credentials, a token or credential
   * holds characters a header cannot carry, or a challenge is malformed.
   * @throws {NetworkError} when the registry or the token server cannot be reached.
   * @throws the reason of the request's `signal` when it aborts.
   * @example
   * ```ts
   * import { RegistryClient, repositoryScope } from "./auth.ts";
   * const client = new RegistryClient();
   * const scopes = [repositoryScope("library/alpine", ["pull"])];
   * const response = await client.request("docker.io", scopes, {
   *   method: "HEAD",
   *   url: client.url("docker.io", "/v2/library/alpine/manifests/latest"),
   *   headers: { accept: "application/vnd.oci.image.index.v1+json" },
   *   signal: AbortSignal.timeout(60_000),
   * });
   * console.log(response.headers.get("docker-content-digest"));
   * ```
   */
  async request(
    registry: string,
    scopes: readonly string[],
    request: HttpRequest,
    repository?: string,
  ): Promise<HttpResponse> {
    if (!this.#isRegistry(registry, request.url)) {
      // A Location or Link that names another origin (object storage, or a hostile registry's
      // lure): it gets no credentials, and its 401 is not the registry's to answer.
      const origin = new URL(this.#transport.registryOrigin(registry));
      refuseDowngrade(origin, request.url, "an upload location or a link from the registry");
      return await this.#transport.fetch({ ...request, authorization: undefined });
    }
    const host = registryHost(registry);
    // Concurrent first requests would each be refused and each fetch a token: wait for one.
    const pending = this.#discoveries.get(host);
    if (pending !== undefined) await abortable(pending.promise, request.signal);
    if (this.#challenges.has(host)) {
      return await this.#send(registry, repository, scopes, request, this.#challenges.get(host));
    }
    if (pending !== undefined) {
      // The first request failed before any answer: this one finds out on its own.
      return await this.#discover(registry, repository, scopes, request);
    }
    const discovery = Promise.withResolvers<void>();
    this.#discoveries.set(host, discovery);
    try {
      return await this.#discover(registry, repository, scopes, request);
    } finally {
      this.#endDiscovery(host, discovery);
    }
  }

  /**
   * Authenticates for `scopes` now, so that a command can fail on refused credentials before
   * it does any work. It costs what checking them must, and no more: nothing without
   * credentials, as there is nothing to check (the first request finds out whether the
   * registry asks for some), nor for a registry known to ask for none; a token request for a
   * Bearer challenge, whose token server checks the credentials when it issues the token
   * (cached for the requests that follow); one `GET /v2/` with the credentials for Basic. A
   * registry whose challenge is not known yet costs a `GET /v2/` to learn it first. The
   * credentials checked are those of `options.repository`, as for {@linkcode request}.
   *
   * @throws {AuthError} when no credentials are found for a registry that asks for them, or
   * the registry or its token server refuses them.
   * @throws {NetworkError} when the registry or the token server cannot be reached.
   * @throws the reason of `options.signal` when it aborts.
   * @example
   * ```ts
   * import { RegistryClient, repositoryScope } from "./auth.ts";
   * const client = new RegistryClient({
   *   credentials: async () => ({ username: "me", password: "secret" }),
   * });
   * await client.authenticate("ghcr.io", [repositoryScope("org/app", ["pull", "push"])], {
   *   repository: "org/app",
   * });
   * ```
   */
  async authenticate(
    registry: string,
    scopes: readonly string[],
    options: { signal?: AbortSignal; repository?: string } = {},
  ): Promise<void> {
    const { signal, repository } = options;
    const host = registryHost(registry);
    const pending = this.#discoveries.get(host);
    if (pending !== undefined) await abortable(pending.promise, signal);
    if (!this.#challenges.has(host)) {
      if (await abortable(this.#withoutCredentials(registry, repository), signal)) return;
      await this.#ping(registry, signal);
    }
    const challenge = this.#challenges.get(host);
    if (challenge === undefined) return;
    if (challenge.scheme === "bearer") {
      await abortable(this.#authorization(registry, repository, challenge, scopes), signal);
      return;
    }
    const response = await this.#send(registry, repository, scopes, {
      method: "GET",
      url: this.url(registry, "/v2/"),
      signal,
    }, challenge);
    if (response.status !== 200) {
      throw await this.failure(registry, response, `API of ${registry}`, repository);
    }
    await discardBody(response);
  }

  /**
   * The typed error for a failed response, as {@linkcode responseError} makes it, except that a
   * 401 or 403 says what is true: that no credentials were found for the registry (with a hint
   * to log in), that it refused the credentials of the user named, or that it did not grant
   * that user the access asked for. Reads the body. `repository` is the one the request was
   * about: the error names it, and its credentials are the ones the request was sent with.
   *
   * @example
   * ```ts
   * import { RegistryClient } from "./auth.ts";
   * const client = new RegistryClient();
   * const url = client.url("ghcr.io", "/v2/org/app/tags/list");
   * const response = await client.request("ghcr.io", [], { method: "GET", url });
   * if (response.status !== 200) throw await client.failure("ghcr.io", response, "tags of org/app");
   * ```
   */
  async failure(
    registry: string,
    response: HttpResponse,
    subject: string,
    repository?: string,
  ): Promise<RegistryError> {
    const context = { registry, subject, ...(repository === undefined ? {} : { repository }) };
    const error = await responseError(response, context);
    if (response.status !== 401 && response.status !== 403) return error;
    // Another host's refusal (the message names it) says nothing of the credentials, which it
    // never got.
    if (!this.#isRegistry(registry, response.url)) return error;
    // The registry's challenge, as request() last answered it; none means nothing was sent.
    const challenge = this.#challenges.get(registryHost(registry));
    if (challenge === undefined) return error;
    const found = await this.#credential(registry, repository);
    const credential = sendable(found, challenge.scheme);
    if (credential === undefined) {
      if (sendable(found) !== undefined) return unusableCredentials(registry, found!, error);
      this.#forgetCredential(registry, repository);
      return missingCredentials(registry, error);
    }
    if (response.status === 403) return denied(registry, holder(credential), error);
    const refusal = responseChallenge(response);
    if (
      challenge.scheme !== "bearer" ||
      (credential.registryToken && refusal?.params.get("error") !== "insufficient_scope")
    ) {
      this.#forgetCredential(registry, repository);
      return refusedCredentials(registry, credential, error);
    }
    return tokenRefusal(registry, holder(credential), refusal, error);
  }

  /** Releases the TLS client made for a `caFile`, if any. */
  close(): void {
    this.#transport.close();
  }

  /** Whether `url` is on the registry's origin: the only one its credentials go to. */
  #isRegistry(registry: string, url: URL): boolean {
    return url.origin === this.#transport.registryOrigin(registry);
  }

  /** Sends a request with the authorization that a known challenge asks for; answers a 401. */
  async #send(
    registry: string,
    repository: string | undefined,
    scopes: readonly string[],
    request: HttpRequest,
    challenge: Challenge | undefined,
  ): Promise<HttpResponse> {
    const authorization = await abortable(
      this.#authorization(registry, repository, challenge, scopes),
      request.signal,
    );
    // A refused authorization is asked again at most once, for a body resumed after it expired.
    const reauthorize = authorization === undefined
      ? undefined
      : () => this.#authorization(registry, repository, challenge, scopes, authorization);
    const response = await this.#transport.fetch({ ...request, authorization, reauthorize });
    if (response.status !== 401 || !this.#isRegistry(registry, response.url)) return response;
    return await this.#answer(
      registry,
      repository,
      scopes,
      request,
      response,
      challenge,
      authorization,
    );
  }

  /**
   * Sends a request to a registry whose challenge is not known: as it is, and what the answer
   * shows becomes the registry's challenge. A large body waits for a `GET /v2/` instead, so
   * that it is sent once.
   */
  async #discover(
    registry: string,
    repository: string | undefined,
    scopes: readonly string[],
    request: HttpRequest,
  ): Promise<HttpResponse> {
    if ((request.body?.byteLength ?? 0) > UNCHALLENGED_BODY_LIMIT) {
      const challenge = await this.#ping(registry, request.signal);
      return await this.#send(registry, repository, scopes, request, challenge);
    }
    const response = await this.#transport.fetch(request);
    if (response.status === 401) {
      // A 401 of the host that the registry redirected to is that host's: nothing is learnt.
      if (!this.#isRegistry(registry, response.url)) return response;
      return await this.#answer(registry, repository, scopes, request, response);
    }
    // Whatever else it answered, the registry did not ask for credentials.
    this.#learn(registry, undefined);
    return response;
  }

  /**
   * Answers a 401 once: its challenge (else the one known) is kept for the registry, and the
   * request is sent again with fresh credentials or a new token. Returns the 401 itself when
   * there is nothing new to send: no credentials, or the same ones again.
   */
  async #answer(
    registry: string,
    repository: string | undefined,
    scopes: readonly string[],
    request: HttpRequest,
    response: HttpResponse,
    known?: Challenge,
    rejected?: string,
  ): Promise<HttpResponse> {
    let authorization: string | undefined;
    try {
      const challenge = selectChallenge(response.headers.get("www-authenticate")) ?? known;
      // Asked for before the waiting requests go on, so that they share its token request.
      const pending = this.#authorization(registry, repository, challenge, scopes, rejected);
      this.#learn(registry, challenge);
      authorization = await abortable(pending, request.signal);
    } catch (error) {
      await discardBody(response);
      throw error;
    }
    if (authorization === undefined || authorization === rejected) return response;
    await discardBody(response);
    const challenge = this.#challenges.get(registryHost(registry));
    const reauthorize = () =>
      this.#authorization(registry, repository, challenge, scopes, authorization);
    return await this.#transport.fetch({ ...request, authorization, reauthorize });
  }

  /** Keeps a registry's challenge, and lets the requests that wait for it go on. */
  #learn(registry: string, challenge: Challenge | undefined): void {
    const host = registryHost(registry);
    this.#challenges.set(host, challenge);
    const discovery = this.#discoveries.get(host);
    if (discovery !== undefined) this.#endDiscovery(host, discovery);
  }

  #endDiscovery(host: string, discovery: PromiseWithResolvers<void>): void {
    discovery.resolve();
    if (this.#discoveries.get(host) === discovery) this.#discoveries.delete(host);
  }

  /** A `GET /v2/` without credentials, for the registry's challenge, which it keeps. */
  async #ping(registry: string, signal?: AbortSignal): Promise<Challenge | undefined> {
    const response = await this.#transport.fetch({
      method: "GET",
      url: this.url(registry, "/v2/"),
      signal,
    });
    let challenge: Challenge | undefined;
    try {
      if (response.status === 401 && this.#isRegistry(registry, response.url)) {
        challenge = selectChallenge(response.headers.get("www-authenticate"));
      } else if (response.status !== 200) {
        throw await responseError(response, { registry, subject: `API of ${registry}` });
      }
    } finally {
      await discardBody(response);
    }
    this.#learn(registry, challenge);
    return challenge;
  }

  /**
   * Whether no credentials would be sent to `registry` for `repository`. A lookup that fails
   * counts as some: its error belongs to the request that needs them, if any does.
   */
  #withoutCredentials(registry: string, repository: string | undefined): Promise<boolean> {
    return this.#credential(registry, repository).then(
      (found) => sendable(found) === undefined,
      () => false,
    );
  }

  /**
   * The `Authorization` for a challenge: none, Basic credentials, or a bearer token. `rejected`
   * is the authorization that the registry has just refused: a token that it names is not
   * reused.
   */
  async #authorization(
    registry: string,
    repository: string | undefined,
    challenge: Challenge | undefined,
    scopes: readonly string[],
    rejected?: string,
  ): Promise<string | undefined> {
    if (challenge === undefined) return undefined;
    const credential = await this.#credential(registry, repository);
    if (challenge.scheme === "basic") return basicAuthorization(registry, credential);
    // A registry token goes as the bearer token itself, as Docker sends it: no token server.
    if (credential?.registryToken) return `Bearer ${checkedToken(registry, credential)}`;
    const token = await this.#token(registry, repository, challenge, scopes, credential, rejected);
    return `Bearer ${token}`;
  }

  /** What the lookup finds for `repository` of `registry`, asked once until it is forgotten. */
  #credential(registry: string, repository: string | undefined): Promise<Credential | undefined> {
    const key = credentialKey(registry, repository);
    let credential = this.#credentials.get(key);
    if (credential === undefined) {
      const found = this.#lookup?.(registry, repository) ?? Promise.resolve(undefined);
      credential = found;
      this.#credentials.set(key, found);
      // A failed lookup (a helper that timed out, a file being rewritten) is asked again.
      found.catch(() => this.#forgetCredential(registry, repository, found));
    }
    return credential;
  }

  /**
   * Drops what the lookup found for `repository` of `registry` (only `found`, when given, and
   * not a newer lookup's): the next request asks again. The request that failed is not retried.
   */
  #forgetCredential(
    registry: string,
    repository: string | undefined,
    found?: Promise<Credential | undefined>,
  ): void {
    const key = credentialKey(registry, repository);
    if (found === undefined || this.#credentials.get(key) === found) {
      this.#credentials.delete(key);
    }
  }

  /**
   * A token for the scopes: the cached one while it lasts, unless it is the one `rejected`;
   * else a new one. Concurrent callers share one token request, and a token fetched after the
   * rejected one (by a request refused at the same time) is used rather than replaced.
   */
  async #token(
    registry: string,
    repository: string | undefined,
    challenge: Challenge,
    scopes: readonly string[],
    credential: Credential | undefined,
    rejected: string | undefined,
  ): Promise<string> {
    // Per repository too: a token is worth the credential it was issued for, which is the
    // repository's, and another repository's requests may not share it, even for one scope set.
    const key = JSON.stringify([registryHost(registry), repository, [...new Set(scopes)].sort()]);
    for (let cached = this.#tokens.get(key); cached !== undefined;) {
      const token = await cached.catch(() => undefined);
      if (
        token !== undefined && token.expiresAt > Date.now() && `Bearer ${token.token}` !== rejected
      ) {
        return token.token;
      }
      // Another caller may have asked for a new one meanwhile: use that one.
      const latest = this.#tokens.get(key);
      cached = latest === cached ? undefined : latest;
    }
    const fresh = this.#fetchToken(registry, repository, challenge, scopes, credential);
    this.#tokens.set(key, fresh);
    return (await fresh).token;
  }

  async #fetchToken(
    registry: string,
    repository: string | undefined,
    challenge: Challenge,
    scopes: readonly string[],
    credential: Credential | undefined,
  ): Promise<CachedToken> {
    const realm = URL.parse(challenge.params.get("realm") ?? "");
    if (realm === null || (realm.protocol !== "https:" && realm.protocol !== "http:")) {
      throw new AuthError(`${registry} sent a Bearer challenge without a valid realm URL`);
    }
    if (realm.protocol === "http:" && sendable(credential) !== undefined) {
      // Whoever reads the plain-HTTP hop would read the password or identity token. A registry
      // on this machine is spoken to over HTTP unasked (a tunnel's end, often): that choice
      // covers this machine only, not a token server across the network.
      const https = this.#transport.registryOrigin(registry).startsWith("https:");
      if (https || (!this.#transport.plainHttp && !isLoopbackRegistry(realm.host))) {
        throw new AuthError(
          `the token server of ${registry} is at ${realm.origin}, over plain HTTP, while ` +
            (https
              ? `${registry} is served over HTTPS`
              : `${registry} is on this machine and plain HTTP was not chosen`) +
            ": its credentials were not sent",
          { hint: `${registry} is misconfigured or hostile: tell its operator` },
        );
      }
    }
    const service = challenge.params.get("service");
    const requestedAt = Date.now();
    let response: HttpResponse;
    if (credential?.identityToken) {
      checkIdentityToken(registry, credential.identityToken);
      response = await this.#postToken(realm, service, scopes, credential.identityToken);
      // The token spec lets servers without OAuth2 answer 404; they take the token as password.
      if (response.status === 404) {
        await discardBody(response);
        const basic = { username: credential.username, password: credential.identityToken };
        response = await this.#getToken(registry, realm, service, scopes, basic);
      }
    } else {
      response = await this.#getToken(registry, realm, service, scopes, credential);
    }
    if (response.status !== 200) {
      const error = await responseError(response, { registry, subject: `token for ${registry}` });
      // 401, 403, or OAuth 2's 400 for an identity (refresh) token it refuses.
      if (!(error instanceof AuthError)) throw error;
      const sent = sendable(credential);
      this.#forgetCredential(registry, repository);
      throw sent === undefined
        ? missingCredentials(registry, error)
        : refusedCredentials(registry, sent, error);
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
    if (!TOKEN68.test(token)) {
      // Never quoted: it is a secret, and it may hold line breaks meant to forge headers.
      throw new AuthError(
        `the token server of ${registry} sent a token with characters that RFC 6750 does not ` +
          `allow in a bearer token; it was not used`,
        { hint: `${realm.host} is misconfigured or hostile: tell the registry's operator` },
      );
    }
    const lifetime = typeof body?.expires_in === "number" && body.expires_in > 0
      ? body.expires_in
      : DEFAULT_TOKEN_LIFETIME_S;
    const margin = Math.min(TOKEN_EXPIRY_MARGIN_MS, lifetime * 1000 * TOKEN_EXPIRY_MARGIN_SHARE);
    return { token, expiresAt: requestedAt + lifetime * 1000 - margin };
  }

  /** The Docker token protocol: a GET, with Basic credentials when there are some. */
  #getToken(
    registry: string,
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
      authorization: basicAuthorization(registry, credential),
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
      credentialsInBody: true,
    });
  }
}

/**
 * Where the client keeps what it found for `repository` of `registry`: a space is part of
 * neither, so that no two pairs share a key.
 */
function credentialKey(registry: string, repository: string | undefined): string {
  return repository === undefined ? registry : `${registry} ${repository}`;
}

/** The challenge of a response, if it has a well-formed one. */
function responseChallenge(response: HttpResponse): Challenge | undefined {
  try {
    return selectChallenge(response.headers.get("www-authenticate"));
  } catch {
    return undefined;
  }
}

/** The challenge to answer: Bearer if offered, else Basic; none for other schemes. */
function selectChallenge(header: string | null): Challenge | undefined {
  const challenges = parseChallenges(header ?? "");
  return challenges.find((c) => c.scheme === "bearer") ??
    challenges.find((c) => c.scheme === "basic");
}

/** `Basic base64(user:password)`, or undefined without both; refuses line breaks and NUL. */
function basicAuthorization(
  registry: string,
  credential: Credential | undefined,
): string | undefined {
  if (credential?.username === undefined || credential.password === undefined) return undefined;
  if (HEADER_BREAKING.test(credential.username) || HEADER_BREAKING.test(credential.password)) {
    // Neither is quoted: the password is a secret, and the user name holds the bad character.
    throw new AuthError(
      `the user name or password for ${registry} holds a line break or NUL character; ` +
        `it was not sent`,
      { hint: "remove the character from the credentials file or the password input" },
    );
  }
  const bytes = new TextEncoder().encode(`${credential.username}:${credential.password}`);
  return `Basic ${btoa(Array.from(bytes, (byte) => String.fromCharCode(byte)).join(""))}`;
}

/** Refuses an identity token that could not go into a header as it is, unquoted. */
function checkIdentityToken(registry: string, token: string): void {
  if (TOKEN68.test(token)) return;
  throw new AuthError(
    `the identity token for ${registry} holds characters that RFC 6750 does not allow in a ` +
      `token; it was not sent`,
    { hint: `replace it: run \`ocisync login ${registry}\`` },
  );
}

/** A credential's registry token, refused unquoted when it could not go into a header. */
function checkedToken(registry: string, credential: Credential): string {
  const token = credential.registryToken!;
  if (TOKEN68.test(token)) return token;
  throw new AuthError(
    `the registry token for ${registry} holds characters that RFC 6750 does not allow in a ` +
      `token; it was not sent`,
    { hint: `replace it: run \`ocisync login ${registry}\`` },
  );
}

/**
 * The credential when something of it would be sent for a challenge of `scheme` (any scheme
 * when none is given), else undefined: Basic takes a user name and password only; Bearer takes
 * a registry token, an identity token, or a user name and password for the token server.
 */
function sendable(
  credential: Credential | undefined,
  scheme?: string,
): Credential | undefined {
  const basic = credential?.username !== undefined && credential.password !== undefined;
  const tokens = credential?.registryToken || credential?.identityToken;
  return basic || (tokens && scheme !== "basic") ? credential : undefined;
}

/** Whose credentials these are, for messages: the user, never the password or token. */
function holder(credential: Credential): string {
  if (credential.registryToken) return "the registry token";
  const name = credential.username;
  if (name === undefined || name === "") return "the identity token";
  // A plain name is shown as it is; anything odd is quoted, so that it cannot garble the line.
  const user = /^[\w.@+-]+$/.test(name) ? name : JSON.stringify(name);
  return credential.identityToken ? `the identity token of user ${user}` : `user ${user}`;
}

/** Credentials were found, but none of them is what the registry's Basic challenge takes. */
function unusableCredentials(
  registry: string,
  credential: Credential,
  evidence: RegistryError,
): RegistryAuthError {
  return reworded(
    `${registry} asks for a user name and password, and the credentials found for it hold ` +
      `${
        credential.registryToken ? "a registry token" : "an identity token"
      } only, which was not sent`,
    evidence,
    `log in with a password: run \`ocisync login ${registry}\``,
  );
}

function loginHint(registry: string): string {
  return `log in to ${registry}, or give credentials`;
}

/**
 * The registry's refusal, reworded to say what is true, with the response's fields kept: the
 * message leads with the finding, and the registry's own error follows as the evidence.
 */
function reworded(
  finding: string,
  evidence: RegistryError,
  hint: string,
  option?: string,
): RegistryAuthError {
  return registryError(`${finding}: ${evidence.message}`, {
    ...registryDetails(evidence),
    hint,
    option,
  }) as RegistryAuthError;
}

function missingCredentials(registry: string, evidence: RegistryError): RegistryAuthError {
  return reworded(
    `no credentials found for ${registry}`,
    evidence,
    loginHint(registry),
    "credentials",
  );
}

function refusedCredentials(
  registry: string,
  credential: Credential,
  evidence: RegistryError,
): RegistryAuthError {
  const who = holder(credential);
  if (credential.identityToken || credential.registryToken) {
    return reworded(
      `${registry} refused ${who}`,
      evidence,
      `it may have expired or been revoked: run \`ocisync login ${registry}\``,
    );
  }
  return reworded(
    `${registry} refused the credentials of ${who}`,
    evidence,
    `check the password or token of ${who}; \`ocisync login ${registry}\` replaces a saved one`,
  );
}

function denied(registry: string, who: string, evidence: RegistryError): RegistryAuthError {
  return reworded(
    `${registry} denied ${who} access`,
    evidence,
    `check the repository's name, and that ${who} may use it`,
  );
}

/**
 * A registry's 401 to a request that carried a token: the token lacks the access asked for
 * (`insufficient_scope`: the credentials were accepted, the rights are missing), or the registry
 * did not accept a token that its own token server had just issued.
 */
function tokenRefusal(
  registry: string,
  who: string,
  challenge: Challenge | undefined,
  evidence: RegistryError,
): RegistryAuthError {
  if (challenge?.params.get("error") === "insufficient_scope") {
    const scope = challenge.params.get("scope") ?? "the access needed";
    return reworded(
      `${registry} did not grant ${who} ${scope}`,
      evidence,
      `check the repository's name, and that ${who} may use it`,
    );
  }
  return reworded(
    `${registry} refused the token issued for ${who}`,
    evidence,
    `run \`ocisync login ${registry}\` to check the credentials; if that succeeds, the ` +
      `registry does not accept its token server's tokens`,
  );
}
