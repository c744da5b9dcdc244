import assert from "node:assert/strict";
import { openFileAt } from "./read.ts";
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

Deno.test("openFileAt reads a fifo without holding the thread while it waits for a writer", async () => {
  await withTempDir("ocisync-read-", async (dir) => {
    const fifo = `${dir}/fifo`;
    assert.ok((await new Deno.Command("mkfifo", { args: [fifo] }).output()).success);
    // The writer opens the fifo at once (so that our open returns), and writes 300 ms later.
    const writer = new Deno.Command("sh", {
      args: ["-c", 'exec 3>"$1"; sleep 0.3; printf late >&3', "sh", fifo],
    }).spawn();
    const stream = await openFileAt(fifo, 0);
    const order: string[] = [];
    // A read that held the thread would let this timer run only after the bytes arrived.
    const ticked = new Promise<void>((resolve) =>
      setTimeout(() => {
        order.push("timer");
        resolve();
      }, 50)
    );
    const text = await new Response(stream).text();
    order.push("read");
    await ticked;
    assert.equal(text, "late");
    assert.deepEqual(order, ["timer", "read"]);
    assert.ok((await writer.status).success);
  });
});
