/**
 * The settings of one sync target, from command-line flags or from a `--config` file (read by
 * `./config_file.ts`), validated the same way: `name(key)` words each error, as a flag
 * (`--interval`) or as a key with its place in the file.
 *
 * A target's keys are the flags of `ocisync sync` in camelCase (`--tag-regex` is `tagRegex`,
 * `--insecure-ignore-tlog` is `insecureIgnoreTlog`). This module loads no npm package: the tag
 * policy's semver parser loads only for a target that has a policy, and the YAML parser only
 * for a file, so that `sync REF --once` starts without either.
 *
 * @module
 */
import { UsageError } from "../errors/mod.ts";
import { parsePlatform } from "../image/platform.ts";
import type { Platform } from "../oci/types.ts";
import type { LayerOperation } from "../pull/mod.ts";
import { type VerifierFiles, wantsVerification } from "../trust/files.ts";
import type { TagPolicy } from "./policy.ts";
import { SYNC_DEFAULTS } from "./defaults.ts";
import { parseReference, type Reference } from "../ref/mod.ts";
import { parseDuration, parseWholeNumber, POSITIVE_BOUNDS } from "../units/mod.ts";

/**
 * One reference to keep in step, and where it goes.
 *
 * @example
 * ```ts
 * import type { SyncTargetConfig } from "./config.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const target: SyncTargetConfig = {
 *   reference: parseReference("ghcr.io/acme/flows:prod"),
 *   interval: 30_000,
 *   jitter: 0.1,
 *   events: false,
 *   encoding: "utf-8",
 *   output: "/srv/flows",
 *   keep: 2,
 * };
 * ```
 */
export interface SyncTargetConfig {
  /** The reference: a tag, a digest or an `oci:` layout. */
  reference: Reference;
  /** Milliseconds between ticks. */
  interval: number;
  /** The fraction of the interval by which waits are shortened at random, from 0 to 1. */
  jitter: number;
  /** The platform to choose from an index; the host's when absent. */
  platform?: Platform;
  /** The state file; in memory when absent. */
  state?: string;
  /** Whether to write JSON lines events on stdout. */
  events: boolean;
  /** How events carry layer contents. */
  encoding: "utf-8" | "base64";
  /** The folder to materialise into (`-o DIR`). */
  output?: string;
  /** Versions kept in the output folder. */
  keep: number;
  /** A shell command to run after each change. */
  exec?: string;
  /** Milliseconds the `exec` hook may run; none when absent. */
  execTimeout?: number;
  /** A URL to `POST` a summary of each change to. */
  webhook?: URL;
  /** Follow the highest matching tag (`semver`, `tagRegex`); the reference then has no tag. */
  tagPolicy?: TagPolicy;
  /**
   * Verify signatures before delivering (`verifyKey`, `trustedRoot`, `certificate…`,
   * `insecureIgnore…`), as `openVerifier` of `../trust/verifier.ts` reads them.
   */
  verify?: VerifierFiles;
  /** With `output`: take only the layers whose media type matches one of these globs. */
  layerMediaTypes?: string[];
  /** With `output`: `extract` the layers taken (the default), or `copy` each blob as a file. */
  layerOperation?: LayerOperation;
}

/**
 * The name of one of a target's settings: a flag of `ocisync sync`, or a key of a target in a
 * `--config` file.
 *
 * @example
 * ```ts
 * import type { SyncTargetKey } from "./config.ts";
 * const key: SyncTargetKey = "interval";
 * ```
 */
export type SyncTargetKey =
  | "reference"
  | "interval"
  | "jitter"
  | "platform"
  | "state"
  | "events"
  | "encoding"
  | "output"
  | "keep"
  | "exec"
  | "execTimeout"
  | "webhook"
  | "semver"
  | "tagRegex"
  | "verifyKey"
  | "trustedRoot"
  | "certificateIdentity"
  | "certificateIdentityRegexp"
  | "certificateOidcIssuer"
  | "certificateOidcIssuerRegexp"
  | "insecureIgnoreTlog"
  | "insecureIgnoreSct"
  | "layerMediaTypes"
  | "layerOperation";

/**
 * The keys of a target, and whether each is a flag (boolean), takes a value (string), or one or
 * more values (list).
 */
export const TARGET_KEYS: Record<SyncTargetKey, "string" | "boolean" | "list"> = {
  reference: "string",
  interval: "string",
  jitter: "string",
  platform: "string",
  state: "string",
  events: "boolean",
  encoding: "string",
  output: "string",
  keep: "string",
  exec: "string",
  execTimeout: "string",
  webhook: "string",
  semver: "string",
  tagRegex: "string",
  verifyKey: "list",
  trustedRoot: "string",
  certificateIdentity: "string",
  certificateIdentityRegexp: "string",
  certificateOidcIssuer: "string",
  certificateOidcIssuerRegexp: "string",
  insecureIgnoreTlog: "boolean",
  insecureIgnoreSct: "boolean",
  layerMediaTypes: "list",
  layerOperation: "string",
};

/** The verification keys, and the field of {@linkcode VerifierFiles} each sets. */
const VERIFY_KEYS = [
  ["verifyKey", "verifyKeys"],
  ["trustedRoot", "trustedRoot"],
  ["certificateIdentity", "certificateIdentity"],
  ["certificateIdentityRegexp", "certificateIdentityRegexp"],
  ["certificateOidcIssuer", "certificateOidcIssuer"],
  ["certificateOidcIssuerRegexp", "certificateOidcIssuerRegexp"],
  ["insecureIgnoreTlog", "insecureIgnoreTlog"],
  ["insecureIgnoreSct", "insecureIgnoreSct"],
] as const satisfies readonly (readonly [SyncTargetKey, keyof VerifierFiles])[];

/**
 * A target's settings as given, before validation: flags' strings, or a file's scalars.
 *
 * @example
 * ```ts
 * import type { SyncTargetValues } from "./config.ts";
 * const values: SyncTargetValues = { reference: "localhost:5000/app:v1", events: true };
 * ```
 */
export type SyncTargetValues = Partial<Record<SyncTargetKey, string | boolean | string[]>>;
/** The keys at the top of a file that give every target a default. */
export const DEFAULT_KEYS: readonly SyncTargetKey[] = [
  "interval",
  "jitter",
  "platform",
  "state",
  ...VERIFY_KEYS.map(([key]) => key),
];

/**
 * Parses a jitter: a percentage of the interval from `0%` to `100%`, as a fraction.
 *
 * @throws {UsageError} naming `option` when the value is malformed.
 * @example
 * ```ts
 * import { parseJitter } from "./config.ts";
 * parseJitter("10%", "--jitter"); // 0.1
 * ```
 */
export function parseJitter(value: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)%$/.exec(value);
  if (!match || Number(match[1]) > 100) {
    throw new UsageError(`${option} must be a percentage from 0% to 100%, not "${value}"`);
  }
  return Number(match[1]) / 100;
}

/**
 * Validates one target's settings. `name(key)` says how a setting is named in errors: a flag
 * such as `--interval`, or a key with its place in a file. Asynchronous because a tag policy's
 * code is loaded only when a target has one.
 *
 * @throws {UsageError} for a missing reference or a malformed value.
 * @example
 * ```ts
 * import { syncTargetConfig } from "./config.ts";
 * const target = await syncTargetConfig(
 *   { reference: "localhost:5000/app:v1", interval: "5s", events: true },
 *   (key) => `--${key}`,
 * );
 * ```
 */
export async function syncTargetConfig(
  values: SyncTargetValues,
  name: (key: SyncTargetKey) => string,
): Promise<SyncTargetConfig> {
  const text = (key: SyncTargetKey): string | undefined => {
    const value = values[key];
    if (value === undefined || typeof value === "string") return value;
    if (Array.isArray(value)) throw new UsageError(`${name(key)} takes one value, not a list`);
    throw new UsageError(`${name(key)} takes a value, not ${value}`);
  };
  const list = (key: SyncTargetKey): string[] | undefined => {
    const value = values[key];
    if (value === undefined || Array.isArray(value)) return value;
    if (typeof value === "string") return [value];
    throw new UsageError(`${name(key)} takes values, not ${value}`);
  };
  const flag = (key: SyncTargetKey): boolean | undefined => {
    const value = values[key];
    if (value === undefined || typeof value === "boolean") return value;
    throw new UsageError(`${name(key)} is true or false, not "${value}"`);
  };
  const named = <T>(key: SyncTargetKey, parse: () => T): T => {
    try {
      return parse();
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      throw new UsageError(`${name(key)}: ${error.message}`, { hint: error.hint });
    }
  };
  const reference = text("reference");
  if (reference === undefined) throw new UsageError(`${name("reference")} is missing`);
  const interval = parseDuration(text("interval") ?? SYNC_DEFAULTS.interval, name("interval"));
  if (interval <= 0) throw new UsageError(`${name("interval")} must be more than 0`);
  const encoding = text("encoding") ?? SYNC_DEFAULTS.encoding;
  if (encoding !== "utf-8" && encoding !== "base64") {
    throw new UsageError(`${name("encoding")} must be utf-8 or base64, not "${encoding}"`);
  }
  const events = flag("events") ?? false;
  const exec = text("exec");
  const execTimeoutText = text("execTimeout");
  const execTimeout = execTimeoutText === undefined
    ? undefined
    : parseDuration(execTimeoutText, name("execTimeout"));
  if (execTimeout !== undefined && exec === undefined) {
    throw new UsageError(`${name("execTimeout")} needs ${name("exec")}: it bounds the hook`);
  }
  if (execTimeout === 0) throw new UsageError(`${name("execTimeout")} must be more than 0`);
  const platform = text("platform");
  const webhook = text("webhook");
  const webhookUrl = webhook === undefined ? undefined : URL.parse(webhook);
  if (webhookUrl === null || (webhookUrl && !/^https?:$/.test(webhookUrl.protocol))) {
    throw new UsageError(`${name("webhook")} must be an http or https URL`);
  }
  const parsedReference = named("reference", () => parseReference(reference));
  const policy: TagPolicy = {};
  for (const key of ["semver", "tagRegex"] as const) {
    const value = text(key);
    if (value !== undefined) policy[key] = value;
  }
  const tagPolicy = Object.keys(policy).length > 0 ? policy : undefined;
  if (tagPolicy) {
    const key = tagPolicy.semver !== undefined ? "semver" : "tagRegex";
    // The policy's code loads npm:semver: only for a target that has one.
    const { checkPolicyReference } = await import("./policy.ts");
    named(key, () => checkPolicyReference(parsedReference, tagPolicy));
  }
  const verify: VerifierFiles = {};
  for (const [key, field] of VERIFY_KEYS) {
    const value = key === "verifyKey"
      ? list(key)
      : TARGET_KEYS[key] === "boolean"
      ? flag(key)
      : text(key);
    if (value !== undefined) (verify as Record<string, unknown>)[field] = value;
  }
  // An empty list reads as no key at all: a target's `verifyKey: []` would silently drop the keys
  // set at the top of the file, and with them the target's verification.
  if (verify.verifyKeys?.length === 0) {
    throw new UsageError(`${name("verifyKey")} is an empty list`, {
      hint: "give at least one public key; leave verifyKey out to take the one at the top of the " +
        "file. To verify only some targets, set verifyKey on those targets, not at the top",
    });
  }
  const keyless = verify.certificateIdentity !== undefined ||
    verify.certificateIdentityRegexp !== undefined ||
    verify.certificateOidcIssuer !== undefined ||
    verify.certificateOidcIssuerRegexp !== undefined;
  if (verify.trustedRoot !== undefined || keyless) {
    if (verify.trustedRoot === undefined) {
      throw new UsageError(`keyless verification needs ${name("trustedRoot")}`);
    }
    if (
      verify.certificateIdentity === undefined && verify.certificateIdentityRegexp === undefined
    ) {
      throw new UsageError(
        `${name("trustedRoot")} needs ${name("certificateIdentity")} or ` +
          `${name("certificateIdentityRegexp")}`,
      );
    }
    if (
      verify.certificateOidcIssuer === undefined && verify.certificateOidcIssuerRegexp === undefined
    ) {
      throw new UsageError(
        `${name("trustedRoot")} needs ${name("certificateOidcIssuer")} or ` +
          `${name("certificateOidcIssuerRegexp")}`,
      );
    }
  }
  const layerMediaTypes = list("layerMediaTypes");
  if (layerMediaTypes?.some((glob) => glob.trim() === "")) {
    throw new UsageError(`${name("layerMediaTypes")} has an empty media type`);
  }
  const layerOperation = text("layerOperation");
  if (layerOperation !== undefined && layerOperation !== "extract" && layerOperation !== "copy") {
    throw new UsageError(
      `${name("layerOperation")} must be extract or copy, not "${layerOperation}"`,
    );
  }
  const output = text("output");
  for (const key of ["layerMediaTypes", "layerOperation"] as const) {
    const given = key === "layerOperation"
      ? layerOperation !== undefined
      : !!layerMediaTypes?.length;
    if (given && output === undefined) {
      throw new UsageError(
        `${name(key)} needs ${name("output")}: it chooses what the folder holds`,
      );
    }
  }
  return {
    reference: parsedReference,
    interval,
    jitter: parseJitter(text("jitter") ?? SYNC_DEFAULTS.jitter, name("jitter")),
    platform: platform === undefined ? undefined : named("platform", () => parsePlatform(platform)),
    state: text("state"),
    events,
    encoding,
    output,
    keep: parseWholeNumber(text("keep") ?? SYNC_DEFAULTS.keep, name("keep"), POSITIVE_BOUNDS),
    exec,
    ...(execTimeout === undefined ? {} : { execTimeout }),
    webhook: webhookUrl,
    ...(tagPolicy ? { tagPolicy } : {}),
    ...(wantsVerification(verify) ? { verify } : {}),
    ...(layerMediaTypes?.length ? { layerMediaTypes } : {}),
    ...(layerOperation ? { layerOperation } : {}),
  };
}
