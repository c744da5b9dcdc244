import assert from "node:assert/strict";
import { createLayout, releaseCreatedLayout } from "./created.ts";
import { markTemporary, unmarkTemporary } from "../fs/interrupted.ts";
import { lockPath } from "./format.ts";
import { withTempDir } from "../../tests/helpers/tree.ts";

const BLOB = "a".repeat(64);

Deno.test("a new layout that holds only blobs goes, with the parents made for it", () =>
  withTempDir("ocisync-created-", async (tmp) => {
    await Deno.mkdir(`${tmp}/kept`);
    const created = await createLayout(`${tmp}/kept/a/b/new/`);
    assert.deepEqual(created!.folders.map((f) => f.path.slice(tmp.length)), [
      "/kept/a",
      "/kept/a/b",
      "/kept/a/b/new",
    ]);
    await Deno.writeTextFile(`${tmp}/kept/a/b/new/blobs/sha256/${BLOB}`, "blob");
    assert.equal(releaseCreatedLayout(created!), true);
    assert.deepEqual([...Deno.readDirSync(`${tmp}/kept`)], []);
  }));

Deno.test("a layout made in an empty folder goes, and the folder stays; one that held anything stays", () =>
  withTempDir("ocisync-created-", async (tmp) => {
    await Deno.mkdir(`${tmp}/empty`);
    const created = await createLayout(`${tmp}/empty`);
    assert.deepEqual(created!.folders, [], "no folder was made");
    await Deno.writeTextFile(`${tmp}/empty/blobs/sha256/${BLOB}`, "blob");
    assert.equal(releaseCreatedLayout(created!), true);
    assert.deepEqual([...Deno.readDirSync(`${tmp}/empty`)], [], "the folder is as it was");
    // A user's file in it, or a link to an empty folder in its place: never taken back.
    await Deno.mkdir(`${tmp}/mine`);
    await Deno.writeTextFile(`${tmp}/mine/notes.txt`, "mine");
    assert.equal(await createLayout(`${tmp}/mine`), undefined, "a folder that held a file");
    assert.deepEqual([...Deno.readDirSync(`${tmp}/mine`)].map((e) => e.name).sort(), [
      "blobs",
      "index.json",
      "notes.txt",
      "oci-layout",
    ]);
    await Deno.mkdir(`${tmp}/target`);
    await Deno.symlink(`${tmp}/target`, `${tmp}/link`);
    assert.equal(await createLayout(`${tmp}/link`), undefined, "a link to an empty folder");
    // Made and marked by another part of this process (an archive's staging folder): its own.
    await Deno.mkdir(`${tmp}/staging`);
    markTemporary(`${tmp}/staging`);
    assert.equal(await createLayout(`${tmp}/staging`), undefined, "a folder marked by another");
    unmarkTemporary(`${tmp}/staging`);
    // Found empty, then given a user's file while the run went on: it stays, with the file.
    await Deno.mkdir(`${tmp}/later`);
    const later = await createLayout(`${tmp}/later`);
    await Deno.writeTextFile(`${tmp}/later/notes.txt`, "mine");
    assert.equal(releaseCreatedLayout(later!), false);
    assert.equal(await Deno.readTextFile(`${tmp}/later/notes.txt`), "mine");
  }));

Deno.test("a new layout stays when anything but an untagged layout's files is in it", () =>
  withTempDir("ocisync-created-", async (tmp) => {
    const changes: Record<string, (root: string) => Promise<unknown>> = {
      "a listed manifest": (root) =>
        Deno.writeTextFile(
          `${root}/index.json`,
          JSON.stringify({
            schemaVersion: 2,
            manifests: [{ mediaType: "x", digest: `sha256:${BLOB}`, size: 4 }],
          }),
        ),
      "another file": (root) => Deno.writeTextFile(`${root}/README`, "mine"),
      "a blob being written": (root) =>
        Deno.writeTextFile(`${root}/blobs/sha256/.${BLOB}.1234abcd.tmp`, "part"),
      "a folder in blobs/sha256": (root) => Deno.mkdir(`${root}/blobs/sha256/x`),
      "a link for index.json": async (root) => {
        await Deno.remove(`${root}/index.json`);
        await Deno.symlink("/etc/hostname", `${root}/index.json`);
      },
      "the lock held by a writer": (root) => Deno.writeTextFile(lockPath(root), "{}"),
      "another folder at its path": async (root) => {
        await Deno.rename(root, `${root}.moved`);
        await Deno.mkdir(root);
      },
    };
    for (const [what, change] of Object.entries(changes)) {
      const root = `${tmp}/${what.replaceAll(" ", "-")}/new`;
      const created = await createLayout(root);
      await change(root);
      const before = [...Deno.readDirSync(root)].map((e) => e.name).sort();
      assert.equal(releaseCreatedLayout(created!), false, what);
      assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name).sort(), before, what);
    }
  }));
