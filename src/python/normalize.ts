/**
 * Removes from an installer's output what differs between machines and runs,
 * so that the same requirements give the same layer:
 *
 * 1. `__pycache__` folders and `*.pyc` files, wherever they are: bytecode
 *    embeds source mtimes and the interpreter's build.
 * 2. `*.dist-info/direct_url.json`: it records the absolute path or URL that
 *    a package was installed from.
 * 3. In each `*.dist-info/RECORD`, the lines that name a file removed by 1 or
 *    2. pip writes console scripts there as `../../bin/NAME` when it installs
 *    with `--target`; such `../` paths are read as `bin/NAME`.
 * 4. Console scripts in `bin/` whose shebang names an absolute Python
 *    (`#!/home/ci/venv/bin/python3`, or pip's `#!/bin/sh` + `'''exec'`
 *    trampoline for long paths) start with `#!/usr/bin/env python3` instead,
 *    and their RECORD lines get the new hash and size.
 *
 * File modes, owners and mtimes need no rule: packing fixes them.
 *
 * @example
 * ```ts
 * import { normalizeInstall } from "./normalize.ts";
 * const changes = await normalizeInstall("/tmp/staging");
 * console.log(changes.removed.length, changes.shebangs);
 * ```
 * @module
 */
import { createHash } from "node:crypto";

/** The shebang that console scripts get: the image's own python3, found on PATH. */
export const PORTABLE_SHEBANG = "#!/usr/bin/env python3";

/** What {@linkcode normalizeInstall} changed, as paths relative to the root. */
export interface NormalizeResult {
  /** Files removed (a removed folder's files each count). */
  removed: string[];
  /** Console scripts whose shebang was rewritten. */
  shebangs: string[];
}

/**
 * Applies the rules of this module to an installer's target folder, in place.
 *
 * @example
 * ```ts
 * import { normalizeInstall } from "./normalize.ts";
 * await normalizeInstall("/tmp/staging");
 * ```
 */
export async function normalizeInstall(root: string): Promise<NormalizeResult> {
  const removed: string[] = [];
  await removeBytecode(root, "", removed);
  const records: string[] = [];
  for await (const entry of Deno.readDir(root)) {
    if (!entry.isDirectory || !entry.name.endsWith(".dist-info")) continue;
    const directUrl = `${entry.name}/direct_url.json`;
    if (await Deno.remove(`${root}/${directUrl}`).then(() => true, () => false)) {
      removed.push(directUrl);
    }
    records.push(`${entry.name}/RECORD`);
  }
  const shebangs = await rewriteShebangs(root);
  const rewritten = new Map<string, Uint8Array>();
  for (const script of shebangs) rewritten.set(script, await Deno.readFile(`${root}/${script}`));
  for (const record of records.sort()) {
    await fixRecord(`${root}/${record}`, new Set(removed), rewritten);
  }
  return { removed: removed.sort(), shebangs };
}

async function removeBytecode(root: string, relative: string, removed: string[]): Promise<void> {
  const dir = relative ? `${root}/${relative}` : root;
  for await (const entry of Deno.readDir(dir)) {
    const path = relative ? `${relative}/${entry.name}` : entry.name;
    if (entry.isDirectory && entry.name === "__pycache__") {
      await listFiles(root, path, removed);
      await Deno.remove(`${root}/${path}`, { recursive: true });
    } else if (entry.isDirectory) {
      await removeBytecode(root, path, removed);
    } else if (entry.name.endsWith(".pyc")) {
      await Deno.remove(`${root}/${path}`);
      removed.push(path);
    }
  }
}

async function listFiles(root: string, relative: string, into: string[]): Promise<void> {
  for await (const entry of Deno.readDir(`${root}/${relative}`)) {
    const path = `${relative}/${entry.name}`;
    if (entry.isDirectory) await listFiles(root, path, into);
    else into.push(path);
  }
}

/** A first line that runs an absolute Python, with optional flags. */
const ABSOLUTE_PYTHON = /^#!\s*\/\S*\/python[0-9.]*w?(\s.*)?$/;
/** pip's trampoline for interpreter paths too long or spaced for a shebang. */
const TRAMPOLINE = /^#!\/bin\/sh\n'''exec' .*\n' '''\n/;

async function rewriteShebangs(root: string): Promise<string[]> {
  const rewritten: string[] = [];
  const bin = `${root}/bin`;
  const entries = await Array.fromAsync(Deno.readDir(bin)).catch(() => []);
  for (const entry of entries.sort((a, b) => a.name < b.name ? -1 : 1)) {
    if (!entry.isFile) continue;
    const path = `${bin}/${entry.name}`;
    const text = new TextDecoder().decode(await Deno.readFile(path));
    const newline = text.indexOf("\n");
    let body: string | undefined;
    const trampoline = TRAMPOLINE.exec(text);
    if (trampoline) body = text.slice(trampoline[0].length);
    else if (newline > 0 && ABSOLUTE_PYTHON.test(text.slice(0, newline))) {
      body = text.slice(newline + 1);
    }
    if (body === undefined) continue;
    await Deno.writeTextFile(path, `${PORTABLE_SHEBANG}\n${body}`);
    rewritten.push(`bin/${entry.name}`);
  }
  return rewritten;
}

/** Drops RECORD rows of removed files and re-hashes rewritten scripts' rows. */
async function fixRecord(
  path: string,
  removed: Set<string>,
  rewritten: Map<string, Uint8Array>,
): Promise<void> {
  const text = await Deno.readTextFile(path);
  const rows = text.split("\n");
  const kept: string[] = [];
  for (const row of rows) {
    const field = firstCsvField(row);
    const file = field === undefined ? undefined : recordPath(field.value);
    if (file !== undefined && removed.has(file)) continue;
    const bytes = file === undefined ? undefined : rewritten.get(file);
    kept.push(
      bytes && field ? `${field.raw},sha256=${recordHash(bytes)},${bytes.length}` : row,
    );
  }
  const updated = kept.join("\n");
  if (updated !== text) await Deno.writeTextFile(path, updated);
}

/** A RECORD hash: sha256, URL-safe base64 without padding (PEP 376, PEP 427). */
function recordHash(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("base64url");
}

/** A RECORD path relative to the install root: `../../bin/NAME` is `bin/NAME`. */
function recordPath(path: string): string {
  return path.replace(/^(\.\.\/)+/, "");
}

/** The first field of a CSV row, its raw text and its value (pip quotes paths with commas). */
function firstCsvField(row: string): { raw: string; value: string } | undefined {
  if (row === "") return undefined;
  if (!row.startsWith('"')) {
    const comma = row.indexOf(",");
    const raw = comma < 0 ? row : row.slice(0, comma);
    return { raw, value: raw };
  }
  let value = "";
  for (let i = 1; i < row.length; i++) {
    if (row[i] === '"' && row[i + 1] === '"') {
      value += '"';
      i++;
    } else if (row[i] === '"') {
      return { raw: row.slice(0, i + 1), value };
    } else {
      value += row[i];
    }
  }
  return undefined;
}
