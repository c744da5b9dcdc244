/**
 * The option specs that every command shares, and the output mode they select. This module is
 * light on purpose: the dispatcher, `--help` and the shell completions load it without loading
 * any command's code.
 *
 * @module
 */
import type { OptionSpec, ParsedOptions } from "./args.ts";
import type { OutputMode } from "./output.ts";
import type { TagPolicy } from "../sync/policy.ts";
import type { VerifierFiles } from "../trust/files.ts";

/** `--json`, `-q`, `--verbose`, `--debug` and `--help`. */
export const OUTPUT_OPTIONS: OptionSpec[] = [
  { name: "json", type: "boolean", description: "print one JSON document" },
  { name: "quiet", short: "q", type: "boolean", description: "print only the main value" },
  {
    name: "verbose",
    short: "v",
    type: "boolean",
    description: "log each HTTP request and other details on stderr",
  },
  {
    name: "debug",
    type: "boolean",
    description:
      "--verbose, plus HTTP headers (secrets redacted) and the stack trace of an error and its causes",
  },
  { name: "help", short: "h", type: "boolean", description: "show this help" },
];

/** The output mode that the parsed options select; `--debug` implies `--verbose`. */
export function outputMode(options: ParsedOptions): OutputMode {
  const debug = options.debug === true;
  return {
    json: options.json === true,
    quiet: options.quiet === true,
    verbose: debug || options.verbose === true,
    debug,
    logLines: options["log-format"] === "json",
  };
}

/** Options of every command that talks to registries. */
export const REGISTRY_OPTIONS: OptionSpec[] = [
  {
    name: "username",
    short: "u",
    type: "string",
    value: "USER",
    description: "registry user name, for the registry written to (or read, if none is written)",
  },
  {
    name: "password-stdin",
    type: "boolean",
    description: "read the password or token from standard input; needs --username, and an " +
      "empty one is refused",
  },
  {
    name: "password",
    type: "string",
    value: "PASS",
    description: "refused: a password on the command line leaks into shell history and ps",
  },
  {
    name: "insecure",
    type: "boolean",
    description: "refused: the Deno runtime verifies every TLS certificate; use --ca-file",
  },
  {
    name: "credentials",
    type: "string",
    value: "FILE",
    description: 'a JSON file: Docker\'s {"auths": …} or {"username", "password", "registry"}',
  },
  {
    name: "plain-http",
    type: "boolean",
    description: "use HTTP instead of HTTPS (automatic for localhost and 127.0.0.1)",
  },
  {
    name: "ca-file",
    type: "string",
    value: "FILE",
    description: "trust this PEM certificate authority too",
  },
  {
    name: "retries",
    type: "string",
    value: "N",
    description: "retries of failed requests",
    default: "3",
  },
  {
    name: "timeout",
    type: "string",
    value: "DURATION",
    description: "how long to wait for a response, or for more of its body",
    default: "30s",
  },
];

/** `--compression`, for every command that writes layers. */
export const COMPRESSION_OPTION: OptionSpec = {
  name: "compression",
  type: "string",
  value: "ALGO",
  description: "gzip, zstd or none",
  default: "gzip",
};

/** `--libc glibc|musl`, for `build` and `deps`: which wheels an OCI platform means. */
export const LIBC_OPTION: OptionSpec = {
  name: "libc",
  type: "string",
  value: "glibc|musl",
  description: "the target's C library, for OCI platforms: manylinux wheels for glibc, " +
    "musllinux for musl (an Alpine base)",
  default: "glibc",
};

/**
 * The keyless checks, with cosign's flag names: `verify` takes them beside `--key`, and `pull`,
 * `copy` and `sync` beside `--verify-key`.
 */
export const KEYLESS_OPTIONS: OptionSpec[] = [
  {
    name: "trusted-root",
    type: "string",
    value: "FILE",
    description: "keyless: Sigstore's trusted_root.json (Fulcio CAs, Rekor and CT logs, TSAs)",
  },
  {
    name: "certificate-identity",
    type: "string",
    value: "ID",
    description: "keyless: the signer's exact identity (the certificate's email or URI)",
  },
  {
    name: "certificate-identity-regexp",
    type: "string",
    value: "RE",
    description: "keyless: a regular expression the identity must match (unanchored)",
  },
  {
    name: "certificate-oidc-issuer",
    type: "string",
    value: "ISS",
    description: "keyless: the exact OIDC issuer in the certificate",
  },
  {
    name: "certificate-oidc-issuer-regexp",
    type: "string",
    value: "RE",
    description: "keyless: a regular expression the issuer must match",
  },
  {
    name: "insecure-ignore-tlog",
    type: "boolean",
    description: "keyless: accept a bundle with no Rekor entry (an RFC 3161 timestamp); " +
      "with keys, verification reads no log anyway, and the flag is taken",
  },
  {
    name: "insecure-ignore-sct",
    type: "boolean",
    description: "keyless: accept a certificate without an SCT",
  },
];

/**
 * `--verify-key` and the keyless checks, for `pull`, `copy` and `sync`: any of them turns
 * verification on, before anything lands.
 */
export const VERIFY_OPTIONS: OptionSpec[] = [
  {
    name: "verify-key",
    type: "list",
    value: "FILE",
    description: "require a signature by this PEM public key (cosign.pub); any one may verify",
  },
  ...KEYLESS_OPTIONS,
];

/**
 * What the verification options ask for, as `openVerifier` (`../trust/verifier.ts`) reads it;
 * `keyOption` is the flag of the public keys (`verify-key`, or `verify`'s `key`).
 *
 * @example
 * ```ts
 * import { verifierFiles } from "./options.ts";
 * verifierFiles({ "verify-key": ["cosign.pub"] }); // { verifyKeys: ["cosign.pub"] }
 * ```
 */
export function verifierFiles(options: ParsedOptions, keyOption = "verify-key"): VerifierFiles {
  const text = (name: string) => options[name] as string | undefined;
  const files: VerifierFiles = {
    verifyKeys: options[keyOption] as string[] | undefined,
    trustedRoot: text("trusted-root"),
    certificateIdentity: text("certificate-identity"),
    certificateIdentityRegexp: text("certificate-identity-regexp"),
    certificateOidcIssuer: text("certificate-oidc-issuer"),
    certificateOidcIssuerRegexp: text("certificate-oidc-issuer-regexp"),
    insecureIgnoreTlog: options["insecure-ignore-tlog"] === true || undefined,
    insecureIgnoreSct: options["insecure-ignore-sct"] === true || undefined,
  };
  return Object.fromEntries(
    Object.entries(files).filter(([, value]) => value !== undefined),
  ) as VerifierFiles;
}

/** `--semver` and `--tag-regex`: the highest matching tag of a repository named without one. */
export const TAG_POLICY_OPTIONS: OptionSpec[] = [
  {
    name: "semver",
    type: "string",
    value: "RANGE",
    description: "follow the highest tag in this semantic-version range (REF without a tag)",
  },
  {
    name: "tag-regex",
    type: "string",
    value: "RE",
    description: "only tags that match (unanchored); alone, the lexically last",
  },
];

/** `--layer-media-type` and `--layer-operation`, for `pull` and `sync -o`. */
export const LAYER_OPTIONS: OptionSpec[] = [
  {
    name: "layer-media-type",
    type: "list",
    value: "GLOB",
    description: "take only layers whose media type matches (* matches any run)",
  },
  {
    name: "layer-operation",
    type: "string",
    value: "extract|copy",
    description: "unpack the layers taken, or store each blob as a file (its title, else layer-N)",
    default: "extract",
  },
];

/**
 * The tag policy that `--semver` and `--tag-regex` give; undefined when neither is.
 *
 * @example
 * ```ts
 * import { tagPolicyOption } from "./options.ts";
 * tagPolicyOption({ semver: "^1" }); // { semver: "^1" }
 * ```
 */
export function tagPolicyOption(options: ParsedOptions): TagPolicy | undefined {
  const policy: TagPolicy = {};
  if (options.semver !== undefined) policy.semver = options.semver as string;
  if (options["tag-regex"] !== undefined) policy.tagRegex = options["tag-regex"] as string;
  return Object.keys(policy).length > 0 ? policy : undefined;
}
