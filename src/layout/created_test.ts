import assert from "node:assert/strict";
import { createLayout, releaseCreatedLayout } from "./created.ts";
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
    assert.equal(await createLayout(`${tmp}/kept`), undefined, "a folder that was there");
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
