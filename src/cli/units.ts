/**
 * Human forms of durations and sizes on the command line: `30s`, `5m`,
 * `1h30m`, `512MiB`, `2GB`.
 *
 * @module
 */
import { UsageError } from "../errors/mod.ts";

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1000,
  kb: 1000,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
  t: 1e12,
  tb: 1e12,
  tib: 1024 ** 4,
};

/**
 * Parses a duration such as `30s`, `5m`, `1h30m` or `250ms` into
 * milliseconds. A bare number means seconds.
 *
 * @throws {UsageError} naming the option when the value is malformed.
 * @example
 * ```ts
 * import { parseDuration } from "./units.ts";
 * parseDuration("1m30s", "--interval"); // 90000
 * ```
 */
export function parseDuration(value: string, option: string): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== value) {
    throw new UsageError(`${option} must be a duration such as 30s, 5m or 1h30m, not "${value}"`);
  }
  return parts.reduce((total, [, n, unit]) => total + Number(n) * DURATION_UNITS[unit], 0);
}

/**
 * Parses a size such as `512MiB`, `2GB` or `1048576` into bytes.
 *
 * @throws {UsageError} naming the option when the value is malformed.
 * @example
 * ```ts
 * import { parseSize } from "./units.ts";
 * parseSize("512MiB", "--max-extract-size"); // 536870912
 * ```
 */
export function parseSize(value: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(value);
  const unit = match ? SIZE_UNITS[match[2].toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new UsageError(`${option} must be a size such as 512MiB or 2GB, not "${value}"`);
  }
  return Math.floor(Number(match[1]) * unit);
}

/**
 * Parses repeated `KEY=VALUE` options into a map.
 *
 * @example
 * ```ts
 * import { parseKeyValues } from "./units.ts";
 * parseKeyValues(["a=1", "b=x=y"], "--label"); // { a: "1", b: "x=y" }
 * ```
 */
export function parseKeyValues(
  values: string[] | undefined,
  option: string,
): Record<string, string> {
  const map: Record<string, string> = {};
  for (const value of values ?? []) {
    const eq = value.indexOf("=");
    if (eq <= 0) throw new UsageError(`${option} takes KEY=VALUE, not "${value}"`);
    map[value.slice(0, eq)] = value.slice(eq + 1);
  }
  return map;
}
