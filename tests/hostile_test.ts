/**
 * Hostile layers, built by hand with Python's `tarfile` and laid out as OCI images by the test
 * itself (digests from `node:crypto`, never from ocisync), met by `pull`, `copy` into a layout, and
 * `push` of layer files. Refused content gives exit 7 and leaves nothing behind; devices and fifos
 * are not created; setuid and setgid are dropped; whiteouts delete inside the target only; a
 * decompression bomb stops at `--max-extract-size`.
 */
import assert from "node:assert/strict";
import { ExitCode } from "../src/cli/exit.ts";
import { ocisync, shown } from "./helpers/cli.ts";
import { startRegistry } from "./helpers/registry.ts";
import { requireTool } from "./helpers/tools.ts";
import { snapshot } from "./helpers/tree.ts";
import { sha256Digest, sha256Hex } from "./helpers/hash.ts";
import { chainedPaxTar, type Entry, pythonTar, writeImage } from "./helpers/layers.ts";

requireTool("python3", "python3");

/**
 * A scratch folder with a folder `outside` (holding `secret`) beside the pull's target `out`:
 * what a hostile layer would reach for.
 */
async function scratch(): Promise<string> {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-hostile-" });
  await Deno.mkdir(`${tmp}/outside`);
  await Deno.writeTextFile(`${tmp}/outside/secret`, "secret\n");
  return tmp;
}

/** Everything in `tmp` but the layout: what a pull may have written. */
async function written(tmp: string): Promise<string[]> {
  const tree = await snapshot(tmp);
  return Object.keys(tree).filter((path) => !path.startsWith("layout")).sort();
}

/**
 * Entries no one can extract, refused by the tar reader, for `pull` and `push` alike: they
 * reached the file system, which failed with exit 1 or 4 and named the pull's staging folder.
 */
const MALFORMED: { name: string; entries: Entry[]; message: RegExp }[] = [
  {
    name: "a name with a NUL byte (a PAX path)",
    entries: [{ type: "file", name: "x", data: "hi", pax: { path: "a\0b" } }],
    message: /tar entry "a\\u0000b" has a NUL byte in its name/,
  },
  {
    name: "a symlink target with a NUL byte (a PAX linkpath)",
    entries: [{ type: "symlink", name: "l", link: "x", pax: { linkpath: "/etc\0zz" } }],
    message: /tar entry "l" links to "\/etc\\u0000zz", with a NUL byte/,
  },
  {
    name: "a hard link target with a NUL byte",
    entries: [
      { type: "file", name: "a", data: "x" },
      { type: "hardlink", name: "h", link: "x", pax: { linkpath: "a\0" } },
    ],
    message: /tar entry "h" links to "a\\u0000", with a NUL byte/,
  },
  {
    name: "a symlink with no target",
    entries: [{ type: "symlink", name: "l", link: "" }],
    message: /tar entry "l" is a link with no target/,
  },
  {
    name: "a hard link to itself",
    entries: [{ type: "file", name: "a", data: "x" }, { type: "hardlink", name: "a", link: "./a" }],
    message: /tar entry "a" is a hard link to itself/,
  },
];

/** Layers, and what the refusal says. Each image is pulled into `out`, next to `outside`. */
const REFUSED: { name: string; layers: (tmp: string) => Entry[][]; message: RegExp }[] = [
  {
    name: "a path with ..",
    layers: () => [[{ type: "file", name: "../escaped", data: "x" }]],
    message: /refusing layer entry "\.\.\/escaped": it contains \.\./,
  },
  {
    name: "an absolute path",
    layers: (tmp) => [[{ type: "file", name: `${tmp}/outside/absolute`, data: "x" }]],
    message: /is an absolute path/,
  },
  {
    name: "a write through a symlink that leaves the target",
    layers: () => [[
      { type: "symlink", name: "up", link: "../outside" },
      { type: "file", name: "up/pwned", data: "x" },
    ]],
    message: /refusing layer entry "up\/pwned": it leaves the target through a symlink/,
  },
  {
    name: "a write through a chain of symlinks, over two layers",
    layers: () => [
      [{ type: "symlink", name: "a", link: "b" }, { type: "dir", name: "c" }],
      [{ type: "symlink", name: "b", link: "c/../.." }, { type: "file", name: "a/outside/pwned" }],
    ],
    message: /leaves the target through a symlink/,
  },
  {
    name: "a hard link to a file outside",
    layers: () => [[{ type: "hardlink", name: "stolen", link: "../outside/secret" }]],
    message: /refusing layer entry "\.\.\/outside\/secret": it contains \.\./,
  },
  {
    name: "a hard link to an absolute path",
    layers: (tmp) => [[{ type: "hardlink", name: "stolen", link: `${tmp}/outside/secret` }]],
    message: /is an absolute path/,
  },
  {
    name: "a hard link through a symlink that leaves the target",
    layers: () => [[
      { type: "symlink", name: "up", link: ".." },
      { type: "hardlink", name: "stolen", link: "up/outside/secret" },
    ]],
    message: /leaves the target through a symlink/,
  },
  {
    name: "a whiteout through a symlink that leaves the target",
    layers: () => [
      [{ type: "symlink", name: "up", link: "../outside" }],
      [{ type: "file", name: "up/.wh.secret" }],
    ],
    message: /refusing layer entry "up\/\.wh\.secret": it leaves the target through a symlink/,
  },
  {
    name: "an opaque whiteout through a symlink that leaves the target",
    layers: () => [
      [{ type: "symlink", name: "up", link: "../outside" }],
      [{ type: "file", name: "up/.wh..wh..opq" }],
    ],
    message: /leaves the target through a symlink/,
  },
  {
    name: "a whiteout of nothing",
    layers: () => [[{ type: "file", name: ".wh.." }]],
    message: /whiteouts nothing/,
  },
  {
    name: "a hard link to itself, by way of a symlink to its folder",
    layers: () => [[
      { type: "dir", name: "d" },
      { type: "symlink", name: "d2", link: "d" },
      { type: "file", name: "d/a", data: "x" },
      { type: "hardlink", name: "d/a", link: "d2/a" },
    ]],
    message: /refusing layer entry "d\/a": it is a hard link to itself/,
  },
  ...MALFORMED.map(({ name, entries, message }) => ({ name, layers: () => [entries], message })),
];

for (const { name, layers, message } of REFUSED) {
  Deno.test(`pull refuses ${name}: exit 7, nothing written`, async () => {
    const tmp = await scratch();
    try {
      const tars = [];
      for (const [i, entries] of layers(tmp).entries()) {
        tars.push(await pythonTar(`${tmp}/layer${i}.tar`, entries));
        await Deno.remove(`${tmp}/layer${i}.tar`);
      }
      await writeImage(`${tmp}/layout`, tars);
      const before = await written(tmp);
      const pull = await ocisync(["pull", `oci:${tmp}/layout:v1`, "-o", `${tmp}/out`]);
      assert.equal(pull.code, ExitCode.UnsafeContent, shown(pull));
      assert.match(pull.stderr, message);
      assert.doesNotMatch(pull.stderr, /\.ocisync-pull-/, "the message names no staging path");
      assert.deepEqual(await written(tmp), before, "nothing written, nothing left behind");
      assert.equal(await Deno.readTextFile(`${tmp}/outside/secret`), "secret\n");
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
}

Deno.test("pull: devices and fifos are not created; setuid and setgid are dropped, a folder's sticky bit kept", async () => {
  const tmp = await scratch();
  try {
    const tar = await pythonTar(`${tmp}/layer.tar`, [
      { type: "chr", name: "null" },
      { type: "blk", name: "disk" },
      { type: "fifo", name: "pipe" },
      { type: "file", name: "suid", data: "#!/bin/sh\n", mode: 0o6755 },
      { type: "dir", name: "shared", mode: 0o3777 },
      { type: "file", name: "shared/file", data: "x", mode: 0o2644 },
    ]);
    await writeImage(`${tmp}/layout`, [tar]);
    const pull = await ocisync(["pull", `oci:${tmp}/layout:v1`, "-o", `${tmp}/out`, "--json"]);
    assert.equal(pull.code, 0, shown(pull));
    assert.deepEqual(JSON.parse(pull.stdout).stats.skipped, ["null", "disk", "pipe"]);
    assert.deepEqual(await snapshot(`${tmp}/out`), {
      "shared": { type: "dir", mode: 0o1777 },
      "shared/file": { type: "file", mode: 0o644, sha256: sha256Hex("x") },
      "suid": { type: "file", mode: 0o755, sha256: sha256Hex("#!/bin/sh\n") },
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pull: whiteouts delete inside the target only; absolute symlinks mean its root", async () => {
  const tmp = await scratch();
  try {
    const lower = await pythonTar(`${tmp}/lower.tar`, [
      { type: "dir", name: "a" },
      { type: "file", name: "a/keep", data: "keep" },
      { type: "file", name: "a/gone", data: "gone" },
      { type: "dir", name: "b" },
      { type: "file", name: "b/old", data: "old" },
      // Absolute targets resolve inside the target, as in a container.
      { type: "symlink", name: "root", link: "/" },
      { type: "symlink", name: "abs", link: `${tmp}/outside` },
    ]);
    const upper = await pythonTar(`${tmp}/upper.tar`, [
      { type: "file", name: "a/.wh.gone" },
      { type: "dir", name: "b" },
      { type: "file", name: "b/.wh..wh..opq" },
      { type: "file", name: "b/new", data: "new" },
      { type: "file", name: `root${tmp}/outside/.wh.secret` },
      { type: "file", name: "abs/pwned", data: "inside" },
    ]);
    await writeImage(`${tmp}/layout`, [lower, upper]);
    const pull = await ocisync(["pull", `oci:${tmp}/layout:v1`, "-o", `${tmp}/out`]);
    assert.equal(pull.code, 0, shown(pull));
    const tree = await snapshot(`${tmp}/out`);
    // The write through `abs` made the folders of its path, this scratch folder's, inside.
    const mirrored = tmp.slice(1);
    const own = (path: string) =>
      !`${mirrored}/`.startsWith(`${path}/`) && !path.startsWith(`${mirrored}/`);
    assert.deepEqual(Object.keys(tree).filter(own), [
      "a",
      "a/keep",
      "abs",
      "b",
      "b/new",
      "root",
    ]);
    // The write through `abs` landed under the target's own copy of that path.
    assert.equal(tree[`${mirrored}/outside/pwned`]?.sha256, sha256Hex("inside"));
    assert.equal(await Deno.readTextFile(`${tmp}/outside/secret`), "secret\n");
    assert.deepEqual([...Deno.readDirSync(`${tmp}/outside`)].map((e) => e.name), ["secret"]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pull: a whiteout makes nothing: under a lower layer's file, or in a folder not there", async () => {
  const tmp = await scratch();
  try {
    const lower = await pythonTar(`${tmp}/lower.tar`, [
      { type: "file", name: "f", data: "kept" },
      { type: "dir", name: "d" },
      { type: "file", name: "d/g", data: "kept too" },
    ]);
    const upper = await pythonTar(`${tmp}/upper.tar`, [
      { type: "file", name: "f/.wh.x" },
      { type: "file", name: "f/.wh..wh..opq" },
      { type: "file", name: "x/y/z/.wh.q" },
      { type: "file", name: "d/g/.wh.h" },
    ]);
    await writeImage(`${tmp}/layout`, [lower, upper]);
    const pull = await ocisync(["pull", `oci:${tmp}/layout:v1`, "-o", `${tmp}/out`]);
    assert.equal(pull.code, 0, shown(pull));
    assert.deepEqual(await snapshot(`${tmp}/out`), {
      "d": { type: "dir", mode: 0o755 },
      "d/g": { type: "file", mode: 0o644, sha256: sha256Hex("kept too") },
      "f": { type: "file", mode: 0o644, sha256: sha256Hex("kept") },
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pull: a decompression bomb stops at --max-extract-size", async () => {
  const tmp = await scratch();
  try {
    const bomb = await pythonTar(`${tmp}/bomb.tar`, [
      { type: "file", name: "small", data: "fine" },
      { type: "zeros", name: "huge", size: 64 * 1024 * 1024 },
    ]);
    await writeImage(`${tmp}/layout`, [bomb], true);
    await Deno.remove(`${tmp}/bomb.tar`);
    const layer = [...Deno.readDirSync(`${tmp}/layout/blobs/sha256`)]
      .map((e) => Deno.statSync(`${tmp}/layout/blobs/sha256/${e.name}`).size);
    assert.ok(Math.max(...layer) < 1024 * 1024, "64 MiB in a blob of under 1 MiB");
    const before = await written(tmp);
    const stopped = await ocisync([
      ...["pull", `oci:${tmp}/layout:v1`, "-o", `${tmp}/out`],
      ...["--max-extract-size", "1MiB"],
    ]);
    assert.equal(stopped.code, ExitCode.UnsafeContent, shown(stopped));
    assert.match(
      stopped.stderr,
      /extracting huge would write more than the limit of 1048576 bytes\nhint: raise the size limit .*\(--max-extract-size\)/,
    );
    assert.deepEqual(await written(tmp), before);

    const allowed = await ocisync([
      ...["pull", `oci:${tmp}/layout:v1`, "-o", `${tmp}/out`],
      ...["--max-extract-size", "65MiB"],
    ]);
    assert.equal(allowed.code, 0, shown(allowed));
    assert.equal((await Deno.stat(`${tmp}/out/huge`)).size, 64 * 1024 * 1024);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

/** Layer files that `push` refuses, and why. */
const REFUSED_LAYER_FILES: { name: string; entries: (tmp: string) => Entry[]; message: RegExp }[] =
  [
    {
      name: "a path with ..",
      entries: () => [{ type: "file", name: "../escaped", data: "x" }],
      message: /entry "\.\.\/escaped" leaves the image's root/,
    },
    {
      name: "an absolute path",
      entries: (tmp) => [{ type: "file", name: `${tmp}/outside/x`, data: "x" }],
      message: /leaves the image's root/,
    },
    {
      name: "a write through a symlink pointing outside",
      entries: () => [
        { type: "symlink", name: "up", link: "../outside" },
        { type: "file", name: "up/pwned", data: "x" },
      ],
      message: /entry "up\/pwned" goes through the symlink "up"/,
    },
    {
      name: "a write through an absolute symlink",
      entries: () => [
        { type: "symlink", name: "etc", link: "/etc" },
        { type: "file", name: "etc/cron.d/job", data: "x" },
      ],
      message: /entry "etc\/cron\.d\/job" goes through the symlink "etc"/,
    },
    {
      name: "a hard link pointing outside",
      entries: () => [{ type: "hardlink", name: "stolen", link: "../outside/secret" }],
      message: /entry "stolen" links to "\.\.\/outside\/secret", outside the image's root/,
    },
    {
      name: "a hard link to an absolute path",
      entries: () => [{ type: "hardlink", name: "stolen", link: "/etc/shadow" }],
      message: /links to "\/etc\/shadow", outside the image's root/,
    },
    {
      name: "a hard link through a symlink",
      entries: () => [
        { type: "symlink", name: "up", link: ".." },
        { type: "hardlink", name: "stolen", link: "up/outside/secret" },
      ],
      message: /entry "stolen" goes through the symlink "up"/,
    },
    ...MALFORMED.map(({ name, entries, message }) => ({ name, entries: () => entries, message })),
  ];

Deno.test("push refuses layer files whose entries leave the root: exit 7, nothing sent or written", async () => {
  const registry = await startRegistry();
  const tmp = await scratch();
  try {
    // A layout that already holds an image: a refused push leaves it as it was.
    const benign = await pythonTar(`${tmp}/benign.tar`, [
      { type: "dir", name: "usr" },
      { type: "file", name: "usr/tool", data: "x" },
      { type: "symlink", name: "bin", link: "usr" },
      { type: "hardlink", name: "usr/same", link: "usr/tool" },
      { type: "symlink", name: "escape", link: "../../.." }, // a symlink is data until used
    ]);
    const first = await ocisync(["push", `oci:${tmp}/layout:v1`, `${tmp}/benign.tar`, "--json"]);
    assert.equal(first.code, 0, shown(first));
    assert.equal(JSON.parse(first.stdout).layers[0].digest, sha256Digest(benign));
    const layout = await snapshot(`${tmp}/layout`);
    const before = (await registry.requests()).length;

    for (const { name, entries, message } of REFUSED_LAYER_FILES) {
      const file = `${tmp}/hostile.tar`;
      await pythonTar(file, entries(tmp));
      for (const destination of [`oci:${tmp}/layout:v2`, `${registry.host}/hostile/app:v1`]) {
        const push = await ocisync(["push", destination, file]);
        assert.equal(push.code, ExitCode.UnsafeContent, `${name}: ${shown(push)}`);
        assert.match(push.stderr, message, name);
      }
    }
    assert.deepEqual(await snapshot(`${tmp}/layout`), layout);
    // A push checks the credentials first (GET /v2/); nothing else may reach the registry.
    const sent = (await registry.requests()).slice(before).filter((r) => r.path !== "/v2/");
    assert.deepEqual(sent, [], "nothing sent");
    assert.equal(await Deno.readTextFile(`${tmp}/outside/secret`), "secret\n");
  } finally {
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("copy carries a hostile image unchanged and writes only inside the layout; pulling it is refused", async () => {
  const registry = await startRegistry();
  const tmp = await scratch();
  try {
    const tar = await pythonTar(`${tmp}/layer.tar`, [
      { type: "symlink", name: "up", link: "../outside" },
      { type: "file", name: "up/pwned", data: "x" },
      { type: "file", name: "../escaped", data: "x" },
    ]);
    await writeImage(`${tmp}/layout`, [tar]);
    const before = await written(tmp);
    const copy = await ocisync(["copy", `oci:${tmp}/layout:v1`, `oci:${tmp}/layout2:v1`]);
    assert.equal(copy.code, 0, shown(copy));
    assert.deepEqual(
      (await written(tmp)).filter((path) => !path.startsWith("layout2")),
      before,
      "copy extracts nothing",
    );
    const blobs = Object.keys(await snapshot(`${tmp}/layout2`)).sort();
    assert.deepEqual(blobs.filter((path) => !/^blobs\/sha256\/[0-9a-f]{64}$/.test(path)), [
      "blobs",
      "blobs/sha256",
      "index.json",
      "oci-layout",
    ]);
    // Both ends refuse to extract it, from the layout and from a registry.
    const toRegistry = await ocisync([
      "copy",
      `oci:${tmp}/layout2:v1`,
      `${registry.host}/h/app:v1`,
    ]);
    assert.equal(toRegistry.code, 0, shown(toRegistry));
    for (const source of [`oci:${tmp}/layout2:v1`, `${registry.host}/h/app:v1`]) {
      const pull = await ocisync(["pull", source, "-o", `${tmp}/out`]);
      assert.equal(pull.code, ExitCode.UnsafeContent, shown(pull));
    }
    assert.deepEqual((await written(tmp)).filter((path) => !path.startsWith("layout2")), before);

    // A manifest whose descriptor would name a path instead of a digest is refused unread.
    const index = JSON.parse(await Deno.readTextFile(`${tmp}/layout/index.json`));
    const manifestPath = `${tmp}/layout/blobs/sha256/${index.manifests[0].digest.slice(7)}`;
    const manifest = JSON.parse(await Deno.readTextFile(manifestPath));
    manifest.layers[0].digest = "sha256:../../../outside/secret";
    const bytes = new TextEncoder().encode(JSON.stringify(manifest));
    await Deno.writeFile(`${tmp}/layout/blobs/sha256/${sha256Digest(bytes).slice(7)}`, bytes);
    index.manifests[0] = {
      ...index.manifests[0],
      digest: sha256Digest(bytes),
      size: bytes.byteLength,
    };
    await Deno.writeTextFile(`${tmp}/layout/index.json`, JSON.stringify(index));
    const refused = await ocisync(["copy", `oci:${tmp}/layout:v1`, `oci:${tmp}/layout3:v1`]);
    assert.equal(refused.code, ExitCode.Integrity, shown(refused));
    assert.match(refused.stderr, /invalid manifest: layers\[0\] has an invalid digest/);
    assert.equal(await Deno.readTextFile(`${tmp}/outside/secret`), "secret\n");
  } finally {
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("sync -o refuses hostile layers and bombs: exit 7, no version, no state", async () => {
  const tmp = await scratch();
  try {
    const escape = await pythonTar(`${tmp}/escape.tar`, [
      { type: "symlink", name: "up", link: "../../../outside" },
      { type: "file", name: "up/pwned", data: "x" },
    ]);
    const bomb = await pythonTar(`${tmp}/bomb.tar`, [
      { type: "zeros", name: "huge", size: 8 * 1024 * 1024 },
    ]);
    await writeImage(`${tmp}/layout`, [escape]);
    await writeImage(`${tmp}/bomb`, [bomb], true);
    for (const [layout, message] of [["layout", /leaves the target/], ["bomb", /limit/]] as const) {
      const sync = await ocisync([
        ...["sync", `oci:${tmp}/${layout}:v1`, "-o", `${tmp}/dir`, "--once"],
        ...["--state", `${tmp}/state.json`, "--max-extract-size", "1MiB"],
      ]);
      assert.equal(sync.code, ExitCode.UnsafeContent, shown(sync));
      assert.match(sync.stderr, message);
      assert.ok(!(await Deno.lstat(`${tmp}/dir/current`).catch(() => undefined)), "no current");
      const versions = await Array.fromAsync(Deno.readDir(`${tmp}/dir/.ocisync`)).catch(() => []);
      assert.deepEqual(versions, [], "no version folder, whole or partial");
      assert.ok(!(await Deno.stat(`${tmp}/state.json`).catch(() => undefined)), "no state");
    }
    assert.deepEqual([...Deno.readDirSync(`${tmp}/outside`)].map((e) => e.name), ["secret"]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pull reads a layer to its last byte: padding is verified, not skipped", async () => {
  const tmp = await scratch();
  try {
    // GNU tar pads archives to 10 KiB records; this one pads far past a read's chunk.
    const tar = await pythonTar(`${tmp}/layer.tar`, [{ type: "file", name: "a.txt", data: "a" }]);
    const padded = new Uint8Array(tar.length + 300_000);
    padded.set(tar);
    await writeImage(`${tmp}/layout`, [padded]);
    const pull = await ocisync(["pull", `oci:${tmp}/layout:v1`, "-o", `${tmp}/out`]);
    assert.equal(pull.code, 0, shown(pull));
    assert.equal(await Deno.readTextFile(`${tmp}/out/a.txt`), "a");

    // A byte changed in the padding changes the blob: refused, though no entry reads it.
    const blob = `${tmp}/layout/blobs/sha256/${sha256Digest(padded).slice(7)}`;
    const tampered = padded.slice();
    tampered[tampered.length - 1] = 1;
    await Deno.writeFile(blob, tampered);
    const refused = await ocisync(["pull", `oci:${tmp}/layout:v1`, "-o", `${tmp}/again`]);
    assert.equal(refused.code, ExitCode.Integrity, shown(refused));
    assert.match(refused.stderr, /has digest sha256:/);
    assert.ok(!(await Deno.stat(`${tmp}/again`).catch(() => undefined)));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pull: a chain of extended headers with different keys is refused, not held in memory", async () => {
  const tmp = await scratch();
  try {
    await chainedPaxTar(`${tmp}/chain.tar`, 6, "file");
    await writeImage(`${tmp}/layout`, [await Deno.readFile(`${tmp}/chain.tar`)]);
    await Deno.remove(`${tmp}/chain.tar`);
    const before = await written(tmp);
    const pulled = await ocisync(["pull", `oci:${tmp}/layout:v1`, "-o", `${tmp}/out`]);
    assert.equal(pulled.code, ExitCode.UnsafeContent, shown(pulled));
    assert.match(pulled.stderr, /tar extended headers of more than 4194304 bytes before one entry/);
    assert.deepEqual(await written(tmp), before);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
