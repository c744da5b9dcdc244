/**
 * Registries as {@linkcode RegistryTarget}s: the distribution-spec over `fetch`, with Docker's
 * authentication schemes.
 *
 * - `registry.ts`: the {@linkcode RegistryTarget} itself;
 * - `auth.ts`: {@linkcode RegistryClient}, which authenticates requests and caches tokens;
 * - `challenge.ts`: the `WWW-Authenticate` parser;
 * - `transport.ts`: HTTP with redirects, retries, timeouts and a redacted log.
 *
 * @example
 * ```ts
 * import { parseRegistryReference } from "../ref/mod.ts";
 * import { RegistryClient, RegistryTarget } from "./mod.ts";
 * const client = new RegistryClient({
 *   credentials: async () => ({ username: "me", password: "secret" }),
 * });
 * const source = new RegistryTarget(parseRegistryReference("ghcr.io/org/app"), { client });
 * const target = new RegistryTarget(parseRegistryReference("ghcr.io/org/copy"), { client });
 * const image = await source.resolve("v1");
 * await target.pushManifest(image, await source.fetchManifest(image), ["v1"]);
 * ```
 * @module
 */
// The shared types this module's API is written in, so that its documentation is complete.
export type { Digest } from "../digest/mod.ts";
export type { Descriptor, Platform } from "../oci/types.ts";
// The capability types RegistryTarget implements (Target, Mounter, ReferrerLister, TagPager…),
// all of them, listed once, where they are declared.
export type * from "../oci/target.ts";
export {
  type Action,
  RegistryClient,
  type RegistryClientOptions,
  repositoryScope,
} from "./auth.ts";
export { type Challenge, parseChallenges } from "./challenge.ts";
// The credential types RegistryClientOptions is written in; the stores are in credentials/.
export type { Credential, CredentialLookup } from "../credentials/mod.ts";
export type { FetchedManifest } from "../oci/target.ts";
export {
  type MountSource,
  type RegistryOptions,
  RegistryTarget,
  type TagsOptions,
  type TagsPage,
  type TagsPageOptions,
} from "./registry.ts";
export {
  concurrencyLimit,
  discardBody,
  type ErrorContext,
  type HttpExchange,
  type HttpRequest,
  type HttpResponse,
  readBody,
  redactUrl,
  responseError,
  retryDelay,
  Transport,
  type TransportOptions,
} from "./transport.ts";
