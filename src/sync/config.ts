/**
 * The settings of one sync target, from command-line flags or from a `--config` YAML file,
 * validated the same way. A file's errors name the file, line and column.
 *
 * ```yaml
 * # Defaults for every target (optional).
 * interval: 30s
 * jitter: 10%
 * platform: linux/amd64
 * state: /var/lib/ocisync/state.json
 * targets:
 *   - reference: ghcr.io/acme/flows:prod
 *     output: /srv/flows        # -o DIR
 *     keep: 3
 *     exec: systemctl reload flows
 *   - reference: ghcr.io/acme/config:prod
 *     interval: 10s
 *     events: true
 *     encoding: base64
 *     webhook: https://hooks.example.com/config
 *   - reference: ghcr.io/acme/models      # no tag: the policy picks it
 *     semver: ">=1.2 <2"
 *     tagRegex: ^v                        # optional, with or without semver
 *     verifyKey: [/etc/ocisync/cosign.pub]
 *     output: /srv/models
 *     layerMediaTypes: ["application/vnd.acme.model*"]
 *     layerOperation: copy
 * ```
 *
 * A target's keys are the flags of `ocisync sync` in camelCase (`--tag-regex` is `tagRegex`,
 * `--insecure-ignore-tlog` is `insecureIgnoreTlog`); the keys that list (`verifyKey`,
 * `layerMediaTypes`) take a YAML list or one value. The verification keys (`verifyKey`,
 * `trustedRoot`, `certificateIdentity`, `certificateIdentityRegexp`, `certificateOidcIssuer`,
 * `certificateOidcIssuerRegexp`, `insecureIgnoreTlog`, `insecureIgnoreSct`) may also be set at
 * the top, for every target.
 *
 * @example
 * ```ts
 * import { parseSyncConfig } from "./config.ts";
 * const text = "targets:\n  - reference: localhost:5000/app:v1\n    events: true\n";
 * const config = parseSyncConfig(text, "sync.yaml");
 * console.log(config.targets[0].interval); // 30000
 * ```
 * @module
 */
import { resolve as resolvePath } from "node:path";
// Full npm: specifier, so that this module imports from outside this repository too.
// deno-lint-ignore no-import-prefix
import YAML from "npm:yaml@2.8.1";
import { parseYamlDocument } from "../yaml/mod.ts";
import { UsageError } from "../errors/mod.ts";
import { parsePlatform } from "../image/platform.ts";
import type { Platform } from "../oci/types.ts";
import type { LayerOperation } from "../pull/mod.ts";
import { type VerifierFiles, wantsVerification } from "../trust/verifier.ts";
import { checkPolicyReference, type TagPolicy } from "./policy.ts";
import { SYNC_DEFAULTS } from "./defaults.ts";
import { formatReference, parseReference, type Reference } from "../ref/mod.ts";
import { closest } from "../units/closest.ts";
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
 * A `--config` file: the targets, one loop each.
 *
 * @example
 * ```ts
 * import type { SyncConfig } from "./config.ts";
 * const empty: SyncConfig = { targets: [] };
 * ```
 */
export interface SyncConfig {
  /** The targets, in the file's order. */
  targets: SyncTargetConfig[];
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
const TARGET_KEYS: Record<SyncTargetKey, "string" | "boolean" | "list"> = {
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
const DEFAULT_KEYS: SyncTargetKey[] = [
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
 * such as `--interval`, or a key with its place in a file.
 *
 * @throws {UsageError} for a missing reference or a malformed value.
 * @example
 * ```ts
 * import { syncTargetConfig } from "./config.ts";
 * const target = syncTargetConfig(
 *   { reference: "localhost:5000/app:v1", interval: "5s", events: true },
 *   (key) => `--${key}`,
 * );
 * ```
 */
export function syncTargetConfig(
  values: SyncTargetValues,
  name: (key: SyncTargetKey) => string,
): SyncTargetConfig {
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

/**
 * Parses and validates a `--config` file. Beyond each target's settings, it checks that every
 * target has an output, that no two targets write one folder, and that no two targets keep
 * one reference in one state file.
 *
 * @throws {UsageError} with `FILE:LINE:COLUMN: ` before the message, for YAML syntax errors,
 * unknown keys, wrong types and bad values.
 * @example
 * ```ts
 * import { parseSyncConfig } from "./config.ts";
 * parseSyncConfig("targets: []\n", "sync.yaml"); // throws: sync.yaml:1:10: targets is empty
 * ```
 */
export function parseSyncConfig(text: string, file: string): SyncConfig {
  const lines = new YAML.LineCounter();
  const document = parseYamlDocument(text, file, { lineCounter: lines });
  const at = (node: YAML.Node | null | undefined): string => {
    const { line, col } = lines.linePos(node?.range?.[0] ?? 0);
    return `${file}:${line}:${col}`;
  };
  const [syntax] = document.errors;
  if (syntax) {
    const place = syntax.linePos?.[0];
    const message = syntax.message.split(/ at line \d+/)[0];
    throw new UsageError(`${file}:${place?.line ?? 1}:${place?.col ?? 1}: ${message}`);
  }
  const resolve = (node: unknown): YAML.Node | null =>
    YAML.isAlias(node) ? resolve(node.resolve(document)) : node as YAML.Node | null;
  const root = resolve(document.contents);
  if (!YAML.isMap(root)) {
    throw new UsageError(`${at(root)}: a sync config is a mapping with a "targets" list`);
  }
  const top = entries(root, ["targets", ...DEFAULT_KEYS], "the config", at, resolve);
  const list = top.get("targets");
  if (list === undefined) throw new UsageError(`${at(root)}: "targets" is missing`);
  const items = resolve(list.value);
  if (!YAML.isSeq(items)) throw new UsageError(`${at(items)}: targets must be a list`);
  if (items.items.length === 0) throw new UsageError(`${at(items)}: targets is empty`);

  const targets: SyncTargetConfig[] = [];
  const folders = new Set<string>();
  const states = new Set<string>();
  for (const [index, item] of items.items.entries()) {
    const node = resolve(item);
    const path = `targets[${index}]`;
    if (!YAML.isMap(node)) throw new UsageError(`${at(node)}: ${path} must be a mapping`);
    const own = entries(node, Object.keys(TARGET_KEYS), path, at, resolve);
    const values: SyncTargetValues = {};
    const places = new Map<string, YAML.Node>();
    for (const key of Object.keys(TARGET_KEYS) as SyncTargetKey[]) {
      const found = own.get(key) ?? (DEFAULT_KEYS.includes(key) ? top.get(key) : undefined);
      if (found === undefined) continue;
      const place = found.value ?? found.key;
      values[key] = TARGET_KEYS[key] === "list"
        ? listValue(found.value, `${at(place)}: ${key}`, resolve)
        : scalarValue(found.value, `${at(place)}: ${key}`);
      places.set(key, place);
    }
    const name = (key: string) => `${at(places.get(key) ?? node)}: ${key}`;
    const target = syncTargetConfig(values, name);
    if (!target.events && !target.output && !target.exec && !target.webhook) {
      throw new UsageError(
        `${at(node)}: ${path} has no output: give events, output, exec or webhook`,
      );
    }
    // Compared as absolute paths: `live` and `./live` are one folder, with one lock. One inside
    // another's would be pulled into, or pruned, by the other's sync.
    if (target.output !== undefined) {
      const folder = resolvePath(target.output);
      const other = [...folders].find((f) =>
        f === folder || within(folder, f) || within(f, folder)
      );
      if (other !== undefined) {
        const how = other === folder
          ? "writes"
          : within(folder, other)
          ? "writes around"
          : "writes inside";
        throw new UsageError(`${name("output")}: another target ${how} ${target.output}`);
      }
      folders.add(folder);
    }
    const stateFile = target.state === undefined ? "" : resolvePath(target.state);
    const stateKey = `${stateFile}\n${formatReference(target.reference)}`;
    if (target.state !== undefined && states.has(stateKey)) {
      throw new UsageError(
        `${name("reference")}: another target keeps ${
          formatReference(target.reference)
        } in ${target.state}`,
        { hint: "give one of them another state file" },
      );
    }
    states.add(stateKey);
    targets.push(target);
  }
  return { targets };
}

/** Whether the absolute path `inner` is below the folder `outer`. */
function within(inner: string, outer: string): boolean {
  return inner.startsWith(outer === "/" ? "/" : `${outer}/`);
}

/** A mapping's pairs by key, refusing keys other than `allowed`. */
function entries(
  map: YAML.YAMLMap,
  allowed: string[],
  what: string,
  at: (node: YAML.Node | null | undefined) => string,
  resolve: (node: unknown) => YAML.Node | null,
): Map<string, { key: YAML.Node; value: YAML.Node | null }> {
  const found = new Map<string, { key: YAML.Node; value: YAML.Node | null }>();
  for (const pair of map.items) {
    const key = resolve(pair.key);
    const name = YAML.isScalar(key) ? String(key.value) : undefined;
    if (name === undefined || !allowed.includes(name)) {
      const suggestion = name === undefined ? undefined : closest(name, allowed);
      throw new UsageError(`${at(key)}: unknown key ${JSON.stringify(name ?? "?")} in ${what}`, {
        hint: suggestion ? `did you mean "${suggestion}"?` : `the keys are: ${allowed.join(", ")}`,
      });
    }
    found.set(name, { key: key!, value: resolve(pair.value) });
  }
  return found;
}

/** A YAML list of scalars, or one scalar, as a list setting's values. */
function listValue(
  node: YAML.Node | null,
  name: string,
  resolve: (node: unknown) => YAML.Node | null,
): string[] {
  if (!YAML.isSeq(node)) {
    const value = scalarValue(node, name);
    if (typeof value === "boolean") throw new UsageError(`${name} takes values, not ${value}`);
    return [value];
  }
  return node.items.map((item) => {
    const value = scalarValue(resolve(item), name);
    if (typeof value === "boolean") throw new UsageError(`${name} takes values, not ${value}`);
    return value;
  });
}

/**
 * A YAML scalar as a setting: booleans stay booleans, numbers are the text as written. YAML's
 * number would be another text: `semver: 1.10` would be "1.1", `2.0` "2", `0x10` "16", and a
 * large integer rounded; the setting parses its own text, as it does on the command line.
 */
function scalarValue(node: YAML.Node | null, name: string): string | boolean {
  const scalar = YAML.isScalar(node) ? node : undefined;
  const value = scalar?.value;
  if (typeof value === "boolean" || typeof value === "string") return value;
  if (typeof value === "number" && typeof scalar?.source === "string") return scalar.source;
  throw new UsageError(`${name} needs a single value`);
}
