import assert from "node:assert/strict";
import { posix } from "node:path";
import { absolutePath, basename, dirname } from "./paths.ts";

/** Paths of the shapes a sync is given, and the odd ones: repeated, trailing, `.` and `..`. */
const CASES = [
  "",
  "/",
  "///",
  "a",
  "a/",
  "a//",
  "a/b",
  "a//b",
  "a/b/",
  "/a",
  "//a",
  "/a/b/",
  "./a",
  "../a",
  "a/../..",
  "/a/./b/../../c/",
  "/srv/flows/.ocisync.lock",
  "state.json",
  "out/.ocisync/hex-0123456789ab",
  "/..",
  "..",
  ".",
  "a b/ünï/c",
];

/** Random paths of `a`, `.`, `..` and separators, seeded, so that a failure reproduces. */
function randomPaths(count: number): string[] {
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  const parts = ["a", "bc", ".", "..", "", ".x"];
  return Array.from({ length: count }, () => {
    const length = next() % 6;
    const path = Array.from({ length }, () => parts[next() % parts.length]).join("/");
    return next() % 2 ? `/${path}` : path;
  });
}

Deno.test("absolutePath resolves as node:path's posix resolve does", () => {
  for (const path of [...CASES, ...randomPaths(2000)]) {
    assert.equal(absolutePath(path), posix.resolve(path), JSON.stringify(path));
  }
});

Deno.test("basename is node:path's; dirname names the same folder as node:path's", () => {
  for (const path of [...CASES, ...randomPaths(2000)]) {
    assert.equal(basename(path), posix.basename(path), JSON.stringify(path));
    // node keeps some repeated separators ("a//b" -> "a/"); the folder named is the same.
    assert.equal(
      absolutePath(dirname(path)),
      posix.resolve(posix.dirname(path)),
      JSON.stringify(path),
    );
  }
  assert.equal(dirname("state.json"), ".");
  assert.equal(dirname("/srv/flows/"), "/srv");
  assert.equal(dirname("/srv"), "/");
  assert.equal(dirname("a//b"), "a");
});
