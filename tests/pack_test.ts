/**
 * `ocisync pack`: determinism and peer checks. Every expectation comes from
 * somewhere other than ocisync itself: a second build in another place, GNU
 * tar, bsdtar, Python's tarfile, gzip, zstd and sha256sum.
 */
import assert from "node:assert/strict";
import { ocisync, runOk, shown } from "./helpers/cli.ts";
import { requireTool } from "./helpers/tools.ts";
import { normalised, snapshot, type TreeNode, writeTree } from "./helpers/tree.ts";
import { asNobody } from "./helpers/unprivileged.ts";

requireTool("tar", "tar");
requireTool("bsdtar", "libarchive-tools");
requireTool("gzip", "gzip");
requireTool("zstd", "zstd");
requireTool("python3", "python3");
requireTool("sha256sum", "coreutils");

/** 9 MiB of bytes that do not compress, the same for every tree. */
const BIG = (() => {
  const bytes = new Uint8Array(9 * 1024 * 1024);
  let x = 0x2545f491;
  for (let i = 0; i < bytes.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
})();

const LONG_DIR = "deep/" +
  Array.from({ length: 14 }, (_, i) => `segment-${i}-abcdefghij`).join("/");

/** The tricky tree: long and UTF-8 names, links, empty things, an executable, a big file. */
const TRICKY: Record<string, TreeNode> = {
  "empty-dir": { type: "dir" },
  "sub": { type: "dir" },
  "sub/dir": { type: "dir" },
  "ünïcødé": { type: "dir" },
  [`n${"x".repeat(110)}`]: { type: "dir" },
  "deep": { type: "dir" },
  [LONG_DIR]: { type: "dir" },
  "a.txt": { type: "file", content: "alpha\n" },
  "a-b": { type: "file", content: "dash" },
  "a.b": { type: "file", content: "dot" },
  "a_b": { type: "file", content: "underscore" },
  "B": { type: "file", content: "upper" },
  "empty.txt": { type: "file", content: "" },
  "run.sh": { type: "file", content: "#!/bin/sh\necho hi\n", executable: true },
  "big.bin": { type: "file", content: BIG },
  "sub/dir/b.txt": { type: "file", content: "bee" },
  "ünïcødé/日本語.txt": { type: "file", content: "こんにちは" },
  [`n${"x".repeat(110)}/file.txt`]: { type: "file", content: "split by prefix" },
  [`${"p".repeat(200)}.txt`]: { type: "file", content: "a 200-byte name" },
  [`${LONG_DIR}/leaf.txt`]: { type: "file", content: "a path over 255 bytes" },
  "link-to-a": { type: "symlink", target: "a.txt" },
  "dangling": { type: "symlink", target: "does/not/exist" },
  "absolute": { type: "symlink", target: "/etc/hostname" },
  "long-link": { type: "symlink", target: `${"t".repeat(150)}/target` },
  "hard-a": { type: "hardlink", to: "a.txt" },
};

/** A tree with only plain files and directories, for the byte-for-byte GNU tar check. */
const PLAIN: Record<string, TreeNode> = {
  "dir": { type: "dir" },
  "dir/nested": { type: "dir" },
  "empty": { type: "dir" },
  [`n${"y".repeat(60)}`]: { type: "dir" },
  "z.txt": { type: "file", content: "zed" },
  "A.txt": { type: "file", content: "capital" },
  "dir/nested/x.bin": { type: "file", content: BIG.subarray(0, 70_000) },
  "dir/tool": { type: "file", content: "#!/bin/sh\n", executable: true },
  "dir/ü.txt": { type: "file", content: "utf-8" },
  "dir/empty": { type: "file", content: "" },
  // 62 + 1 + 60 bytes: over the 100-byte name field, so ustar's prefix field holds the dir.
  [`n${"y".repeat(60)}/${"f".repeat(60)}`]: { type: "file", content: "prefix field" },
};

async function packJson(src: string, out: string, ...extra: string[]) {
  const result = await ocisync(["pack", src, "-o", out, "--json", ...extra]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as {
    path: string;
    mediaType: string;
    digest: string;
    diffId: string;
    size: number;
    entries: number;
  };
}

async function sha256File(path: string): Promise<string> {
  return "sha256:" + (await runOk("sha256sum", [path])).split(" ")[0];
}

async function sha256Of(command: string): Promise<string> {
  return "sha256:" + (await runOk("sh", ["-c", `${command} | sha256sum`])).split(" ")[0];
}

Deno.test("pack: two copies of a tricky tree give the same digest and diffId", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const a = `${tmp}/one/src`;
    const b = `${tmp}/elsewhere/deeper/checkout/src`;
    await writeTree(a, TRICKY, { mtime: 1_000_000_000 });
    await writeTree(b, TRICKY, {
      reverse: true,
      fileMode: 0o600,
      execMode: 0o700,
      dirMode: 0o700,
      mtime: 1_700_000_123,
      owner: [1234, 5678],
    });
    for (const compression of ["gzip", "zstd", "none"]) {
      const one = await packJson(a, `${tmp}/one.layer`, "--compression", compression);
      // A different working directory, umask and time of day must not matter either.
      const two = await ocisync(
        ["pack", b, "-o", `${tmp}/two.layer`, "--json", "--compression", compression],
        { cwd: "/", env: { TZ: "Asia/Tokyo" } },
      );
      assert.equal(two.code, 0, two.stderr);
      const parsed = JSON.parse(two.stdout);
      assert.equal(parsed.digest, one.digest, compression);
      assert.equal(parsed.diffId, one.diffId, compression);
      assert.equal(await sha256File(`${tmp}/one.layer`), one.digest);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pack: GNU tar, bsdtar and Python read the layer and extract the same tree", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const src = `${tmp}/src`;
    await writeTree(src, TRICKY);
    const layer = await packJson(src, `${tmp}/layer.tar.gz`, "--mtime", "1234567890");
    assert.equal(layer.mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
    assert.equal(await sha256File(`${tmp}/layer.tar.gz`), layer.digest);
    assert.equal(await sha256Of(`gzip -dc ${tmp}/layer.tar.gz`), layer.diffId);
    await runOk("gzip", ["-t", `${tmp}/layer.tar.gz`]);
    await runOk("sh", ["-c", `gzip -dc ${tmp}/layer.tar.gz > ${tmp}/layer.tar`]);

    const expected = normalised(await snapshot(src));
    const extractors: [string, string, string[]][] = [
      ["gnu", "tar", ["-xpf", `${tmp}/layer.tar`, "-C"]],
      ["bsd", "bsdtar", ["-xpf", `${tmp}/layer.tar`, "-C"]],
    ];
    for (const [name, program, args] of extractors) {
      const dest = `${tmp}/${name}`;
      await Deno.mkdir(dest);
      await runOk(program, [...args, dest]);
      assert.deepEqual(await snapshot(dest), expected, `${name} extraction differs`);
    }
    const pyDest = `${tmp}/python`;
    await runOk("python3", [
      "-c",
      "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter='fully_trusted')",
      `${tmp}/layer.tar.gz`,
      pyDest,
    ]);
    assert.deepEqual(await snapshot(pyDest), expected, "python extraction differs");

    // Header fields and layout, as Python's tarfile reads them.
    const report = JSON.parse(
      await runOk("python3", [
        "-c",
        `import json, sys, tarfile
t = tarfile.open(sys.argv[1])
ms = t.getmembers()
last = ms[-1]
end = last.offset_data + ((last.size + 511) // 512) * 512
print(json.dumps({
  "names": [m.name + ("/" if m.isdir() else "") for m in ms],
  "owners": sorted({(m.uid, m.gid, m.uname, m.gname) for m in ms}),
  "mtimes": sorted({m.mtime for m in ms}),
  "pax": sorted({k for m in ms for k in m.pax_headers}),
  "types": sorted({m.type.decode() for m in ms}),
  "tail": end,
}))`,
        `${tmp}/layer.tar`,
      ]),
    );
    const size = (await Deno.stat(`${tmp}/layer.tar`)).size;
    assert.equal(size, report.tail + 1024, "exactly two zero blocks end the archive");
    assert.deepEqual(report.owners, [[0, 0, "", ""]]);
    assert.deepEqual(report.mtimes, [1234567890]);
    assert.deepEqual(report.pax, ["linkpath", "path"]);
    assert.deepEqual(report.types, ["0", "2", "5"], "files, symlinks and dirs; no hard links");
    assert.equal(report.names.length, layer.entries);
    for (const name of report.names as string[]) {
      assert.ok(!name.startsWith("/") && !name.startsWith("./"), name);
    }
    // The order is GNU tar's --sort=name over the same tree.
    const gnuOrder = await gnuTarNames(src, tmp);
    assert.deepEqual(report.names, gnuOrder);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

/** The entry names GNU tar --sort=name writes for `src`'s content (top-level names sorted bytewise). */
async function gnuTarNames(src: string, tmp: string): Promise<string[]> {
  await gnuTar(src, `${tmp}/gnu-order.tar`, "--format=pax");
  return (await runOk("tar", ["-tf", `${tmp}/gnu-order.tar`])).trimEnd().split("\n");
}

async function gnuTar(src: string, out: string, format: string): Promise<void> {
  const top = (await runOk("sh", ["-c", `cd "$0" && LC_ALL=C ls -A`, src])).trimEnd().split("\n");
  await runOk("tar", [
    "-C",
    src,
    "--sort=name",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    "--mtime=@0",
    format,
    "--blocking-factor=1",
    "-cf",
    out,
    "--",
    ...top,
  ], { env: { LC_ALL: "C" } });
}

Deno.test("pack: the uncompressed tar is byte-identical to GNU tar's reproducible output", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const src = `${tmp}/src`;
    await writeTree(src, PLAIN);
    await gnuTar(src, `${tmp}/gnu.tar`, "--format=ustar");
    const ours = await packJson(src, `${tmp}/ours.tar`, "--compression", "none", "--mtime", "0");
    assert.equal(ours.mediaType, "application/vnd.oci.image.layer.v1.tar");
    const [gnu, mine] = await Promise.all([
      Deno.readFile(`${tmp}/gnu.tar`),
      Deno.readFile(`${tmp}/ours.tar`),
    ]);
    assert.equal(mine.length, gnu.length);
    assert.ok(mine.every((byte, i) => byte === gnu[i]), "tar bytes differ from GNU tar");
    assert.equal(ours.diffId, await sha256File(`${tmp}/gnu.tar`));
    assert.equal(ours.digest, ours.diffId, "with no compression the blob is the tar");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pack: zstd layers pass zstd -t and decompress to the diffId", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await writeTree(`${tmp}/src`, PLAIN);
    const layer = await packJson(`${tmp}/src`, `${tmp}/l.tar.zst`, "--compression", "zstd");
    assert.equal(layer.mediaType, "application/vnd.oci.image.layer.v1.tar+zstd");
    await runOk("zstd", ["-q", "-t", `${tmp}/l.tar.zst`]);
    assert.equal(await sha256File(`${tmp}/l.tar.zst`), layer.digest);
    assert.equal(await sha256Of(`zstd -dc ${tmp}/l.tar.zst`), layer.diffId);
    await runOk("bsdtar", ["-tf", `${tmp}/l.tar.zst`]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pack: --prefix, --exclude and .ociignore", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await writeTree(`${tmp}/src`, {
      "keep": { type: "dir" },
      "logs": { type: "dir" },
      "keep/app.py": { type: "file", content: "print(1)" },
      "keep/debug.log": { type: "file", content: "noise" },
      "logs/x.txt": { type: "file", content: "gone" },
      "secret.env": { type: "file", content: "TOKEN=1" },
      ".ociignore": { type: "file", content: "logs/\n*.env\n" },
    });
    await packJson(
      `${tmp}/src`,
      `${tmp}/l.tar`,
      "--compression",
      "none",
      "--prefix",
      "/opt//app/",
      "--exclude",
      "*.log",
    );
    const names = (await runOk("tar", ["-tf", `${tmp}/l.tar`])).trimEnd().split("\n");
    assert.deepEqual(names, [
      "opt/",
      "opt/app/",
      "opt/app/.ociignore",
      "opt/app/keep/",
      "opt/app/keep/app.py",
    ]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pack: version control folders are left out at any depth, unless a pattern brings them back", async () => {
  // A clone's .git holds the token actions/checkout keeps, and differs between two clones of
  // the same commit; a worktree's .git file names the checkout's absolute path.
  const tmp = await Deno.makeTempDir();
  try {
    const code: Record<string, TreeNode> = {
      "app": { type: "dir" },
      "app/flow.py": { type: "file", content: "print(1)\n" },
      ".gitignore": { type: "file", content: "*.pyc\n" },
    };
    const vcs: Record<string, TreeNode> = {
      ".git": { type: "dir" },
      ".git/config": {
        type: "file",
        content: "[http]\n\textraheader = AUTHORIZATION: basic c2VjcmV0\n",
      },
      "app/vendored": { type: "dir" },
      "app/vendored/.git": { type: "file", content: `gitdir: ${tmp}/elsewhere/.git\n` },
      ".hg": { type: "dir" },
      ".hg/hgrc": { type: "file", content: "[paths]\n" },
      ".svn": { type: "dir" },
    };
    await writeTree(`${tmp}/clone`, { ...code, ...vcs });
    await writeTree(`${tmp}/plain`, { ...code, "app/vendored": { type: "dir" } });
    const packed = await packJson(`${tmp}/clone`, `${tmp}/clone.tar`, "--compression", "none");
    const names = (await runOk("tar", ["-tf", `${tmp}/clone.tar`])).trimEnd().split("\n");
    assert.deepEqual(names, [".gitignore", "app/", "app/flow.py", "app/vendored/"]);
    // The same digest as the code without them, whether a matcher is loaded or not.
    const plain = await packJson(`${tmp}/plain`, `${tmp}/plain.tar`, "--compression", "none");
    assert.equal(packed.digest, plain.digest);
    const matched = await packJson(
      `${tmp}/clone`,
      `${tmp}/matched.tar`,
      "--compression",
      "none",
      "--exclude",
      "*.pyc",
    );
    assert.equal(matched.digest, plain.digest);

    const back = await packJson(
      `${tmp}/clone`,
      `${tmp}/back.tar`,
      "--compression",
      "none",
      "--exclude",
      "!.git",
    );
    const withGit = (await runOk("tar", ["-tf", `${tmp}/back.tar`])).trimEnd().split("\n");
    assert.deepEqual(withGit, [
      ".git/",
      ".git/config",
      ".gitignore",
      "app/",
      "app/flow.py",
      "app/vendored/",
      "app/vendored/.git",
    ]);
    assert.equal(back.entries, withGit.length);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pack: an .ociignore that is no regular file, or over 1 MiB, is refused; a link to one is followed", async () => {
  // A fifo hung pack, and a link to /dev/zero filled its memory: both were read whole.
  const tmp = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${tmp}/patterns`, "*.log\n");
    const cases: [string, (ignore: string) => Promise<unknown>, RegExp][] = [
      [
        "a fifo",
        (ignore) => runOk("mkfifo", [ignore]),
        /\.ociignore is a fifo, not a regular file/,
      ],
      [
        "a link to /dev/zero",
        (ignore) => Deno.symlink("/dev/zero", ignore),
        /\.ociignore is a character device, not a regular file/,
      ],
      ["a folder", (ignore) => Deno.mkdir(ignore), /\.ociignore is a folder, not a regular file/],
      [
        "a file of 1 MiB and 1 byte",
        (ignore) => Deno.writeTextFile(ignore, "#".repeat(1024 * 1024) + "\n"),
        /\.ociignore is over 1048576 bytes/,
      ],
    ];
    for (const [what, make, message] of cases) {
      const src = `${tmp}/src-${what.replaceAll(" ", "-")}`;
      await writeTree(src, { "a.txt": { type: "file", content: "a" } });
      await make(`${src}/.ociignore`);
      await Deno.mkdir(`${tmp}/out`, { recursive: true });
      const result = await ocisync(["pack", src, "-o", `${tmp}/out/l.tar`]);
      assert.equal(result.code, 7, `${what}: ${result.stderr}`);
      assert.match(result.stderr, message, what);
      assert.deepEqual([...Deno.readDirSync(`${tmp}/out`)], [], "nothing is left behind");
    }
    await writeTree(`${tmp}/linked`, {
      "a.txt": { type: "file", content: "a" },
      "b.log": { type: "file", content: "b" },
      ".ociignore": { type: "symlink", target: `${tmp}/patterns` },
    });
    await packJson(`${tmp}/linked`, `${tmp}/linked.tar`, "--compression", "none");
    const names = (await runOk("tar", ["-tf", `${tmp}/linked.tar`])).trimEnd().split("\n");
    assert.deepEqual(names, [".ociignore", "a.txt"]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pack: bad input gives a clear error, its exit code, and no output file", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await writeTree(`${tmp}/ok`, { "f": { type: "file", content: "x" } });
    await writeTree(`${tmp}/whiteout`, { ".wh.gone": { type: "file", content: "" } });
    await Deno.mkdir(`${tmp}/fifo`);
    await runOk("mkfifo", [`${tmp}/fifo/pipe`]);
    await Deno.mkdir(`${tmp}/socket`);
    const socket = Deno.listen({ transport: "unix", path: `${tmp}/socket/s.sock` });
    await Deno.symlink(`${tmp}/nowhere`, `${tmp}/dangling`);
    await Deno.writeTextFile(`${tmp}/file.txt`, "not a folder");

    const cases: [string[], number, RegExp][] = [
      [[`${tmp}/missing`], 4, /no such folder/],
      [[`${tmp}/dangling`], 4, /symlink to nothing/],
      [[`${tmp}/file.txt`], 2, /is not a folder/],
      [[`${tmp}/whiteout`], 7, /\.wh\..*whiteout/],
      [[`${tmp}/fifo`], 7, /pipe is a fifo/],
      [[`${tmp}/socket`], 7, /s\.sock is a socket/],
      [[`${tmp}/ok`, "--compression", "brotli"], 2, /--compression must be one of/],
      [[`${tmp}/ok`, "--mtime", "yesterday"], 2, /--mtime must be whole seconds/],
      [[`${tmp}/ok`, "--prefix", "../up"], 2, /must not contain/],
      [[`${tmp}/ok`, "--no-such-flag"], 2, /unknown option --no-such-flag/],
    ];
    for (const [args, code, message] of cases) {
      const out = `${tmp}/out/layer.tar.gz`;
      await Deno.mkdir(`${tmp}/out`, { recursive: true });
      const result = await ocisync(["pack", ...args, "-o", out]);
      assert.equal(result.code, code, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.match(result.stderr, /^ocisync: error: /);
      assert.equal(result.stdout, "");
      assert.deepEqual([...Deno.readDirSync(`${tmp}/out`)], [], "nothing is left behind");
    }
    // As the whiteout's hint says, --exclude and .ociignore leave such a file out.
    for (const exclude of [["--exclude", ".wh.*"], []]) {
      if (exclude.length === 0) {
        await Deno.writeTextFile(`${tmp}/whiteout/.ociignore`, ".wh.gone\n");
      }
      const left = await ocisync(["pack", `${tmp}/whiteout`, "-o", `${tmp}/wh.tar`, ...exclude]);
      assert.equal(left.code, 0, left.stderr);
    }
    const bad = await ocisync(["pack", `${tmp}/ok`, "-o", `${tmp}/no/such/dir/l.tgz`]);
    assert.equal(bad.code, 4);
    assert.match(bad.stderr, /cannot write .*l\.tgz: the folder .* does not exist/);
    const env = await ocisync(["pack", `${tmp}/ok`, "-o", `${tmp}/l.tgz`], {
      env: { SOURCE_DATE_EPOCH: "-5" },
    });
    assert.equal(env.code, 2);
    assert.match(env.stderr, /SOURCE_DATE_EPOCH must be whole seconds/);
    socket.close();
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pack: an unreadable file fails cleanly (run as an unprivileged user)", async () => {
  // root reads everything, so the pack runs as nobody, from a copy nobody can read.
  const tmp = await Deno.makeTempDir();
  try {
    await Deno.chmod(tmp, 0o755);
    await writeTree(`${tmp}/src`, { "secret": { type: "file", content: "x" } });
    await Deno.chmod(`${tmp}/src/secret`, 0o000);
    await Deno.mkdir(`${tmp}/out`);
    await Deno.chmod(`${tmp}/out`, 0o777);
    const ocisyncAsNobody = await asNobody(tmp);
    const result = await ocisyncAsNobody(["pack", `${tmp}/src`, "-o", `${tmp}/out/l.tgz`]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /cannot read .*secret: permission denied/);
    assert.deepEqual([...Deno.readDirSync(`${tmp}/out`)], []);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pack: a layer written inside the folder it packs is refused, through a link too", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await writeTree(`${tmp}/src`, { "f": { type: "file", content: "x" } });
    await Deno.symlink(`${tmp}/src/sub/layer.tgz`, `${tmp}/link.tgz`);
    await Deno.mkdir(`${tmp}/src/sub`);
    for (const output of [`${tmp}/src/layer.tgz`, `${tmp}/src/sub/layer.tgz`, `${tmp}/link.tgz`]) {
      const result = await ocisync(["pack", `${tmp}/src`, "-o", output]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /it is inside .*src, the folder being packed/);
    }
    assert.deepEqual(
      [...Deno.readDirSync(`${tmp}/src`)].map((e) => e.name).sort(),
      ["f", "sub"],
    );
    assert.deepEqual([...Deno.readDirSync(`${tmp}/src/sub`)], []);
    // Written through, a stream leaves nothing to pack.
    const streamed = await ocisync(["pack", `${tmp}/src`, "-o", "-"]);
    assert.equal(streamed.code, 0, streamed.stderr);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pack: a file whose name is not UTF-8 is refused by name, and can be left out", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    // Deno cannot make such a name; Python writes the Latin-1 bytes as they are.
    await runOk("python3", [
      "-c",
      "import os,sys; os.makedirs(sys.argv[1]); open(os.path.join(sys.argv[1].encode(), b'caf\\xe9.txt'), 'wb').write(b'x'); open(os.path.join(sys.argv[1], 'ok.txt'), 'w').write('ok')",
      `${tmp}/src`,
    ]);
    const refused = await ocisync(["pack", `${tmp}/src`, "-o", `${tmp}/l.tar`]);
    assert.equal(refused.code, 7, shown(refused));
    assert.match(refused.stderr, /src\/caf\?\.txt: its name is not UTF-8/);
    assert.equal(await Deno.lstat(`${tmp}/l.tar`).then(() => true, () => false), false);
    const left = await ocisync([
      "pack",
      `${tmp}/src`,
      "-o",
      `${tmp}/l.tar`,
      "--compression",
      "none",
      "--exclude",
      "caf*",
    ]);
    assert.equal(left.code, 0, shown(left));
    assert.deepEqual((await runOk("tar", ["tf", `${tmp}/l.tar`])).trim().split("\n"), ["ok.txt"]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
