/**
 * Archive files through the commands: `push`, `copy`, `pull`, `inspect` and `tags` take
 * `oci-archive:FILE[:TAG]` and `docker-archive:FILE[:NAME:TAG]` as they take any reference, and
 * what they write is read by skopeo and `podman load`.
 */
import assert from "node:assert/strict";
import { ocisync, runOk, shown } from "./helpers/cli.ts";
import { sha256Hex } from "./helpers/hash.ts";
import { podmanArgs } from "./helpers/podman.ts";
import { requireTool } from "./helpers/tools.ts";
import { unblockFifoAfter, withTempDir, writeTree } from "./helpers/tree.ts";

requireTool("skopeo", "skopeo");
requireTool("podman", "podman");
requireTool("mkfifo", "coreutils");

Deno.test("push into an oci-archive, read it back, copy it to a docker-archive that podman loads", async () => {
  await withTempDir("ocisync-arc-", async (tmp) => {
    await writeTree(`${tmp}/flows`, { "etl.py": { type: "file", content: "print('etl')\n" } });
    const push = await ocisync([
      "push",
      `oci-archive:${tmp}/a.tar:v1`,
      `${tmp}/flows:/opt/flows`,
      "-q",
    ]);
    assert.equal(push.code, 0, shown(push));
    const digest = push.stdout.trim().split("@")[1];
    // skopeo reads the archive, and finds the digest ocisync reported.
    const raw = await runOk("skopeo", ["inspect", "--raw", `oci-archive:${tmp}/a.tar:v1`]);
    assert.equal(`sha256:${sha256Hex(raw)}`, digest);

    // The same push again gives the same archive, byte for byte.
    const again = await ocisync([
      "push",
      `oci-archive:${tmp}/b.tar:v1`,
      `${tmp}/flows:/opt/flows`,
      "-q",
    ]);
    assert.equal(again.code, 0, shown(again));
    assert.equal(
      sha256Hex(await Deno.readFile(`${tmp}/a.tar`)),
      sha256Hex(await Deno.readFile(`${tmp}/b.tar`)),
    );

    const inspect = await ocisync(["inspect", `oci-archive:${tmp}/a.tar:v1`, "-q"]);
    assert.equal(inspect.stdout.trim(), digest, shown(inspect));
    const tags = await ocisync(["tags", `oci-archive:${tmp}/a.tar`]);
    assert.equal(tags.stdout.trim(), "v1", shown(tags));
    const pull = await ocisync(["pull", `oci-archive:${tmp}/a.tar:v1`, "-o", `${tmp}/out`]);
    assert.equal(pull.code, 0, shown(pull));
    assert.equal(await Deno.readTextFile(`${tmp}/out/opt/flows/etl.py`), "print('etl')\n");

    const copy = await ocisync([
      "copy",
      `oci-archive:${tmp}/a.tar:v1`,
      `docker-archive:${tmp}/d.tar:acme/flows:v1`,
    ]);
    assert.equal(copy.code, 0, shown(copy));
    const podman = podmanArgs(`${tmp}/podman`);
    await runOk("podman", [...podman, "load", "-i", `${tmp}/d.tar`]);
    const images = await runOk("podman", [
      ...podman,
      "images",
      "--format",
      "{{.Repository}}:{{.Tag}}",
    ]);
    assert.match(images, /acme\/flows:v1/);
  });
});

Deno.test("copy of an index into a docker-archive takes the host's platform, and says so", async () => {
  await withTempDir("ocisync-arc-", async (tmp) => {
    await writeTree(`${tmp}/flows`, { "etl.py": { type: "file", content: "print('etl')\n" } });
    const index = await ocisync([
      ...["push", `oci:${tmp}/layout:v1`, `${tmp}/flows`],
      ...["--platform", "linux/amd64,linux/arm64", "-q"],
    ]);
    assert.equal(index.code, 0, shown(index));
    const copy = await ocisync([
      "copy",
      `oci:${tmp}/layout:v1`,
      `docker-archive:${tmp}/d.tar:acme/flows:v1`,
    ]);
    assert.equal(copy.code, 0, shown(copy));
    const arch = Deno.build.arch === "aarch64" ? "arm64" : "amd64";
    assert.match(copy.stderr, new RegExp(`one platform: linux/${arch} \\(the host's\\)`));
    const config = JSON.parse(
      await runOk("skopeo", ["inspect", "--config", `docker-archive:${tmp}/d.tar`]),
    );
    assert.equal(config.architecture, arch);
  });
});

Deno.test("one archive carries a release: every tag of a repository, then another image beside them", async () => {
  await withTempDir("ocisync-arc-", async (tmp) => {
    for (const tag of ["v1", "v2"]) {
      await writeTree(`${tmp}/src-${tag}`, { "version": { type: "file", content: `${tag}\n` } });
      const push = await ocisync(["push", `oci:${tmp}/app:${tag}`, `${tmp}/src-${tag}`, "-q"]);
      assert.equal(push.code, 0, shown(push));
    }
    await writeTree(`${tmp}/tools`, { "tool.sh": { type: "file", content: "echo\n" } });
    assert.equal((await ocisync(["push", `oci:${tmp}/tools:t1`, `${tmp}/tools`])).code, 0);
    const all = await ocisync([
      "copy",
      `oci:${tmp}/app`,
      `oci-archive:${tmp}/release.tar`,
      "--all-tags",
    ]);
    assert.equal(all.code, 0, shown(all));
    const more = await ocisync([
      "copy",
      `oci:${tmp}/tools:t1`,
      `oci-archive:${tmp}/release.tar:t1`,
    ]);
    assert.equal(more.code, 0, shown(more));
    const tags = await ocisync(["tags", `oci-archive:${tmp}/release.tar`]);
    assert.deepEqual(tags.stdout.trim().split("\n").sort(), ["t1", "v1", "v2"]);
    // skopeo reads each image of the one file.
    for (const tag of ["v1", "v2", "t1"]) {
      await runOk("skopeo", ["inspect", "--raw", `oci-archive:${tmp}/release.tar:${tag}`]);
    }
  });
});

Deno.test("an oci-archive that holds more than its layout (Docker 25's save) is read, but not added to", async () => {
  // Adding writes the archive anew from its layout: manifest.json and repositories were dropped.
  await withTempDir("ocisync-arc-", async (tmp) => {
    await writeTree(`${tmp}/flows`, { "etl.py": { type: "file", content: "print('etl')\n" } });
    const push = await ocisync(["push", `oci:${tmp}/layout:v1`, `${tmp}/flows`, "-q"]);
    assert.equal(push.code, 0, shown(push));
    await runOk("skopeo", ["copy", `oci:${tmp}/layout:v1`, `oci-archive:${tmp}/saved.tar:v1`]);
    await Deno.writeTextFile(`${tmp}/manifest.json`, '[{"Config":"x","RepoTags":["app:v1"]}]');
    await Deno.writeTextFile(`${tmp}/repositories`, '{"app":{"v1":"x"}}');
    await runOk("tar", ["-rf", `${tmp}/saved.tar`, "-C", tmp, "manifest.json", "repositories"]);
    const before = sha256Hex(await Deno.readFile(`${tmp}/saved.tar`));
    await runOk("sh", [
      "-c",
      'openssl ecparam -genkey -name prime256v1 | openssl pkcs8 -topk8 -nocrypt -out "$0"',
      `${tmp}/key.pem`,
    ]);

    const inspect = await ocisync(["inspect", "-q", `oci-archive:${tmp}/saved.tar:v1`]);
    assert.equal(inspect.code, 0, shown(inspect));
    for (
      const args of [
        ["push", `oci-archive:${tmp}/saved.tar:v2`, `${tmp}/flows`],
        ["copy", `oci:${tmp}/layout:v1`, `oci-archive:${tmp}/saved.tar:v3`],
        ["sign", "--key", `${tmp}/key.pem`, `oci-archive:${tmp}/saved.tar:v1`],
      ]
    ) {
      const refused = await ocisync(args);
      assert.equal(refused.code, 2, shown(refused));
      assert.match(refused.stderr, /not its OCI layout's \("manifest\.json", "repositories"\)/);
      assert.match(refused.stderr, /hint: write into a new archive/);
    }
    assert.equal(sha256Hex(await Deno.readFile(`${tmp}/saved.tar`)), before);
    const left = (await Array.fromAsync(Deno.readDir(tmp))).map((e) => e.name).sort();
    assert.deepEqual(left, [
      "flows",
      "key.pem",
      "layout",
      "manifest.json",
      "repositories",
      "saved.tar",
    ]);
  });
});

Deno.test("an archive that is a fifo or a folder is refused at once by its readers, never waited on", async () => {
  // Opening a fifo waits for a writer: inspect, pull and copy hung on one, with no end.
  await withTempDir("ocisync-arc-", async (tmp) => {
    const fifo = `${tmp}/pipe.tar`;
    await runOk("mkfifo", [fifo]);
    await Deno.mkdir(`${tmp}/folder.tar`);
    // Should a reader open the fifo after all, it goes on after 20 s, and the test fails.
    using _ = unblockFifoAfter(fifo, 20_000);
    for (
      const args of [
        ["inspect", `docker-archive:${fifo}`],
        ["inspect", `oci-archive:${fifo}`],
        ["pull", `docker-archive:${fifo}`, "-o", `${tmp}/out`],
        ["copy", `oci-archive:${fifo}`, `oci:${tmp}/layout:v1`],
      ]
    ) {
      const refused = await ocisync(args);
      assert.equal(refused.code, 5, shown(refused));
      assert.match(refused.stderr, /pipe\.tar is a fifo, not a regular file/);
      assert.match(refused.stderr, /hint: an archive is read from a file/);
    }
    const folder = await ocisync(["inspect", `oci-archive:${tmp}/folder.tar`]);
    assert.equal(folder.code, 5, shown(folder));
    assert.match(folder.stderr, /folder\.tar is a folder, not a regular file/);
    const left = (await Array.fromAsync(Deno.readDir(tmp))).map((e) => e.name).sort();
    assert.deepEqual(left, ["folder.tar", "pipe.tar"]);
  });
});

Deno.test("a docker-archive replaces only a docker archive of one image: a user's file, or a save of several, is left as it was", async () => {
  await withTempDir("ocisync-docker-archive-replace-", async (tmp) => {
    await writeTree(`${tmp}/app`, { "main.py": { type: "file", content: "print('app')\n" } });
    const pushed = await ocisync(["push", `oci:${tmp}/layout:v1`, `${tmp}/app`]);
    assert.equal(pushed.code, 0, shown(pushed));
    const copy = (file: string, tag: string) =>
      ocisync(["copy", `oci:${tmp}/layout:v1`, `docker-archive:${tmp}/${file}:app:${tag}`]);

    // A user's notes where the archive would go.
    await Deno.writeTextFile(`${tmp}/notes.tar`, "my notes\n");
    const notes = await copy("notes.tar", "v1");
    assert.equal(notes.code, 2, shown(notes));
    assert.match(notes.stderr, /refusing to replace .*notes\.tar: it is not a docker archive/);
    assert.equal(await Deno.readTextFile(`${tmp}/notes.tar`), "my notes\n");

    // A save of two images, made by hand from two of ours: GNU tar and Python join them.
    for (const tag of ["v1", "v2"]) assert.equal((await copy(`${tag}.tar`, tag)).code, 0);
    await Deno.mkdir(`${tmp}/both`);
    for (const tag of ["v1", "v2"]) {
      await runOk("tar", ["-xf", `${tmp}/${tag}.tar`, "-C", `${tmp}/both`]);
    }
    const manifests = [];
    for (const tag of ["v1", "v2"]) {
      manifests.push(
        ...JSON.parse(await runOk("tar", ["-xOf", `${tmp}/${tag}.tar`, "manifest.json"])),
      );
    }
    await Deno.writeTextFile(`${tmp}/both/manifest.json`, JSON.stringify(manifests));
    await runOk("tar", ["-cf", `${tmp}/two.tar`, "-C", `${tmp}/both`, "."]);
    const before = sha256Hex(await Deno.readFile(`${tmp}/two.tar`));
    const two = await copy("two.tar", "v3");
    assert.equal(two.code, 2, shown(two));
    assert.match(two.stderr, /it holds 2 images \(.*app:v1.*app:v2.*\)/);
    assert.equal(sha256Hex(await Deno.readFile(`${tmp}/two.tar`)), before);

    // An archive of one image is replaced, as a re-run of the same copy does.
    const again = await copy("v1.tar", "v9");
    assert.equal(again.code, 0, shown(again));
    assert.match(await runOk("tar", ["-xOf", `${tmp}/v1.tar`, "manifest.json"]), /app:v9/);
  });
});
