import assert from "node:assert/strict";
import { UnsafeContentError } from "../errors/mod.ts";
import { PathTree, RetainedBudget } from "./path_tree.ts";

Deno.test("PathTree: paths, folders with and without a number, deepest and shallowest first", () => {
  const tree = new PathTree(new RetainedBudget(1024 ** 2));
  tree.set("a/b/c", 1);
  tree.set("a", 2);
  tree.set("x", 3);
  tree.set("x/y", 4); // a path below one that had no folder yet
  tree.set("a/b/c", 5); // set again
  assert.ok(tree.has("a") && tree.has("a/b/c") && tree.has("x/y"));
  assert.ok(!tree.has("a/b"), "a folder on the way has no number");
  assert.ok(!tree.has("a/b/c/d") && !tree.has("q") && !tree.has("x/y/z"));
  const order = [...tree.deepestFirst()];
  assert.deepEqual(new Map(order), new Map([["a/b/c", 5], ["a", 2], ["x/y", 4], ["x", 3]]));
  const at = (path: string) => order.findIndex(([p]) => p === path);
  assert.ok(at("a/b/c") < at("a") && at("x/y") < at("x"), "each path after those below it");
  const topDown = [...tree.shallowestFirst()];
  assert.deepEqual(new Map(topDown), new Map(order), "the same paths and numbers");
  const down = (path: string) => topDown.findIndex(([p]) => p === path);
  assert.ok(down("a") < down("a/b/c") && down("x") < down("x/y"), "each path before those below");
});

Deno.test("PathTree: delete takes everything below; unset only the path's number", () => {
  const budget = new RetainedBudget(1024 ** 2);
  const tree = new PathTree(budget);
  for (const path of ["a", "a/b", "a/b/c", "a/bc", "ab"]) tree.set(path, 0);
  tree.delete("a/b");
  assert.deepEqual([...tree.deepestFirst()].map(([p]) => p).sort(), ["a", "a/bc", "ab"]);
  tree.unset("a");
  assert.ok(!tree.has("a") && tree.has("a/bc"));
  tree.unset("a/bc");
  tree.delete("missing/path");
  assert.deepEqual([...tree.deepestFirst()].map(([p]) => p), ["ab"]);
  tree.delete("ab");
  assert.equal(budget.used, 0, "what was removed is given back, folders left empty included");
  tree.set("d/e", 1);
  tree.clear();
  assert.equal(budget.used, 0);
  assert.deepEqual([...tree.deepestFirst()], []);
});

Deno.test("PathTree: a long folder path costs once, not once a path", () => {
  const budget = new RetainedBudget(1024 ** 2);
  const tree = new PathTree(budget);
  const deep = Array.from({ length: 15 }, (_, i) => `d${i}${"x".repeat(245)}`).join("/");
  tree.set(`${deep}/f0`, 0);
  const first = budget.used;
  for (let i = 1; i <= 1000; i++) tree.set(`${deep}/f${i}`, 0);
  assert.ok(first > 15 * 250, "the folders' names count");
  assert.ok((budget.used - first) / 1000 < 100, `${budget.used - first} bytes for 1,000 names`);
});

Deno.test("PathTree: past its budget, a set is refused as unsafe content", () => {
  const budget = new RetainedBudget(10_000);
  const tree = new PathTree(budget);
  assert.throws(
    () => {
      for (let i = 0; i < 1000; i++) tree.set(`d/${"n".repeat(200)}${i}`, 0);
    },
    (error) =>
      error instanceof UnsafeContentError && /limit of 10000 bytes of memory/.test(error.message),
  );
  tree.clear();
  assert.equal(budget.used, 0);
});
