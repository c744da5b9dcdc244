/**
 * The walk of a folder being packed, raced by another user who can write the folder: an entry or
 * a folder swapped for a link between the walk's look at it and its read must not put what lies
 * outside the folder into the layer. The swap is made at a fixed moment, not by a racing
 * process: {@linkcode walkFolder} yields each entry once it has looked at it, and opens a file
 * only when its body is read, so a test can act in between, where an attacker would.
 */
import assert from "node:assert/strict";
import { walkFolder } from "../src/layer/walk.ts";
import { tarStream } from "../src/tar/writer.ts";
import { concatBytes } from "./helpers/bytes.ts";
import { UnsafeContentError } from "../src/errors/mod.ts";
import { ExitCode, exitCodeOf } from "../src/cli/exit.ts";
import { type TreeNode, withTempDir, writeTree } from "./helpers/tree.ts";

const SECRET = "the content outside\n";

/**
 * When to meddle with an entry: once the walk has yielded it, which it does after looking at it
 * (`seen`), or once its body is read too, before the walk looks at the next entry (`read`).
 */
type Moment = "seen" | "read";

/**
 * Walks `src` as pack does, reading every file's body, and calls `meddle` with each entry's name
 * at each {@linkcode Moment}. Returns each file's content.
 */
async function walkMeddled(
  src: string,
  meddle: (name: string, moment: Moment) => Promise<void>,
): Promise<Map<string, string>> {
  const contents = new Map<string, string>();
  for await (const entry of walkFolder(src)) {
    await meddle(entry.name, "seen");
    if (entry.type === "file") {
      let text = "";
      const decoder = new TextDecoder();
      for await (const chunk of entry.body?.() ?? []) {
        text += decoder.decode(chunk, { stream: true });
      }
      contents.set(entry.name, text + decoder.decode());
    }
    await meddle(entry.name, "read");
  }
  return contents;
}

/**
 * Lays out `tmp/src` and `tmp/outside` (trees of {@linkcode writeTree}); runs the walk of `src`
 * with `swap` done at `when`, an entry's name and a moment, and asserts that it is refused, with
 * the exit code of unsafe content and a message that matches `message`.
 */
async function assertRefused(
  tmp: string,
  trees: { src: Record<string, TreeNode>; outside: Record<string, TreeNode> },
  when: [string, Moment],
  swap: () => Promise<void>,
  message: RegExp,
): Promise<void> {
  await writeTree(`${tmp}/src`, trees.src);
  await writeTree(`${tmp}/outside`, trees.outside);
  // Unmeddled, the walk reads the folder's own content.
  const plain = await walkMeddled(`${tmp}/src`, async () => {});
  assert.ok(![...plain.values()].includes(SECRET));
  let swapped = false;
  const walk = walkMeddled(`${tmp}/src`, async (name, moment) => {
    if (name !== when[0] || moment !== when[1]) return;
    await swap();
    swapped = true;
  });
  await assert.rejects(walk, (error) => {
    assert.ok(error instanceof UnsafeContentError, String(error));
    assert.equal(exitCodeOf(error), ExitCode.UnsafeContent);
    assert.match(error.message, message);
    return true;
  });
  assert.ok(swapped, `the walk never got to ${when.join(", ")}`);
}

/** Replaces the folder `dir` with a link to `target`, as `mv dir dir.orig && ln -s target dir`. */
async function swapForLink(dir: string, target: string): Promise<void> {
  await Deno.rename(dir, `${dir}.orig`);
  await Deno.symlink(target, dir);
}

Deno.test("walk: a file swapped for a link, or for another file, after the walk saw it is refused", async () => {
  const swaps: [string, (tmp: string) => Promise<void>][] = [
    ["a link to a file outside", async (tmp) => {
      await Deno.remove(`${tmp}/src/a.txt`);
      await Deno.symlink(`${tmp}/outside/secret`, `${tmp}/src/a.txt`);
    }],
    // What a hard link to a file outside, renamed into place, would be.
    ["another file", (tmp) => Deno.rename(`${tmp}/outside/secret`, `${tmp}/src/a.txt`)],
  ];
  for (const [what, swap] of swaps) {
    await withTempDir("ocisync-walk-race-", async (tmp) => {
      await assertRefused(
        tmp,
        {
          src: { "a.txt": { type: "file", content: "decoy\n" } },
          outside: { "secret": { type: "file", content: SECRET } },
        },
        ["a.txt", "seen"],
        () => swap(tmp),
        /src\/a\.txt changed while it was read: another file or a link was put in its place/,
      );
    }).catch((error) => {
      throw new Error(`swapped for ${what}: ${error.message}`, { cause: error });
    });
  }
});

Deno.test("walk: a folder swapped for a link to a folder outside, after it was listed, is refused", async () => {
  // The audit's race: while the walk reads d/aaa, d becomes a link; the next entry of d, looked
  // at through the link, is a file, a link or a folder outside.
  const outside: [string, Record<string, TreeNode>][] = [
    ["a file", { "shadow": { type: "file", content: SECRET } }],
    ["a link", { "shadow": { type: "symlink", target: "/the/link/outside" } }],
    ["a folder", {
      "shadow": { type: "dir" },
      "shadow/key": { type: "file", content: SECRET },
    }],
  ];
  for (const [what, tree] of outside) {
    await withTempDir("ocisync-walk-race-", async (tmp) => {
      await assertRefused(
        tmp,
        {
          src: {
            "d": { type: "dir" },
            "d/aaa": { type: "file", content: "read while d is swapped\n" },
            "d/shadow": { type: "file", content: "decoy\n" },
          },
          outside: tree,
        },
        ["d/aaa", "read"],
        () => swapForLink(`${tmp}/src/d`, `${tmp}/outside`),
        /src\/d(\/shadow)? changed while it was read: the folder .*src\/d was replaced/,
      );
    }).catch((error) => {
      throw new Error(`outside, ${what}: ${error.message}`, { cause: error });
    });
  }
});

Deno.test("walk: a folder swapped for a link between the walk's look at it and its listing is refused", async () => {
  await withTempDir("ocisync-walk-race-", async (tmp) => {
    await assertRefused(
      tmp,
      {
        src: { "d": { type: "dir" }, "d/shadow": { type: "file", content: "decoy\n" } },
        outside: { "shadow": { type: "file", content: SECRET } },
      },
      ["d/", "seen"],
      () => swapForLink(`${tmp}/src/d`, `${tmp}/outside`),
      /src\/d changed while it was read: the folder .*src\/d was replaced/,
    );
  });
});

Deno.test("walk: a folder swapped for a link and back before the walk reads on is packed", async () => {
  // The swap undone before the walk's next look harms nothing: the walk goes on, with the
  // folder's own content. (Undone between a file's open and the check that follows, it would go
  // unnoticed: docs/reliability.md says so.)
  await withTempDir("ocisync-walk-race-", async (tmp) => {
    await writeTree(`${tmp}/src`, {
      "d": { type: "dir" },
      "d/aaa": { type: "file", content: "a\n" },
      "d/shadow": { type: "file", content: "decoy\n" },
    });
    await writeTree(`${tmp}/outside`, { "shadow": { type: "file", content: SECRET } });
    const contents = await walkMeddled(`${tmp}/src`, async (name, moment) => {
      if (name !== "d/aaa" || moment !== "read") return;
      await swapForLink(`${tmp}/src/d`, `${tmp}/outside`);
      await Deno.remove(`${tmp}/src/d`);
      await Deno.rename(`${tmp}/src/d.orig`, `${tmp}/src/d`);
    });
    assert.deepEqual(Object.fromEntries(contents), { "d/aaa": "a\n", "d/shadow": "decoy\n" });
  });
});

Deno.test("walk: a file that grows or shrinks in place after the walk saw it is refused", async () => {
  // The walk reads one byte more than the size it saw, and reads no further once a read stops
  // short at that size: either way a file changed in place after the look must not be packed
  // as the size the header gives. Sizes around the walk's 256 KiB reads. (An empty file's
  // content is not read: it is packed empty, as it was when the walk looked.)
  const sizes = [10, 256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1, 512 * 1024];
  const changes: [string, (path: string, size: number) => Promise<void>][] = [
    ["grows", (path) => Deno.writeFile(path, new Uint8Array([1]), { append: true })],
    ["shrinks", (path, size) => Deno.truncate(path, size - 1)],
  ];
  for (const size of sizes) {
    for (const [how, change] of changes) {
      await withTempDir("ocisync-walk-race-", async (tmp) => {
        await writeTree(`${tmp}/src`, {
          "a.bin": { type: "file", content: new Uint8Array(size).fill(7) },
          "b.txt": { type: "file", content: "after\n" },
        });
        let changed = false;
        const entries = (async function* () {
          for await (const entry of walkFolder(`${tmp}/src`)) {
            if (entry.name === "a.bin") {
              await change(`${tmp}/src/a.bin`, size);
              changed = true;
            }
            yield entry;
          }
        })();
        await assert.rejects(
          Array.fromAsync(tarStream(entries, { mtime: 0 })),
          (error) => {
            assert.ok(error instanceof UnsafeContentError, String(error));
            assert.match(error.message, /a\.bin changed while it was read: expected \d+ bytes/);
            return true;
          },
          `a file of ${size} bytes that ${how}`,
        );
        assert.ok(changed);
      });
    }
  }
});

Deno.test("walk: files around the size of its reads are read whole", async () => {
  const sizes = [0, 1, 256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1, 3 * 256 * 1024 + 5];
  await withTempDir("ocisync-walk-", async (tmp) => {
    const tree: Record<string, TreeNode> = {};
    for (const size of sizes) {
      const content = new Uint8Array(size);
      for (let i = 0; i < size; i++) content[i] = (i * 31 + size) & 0xff;
      tree[`f${size}`] = { type: "file", content };
    }
    await writeTree(`${tmp}/src`, tree);
    for await (const entry of walkFolder(`${tmp}/src`)) {
      const read = concatBytes(await Array.fromAsync(entry.body?.() ?? []));
      assert.deepEqual(read, await Deno.readFile(`${tmp}/src/${entry.name}`), entry.name);
      assert.equal(entry.size, read.length, entry.name);
    }
  });
});
