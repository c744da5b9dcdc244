/**
 * What a pull does to the folder it writes and to everything around it, with layers built by hand
 * (Python's `tarfile`, digests from `node:crypto`): metadata never follows a link, directories
 * that later layers delete or replace behave as in umoci, a folder with content is merged into
 * and keeps the user's files, `/` and mount points are refused, and limits count every entry and
 * every decompressed byte.
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { ExitCode } from "../src/cli/exit.ts";
import { ocisync, runOk, shown } from "./helpers/cli.ts";
import { sha256Digest, sha256Hex } from "./helpers/hash.ts";
import { type Entry, pythonTar, tarImage, writeImage } from "./helpers/layers.ts";
import { requireTool } from "./helpers/tools.ts";
import { snapshot } from "./helpers/tree.ts";

requireTool("python3", "python3");
requireTool("umoci", "umoci");

/** A scratch folder holding `victim/` (mode 0750, with a file of mode 0640) for hostile layers to aim at. */
async function scratch(): Promise<string> {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-extract-" });
  await Deno.mkdir(`${tmp}/victim`);
  await Deno.chmod(`${tmp}/victim`, 0o750);
  await Deno.writeTextFile(`${tmp}/victim/file`, "mine\n");
  await Deno.chmod(`${tmp}/victim/file`, 0o640);
  return tmp;
}

function victimModes(tmp: string): [number, number] {
  return [
    Deno.lstatSync(`${tmp}/victim`).mode! & 0o7777,
    Deno.lstatSync(`${tmp}/victim/file`).mode! & 0o7777,
  ];
}

/** A directory's mode, then the directory replaced by a link that leaves the target. */
const LINK_SWAPS: { name: string; layers: (tmp: string) => Entry[][] }[] = [
  {
    name: "in one layer, to ../",
    layers: () => [[
      { type: "dir", name: "d", mode: 0o777 },
      { type: "symlink", name: "d", link: "../victim" },
    ]],
  },
  {
    name: "over two layers, to an absolute path",
    layers: (tmp) => [
      [{ type: "dir", name: "d", mode: 0o777 }, { type: "dir", name: "e", mode: 0o000 }],
      [
        { type: "symlink", name: "d", link: `${tmp}/victim` },
        { type: "symlink", name: "e", link: `${tmp}/victim/file` },
      ],
    ],
  },
  {
    name: "a read-only directory, whose mode waits for the end",
    layers: () => [
      [{ type: "dir", name: "ro", mode: 0o500 }, { type: "dir", name: "ro/sub", mode: 0o000 }],
      [{ type: "file", name: ".wh.ro" }, { type: "symlink", name: "ro", link: "../victim" }],
    ],
  },
  {
    name: "a parent replaced by a link below a read-only directory",
    layers: () => [
      [{ type: "dir", name: "p" }, { type: "dir", name: "p/ro", mode: 0o555 }],
      [{ type: "symlink", name: "p", link: "../victim" }],
    ],
  },
];

for (const { name, layers } of LINK_SWAPS) {
  Deno.test(`pull and sync -o: a directory's mode never follows a link (${name})`, async () => {
    const tmp = await scratch();
    try {
      const reference = await tarImage(tmp, layers(tmp));
      const pulled = await ocisync(["pull", reference, "-o", `${tmp}/out`]);
      assert.equal(pulled.code, 0, shown(pulled));
      assert.deepEqual(victimModes(tmp), [0o750, 0o640]);
      const synced = await ocisync(["sync", reference, "-o", `${tmp}/live`, "--once"]);
      assert.equal(synced.code, 0, shown(synced));
      assert.deepEqual(victimModes(tmp), [0o750, 0o640]);
      assert.equal(await Deno.readTextFile(`${tmp}/victim/file`), "mine\n");
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
}

Deno.test("pull: later layers delete and replace directories as umoci does", async () => {
  const tmp = await scratch();
  try {
    const reference = await tarImage(tmp, [
      [
        { type: "dir", name: "var", mode: 0o755 },
        { type: "dir", name: "var/cache", mode: 0o755 },
        { type: "dir", name: "var/cache/apt", mode: 0o755 },
        { type: "file", name: "var/cache/apt/pkgcache.bin", data: "cache" },
        { type: "dir", name: "var/lib", mode: 0o700 },
        { type: "dir", name: "var/lib/ro", mode: 0o555 },
        { type: "file", name: "var/lib/ro/x", data: "x" },
        { type: "dir", name: "opaque", mode: 0o750 },
        { type: "dir", name: "opaque/old", mode: 0o500 },
        { type: "file", name: "opaque/old.txt", data: "old" },
        { type: "dir", name: "becomes-file", mode: 0o700 },
        { type: "file", name: "becomes-file/inner", data: "inner" },
        { type: "dir", name: "same-layer", mode: 0o711 },
        { type: "file", name: "same-layer", data: "now a file", mode: 0o644 },
      ],
      [
        { type: "file", name: "var/cache/.wh.apt" },
        { type: "file", name: "var/lib/.wh.ro" },
        { type: "file", name: "opaque/new.txt", data: "new" },
        { type: "file", name: "opaque/.wh..wh..opq" },
        { type: "file", name: "becomes-file", data: "file", mode: 0o644 },
      ],
    ]);
    const pulled = await ocisync(["pull", reference, "-o", `${tmp}/out`]);
    assert.equal(pulled.code, 0, shown(pulled));
    await runOk("umoci", ["unpack", "--image", `${tmp}/layout:v1`, `${tmp}/bundle`]);
    const expected = await snapshot(`${tmp}/bundle/rootfs`);
    assert.deepEqual(await snapshot(`${tmp}/out`), expected);
    // And what umoci made is what these layers mean.
    assert.equal(expected["becomes-file"]?.mode, 0o644);
    assert.equal(expected["same-layer"]?.mode, 0o644);
    assert.deepEqual(Object.keys(expected).filter((p) => p.startsWith("opaque")), [
      "opaque",
      "opaque/new.txt",
    ]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pull into a folder with content merges and keeps the user's files", async () => {
  const tmp = await scratch();
  try {
    const reference = await tarImage(tmp, [[
      { type: "dir", name: "flows", mode: 0o755 },
      { type: "file", name: "flows/etl.yaml", data: "etl: new\n" },
      { type: "file", name: "flows/shared.py", data: "from image\n" },
      { type: "dir", name: "linked", mode: 0o755 },
      { type: "file", name: "linked/inside", data: "in the image" },
    ]]);
    const out = `${tmp}/workspace`;
    await Deno.mkdir(`${out}/flows`, { recursive: true });
    await Deno.writeTextFile(`${out}/flows/unsaved.py`, "my work\n");
    await Deno.writeTextFile(`${out}/flows/shared.py`, "older\n");
    await Deno.writeTextFile(`${out}/notes.txt`, "notes\n");
    // A user's link where the image has a folder: replaced, never followed.
    await Deno.symlink("../victim", `${out}/linked`);

    const merged = await ocisync(["pull", reference, "-o", out]);
    assert.equal(merged.code, 0, shown(merged));
    const tree = await snapshot(out);
    assert.deepEqual(Object.keys(tree), [
      "flows",
      "flows/etl.yaml",
      "flows/shared.py",
      "flows/unsaved.py",
      "linked",
      "linked/inside",
      "notes.txt",
    ]);
    assert.equal(tree["flows/unsaved.py"].sha256, sha256Hex("my work\n"));
    assert.equal(tree["flows/shared.py"].sha256, sha256Hex("from image\n"));
    assert.equal(tree["linked"].type, "dir");
    assert.deepEqual([...Deno.readDirSync(`${tmp}/victim`)].map((e) => e.name), ["file"]);

    // --delete makes the folder exactly the image.
    const replaced = await ocisync(["pull", reference, "-o", out, "--delete"]);
    assert.equal(replaced.code, 0, shown(replaced));
    assert.deepEqual(Object.keys(await snapshot(out)), [
      "flows",
      "flows/etl.yaml",
      "flows/shared.py",
      "linked",
      "linked/inside",
    ]);
    assert.deepEqual(
      [...Deno.readDirSync(tmp)].map((e) => e.name).filter((n) => n.startsWith(".ocisync")),
      [],
      "no staging folder is left behind",
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pull: a file where the user has a folder is refused before anything moves", async () => {
  const tmp = await scratch();
  try {
    const reference = await tarImage(tmp, [[
      { type: "file", name: "a-new-file", data: "new" },
      { type: "file", name: "flows", data: "a file now" },
    ]]);
    const out = `${tmp}/workspace`;
    await Deno.mkdir(`${out}/flows`, { recursive: true });
    await Deno.writeTextFile(`${out}/flows/unsaved.py`, "my work\n");
    const before = await snapshot(out);
    const refused = await ocisync(["pull", reference, "-o", out]);
    assert.equal(refused.code, ExitCode.Other, shown(refused));
    assert.match(
      refused.stderr,
      /the image has a file at flows, where the destination has a folder/,
    );
    assert.deepEqual(await snapshot(out), before);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pull refuses / and the root of a mounted file system unless --force", async () => {
  const tmp = await scratch();
  try {
    const reference = await tarImage(tmp, [[{ type: "file", name: "planted", data: "x" }]]);
    const root = await ocisync(["pull", reference, "-o", "/"]);
    assert.equal(root.code, ExitCode.Usage, shown(root));
    assert.match(root.stderr, /it is the root folder/);
    assert.equal(await Deno.lstat("/planted").catch(() => undefined), undefined);

    await Deno.mkdir(`${tmp}/mnt`);
    await runOk("mount", ["-t", "tmpfs", "none", `${tmp}/mnt`]);
    try {
      await Deno.writeTextFile(`${tmp}/mnt/existing`, "kept\n");
      const refused = await ocisync(["pull", reference, "-o", `${tmp}/mnt`]);
      assert.equal(refused.code, ExitCode.Usage, shown(refused));
      assert.match(refused.stderr, /the root of a mounted file system/);
      const forced = await ocisync(["pull", reference, "-o", `${tmp}/mnt`, "--force"]);
      assert.equal(forced.code, 0, shown(forced));
      assert.deepEqual([...Deno.readDirSync(`${tmp}/mnt`)].map((e) => e.name).sort(), [
        "existing",
        "planted",
      ]);
    } finally {
      await runOk("umount", [`${tmp}/mnt`]);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pull: --max-entries counts every entry; nothing is left behind", async () => {
  const tmp = await scratch();
  try {
    const entries: Entry[] = [];
    for (let i = 0; i < 300; i++) entries.push({ type: "fifo", name: `p${i}` });
    const reference = await tarImage(tmp, [entries]);
    const stopped = await ocisync(["pull", reference, "-o", `${tmp}/out`, "--max-entries", "200"]);
    assert.equal(stopped.code, ExitCode.UnsafeContent, shown(stopped));
    assert.match(stopped.stderr, /more than the limit of 200 entries/);
    assert.equal(await Deno.lstat(`${tmp}/out`).catch(() => undefined), undefined);

    const passed = await ocisync(["pull", reference, "-o", `${tmp}/out`, "--json"]);
    assert.equal(passed.code, 0, shown(passed));
    const stats = JSON.parse(passed.stdout).stats;
    assert.equal(stats.entries, 300);
    assert.equal(stats.skippedCount, 300);
    assert.equal(stats.skipped.length, 100, "the list of skipped names is bounded");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pull: bytes after the tar's end count against --max-extract-size", async () => {
  const tmp = await scratch();
  try {
    const tar = await pythonTar(`${tmp}/small.tar`, [{ type: "file", name: "f", data: "x" }]);
    // 64 MiB of zeros after the end blocks: readers stop at the end, the hash and the limit do not.
    const padded = new Uint8Array(tar.length + 64 * 1024 * 1024);
    padded.set(tar);
    await writeImage(`${tmp}/layout`, [padded], true);
    const blobs = [...Deno.readDirSync(`${tmp}/layout/blobs/sha256`)].map((e) => e.name);
    assert.ok(blobs.includes(sha256Digest(gzipSync(padded)).slice(7)));
    const stopped = await ocisync([
      ...["pull", `oci:${tmp}/layout:v1`, "-o", `${tmp}/out`],
      ...["--max-extract-size", "1MiB"],
    ]);
    assert.equal(stopped.code, ExitCode.UnsafeContent, shown(stopped));
    assert.match(stopped.stderr, /more than the limit of 1048576 bytes/);
    assert.equal(await Deno.lstat(`${tmp}/out`).catch(() => undefined), undefined);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pull: a titled layer that is no tar, beside untitled ones, is explained", async () => {
  const tmp = await scratch();
  try {
    const tar = await pythonTar(`${tmp}/l.tar`, [{ type: "file", name: "a", data: "a" }]);
    const settings = new TextEncoder().encode('{"debug": true}\n');
    const dir = `${tmp}/layout`;
    await writeImage(dir, [tar, settings], false, [undefined, {
      "org.opencontainers.image.title": "settings.json",
    }]);
    const pulled = await ocisync(["pull", `oci:${dir}:v1`, "-o", `${tmp}/out`]);
    assert.equal(pulled.code, ExitCode.UnsafeContent, shown(pulled));
    assert.match(
      pulled.stderr,
      /\("settings\.json"\) is not a tar archive: this manifest mixes titled/,
    );
    assert.match(
      pulled.stderr,
      /hint: push it again as an artifact, with every file titled \(--files\)/,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
