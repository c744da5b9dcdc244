/**
 * `pushFiles` (and `push --files`) refuses what it cannot push, or what a pull would refuse,
 * before anything is written: a refused file left an empty layout (`{"manifests":[]}`) behind, a
 * fifo given as a file was opened and waited on forever, and titles that leave the folder
 * (`../evil`, `/etc/evil`) or name one path twice were pushed, though a pull refuses the first
 * and writes one file over the other for the second.
 */
import assert from "node:assert/strict";
import { type ArtifactFile, OcisyncError, pushFiles, UsageError } from "../mod.ts";
import { expectExit, ocisync } from "./helpers/cli.ts";
import { unblockFifoAfter, withTempDir } from "./helpers/tree.ts";

/** A folder with `ok.txt`, `dir/a.txt`, `dir/pipe` (a fifo) and `pipe` (another). */
async function withFiles(body: (tmp: string) => Promise<void>): Promise<void> {
  await withTempDir("ocisync-push-files-", async (tmp) => {
    await Deno.writeTextFile(`${tmp}/ok.txt`, "ok\n");
    await Deno.mkdir(`${tmp}/dir`);
    await Deno.writeTextFile(`${tmp}/dir/a.txt`, "a\n");
    for (const fifo of [`${tmp}/dir/pipe`, `${tmp}/pipe`]) {
      const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
      assert.equal(made.code, 0);
    }
    await body(tmp);
  });
}

/**
 * Lets the opens of the fifo at `path` go on, after 3 s and again after 3.5 s (a push that reads a
 * file opens it twice: to hash it, then to send it), so that a push that opens it fails the test
 * instead of hanging it.
 */
function unblockFifo(path: string): DisposableStack {
  const stack = new DisposableStack();
  for (const ms of [3_000, 3_500]) stack.use(unblockFifoAfter(path, ms));
  return stack;
}

const exists = (path: string) => Deno.lstat(path).then(() => true, () => false);

Deno.test("pushFiles: a fifo, a folder holding one, a title a pull refuses, or two files of one title: UsageError, no layout", async () => {
  await withFiles(async (tmp) => {
    using _ = unblockFifo(`${tmp}/pipe`);
    const cases: [string, (string | ArtifactFile)[], RegExp][] = [
      ["a fifo", [`${tmp}/ok.txt`, `${tmp}/pipe`], /pipe is neither a regular file nor a folder/],
      ["a folder with a fifo", [`${tmp}/ok.txt`, `${tmp}/dir`], /dir\/pipe is a fifo/],
      ["../evil", [{ path: `${tmp}/ok.txt`, title: "../evil" }], /"\.\.\/evil": it leaves/],
      ["/etc/evil", [{ path: `${tmp}/ok.txt`, title: "/etc/evil" }], /"\/etc\/evil": it leaves/],
      ["a whiteout", [{ path: `${tmp}/ok.txt`, title: ".wh.x" }], /whiteout/],
      [
        "two of one title",
        [`${tmp}/ok.txt`, { path: `${tmp}/dir/a.txt`, title: "./ok.txt" }],
        /both titled "ok\.txt"/,
      ],
    ];
    for (const [name, files, message] of cases) {
      const started = Date.now();
      await assert.rejects(
        pushFiles(`oci:${tmp}/layout:v1`, files),
        // A folder's fifo is refused as pushFolder refuses it, an UnsafeContentError.
        (error: Error) =>
          error instanceof (name === "a folder with a fifo" ? OcisyncError : UsageError) &&
          message.test(error.message),
        name,
      );
      assert.ok(Date.now() - started < 2_500, `${name}: refused at once`);
      assert.equal(await exists(`${tmp}/layout`), false, `${name}: no layout is left`);
    }
  });
});

Deno.test("push --files: a refused file leaves no layout, exit 2", async () => {
  await withFiles(async (tmp) => {
    using _ = unblockFifo(`${tmp}/pipe`);
    await Deno.writeTextFile(`${tmp}/dir/ok.txt`, "another\n");
    // An absolute path is titled with its base name: both of these are "ok.txt".
    for (const file of [`${tmp}/pipe`, `${tmp}/dir/ok.txt`]) {
      const result = expectExit(
        await ocisync(["push", `oci:${tmp}/layout:v1`, "--files", `${tmp}/ok.txt`, file]),
        2,
      );
      assert.doesNotMatch(result.stderr, /^\s*at /m, "a message, not a stack");
      assert.equal(await exists(`${tmp}/layout`), false, file);
    }
  });
});
