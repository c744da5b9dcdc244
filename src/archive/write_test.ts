import assert from "node:assert/strict";
import { IntegrityError } from "../errors/mod.ts";
import { readTar } from "../tar/reader.ts";
import { type ArchiveFile, writeArchive } from "./write.ts";

const enc = new TextEncoder();

function files(content: string): ArchiveFile[] {
  const bytes = enc.encode(content);
  return [
    { name: "oci-layout", size: bytes.length, open: () => Promise.resolve([bytes]) },
    { name: "blobs/" },
    { name: "blobs/sha256/" },
    {
      name: "blobs/sha256/abc",
      size: bytes.length,
      // Chunks of a stream, to show the bytes do not depend on how the content arrives.
      open: () => Promise.resolve(ReadableStream.from([bytes.subarray(0, 2), bytes.subarray(2)])),
    },
  ];
}

Deno.test("writeArchive writes the same bytes for the same entries, with fixed metadata", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocisync-archive-write-" });
  try {
    await writeArchive(`${dir}/a.tar`, files("content"));
    await new Promise((resolve) => setTimeout(resolve, 1100)); // a new second for any clock
    await writeArchive(`${dir}/b.tar`, files("content"));
    const a = await Deno.readFile(`${dir}/a.tar`);
    assert.deepEqual(a, await Deno.readFile(`${dir}/b.tar`));
    const entries = [];
    for await (const entry of readTar(ReadableStream.from([a]))) {
      entries.push([entry.name, entry.type, entry.mode.toString(8), entry.mtime]);
    }
    assert.deepEqual(entries, [
      ["oci-layout", "file", "644", 0],
      ["blobs/", "directory", "755", 0],
      ["blobs/sha256/", "directory", "755", 0],
      ["blobs/sha256/abc", "file", "644", 0],
    ]);
    // uid and gid 0 (octal fields at 108 and 116), no owner names (265, 297).
    const header = a.subarray(0, 512);
    const text = (from: number, length: number) =>
      new TextDecoder().decode(header.subarray(from, from + length));
    assert.equal(text(108, 8), "0000000\0");
    assert.equal(text(116, 8), "0000000\0");
    assert.equal(text(265, 32), "\0".repeat(32));
    assert.equal(text(297, 32), "\0".repeat(32));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeArchive leaves the old file and no temporary file when content fails", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocisync-archive-write-" });
  try {
    await Deno.writeTextFile(`${dir}/a.tar`, "old");
    const failing: ArchiveFile = {
      name: "blobs/sha256/bad",
      size: 3,
      open: () =>
        Promise.resolve(
          ReadableStream.from([enc.encode("ab")]).pipeThrough(
            new TransformStream({
              flush() {
                throw new IntegrityError("blob sha256:bad has digest sha256:other");
              },
            }),
          ),
        ),
    };
    await assert.rejects(writeArchive(`${dir}/a.tar`, [...files("x"), failing]), IntegrityError);
    assert.equal(await Deno.readTextFile(`${dir}/a.tar`), "old");
    assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), ["a.tar"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
