/**
 * A failed copy or push into an archive writes nothing: the file is not created, or is left
 * byte for byte as it was, and no staging folder stays beside it. And the bounds of archives:
 * a docker-archive's layers decompress to at most `--max-extract-size` (a gzip bomb stops
 * there, exit 7), and a hostile tar's headers are not held in memory without end. The failures
 * are built here: a corrupt blob in a source layout, a source that does not exist, a tag that
 * the archive refuses, a gzip of zeros.
 */
import assert from "node:assert/strict";
import { ocisync, runOk, shown } from "./helpers/cli.ts";
import { sha256Hex } from "./helpers/hash.ts";
import { chainedPaxTar, writeImage } from "./helpers/layers.ts";
import { requireTool } from "./helpers/tools.ts";
import { withTempDir, writeTree } from "./helpers/tree.ts";

requireTool("skopeo", "skopeo");
requireTool("python3", "python3");

const MiB = 1024 * 1024;

/** The names in `dir`, sorted; hidden staging folders included. */
async function names(dir: string): Promise<string[]> {
  const found = [];
  for await (const entry of Deno.readDir(dir)) found.push(entry.name);
  return found.sort();
}

/** The sha256 of a file, or undefined when there is none. */
async function fileHash(path: string): Promise<string | undefined> {
  const bytes = await Deno.readFile(path).catch(() => undefined);
  return bytes && sha256Hex(bytes);
}

/** Flips the last byte of the first layer of the image `v1` of the layout at `dir`. */
async function corruptLayer(dir: string): Promise<void> {
  const index = JSON.parse(await Deno.readTextFile(`${dir}/index.json`));
  const manifest = JSON.parse(
    await Deno.readTextFile(`${dir}/blobs/sha256/${index.manifests[0].digest.slice(7)}`),
  );
  const path = `${dir}/blobs/sha256/${manifest.layers[0].digest.slice(7)}`;
  const bytes = await Deno.readFile(path);
  bytes[bytes.length - 1] ^= 1;
  await Deno.writeFile(path, bytes);
}

/** The manifest digest of the layout at `dir`'s only image. */
async function onlyDigest(dir: string): Promise<string> {
  return JSON.parse(await Deno.readTextFile(`${dir}/index.json`)).manifests[0].digest;
}

Deno.test("copy of several sources that fails on the second writes no archive, and keeps an old one as it was", async () => {
  await withTempDir("ocisync-fail-", async (tmp) => {
    await writeImage(`${tmp}/good`, [new Uint8Array(10_240)], true);
    await writeImage(`${tmp}/bad`, [new Uint8Array(20_480)], true);
    await corruptLayer(`${tmp}/bad`);
    const bad = `oci:${tmp}/bad@${await onlyDigest(`${tmp}/bad`)}`;
    await Deno.mkdir(`${tmp}/out`);

    for (const format of ["oci-archive", "docker-archive"]) {
      // A new file: not created. The good image is copied first, then the bad blob is read.
      const file = `${tmp}/out/${format}.tar`;
      const args = format === "oci-archive"
        ? [`oci:${tmp}/good:v1`, bad, `${format}:${file}`]
        : [bad, `${format}:${file}:app:v1`];
      const failed = await ocisync(["copy", ...args]);
      assert.equal(failed.code, 5, shown(failed));
      assert.deepEqual(await names(`${tmp}/out`), [], format);

      // An existing file: left byte for byte.
      const made = await ocisync(["copy", `oci:${tmp}/good:v1`, `${format}:${file}`]);
      assert.equal(made.code, 0, shown(made));
      const before = await fileHash(file);
      const again = await ocisync(["copy", ...args]);
      assert.equal(again.code, 5, shown(again));
      assert.equal(await fileHash(file), before, format);
      await Deno.remove(file);
    }

    // The second source does not exist: refused before anything is written.
    const archive = `${tmp}/out/release.tar`;
    const missing = await ocisync([
      ...["copy", `oci:${tmp}/good:v1`, `oci:${tmp}/nowhere:v2`, `oci-archive:${archive}`],
    ]);
    assert.equal(missing.code, 4, shown(missing));
    assert.deepEqual(await names(`${tmp}/out`), []);
  });
});

Deno.test("a failed copy into an archive in new folders takes back the folders it made, and no others", async () => {
  await withTempDir("ocisync-fail-", async (tmp) => {
    await writeImage(`${tmp}/bad`, [new Uint8Array(20_480)], true);
    await corruptLayer(`${tmp}/bad`);
    const bad = `oci:${tmp}/bad@${await onlyDigest(`${tmp}/bad`)}`;
    await Deno.mkdir(`${tmp}/kept`);
    for (const format of ["oci-archive", "docker-archive"]) {
      const name = format === "oci-archive" ? "" : ":app:v1";
      // Before, `mkdir -p` left new/ and new/deeper/ behind, empty.
      const failed = await ocisync(["copy", bad, `${format}:${tmp}/new/deeper/out.tar${name}`]);
      assert.equal(failed.code, 5, shown(failed));
      // A folder that was there stays; the one made in it goes.
      const inKept = await ocisync(["copy", bad, `${format}:${tmp}/kept/made/out.tar${name}`]);
      assert.equal(inKept.code, 5, shown(inKept));
      assert.deepEqual(await names(tmp), ["bad", "kept"], format);
      assert.deepEqual(await names(`${tmp}/kept`), [], format);
    }
  });
});

Deno.test("push into an archive that fails after its platforms' manifests writes nothing", async () => {
  await withTempDir("ocisync-fail-", async (tmp) => {
    await writeTree(`${tmp}/flows`, { "a.py": { type: "file", content: "a\n" } });
    await Deno.mkdir(`${tmp}/out`);
    const file = `${tmp}/out/app.tar`;
    // Each platform's manifest is written, then the index's tag is refused.
    const push = (target: string) =>
      ocisync([
        ...["push", target, `${tmp}/flows`, "--platform", "linux/amd64,linux/arm64"],
        ...["--tag", "Bad..tag"],
      ]);
    const failed = await push(`oci-archive:${file}:v1`);
    assert.equal(failed.code, 2, shown(failed));
    assert.match(failed.stderr, /invalid tag "Bad\.\.tag"/);
    assert.deepEqual(await names(`${tmp}/out`), []);

    const made = await ocisync(["push", `oci-archive:${file}:v0`, `${tmp}/flows`]);
    assert.equal(made.code, 0, shown(made));
    const before = await fileHash(file);
    assert.equal((await push(`oci-archive:${file}:v1`)).code, 2);
    assert.equal(await fileHash(file), before);
    assert.deepEqual(await names(`${tmp}/out`), ["app.tar"]);
  });
});

Deno.test("a gzip bomb copied into a docker-archive stops at --max-extract-size: exit 7, nothing written", async () => {
  await withTempDir("ocisync-fail-", async (tmp) => {
    // 64 MiB of zeros (an empty tar, as far as tar goes) gzips to some 64 KiB.
    await writeImage(`${tmp}/bomb`, [new Uint8Array(64 * MiB)], true);
    await writeImage(`${tmp}/small`, [new Uint8Array(10_240)], true);
    await Deno.mkdir(`${tmp}/out`);
    const file = `${tmp}/out/app.tar`;
    const copy = (...extra: string[]) =>
      ocisync(["copy", `oci:${tmp}/bomb:v1`, `docker-archive:${file}:app:v1`, ...extra]);

    const refused = await copy("--max-extract-size", "1MiB");
    assert.equal(refused.code, 7, shown(refused));
    assert.match(refused.stderr, /decompress to more than the limit of 1048576 bytes/);
    assert.match(refused.stderr, /\(--max-extract-size\)/);
    assert.deepEqual(await names(`${tmp}/out`), []);

    // Over an existing archive: left as it was.
    const made = await ocisync(["copy", `oci:${tmp}/small:v1`, `docker-archive:${file}:app:v0`]);
    assert.equal(made.code, 0, shown(made));
    const before = await fileHash(file);
    assert.equal((await copy("--max-extract-size", "1MiB")).code, 7);
    assert.equal(await fileHash(file), before);
    assert.deepEqual(await names(`${tmp}/out`), ["app.tar"]);

    // Under a limit it fits, the same image is written, and skopeo reads the layer's diff_id.
    const fits = await copy("--max-extract-size", "65MiB");
    assert.equal(fits.code, 0, shown(fits));
    const config = JSON.parse(
      await runOk("skopeo", ["inspect", "--config", `docker-archive:${file}`]),
    );
    assert.deepEqual(config.rootfs.diff_ids, [`sha256:${sha256Hex(new Uint8Array(64 * MiB))}`]);
  });
});

Deno.test("an archive whose entry has 5 MiB of chained extended headers is refused: exit 7", async () => {
  await withTempDir("ocisync-fail-", async (tmp) => {
    await chainedPaxTar(`${tmp}/chain.tar`, 5, "oci-layout");
    for (const reference of [`oci-archive:${tmp}/chain.tar`, `docker-archive:${tmp}/chain.tar`]) {
      const inspect = await ocisync(["inspect", reference]);
      assert.equal(inspect.code, 7, shown(inspect));
      assert.match(
        inspect.stderr,
        /tar extended headers of more than 4194304 bytes before one entry are over the limit/,
      );
    }
  });
});
