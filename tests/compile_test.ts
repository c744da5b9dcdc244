/**
 * `deno task compile` on a host that cannot download `denort`: with
 * `DENORT_BIN` naming a local Deno, the compile completes, which proves the
 * module graph, the embedded worker modules and the permission flags. The
 * result then behaves as plain `deno`, so behaviour is tested through
 * `deno run` with the same flags everywhere else.
 */
import assert from "node:assert/strict";
import { run, stripEscapes } from "./helpers/cli.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("compile: DENORT_BIN makes an offline compile complete", async () => {
  const result = await run(Deno.execPath(), ["task", "compile"], {
    cwd: ROOT,
    env: { DENORT_BIN: Deno.execPath() },
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /built .*dist\/ocisync \(base binary from DENORT_BIN\)/);
  // The worker scripts, which only a URL names, are embedded, and the commands, which are
  // loaded by dynamic imports.
  const embedded = embeddedFiles(result.stderr);
  for (
    const path of [
      "src/compress/deflate_worker.ts",
      "src/compress/zstd_worker.ts",
      "src/unpack/worker.ts",
      "src/cli/commands/pull.ts",
    ]
  ) {
    assert.ok(embedded(path), `${path} is not embedded:\n${stripEscapes(result.stderr)}`);
  }
  const binary = await Deno.stat(`${ROOT}dist/ocisync`);
  const base = await Deno.stat(Deno.execPath());
  assert.ok(binary.size > base.size, "the module graph is appended to the base binary");
  assert.ok((binary.mode! & 0o111) !== 0, "the binary is executable");
});

/**
 * Whether `deno compile`'s tree of embedded files lists a path: a folder embedded whole shows
 * as `folder/*`, a chain of single folders as `a/b/c.ts`, others as a tree, two columns a level.
 */
function embeddedFiles(listing: string): (path: string) => boolean {
  const listed: string[] = [];
  const folders: string[] = [];
  for (const line of stripEscapes(listing).split("\n")) {
    const match = /^([ │]*)[├└]─([─┬]) (\S+)/.exec(line);
    if (match === null) continue;
    const depth = match[1].length / 2;
    const path = [folders[depth - 1], match[3]].filter((part) => part !== undefined).join("/");
    listed.push(path);
    if (match[2] === "┬") folders[depth] = path;
  }
  return (path) =>
    listed.some((name) =>
      name === path || (name.endsWith("/*") && path.startsWith(name.slice(0, -1)))
    );
}
