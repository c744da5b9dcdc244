/**
 * Human forms of durations, sizes and counts, as a user types them on the
 * command line or in a config file: `30s`, `5m`, `1h30m`, `512MiB`, `2GB`,
 * `4`, `KEY=VALUE`. Every parser checks a range as well as the form: a value
 * that parses but makes no sense (`--timeout 0`, a count that cannot be
 * allocated) is a usage error naming the option, or the config key, and the
 * range.
 *
 * A formats-level folder, below every other: the CLI reads flags with these
 * parsers, and the library (`sync/config.ts`) reads its YAML with the same
 * ones, without importing anything from `cli/`.
 *
 * @example
 * ```ts
 * import { parseDuration, parseSize } from "./mod.ts";
 * parseDuration("1h30m", "interval"); // 5400000
 * parseSize("512MiB", "--max-extract-size"); // 536870912
 * ```
 * @module
 */
import { UsageError } from "../errors/mod.ts";

/** The smallest and largest value an option accepts, both allowed. */
export interface Bounds {
  /** The smallest value accepted. */
  min: number;
  /** The largest value accepted. */
  max: number;
}

/**
 * Any duration: from 1 ms to a day. The runtime's timers hold at most 2^31-1 ms (about 24.8
 * days) and fire at once beyond it, so a longer wait would silently become no wait.
 */
export const DURATION_BOUNDS: Bounds = { min: 1, max: 24 * 3_600_000 };

/** Any size: at least one byte, at most 8 PiB (2^53), the largest count a number holds exactly. */
export const SIZE_BOUNDS: Bounds = { min: 1, max: 2 ** 53 };

/** Any whole number without a range of its own: 1 or more. */
export const POSITIVE_BOUNDS: Bounds = { min: 1, max: Number.MAX_SAFE_INTEGER };

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
  // The top of SIZE_BOUNDS, 8PiB, must be a value one can type.
  p: 1e15,
  pb: 1e15,
  pib: 1024 ** 5,
};

/**
 * Parses a duration such as `30s`, `5m`, `1h30m` or `250ms` into
 * milliseconds. A bare number means seconds.
 *
 * @throws {UsageError} naming the option when the value is malformed or outside `bounds`
 * (by default {@linkcode DURATION_BOUNDS}, 1ms to 24h).
 * @example
 * ```ts
 * import { parseDuration } from "./mod.ts";
 * parseDuration("1m30s", "--interval"); // 90000
 * ```
 */
export function parseDuration(
  value: string,
  option: string,
  bounds: Bounds = DURATION_BOUNDS,
): number {
  const range = `from ${formatDuration(bounds.min)} to ${formatDuration(bounds.max)}`;
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(value)) {
    ms = Number(value) * 1000;
  } else {
    const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
    if (parts.length === 0 || parts.map((p) => p[0]).join("") !== value) {
      throw new UsageError(
        `${option} must be a duration such as 30s, 5m or 1h30m, ${range}, not "${value}"`,
      );
    }
    ms = parts.reduce((total, [, n, unit]) => total + Number(n) * DURATION_UNITS[unit], 0);
  }
  return inBounds(ms, bounds, () => `${option} must be a duration ${range}, not "${value}"`);
}

/** A duration in its largest whole unit, for messages: `1ms`, `30s`, `24h`. */
function formatDuration(ms: number): string {
  if (ms === 0) return "0";
  const unit = ["h", "m", "s"].find((u) => ms % DURATION_UNITS[u] === 0) ?? "ms";
  return `${ms / DURATION_UNITS[unit]}${unit}`;
}

/**
 * Parses a size such as `512MiB`, `2GB` or `1048576` into bytes.
 *
 * @throws {UsageError} naming the option when the value is malformed or outside `bounds`
 * (by default {@linkcode SIZE_BOUNDS}: at least a byte, at most 8 PiB).
 * @example
 * ```ts
 * import { parseSize } from "./mod.ts";
 * parseSize("512MiB", "--max-extract-size"); // 536870912
 * ```
 */
export function parseSize(value: string, option: string, bounds: Bounds = SIZE_BOUNDS): number {
  const range = `from ${formatSize(bounds.min)} to ${formatSize(bounds.max)}`;
  const match = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(value);
  const unit = match ? SIZE_UNITS[match[2].toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new UsageError(
      `${option} must be a size such as 512MiB or 2GB, ${range}, not "${value}"`,
    );
  }
  return inBounds(
    Math.floor(Number(match[1]) * unit),
    bounds,
    () => `${option} must be a size ${range}, not "${value}"`,
  );
}

/** A size in its largest whole binary unit, for messages: `1 byte`, `8PiB`. */
function formatSize(bytes: number): string {
  if (bytes === 1) return "1 byte";
  const units = ["KiB", "MiB", "GiB", "TiB", "PiB"];
  for (let power = units.length; power > 0; power--) {
    const factor = 1024 ** power;
    if (bytes % factor === 0) return `${bytes / factor}${units[power - 1]}`;
  }
  return `${bytes} bytes`;
}

/**
 * Parses a whole number of decimal digits within `bounds`. Only digits: `Number()` would also
 * take `1e9`, `0x10` or ` 5 `.
 *
 * @throws {UsageError} naming the option and the range.
 * @example
 * ```ts
 * import { parseWholeNumber } from "./mod.ts";
 * parseWholeNumber("4", "--concurrency", { min: 1, max: 64 }); // 4
 * ```
 */
export function parseWholeNumber(value: string, option: string, bounds: Bounds): number {
  const range = bounds.max === Number.MAX_SAFE_INTEGER
    ? `${bounds.min} or more`
    : `from ${bounds.min} to ${bounds.max}`;
  const message = () => `${option} must be a whole number ${range}, not "${value}"`;
  if (!/^\d+$/.test(value)) throw new UsageError(message());
  return inBounds(Number(value), bounds, message);
}

/** `value` if it lies within `bounds`, else a usage error with `message()`. */
function inBounds(value: number, bounds: Bounds, message: () => string): number {
  if (!(value >= bounds.min && value <= bounds.max)) throw new UsageError(message());
  return value;
}

/**
 * Parses repeated `KEY=VALUE` options into a map.
 *
 * @example
 * ```ts
 * import { parseKeyValues } from "./mod.ts";
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
