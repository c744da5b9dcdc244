/**
 * `ocisync gc oci:PATH`: removes the blobs of a layout that no index entry
 * reaches.
 *
 * @module
 */
import type { CommandSpec, ParsedArgs } from "../args.ts";
import { OUTPUT_OPTIONS } from "../common.ts";
import { formatBytes, type Output } from "../output.ts";
import { UsageError } from "../../errors/mod.ts";
import { gcLayout } from "../../layout/mod.ts";
import { parseReference } from "../../ref/mod.ts";

/** The spec of `gc`. */
export const gcSpec: CommandSpec = {
  name: "gc",
  summary: "remove unreachable blobs from an oci: layout",
  usage: "ocisync gc oci:PATH",
  positionals: [1, 1],
  options: OUTPUT_OPTIONS,
  examples: ["ocisync gc oci:./bundle", "ocisync gc oci:/var/lib/flows --json"],
};

/** Runs `gc`. Not while another process pushes to the same layout: see the README. */
export async function gc(args: ParsedArgs, out: Output): Promise<void> {
  const reference = parseReference(args.positionals[0]);
  if (reference.kind !== "layout" || reference.tag || reference.digest) {
    throw new UsageError("gc works on a whole layout: give oci:PATH, without a tag or digest");
  }
  const result = await gcLayout(reference.path);
  out.result({
    human: [
      `removed ${result.removed.length} blobs, freed ${formatBytes(result.freedBytes)}; ` +
      `${result.kept} blobs kept`,
      ...result.removed.map((r) => `  ${r.digest} ${formatBytes(r.size)}`),
    ].join("\n"),
    json: result,
    quiet: String(result.freedBytes),
  });
}
