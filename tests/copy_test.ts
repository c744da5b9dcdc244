/**
 * `copy`, `inspect`, `tags` and `gc` between real registries and layouts,
 * judged by skopeo and by hashes computed outside ocisync.
 */
import assert from "node:assert/strict";
import { ocisync, runOk } from "./helpers/cli.ts";
import { startRegistry } from "./helpers/registry.ts";
import { podmanArgs } from "./helpers/podman.ts";
import { requireTool } from "./helpers/tools.ts";
import { snapshot, writeTree } from "./helpers/tree.ts";
import { sha256Digest } from "./helpers/hash.ts";

requireTool("skopeo", "skopeo");

async function pushOk(args: string[]): Promise<{ digest: string; layers: { digest: string }[] }> {
  const result = await ocisync(["push", ...args, "--json"]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

async function tmpTree(tmp: string, name: string, content: string): Promise<string> {
  await writeTree(`${tmp}/${name}`, { "data.txt": { type: "file", content } });
  return `${tmp}/${name}`;
}

Deno.test("air-gapped: registry A to a layout to registry B keeps the digest and every blob", async () => {
  const a = await startRegistry();
  const b = await startRegistry();
  const tmp = await Deno.makeTempDir();
  try {
    const src = await tmpTree(tmp, "src", "carried across the gap");
    const pushed = await pushOk([`${a.host}/app:1`, `${src}:/app`]);
    const out = await ocisync(["copy", `${a.host}/app:1`, `oci:${tmp}/bundle:1`, "--json"]);
    assert.equal(out.code, 0, out.stderr);
    const inn = await ocisync(["copy", `oci:${tmp}/bundle:1`, `${b.host}/app:1`, "--json"]);
    assert.equal(inn.code, 0, inn.stderr);
    assert.equal(JSON.parse(inn.stdout).digest, pushed.digest);
    const [rawA, rawB] = await Promise.all(
      [a, b].map((r) =>
        runOk("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${r.host}/app:1`])
      ),
    );
    assert.equal(rawB, rawA, "the manifest bytes are unchanged");
    assert.equal(sha256Digest(new TextEncoder().encode(rawB)), pushed.digest);
    const manifest = JSON.parse(rawB);
    for (const blob of [manifest.config, ...manifest.layers]) {
      const response = await fetch(`http://${b.host}/v2/app/blobs/${blob.digest}`);
      const bytes = new Uint8Array(await response.arrayBuffer());
      assert.equal(sha256Digest(bytes), blob.digest, "registry B has every blob");
    }
    // A second copy finds everything there.
    const again = JSON.parse(
      (await ocisync(["copy", `oci:${tmp}/bundle:1`, `${b.host}/app:1`, "--json"])).stdout,
    );
    assert.equal(again.blobsCopied, 0);
    assert.equal(again.blobsSkipped, 2);
  } finally {
    await a.stop();
    await b.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a multi-platform index keeps its digest through copy, and pull --platform picks", async () => {
  const registry = await startRegistry();
  const tmp = await Deno.makeTempDir();
  try {
    const amd = await pushOk([
      `oci:${tmp}/parts:amd`,
      `${await tmpTree(tmp, "amd", "x86")}:/p`,
      "--platform",
      "linux/amd64",
    ]);
    const arm = await pushOk([
      `oci:${tmp}/parts:arm`,
      `${await tmpTree(tmp, "arm", "arm")}:/p`,
      "--platform",
      "linux/arm64",
    ]);
    const size = async (digest: string) =>
      (await Deno.stat(`${tmp}/parts/blobs/sha256/${digest.slice(7)}`)).size;
    // The index is written by hand, and its digest computed here.
    const index = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: amd.digest,
          size: await size(amd.digest),
          platform: { os: "linux", architecture: "amd64" },
        },
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: arm.digest,
          size: await size(arm.digest),
          platform: { os: "linux", architecture: "arm64", variant: "v8" },
        },
      ],
    }));
    const indexDigest = sha256Digest(index);
    await Deno.writeFile(`${tmp}/parts/blobs/sha256/${indexDigest.slice(7)}`, index);
    const layoutIndex = JSON.parse(await Deno.readTextFile(`${tmp}/parts/index.json`));
    layoutIndex.manifests.push({
      mediaType: "application/vnd.oci.image.index.v1+json",
      digest: indexDigest,
      size: index.length,
      annotations: { "org.opencontainers.image.ref.name": "multi" },
    });
    await Deno.writeTextFile(`${tmp}/parts/index.json`, JSON.stringify(layoutIndex));

    const copy = await ocisync([
      "copy",
      `oci:${tmp}/parts:multi`,
      `${registry.host}/multi:1`,
      "--json",
    ]);
    assert.equal(copy.code, 0, copy.stderr);
    assert.equal(JSON.parse(copy.stdout).digest, indexDigest);
    const raw = await runOk("skopeo", [
      "inspect",
      "--raw",
      "--tls-verify=false",
      `docker://${registry.host}/multi:1`,
    ]);
    assert.equal(sha256Digest(new TextEncoder().encode(raw)), indexDigest);

    for (const [platform, content] of [["linux/arm64", "arm"], ["linux/amd64", "x86"]]) {
      const out = `${tmp}/pulled-${content}`;
      const pull = await ocisync([
        "pull",
        `${registry.host}/multi:1`,
        "--platform",
        platform,
        "-o",
        out,
      ]);
      assert.equal(pull.code, 0, pull.stderr);
      assert.equal(await Deno.readTextFile(`${out}/p/data.txt`), content);
    }
    const missing = await ocisync([
      "pull",
      `${registry.host}/multi:1`,
      "--platform",
      "linux/s390x",
      "-o",
      `${tmp}/none`,
    ]);
    assert.equal(missing.code, 4);
    assert.match(missing.stderr, /linux\/amd64, linux\/arm64\/v8/);

    const one = await ocisync([
      "copy",
      `oci:${tmp}/parts:multi`,
      `oci:${tmp}/one:arm`,
      "--platform",
      "linux/arm64",
      "--json",
    ]);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(JSON.parse(one.stdout).digest, arm.digest, "one platform: the platform's digest");
  } finally {
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("copy within one registry mounts blobs instead of sending them", async () => {
  const registry = await startRegistry();
  const tmp = await Deno.makeTempDir();
  try {
    await pushOk([`${registry.host}/one/app:1`, `${await tmpTree(tmp, "src", "mount me")}:/x`]);
    const before = (await registry.requests()).length;
    const copy = await ocisync([
      "copy",
      `${registry.host}/one/app:1`,
      `${registry.host}/two/app:1`,
      "--json",
    ]);
    assert.equal(copy.code, 0, copy.stderr);
    assert.equal(JSON.parse(copy.stdout).blobsMounted, 2);
    const requests = (await registry.requests()).slice(before);
    const mounts = requests.filter((r) => r.method === "POST" && r.path.includes("mount="));
    assert.equal(mounts.length, 2);
    assert.ok(mounts.every((r) => r.status === 201));
    assert.ok(
      !requests.some((r) =>
        r.method === "PATCH" || (r.method === "PUT" && r.path.includes("/blobs/"))
      ),
    );
  } finally {
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("copy --all-tags, tags and inspect agree with skopeo", async () => {
  const registry = await startRegistry();
  const tmp = await Deno.makeTempDir();
  try {
    for (const tag of ["a", "b", "c"]) {
      await pushOk([`${registry.host}/many:${tag}`, `${await tmpTree(tmp, tag, tag)}:/t`]);
    }
    const tags = await ocisync(["tags", `${registry.host}/many`, "--json"]);
    assert.equal(tags.code, 0, tags.stderr);
    const skopeoTags = JSON.parse(
      await runOk("skopeo", ["list-tags", "--tls-verify=false", `docker://${registry.host}/many`]),
    );
    assert.deepEqual(JSON.parse(tags.stdout).tags.sort(), skopeoTags.Tags.sort());

    const copy = await ocisync([
      "copy",
      "--all-tags",
      `${registry.host}/many`,
      `oci:${tmp}/mirror`,
      "--json",
    ]);
    assert.equal(copy.code, 0, copy.stderr);
    assert.equal(JSON.parse(copy.stdout).images.length, 3);
    const again = JSON.parse(
      (await ocisync([
        "copy",
        "--all-tags",
        `${registry.host}/many`,
        `oci:${tmp}/mirror`,
        "--json",
      ])).stdout,
    );
    assert.ok(
      again.images.every((i: { skipped: boolean }) => i.skipped),
      "tags already there are skipped",
    );

    const raw = await ocisync(["inspect", `${registry.host}/many:b`, "--raw"]);
    const skopeoRaw = await runOk("skopeo", [
      "inspect",
      "--raw",
      "--tls-verify=false",
      `docker://${registry.host}/many:b`,
    ]);
    assert.equal(raw.stdout, skopeoRaw);
    const quiet = await ocisync(["inspect", `oci:${tmp}/mirror:b`, "-q"]);
    assert.equal(quiet.stdout.trim(), sha256Digest(new TextEncoder().encode(skopeoRaw)));
    const json = JSON.parse(
      (await ocisync(["inspect", `${registry.host}/many:b`, "--json"])).stdout,
    );
    assert.equal(json.platform, "linux/amd64");
    assert.equal(json.manifest.layers.length, 1);

    // A registry's tag that a layout cannot hold (Docker's grammar takes "c_", the image-spec's
    // ref.name does not) is refused before anything is written, not after "a" and "b".
    await pushOk([`${registry.host}/many:c_`, `${await tmpTree(tmp, "c_", "c_")}:/t`]);
    const refused = await ocisync(["copy", "--all-tags", `${registry.host}/many`, `oci:${tmp}/m2`]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /invalid tag "c_" for an OCI image layout/);
    assert.equal(await Deno.lstat(`${tmp}/m2`).then(() => true, () => false), false);
  } finally {
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("layout: concurrent pushes keep every tag, and gc frees only unreachable blobs", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const layout = `${tmp}/shared`;
    const results = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const src = await tmpTree(tmp, `job${i}`, `job ${i}`);
        return await ocisync(["push", `oci:${layout}:job${i}`, `${src}:/j`, "-q"]);
      }),
    );
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    const index = JSON.parse(await Deno.readTextFile(`${layout}/index.json`));
    const names = index.manifests.map((m: { annotations: Record<string, string> }) =>
      m.annotations["org.opencontainers.image.ref.name"]
    );
    assert.deepEqual(names.sort(), ["job0", "job1", "job2", "job3", "job4", "job5"]);
    for (const name of names) await runOk("skopeo", ["inspect", `oci:${layout}:${name}`]);

    // Retag job0: its old manifest, config and layer become unreachable.
    const old = JSON.parse(await runOk("skopeo", ["inspect", "--raw", `oci:${layout}:job0`]));
    const oldDigest = results[0].stdout.trim().split("@")[1];
    await pushOk([`oci:${layout}:job0`, `${await tmpTree(tmp, "new", "new")}:/j`]);
    const before = new Set(
      [...Deno.readDirSync(`${layout}/blobs/sha256`)].map((e) => `sha256:${e.name}`),
    );
    // No grace period: the pushes are over, nothing else writes to the layout.
    const gc = await ocisync(["gc", `oci:${layout}`, "--grace", "0", "--json"]);
    assert.equal(gc.code, 0, gc.stderr);
    const removed = JSON.parse(gc.stdout).removed.map((r: { digest: string }) => r.digest).sort();
    assert.deepEqual(removed, [oldDigest, old.config.digest, old.layers[0].digest].sort());
    const after = new Set(
      [...Deno.readDirSync(`${layout}/blobs/sha256`)].map((e) => `sha256:${e.name}`),
    );
    assert.equal(after.size, before.size - 3);
    for (const name of names) await runOk("skopeo", ["inspect", `oci:${layout}:${name}`]);
    const pull = await ocisync(["pull", `oci:${layout}:job3`, "-o", `${tmp}/p`]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.deepEqual(Object.keys(await snapshot(`${tmp}/p`)), ["j", "j/data.txt"]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("layouts and skopeo in both directions, and podman pulls our layout", async () => {
  const registry = await startRegistry();
  const tmp = await Deno.makeTempDir();
  try {
    const src = await tmpTree(tmp, "src", "both ways");
    // ocisync → layout → skopeo → registry → ocisync pull
    const pushed = await pushOk([`oci:${tmp}/ours:v1`, `${src}:/srv`]);
    await runOk("skopeo", [
      "copy",
      "--dest-tls-verify=false",
      `oci:${tmp}/ours:v1`,
      `docker://${registry.host}/ours:v1`,
    ]);
    const inspect = JSON.parse(
      await runOk("skopeo", ["inspect", "--tls-verify=false", `docker://${registry.host}/ours:v1`]),
    );
    assert.equal(inspect.Digest, pushed.digest);
    const fromRegistry = await ocisync(["pull", `${registry.host}/ours:v1`, "-o", `${tmp}/a`]);
    assert.equal(fromRegistry.code, 0, fromRegistry.stderr);
    assert.equal(await Deno.readTextFile(`${tmp}/a/srv/data.txt`), "both ways");

    // registry → skopeo → layout → ocisync pull oci:
    await runOk("skopeo", [
      "copy",
      "--src-tls-verify=false",
      `docker://${registry.host}/ours:v1`,
      `oci:${tmp}/theirs:v1`,
    ]);
    const fromLayout = await ocisync(["pull", `oci:${tmp}/theirs:v1`, "-o", `${tmp}/b`, "--json"]);
    assert.equal(fromLayout.code, 0, fromLayout.stderr);
    assert.equal(JSON.parse(fromLayout.stdout).digest, pushed.digest);
    assert.deepEqual(await snapshot(`${tmp}/b`), await snapshot(`${tmp}/a`));

    const podman = podmanArgs(`${tmp}/podman`);
    await runOk("podman", [...podman, "pull", `oci:${tmp}/ours:v1`]);
    const images = await runOk("podman", [
      ...podman,
      "images",
      "--no-trunc",
      "--format",
      "{{.ID}}",
    ]);
    // podman's image ID is the config's digest; skopeo reads it from our layout.
    const config =
      JSON.parse(await runOk("skopeo", ["inspect", "--raw", `oci:${tmp}/ours:v1`])).config;
    assert.equal(images.trim(), config.digest);
  } finally {
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("copy --referrers brings a signature that refers to the image through subject", async () => {
  const a = await startRegistry();
  const b = await startRegistry();
  const tmp = await Deno.makeTempDir();
  try {
    const image = await pushOk([
      `${a.host}/signed:v1`,
      `${await tmpTree(tmp, "src", "signed")}:/x`,
    ]);
    const imageBytes = new TextEncoder().encode(
      await runOk("skopeo", [
        "inspect",
        "--raw",
        "--tls-verify=false",
        `docker://${a.host}/signed:v1`,
      ]),
    );
    // A referrer written by hand: an artifact whose subject is the image.
    const signatureBlob = new TextEncoder().encode("a signature");
    const empty = new TextEncoder().encode("{}");
    for (const blob of [signatureBlob, empty]) {
      const start = await fetch(`http://${a.host}/v2/signed/blobs/uploads/`, { method: "POST" });
      await start.body?.cancel();
      const location = new URL(start.headers.get("location")!, `http://${a.host}`);
      location.searchParams.set("digest", sha256Digest(blob));
      const put = await fetch(location, { method: "PUT", body: blob as Uint8Array<ArrayBuffer> });
      assert.equal(put.status, 201);
      await put.body?.cancel();
    }
    const referrer = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: "application/vnd.example.signature",
      config: {
        mediaType: "application/vnd.oci.empty.v1+json",
        digest: sha256Digest(empty),
        size: 2,
      },
      layers: [{
        mediaType: "application/octet-stream",
        digest: sha256Digest(signatureBlob),
        size: signatureBlob.length,
      }],
      subject: {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: image.digest,
        size: imageBytes.length,
      },
    }));
    const putManifest = async (reference: string, bytes: Uint8Array, mediaType: string) => {
      const response = await fetch(`http://${a.host}/v2/signed/manifests/${reference}`, {
        method: "PUT",
        headers: { "content-type": mediaType },
        body: bytes as Uint8Array<ArrayBuffer>,
      });
      assert.equal(response.status, 201, await response.text());
    };
    await putManifest(
      sha256Digest(referrer),
      referrer,
      "application/vnd.oci.image.manifest.v1+json",
    );
    // Whoever may push can list any manifest under the fallback tag: one whose subject is
    // another image is not carried, nor listed at the destination.
    const stranger = new TextEncoder().encode(
      new TextDecoder().decode(referrer).replace(image.digest, `sha256:${"0".repeat(64)}`),
    );
    await putManifest(
      sha256Digest(stranger),
      stranger,
      "application/vnd.oci.image.manifest.v1+json",
    );
    // Distribution 2.8 has no referrers API: clients use the sha256-<hex> tag schema.
    const fallback = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [referrer, stranger].map((bytes) => ({
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: sha256Digest(bytes),
        size: bytes.length,
        artifactType: "application/vnd.example.signature",
      })),
    }));
    await putManifest(
      image.digest.replace(":", "-"),
      fallback,
      "application/vnd.oci.image.index.v1+json",
    );

    const copy = await ocisync([
      "copy",
      "--referrers",
      `${a.host}/signed:v1`,
      `${b.host}/signed:v1`,
      "--json",
    ]);
    assert.equal(copy.code, 0, copy.stderr);
    assert.equal(JSON.parse(copy.stdout).referrers, 1);
    const copied = await fetch(`http://${b.host}/v2/signed/manifests/${sha256Digest(referrer)}`, {
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    assert.equal(copied.status, 200);
    assert.equal(sha256Digest(new Uint8Array(await copied.arrayBuffer())), sha256Digest(referrer));
    const strangerThere = await fetch(
      `http://${b.host}/v2/signed/manifests/${sha256Digest(stranger)}`,
      { method: "HEAD", headers: { accept: "application/vnd.oci.image.manifest.v1+json" } },
    );
    assert.equal(strangerThere.status, 404);

    // Across the air gap: into an archive, and out of it, the referrer goes along.
    const hops = [
      [`${a.host}/signed:v1`, `oci-archive:${tmp}/signed.tar:v1`],
      [`oci-archive:${tmp}/signed.tar:v1`, `oci:${tmp}/inside:v1`],
    ];
    for (const [from, to] of hops) {
      const hop = await ocisync(["copy", "--referrers", from, to, "--json"]);
      assert.equal(hop.code, 0, hop.stderr);
      assert.equal(JSON.parse(hop.stdout).referrers, 1, `${from} -> ${to}`);
    }
    const inside = await Deno.readFile(
      `${tmp}/inside/blobs/sha256/${sha256Digest(referrer).slice("sha256:".length)}`,
    );
    assert.equal(sha256Digest(inside), sha256Digest(referrer));

    // A referrer that cannot be copied (its blob is gone) fails the copy before the image is
    // tagged: the destination's tag does not name an image whose referrers did not come along.
    await Deno.remove(`${tmp}/inside/blobs/sha256/${sha256Digest(signatureBlob).slice(7)}`);
    const broken = await ocisync([
      "copy",
      "--referrers",
      `oci:${tmp}/inside:v1`,
      `oci:${tmp}/partial:v1`,
    ]);
    assert.equal(broken.code, 4, broken.stderr);
    const partial = JSON.parse(await Deno.readTextFile(`${tmp}/partial/index.json`));
    assert.deepEqual(
      partial.manifests.map((m: { annotations?: Record<string, string> }) =>
        m.annotations?.["org.opencontainers.image.ref.name"]
      ).filter(Boolean),
      [],
    );
  } finally {
    await a.stop();
    await b.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});
