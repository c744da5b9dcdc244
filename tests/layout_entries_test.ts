/**
 * A layout (and so an oci-archive) of one multi-platform image has one `index.json` entry: the
 * index, under its tag. Each platform's manifest was listed too, untagged, so that an archive of
 * one image held three (`copy oci-archive:app.tar DST` and skopeo refused it without a tag, the
 * README's air-gap step), and a tag moved to a new image left the old platforms listed, for gc
 * to keep for ever. skopeo reads what ocisync wrote.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ocisync, ocisyncOk, runOk, shown } from "./helpers/cli.ts";
import { withTempDir, writeTree } from "./helpers/tree.ts";
import { requireTool } from "./helpers/tools.ts";

requireTool("skopeo", "skopeo");

const PLATFORMS = "linux/amd64,linux/arm64";

/** The entries of a layout's `index.json`. */
async function entries(layout: string): Promise<{ digest: string; mediaType: string }[]> {
  return JSON.parse(await Deno.readTextFile(`${layout}/index.json`)).manifests;
}

/** The digests an index lists. */
async function children(layout: string, index: string): Promise<string[]> {
  const bytes = await Deno.readTextFile(`${layout}/blobs/sha256/${index.slice("sha256:".length)}`);
  return JSON.parse(bytes).manifests.map((d: { digest: string }) => d.digest);
}

Deno.test("a multi-platform image is one entry of a layout and an archive; a moved tag leaves nothing listed", () =>
  withTempDir("ocisync-layout-entries-", async (tmp) => {
    await writeTree(`${tmp}/app`, { "main.py": { type: "file", content: "print(1)\n" } });
    const layout = `${tmp}/layout`;
    await ocisyncOk(["push", `oci:${layout}:v1`, `${tmp}/app`, "--platform", PLATFORMS]);
    const [first] = await entries(layout);
    assert.deepEqual((await entries(layout)).length, 1);
    assert.equal(first.mediaType, "application/vnd.oci.image.index.v1+json");

    // The air gap: into an archive, and out of it without naming a tag, by ocisync and skopeo.
    await ocisyncOk(["copy", `oci:${layout}:v1`, `oci-archive:${tmp}/app.tar`]);
    await ocisyncOk(["copy", `oci-archive:${tmp}/app.tar`, `oci:${tmp}/inside:v1`]);
    assert.deepEqual((await entries(`${tmp}/inside`)).map((e) => e.digest), [first.digest]);
    await runOk("skopeo", [
      "copy",
      "--all",
      `oci-archive:${tmp}/app.tar`,
      `oci:${tmp}/by-skopeo:v1`,
    ]);

    // The tag moves to another image: the old index and its platforms are no longer listed,
    // and gc removes them.
    await writeTree(`${tmp}/app`, { "main.py": { type: "file", content: "print(2)\n" } });
    await ocisyncOk(["push", `oci:${layout}:v1`, `${tmp}/app`, "--platform", PLATFORMS]);
    const [second] = await entries(layout);
    assert.deepEqual((await entries(layout)).map((e) => e.digest), [second.digest]);
    const gone = [first.digest, ...await children(layout, first.digest)];
    const gc = JSON.parse(await ocisyncOk(["gc", `oci:${layout}`, "--grace", "0", "--json"]));
    const removed = gc.removed.map((r: { digest: string }) => r.digest);
    for (const digest of gone) assert.ok(removed.includes(digest), `${digest} was kept`);
    for (const digest of [second.digest, ...await children(layout, second.digest)]) {
      assert.ok(!removed.includes(digest), `${digest} was removed`);
    }
  }));

Deno.test("a layout or an archive written inside the folder pushed is left out of it: one digest, run after run", () =>
  withTempDir("ocisync-layout-inside-", async (tmp) => {
    await writeTree(`${tmp}/project`, { "flow.py": { type: "file", content: "print(1)\n" } });
    for (const destination of ["oci:bundle:v1", "oci-archive:app.tar:v1"]) {
      const digests = new Set<string>();
      for (let run = 0; run < 3; run++) {
        const result = await ocisync(["push", destination, ".", "-q"], { cwd: `${tmp}/project` });
        assert.equal(result.code, 0, shown(result));
        digests.add(result.stdout.trim().split("@")[1]);
      }
      assert.equal(digests.size, 1, `${destination}: ${[...digests].join(", ")}`);
    }
    // The layer holds the project's file alone (GNU tar lists it).
    const [entry] = await entries(`${tmp}/project/bundle`);
    const manifest = JSON.parse(
      await Deno.readTextFile(`${tmp}/project/bundle/blobs/sha256/${entry.digest.slice(7)}`),
    );
    const layer = `${tmp}/project/bundle/blobs/sha256/${manifest.layers[0].digest.slice(7)}`;
    assert.deepEqual((await runOk("tar", ["-tzf", layer])).trim().split("\n"), ["flow.py"]);
  }));
