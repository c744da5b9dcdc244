/**
 * Image references. Registry references follow Docker's grammar and normalisation,
 * `[REGISTRY/]REPOSITORY[:TAG][@DIGEST]`; OCI image layout directories are written
 * `oci:PATH[:TAG|@DIGEST]`; archive files `oci-archive:FILE[:TAG|@DIGEST]` and
 * `docker-archive:FILE[:NAME[:TAG]]` (read by {@linkcode parseReference}).
 *
 * Every malformed input throws {@linkcode UsageError} naming the input and the problem; no other
 * error escapes for any string.
 *
 * @example
 * ```ts
 * import { familiarReference, formatReference, parseReference } from "./mod.ts";
 * const ref = parseReference("alpine:3");
 * console.log(formatReference(ref)); // "docker.io/library/alpine:3"
 * console.log(familiarReference(ref)); // "alpine:3"
 * ```
 * @module
 */
import { isDigestAlgorithm, parseDigest } from "../digest/parse.ts";
import { UsageError } from "../errors/mod.ts";

/**
 * The registry a reference names when it names none: Docker Hub.
 *
 * @example
 * ```ts
 * import { DEFAULT_REGISTRY, parseRegistryReference } from "./mod.ts";
 * console.log(parseRegistryReference("alpine").registry === DEFAULT_REGISTRY); // true
 * ```
 */
export const DEFAULT_REGISTRY = "docker.io";

/**
 * A reference to an image in a registry.
 *
 * @example
 * ```ts
 * import type { RegistryReference } from "./mod.ts";
 * const ref: RegistryReference = {
 *   kind: "registry",
 *   registry: "ghcr.io",
 *   repository: "org/app",
 *   tag: "v1",
 * };
 * ```
 */
export interface RegistryReference {
  /** Tells the two kinds of {@linkcode Reference} apart. */
  kind: "registry";
  /** The registry host, with its port if one was given: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  registry: string;
  /** The repository path, with `library/` for official Docker Hub images: `library/alpine`. */
  repository: string;
  /** The tag, if one was given. */
  tag?: string;
  /** The digest, `sha256:<64 hex>` or `sha512:<128 hex>`, if one was given. */
  digest?: string;
}

/**
 * A reference to an image in an OCI image layout directory: `oci:PATH[:TAG|@DIGEST]`.
 *
 * @example
 * ```ts
 * import type { LayoutReference } from "./mod.ts";
 * const ref: LayoutReference = { kind: "layout", path: "./images", tag: "v1" };
 * ```
 */
export interface LayoutReference {
  /** Tells the two kinds of {@linkcode Reference} apart. */
  kind: "layout";
  /** The layout directory, as written. */
  path: string;
  /** The tag (the manifest's `org.opencontainers.image.ref.name`), if one was given. */
  tag?: string;
  /** The manifest digest, if one was given. */
  digest?: string;
}

/**
 * A reference to an image in a registry or in an OCI image layout directory.
 *
 * @example
 * ```ts
 * import { parseReference, type Reference } from "./mod.ts";
 * const ref: Reference = parseReference("oci:./images:v1");
 * console.log(ref.kind); // "layout"
 * ```
 */
export type Reference = RegistryReference | LayoutReference | ArchiveReference;

/**
 * A reference to an image in an archive file: a tar of an OCI image layout
 * (`oci-archive:FILE[:TAG|@DIGEST]`, skopeo's `oci-archive:`), or the format of `docker save`
 * (`docker-archive:FILE[:NAME[:TAG]]`, skopeo's `docker-archive:`).
 *
 * @example
 * ```ts
 * import type { ArchiveReference } from "./mod.ts";
 * const oci: ArchiveReference = { kind: "archive", format: "oci", path: "app.tar", tag: "v1" };
 * const docker: ArchiveReference = {
 *   kind: "archive",
 *   format: "docker",
 *   path: "app.tar",
 *   name: "docker.io/library/app",
 *   tag: "v1",
 * };
 * ```
 */
export interface ArchiveReference {
  /** Tells the kinds of {@linkcode Reference} apart. */
  kind: "archive";
  /** `oci` for `oci-archive:`, `docker` for `docker-archive:`. */
  format: "oci" | "docker";
  /** The archive file, as written. */
  path: string;
  /**
   * The tag: of `oci-archive:`, an `org.opencontainers.image.ref.name`; of `docker-archive:`,
   * the tag of `NAME:TAG`, only ever set together with {@linkcode ArchiveReference.name}.
   */
  tag?: string;
  /** The manifest digest, if one was given; `oci-archive:` only. */
  digest?: string;
  /**
   * The image name of `docker-archive:FILE:NAME:TAG`, normalised as a registry reference is,
   * registry included: `docker.io/library/app` (the form skopeo writes in `RepoTags`).
   */
  name?: string;
}

const LAYOUT_PREFIX = "oci:";
const OCI_ARCHIVE_PREFIX = "oci-archive:";
const DOCKER_ARCHIVE_PREFIX = "docker-archive:";
const NAME_MAX_LENGTH = 255;
/**
 * Docker Hub's older and API host names: each names the same registry as
 * {@linkcode DEFAULT_REGISTRY}, and references and credential keys that use them are read as
 * `docker.io`.
 *
 * @example
 * ```ts
 * import { DEFAULT_REGISTRY, DOCKER_HUB_ALIASES } from "./mod.ts";
 * const host = "index.docker.io";
 * console.log(DOCKER_HUB_ALIASES.has(host) ? DEFAULT_REGISTRY : host); // "docker.io"
 * ```
 */
export const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set([
  "index.docker.io",
  "registry-1.docker.io",
]);
const DOCKER_HUB_API_HOST = "registry-1.docker.io";
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_LABEL = "[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?";
const DOMAIN = new RegExp(
  `^(?:\\[[a-fA-F0-9:]+\\]|${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*)(?::[0-9]+)?$`,
);
const TAG = /^\w[\w.-]{0,127}$/;
/** The reference grammar of a tag ({@linkcode isTag}) in words, for messages. */
export const TAG_RULE =
  'a tag is 1 to 128 letters, digits, "_", "." or "-", not starting with "." or "-"';
// The image-spec's grammar for `org.opencontainers.image.ref.name`, an OCI layout's tags.
const REF_COMPONENT = "[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*";
const REF_NAME = new RegExp(`^${REF_COMPONENT}(?:/${REF_COMPONENT})*$`);
// Docker refuses a bare image ID so that it is never taken for a repository name.
const IMAGE_ID = /^[a-f0-9]{64}$/;
// The OCI digest grammar's shape, loose on purpose: a path ending in "@sha256:abc" is a
// mistyped digest, better reported as such than read as a directory name.
const DIGEST_SHAPE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
// Control characters (NUL above all) cannot be in a file name the file system APIs accept.
const CONTROL = /\p{Cc}/u;
// A URL's scheme, which no reference has: `https://user:pass@host/app` is a URL pasted in.
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/**
 * Parses a registry or OCI layout reference. Input starting with `oci:` is a layout reference
 * (see {@linkcode parseLayoutReference}), anything else a registry reference (see
 * {@linkcode parseRegistryReference}); a registry host named `oci` with a port must be written
 * `OCI:PORT/…`.
 *
 * @throws {UsageError} when the reference is malformed.
 * @example
 * ```ts
 * import { parseReference } from "./mod.ts";
 * parseReference("localhost:5000/app:1"); // { kind: "registry", registry: "localhost:5000", … }
 * parseReference("oci:./images:v1"); // { kind: "layout", path: "./images", tag: "v1" }
 * ```
 */
export function parseReference(input: string): Reference {
  if (archivePrefix(input) !== undefined) return parseArchiveReference(input);
  return input.startsWith(LAYOUT_PREFIX)
    ? parseLayoutReference(input)
    : parseRegistryReference(input);
}

/**
 * Parses `[REGISTRY/]REPOSITORY[:TAG][@DIGEST]` as Docker does:
 *
 * - The part before the first `/` is the registry only if it contains `.` or `:`, is
 *   `localhost`, or is a bracketed IPv6 address; otherwise the whole name is a repository on
 *   `docker.io`. So `localhost:5000` alone is `docker.io/library/localhost` with tag `5000`.
 * - `index.docker.io` and `registry-1.docker.io` become `docker.io`, and a one-component
 *   repository on `docker.io` gets the `library/` prefix.
 * - The registry may contain uppercase letters; the repository may not.
 * - A reference without tag or digest stays so: choosing a default tag is the caller's job.
 * - Input starting with `oci:`, `oci-archive:` or `docker-archive:` is refused, being a layout
 *   or archive reference.
 *
 * @throws {UsageError} when the reference is malformed.
 * @example
 * ```ts
 * import { parseRegistryReference } from "./mod.ts";
 * parseRegistryReference("alpine:3");
 * // { kind: "registry", registry: "docker.io", repository: "library/alpine", tag: "3" }
 * ```
 */
export function parseRegistryReference(input: string): RegistryReference {
  const fail = (problem: string, hint?: string): never => {
    throw new UsageError(`invalid reference ${quoted(input)}: ${problem}`, { hint });
  };
  if (input === "") fail("the reference is empty");
  // Before the first "@" is read as a digest's: a password must not be quoted back as one.
  if (userInfoEnd(input) >= 0) {
    fail(
      "credentials cannot be part of a reference",
      "log in with `ocisync login HOST -u USER`, or pass -u USER --password-stdin",
    );
  }
  // Otherwise formatReference's output for this reference would parse as a layout reference.
  if (input.startsWith(LAYOUT_PREFIX)) {
    fail(
      `"${LAYOUT_PREFIX}" starts an OCI layout reference, not a registry reference`,
      'write a registry host named "oci" in capitals: "OCI:PORT/REPOSITORY"',
    );
  }
  // Likewise for the archive prefixes: "oci-archive:5000/app" is a host with a port.
  const archive = archivePrefix(input);
  if (archive !== undefined) {
    fail(
      `"${archive}" starts an archive reference, not a registry reference`,
      `write a registry host named "${archive.slice(0, -1)}" in capitals`,
    );
  }
  if (/\s/.test(input)) fail("whitespace is not allowed");
  if (IMAGE_ID.test(input)) {
    fail(
      "a 64-character hexadecimal string is an image ID, not a repository name",
      "name the image as REPOSITORY@sha256:<hex>",
    );
  }
  const at = input.indexOf("@");
  const digest = at < 0 ? undefined : checkDigest(input, input.slice(at + 1));
  const [domain, remainder] = splitDomain(at < 0 ? input : input.slice(0, at));
  if (domain !== undefined && !DOMAIN.test(domain)) {
    fail(`${JSON.stringify(domain)} is not a valid registry host`);
  }
  const registry = domain === undefined || DOCKER_HUB_ALIASES.has(domain)
    ? DEFAULT_REGISTRY
    : domain;
  // The repository path cannot contain ":", so the last one (if any) starts the tag.
  const colon = remainder.lastIndexOf(":");
  const path = colon < 0 ? remainder : remainder.slice(0, colon);
  const tag = colon < 0 ? undefined : remainder.slice(colon + 1);
  if (path === "") fail("the repository name is missing");
  if (/[A-Z]/.test(path)) fail("repository names must be lowercase");
  for (const component of path.split("/")) {
    if (component === "") fail("the repository name has an empty path component");
    if (!PATH_COMPONENT.test(component)) {
      fail(
        `${JSON.stringify(component)} is not a valid repository path component`,
        'use lowercase letters and digits, separated by ".", "_", "__" or "-"',
      );
    }
  }
  const repository = registry === DEFAULT_REGISTRY && !path.includes("/")
    ? `library/${path}`
    : path;
  if (registry.length + 1 + repository.length > NAME_MAX_LENGTH) {
    fail(`repository name must not be more than ${NAME_MAX_LENGTH} characters`);
  }
  if (tag !== undefined && !TAG.test(tag)) {
    fail(`invalid tag ${JSON.stringify(tag)}: ${TAG_RULE}`);
  }
  const ref: RegistryReference = { kind: "registry", registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/**
 * Parses `oci:PATH[:TAG|@DIGEST]`. PATH may itself contain `:`, `/` and `\` (`oci:C:\images`),
 * so the split follows fixed rules, in this order:
 *
 * 1. If the input ends in `@ALGORITHM:ENCODED`, that is the digest (validated strictly) and the
 *    rest is PATH.
 * 2. Otherwise, if the text after the last `:` is a valid tag (which never contains `/` or `\`),
 *    that is the tag and the rest is PATH.
 * 3. Otherwise everything is PATH.
 *
 * A tag and a digest are never both taken. A PATH containing a colon can always be followed by
 * `:TAG` so that its own colon is not read as the tag separator (`oci:./a:b:latest`), unless
 * PATH itself ends in `@word`.
 *
 * @throws {UsageError} when the reference is malformed or PATH is empty.
 * @example
 * ```ts
 * import { parseLayoutReference } from "./mod.ts";
 * parseLayoutReference("oci:./images:v1"); // { kind: "layout", path: "./images", tag: "v1" }
 * parseLayoutReference("oci:C:\\images"); // { kind: "layout", path: "C:\\images" }
 * ```
 */
export function parseLayoutReference(input: string): LayoutReference {
  const fail = (problem: string): never => {
    throw new UsageError(`invalid reference ${quoted(input)}: ${problem}`);
  };
  if (!input.startsWith(LAYOUT_PREFIX)) fail(`a layout reference starts with "${LAYOUT_PREFIX}"`);
  const rest = input.slice(LAYOUT_PREFIX.length);
  if (CONTROL.test(rest)) fail("control characters are not allowed");
  const ref: LayoutReference = { kind: "layout", path: rest };
  splitTagOrDigest(input, ref);
  if (ref.path === "") fail("the layout path is empty");
  return ref;
}

/**
 * Splits `ref.path`, `PATH[:TAG|@DIGEST]`, in place: a trailing `@ALGORITHM:ENCODED` is the
 * digest, else text after the last `:` that is a valid tag is the tag, else all of it is PATH.
 * `input` is the whole reference, for messages.
 */
function splitTagOrDigest(
  input: string,
  ref: Pick<LayoutReference, "path" | "tag" | "digest">,
): void {
  const rest = ref.path;
  const at = rest.lastIndexOf("@");
  const colon = rest.lastIndexOf(":");
  if (at >= 0 && DIGEST_SHAPE.test(rest.slice(at + 1))) {
    ref.path = rest.slice(0, at);
    ref.digest = checkDigest(input, rest.slice(at + 1));
  } else if (colon >= 0 && TAG.test(rest.slice(colon + 1))) {
    ref.path = rest.slice(0, colon);
    ref.tag = rest.slice(colon + 1);
  }
}

/**
 * Parses an archive reference:
 *
 * - `oci-archive:FILE[:TAG|@DIGEST]`, split by the rules of {@linkcode parseLayoutReference}:
 *   a trailing `@ALGORITHM:ENCODED` is the digest, else text after the last `:` that is a valid
 *   tag is the tag, else all of it is FILE.
 * - `docker-archive:FILE[:NAME[:TAG]]`, as skopeo reads it: FILE ends at the first `:` whose
 *   remainder is a valid image name, with or without a tag (`app:v1`,
 *   `localhost:5000/app:v1`), normalised as a registry reference is. A FILE with a colon of its
 *   own is read whole when no `:NAME` follows, unless the text after that colon is itself a
 *   valid name (`a:b.tar` is FILE `a`, NAME `b.tar`, as in skopeo). A NAME with a digest is
 *   refused: a docker archive lists its images by tag.
 *
 * @throws {UsageError} when the reference is malformed, or FILE is empty.
 * @example
 * ```ts
 * import { parseArchiveReference } from "./mod.ts";
 * parseArchiveReference("oci-archive:app.tar:v1");
 * // { kind: "archive", format: "oci", path: "app.tar", tag: "v1" }
 * parseArchiveReference("docker-archive:app.tar:app:v1");
 * // { kind: "archive", format: "docker", path: "app.tar", name: "docker.io/library/app", tag: "v1" }
 * ```
 */
export function parseArchiveReference(input: string): ArchiveReference {
  const fail = (problem: string): never => {
    throw new UsageError(`invalid reference ${quoted(input)}: ${problem}`);
  };
  const prefix = archivePrefix(input) ??
    fail(`an archive reference starts with "${OCI_ARCHIVE_PREFIX}" or "${DOCKER_ARCHIVE_PREFIX}"`);
  const rest = input.slice(prefix.length);
  if (CONTROL.test(rest)) fail("control characters are not allowed");
  const ref: ArchiveReference = prefix === OCI_ARCHIVE_PREFIX
    ? { kind: "archive", format: "oci", path: rest }
    : { kind: "archive", format: "docker", path: rest };
  if (ref.format === "oci") {
    splitTagOrDigest(input, ref);
  } else {
    for (let colon = rest.indexOf(":"); colon >= 0; colon = rest.indexOf(":", colon + 1)) {
      const image = imageName(rest.slice(colon + 1));
      if (image === undefined) continue;
      if (image.digest !== undefined) {
        fail("a docker-archive image is named NAME:TAG, not by digest");
      }
      ref.path = rest.slice(0, colon);
      ref.name = `${image.registry}/${image.repository}`;
      if (image.tag !== undefined) ref.tag = image.tag;
      break;
    }
  }
  if (ref.path === "") fail("the archive path is empty");
  return ref;
}

/** The registry reference `text` reads as, or undefined when it is none. */
function imageName(text: string): RegistryReference | undefined {
  try {
    return parseRegistryReference(text);
  } catch {
    return undefined;
  }
}

/** The archive prefix `input` starts with, if any. */
function archivePrefix(input: string): string | undefined {
  return [OCI_ARCHIVE_PREFIX, DOCKER_ARCHIVE_PREFIX].find((prefix) => input.startsWith(prefix));
}

/** `oci-archive:FILE[:TAG|@DIGEST]`, or `docker-archive:FILE[:NAME[:TAG]]`. */
function formatArchiveReference(ref: ArchiveReference): string {
  if (ref.format === "oci") return OCI_ARCHIVE_PREFIX + ref.path + suffix(ref);
  // A tag without a name cannot be written: it would read as a name.
  const image = ref.name === undefined
    ? ""
    : `:${ref.name}${ref.tag === undefined ? "" : `:${ref.tag}`}`;
  return DOCKER_ARCHIVE_PREFIX + ref.path + image;
}

/**
 * The canonical full form of a reference, which {@linkcode parseReference} (and
 * {@linkcode parseReference}, for registries and layouts) turns back into an equal reference:
 * `docker.io/library/alpine:3`, `oci:./images:v1`, `oci-archive:app.tar:v1`,
 * `docker-archive:app.tar:docker.io/library/app:v1`.
 *
 * @example
 * ```ts
 * import { formatReference, parseReference } from "./mod.ts";
 * formatReference(parseReference("alpine")); // "docker.io/library/alpine"
 * ```
 */
export function formatReference(ref: Reference): string {
  if (ref.kind === "archive") return formatArchiveReference(ref);
  const name = ref.kind === "layout"
    ? LAYOUT_PREFIX + ref.path
    : `${ref.registry}/${ref.repository}`;
  return name + suffix(ref);
}

/**
 * The short form Docker prints: `docker.io/` and `library/` are left out where that does not
 * change the meaning. Other references are printed in full.
 *
 * @example
 * ```ts
 * import { familiarReference, parseReference } from "./mod.ts";
 * familiarReference(parseReference("docker.io/library/alpine:3")); // "alpine:3"
 * familiarReference(parseReference("ghcr.io/org/app")); // "ghcr.io/org/app"
 * ```
 */
export function familiarReference(ref: Reference): string {
  if (ref.kind !== "registry" || ref.registry !== DEFAULT_REGISTRY) return formatReference(ref);
  const short = ref.repository.replace(/^library\/(?=[^/]+$)/, "");
  // "docker.io/foo.com/app" must keep its registry, or "foo.com" would be read as one.
  const name = splitDomain(short)[0] === undefined ? short : `${ref.registry}/${ref.repository}`;
  return name + suffix(ref);
}

/**
 * What to resolve: the digest if there is one (it pins the content), else the tag, else
 * `undefined` so that the caller can choose a default such as `latest`. Of a `docker-archive:`
 * reference it is the tag alone: the archive's target knows the name it was opened with.
 *
 * @example
 * ```ts
 * import { parseReference, referenceString } from "./mod.ts";
 * referenceString(parseReference("alpine:3")); // "3"
 * referenceString(parseReference("alpine")); // undefined
 * ```
 */
export function referenceString(ref: Reference): string | undefined {
  return ref.digest ?? ref.tag;
}

/**
 * The registry of the first registry reference of `references`, which a command lists in the
 * order it gives credentials: the reference it writes to, then those it reads. A user's
 * `--username` (and a credentials file's credential that names no registry) goes to this
 * registry only. `undefined` when none is a registry's.
 *
 * @example
 * ```ts
 * import { parseReference, registryOf } from "./mod.ts";
 * registryOf(parseReference("oci:./out"), parseReference("ghcr.io/acme/app:v1")); // "ghcr.io"
 * registryOf(parseReference("python:3.12")); // "docker.io"
 * registryOf(undefined, parseReference("oci:./out")); // undefined
 * ```
 */
export function registryOf(...references: (Reference | undefined)[]): string | undefined {
  return references.find((ref): ref is RegistryReference => ref?.kind === "registry")?.registry;
}

/**
 * The local paths that writing to `ref` changes: a layout's folder, or an archive's file; none
 * for a registry. A folder packed for that reference leaves them out (`WalkOptions.skip`).
 *
 * @example
 * ```ts
 * import { parseReference, writtenPaths } from "./mod.ts";
 * writtenPaths(parseReference("oci:./bundle:v1")); // ["./bundle"]
 * writtenPaths(parseReference("ghcr.io/acme/app:v1")); // []
 * ```
 */
export function writtenPaths(ref: Reference): string[] {
  return ref.kind === "registry" ? [] : [ref.path];
}

/**
 * The host that serves a registry's API: Docker Hub's is `registry-1.docker.io`, every other
 * registry serves its own.
 *
 * @example
 * ```ts
 * import { registryHost } from "./mod.ts";
 * registryHost("docker.io"); // "registry-1.docker.io"
 * registryHost("localhost:5000"); // "localhost:5000"
 * ```
 */
export function registryHost(registry: string): string {
  return registry === DEFAULT_REGISTRY ? DOCKER_HUB_API_HOST : registry;
}

/**
 * Whether a registry is one of the three loopback hosts that are spoken to over plain HTTP by
 * default: `localhost`, `127.0.0.1` or `[::1]`, with or without a port. Other loopback
 * addresses (`127.0.0.2`) use HTTPS like any other host, which lets a TLS registry be tested on
 * this machine. Any other string, including one that is not a valid registry host, is not.
 *
 * @example
 * ```ts
 * import { isLoopbackRegistry } from "./mod.ts";
 * isLoopbackRegistry("localhost:5000"); // true
 * isLoopbackRegistry("[::1]"); // true
 * isLoopbackRegistry("ghcr.io"); // false
 * ```
 */
export function isLoopbackRegistry(registry: string): boolean {
  if (!DOMAIN.test(registry)) return false;
  // The URL parser canonicalises hosts the way fetch will connect to them:
  // "LOCALHOST", "127.1" and "[0:0::1]" become "localhost", "127.0.0.1" and "[::1]".
  const host = URL.parse(`http://${registry}`)?.hostname;
  return host === "localhost" || host === "[::1]" || host === "127.0.0.1";
}

/**
 * Whether `text` is a tag by the reference grammar: a word character, then up to 127 word
 * characters, dots and dashes.
 *
 * @example
 * ```ts
 * import { isTag } from "./mod.ts";
 * isTag("v1.2.3"); // true
 * isTag("v9\nforged"); // false
 * ```
 */
export function isTag(text: string): boolean {
  return TAG.test(text);
}

/**
 * Refuses a tag that a registry cannot hold, by the reference grammar ({@linkcode isTag}).
 *
 * @throws {UsageError} naming the tag and the grammar.
 * @example
 * ```ts
 * import { checkTag } from "./mod.ts";
 * checkTag("v1.2.3"); // fine
 * checkTag("bad tag"); // throws: invalid tag "bad tag"
 * ```
 */
export function checkTag(tag: string): void {
  if (!TAG.test(tag)) throw new UsageError(`invalid tag ${JSON.stringify(tag)}: ${TAG_RULE}`);
}

/**
 * Refuses a tag that an OCI image layout (or an `oci-archive:`) cannot hold: one that is not an
 * `org.opencontainers.image.ref.name` by the image-spec's grammar.
 *
 * @throws {UsageError} naming the tag, with the grammar as the hint.
 * @example
 * ```ts
 * import { checkLayoutTag } from "./mod.ts";
 * checkLayoutTag("v1/linux+amd64"); // fine
 * checkLayoutTag("Bad!"); // throws: invalid tag "Bad!" for an OCI image layout
 * ```
 */
export function checkLayoutTag(tag: string): void {
  if (!REF_NAME.test(tag)) {
    throw new UsageError(`invalid tag ${JSON.stringify(tag)} for an OCI image layout`, {
      hint: 'use letters and digits, separated by "-", ".", "_", ":", "@", "+" or "/"',
    });
  }
}

/**
 * The `RepoTags` entry of a `docker-archive:` for `reference`: `NAME:TAG` in full
 * (`docker.io/library/app:v1`) for a reference with a `:` or `/`, else a bare tag joined to
 * `name`, the image name the archive was opened with; `undefined` for a bare tag with no name.
 *
 * @throws {UsageError} when it is malformed, or names a digest.
 * @example
 * ```ts
 * import { dockerArchiveTag } from "./mod.ts";
 * dockerArchiveTag("docker.io/library/app", "v1"); // "docker.io/library/app:v1"
 * dockerArchiveTag(undefined, "ghcr.io/acme/app:v2"); // "ghcr.io/acme/app:v2"
 * ```
 */
export function dockerArchiveTag(name: string | undefined, reference: string): string | undefined {
  const full = /[:/]/.test(reference);
  if (!full && name === undefined) return undefined;
  const ref = parseRegistryReference(full ? reference : `${name}:${reference}`);
  if (ref.digest !== undefined) {
    throw new UsageError(`a docker archive tags images NAME:TAG, not by digest: ${reference}`);
  }
  return `${ref.registry}/${ref.repository}:${ref.tag ?? "latest"}`;
}

/**
 * `text` with the credentials of a reference written as a URL (`user:pass@host/app`,
 * `https://user@host/app`) replaced by `***`, for messages that quote what the user gave; any
 * other text as it is. A repository's `NAME@sha256:…` is a digest, kept.
 *
 * @example
 * ```ts
 * import { redactCredentials } from "./mod.ts";
 * redactCredentials("alice:s3cret@ghcr.io/app:v1"); // "***@ghcr.io/app:v1"
 * redactCredentials("https://alice:pw@ghcr.io/app"); // "https://***@ghcr.io/app"
 * redactCredentials("ghcr.io/app@sha256:abc"); // "ghcr.io/app@sha256:abc"
 * ```
 */
export function redactCredentials(text: string): string {
  const at = userInfoEnd(text);
  return at < 0 ? text : `${SCHEME.exec(text)?.[0] ?? ""}***${text.slice(at)}`;
}

/** `input` quoted for a message, its credentials redacted. */
function quoted(input: string): string {
  return JSON.stringify(redactCredentials(input));
}

/**
 * The index of the `@` that ends the user-info of `text` written as a URL with credentials,
 * after an optional scheme and before the first `/`; -1 when it has none. Without a scheme or a
 * `/`, a `@` is a digest's (`app@sha256:…`, `app@md5:…`) unless a registry host follows it
 * (`user:pass@localhost:5000`). Layout and archive references are paths: they have none.
 */
function userInfoEnd(text: string): number {
  if (text.startsWith(LAYOUT_PREFIX) || archivePrefix(text) !== undefined) return -1;
  const scheme = SCHEME.exec(text)?.[0] ?? "";
  const rest = text.slice(scheme.length);
  const slash = rest.indexOf("/");
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const at = authority.lastIndexOf("@");
  if (at < 0) return -1;
  const host = authority.slice(at + 1);
  const digest = !DOMAIN.test(host) || !namesRegistry(host) ||
    isDigestAlgorithm(host.split(":")[0]);
  if (!scheme && slash < 0 && digest) return -1;
  return scheme.length + at;
}

/** Splits off the registry when the first component names one, by Docker's rule. */
function splitDomain(name: string): [domain: string | undefined, remainder: string] {
  const slash = name.indexOf("/");
  const first = name.slice(0, slash);
  const isDomain = slash >= 0 && namesRegistry(first);
  return isDomain ? [first, name.slice(slash + 1)] : [undefined, name];
}

/** Whether a reference's first component names a registry, by Docker's rule. */
function namesRegistry(first: string): boolean {
  return /[.:]/.test(first) || first === "localhost" || first.startsWith("[");
}

/** Validates a digest, naming the whole reference in the error. */
function checkDigest(input: string, digest: string): string {
  try {
    parseDigest(digest);
  } catch (error) {
    throw new UsageError(
      `invalid reference ${quoted(input)}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return digest;
}

/** The `:TAG` and `@DIGEST` that follow the name, as far as they are set. */
function suffix(ref: Reference): string {
  return (ref.tag === undefined ? "" : `:${ref.tag}`) +
    (ref.digest === undefined ? "" : `@${ref.digest}`);
}
