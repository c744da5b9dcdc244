/**
 * Several references into one archive: `copy SRC1 SRC2 … oci-archive:FILE` (and `oci:DIR`), each
 * image under its own tag, with `--all-tags` per source repository, and a delta of several
 * references against several on the other side. Checked against the real registry and skopeo:
 * the expected digests are skopeo's, read from the registry.
 */
import assert from "node:assert/strict";
import { ocisync, runOk, shown } from "./helpers/cli.ts";
import { sha256Digest } from "./helpers/hash.ts";
import { startRegistry, type TestRegistry } from "./helpers/registry.ts";
import { requireTool } from "./helpers/tools.ts";
import { withTempDir, writeTree } from "./helpers/tree.ts";

requireTool("skopeo", "skopeo");
requireTool("tar", "tar");

const EXPECTED = "dev.ocisync.archive.expected-blobs";

/** The digest of a registry image, as skopeo reads it: the sha256 of the raw manifest. */
async function registryDigest(registry: TestRegistry, name: string): Promise<string> {
  const raw = await runOk("skopeo", [
    "inspect",
    "--raw",
    "--tls-verify=false",
    `docker://${registry.host}/${name}`,
  ]);
  return sha256Digest(raw);
}

/** Pushes folders `/base` (shared, `base`) and `/app` (`content`) as `name` to `registry`. */
async function pushImage(tmp: string, registry: TestRegistry, name: string, content: string) {
  const dir = `${tmp}/src-${name.replace(/[/:]/g, "-")}`;
  await writeTree(dir, { "app.txt": { type: "file", content } });
  const push = await ocisync([
    "push",
    `${registry.host}/${name}`,
    `${tmp}/base:/base`,
    `${dir}:/app`,
  ]);
  assert.equal(push.code, 0, shown(push));
}

Deno.test("copy of two repositories with --all-tags writes one archive that skopeo reads and a copy restores", async () => {
  const [a, b] = [await startRegistry(), await startRegistry()];
  try {
    await withTempDir("ocisync-several-", async (tmp) => {
      await writeTree(`${tmp}/base`, { "lib.txt": { type: "file", content: "base\n" } });
      const images = ["app:v1", "app:v2", "tools:t1"];
      for (const name of images) await pushImage(tmp, a, name, name);
      const digests: Record<string, string> = {};
      for (const name of images) digests[name] = await registryDigest(a, name);

      const release = `${tmp}/release.tar`;
      const copy = await ocisync([
        ...["copy", "--all-tags", `${a.host}/app`, `${a.host}/tools`],
        ...[`oci-archive:${release}`, "--json"],
      ]);
      assert.equal(copy.code, 0, shown(copy));
      const report = JSON.parse(copy.stdout);
      assert.deepEqual(report.sources, [`${a.host}/app`, `${a.host}/tools`]);
      assert.deepEqual(
        report.images.map((i: { source: string; tag: string; digest: string }) => [
          i.source,
          i.tag,
          i.digest,
        ]).sort(),
        [
          [`${a.host}/app`, "v1", digests["app:v1"]],
          [`${a.host}/app`, "v2", digests["app:v2"]],
          [`${a.host}/tools`, "t1", digests["tools:t1"]],
        ],
      );
      // skopeo finds each image in the one file, at the registry's digest.
      for (const name of images) {
        const tag = name.split(":")[1];
        const raw = await runOk("skopeo", ["inspect", "--raw", `oci-archive:${release}:${tag}`]);
        assert.equal(sha256Digest(raw), digests[name], name);
      }
      // The shared base layer is in the archive once.
      const listing = (await runOk("tar", ["tf", release])).trim().split("\n");
      assert.equal(listing.length, new Set(listing).size);

      // The text output names each image's source; -q prints one line per image.
      const text = await ocisync([
        ...["copy", `${a.host}/app:v1`, `${a.host}/tools:t1`, `oci:${tmp}/layout`],
      ]);
      assert.equal(text.code, 0, shown(text));
      assert.match(
        text.stdout,
        new RegExp(`copied oci:${tmp}/layout:v1@\\S+ from ${a.host}/app:v1`),
      );
      assert.match(
        text.stdout,
        new RegExp(`copied oci:${tmp}/layout:t1@\\S+ from ${a.host}/tools:t1`),
      );
      const quiet = await ocisync([
        ...["copy", `${a.host}/app:v2`, `${a.host}/tools:t1`, `oci-archive:${tmp}/two.tar`, "-q"],
      ]);
      assert.deepEqual(quiet.stdout.trim().split("\n"), [
        `oci-archive:${tmp}/two.tar@${digests["app:v2"]}`,
        `oci-archive:${tmp}/two.tar@${digests["tools:t1"]}`,
      ]);

      // Back into a fresh registry, with ocisync's copy: the same digests there.
      for (const name of images) {
        const [repository, tag] = name.split(":");
        const back = await ocisync([
          "copy",
          `oci-archive:${release}:${tag}`,
          `${b.host}/${repository}:${tag}`,
        ]);
        assert.equal(back.code, 0, shown(back));
        assert.equal(await registryDigest(b, name), digests[name], name);
      }
    });
  } finally {
    for (const r of [a, b]) await r.stop();
  }
});

Deno.test("a delta of several references, against several on the other side, carries only what is new", async () => {
  const [a, b] = [await startRegistry(), await startRegistry()];
  try {
    await withTempDir("ocisync-several-", async (tmp) => {
      // Random, so that it does not compress away: the base layer is most of each image.
      const random = crypto.getRandomValues(new Uint8Array(60_000));
      await writeTree(`${tmp}/base`, {
        "lib.txt": { type: "file", content: Array.from(random, (n) => n.toString(16)).join("") },
      });
      for (const name of ["app:v1", "tools:t1"]) await pushImage(tmp, a, name, name);
      // The full release crosses into B.
      const full = `oci-archive:${tmp}/full.tar`;
      assert.equal(
        (await ocisync(["copy", `${a.host}/app:v1`, `${a.host}/tools:t1`, full])).code,
        0,
      );
      for (const [repository, tag] of [["app", "v1"], ["tools", "t1"]]) {
        const into = await ocisync(["copy", `${full}:${tag}`, `${b.host}/${repository}:${tag}`]);
        assert.equal(into.code, 0, shown(into));
      }

      // The next release: new code on the same base.
      for (const name of ["app:v2", "tools:t2"]) await pushImage(tmp, a, name, name);
      const delta = await ocisync([
        ...["copy", `${a.host}/app:v2`, `${a.host}/tools:t2`, `oci-archive:${tmp}/delta.tar`],
        ...[
          "--skip-blobs-in",
          `${b.host}/app:v1`,
          "--skip-blobs-in",
          `${b.host}/tools:t1`,
          "--json",
        ],
      ]);
      assert.equal(delta.code, 0, shown(delta));
      const report = JSON.parse(delta.stdout);
      const base = JSON.parse(
        await runOk("skopeo", ["inspect", "--tls-verify=false", `docker://${b.host}/app:v1`]),
      ).Layers[0];
      for (const image of report.images) assert.deepEqual(image.expectedBlobs, [base], image.tag);
      const index = JSON.parse(await runOk("tar", ["xOf", `${tmp}/delta.tar`, "index.json"]));
      assert.equal(index.annotations[EXPECTED], base);
      const [fullSize, deltaSize] = [
        (await Deno.stat(`${tmp}/full.tar`)).size,
        (await Deno.stat(`${tmp}/delta.tar`)).size,
      ];
      assert.ok(deltaSize < fullSize / 2, `delta ${deltaSize} vs full ${fullSize}`);

      // Into B: both images complete, at A's digests, and they pull.
      for (const [repository, tag] of [["app", "v2"], ["tools", "t2"]]) {
        const into = await ocisync([
          ...["copy", `oci-archive:${tmp}/delta.tar:${tag}`, `${b.host}/${repository}:${tag}`],
        ]);
        assert.equal(into.code, 0, shown(into));
        const name = `${repository}:${tag}`;
        assert.equal(await registryDigest(b, name), await registryDigest(a, name));
        const pull = await ocisync(["pull", `${b.host}/${name}`, "-o", `${tmp}/out-${tag}`]);
        assert.equal(pull.code, 0, shown(pull));
        assert.equal(await Deno.readTextFile(`${tmp}/out-${tag}/app/app.txt`), name);
      }
    });
  } finally {
    for (const r of [a, b]) await r.stop();
  }
});

Deno.test("several sources into a registry, a docker-archive, a tagged archive, or onto one tag: exit 2, nothing written", async () => {
  await withTempDir("ocisync-several-", async (tmp) => {
    await writeTree(`${tmp}/flows`, { "a.py": { type: "file", content: "a\n" } });
    for (const name of ["app:v1", "tools:v1", "tools:t1"]) {
      const [repository, tag] = name.split(":");
      assert.equal(
        (await ocisync(["push", `oci:${tmp}/${repository}:${tag}`, `${tmp}/flows`])).code,
        0,
      );
    }
    const sources = [`oci:${tmp}/app:v1`, `oci:${tmp}/tools:t1`];
    const cases: [string[], RegExp][] = [
      [[...sources, "localhost:5000/mirror"], /cannot go into one registry repository/],
      [[...sources, `docker-archive:${tmp}/out.tar`], /a docker-archive holds one image, not 2/],
      [[...sources, `oci-archive:${tmp}/out.tar:v1`], /each image keeps its own tag/],
      [
        [`oci:${tmp}/app:v1`, `oci:${tmp}/tools:v1`, `oci-archive:${tmp}/out.tar`],
        /would both be tagged "v1"/,
      ],
      [
        ["--all-tags", `oci:${tmp}/app`, `oci:${tmp}/tools`, `oci-archive:${tmp}/out.tar`],
        /would both be tagged "v1"/,
      ],
    ];
    for (const [args, message] of cases) {
      const result = await ocisync(["copy", ...args]);
      assert.equal(result.code, 2, shown(result));
      assert.match(result.stderr, message);
    }
    const names = [];
    for await (const entry of Deno.readDir(tmp)) names.push(entry.name);
    assert.deepEqual(names.sort(), ["app", "flows", "tools"]);
  });
});
