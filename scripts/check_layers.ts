/**
 * Checks that the folders of `src/` depend downward only, as the design's
 * table "Layers of the code" says: each folder may import from its own layer
 * and the layers below it, never from one above, and never from `cli/` unless
 * it is `cli/`. Folders of one layer may import each other, but no chain of
 * imports between folders may come back to where it started.
 *
 * Every TypeScript file under `src/` is read, tests (`*_test.ts`) aside; the
 * specifiers of its `import` and `export … from` declarations, and of
 * `import("…")`, are found by a small tokenizer, so that JSDoc examples,
 * comments and strings are not mistaken for imports. Only relative specifiers
 * that land in `src/` make edges.
 *
 * Exits 1, listing each offending edge with the imports that make it, or 0.
 *
 * ```sh
 * deno run --allow-read scripts/check_layers.ts [ROOT]
 * ```
 *
 * @example
 * ```ts
 * import { checkTree } from "./check_layers.ts";
 * const problems = await checkTree(".");
 * console.log(problems.map((p) => p.message).join("\n"));
 * ```
 * @module
 */

/** One row of the layer table: a layer's name and its folders. */
export interface Layer {
  /** The layer's name, for messages. */
  name: string;
  /** Its folders under `src/`; a file at the top of `src/` is named as it is (`version.ts`). */
  folders: string[];
}

/**
 * The layer table, top first. A folder may import from its own row and the rows below it.
 * `api/` is the library's high-level API, over the jobs and moves, which only `mod.ts` exports. `fs/`, `progress/`, `streams/` and `units/` are small utilities at the formats level; `version.ts`, the
 * one file at the top of `src/`, is a constant read from `deno.json`.
 */
export const LAYER_TABLE: readonly Layer[] = [
  { name: "commands", folders: ["cli"] },
  { name: "library", folders: ["api"] },
  { name: "jobs", folders: ["sync", "build", "trust"] },
  { name: "moves", folders: ["push", "pull", "copy"] },
  { name: "plans", folders: ["image", "python", "layer"] },
  { name: "places", folders: ["remote", "credentials", "layout", "archive", "target"] },
  {
    name: "formats",
    folders: [
      "oci",
      "ref",
      "yaml",
      "tar",
      "compress",
      "digest",
      "unpack",
      "errors",
      "fs",
      "progress",
      "units",
      "streams",
      "version.ts",
    ],
  },
];

/** The folder of commands, which nothing else may import. */
const COMMANDS = "cli";

/** A token of TypeScript source, as far as finding imports needs. */
interface Token {
  kind: "name" | "string" | "number" | "template" | "regex" | "punct";
  /** The name or punctuation; a string's value. */
  text: string;
}

const KEYWORDS_BEFORE_EXPRESSION = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

/**
 * Splits TypeScript source into the tokens that matter for imports: comments are dropped,
 * and strings, templates and regular expressions are read whole, so that nothing inside them
 * is taken for code. A regular expression is told from a division by the token before it, as
 * JavaScript parsers do.
 */
function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  // The brace depth at which each open `${` of a template began.
  const templates: number[] = [];
  let depth = 0;
  let i = 0;
  const readTemplate = (from: number): number => {
    let j = from;
    while (j < source.length) {
      const c = source[j];
      if (c === "\\") j += 2;
      else if (c === "`") {
        tokens.push({ kind: "template", text: "" });
        return j + 1;
      } else if (c === "$" && source[j + 1] === "{") {
        templates.push(depth);
        return j + 2;
      } else j++;
    }
    return j;
  };
  const regexAllowed = (): boolean => {
    const previous = tokens.at(-1);
    if (previous === undefined) return true;
    if (previous.kind === "name") return KEYWORDS_BEFORE_EXPRESSION.has(previous.text);
    if (previous.kind !== "punct") return false;
    return previous.text !== ")" && previous.text !== "]";
  };
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "/" && next === "/") {
      const end = source.indexOf("\n", i);
      i = end < 0 ? source.length : end;
    } else if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      i = end < 0 ? source.length : end + 2;
    } else if (c === '"' || c === "'") {
      let value = "";
      let j = i + 1;
      // A string ends at its quote, or at the line's end if it is not closed.
      while (j < source.length && source[j] !== c && source[j] !== "\n") {
        if (source[j] === "\\") {
          value += source[j + 1] ?? "";
          j += 2;
        } else value += source[j++];
      }
      tokens.push({ kind: "string", text: value });
      i = j + 1;
    } else if (c === "`") {
      i = readTemplate(i + 1);
    } else if (c === "}" && templates.length > 0 && templates.at(-1) === depth) {
      templates.pop();
      i = readTemplate(i + 1);
    } else if (c === "/" && regexAllowed()) {
      let j = i + 1;
      let inClass = false;
      while (j < source.length && source[j] !== "\n") {
        if (source[j] === "\\") j++;
        else if (source[j] === "[") inClass = true;
        else if (source[j] === "]") inClass = false;
        else if (source[j] === "/" && !inClass) break;
        j++;
      }
      j++;
      while (j < source.length && /[A-Za-z]/.test(source[j])) j++;
      tokens.push({ kind: "regex", text: "" });
      i = j;
    } else if (/[A-Za-z_$]/.test(c)) {
      const match = /^[\w$]+/.exec(source.slice(i, i + 256))!;
      tokens.push({ kind: "name", text: match[0] });
      i += match[0].length;
    } else if (/[0-9]/.test(c)) {
      const match = /^[\w.]+/.exec(source.slice(i, i + 256))!;
      tokens.push({ kind: "number", text: match[0] });
      i += match[0].length;
    } else {
      if (c === "{") depth++;
      if (c === "}") depth--;
      tokens.push({ kind: "punct", text: c });
      i++;
    }
  }
  return tokens;
}

/**
 * The module specifiers a source file imports: those of its `import` and `export … from`
 * declarations, type-only ones included, and of `import("…")`. Comments (JSDoc examples
 * among them) and strings are not read as code.
 *
 * @example
 * ```ts
 * import { importSpecifiers } from "./check_layers.ts";
 * importSpecifiers('/** import { x } from "./a.ts"; *\/\nexport * from "./b.ts";'); // ["./b.ts"]
 * ```
 */
export function importSpecifiers(source: string): string[] {
  const tokens = tokenize(source);
  const specifiers: string[] = [];
  const is = (index: number, kind: Token["kind"], text?: string) =>
    tokens[index]?.kind === kind && (text === undefined || tokens[index].text === text);
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i].kind !== "name" || is(i - 1, "punct", ".")) continue;
    if (tokens[i].text === "import") {
      if (is(i + 1, "punct", "(")) {
        if (is(i + 2, "string")) specifiers.push(tokens[i + 2].text);
      } else if (is(i + 1, "string")) {
        specifiers.push(tokens[i + 1].text);
      } else if (is(i + 1, "name") || is(i + 1, "punct", "{") || is(i + 1, "punct", "*")) {
        const found = fromClause(tokens, i + 1);
        if (found !== undefined) specifiers.push(found);
      }
    } else if (tokens[i].text === "export") {
      const head = is(i + 1, "name", "type") ? i + 2 : i + 1;
      if (is(head, "punct", "{") || is(head, "punct", "*")) {
        const found = fromClause(tokens, head);
        if (found !== undefined) specifiers.push(found);
      }
    }
  }
  return specifiers;
}

/** The specifier of the `from "…"` that ends a declaration starting at `start`, if it has one. */
function fromClause(tokens: Token[], start: number): string | undefined {
  for (let i = start; i < tokens.length; i++) {
    const token = tokens[i];
    if (token.kind === "punct" && token.text === ";") return undefined;
    if (token.kind === "string") return undefined;
    if (token.kind === "name" && (token.text === "import" || token.text === "export")) {
      return undefined;
    }
    if (token.kind === "name" && token.text === "from" && tokens[i + 1]?.kind === "string") {
      return tokens[i + 1].text;
    }
  }
  return undefined;
}

/** An import between two folders: which file imports what. */
export interface Edge {
  /** The importing folder. */
  from: string;
  /** The imported folder. */
  to: string;
  /** Each import that makes the edge: `src/a/x.ts → ../b/y.ts`. */
  imports: string[];
}

/** Something the check refuses. */
export interface Problem {
  /** `up` (against the table), `cli` (an import of `cli/`), `cycle`, or `unknown` (a folder not in the table). */
  kind: "up" | "cli" | "cycle" | "unknown";
  /** What is wrong, on one line. */
  message: string;
  /** The edges at fault, each with its imports. */
  edges: Edge[];
}

/**
 * The folder of a path under `src/` (`src/image/plan.ts` is `image`; a file at the top of
 * `src/` is its own name), or undefined for a path outside `src/`.
 */
function folderOf(path: string): string | undefined {
  const parts = path.split("/");
  if (parts[0] !== "src" || parts.length < 2) return undefined;
  return parts[1];
}

/** Resolves a relative specifier against the importing file; both relative to the root. */
function resolveSpecifier(file: string, specifier: string): string | undefined {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return undefined;
  const parts = file.split("/").slice(0, -1);
  for (const part of specifier.split("/")) {
    if (part === "..") {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else if (part !== ".") parts.push(part);
  }
  return parts.join("/");
}

/**
 * The edges between folders that `files` make: each file's path under the root
 * (`src/image/plan.ts`) and its source. Imports within a folder make no edge.
 *
 * @example
 * ```ts
 * import { folderEdges } from "./check_layers.ts";
 * const edges = folderEdges(new Map([["src/push/mod.ts", 'import "../image/plan.ts";']]));
 * edges[0]; // { from: "push", to: "image", imports: ["src/push/mod.ts → ../image/plan.ts"] }
 * ```
 */
export function folderEdges(files: Map<string, string>): Edge[] {
  const edges = new Map<string, Edge>();
  for (const [file, source] of [...files].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) {
    const from = folderOf(file);
    if (from === undefined) continue;
    for (const specifier of importSpecifiers(source)) {
      const target = resolveSpecifier(file, specifier);
      const to = target === undefined ? undefined : folderOf(target);
      if (to === undefined || to === from) continue;
      const key = `${from}\0${to}`;
      const edge = edges.get(key) ?? { from, to, imports: [] };
      edge.imports.push(`${file} → ${specifier}`);
      edges.set(key, edge);
    }
  }
  return [...edges.values()];
}

/**
 * What is wrong with `edges` against `table`: imports that go up the table, imports of
 * `cli/` from outside it, cycles between folders (each listed with the edges that close it),
 * and folders the table does not place, among those of the edges and `folders`.
 *
 * @example
 * ```ts
 * import { folderEdges, LAYER_TABLE, layerProblems } from "./check_layers.ts";
 * const files = new Map([["src/oci/types.ts", 'import "../push/mod.ts";']]);
 * layerProblems(folderEdges(files), LAYER_TABLE)[0].kind; // "up"
 * ```
 */
export function layerProblems(
  edges: Edge[],
  table: readonly Layer[],
  folders: Iterable<string> = [],
): Problem[] {
  const rank = new Map<string, number>();
  table.forEach((layer, index) => {
    for (const folder of layer.folders) rank.set(folder, table.length - index);
  });
  const layerOf = (folder: string) => table[table.length - rank.get(folder)!].name;
  const problems: Problem[] = [];
  const unknown = new Map<string, Edge[]>();
  for (const folder of folders) if (!rank.has(folder)) unknown.set(folder, []);
  for (const edge of edges) {
    for (const folder of [edge.from, edge.to]) {
      if (!rank.has(folder)) unknown.set(folder, [...(unknown.get(folder) ?? []), edge]);
    }
    if (edge.to === COMMANDS && edge.from !== COMMANDS) {
      problems.push({
        kind: "cli",
        message: `${edge.from}/ imports ${COMMANDS}/: only the commands may`,
        edges: [edge],
      });
    } else if (
      rank.has(edge.from) && rank.has(edge.to) && rank.get(edge.to)! > rank.get(edge.from)!
    ) {
      problems.push({
        kind: "up",
        message: `${edge.from}/ (${layerOf(edge.from)}) imports ${edge.to}/ (${
          layerOf(edge.to)
        }), a layer above it`,
        edges: [edge],
      });
    }
  }
  for (const [folder, at] of unknown) {
    problems.push({
      kind: "unknown",
      message: `${folder} is in no layer: add it to LAYER_TABLE in scripts/check_layers.ts`,
      edges: at,
    });
  }
  for (const component of cycles(edges)) {
    const members = new Set(component);
    problems.push({
      kind: "cycle",
      message: `a cycle between the folders ${component.map((f) => `${f}/`).join(", ")}`,
      edges: edges.filter((e) => members.has(e.from) && members.has(e.to)),
    });
  }
  return problems;
}

/** The strongly connected components of more than one folder (Tarjan's algorithm), sorted. */
function cycles(edges: Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) {
    next.set(from, [...(next.get(from) ?? []), to]);
    if (!next.has(to)) next.set(to, []);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const to of next.get(node)!) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node)!, index.get(to)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1) found.push(component.sort());
  };
  for (const node of [...next.keys()].sort()) if (!index.has(node)) visit(node);
  return found.sort((a, b) => a[0] < b[0] ? -1 : 1);
}

/** Every `.ts` file under `dir`, tests (`*_test.ts`) left out, as paths relative to `root`. */
async function sourceFiles(root: string, dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(`${root}/${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await sourceFiles(root, path));
    else if (entry.isFile && path.endsWith(".ts") && !path.endsWith("_test.ts")) files.push(path);
  }
  return files;
}

/**
 * Reads `ROOT/src` and checks it against {@linkcode LAYER_TABLE}.
 *
 * @example
 * ```ts
 * import { checkTree } from "./check_layers.ts";
 * if ((await checkTree(".")).length > 0) Deno.exit(1);
 * ```
 */
export async function checkTree(
  root: string,
  table: readonly Layer[] = LAYER_TABLE,
): Promise<Problem[]> {
  const files = new Map<string, string>();
  for (const path of await sourceFiles(root, "src")) {
    files.set(path, await Deno.readTextFile(`${root}/${path}`));
  }
  const folders = new Set([...files.keys()].map((path) => path.split("/")[1]));
  return layerProblems(folderEdges(files), table, folders);
}

/**
 * The problems as lines for a terminal: each problem, then each edge at fault and the imports
 * that make it.
 *
 * @example
 * ```ts
 * import { checkTree, formatProblems } from "./check_layers.ts";
 * console.log(formatProblems(await checkTree(".")));
 * ```
 */
export function formatProblems(problems: Problem[]): string {
  return problems.flatMap((problem) => [
    `${problem.kind}: ${problem.message}`,
    ...problem.edges.flatMap((edge) => [
      `  ${edge.from}/ → ${edge.to}/`,
      ...edge.imports.map((line) => `    ${line}`),
    ]),
  ]).join("\n");
}

if (import.meta.main) {
  const problems = await checkTree(Deno.args[0] ?? ".");
  if (problems.length > 0) {
    console.error(formatProblems(problems));
    console.error(
      `check_layers: ${problems.length} problem${problems.length === 1 ? "" : "s"}; ` +
        "the layers are in LAYER_TABLE of scripts/check_layers.ts",
    );
    Deno.exit(1);
  }
}
