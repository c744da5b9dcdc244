import assert from "node:assert/strict";
import { FileLock } from "./lock.ts";

Deno.test("a released lock removes its own file only, not a newer one at its path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocisync-lock-" });
  try {
    const path = `${dir}/index.json.lock`;
    const first = await FileLock.acquire(path);
    // Deleted by hand, as the timeout's hint offers, and taken by another holder since.
    await Deno.remove(path);
    const second = await FileLock.acquire(path);
    const secondFile = await Deno.lstat(path);
    await first.release();
    const after = await Deno.lstat(path);
    assert.deepEqual([after.dev, after.ino], [secondFile.dev, secondFile.ino]);
    await second.release();
    await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("named: false once the lock file is removed, replaced, or its folder is a file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/sub/x.lock`;
    await Deno.mkdir(`${dir}/sub`);
    const lock = (await FileLock.tryAcquire(path))!;
    assert.equal(await lock.named(), true);
    await Deno.remove(path);
    assert.equal(await lock.named(), false);
    // Another file at the path: another process's lock, not this one.
    await Deno.writeTextFile(path, "{}");
    assert.equal(await lock.named(), false);
    await Deno.remove(`${dir}/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/sub`, "");
    assert.equal(await lock.named(), false);
    await lock.release();
    assert.equal(await lock.named(), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
