/**
 * `ocisync gc oci:PATH`: removes the blobs of a layout that no index entry
 * reaches, once they are older than the grace period.
 *
 * @module
 */
import type { ParsedArgs } from "../args.ts";
import { formatBytes, type Output } from "../output.ts";
import { type Bounds, parseDuration } from "../../units/mod.ts";
import { UsageError } from "../../errors/mod.ts";
import { gcLayout, type GcResult } from "../../layout/mod.ts";
import { parseReference } from "../../ref/mod.ts";
import { DEFAULT_GRACE } from "../specs.ts";
export { gcSpec } from "../specs.ts";

/** 0 is allowed: for tests, and for users who know that nothing writes to the layout. */
const GRACE_BOUNDS: Bounds = { min: 0, max: 30 * 24 * 3_600_000 };

/** Runs `gc`. Safe while other processes push to the layout: see the README. */
export async function gc(args: ParsedArgs, out: Output): Promise<void> {
  const reference = parseReference(args.positionals[0]);
  if (reference.kind !== "layout" || reference.tag || reference.digest) {
    throw new UsageError("gc works on a whole layout: give oci:PATH, without a tag or digest");
  }
  const grace = args.options.grace as string | undefined ?? DEFAULT_GRACE;
  const result = await gcLayout(reference.path, {
    graceMs: parseDuration(grace, "--grace", GRACE_BOUNDS),
  });
  out.result({
    human: humanSummary(result, grace),
    json: result,
    quiet: String(result.freedBytes),
  });
}

/** What was removed, and what the grace period kept, one blob a line. */
function humanSummary(result: GcResult, grace: string): string {
  const young = result.withinGrace.length;
  return [
    `removed ${result.removed.length} blobs, freed ${formatBytes(result.freedBytes)}; ` +
    `${result.kept} blobs kept` +
    (young > 0 ? `, ${young} of them unreachable but younger than --grace ${grace}` : ""),
    ...result.removed.map((r) => `  removed ${r.digest} ${formatBytes(r.size)}`),
    ...result.removedTemporary.map((t) =>
      `  removed ${t.path} ${formatBytes(t.size)} (left by a write that died)`
    ),
    ...result.withinGrace.map((r) => `  kept    ${r.digest} ${formatBytes(r.size)} (too young)`),
  ].join("\n");
}
