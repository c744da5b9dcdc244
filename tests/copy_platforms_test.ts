/**
 * `copy --platform A,B`: several platforms of an index, copied as a reduced index that keeps the
 * index's annotations and the kept entries' fields; judged against a real registry by skopeo and
 * digests computed with node:crypto.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ocisync, runOk, shown } from "./helpers/cli.ts";
import { startRegistry } from "./helpers/registry.ts";
import { requireTool } from "./helpers/tools.ts";
import { withTempDir, writeTree } from "./helpers/tree.ts";

requireTool("skopeo", "skopeo");

const digestOf = (bytes: Uint8Array | string) =>
  `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

Deno.test("copy --platform with two platforms writes a reduced index of those two", async () => {
  const registry = await startRegistry();
  try {
    await withTempDir("ocisync-plat-", async (tmp) => {
      const entries = [];
      for (
        const [platform, content] of [["linux/amd64", "x86"], ["linux/arm64", "arm"], [
          "linux/s390x",
          "ibm",
        ]]
      ) {
        await writeTree(`${tmp}/${content}`, { "p.txt": { type: "file", content } });
        const push = await ocisync([
          "push",
          `${registry.host}/parts:${content}`,
          `${tmp}/${content}:/p`,
          "--platform",
          platform,
          "--json",
        ]);
        assert.equal(push.code, 0, shown(push));
        const { digest } = JSON.parse(push.stdout);
        const raw = await runOk("skopeo", [
          "inspect",
          "--raw",
          "--tls-verify=false",
          `docker://${registry.host}/parts@${digest}`,
        ]);
        const [os, architecture] = platform.split("/");
        entries.push({
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest,
          size: new TextEncoder().encode(raw).length,
          platform: { os, architecture },
          annotations: { "org.example.flavour": content },
        });
      }
      const index = JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: entries,
        annotations: { "org.opencontainers.image.source": "https://example.com/app" },
      });
      const indexDigest = digestOf(index);
      const put = await fetch(`http://${registry.host}/v2/parts/manifests/multi`, {
        method: "PUT",
        headers: { "content-type": "application/vnd.oci.image.index.v1+json" },
        body: index,
      });
      await put.body?.cancel();
      assert.equal(put.status, 201);

      const copy = await ocisync([
        "copy",
        `${registry.host}/parts:multi`,
        `${registry.host}/two:1`,
        "--platform",
        "linux/arm64,linux/amd64",
        "--json",
      ]);
      assert.equal(copy.code, 0, shown(copy));
      const report = JSON.parse(copy.stdout);
      assert.equal(report.sourceIndex, indexDigest);
      assert.equal(report.images[0].sourceIndex, indexDigest);
      assert.notEqual(report.digest, indexDigest);

      const raw = await runOk("skopeo", [
        "inspect",
        "--raw",
        "--tls-verify=false",
        `docker://${registry.host}/two:1`,
      ]);
      assert.equal(digestOf(raw), report.digest);
      const reduced = JSON.parse(raw);
      // The source's order, its fields, and the annotations of the index, all kept.
      assert.deepEqual(reduced.manifests, entries.slice(0, 2));
      assert.deepEqual(reduced.annotations, {
        "org.opencontainers.image.source": "https://example.com/app",
      });
      assert.equal(reduced.mediaType, "application/vnd.oci.image.index.v1+json");
      for (const entry of entries.slice(0, 2)) {
        await runOk("skopeo", [
          "inspect",
          "--raw",
          "--tls-verify=false",
          `docker://${registry.host}/two@${entry.digest}`,
        ]);
      }
      const s390x = await fetch(`http://${registry.host}/v2/two/manifests/${entries[2].digest}`, {
        method: "HEAD",
        headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
      });
      await s390x.body?.cancel();
      assert.equal(s390x.status, 404, "the dropped platform is not copied");

      // Repeated flags are the same list; one platform keeps today's behaviour.
      const repeated = await ocisync([
        "copy",
        `${registry.host}/parts:multi`,
        `${registry.host}/again:1`,
        "--platform",
        "linux/arm64",
        "--platform",
        "linux/amd64",
        "--json",
      ]);
      assert.equal(JSON.parse(repeated.stdout).digest, report.digest, shown(repeated));
      const one = await ocisync([
        "copy",
        `${registry.host}/parts:multi`,
        `${registry.host}/one:1`,
        "--platform",
        "linux/s390x",
        "--json",
      ]);
      const single = JSON.parse(one.stdout);
      assert.equal(single.digest, entries[2].digest, shown(one));
      assert.equal(single.sourceIndex, undefined);

      const missing = await ocisync([
        "copy",
        `${registry.host}/parts:multi`,
        `${registry.host}/none:1`,
        "--platform",
        "linux/amd64,windows/amd64",
      ]);
      assert.equal(missing.code, 4, shown(missing));
      assert.match(missing.stderr, /windows\/amd64/);
    });
  } finally {
    await registry.stop();
  }
});
