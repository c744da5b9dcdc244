/**
 * Layers that decompress to nothing, or need more memory than a layer should, end: a layer that
 * declares 2^52 bytes and streams zstd skippable frames or empty gzip members was read for ever
 * by `pull`, `sync` and `copy` into a docker-archive (only decompressed bytes were counted).
 * The hostile registry is built here, with digests from `node:crypto`: it counts the bytes of
 * the layer it sends, and stops after 64 MiB, so that the code before the fix fails rather than
 * hangs.
 *
 * @module
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { ExitCode } from "../src/cli/exit.ts";
import { expectExit, ocisync, ocisyncPeakMemory, run } from "./helpers/cli.ts";
import { sha256Digest } from "./helpers/hash.ts";
import { writeImageOfLayers } from "./helpers/layers.ts";
import { requireTool } from "./helpers/tools.ts";

requireTool("zstd", "zstd");
requireTool("tar", "tar");

const MiB = 1024 * 1024;
/** What the hostile registry sends of a layer at most. */
const SENT_AT_MOST = 64 * MiB;
const LAYER_DIGEST = `sha256:${"2".repeat(64)}`;

/** A zstd skippable frame of 1 MiB: it decompresses to nothing. */
function skippableFrame(): Uint8Array {
  const frame = new Uint8Array(8 + MiB);
  const view = new DataView(frame.buffer);
  view.setUint32(0, 0x184d2a50, true);
  view.setUint32(4, MiB, true);
  return frame;
}

/** Empty gzip members, about 1 MiB of them: each decompresses to nothing. */
function emptyGzipMembers(): Uint8Array {
  const member = gzipSync(new Uint8Array(0));
  const count = Math.floor(MiB / member.length);
  const members = new Uint8Array(member.length * count);
  for (let i = 0; i < count; i++) members.set(member, i * member.length);
  return members;
}

/**
 * A registry of two images, `zstd/x:v1` and `gzip/x:v1`, whose one layer declares 2^52 bytes;
 * its blob is a zstd frame header then skippable frames, or empty gzip members.
 */
function nothingRegistry() {
  const sent = { bytes: 0, requests: 0 };
  const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const config = json({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: [`sha256:${"1".repeat(64)}`] },
  });
  const manifest = (mediaType: string) =>
    json({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: sha256Digest(config),
        size: config.length,
      },
      layers: [{ mediaType, digest: LAYER_DIGEST, size: 2 ** 52 }],
    });
  const manifests = {
    zstd: manifest("application/vnd.oci.image.layer.v1.tar+zstd"),
    gzip: manifest("application/vnd.oci.image.layer.v1.tar+gzip"),
  };
  const chunks = { zstd: skippableFrame(), gzip: emptyGzipMembers() };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    const kind = path.startsWith("/v2/zstd/") ? "zstd" : "gzip";
    if (path === "/v2/") return new Response("{}");
    if (path.includes("/manifests/")) {
      const bytes = manifests[kind];
      return new Response(request.method === "HEAD" ? null : bytes, {
        headers: {
          "content-type": "application/vnd.oci.image.manifest.v1+json",
          "docker-content-digest": sha256Digest(bytes),
          "content-length": String(bytes.length),
        },
      });
    }
    if (path.endsWith(sha256Digest(config))) return new Response(config);
    if (!path.endsWith(LAYER_DIGEST)) return new Response("not found\n", { status: 404 });
    sent.requests++;
    let own = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (own >= SENT_AT_MOST) return controller.close();
        const chunk = chunks[kind];
        own += chunk.length;
        sent.bytes += chunk.length;
        controller.enqueue(chunk);
      },
    });
    return new Response(body, { headers: { "content-type": "application/octet-stream" } });
  });
  return { host: `127.0.0.1:${server.addr.port}`, sent, server };
}

/** The refusal of the layer, named, before it is read: exit 7, and at most a little sent. */
function assertRefusedUnread(
  result: { code: number; stdout: string; stderr: string },
  sent: { bytes: number },
  unreadAtMost: number,
): void {
  expectExit(result, ExitCode.UnsafeContent);
  assert.match(
    result.stderr,
    new RegExp(
      `layer ${LAYER_DIGEST} declares ${2 ** 52} bytes: over the \\d+ bytes of compressed layers`,
    ),
  );
  assert.match(result.stderr, /--max-extract-size/);
  assert.ok(sent.bytes <= unreadAtMost, `the registry sent ${sent.bytes} bytes of the layer`);
}

Deno.test("pull and sync: a layer declaring 2^52 bytes of nothing is refused before it is read", async () => {
  const { host, sent, server } = nothingRegistry();
  const tmp = await Deno.makeTempDir();
  try {
    for (const kind of ["zstd", "gzip"]) {
      const pulled = await ocisync(["pull", `${host}/${kind}/x:v1`, "-o", `${tmp}/${kind}`]);
      assertRefusedUnread(pulled, sent, 0);
      assert.equal(sent.requests, 0, kind);
    }
    const synced = await ocisync([
      "sync",
      `${host}/zstd/x:v1`,
      "-o",
      `${tmp}/live`,
      "--once",
      "--state",
      `${tmp}/state.json`,
    ]);
    assertRefusedUnread(synced, sent, 0);
    assert.equal(sent.requests, 0);
    assert.equal(await Deno.lstat(`${tmp}/live/current`).then(() => true, () => false), false);
  } finally {
    await server.shutdown();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("copy into a docker-archive: a layer declaring 2^52 bytes of nothing is refused unread", async () => {
  const { host, sent, server } = nothingRegistry();
  const tmp = await Deno.makeTempDir();
  try {
    const copied = await ocisync([
      "copy",
      `${host}/gzip/x:v1`,
      `docker-archive:${tmp}/app.tar:app:v1`,
    ]);
    // The copy opens the blob before the archive refuses it: what the connection buffered.
    assertRefusedUnread(copied, sent, 16 * MiB);
    assert.equal(await Deno.stat(`${tmp}/app.tar`).then(() => true, () => false), false);
  } finally {
    await server.shutdown();
    await Deno.remove(tmp, { recursive: true });
  }
});

/** A zstd frame header asking for a window of 2^`log` bytes, then one empty last block. */
function frameWithWindow(log: number): Uint8Array {
  return new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00, (log - 10) << 3, 0x01, 0x00, 0x00]);
}

/** An OCI layout at `dir` of one image, v1, whose one zstd layer is `layer`; its digest. */
async function zstdLayout(dir: string, layer: Uint8Array): Promise<string> {
  await writeImageOfLayers(dir, [{
    bytes: layer,
    mediaType: "application/vnd.oci.image.layer.v1.tar+zstd",
    // Never checked: the layer is refused before its tar is read.
    diffId: `sha256:${"1".repeat(64)}`,
  }]);
  return sha256Digest(layer);
}

Deno.test("zstd: a frame asking for a 2^31-byte window is refused as such, naming the layer", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const layer = frameWithWindow(31);
    const digest = await zstdLayout(`${tmp}/layout`, layer);
    const pulled = expectExit(
      await ocisync(["pull", `oci:${tmp}/layout:v1`, "-o", `${tmp}/out`]),
      ExitCode.UnsafeContent,
    );
    assert.match(
      pulled.stderr,
      new RegExp(`layer ${digest} needs a 2\\^31-byte zstd window, over the 2\\^27-byte limit`),
    );
    assert.doesNotMatch(pulled.stderr, /corrupt/);
    await Deno.writeFile(`${tmp}/w31.tar.zst`, layer);
    const pushed = expectExit(
      await ocisync(["push", `oci:${tmp}/pushed:v1`, `${tmp}/w31.tar.zst`]),
      ExitCode.UnsafeContent,
    );
    assert.match(pushed.stderr, /w31\.tar\.zst needs a 2\^31-byte zstd window, over the 2\^27/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("push: four layer files with 128 MiB zstd windows are checked one at a time", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const files = [];
    for (let i = 0; i < 4; i++) {
      // 128 MiB of zeros, streamed to zstd so that the frame asks for the whole window.
      await Deno.writeFile(`${tmp}/f${i}`, new Uint8Array(0));
      await Deno.truncate(`${tmp}/f${i}`, 128 * MiB);
      const packed = await run("sh", [
        "-c",
        `tar -C ${tmp} -cf - f${i} | zstd -q --long=27 -1 -c > ${tmp}/w${i}.tar.zst`,
      ]);
      assert.equal(packed.code, 0, packed.stderr);
      await Deno.remove(`${tmp}/f${i}`);
      files.push(`${tmp}/w${i}.tar.zst`);
    }
    const pushed = await ocisyncPeakMemory(["push", `oci:${tmp}/layout:v1`, ...files]);
    assert.equal(pushed.code, 0, pushed.stderr);
    // One window of 128 MiB at a time; before, four at once peaked past 600 MiB.
    assert.ok(pushed.peakBytes < 420 * MiB, `peak ${(pushed.peakBytes / MiB).toFixed(0)} MiB`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("push: a layer file that decompresses past --max-extract-size is refused", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    // 64 MiB of zeros in a few KiB, by GNU tar and zstd.
    await Deno.writeFile(`${tmp}/zeros`, new Uint8Array(0));
    await Deno.truncate(`${tmp}/zeros`, 64 * MiB);
    const packed = await run("sh", [
      "-c",
      `tar -C ${tmp} -cf - zeros | zstd -q -19 -c > ${tmp}/bomb.tar.zst`,
    ]);
    assert.equal(packed.code, 0, packed.stderr);
    const refused = expectExit(
      await ocisync([
        "push",
        `oci:${tmp}/layout:v1`,
        `${tmp}/bomb.tar.zst`,
        "--max-extract-size",
        "1MiB",
      ]),
      ExitCode.UnsafeContent,
    );
    assert.match(refused.stderr, /bomb\.tar\.zst decompresses to more than the limit of 1048576/);
    assert.match(refused.stderr, /\(--max-extract-size\)/);
    // Nothing names the refused layer: no image was written.
    const index = await Deno.readTextFile(`${tmp}/layout/index.json`).catch(() => "{}");
    assert.doesNotMatch(index, /"v1"/);
    const fits = await ocisync(["push", `oci:${tmp}/layout:v1`, `${tmp}/bomb.tar.zst`]);
    assert.equal(fits.code, 0, fits.stderr);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
