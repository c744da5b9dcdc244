/**
 * Tars whose entries other readers name differently than a careless reader would, built byte by
 * byte here (never by ocisync): a header of the old GNU format with bytes where ustar keeps its
 * prefix, and an entry given two names, by a PAX record and a GNU long-name header. ocisync must
 * read the names GNU tar reads, or refuse the entry: else `push` checks one name and a runtime
 * extracts another.
 */
import assert from "node:assert/strict";
import { ExitCode } from "../src/cli/exit.ts";
import { UnsafeContentError } from "../src/errors/mod.ts";
import { readTar } from "../src/tar/reader.ts";
import { concatBytes } from "./helpers/bytes.ts";
import { ocisync, run, runOk, shown } from "./helpers/cli.ts";
import { writeImage } from "./helpers/layers.ts";
import { requireTool } from "./helpers/tools.ts";
import { withTempDir } from "./helpers/tree.ts";

requireTool("tar", "tar");
requireTool("bsdtar", "libarchive-tools");

const encoder = new TextEncoder();
/** POSIX ustar's magic and version. */
const USTAR = "ustar\x0000";
/** The old GNU format's magic and version, as GNU tar writes with --format=gnu. */
const OLD_GNU = "ustar  \x00";

/** One 512-byte header, its checksum computed as the ustar rules say. */
function header(
  name: string,
  type: string,
  fields: { size?: number; link?: string; prefix?: string; magic?: string } = {},
): Uint8Array {
  const block = new Uint8Array(512);
  const put = (offset: number, text: string) => block.set(encoder.encode(text), offset);
  put(0, name);
  put(100, type === "2" ? "0000777\0" : "0000644\0");
  put(108, "0000000\0");
  put(116, "0000000\0");
  put(124, `${(fields.size ?? 0).toString(8).padStart(11, "0")}\0`);
  put(136, "00000000000\0");
  put(148, " ".repeat(8));
  put(156, type);
  put(157, fields.link ?? "");
  put(257, fields.magic ?? USTAR);
  put(345, fields.prefix ?? "");
  const sum = block.reduce((total, byte) => total + byte, 0);
  put(148, `${sum.toString(8).padStart(6, "0")}\0 `);
  return block;
}

/** `data` padded with zeros to whole 512-byte blocks. */
function padded(data: string): Uint8Array {
  const bytes = encoder.encode(data);
  const out = new Uint8Array(Math.ceil(bytes.length / 512) * 512);
  out.set(bytes);
  return out;
}

/** A PAX record, "<length> <key>=<value>\n", its length counting itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = body.length + String(body.length).length;
  if (String(length).length + body.length !== length) length++;
  return `${length}${body}`;
}

/** An entry's blocks: a header, then `data` padded. */
function entry(
  name: string,
  type: string,
  data = "",
  fields: { link?: string; prefix?: string; magic?: string } = {},
): Uint8Array[] {
  return [header(name, type, { ...fields, size: encoder.encode(data).length }), padded(data)];
}

/** The blocks as one archive, with its two zero blocks at the end. */
function archive(...entries: Uint8Array[][]): Uint8Array {
  return concatBytes([...entries.flat(), new Uint8Array(1024)]);
}

/**
 * Pushes `tar` as a layer file into a layout and pulls it from an image, and asserts both are
 * refused with exit 7, a message that matches `message`, and nothing written.
 */
async function assertPushAndPullRefuse(tmp: string, tar: Uint8Array, message: RegExp) {
  await Deno.writeFile(`${tmp}/hostile.tar`, tar);
  const push = await ocisync(["push", `oci:${tmp}/pushed:v1`, `${tmp}/hostile.tar`]);
  assert.equal(push.code, ExitCode.UnsafeContent, shown(push));
  assert.match(push.stderr, message);
  assert.ok(!(await Deno.stat(`${tmp}/pushed`).catch(() => undefined)), "no layout written");

  await writeImage(`${tmp}/image`, [tar]);
  const pull = await ocisync(["pull", `oci:${tmp}/image:v1`, "-o", `${tmp}/out`]);
  assert.equal(pull.code, ExitCode.UnsafeContent, shown(pull));
  assert.ok(!(await Deno.stat(`${tmp}/out`).catch(() => undefined)), "nothing pulled");
}

/** The names `readTar` reads in `tar`. */
async function names(tar: Uint8Array): Promise<string[]> {
  const read = [];
  for await (const { name } of readTar(ReadableStream.from([tar]))) read.push(name);
  return read;
}

Deno.test("readTar ignores the prefix field of an old-GNU header, as GNU tar and bsdtar do", async () => {
  await withTempDir("ocisync-tar-reader-", async (tmp) => {
    const tar = archive(
      // A symlink out, with bytes where ustar keeps its prefix: "zz/up" if read as ustar.
      entry("up", "2", "", { link: "../outside", prefix: "zz", magic: OLD_GNU }),
      entry("up/pwned", "0", "written outside the image root\n"),
    );
    await Deno.writeFile(`${tmp}/evil.tar`, tar);
    const gnu = (await runOk("tar", ["-tf", `${tmp}/evil.tar`])).trimEnd().split("\n");
    const bsd = (await runOk("bsdtar", ["-tf", `${tmp}/evil.tar`])).trimEnd().split("\n");
    assert.deepEqual(gnu, ["up", "up/pwned"]);
    assert.deepEqual(bsd, gnu);
    assert.deepEqual(await names(tar), gnu);

    // The same prefix in a POSIX ustar header is part of the name, for all three.
    const ustar = archive(entry("a.txt", "0", "a", { prefix: "zz" }));
    await Deno.writeFile(`${tmp}/ustar.tar`, ustar);
    assert.deepEqual((await runOk("tar", ["-tf", `${tmp}/ustar.tar`])).trimEnd(), "zz/a.txt");
    assert.deepEqual(await names(ustar), ["zz/a.txt"]);

    await assertPushAndPullRefuse(tmp, tar, /entry "up\/pwned" goes through the symlink "up"/);
  });
});

Deno.test("readTar refuses an entry whose PAX header and GNU long-name header name it differently", async () => {
  await withTempDir("ocisync-tar-reader-", async (tmp) => {
    const twoNames = archive(
      entry("././@LongLink", "L", "../../escaped\0", { magic: OLD_GNU }),
      entry("PaxHeaders/x", "x", paxRecord("path", "ok.txt")),
      entry("x", "0", "payload\n"),
    );
    const twoTargets = archive(
      entry("././@LongLink", "K", "../../etc/shadow\0", { magic: OLD_GNU }),
      entry("PaxHeaders/x", "x", paxRecord("linkpath", "ok.txt")),
      entry("x", "1"),
    );
    for (
      const [tar, message] of [
        [
          twoNames,
          /tar entry has two names: "ok\.txt" in its PAX header and "\.\.\/\.\.\/escaped"/,
        ],
        [twoTargets, /tar entry has two link targets: "ok\.txt" in its PAX header and "\.\.\//],
      ] as const
    ) {
      await assert.rejects(names(tar), (error) => {
        assert.ok(error instanceof UnsafeContentError);
        assert.match(error.message, message);
        return true;
      });
      await assertPushAndPullRefuse(tmp, tar, message);
    }

    // Two headers that agree are one name.
    const agreeing = archive(
      entry("././@LongLink", "L", "same.txt\0", { magic: OLD_GNU }),
      entry("PaxHeaders/x", "x", paxRecord("path", "same.txt")),
      entry("x", "0", "payload\n"),
    );
    assert.deepEqual(await names(agreeing), ["same.txt"]);
  });
});

/** What GNU tar and bsdtar list in `tar`, whatever they exit with (GNU tar exits 2 on a bad record). */
async function listings(tmp: string, tar: Uint8Array): Promise<{ gnu: string[]; bsd: string[] }> {
  await Deno.writeFile(`${tmp}/listed.tar`, tar);
  const list = async (program: string) =>
    (await run(program, ["-tf", `${tmp}/listed.tar`])).stdout.split("\n").filter((n) => n);
  return { gnu: await list("tar"), bsd: await list("bsdtar") };
}

async function assertRefused(tar: Uint8Array, message: RegExp): Promise<void> {
  await assert.rejects(names(tar), (error) => {
    assert.ok(error instanceof UnsafeContentError, `not UnsafeContentError: ${error}`);
    assert.match(error.message, message);
    return true;
  });
}

Deno.test("readTar refuses a PAX number that is no plain decimal: GNU tar and bsdtar see the entry it hid", async () => {
  // JavaScript's Number read size=0x200 as 512 and skipped the next header as content; GNU tar
  // refuses the record and bsdtar ignores it: both list the next header as an entry.
  await withTempDir("ocisync-tar-reader-", async (tmp) => {
    const hex = archive(
      entry("PaxHeaders/x", "x", paxRecord("size", "0x200")),
      entry("innocent", "0"),
      entry("../../escaped", "0"),
    );
    const { gnu, bsd } = await listings(tmp, hex);
    assert.deepEqual(gnu, ["innocent", "../../escaped"]);
    assert.deepEqual(bsd, gnu);
    const message = /tar PAX record size is not a decimal number: "0x200"/;
    await assertRefused(hex, message);
    await assertPushAndPullRefuse(tmp, hex, message);

    const withRecord = (key: string, value: string) =>
      archive(entry("PaxHeaders/x", "x", paxRecord(key, value)), entry("a", "0"));
    for (
      const [key, value] of [
        ["size", "+0"],
        ["size", " 0"],
        ["size", "0e0"],
        ["size", ""],
        ["mtime", "0x10"],
        ["mtime", "1e20"],
        ["mtime", "Infinity"],
        ["uid", "0x0"],
        ["gid", "-0"],
        ["atime", "1."],
      ]
    ) {
      await assertRefused(withRecord(key, value), new RegExp(`record ${key} is not a decimal`));
    }
    // A record's length is decimal too.
    await assertRefused(
      archive(entry("PaxHeaders/x", "x", "0x14 path=../../lh\n"), entry("a", "0")),
      /tar PAX header is malformed/,
    );
    // A PAX size is the entry's: an extended header between them keeps its own, as in GNU tar.
    const chained = archive(
      entry("PaxHeaders/x", "x", paxRecord("size", "0")),
      entry("PaxHeaders/x", "x", paxRecord("path", "named.txt")),
      entry("a", "0"),
    );
    assert.deepEqual((await listings(tmp, chained)).gnu, ["named.txt"]);
    assert.deepEqual(await names(chained), ["named.txt"]);
    // Plain decimals, and times with a sign and a fraction as GNU tar writes them, are read.
    const plain = archive(
      entry("PaxHeaders/x", "x", paxRecord("mtime", "-1.5") + paxRecord("uid", "1000")),
      entry("a", "0"),
      entry("PaxHeaders/x", "x", paxRecord("mtime", "1700000000.123456789")),
      entry("b", "0"),
    );
    const read = await Array.fromAsync(readTar(ReadableStream.from([plain])));
    const times = read.map(({ name, mtime }) => `${name} ${mtime}`);
    assert.deepEqual(times, ["a -2", "b 1700000000"]);
  });
});

Deno.test("readTar refuses GNU sparse records and entries, which GNU tar names otherwise", async () => {
  await withTempDir("ocisync-tar-reader-", async (tmp) => {
    // A GNU sparse file of format 1.0: GNU tar, Python and Go take its name from GNU.sparse.name.
    const sparse = archive(
      entry(
        "PaxHeaders/x",
        "x",
        paxRecord("GNU.sparse.major", "1") + paxRecord("GNU.sparse.minor", "0") +
          paxRecord("GNU.sparse.name", "../../sparse-escape") +
          paxRecord("GNU.sparse.realsize", "0"),
      ),
      entry("innocent", "0", "1\n0\n0\n"),
    );
    const { gnu } = await listings(tmp, sparse);
    assert.deepEqual(gnu, ["../../sparse-escape"]);
    const message = /tar PAX records GNU\.sparse\.\* make a GNU sparse file/;
    await assertRefused(sparse, message);
    await assertPushAndPullRefuse(tmp, sparse, message);

    // The old GNU format's sparse entry, type "S".
    await assertRefused(
      archive(entry("s", "S", "", { magic: OLD_GNU })),
      /tar entry "s" is a GNU sparse file/,
    );
  });
});

Deno.test("readTar refuses a global PAX header that names or sizes the entries after it", async () => {
  // ocisync, as bsdtar, dropped global headers; GNU tar (and Python) apply them.
  await withTempDir("ocisync-tar-reader-", async (tmp) => {
    const renamed = archive(
      entry("PaxHeaders/g", "g", paxRecord("path", "../../global")),
      entry("innocent", "0"),
    );
    const { gnu, bsd } = await listings(tmp, renamed);
    assert.deepEqual(gnu, ["../../global"]);
    assert.deepEqual(bsd, ["innocent"]);
    const message = /tar global PAX header sets path for the entries after it/;
    await assertRefused(renamed, message);
    await assertPushAndPullRefuse(tmp, renamed, message);
    for (const key of ["linkpath", "size"]) {
      await assertRefused(
        archive(entry("PaxHeaders/g", "g", paxRecord(key, "0")), entry("a", "0")),
        new RegExp(`global PAX header sets ${key}`),
      );
    }
    // A global comment, as `git archive` writes, is harmless.
    const comment = archive(
      entry("PaxHeaders/g", "g", paxRecord("comment", "0123abc")),
      entry("a", "0"),
    );
    assert.deepEqual(await names(comment), ["a"]);
  });
});

Deno.test("readTar refuses content after a link or a folder, which bsdtar reads as the next header", async () => {
  await withTempDir("ocisync-tar-reader-", async (tmp) => {
    const hidden = (type: string, name: string, link = "") =>
      archive(
        [header(name, type, { size: 512, link })],
        entry(`../../after-${type}`, "0"),
      );
    const symlink = hidden("2", "l", "t");
    const { gnu, bsd } = await listings(tmp, symlink);
    assert.deepEqual(gnu, ["l"]);
    assert.deepEqual(bsd, ["l", "../../after-2"]);
    const message = /tar entry "l" \(type "2"\) has 512 bytes of content/;
    await assertRefused(symlink, message);
    await assertPushAndPullRefuse(tmp, symlink, message);

    const folder = hidden("5", "d/");
    assert.deepEqual((await listings(tmp, folder)).bsd, ["d/", "../../after-5"]);
    await assertRefused(folder, /tar entry "d\/" \(type "5"\) has 512 bytes/);
    await assertRefused(hidden("1", "h", "t"), /tar entry "h" \(type "1"\) has 512 bytes/);
    await assertRefused(hidden("3", "c"), /tar entry "c" \(type "3"\) has 512 bytes/);
    // A size from a PAX record counts too.
    await assertRefused(
      archive(
        entry("PaxHeaders/x", "x", paxRecord("size", "512")),
        [header("l", "2", { link: "t" })],
        entry("../../after", "0"),
      ),
      /tar entry "l" \(type "2"\) has 512 bytes/,
    );
  });
});
