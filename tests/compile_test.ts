/**
 * `deno task compile` on a host that cannot download `denort`: with
 * `DENORT_BIN` naming a local Deno, the compile completes, which proves the
 * module graph, the embedded worker modules and the permission flags. The
 * result then behaves as plain `deno`, so behaviour is tested through
 * `deno run` with the same flags everywhere else.
 */
import assert from "node:assert/strict";
import { run } from "./helpers/cli.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("compile: DENORT_BIN makes an offline compile complete", async () => {
  const result = await run(Deno.execPath(), ["task", "compile"], {
    cwd: ROOT,
    env: { DENORT_BIN: Deno.execPath() },
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /built .*dist\/ocisync \(base binary from DENORT_BIN\)/);
  // The worker scripts, which only a URL names, are embedded, and the commands, which are
  // loaded by dynamic imports (a folder embedded whole is listed as `folder/*`).
  assert.match(result.stderr, /deflate_worker\.ts/);
  assert.match(result.stderr, /zstd_worker\.ts/);
  assert.match(result.stderr, /unpack\/(\*|worker\.ts)/);
  assert.match(result.stderr, /commands\/(\*|pull\.ts)/);
  const binary = await Deno.stat(`${ROOT}dist/ocisync`);
  const base = await Deno.stat(Deno.execPath());
  assert.ok(binary.size > base.size, "the module graph is appended to the base binary");
  assert.ok((binary.mode! & 0o111) !== 0, "the binary is executable");
});
