import assert from "node:assert/strict";
import { openFileAt, readEachPiece } from "./read.ts";
import { randomBytes } from "../../tests/helpers/random.ts";
import { withTempDir } from "../../tests/helpers/tree.ts";

Deno.test("openFileAt reads a regular file from an offset, in pieces of the expected size", async () => {
  await withTempDir("ocisync-read-", async (dir) => {
    const bytes = randomBytes(200_000);
    await Deno.writeFile(`${dir}/blob`, bytes);
    const pieces = await Array.fromAsync(await openFileAt(`${dir}/blob`, 1000, 199_000));
    assert.deepEqual(pieces.map((piece) => piece.byteLength), [65536, 65536, 65536, 2392]);
    assert.deepEqual(Buffer.concat(pieces), Buffer.from(bytes.subarray(1000)));
  });
});

/**
 * Runs `read` on a fifo whose writer opens it at once (so that an open returns) and writes
 * `late` 300 ms later, and asserts that it returns that text without holding the thread
 * meanwhile: a read that held it would let a timer run only after the bytes arrived.
 */
async function assertFifoReadLetsTimersIn(read: (fifo: string) => Promise<string>) {
  await withTempDir("ocisync-read-", async (dir) => {
    const fifo = `${dir}/fifo`;
    assert.ok((await new Deno.Command("mkfifo", { args: [fifo] }).output()).success);
    const writer = new Deno.Command("sh", {
      args: ["-c", 'exec 3>"$1"; sleep 0.3; printf late >&3', "sh", fifo],
    }).spawn();
    const order: string[] = [];
    const ticked = new Promise<void>((resolve) =>
      setTimeout(() => {
        order.push("timer");
        resolve();
      }, 50)
    );
    const text = await read(fifo);
    order.push("read");
    await ticked;
    assert.equal(text, "late");
    assert.deepEqual(order, ["timer", "read"]);
    assert.ok((await writer.status).success);
  });
}

Deno.test("openFileAt reads a fifo without holding the thread while it waits for a writer", () =>
  assertFifoReadLetsTimersIn(async (fifo) => await new Response(await openFileAt(fifo, 0)).text()));

Deno.test("readEachPiece hands on every byte of a file, in one buffer, and lets timers in", async () => {
  await withTempDir("ocisync-read-", async (dir) => {
    // 40 MiB and a bit: ten turns of 64 pieces through the thread pool. A turn of the event loop
    // that finds the pool's read already done resolves it before the timers (measured: at about
    // one turn in five the timer did not run), so one or two turns made this test fail at times.
    const bytes = randomBytes(40 * 1024 * 1024 + 1234);
    await Deno.writeFile(`${dir}/blob`, bytes);
    using file = await Deno.open(`${dir}/blob`);
    const copies: Uint8Array[] = [];
    const buffers = new Set<ArrayBufferLike>();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    let total;
    try {
      total = await readEachPiece(file, (piece) => {
        copies.push(piece.slice());
        buffers.add(piece.buffer);
        // A read that held the thread for the whole file would let no timer run in between.
        for (const end = performance.now() + 0.1; performance.now() < end;) { /* busy */ }
      });
    } finally {
      clearInterval(timer);
    }
    assert.equal(total, bytes.length);
    assert.deepEqual(Buffer.concat(copies), Buffer.from(bytes));
    assert.equal(buffers.size, 1, "every piece is read into the one buffer");
    assert.ok(ticks >= 1, `the timer ran ${ticks} times while the file was read`);
  });
});

Deno.test("readEachPiece reads a fifo through the thread pool, to its end", () =>
  assertFifoReadLetsTimersIn(async (fifo) => {
    using file = await Deno.open(fifo);
    let text = "";
    await readEachPiece(file, (piece) => text += new TextDecoder().decode(piece));
    return text;
  }));

Deno.test({
  name: "openFileAt: a read that fails closes the file, as the stream's end and cancel do",
  // The process's open files are counted in /proc.
  ignore: Deno.build.os !== "linux",
}, async () => {
  await withTempDir("ocisync-read-", async (dir) => {
    const open = () => [...Deno.readDirSync("/proc/self/fd")].length;
    const before = open();
    // A folder opens, and its reads fail (EISDIR).
    for (let i = 0; i < 20; i++) {
      await assert.rejects(async () => {
        for await (const _ of await openFileAt(dir, 0)) { /* read to the error */ }
      });
    }
    assert.equal(open(), before);
  });
});
