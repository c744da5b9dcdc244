/**
 * Hints that the failed call could not give alone, added by the dispatcher after any command
 * fails: that a repository named in the arguments does not exist (`NAME_UNKNOWN`), and, when a
 * tag is not found, the tags that do exist, if there are few. Layouts list their tags in the
 * error already; registries need one more request, which is made here.
 *
 * @example
 * ```ts
 * import { withHint } from "./hints.ts";
 * import { NotFoundError } from "../errors/mod.ts";
 * const error = new NotFoundError(
 *   "manifest v9 of localhost:5000/app: GET http://localhost:5000/v2/app/manifests/v9 -> 404",
 * );
 * const hinted = await withHint(error, { options: {}, positionals: ["localhost:5000/app:v9"] });
 * ```
 * @module
 */
import type { ParsedArgs, ParsedOptions } from "./args.ts";
import { NotFoundError } from "../errors/mod.ts";
import { isTagPager, type TagsPage } from "../oci/target.ts";
import { parseReference, type RegistryReference } from "../ref/mod.ts";
import { credentialLookup } from "../credentials/mod.ts";
import { closeTarget, DEFAULT_TAG, openTarget } from "../target/mod.ts";

/** At most this many tags are listed in a hint; more would bury the error. */
const MAX_LISTED_TAGS = 10;
/** The tag listing is a courtesy: it must not hold up the error for long. */
const LISTING_TIMEOUT_MS = 10_000;

/**
 * The error, with a hint added when it is a {@linkcode NotFoundError} without one that names
 * a registry repository given in `args` (as an argument or an option's value):
 *
 * - `NAME_UNKNOWN`: the repository does not exist;
 * - a manifest not found by the tag the reference names (or `latest`): the repository's tags,
 *   when there are at most 10, else the command that lists them.
 *
 * Any other error is returned as it is.
 *
 * @example
 * ```ts
 * import { withHint } from "./hints.ts";
 * import { NotFoundError } from "../errors/mod.ts";
 * const error = new NotFoundError(
 *   "tags of ghcr.io/acme/nope: GET https://ghcr.io/v2/acme/nope/tags/list -> 404, " +
 *     "NAME_UNKNOWN: repository name not known to registry",
 * );
 * const hinted = await withHint(error, { options: {}, positionals: ["ghcr.io/acme/nope"] });
 * console.log((hinted as NotFoundError).hint); // "the repository ghcr.io/acme/nope does not exist…"
 * ```
 */
export async function withHint(error: unknown, args: ParsedArgs): Promise<unknown> {
  if (!(error instanceof NotFoundError) || error.hint !== undefined) return error;
  for (const reference of registryReferences(args)) {
    const name = `${reference.registry}/${reference.repository}`;
    // The distribution API's paths name the repository; the error quotes the URL.
    if (!error.message.includes(`/v2/${reference.repository}/`)) continue;
    if (error.message.includes("NAME_UNKNOWN")) {
      return new NotFoundError(error.message, { hint: missingRepository(name), cause: error });
    }
    const tag = reference.digest === undefined ? reference.tag ?? DEFAULT_TAG : undefined;
    if (tag !== undefined && quotesManifest(error.message, reference.repository, tag)) {
      return new NotFoundError(error.message, {
        hint: await tagsHint(reference, args.options),
        cause: error,
      });
    }
  }
  return error;
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

/** Whether `message` quotes the manifest URL of `tag`, and not of a longer tag. */
function quotesManifest(message: string, repository: string, tag: string): boolean {
  const path = `/v2/${repository}/manifests/${tag}`;
  const at = message.indexOf(path);
  return at >= 0 && !/^[\w.-]/.test(message.slice(at + path.length));
}

function missingRepository(name: string): string {
  return `the repository ${name} does not exist: check its name, or push to it first`;
}

/** Names the repository's tags, if few, from one page of the tag list. */
async function tagsHint(reference: RegistryReference, options: ParsedOptions): Promise<string> {
  const name = `${reference.registry}/${reference.repository}`;
  const listCommand = `list them with \`ocisync tags ${name}\``;
  // Its own target, not the command's session: the listing has its own short timeout and no
  // retries, and --password-stdin was read by the command already, so that only stored
  // credentials can be found.
  const target = await openTarget(reference, {
    credentials: credentialLookup({ credentialsFile: options.credentials as string | undefined }),
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
    return `${name} has the tags ${page.tags.join(", ")}`;
  } catch (error) {
    // Registries answer MANIFEST_UNKNOWN for any manifest of a repository that does not exist;
    // its tag list says NAME_UNKNOWN.
    if (error instanceof NotFoundError) return missingRepository(name);
    return `check the tag; ${listCommand}`;
  } finally {
    await closeTarget(target);
  }
}
