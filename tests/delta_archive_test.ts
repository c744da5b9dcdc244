/**
 * Incremental bundles: `copy SRC oci-archive:delta.tar --skip-blobs-in REF` leaves out the blobs
 * REF has and lists them in `index.json` as expected; a copy from the delta checks that the
 * destination has them before writing anything.
 */
import assert from "node:assert/strict";
import { ocisync, runOk, shown } from "./helpers/cli.ts";
import { startRegistry } from "./helpers/registry.ts";
import { requireTool } from "./helpers/tools.ts";
import { withTempDir, writeTree } from "./helpers/tree.ts";

requireTool("skopeo", "skopeo");
requireTool("tar", "tar");

const EXPECTED = "dev.ocisync.archive.expected-blobs";

Deno.test("a delta archive carries only what the other side lacks, and is checked on import", async () => {
  const [a, b, c] = [await startRegistry(), await startRegistry(), await startRegistry()];
  try {
    await withTempDir("ocisync-delta-", async (tmp) => {
      // Random, so that it does not compress away: the base layer is most of the image.
      const base = Array.from(crypto.getRandomValues(new Uint8Array(60_000)), (n) => n.toString(16))
        .join("");
      await writeTree(`${tmp}/base`, { "lib.txt": { type: "file", content: base } });
      const digests: Record<string, { digest: string; layers: { digest: string }[] }> = {};
      for (const version of ["v1", "v2"]) {
        await writeTree(`${tmp}/${version}`, { "app.py": { type: "file", content: version } });
        const push = await ocisync([
          "push",
          `${a.host}/app:${version}`,
          `${tmp}/base:/base`,
          `${tmp}/${version}:/app`,
          "--json",
        ]);
        assert.equal(push.code, 0, shown(push));
        digests[version] = JSON.parse(push.stdout);
      }
      const shared = digests.v1.layers[0].digest;
      assert.equal(digests.v2.layers[0].digest, shared, "v1 and v2 share the base layer");

      // The full bundle of v1 crosses the gap into registry B.
      const full = await ocisync(["copy", `${a.host}/app:v1`, `oci-archive:${tmp}/full.tar`]);
      assert.equal(full.code, 0, shown(full));
      const into = await ocisync(["copy", `oci-archive:${tmp}/full.tar`, `${b.host}/app:v1`]);
      assert.equal(into.code, 0, shown(into));

      // The delta of v2, against what B holds.
      const delta = await ocisync([
        "copy",
        `${a.host}/app:v2`,
        `oci-archive:${tmp}/delta.tar`,
        "--skip-blobs-in",
        `${b.host}/app:v1`,
        "--json",
      ]);
      assert.equal(delta.code, 0, shown(delta));
      assert.deepEqual(JSON.parse(delta.stdout).images[0].expectedBlobs, [shared]);
      const [fullSize, deltaSize] = [
        (await Deno.stat(`${tmp}/full.tar`)).size,
        (await Deno.stat(`${tmp}/delta.tar`)).size,
      ];
      assert.ok(deltaSize < fullSize / 2, `delta ${deltaSize} vs full ${fullSize}`);
      const listing = await runOk("tar", ["tf", `${tmp}/delta.tar`]);
      assert.ok(!listing.includes(shared.slice(7)), "the shared layer is left out");
      assert.ok(listing.includes(digests.v2.layers[1].digest.slice(7)));
      const index = JSON.parse(
        await runOk("tar", ["xOf", `${tmp}/delta.tar`, "index.json"]),
      );
      assert.equal(index.annotations[EXPECTED], shared);

      // Into an empty registry: refused, naming the blob, and nothing written.
      const empty = await ocisync(["copy", `oci-archive:${tmp}/delta.tar`, `${c.host}/app:v2`]);
      assert.equal(empty.code, 4, shown(empty));
      assert.ok(empty.stderr.includes(shared), shown(empty));
      const catalog = await (await fetch(`http://${c.host}/v2/_catalog`)).json();
      assert.deepEqual(catalog.repositories, [], "nothing was written");

      // Into B, which holds v1: the image is complete and pulls.
      const ok = await ocisync([
        "copy",
        `oci-archive:${tmp}/delta.tar`,
        `${b.host}/app:v2`,
        "--json",
      ]);
      assert.equal(ok.code, 0, shown(ok));
      assert.equal(JSON.parse(ok.stdout).digest, digests.v2.digest);
      const pull = await ocisync(["pull", `${b.host}/app:v2`, "-o", `${tmp}/out`]);
      assert.equal(pull.code, 0, shown(pull));
      assert.equal(await Deno.readTextFile(`${tmp}/out/app/app.py`), "v2");
      assert.equal(await Deno.readTextFile(`${tmp}/out/base/lib.txt`), base);

      // A delta against an earlier archive: the same blobs left out.
      const again = await ocisync([
        "copy",
        `${a.host}/app:v2`,
        `oci-archive:${tmp}/delta2.tar`,
        "--skip-blobs-in",
        `oci-archive:${tmp}/full.tar`,
        "--json",
      ]);
      assert.equal(again.code, 0, shown(again));
      assert.deepEqual(JSON.parse(again.stdout).images[0].expectedBlobs, [shared]);

      // Only an oci-archive can be a delta.
      const layout = await ocisync([
        "copy",
        `${a.host}/app:v2`,
        `oci:${tmp}/layout:v2`,
        "--skip-blobs-in",
        `${b.host}/app:v1`,
      ]);
      assert.equal(layout.code, 2, shown(layout));
    });
  } finally {
    for (const r of [a, b, c]) await r.stop();
  }
});
