import assert from "node:assert/strict";
import { FileLock, readLockHolder } from "./lock.ts";
import { OcisyncError } from "../errors/mod.ts";
import { withTmpfs } from "../../tests/helpers/tmpfs.ts";
import { withTempDir } from "../../tests/helpers/tree.ts";
import { within } from "../../tests/helpers/wait.ts";

Deno.test("a released lock removes its own file only, not a newer one at its path", async () => {
  await withTempDir("ocisync-lock-", async (dir) => {
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
  });
});

Deno.test("a held lock keeps its file young for other hosts: first on a web timer, then on an interval", async () => {
  await withTempDir("ocisync-lock-", async (dir) => {
    const path = `${dir}/x.lock`;
    // Refreshed every second (staleMs / 3, at least 1 s).
    const lock = await FileLock.acquire(path, { staleMs: 3000 });
    const past = new Date(Date.now() - 3_600_000);
    const age = async () => Date.now() - (await Deno.lstat(path)).mtime!.getTime();
    try {
      for (const refresh of ["first", "second"]) {
        await Deno.utime(path, past, past);
        await new Promise((done) => setTimeout(done, 1500));
        assert.ok(await age() < 1500, `the ${refresh} refresh did not come`);
      }
    } finally {
      await lock.release();
    }
  });
});

Deno.test("named: false once the lock file is removed, replaced, or its folder is a file", async () => {
  await withTempDir("ocisync-lock-", async (dir) => {
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
  });
});

/** Runs `fn` with a 64 KiB tmpfs mounted at `dir/disk` and filled up, then unmounts it. */
async function withFullDisk(dir: string, fn: (disk: string) => Promise<void>): Promise<void> {
  const disk = `${dir}/disk`;
  await withTmpfs(disk, "size=64k", async () => {
    // Full: a new file can be made (an inode), but not a byte written to it.
    await Deno.writeFile(`${disk}/fill`, new Uint8Array(64 * 1024)).catch(() => {});
    await assert.rejects(Deno.writeTextFile(`${disk}/probe`, "x"), /No space left on device/);
    await Deno.remove(`${disk}/probe`);
    await fn(disk);
  });
}

Deno.test({
  name: "a full disk: the lock is held without its holder's name, and removed on release (as root)",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    await withTempDir("ocisync-lock-", async (dir) => {
      await withFullDisk(dir, async (disk) => {
        const path = `${disk}/index.json.lock`;
        // Before, it failed: `cannot write the lock …: No space left on device`.
        const lock = await FileLock.acquire(path, { timeoutMs: 1000 });
        assert.equal((await Deno.lstat(path)).size, 0);
        // Past the moment an empty lock is young for: its live holder's kernel lock keeps it.
        const past = new Date(Date.now() - 60_000);
        await Deno.utime(path, past, past);
        assert.equal(await FileLock.tryAcquire(path), undefined);
        await lock.release();
        await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
      });
    });
  },
});

Deno.test({
  name: "a full disk: the empty lock of a holder killed there is taken, not waited on (as root)",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    await withTempDir("ocisync-lock-", async (dir) => {
      await withFullDisk(dir, async (disk) => {
        const path = `${disk}/index.json.lock`;
        const script = `${dir}/hold.ts`;
        await Deno.writeTextFile(
          script,
          `import { FileLock } from ${JSON.stringify(new URL("./lock.ts", import.meta.url).href)};
await FileLock.acquire(Deno.args[0]);
console.log("locked");
await new Promise((resolve) => setTimeout(resolve, 60_000));
`,
        );
        const holder = new Deno.Command(Deno.execPath(), {
          args: ["run", "--no-config", "--no-lock", "-RW", "--allow-sys=hostname", script, path],
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const said = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let text = "";
        for (let read = await said.read(); !read.done; read = await said.read()) {
          text += read.value;
          if (text.includes("locked")) break;
        }
        try {
          holder.kill("SIGKILL");
        } catch { /* it ended already: it could not take the lock */ }
        await said.cancel();
        const { stderr } = await holder.output().catch(() => ({ stderr: new Uint8Array() }));
        assert.match(text, /locked/, new TextDecoder().decode(stderr));
        assert.equal((await Deno.lstat(path)).size, 0);
        // Its kernel lock went with it: the empty file is taken well before it is stale (5 min).
        const lock = await FileLock.acquire(path, { timeoutMs: 10_000 });
        await lock.release();
        await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
      });
    });
  },
});

Deno.test("what is no lock file at a lock's path is refused at once, never opened: a fifo would wait for a writer", async () => {
  await withTempDir("ocisync-lock-", async (dir) => {
    const fifo = `${dir}/fifo`;
    const mkfifo = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(mkfifo.success, "mkfifo");
    await Deno.writeTextFile(`${dir}/regular`, JSON.stringify({ pid: 1 }));
    const obstacles: [string, (path: string) => Promise<void>, RegExp][] = [
      ["fifo", (path) => Deno.rename(fifo, path), /is a fifo, not a lock file/],
      ["link to a fifo", (path) => Deno.symlink(fifo, path), /is a symlink, not a lock file/],
      ["link to a file", (path) => Deno.symlink(`${dir}/regular`, path), /is a symlink/],
      ["folder", (path) => Deno.mkdir(path), /is a folder, not a lock file/],
    ];
    for (const [what, put, message] of obstacles) {
      const path = `${dir}/${what.replaceAll(" ", "-")}.lock`;
      if (what !== "fifo") await new Deno.Command("mkfifo", { args: [fifo] }).output();
      await put(path);
      await assert.rejects(
        within(10_000, FileLock.acquire(path, { timeoutMs: 500 })),
        (error) => {
          assert.ok(error instanceof OcisyncError, `${what}: ${error}`);
          assert.match(error.message, message, what);
          assert.match(error.hint ?? "", /delete/, what);
          return true;
        },
      );
      await assert.rejects(within(10_000, FileLock.tryAcquire(path)), OcisyncError);
      assert.equal(await within(10_000, readLockHolder(path)), undefined, what);
      // Left as it was: not ours to remove.
      assert.ok((await Deno.lstat(path)).isFile === false, what);
    }
  });
});
