import assert from "node:assert/strict";
import { serveSyncHttp, SyncMetrics } from "./http.ts";

/** Sends `request` as raw bytes and returns the status line of the answer. */
async function rawStatus(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(request));
    const buffer = new Uint8Array(4096);
    const read = await conn.read(buffer);
    return new TextDecoder().decode(buffer.subarray(0, read ?? 0)).split("\r\n")[0];
  } finally {
    conn.close();
  }
}

Deno.test("the sync's HTTP server: GET and HEAD only, and a request target that is no URL is a 400", async () => {
  let port = 0;
  const errors: unknown[] = [];
  const server = serveSyncHttp({
    address: { hostname: "127.0.0.1", port: 0 },
    metrics: new SyncMetrics([]),
    onListen: (address) => port = address.port,
    onError: (error) => errors.push(error),
  });
  try {
    const url = `http://127.0.0.1:${port}/metrics`;
    const deleted = await fetch(url, { method: "DELETE" });
    await deleted.body?.cancel();
    assert.deepEqual([deleted.status, deleted.headers.get("allow")], [405, "GET, HEAD"]);
    const head = await fetch(url, { method: "HEAD" });
    assert.equal(head.status, 200);
    for (const host of ["[", "a b", "%zz"]) {
      const line = await rawStatus(port, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      assert.match(line, /^HTTP\/1\.1 400/, `Host: ${host}`);
    }
    assert.deepEqual(errors, []);
  } finally {
    await server.shutdown();
  }
});
