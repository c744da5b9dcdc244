/**
 * A `--config` file of `ocisync sync`: YAML, with defaults at the top and one mapping a target,
 * each validated as the same flags are (`./config.ts`). Its errors name the file, line and
 * column.
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
 * A target's keys are the flags of `ocisync sync` in camelCase; the keys that list
 * (`verifyKey`, `layerMediaTypes`) take a YAML list or one value. The verification keys
 * (`verifyKey`, `trustedRoot`, `certificateIdentity`, `certificateIdentityRegexp`,
 * `certificateOidcIssuer`, `certificateOidcIssuerRegexp`, `insecureIgnoreTlog`,
 * `insecureIgnoreSct`) may also be set at the top, for every target.
 *
 * @example
 * ```ts
 * import { parseSyncConfig } from "./config_file.ts";
 * const text = "targets:\n  - reference: localhost:5000/app:v1\n    events: true\n";
 * const config = await parseSyncConfig(text, "sync.yaml");
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
import { formatReference } from "../ref/mod.ts";
import { closest } from "../units/closest.ts";
import {
  DEFAULT_KEYS,
  type SyncTargetConfig,
  syncTargetConfig,
  type SyncTargetKey,
  type SyncTargetValues,
  TARGET_KEYS,
} from "./config.ts";

/**
 * A `--config` file: the targets, one loop each.
 *
 * @example
 * ```ts
 * import type { SyncConfig } from "./config_file.ts";
 * const empty: SyncConfig = { targets: [] };
 * ```
 */
export interface SyncConfig {
  /** The targets, in the file's order. */
  targets: SyncTargetConfig[];
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
 * import { parseSyncConfig } from "./config_file.ts";
 * await parseSyncConfig("targets: []\n", "sync.yaml"); // throws: sync.yaml:1:10: targets is empty
 * ```
 */
export async function parseSyncConfig(text: string, file: string): Promise<SyncConfig> {
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
    const target = await syncTargetConfig(values, name);
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
