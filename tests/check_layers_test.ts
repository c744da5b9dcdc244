/**
 * `scripts/check_layers.ts`: the import finder on sources that try to fool it, and the check
 * on a small fake tree with one problem of each kind.
 */
import assert from "node:assert/strict";
import {
  checkTree,
  folderEdges,
  formatProblems,
  importSpecifiers,
  type Layer,
  LAYER_TABLE,
} from "../scripts/check_layers.ts";

Deno.test("importSpecifiers finds every form of import and export from", () => {
  const source = [
    'import { a } from "./a.ts";',
    'import type { B } from "../b/b.ts";',
    'import * as c from "./c.ts";',
    'import d, { e } from "./d.ts";',
    'import "./side.ts";',
    "import {",
    "  f,",
    "  g,",
    '} from "./multi.ts";',
    'export * from "./star.ts";',
    'export * as ns from "./ns.ts";',
    'export { h } from "./h.ts";',
    'export type { I } from "./i.ts";',
    'const lazy = await import("./lazy.ts");',
    'import config from "../deno.json" with { type: "json" };',
  ].join("\n");
  assert.deepEqual(importSpecifiers(source), [
    "./a.ts",
    "../b/b.ts",
    "./c.ts",
    "./d.ts",
    "./side.ts",
    "./multi.ts",
    "./star.ts",
    "./ns.ts",
    "./h.ts",
    "./i.ts",
    "./lazy.ts",
    "../deno.json",
  ]);
});

Deno.test("importSpecifiers skips comments, strings, templates, regexes and declarations", () => {
  const source = [
    "/**",
    " * @example",
    " * ```ts",
    ' * import { x } from "../cli/args.ts";',
    " * ```",
    " */",
    '// import { y } from "../cli/y.ts";',
    "const text = 'import { z } from \"../cli/z.ts\"';",
    'const doc = `import { t } from "../cli/t.ts" ${"}"} ${`${1}`} still a template`;',
    'const re = /import "..\\/cli\\/r.ts"/g;',
    "const quote = /[\"'`]/;",
    "const half = 1 / 2; const other = 4 / 2;",
    "const meta = import.meta.url;",
    "const object = { import: 1, export: 2 };",
    "export const value = 1;",
    "export type Alias = string;",
    "export { value as other };",
    "export function f(): void {}",
    'import { real } from "./real.ts";',
  ].join("\n");
  assert.deepEqual(importSpecifiers(source), ["./real.ts"]);
});

Deno.test("folderEdges joins imports by folder and ignores those within a folder", () => {
  const edges = folderEdges(
    new Map([
      ["src/push/mod.ts", 'import "./write.ts";\nimport { a } from "../image/plan.ts";'],
      ["src/push/write.ts", 'export type { B } from "../image/plan.ts";'],
      ["src/version.ts", 'import config from "../deno.json" with { type: "json" };'],
      ["src/cli/main.ts", 'import { VERSION } from "../version.ts";'],
    ]),
  );
  assert.deepEqual(edges, [
    { from: "cli", to: "version.ts", imports: ["src/cli/main.ts → ../version.ts"] },
    {
      from: "push",
      to: "image",
      imports: ["src/push/mod.ts → ../image/plan.ts", "src/push/write.ts → ../image/plan.ts"],
    },
  ]);
});

/** Writes `files` (path → source) under a new temporary root. */
async function fakeTree(files: Record<string, string>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "check-layers-" });
  for (const [path, source] of Object.entries(files)) {
    await Deno.mkdir(`${root}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
    await Deno.writeTextFile(`${root}/${path}`, source);
  }
  return root;
}

const SMALL_TABLE: Layer[] = [
  { name: "commands", folders: ["cli"] },
  { name: "moves", folders: ["push"] },
  { name: "plans", folders: ["image"] },
  { name: "formats", folders: ["oci", "ref"] },
];

Deno.test("checkTree passes a tree that depends downward only", async () => {
  const root = await fakeTree({
    "src/cli/main.ts": 'import { push } from "../push/mod.ts";',
    "src/push/mod.ts": 'import { plan } from "../image/plan.ts";\nimport "../oci/types.ts";',
    "src/image/plan.ts": 'import type { Descriptor } from "../oci/types.ts";',
    "src/oci/types.ts": 'import { parse } from "../ref/mod.ts";',
    "src/ref/mod.ts": "export const parse = 1;",
  });
  try {
    assert.deepEqual(await checkTree(root, SMALL_TABLE), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("checkTree lists upward imports, cli imports, cycles and unplaced folders", async () => {
  const root = await fakeTree({
    "src/cli/main.ts": 'import { push } from "../push/mod.ts";',
    "src/cli/args.ts": "export const closest = 1;",
    // Up the table: a plan imports a move, which imports the plan back.
    "src/image/plan.ts": 'import { write } from "../push/mod.ts";',
    "src/push/mod.ts": 'import { plan } from "../image/plan.ts";',
    // A library folder imports the commands.
    "src/ref/mod.ts": 'import { closest } from "../cli/args.ts";',
    // Two folders of one layer import each other.
    "src/oci/types.ts": 'import { parse } from "../ref/parse.ts";',
    "src/ref/parse.ts": 'import type { T } from "../oci/types.ts";',
    // A folder the table does not place.
    "src/misc/util.ts": "export const util = 1;",
    // Tests are not read: this import of cli/ is no problem.
    "src/oci/types_test.ts": 'import { main } from "../cli/main.ts";',
  });
  try {
    const problems = await checkTree(root, SMALL_TABLE);
    assert.deepEqual(problems.map((p) => [p.kind, p.message]), [
      ["up", "image/ (plans) imports push/ (moves), a layer above it"],
      ["cli", "ref/ imports cli/: only the commands may"],
      ["unknown", "misc is in no layer: add it to LAYER_TABLE in scripts/check_layers.ts"],
      ["cycle", "a cycle between the folders image/, push/"],
      ["cycle", "a cycle between the folders oci/, ref/"],
    ]);
    assert.deepEqual(problems[4].edges, [
      { from: "oci", to: "ref", imports: ["src/oci/types.ts → ../ref/parse.ts"] },
      { from: "ref", to: "oci", imports: ["src/ref/parse.ts → ../oci/types.ts"] },
    ]);
    assert.equal(
      formatProblems(problems.slice(1, 2)),
      "cli: ref/ imports cli/: only the commands may\n  ref/ → cli/\n    src/ref/mod.ts → ../cli/args.ts",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the layer table places each folder once", () => {
  const folders = LAYER_TABLE.flatMap((layer) => layer.folders);
  assert.equal(new Set(folders).size, folders.length);
});
