/**
 * An `oci:` layout is a folder that others may have prepared: root's `gc`, `copy` and `push`
 * must never reach outside it, and none of its files may hang or exhaust a reader. Before:
 * `blobs` linked to another store had `gc` delete that store's blobs, `blobs/sha256` linked
 * elsewhere had `copy` write root's files there, an `oci-layout` fifo hung every command and a
 * link to `/dev/zero` grew memory without bound, and a full disk left an empty lock file that
 * held every writer for five minutes. Every layout here is built by hand or by an ocisync push
 * into a folder of its own.
 *
 * @module
 */
import assert from "node:assert/strict";
import { expectExit, ocisync, ocisyncOk, run, runOk } from "./helpers/cli.ts";
import { ExitCode } from "../src/cli/exit.ts";
import { snapshot, writeTree } from "./helpers/tree.ts";

const EMPTY_INDEX = '{"schemaVersion":2,"manifests":[]}';
const LAYOUT_FILE = '{"imageLayoutVersion":"1.0.0"}';

/** A hand-made layout at `dir` with nothing in it, and `blobs` left to the caller. */
async function bareLayout(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/oci-layout`, LAYOUT_FILE);
  await Deno.writeTextFile(`${dir}/index.json`, EMPTY_INDEX);
}

async function withTemp(body: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-layout-hostile-" });
  try {
    await body(tmp);
  } finally {
    await run("umount", [`${tmp}/small`]);
    await Deno.remove(tmp, { recursive: true });
  }
}

Deno.test("a layout whose blobs folder is a link: gc removes, and copy writes, nothing through it", async () => {
  await withTemp(async (tmp) => {
    // Another store, with blobs named as a layout names them, old enough for gc to take.
    const store = `${tmp}/store/blobs/sha256`;
    await Deno.mkdir(store, { recursive: true });
    for (const content of ["one\n", "two\n"]) {
      const hex = (await runOk("sha256sum", [], { stdin: content })).split(" ")[0];
      await Deno.writeTextFile(`${store}/${hex}`, content);
      await Deno.utime(`${store}/${hex}`, new Date(0), new Date(0));
    }
    const stored = await snapshot(`${tmp}/store`);
    await bareLayout(`${tmp}/linked`);
    await Deno.symlink(`${tmp}/store/blobs`, `${tmp}/linked/blobs`);
    const gc = expectExit(await ocisync(["gc", `oci:${tmp}/linked`]), ExitCode.UnsafeContent);
    assert.match(gc.stderr, /linked\/blobs is a symlink: a layout keeps its blobs in folders/);
    assert.deepEqual(await snapshot(`${tmp}/store`), stored);

    // A source image, and a destination whose blobs/sha256 leads to a victim folder.
    await writeTree(`${tmp}/app`, { "main.py": { type: "file", content: "print('app')\n" } });
    await ocisyncOk(["push", `oci:${tmp}/source:v1`, `${tmp}/app`]);
    await bareLayout(`${tmp}/aimed`);
    await Deno.mkdir(`${tmp}/aimed/blobs`);
    await Deno.mkdir(`${tmp}/victim`);
    await Deno.symlink(`${tmp}/victim`, `${tmp}/aimed/blobs/sha256`);
    for (const args of [["copy", `oci:${tmp}/source:v1`], ["push"]]) {
      const destination = `oci:${tmp}/aimed:v1`;
      const write = args[0] === "copy"
        ? [...args, destination]
        : [...args, destination, `${tmp}/app`];
      const refused = expectExit(await ocisync(write), ExitCode.UnsafeContent);
      assert.match(refused.stderr, /aimed\/blobs\/sha256 is a symlink/);
    }
    assert.deepEqual(await Array.fromAsync(Deno.readDir(`${tmp}/victim`)), []);

    // A destination whose blobs is a link to an empty folder: nothing is made in it either.
    await bareLayout(`${tmp}/led`);
    await Deno.mkdir(`${tmp}/elsewhere`);
    await Deno.symlink(`${tmp}/elsewhere`, `${tmp}/led/blobs`);
    const led = await ocisync(["copy", `oci:${tmp}/source:v1`, `oci:${tmp}/led:v1`]);
    assert.match(expectExit(led, ExitCode.UnsafeContent).stderr, /led\/blobs is a symlink/);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(`${tmp}/elsewhere`)), []);
  });
});

Deno.test("an oci-layout that is a fifo, or a link to /dev/zero, is refused at once", async () => {
  await withTemp(async (tmp) => {
    for (
      const [name, make] of [
        ["fifo", (path: string) => runOk("mkfifo", [path])],
        ["zero", (path: string) => Deno.symlink("/dev/zero", path)],
      ] as const
    ) {
      const dir = `${tmp}/${name}`;
      await bareLayout(dir);
      await Deno.remove(`${dir}/oci-layout`);
      await make(`${dir}/oci-layout`);
      const result = expectExit(
        await ocisync(["inspect", `oci:${dir}:v1`]),
        ExitCode.Integrity,
      );
      assert.match(
        result.stderr,
        /oci-layout is (not a regular file|a symlink): a layout's files are regular files of its own/,
      );
    }
    // A real one of more than a short JSON object is refused unread.
    const large = `${tmp}/large`;
    await bareLayout(large);
    await Deno.writeTextFile(`${large}/oci-layout`, " ".repeat(1 << 20) + LAYOUT_FILE);
    const refused = expectExit(await ocisync(["inspect", `oci:${large}:v1`]), ExitCode.Integrity);
    assert.match(refused.stderr, /oci-layout has 1048606 bytes, over the limit of 65536/);
  });
});

Deno.test({
  name: "a full disk while a lock is taken leaves no lock file behind",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    await withTemp(async (tmp) => {
      await writeTree(`${tmp}/app`, { "main.py": { type: "file", content: "print('app')\n" } });
      await ocisyncOk(["push", `oci:${tmp}/source:v1`, `${tmp}/app`]);
      await Deno.mkdir(`${tmp}/small`);
      await runOk("mount", ["-t", "tmpfs", "-o", "size=1m", "none", `${tmp}/small`]);
      await ocisyncOk(["copy", `oci:${tmp}/source:v1`, `oci:${tmp}/small/layout:v1`]);
      // Full: a new file can be made (an inode), but not a byte written to it.
      await run("dd", ["if=/dev/zero", `of=${tmp}/small/fill`, "bs=4k", "count=1000"]);
      const full = await ocisync(["copy", `oci:${tmp}/source:v1`, `oci:${tmp}/small/layout:v2`]);
      assert.notEqual(full.code, 0);
      assert.equal(await Deno.lstat(`${tmp}/small/layout/index.json.lock`).catch(() => null), null);
      // Space back: the next writer does not wait for a dead lock.
      await Deno.remove(`${tmp}/small/fill`);
      const started = Date.now();
      await ocisyncOk(["copy", `oci:${tmp}/source:v1`, `oci:${tmp}/small/layout:v2`]);
      assert.ok(Date.now() - started < 20_000, `${Date.now() - started} ms`);
    });
  },
});

Deno.test("a layout's blob or index.json that links to another file is refused unread: nothing of it is sent", async () => {
  const { startRegistry } = await import("./helpers/registry.ts");
  const registry = await startRegistry();
  try {
    await withTemp(async (tmp) => {
      // A root-only secret, larger than one upload chunk: a copy streams such a blob out before
      // its digest can be checked at its end.
      const secret = `${tmp}/secret`;
      const secretBytes = new TextEncoder().encode("db_password=hunter2\n".repeat(600_000));
      await Deno.writeFile(secret, secretBytes, { mode: 0o600 });
      // The layout's owner names a layer of the secret's size, and links its blob to the secret.
      const layout = `${tmp}/bundle`;
      await bareLayout(layout);
      await Deno.mkdir(`${layout}/blobs/sha256`, { recursive: true });
      const put = async (bytes: Uint8Array) => {
        // The digest from coreutils, not from ocisync.
        const hex = (await runOk("sha256sum", [], { stdin: new TextDecoder().decode(bytes) }))
          .split(" ")[0];
        await Deno.writeFile(`${layout}/blobs/sha256/${hex}`, bytes);
        return { digest: `sha256:${hex}`, size: bytes.length };
      };
      const enc = new TextEncoder();
      const layerHex = "ab".repeat(32);
      const config = await put(enc.encode(JSON.stringify({
        architecture: "amd64",
        os: "linux",
        rootfs: { type: "layers", diff_ids: [`sha256:${layerHex}`] },
      })));
      const manifest = await put(enc.encode(JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
        layers: [{
          mediaType: "application/vnd.oci.image.layer.v1.tar",
          digest: `sha256:${layerHex}`,
          size: secretBytes.length,
        }],
      })));
      await Deno.symlink(secret, `${layout}/blobs/sha256/${layerHex}`);
      await Deno.writeTextFile(
        `${layout}/index.json`,
        JSON.stringify({
          schemaVersion: 2,
          manifests: [{
            mediaType: "application/vnd.oci.image.manifest.v1+json",
            ...manifest,
            annotations: { "org.opencontainers.image.ref.name": "v1" },
          }],
        }),
      );
      const copied = expectExit(
        await ocisync(["copy", `oci:${layout}:v1`, `${registry.host}/stolen:v1`]),
        ExitCode.Integrity,
      );
      const sent = (await registry.requests())
        .filter((r) => r.method === "PATCH" || (r.method === "PUT" && r.path.includes(layerHex)));
      assert.deepEqual(sent, [], "no byte of the secret went out");
      assert.match(copied.stderr, /is a symlink: a layout's files are regular files of its own/);

      // index.json linked to the secret: refused, its text never quoted.
      const other = `${tmp}/other`;
      await bareLayout(other);
      await Deno.remove(`${other}/index.json`);
      await Deno.symlink(secret, `${other}/index.json`);
      const inspected = expectExit(
        await ocisync(["inspect", `oci:${other}:v1`]),
        ExitCode.Integrity,
      );
      assert.match(inspected.stderr, /index\.json is a symlink/);
      assert.ok(!inspected.stderr.includes("db_pass"), inspected.stderr);
    });
  } finally {
    await registry.stop();
  }
});
