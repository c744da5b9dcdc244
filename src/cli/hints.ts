/**
 * Hints that the failed call could not give alone, added by the dispatcher after any command
 * fails, from the fields of a {@linkcode RegistryError} (never from its message's text): that a
 * repository named in the arguments does not exist (`NAME_UNKNOWN`); when a tag is not found,
 * the tags that do exist, if there are few; and after a 401 or 403 that came without one, how to
 * give credentials, or, after a 403 with credentials, that access was refused. Layouts list their
 * tags in the error already; registries need one more request, which is made here.
 *
 * @example
 * ```ts
 * import { withHint } from "./hints.ts";
 * import { RegistryError, registryError } from "../errors/mod.ts";
 * const error = registryError("tags of localhost:5000/app: GET … -> 401", {
 *   status: 401, codes: [], messages: [], method: "GET",
 *   url: "http://localhost:5000/v2/app/tags/list", registry: "localhost:5000", repository: "app",
 * });
 * const hinted = await withHint(error, { options: {}, positionals: ["localhost:5000/app"] });
 * ```
 * @module
 */
import type { ParsedArgs, ParsedOptions } from "./args.ts";
import {
  cutText,
  escapeRemote,
  registryDetails,
  RegistryError,
  registryError,
} from "../errors/mod.ts";
import { isTagPager, type TagsPage } from "../oci/target.ts";
import { parseReference, type RegistryReference } from "../ref/mod.ts";
import { type CredentialLookup, credentialLookup } from "../credentials/mod.ts";
import { closeTarget, DEFAULT_TAG, openTarget } from "../target/mod.ts";

/** At most this many tags are listed in a hint; more would bury the error. */
const MAX_LISTED_TAGS = 10;
/** The tag listing is a courtesy: it must not hold up the error for long. */
const LISTING_TIMEOUT_MS = 10_000;

/**
 * The error, with a hint added when it is a {@linkcode RegistryError} without one:
 *
 * - a 401, or a 403 without credentials: log in, or pass `--credentials` (and, when none were
 *   found though `--username` was given, that it is for the command's other registry);
 * - a 403 with credentials (`--username`, or stored): it refuses access, not the credentials,
 *   so the repository's name or the user's rights are to check;
 * - not found, about a repository of a registry reference in `args` (an argument or an
 *   option's value):
 *   - with the code `NAME_UNKNOWN`: the repository does not exist;
 *   - a manifest not found by the tag the reference names (or `latest`): the repository's
 *     tags, when there are at most 10, else the command that lists them; that the repository
 *     does not exist only when the tag list says `NAME_UNKNOWN`, as a 404 without a registry's
 *     code may come from a server that is no registry.
 *
 * Any other error is returned as it is. `credentialRegistry` is the registry that the command
 * gave `--username` and a `--credentials` file's credential that names none (see
 * `Output.credentialRegistry`): the hints send or name such credentials for it alone, as the
 * command did, never for another registry the arguments name.
 *
 * @example
 * ```ts
 * import { withHint } from "./hints.ts";
 * import { RegistryError, registryError } from "../errors/mod.ts";
 * const error = registryError("tags of ghcr.io/acme/nope: GET … -> 404, NAME_UNKNOWN: …", {
 *   status: 404, codes: ["NAME_UNKNOWN"], messages: ["repository name not known to registry"],
 *   method: "GET", url: "https://ghcr.io/v2/acme/nope/tags/list",
 *   registry: "ghcr.io", repository: "acme/nope",
 * });
 * const hinted = await withHint(error, { options: {}, positionals: ["ghcr.io/acme/nope"] });
 * console.log((hinted as RegistryError).hint); // "the repository ghcr.io/acme/nope does not exist…"
 * ```
 */
export async function withHint(
  error: unknown,
  args: ParsedArgs,
  credentialRegistry?: string,
): Promise<unknown> {
  if (!(error instanceof RegistryError)) return error;
  // The library says "log in, or give credentials"; the CLI knows how.
  if (error.kind === "auth" && error.option === "credentials" && error.registry !== undefined) {
    return hinted(error, loginHint(error.registry, args));
  }
  if (error.hint !== undefined) return error;
  if (error.kind === "auth") {
    if (error.registry === undefined) return error;
    // A 403 refuses access, not credentials: logging in again would change nothing.
    const user = error.status === 403
      ? await credentialsUser(error.registry, error.repository, args, credentialRegistry)
      : undefined;
    return hinted(error, user === undefined ? loginHint(error.registry) : deniedHint(error, user));
  }
  if (error.kind !== "not-found" || error.repository === undefined) return error;
  for (const reference of registryReferences(args)) {
    if (!about(error, reference)) continue;
    const name = `${reference.registry}/${reference.repository}`;
    if (error.codes.includes("NAME_UNKNOWN")) return hinted(error, missingRepository(name));
    const tag = reference.digest === undefined ? reference.tag ?? DEFAULT_TAG : undefined;
    if (tag !== undefined && manifestAsked(error) === tag) {
      return hinted(error, await tagsHint(reference, args.options, credentialRegistry));
    }
  }
  return error;
}

/** The same error with a hint, of the same class and with the same fields. */
function hinted(error: RegistryError, hint: string): RegistryError {
  return registryError(error.message, { ...registryDetails(error), hint, cause: error });
}

function loginHint(registry: string, args?: ParsedArgs): string {
  const login = `run \`ocisync login ${registry}\`, or pass --credentials`;
  // None found though a --username was given: it was for the command's other registry.
  return args?.options.username === undefined
    ? login
    : `--username is for the registry written to (else the one read), not ${registry}: ${login}`;
}

/**
 * Who the command has credentials of for `repository` of `registry`: `user NAME` of
 * `--username` (when `registry` is the one it is for), or of the stored credentials (an
 * identity token's holder is unnamed); undefined when it has none.
 */
async function credentialsUser(
  registry: string,
  repository: string | undefined,
  args: ParsedArgs,
  credentialRegistry: string | undefined,
): Promise<string | undefined> {
  const { username } = args.options;
  if (typeof username === "string" && registry === credentialRegistry) return `user ${username}`;
  const lookup = storedCredentials(args.options, credentialRegistry);
  // The repository's credential, as the request was sent with: another's may be another user.
  // A lookup that fails says nothing of the 403: the plain hint then.
  const found = await lookup(registry, repository).catch(() => undefined);
  if (found === undefined) return undefined;
  return found.username ? `user ${found.username}` : "the holder of the token";
}

/** After a 403 with credentials: the repository's name, or the user's rights, are wrong. */
function deniedHint(error: RegistryError, user: string): string {
  const where = error.repository === undefined
    ? error.registry
    : `${error.registry}/${error.repository}`;
  const action = error.method === "GET" || error.method === "HEAD" ? "pull from" : "push to";
  return `a 403 refuses access, not the credentials: check the repository's name, and that ` +
    `${user} may ${action} ${where}`;
}

/** Whether the error is about the reference's repository (of its registry, when it says). */
function about(error: RegistryError, reference: RegistryReference): boolean {
  return error.repository === reference.repository &&
    (error.registry === undefined || error.registry === reference.registry);
}

/** The tag or digest of the manifest the failed request asked for, if it asked for one. */
function manifestAsked(error: RegistryError): string | undefined {
  const path = URL.parse(error.url)?.pathname;
  const prefix = `/v2/${error.repository}/manifests/`;
  return path?.startsWith(prefix) ? decodeURIComponent(path.slice(prefix.length)) : undefined;
}

/** The registry references among the arguments and option values; other words are skipped. */
function registryReferences(args: ParsedArgs): RegistryReference[] {
  const words = [...args.positionals, ...Object.values(args.options)].flat()
    .filter((value): value is string => typeof value === "string");
  return words.flatMap((word) => {
    try {
      const reference = parseReference(word);
      return reference.kind === "registry" ? [reference] : [];
    } catch {
      return [];
    }
  });
}

function missingRepository(name: string): string {
  return `the repository ${name} does not exist: check its name, or push to it first`;
}

/**
 * The stored credentials (a `--credentials` file, the Docker and containers auth files) as the
 * command looks them up. A file's credential that names no registry is for
 * `credentialRegistry` alone, and for none when the command chose none: a hint about another
 * registry must not hand it there.
 */
function storedCredentials(
  options: ParsedOptions,
  credentialRegistry: string | undefined,
): CredentialLookup {
  const credentialsFile = options.credentials as string | undefined;
  return credentialLookup(
    credentialRegistry === undefined ? {} : { credentialsFile, registry: credentialRegistry },
  );
}

/** Names the repository's tags, if few, from one page of the tag list. */
async function tagsHint(
  reference: RegistryReference,
  options: ParsedOptions,
  credentialRegistry: string | undefined,
): Promise<string> {
  const name = `${reference.registry}/${reference.repository}`;
  const listCommand = `list them with \`ocisync tags ${name}\``;
  // Its own target, not the command's session: the listing has its own short timeout and no
  // retries, and --password-stdin was read by the command already, so that only stored
  // credentials can be found.
  const target = await openTarget(reference, {
    credentials: storedCredentials(options, credentialRegistry),
    plainHttp: options["plain-http"] === true,
    caFile: options["ca-file"] as string | undefined,
    retries: 0,
    timeout: LISTING_TIMEOUT_MS,
  });
  try {
    // One page is all a hint needs; a target that cannot page lists them all.
    const page: TagsPage = isTagPager(target)
      ? await target.tagsPage({ n: MAX_LISTED_TAGS + 1 })
      : { tags: await Array.fromAsync(target.tags()) };
    if (page.tags.length === 0) return `${name} has no tags`;
    if (page.last !== undefined || page.tags.length > MAX_LISTED_TAGS) {
      return `${name} has more than ${MAX_LISTED_TAGS} tags: ${listCommand}`;
    }
    return `${name} has the tags ${page.tags.map((tag) => cutText(escapeRemote(tag))).join(", ")}`;
  } catch (error) {
    return unlistedHint(error, reference, listCommand);
  } finally {
    await closeTarget(target);
  }
}

/**
 * The hint when the tag list failed too. Registries answer MANIFEST_UNKNOWN for any manifest of
 * a repository that does not exist, and its tag list says NAME_UNKNOWN: only that code says so.
 * A 404 without any registry code (an HTML page) may come from a server that is no registry.
 */
function unlistedHint(error: unknown, reference: RegistryReference, listCommand: string): string {
  const { registry, repository } = reference;
  if (!(error instanceof RegistryError) || error.kind !== "not-found") {
    return `check the tag; ${listCommand}`;
  }
  if (error.codes.includes("NAME_UNKNOWN")) return missingRepository(`${registry}/${repository}`);
  if (error.codes.length > 0) return `check the tag; ${listCommand}`;
  return `${registry} answered 404 to the tag list of ${repository} too, without a registry's ` +
    `error code: check the repository's name, and that ${registry} is an OCI registry`;
}
