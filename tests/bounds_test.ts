/**
 * Bounds on what hostile or mistaken input may cost (issue 13): configs and `index.json` are
 * capped as manifests are; descriptor digests are digests; `copy` visits each manifest once and
 * refuses deep nesting; a truncated zstd stream is refused as a truncated gzip one is; and a
 * file that is no layer archive is named as such. Every input is built here: layouts with
 * digests from `node:crypto`, tars by GNU tar, zstd and gzip streams by their own tools, never
 * by ocisync.
 */
import { exists, withTempDir } from "./helpers/tree.ts";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { decompressStream } from "../src/compress/decompress.ts";
import { IntegrityError, UnsafeContentError } from "../src/errors/mod.ts";
import { ExitCode } from "../src/cli/exit.ts";
import { fetchConfigBytes, MAX_CONFIG_BYTES } from "../src/image/config.ts";
import type { Target } from "../src/oci/target.ts";
import { NotTarError, readTar } from "../src/tar/reader.ts";
import { ocisync, runOk, type RunResult, shown } from "./helpers/cli.ts";
import { sha256Digest } from "./helpers/hash.ts";
import { requireTool } from "./helpers/tools.ts";

requireTool("tar", "tar");
requireTool("zstd", "zstd");
requireTool("gzip", "gzip");

const MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const INDEX = "application/vnd.oci.image.index.v1+json";
const CONFIG = "application/vnd.oci.image.config.v1+json";
const LAYER = "application/vnd.oci.image.layer.v1.tar";
const REF_NAME = "org.opencontainers.image.ref.name";
const MiB = 1024 * 1024;

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  [key: string]: unknown;
}

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

/** A layout built by hand at `dir`: blobs under digests computed here, and its `index.json`. */
async function handLayout(dir: string) {
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  await Deno.writeTextFile(`${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
  const put = async (bytes: Uint8Array, mediaType: string): Promise<Descriptor> => {
    const digest = sha256Digest(bytes);
    await Deno.writeFile(`${dir}/blobs/sha256/${digest.slice(7)}`, bytes);
    return { mediaType, digest, size: bytes.byteLength };
  };
  const index = (entries: unknown[]) =>
    Deno.writeTextFile(
      `${dir}/index.json`,
      JSON.stringify({ schemaVersion: 2, manifests: entries }),
    );
  await index([]);
  return {
    put,
    index,
    /** Lists `descriptor` in `index.json` as `tag`. */
    tag: (descriptor: Descriptor, tag: string) =>
      index([{ ...descriptor, annotations: { [REF_NAME]: tag } }]),
    /** An image manifest over `config`, with one layer of a few bytes. */
    image: async (config: Descriptor): Promise<Descriptor> => {
      const layer = await put(new TextEncoder().encode("a layer copy never opens"), LAYER);
      return await put(
        json({ schemaVersion: 2, mediaType: MANIFEST, config, layers: [layer] }),
        MANIFEST,
      );
    },
    /** An index listing `children` in this order. */
    indexOf: (children: Descriptor[]) =>
      put(json({ schemaVersion: 2, mediaType: INDEX, manifests: children }), INDEX),
  };
}

/** A failure of `code`, said in one error line that matches `message`, with no stack trace. */
function assertFails(result: RunResult, code: number, message: RegExp): void {
  assert.equal(result.code, code, shown(result));
  const lines = result.stderr.trim().split("\n");
  const errors = lines.filter((line) => line.startsWith("ocisync: error: "));
  assert.equal(errors.length, 1, shown(result));
  assert.match(errors[0], message, shown(result));
  assert.ok(!lines.some((line) => /^\s+at /.test(line)), `a stack trace: ${shown(result)}`);
}

/** `text` as a regular expression that matches it literally. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** The files under `dir/blobs/sha256`. */
async function blobFiles(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(`${dir}/blobs/sha256`))).map((e) => e.name).sort();
}

/** A folder with one file, to push as a layer. */
async function appFolder(tmp: string): Promise<string> {
  await Deno.mkdir(`${tmp}/app`, { recursive: true });
  await Deno.writeTextFile(`${tmp}/app/run.sh`, "echo hi\n");
  return `${tmp}/app`;
}

Deno.test("config: declared over 4 MiB is refused unread, delivered over its size is cut off: exit 5", async () => {
  await withTempDir("ocisync-bounds-", async (tmp) => {
    const layout = await handLayout(`${tmp}/big`);
    // The config blob is not even stored: reading it would fail with exit 4, not 5.
    const absent = new TextEncoder().encode('{"os":"linux","architecture":"amd64"}');
    const declared = { mediaType: CONFIG, digest: sha256Digest(absent), size: 2 ** 30 };
    await layout.tag(await layout.image(declared), "v1");
    const limit = new RegExp(
      `config ${declared.digest} declares 1073741824 bytes, over the limit of ${MAX_CONFIG_BYTES}`,
    );
    for (
      const args of [["inspect", `oci:${tmp}/big:v1`], ["inspect", `oci:${tmp}/big:v1`, "--config"]]
    ) {
      assertFails(await ocisync(args), ExitCode.Integrity, limit);
    }
    const app = await appFolder(tmp);
    const push = await ocisync([
      "push",
      `oci:${tmp}/out:v1`,
      `${app}:/app`,
      "--base",
      `oci:${tmp}/big:v1`,
    ]);
    assertFails(push, ExitCode.Integrity, limit);
    assert.ok(!(await exists(`${tmp}/out`)), "a refused base leaves no layout");

    // A config file of 1 MiB under a descriptor that says 2 bytes: the read stops at byte 3.
    const long = await handLayout(`${tmp}/long`);
    const bytes = new Uint8Array(MiB).fill(0x20);
    const stored = await long.put(bytes, CONFIG);
    await long.tag(await long.image({ ...stored, size: 2 }), "v1");
    assertFails(
      await ocisync(["inspect", `oci:${tmp}/long:v1`]),
      ExitCode.Integrity,
      /is larger than its declared size 2/,
    );
  });
});

Deno.test("config: null, a number, a list, a string or not JSON is exit 5 with a message, not a TypeError", async () => {
  await withTempDir("ocisync-bounds-", async (tmp) => {
    const app = await appFolder(tmp);
    const cases: [string, RegExp][] = [
      ["null", /is not a JSON object but null/],
      ["42", /is not a JSON object but a number/],
      ["[]", /is not a JSON object but a list/],
      ['"linux"', /is not a JSON object but a string/],
      ["{not json", /is not JSON/],
      ['{"rootfs":{"diff_ids":"sha256:0"}}', /has rootfs\.diff_ids that are not a list of digests/],
      ['{"history":{"created":"1970"}}', /has a history that is not a list/],
    ];
    for (const [i, [text, problem]] of cases.entries()) {
      const layout = await handLayout(`${tmp}/c${i}`);
      const config = await layout.put(new TextEncoder().encode(text), CONFIG);
      await layout.tag(await layout.image(config), "v1");
      const message = new RegExp(`image config ${config.digest} ${problem.source}`);
      assertFails(await ocisync(["inspect", `oci:${tmp}/c${i}:v1`]), ExitCode.Integrity, message);
      const push = await ocisync([
        ...["push", `oci:${tmp}/out:v1`, `${app}:/app`, "--base", `oci:${tmp}/c${i}:v1`],
      ]);
      assertFails(push, ExitCode.Integrity, new RegExp(`base oci:.*: ${message.source}`));
      assert.ok(!(await exists(`${tmp}/out`)), "a refused base leaves no layout");
    }
    // An artifact's config may be anything: inspect shows the manifest all the same.
    const artifact = await handLayout(`${tmp}/artifact`);
    const config = await artifact.put(
      new TextEncoder().encode("null"),
      "application/vnd.acme.config",
    );
    await artifact.tag(await artifact.image(config), "v1");
    const inspect = await ocisync(["inspect", `oci:${tmp}/artifact:v1`, "--json"]);
    assert.equal(inspect.code, 0, shown(inspect));
    assert.equal(JSON.parse(inspect.stdout).manifest.config.digest, config.digest);
  });
});

Deno.test("fetchConfigBytes stops reading a stream that delivers more than declared", async () => {
  // A target that does not verify what it serves, and would serve forever.
  let pulls = 0;
  let cancelled = false;
  const endless = {
    name: "endless",
    fetchBlob: () =>
      Promise.resolve(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            pulls++;
            controller.enqueue(new Uint8Array(64 * 1024));
          },
          cancel() {
            cancelled = true;
          },
        }),
      ),
  } as unknown as Target;
  const descriptor = {
    mediaType: CONFIG,
    digest: `sha256:${"0".repeat(64)}` as const,
    size: 100_000,
  };
  await assert.rejects(
    fetchConfigBytes(endless, descriptor),
    (error) =>
      error instanceof IntegrityError && /larger than its declared size 100000/.test(error.message),
  );
  assert.ok(pulls <= 3, `stopped after two chunks, not ${pulls}`);
  assert.ok(cancelled, "the stream is cancelled");
});

Deno.test("index.json over 4 MiB, or with a digest that is a path or not hex: exit 5, nothing read or written", async () => {
  await withTempDir("ocisync-bounds-", async (tmp) => {
    const layout = await handLayout(`${tmp}/src`);
    const config = await layout.put(json({ os: "linux", architecture: "amd64" }), CONFIG);
    const image = await layout.image(config);
    const entry = { ...image, annotations: { [REF_NAME]: "v1" } };

    // Valid JSON, padded to 6 MiB.
    const big = JSON.stringify({ schemaVersion: 2, manifests: [entry] });
    await Deno.writeTextFile(`${tmp}/src/index.json`, big + " ".repeat(6 * MiB));
    const tooBig = /index\.json has 629\d+ bytes, over the limit of 4194304/;
    assertFails(await ocisync(["inspect", `oci:${tmp}/src:v1`]), ExitCode.Integrity, tooBig);
    assertFails(await ocisync(["tags", `oci:${tmp}/src`]), ExitCode.Integrity, tooBig);
    assertFails(
      await ocisync(["copy", `oci:${tmp}/src:v1`, `oci:${tmp}/dst:v1`]),
      ExitCode.Integrity,
      tooBig,
    );
    assert.ok(!(await exists(`${tmp}/dst`)), "the source is refused before the copy begins");

    for (
      const digest of [
        "sha256:../../etc/passwd",
        `sha256:${"z".repeat(64)}`,
        `sha256:${"A".repeat(64)}`,
        `sha256:${"a".repeat(63)}/`,
        "md5:d41d8cd98f00b204e9800998ecf8427e",
      ]
    ) {
      await layout.index([{ ...entry, digest }]);
      const message = new RegExp(
        `index\\.json is not a valid image index: .*manifests\\[0\\] has an invalid digest ` +
          `${literal(JSON.stringify(digest))}`,
      );
      assertFails(await ocisync(["inspect", `oci:${tmp}/src:v1`]), ExitCode.Integrity, message);
      assertFails(
        await ocisync(["pull", `oci:${tmp}/src:v1`, "-o", `${tmp}/out`]),
        ExitCode.Integrity,
        message,
      );
      assert.ok(!(await exists(`${tmp}/out`)));
    }

    // The same in an index blob, below a valid index.json: refused before anything is written.
    const hostile = await layout.indexOf([{ ...image, digest: "sha256:../../../outside" }]);
    await layout.tag(hostile, "v1");
    assertFails(
      await ocisync(["copy", `oci:${tmp}/src:v1`, `oci:${tmp}/dst:v1`]),
      ExitCode.Integrity,
      /invalid manifest: manifests\[0\] has an invalid digest "sha256:\.\.\/\.\.\/\.\.\/outside"/,
    );
    assert.ok(!(await exists(`${tmp}/dst`)), "the new layout is taken back");
  });
});

Deno.test("copy: 40 nested indexes, each listing the next twice, stop at depth 8: exit 5, nothing left", async () => {
  await withTempDir("ocisync-bounds-", async (tmp) => {
    const layout = await handLayout(`${tmp}/src`);
    let node = await layout.image(
      await layout.put(json({ os: "linux", architecture: "amd64" }), CONFIG),
    );
    for (let level = 40; level >= 1; level--) node = await layout.indexOf([node, node]);
    await layout.tag(node, "v1");
    const started = Date.now();
    const copy = await ocisync(["copy", `oci:${tmp}/src:v1`, `oci:${tmp}/dst:v1`]);
    assertFails(
      copy,
      ExitCode.Integrity,
      /is nested 9 indexes deep, under sha256:[0-9a-f]{64}; ocisync copies at most 8/,
    );
    assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
    // No index.json entry, tagged or not, and no blob: the new layout is taken back.
    assert.ok(!(await exists(`${tmp}/dst`)), "nothing left");
  });
});

Deno.test("copy: each manifest once, in a diamond and in 8 nested indexes each listing the next 8 times", async () => {
  await withTempDir("ocisync-bounds-", async (tmp) => {
    const layout = await handLayout(`${tmp}/src`);
    const config = await layout.put(json({ os: "linux", architecture: "amd64" }), CONFIG);
    const image = await layout.image(config);
    const layer =
      JSON.parse(await Deno.readTextFile(`${tmp}/src/blobs/sha256/${image.digest.slice(7)}`))
        .layers[0];

    // A diamond: two entries of one index name the same manifest.
    const diamond = await layout.indexOf([
      { ...image, platform: { os: "linux", architecture: "amd64" } },
      { ...image, annotations: { "org.example.role": "again" } },
    ]);
    await layout.tag(diamond, "v1");
    const copy = await ocisync(["copy", `oci:${tmp}/src:v1`, `oci:${tmp}/dst:v1`, "--json"]);
    assert.equal(copy.code, 0, shown(copy));
    const result = JSON.parse(copy.stdout);
    assert.equal(result.manifests, 2, "the index and its manifest, once");
    assert.equal(result.blobsCopied, 2, "the config and the layer, once");
    assert.equal(result.blobsSkipped, 0, "nothing visited twice");
    const expected = [diamond, image, config, layer].map((d) => d.digest.slice(7)).sort();
    assert.deepEqual(await blobFiles(`${tmp}/dst`), expected);
    for (const name of expected) {
      assert.equal(
        sha256Digest(await Deno.readFile(`${tmp}/dst/blobs/sha256/${name}`)),
        `sha256:${name}`,
      );
    }
    const entries = JSON.parse(await Deno.readTextFile(`${tmp}/dst/index.json`)).manifests;
    const digests = entries.map((d: Descriptor) => d.digest);
    assert.equal(new Set(digests).size, digests.length, "each digest listed once");
    assert.ok(
      entries.some((d: Descriptor & { annotations?: Record<string, string> }) =>
        d.digest === diamond.digest && d.annotations?.[REF_NAME] === "v1"
      ),
    );

    // 8 nested indexes (the most allowed), each listing the next 8 times: 8^8 paths, 9 manifests.
    let node = image;
    const indexes: Descriptor[] = [];
    for (let level = 8; level >= 1; level--) {
      node = await layout.indexOf(Array(8).fill(node));
      indexes.push(node);
    }
    await layout.tag(node, "wide");
    const started = Date.now();
    const wide = await ocisync(["copy", `oci:${tmp}/src:wide`, `oci:${tmp}/wide:wide`, "--json"]);
    assert.equal(wide.code, 0, shown(wide));
    assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
    assert.equal(JSON.parse(wide.stdout).manifests, 9);
    assert.equal(JSON.parse(wide.stdout).blobsCopied, 2);
    assert.deepEqual(
      await blobFiles(`${tmp}/wide`),
      [...indexes, image, config, layer].map((d) => d.digest.slice(7)).sort(),
    );
  });
});

/** A tar of a few files made by GNU tar, with enough noise for several zstd blocks. */
async function gnuTar(tmp: string, name: string, format = "gnu"): Promise<Uint8Array> {
  await Deno.mkdir(`${tmp}/tree/sub`, { recursive: true });
  const noise = new Uint8Array(600 * 1024);
  for (let i = 0, x = 1; i < noise.length; i++) {
    noise[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
  }
  await Deno.writeFile(`${tmp}/tree/noise.bin`, noise);
  await Deno.writeTextFile(`${tmp}/tree/sub/text.txt`, "all work and no play\n".repeat(20_000));
  await runOk("tar", [
    `--format=${format}`,
    "--sort=name",
    "-C",
    `${tmp}/tree`,
    "-cf",
    `${tmp}/${name}`,
    ".",
  ]);
  return await Deno.readFile(`${tmp}/${name}`);
}

/** The bytes a decompression gives, or the error it throws. */
async function inflate(bytes: Uint8Array, chunk = 10_000): Promise<Uint8Array | Error> {
  const chunks = [];
  for (let at = 0; at < bytes.length; at += chunk) chunks.push(bytes.slice(at, at + chunk));
  try {
    const parts = await Array.fromAsync(decompressStream(ReadableStream.from(chunks)));
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((offset, p) => (out.set(p, offset), offset + p.length), 0);
    return out;
  } catch (error) {
    return error as Error;
  }
}

function assertRefused(result: Uint8Array | Error, message: RegExp, what: string): void {
  assert.ok(result instanceof UnsafeContentError, `${what}: ${result}`);
  assert.match(result.message, message, what);
}

Deno.test("zstd: a truncated stream is refused as a truncated gzip is; corrupt ones give the same typed error", async () => {
  await withTempDir("ocisync-bounds-", async (tmp) => {
    const tar = await gnuTar(tmp, "layer.tar");
    await runOk("zstd", ["-q", "-3", `${tmp}/layer.tar`, "-o", `${tmp}/layer.tar.zst`]);
    await runOk("gzip", ["-k", `${tmp}/layer.tar`]);
    const zst = await Deno.readFile(`${tmp}/layer.tar.zst`);
    const gz = await Deno.readFile(`${tmp}/layer.tar.gz`);
    for (const [name, bytes] of [["zstd", zst], ["gzip", gz]] as const) {
      const whole = await inflate(bytes);
      assert.ok(whole instanceof Uint8Array, `${name}: ${whole}`);
      assert.equal(sha256Digest(whole), sha256Digest(tar));
      // In the checksum or trailer, before it, mid-way, in the first header.
      for (const cut of [1, 4, 5, Math.floor(bytes.length / 2), bytes.length - 13]) {
        const truncated = bytes.subarray(0, bytes.length - cut);
        for (const chunk of [10_000, 1]) {
          if (chunk === 1 && truncated.length > 4096) continue;
          assertRefused(
            await inflate(truncated, chunk),
            new RegExp(`^corrupt ${name} data: unexpected end of file`),
            `${name} cut by ${cut} bytes, in chunks of ${chunk}`,
          );
        }
      }
    }
    // Corrupt zstd: each is the stream's error, never an uncaught one that ends the process.
    const flipped = (at: number) => {
      const copy = zst.slice();
      copy[at] ^= 0x10;
      return copy;
    };
    for (const at of [20, 1000, zst.length >> 1, zst.length - 2]) {
      assertRefused(await inflate(flipped(at)), /^corrupt zstd data: /, `a flipped byte at ${at}`);
    }
    const garbage = new Uint8Array([...zst, ...new Uint8Array(100)]);
    assertRefused(
      await inflate(garbage),
      /^corrupt zstd data: no zstd frame starts at byte/,
      "zeros after the frame",
    );
    // Two frames, and a skippable frame, are valid zstd.
    const skippable = new Uint8Array([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
    const multi = await inflate(new Uint8Array([...zst, ...skippable, ...zst]), 777);
    assert.ok(multi instanceof Uint8Array, String(multi));
    assert.equal(multi.length, 2 * tar.length);
  });
});

Deno.test("push of a truncated .tar.zst or .tar.gz layer file: exit 7, nothing written", async () => {
  await withTempDir("ocisync-bounds-", async (tmp) => {
    const tar = await gnuTar(tmp, "layer.tar");
    await runOk("zstd", ["-q", `${tmp}/layer.tar`, "-o", `${tmp}/layer.tar.zst`]);
    await runOk("gzip", ["-k", `${tmp}/layer.tar`]);
    const zst = await Deno.readFile(`${tmp}/layer.tar.zst`);
    // Only the frame checksum's last byte is gone: the tar inside is whole, the layer is not.
    await Deno.writeFile(`${tmp}/short.tar.zst`, zst.subarray(0, zst.length - 1));
    await Deno.writeFile(`${tmp}/half.tar.zst`, zst.subarray(0, zst.length >> 1));
    const gz = await Deno.readFile(`${tmp}/layer.tar.gz`);
    await Deno.writeFile(`${tmp}/short.tar.gz`, gz.subarray(0, gz.length - 1));
    for (
      const [file, message] of [
        ["short.tar.zst", /corrupt zstd data: unexpected end of file/],
        ["half.tar.zst", /corrupt zstd data: unexpected end of file/],
        ["short.tar.gz", /corrupt gzip data: unexpected end of file/],
      ] as const
    ) {
      const push = await ocisync(["push", `oci:${tmp}/out:v1`, `${tmp}/${file}`]);
      assertFails(push, ExitCode.UnsafeContent, message);
      assert.ok(!(await exists(`${tmp}/out`)), `${file}: no layout`);
    }
    const whole = await ocisync(["push", `oci:${tmp}/out:v1`, `${tmp}/layer.tar.zst`, "--json"]);
    assert.equal(whole.code, 0, shown(whole));
    assert.equal(JSON.parse(whole.stdout).layers[0].digest, sha256Digest(zst));
    const manifest = JSON.parse(
      await Deno.readTextFile(
        `${tmp}/out/blobs/sha256/${JSON.parse(whole.stdout).digest.slice(7)}`,
      ),
    );
    const config = JSON.parse(
      await Deno.readTextFile(`${tmp}/out/blobs/sha256/${manifest.config.digest.slice(7)}`),
    );
    assert.deepEqual(config.rootfs.diff_ids, [sha256Digest(tar)]);
  });
});

Deno.test("push of a file that is no layer archive: exit 2 naming it, pointing to --files", async () => {
  await withTempDir("ocisync-bounds-", async (tmp) => {
    const app = await appFolder(tmp);
    await Deno.writeTextFile(`${tmp}/settings.json`, '{"debug": true}\n');
    await Deno.writeTextFile(`${tmp}/big.json`, JSON.stringify({ list: Array(500).fill("value") }));
    await Deno.writeFile(
      `${tmp}/settings.json.gz`,
      gzipSync(await Deno.readFile(`${tmp}/big.json`)),
    );
    await Deno.writeFile(`${tmp}/empty`, new Uint8Array());
    const cases: [string[], RegExp][] = [
      [
        [`${tmp}/settings.json`],
        /settings\.json is not a layer archive \(a tar, \.tar\.gz or \.tar\.zst file\): its 16 bytes are less than one 512-byte header/,
      ],
      [
        [`${tmp}/big.json`],
        /big\.json is not a layer archive .*its first 512 bytes are not a tar header/,
      ],
      [[`${tmp}/settings.json.gz`], /settings\.json\.gz is not a layer archive/],
      [[`${tmp}/empty`], /empty is not a layer archive .*: it is empty/],
      // A folder and a file mixed, without --files: the file is named.
      [[`${app}:/app`, `${tmp}/settings.json`], /settings\.json is not a layer archive/],
    ];
    for (const [sources, message] of cases) {
      const push = await ocisync(["push", `oci:${tmp}/out:v1`, ...sources]);
      assertFails(push, ExitCode.Usage, message);
      assert.match(push.stderr, /hint: .*as an artifact.s files \(--files\)/);
      assert.ok(!(await exists(`${tmp}/out`)), "no layout");
    }
    // What the hint says works.
    const files = await ocisync([
      ...["push", `oci:${tmp}/out:v1`, "--files", `${tmp}/settings.json`],
      ...["--artifact-type", "application/vnd.example.settings"],
    ]);
    assert.equal(files.code, 0, shown(files));

    // Tars cut short or damaged stay unsafe content; a v7 tar, without the ustar magic, is a tar.
    const tar = await gnuTar(tmp, "layer.tar", "ustar");
    await Deno.writeFile(`${tmp}/cut.tar`, tar.subarray(0, 300));
    const damaged = tar.slice();
    damaged[10] ^= 1;
    await Deno.writeFile(`${tmp}/damaged.tar`, damaged);
    const refused: [string, RegExp][] = [
      ["cut.tar", /tar archive is truncated/],
      ["damaged.tar", /checksum mismatch/],
    ];
    for (const [file, message] of refused) {
      const push = await ocisync(["push", `oci:${tmp}/refused:v1`, `${tmp}/${file}`]);
      assertFails(push, ExitCode.UnsafeContent, message);
      assert.ok(!(await exists(`${tmp}/refused`)));
    }
    const v7 = await gnuTar(tmp, "v7.tar", "v7");
    assert.notEqual(new TextDecoder().decode(v7.subarray(257, 262)), "ustar");
    const push = await ocisync(["push", `oci:${tmp}/v7:v1`, `${tmp}/v7.tar`, "--json"]);
    assert.equal(push.code, 0, shown(push));
    assert.equal(JSON.parse(push.stdout).layers[0].digest, sha256Digest(v7));
  });
});

Deno.test("readTar tells bytes that are no tar (NotTarError) from a tar cut short or damaged", async () => {
  const read = (bytes: Uint8Array) => Array.fromAsync(readTar(ReadableStream.from([bytes])));
  const text = new TextEncoder().encode("x".repeat(2000));
  await assert.rejects(read(text.subarray(0, 20)), NotTarError);
  await assert.rejects(read(text), NotTarError);
  await withTempDir("ocisync-bounds-", async (tmp) => {
    const tar = await gnuTar(tmp, "layer.tar");
    for (const cut of [300, 512 + 100, 200_000]) {
      await assert.rejects(
        read(tar.subarray(0, cut)),
        (error) => error instanceof UnsafeContentError && !(error instanceof NotTarError),
      );
    }
  });
  assert.deepEqual(await read(new Uint8Array(1024)), [], "the end blocks alone: an empty archive");
  assert.deepEqual(await read(new Uint8Array()), [], "no bytes: no entries");
});
