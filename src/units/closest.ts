/**
 * The "did you mean" of mistyped names: the known name nearest to what was
 * typed, for an unknown option, command or config key.
 *
 * @example
 * ```ts
 * import { closest } from "./closest.ts";
 * closest("intervl", ["interval", "platform"]); // "interval"
 * ```
 * @module
 */

/**
 * The candidate nearest to `word` by edit distance, if it is near enough to
 * be a likely typo.
 *
 * @example
 * ```ts
 * import { closest } from "./closest.ts";
 * closest("--comprssion", ["--compression", "--json"]); // "--compression"
 * ```
 */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}
