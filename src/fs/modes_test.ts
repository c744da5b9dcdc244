import assert from "node:assert/strict";
import { chmodIfSame } from "./modes.ts";
import { withTempDir } from "../../tests/helpers/tree.ts";

Deno.test("chmodIfSame: sets the mode of the file expected, never through a link, nor on another file", async () => {
  await withTempDir("ocisync-modes-", async (dir) => {
    await Deno.mkdir(`${dir}/folder`, { mode: 0o755 });
    await Deno.writeTextFile(`${dir}/private`, "root's own\n");
    await Deno.chmod(`${dir}/private`, 0o600);
    const folder = await Deno.lstat(`${dir}/folder`);
    const mode = async (path: string) => (await Deno.lstat(path)).mode! & 0o7777;

    assert.equal(chmodIfSame(`${dir}/folder`, folder, 0o555), true);
    assert.equal(await mode(`${dir}/folder`), 0o555);
    // Swapped for a link to a private file: the link is not followed.
    await Deno.rename(`${dir}/folder`, `${dir}/moved`);
    await Deno.symlink(`${dir}/private`, `${dir}/folder`);
    assert.throws(() => chmodIfSame(`${dir}/folder`, folder, 0o777));
    assert.equal(await mode(`${dir}/private`), 0o600);
    // Swapped for another folder: left as it is.
    await Deno.remove(`${dir}/folder`);
    await Deno.mkdir(`${dir}/folder`, { mode: 0o700 });
    await Deno.chmod(`${dir}/folder`, 0o700);
    assert.equal(chmodIfSame(`${dir}/folder`, folder, 0o777), false);
    assert.equal(await mode(`${dir}/folder`), 0o700);
    // A fifo put there does not hold the open.
    await Deno.remove(`${dir}/folder`);
    const mkfifo = await new Deno.Command("mkfifo", { args: [`${dir}/folder`] }).output();
    assert.ok(mkfifo.success);
    assert.equal(chmodIfSame(`${dir}/folder`, folder, 0o777), false);
  });
});
