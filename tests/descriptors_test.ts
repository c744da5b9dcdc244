/**
 * A long-running process (a sync on a fleet host, a service calling the library) pulls again and
 * again: each pull must give back every file descriptor it took. Each pull's unpacking worker
 * kept two (an epoll and an eventfd of its runtime) after it was terminated, and a sync that
 * delivered some hundreds of changes ran out of them and crashed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { pullTo, pushFolder } from "../mod.ts";
import { withTempDir, writeTree } from "./helpers/tree.ts";

const posix = Deno.build.os === "linux";

/** The descriptors this process holds. */
function descriptors(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

Deno.test({
  name: "forty pulls in one process give back every file descriptor they took",
  ignore: !posix,
  fn: () =>
    withTempDir("ocisync-descriptors-", async (tmp) => {
      await writeTree(`${tmp}/site`, {
        "index.html": { type: "file", content: "hello\n" },
        "css": { type: "dir" },
        "css/site.css": { type: "file", content: "body {}\n" },
      });
      await pushFolder(`oci:${tmp}/bundle:v1`, `${tmp}/site`);
      // The first pull loads what every later one shares.
      await pullTo(`oci:${tmp}/bundle:v1`, `${tmp}/out-0`);
      const before = descriptors();
      for (let i = 1; i <= 40; i++) {
        const pulled = await pullTo(`oci:${tmp}/bundle:v1`, `${tmp}/out-${i}`);
        assert.deepEqual(pulled.files, ["css", "index.html"]);
      }
      // Terminated workers are released a moment after.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const after = descriptors();
      assert.ok(after - before < 8, `${before} descriptors before 40 pulls, ${after} after`);
    }),
});
