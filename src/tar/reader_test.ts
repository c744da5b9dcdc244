import assert from "node:assert/strict";
import { UnsafeContentError } from "../errors/mod.ts";
import { requireTool } from "../../tests/helpers/tools.ts";
import { readTar, type TarReadEntry } from "./reader.ts";

requireTool("python3", "python3");

const encoder = new TextEncoder();

/**
 * A file entry built byte by byte, its numeric fields written as given (`mode`, `size` and
 * `mtime` as raw field bytes), its checksum by the ustar rules.
 */
function fileEntry(name: string, fields: { mode: string; size: string; mtime: string }) {
  const block = new Uint8Array(512);
  const put = (offset: number, text: string) => block.set(encoder.encode(text), offset);
  put(0, name);
  put(100, fields.mode);
  put(108, "0000000\0");
  put(116, "0000000\0");
  put(124, fields.size);
  put(136, fields.mtime);
  put(148, " ".repeat(8));
  put(156, "0");
  put(257, "ustar\x0000");
  const sum = block.reduce((total, byte) => total + byte, 0);
  put(148, `${sum.toString(8).padStart(6, "0")}\0 `);
  return block;
}

/** `size` bytes of content, padded to whole blocks. */
function content(size: number): Uint8Array {
  return new Uint8Array(Math.ceil(size / 512) * 512).fill(0x61, 0, size);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  parts.reduce((offset, part) => (out.set(part, offset), offset + part.length), 0);
  return out;
}

/** The entries `readTar` reads from `tar`, given in chunks of `chunk` bytes. */
async function read(tar: Uint8Array, chunk = tar.length): Promise<TarReadEntry[]> {
  const chunks = [];
  for (let offset = 0; offset < tar.length; offset += chunk) {
    chunks.push(tar.slice(offset, offset + chunk));
  }
  const entries = [];
  for await (const entry of readTar(ReadableStream.from(chunks))) entries.push(entry);
  return entries;
}

/** What Python's tarfile reads: name, mode, size and mtime of each member. */
async function pythonReads(tar: Uint8Array): Promise<[string, number, number, number][]> {
  const path = await Deno.makeTempFile({ suffix: ".tar" });
  try {
    await Deno.writeFile(path, tar);
    const { code, stdout, stderr } = await new Deno.Command("python3", {
      args: [
        "-c",
        "import json, sys, tarfile\n" +
        "with tarfile.open(sys.argv[1], format=tarfile.USTAR_FORMAT) as t:\n" +
        "    print(json.dumps([[m.name, m.mode, m.size, m.mtime] for m in t]))",
        path,
      ],
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    return JSON.parse(new TextDecoder().decode(stdout));
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("readTar reads the numbers of a header in every form writers use, as Python's tarfile does", async () => {
  // GNU tar ends a field with NUL, old tars with a space and NUL or with spaces, some pad with
  // leading spaces or fill the field with digits; GNU tar writes base-256 (high bit set) for a
  // value too large for octal; an empty or blank field is zero.
  const forms = [
    { name: "nul", mode: "0000644\0", size: "00000000012\0", mtime: "14467272363\0" },
    { name: "space-nul", mode: "000644 \0", size: "0000000012 \0", mtime: "1446727236 \0" },
    { name: "spaces", mode: "   644  ", size: "         12 ", mtime: "  1446727236" },
    { name: "full", mode: "00000644", size: "000000000012", mtime: "014467272363" },
    { name: "tab-newline", mode: "\t644\n\0\0\0", size: "12\t\0", mtime: "0\n" },
    { name: "blank", mode: "0000644\0", size: "\0".repeat(12), mtime: " ".repeat(12) },
  ];
  const base256Size = new Uint8Array(12);
  base256Size[0] = 0x80;
  base256Size[11] = 12;
  const base256 = fileEntry("base256", { mode: "0000644\0", size: "", mtime: "00000000001\0" });
  base256.set(base256Size, 124);
  // Its checksum again, the size field now holding the base-256 bytes.
  base256.set(encoder.encode(" ".repeat(8)), 148);
  const sum = base256.reduce((total, byte) => total + byte, 0);
  base256.set(encoder.encode(`${sum.toString(8).padStart(6, "0")}\0 `), 148);

  const sizeOf = (size: string) => size.trim().replace(/\0.*$/, "") === "" ? 0 : 10;
  const tar = concat([
    ...forms.flatMap((form) => [fileEntry(form.name, form), content(sizeOf(form.size))]),
    base256,
    content(12),
    new Uint8Array(1024),
  ]);
  const expected = await pythonReads(tar);
  assert.equal(expected.length, forms.length + 1);
  // Whole, and in chunks that split headers, numbers and contents anywhere.
  for (const chunk of [tar.length, 512, 513, 100, 7, 1]) {
    const entries = await read(tar, chunk);
    assert.deepEqual(
      entries.map((entry) => [entry.name, entry.mode, entry.size, entry.mtime]),
      expected,
      `in chunks of ${chunk} bytes`,
    );
  }
});

Deno.test("readTar refuses a number with anything but octal digits and blanks", async () => {
  for (const size of ["0o12\0", "12 3\0", "9\0", "-12\0", "1e1\0", "\u00e912\0"]) {
    const tar = concat([
      fileEntry("bad", { mode: "0000644\0", size, mtime: "0\0" }),
      new Uint8Array(1024),
    ]);
    await assert.rejects(read(tar), UnsafeContentError, `size ${JSON.stringify(size)}`);
  }
});

Deno.test("readTar gives a body's bytes in order, however the stream is cut", async () => {
  const data = Uint8Array.from({ length: 1500 }, (_, i) => i % 251);
  const padding = new Uint8Array(Math.ceil(data.length / 512) * 512 - data.length);
  const tar = concat([
    fileEntry("data", { mode: "0000644\0", size: "00000002734\0", mtime: "0\0" }),
    data,
    padding,
    fileEntry("after", { mode: "0000644\0", size: "0\0", mtime: "0\0" }),
    new Uint8Array(1024),
  ]);
  for (const chunk of [tar.length, 512, 700, 3]) {
    const chunks = [];
    for (let offset = 0; offset < tar.length; offset += chunk) {
      chunks.push(tar.slice(offset, offset + chunk));
    }
    const names = [];
    for await (const entry of readTar(ReadableStream.from(chunks))) {
      names.push(entry.name);
      if (entry.name !== "data") continue;
      const parts = await Array.fromAsync(entry.body);
      assert.deepEqual(concat(parts), data, `in chunks of ${chunk} bytes`);
    }
    assert.deepEqual(names, ["data", "after"]);
  }
});

Deno.test("readTar reads a GNU long name of hundreds of kilobytes, as the decoder would", async () => {
  // Within the 1 MiB limit on extended headers: a name this long is for a check to refuse, not
  // for the reader to fail on with an untyped error.
  const long = `${"a/".repeat(150_000)}end`;
  const data = encoder.encode(long);
  const size = data.length.toString(8).padStart(11, "0");
  const longHeader = fileEntry("././@LongLink", {
    mode: "0000644\0",
    size: `${size}\0`,
    mtime: "0\0",
  });
  longHeader[156] = "L".charCodeAt(0);
  // The checksum again, with the type flag changed.
  longHeader.set(encoder.encode(" ".repeat(8)), 148);
  const sum = longHeader.reduce((total, byte) => total + byte, 0);
  longHeader.set(encoder.encode(`${sum.toString(8).padStart(6, "0")}\0 `), 148);
  const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
  padded.set(data);
  const tar = concat([
    longHeader,
    padded,
    fileEntry("short", { mode: "0000644\0", size: "0\0", mtime: "0\0" }),
    new Uint8Array(1024),
  ]);
  const entries = await read(tar);
  assert.deepEqual(entries.map((entry) => entry.name), [long]);
});
