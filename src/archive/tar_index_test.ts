import assert from "node:assert/strict";
import { IntegrityError, OcisyncError, UnsafeContentError } from "../errors/mod.ts";
import { unblockFifoAfter } from "../../tests/helpers/tree.ts";
import { BLOCK_SIZE, type TarEntry, tarStream } from "../tar/writer.ts";
import { followLinks, indexTar, openEntry } from "./tar_index.ts";

const enc = new TextEncoder();

async function tarBytes(entries: TarEntry[]): Promise<Uint8Array> {
  return await new Response(ReadableStream.from(tarStream(entries, { mtime: 0 }))).bytes();
}

function file(name: string, bytes: Uint8Array): TarEntry {
  return { name, type: "file", mode: 0o644, size: bytes.length, body: () => [bytes] };
}

/** Sets a header's type flag and fixes its checksum: for entries the writer does not make. */
function setTypeFlag(tar: Uint8Array, headerOffset: number, flag: string): void {
  const header = tar.subarray(headerOffset, headerOffset + BLOCK_SIZE);
  header[156] = flag.charCodeAt(0);
  fixChecksum(header);
}

function fixChecksum(header: Uint8Array): void {
  header.fill(0x20, 148, 156);
  const sum = header.reduce((total, byte) => total + byte, 0);
  header.set(enc.encode(sum.toString(8).padStart(6, "0") + "\x00 "), 148);
}

async function withTar(
  bytes: Uint8Array,
  body: (path: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ocisync-tar-index-" });
  try {
    await Deno.writeFile(`${dir}/a.tar`, bytes);
    await body(`${dir}/a.tar`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function assertUnsafe(bytes: Uint8Array, fragment: string): Promise<void> {
  await withTar(bytes, async (path) => {
    await assert.rejects(indexTar(path, { links: "refuse" }), (error: unknown) => {
      assert.ok(error instanceof UnsafeContentError, `not UnsafeContentError: ${error}`);
      assert.ok(error.message.includes(fragment), `"${fragment}" not in: ${error.message}`);
      return true;
    });
  });
}

Deno.test("indexTar finds each entry's byte range, reading only the headers", async () => {
  const big = crypto.getRandomValues(new Uint8Array(65536));
  const large = new Uint8Array(700_000).map((_, i) => i % 251);
  const longName = `blobs/${"d".repeat(120)}/${"f".repeat(90)}`; // needs a PAX header
  const bytes = await tarBytes([
    { name: "./", type: "directory", mode: 0o755 },
    file("./oci-layout", enc.encode('{"imageLayoutVersion":"1.0.0"}')),
    { name: "blobs/", type: "directory", mode: 0o755 },
    file("blobs/empty", new Uint8Array()),
    file("blobs/big", big),
    file(longName, enc.encode("long")),
    file("blobs/large", large),
  ]);
  await withTar(bytes, async (path) => {
    const index = await indexTar(path, { links: "refuse" });
    assert.deepEqual([...index.entries.keys()], [
      "oci-layout",
      "blobs",
      "blobs/empty",
      "blobs/big",
      longName,
      "blobs/large",
    ]);
    const read = async (name: string) =>
      await new Response(await openEntry(index, index.entries.get(name)!)).bytes();
    assert.equal(
      new TextDecoder().decode(await read("oci-layout")),
      '{"imageLayoutVersion":"1.0.0"}',
    );
    assert.deepEqual(await read("blobs/empty"), new Uint8Array());
    assert.deepEqual(await read("blobs/big"), big);
    assert.deepEqual(await read(longName), enc.encode("long"));
    assert.deepEqual(await read("blobs/large"), large);
    assert.equal(index.entries.get("blobs/big")!.offset % BLOCK_SIZE, 0);
  });
});

Deno.test("indexTar skips a 4 GiB entry without reading it", async () => {
  const size = 4 * 1024 ** 3;
  const header = await tarBytes([file("blobs/huge", new Uint8Array())]);
  header.set(enc.encode(size.toString(8).padStart(11, "0")), 124);
  fixChecksum(header.subarray(0, BLOCK_SIZE));
  const next = await tarBytes([file("index.json", enc.encode("{}"))]);
  await withTar(header.subarray(0, BLOCK_SIZE), async (path) => {
    // A sparse file: the content is a hole, which reading would take seconds to go through.
    const tar = await Deno.open(path, { write: true });
    await tar.seek(BLOCK_SIZE + size, Deno.SeekMode.Start);
    await tar.write(next);
    tar.close();
    const started = performance.now();
    const index = await indexTar(path, { links: "refuse" });
    assert.ok(performance.now() - started < 1000, `took ${performance.now() - started} ms`);
    assert.equal(index.entries.get("blobs/huge")?.size, size);
    const json = index.entries.get("index.json")!;
    assert.equal(json.offset, 2 * BLOCK_SIZE + size);
    assert.equal(await new Response(await openEntry(index, json)).text(), "{}");
  });
});

Deno.test("indexTar reads an archive whose last entry is not padded and has no end blocks", async () => {
  const full = await tarBytes([
    file("a", enc.encode("x".repeat(700))),
    file("b", enc.encode("yz")),
  ]);
  // Cut after b's two content bytes, as some writers (umoci) leave it.
  const cut = full.subarray(0, BLOCK_SIZE + 1024 + BLOCK_SIZE + 2);
  await withTar(cut, async (path) => {
    const index = await indexTar(path, { links: "refuse" });
    const b = index.entries.get("b")!;
    assert.equal(
      new TextDecoder().decode(await new Response(await openEntry(index, b)).bytes()),
      "yz",
    );
  });
  await assertUnsafe(full.subarray(0, BLOCK_SIZE + 600), "truncated");
});

Deno.test("openEntry reads an entry in 64 KiB pieces, and refuses an archive cut while it is read", async () => {
  const large = new Uint8Array(200_000).map((_, i) => i % 251);
  const bytes = await tarBytes([file("large", large), file("b", enc.encode("yz"))]);
  await withTar(bytes, async (path) => {
    const index = await indexTar(path, { links: "refuse" });
    const entry = index.entries.get("large")!;
    const pieces = await Array.fromAsync(await openEntry(index, entry));
    assert.deepEqual(pieces.map((piece) => piece.length), [65536, 65536, 65536, 3392]);
    assert.deepEqual(Buffer.concat(pieces), Buffer.from(large));
    // The file is cut short in place after the first piece: the entry's end is gone.
    const reader = (await openEntry(index, entry)).getReader();
    assert.equal((await reader.read()).value?.length, 65536);
    await Deno.truncate(path, BLOCK_SIZE + 100_000);
    await assert.rejects(
      (async () => {
        while (!(await reader.read()).done) { /* the rest, until it fails */ }
      })(),
      (error: unknown) => {
        assert.ok(error instanceof UnsafeContentError, `not UnsafeContentError: ${error}`);
        assert.equal(error.message, `${path} is truncated`);
        return true;
      },
    );
  });
});

Deno.test("indexTar refuses names that would escape, links, devices and duplicates", async () => {
  const x = enc.encode("x");
  await assertUnsafe(await tarBytes([file("../evil", x)]), "has a .. component");
  await assertUnsafe(await tarBytes([file("blobs/../../evil", x)]), "has a .. component");
  await assertUnsafe(await tarBytes([file("/etc/passwd", x)]), "is an absolute path");
  await assertUnsafe(
    await tarBytes([{
      name: "index.json",
      type: "symlink",
      mode: 0o777,
      linkTarget: "/etc/passwd",
    }]),
    "is a link",
  );
  const hardlink = await tarBytes([file("a", x), file("b", new Uint8Array())]);
  setTypeFlag(hardlink, 2 * BLOCK_SIZE, "1");
  await assertUnsafe(hardlink, "is a link");
  const fifo = await tarBytes([file("a", new Uint8Array())]);
  setTypeFlag(fifo, 0, "6");
  await assertUnsafe(fifo, "device or fifo");
  await assertUnsafe(await tarBytes([file("a", x), file("./a", x)]), "appears twice");
  // Names and link targets past PATH_MAX (the tar reader takes up to 1 MiB), in PAX records.
  await assertUnsafe(await tarBytes([file(`blobs/${"n".repeat(5000)}`, x)]), "over the 4096");
  await assertUnsafe(
    await tarBytes([{ name: "l", type: "symlink", mode: 0o777, linkTarget: "t".repeat(5000) }]),
    "link target is 5000 characters long",
  );
  // A long name that fits is kept.
  await withTar(await tarBytes([file(`blobs/${"n".repeat(4000)}`, x)]), async (path) => {
    assert.ok((await indexTar(path, { links: "refuse" })).entries.has(`blobs/${"n".repeat(4000)}`));
  });
  await assertUnsafe(enc.encode("{}".padEnd(600, " ")), "not a tar archive");
});

Deno.test("followLinks resolves links inside the archive and refuses the way out", async () => {
  const bytes = await tarBytes([
    file("abc.tar", enc.encode("layer")),
    { name: "id/layer.tar", type: "symlink", mode: 0o777, linkTarget: "../abc.tar" },
    { name: "id/again.tar", type: "symlink", mode: 0o777, linkTarget: "layer.tar" },
    { name: "id/out.tar", type: "symlink", mode: 0o777, linkTarget: "../../etc/passwd" },
    { name: "id/abs.tar", type: "symlink", mode: 0o777, linkTarget: "/etc/passwd" },
    { name: "loop/a", type: "symlink", mode: 0o777, linkTarget: "b" },
    { name: "loop/b", type: "symlink", mode: 0o777, linkTarget: "a" },
  ]);
  await withTar(bytes, async (path) => {
    await assert.rejects(indexTar(path, { links: "refuse" }), UnsafeContentError);
    const index = await indexTar(path, { links: "keep" });
    assert.equal(followLinks(index, "id/layer.tar")?.name, "abc.tar");
    assert.equal(followLinks(index, "./id/again.tar")?.name, "abc.tar");
    assert.equal(followLinks(index, "missing"), undefined);
    assert.throws(() => followLinks(index, "id/out.tar"), UnsafeContentError);
    assert.throws(() => followLinks(index, "id/abs.tar"), UnsafeContentError);
    assert.throws(() => followLinks(index, "../abc.tar"), UnsafeContentError);
    assert.throws(() => followLinks(index, "loop/a"), /loop/);
  });
});

Deno.test("openEntry refuses a file replaced after it was indexed", async () => {
  const bytes = await tarBytes([file("a", enc.encode("one"))]);
  await withTar(bytes, async (path) => {
    const index = await indexTar(path, { links: "refuse" });
    const other = await tarBytes([file("a", enc.encode("two")), file("b", enc.encode("more"))]);
    await Deno.writeFile(`${path}.new`, other);
    await Deno.rename(`${path}.new`, path);
    await assert.rejects(openEntry(index, index.entries.get("a")!), (error: unknown) => {
      assert.ok(error instanceof OcisyncError);
      assert.match(error.message, /changed after it was opened/);
      return true;
    });
  });
});

Deno.test("indexTar and openEntry refuse a fifo unopened, where an archive was", async () => {
  const bytes = await tarBytes([file("a", enc.encode("one"))]);
  await withTar(bytes, async (path) => {
    const index = await indexTar(path, { links: "refuse" });
    await Deno.remove(path);
    await new Deno.Command("mkfifo", { args: [path] }).output();
    // Should either open the fifo after all, it goes on after 10 s, and the test fails.
    using _ = unblockFifoAfter(path, 10_000);
    await assert.rejects(indexTar(path, { links: "refuse" }), (error: unknown) => {
      assert.ok(error instanceof IntegrityError, `not IntegrityError: ${error}`);
      assert.match(error.message, /a\.tar is a fifo, not a regular file/);
      return true;
    });
    await assert.rejects(openEntry(index, index.entries.get("a")!), (error: unknown) => {
      assert.ok(error instanceof OcisyncError);
      assert.match(error.message, /changed after it was opened/);
      return true;
    });
  });
});
