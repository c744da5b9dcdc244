import assert from "node:assert/strict";
import { OcisyncError, UsageError } from "../errors/mod.ts";
import { posix } from "./fakes_test.ts";
import { jsonErrorPlace, readJsonObject, writeJsonObject } from "./json_file.ts";

const SECRET = "hunter2-Sekret";

Deno.test("jsonErrorPlace: the line and column of the first fault", () => {
  const cases: [string, string][] = [
    ['{"a": 1}', ""],
    ["[]", ""],
    [' \n{"a": [1, 2.5e3, true, false, null, "x\\u0041"]}\n', ""],
    ['{\n  "a": x\n}', " at line 2, column 8"],
    ['{"a": 1,, }', " at line 1, column 9"],
    ['{"a": 1,}', " at line 1, column 9"],
    ['{"a": 01}', " at line 1, column 8"],
    ['{"a": tru}', " at line 1, column 7"],
    ['{"a": 1} x', " at line 1, column 10"],
    ["{'a': 1}", " at line 1, column 2"],
    ['{"a": "\u0001"}', " at line 1, column 7"],
    ['{"auths": ', " (it ends too early)"],
    ["", " (it ends too early)"],
  ];
  for (const [text, place] of cases) assert.equal(jsonErrorPlace(text), place, text);
});

Deno.test("jsonErrorPlace agrees with JSON.parse on what is valid", () => {
  const samples = [
    "{}",
    '{"a":{"b":[{"c":-0.5E-2}]}}',
    '"text"',
    "12",
    "-",
    "1.",
    '{"a" 1}',
    '["a",]',
    '"\\x"',
    "nul",
    "[1 2]",
    '{"a":1}}',
  ];
  for (const text of samples) {
    let valid = true;
    try {
      JSON.parse(text);
    } catch {
      valid = false;
    }
    assert.equal(jsonErrorPlace(text) === "", valid, text);
  }
});

Deno.test("readJsonObject: missing is undefined; a BOM is skipped; other shapes are refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.equal(await readJsonObject(`${dir}/none.json`, "auth file"), undefined);
    assert.equal(await readJsonObject(`${dir}/none/deeper.json`, "auth file"), undefined);
    await Deno.writeTextFile(`${dir}/bom.json`, '\uFEFF{"auths": {}}');
    assert.deepEqual(await readJsonObject(`${dir}/bom.json`, "auth file"), { auths: {} });
    for (const text of ["[]", "null", '"x"', "1"]) {
      await Deno.writeTextFile(`${dir}/shape.json`, text);
      await assert.rejects(readJsonObject(`${dir}/shape.json`, "Docker config"), (error) => {
        assert.ok(error instanceof UsageError);
        assert.equal(
          error.message,
          `malformed Docker config ${dir}/shape.json: it must contain a JSON object`,
        );
        return true;
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readJsonObject: a syntax error names the place, never the text", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/auth.json`;
    // V8's own message would quote the text around the fault: the password.
    await Deno.writeTextFile(path, `{\n  "auths": {"x": {"password": ${SECRET}}}\n}`);
    await assert.rejects(readJsonObject(path, "auth file"), (error) => {
      assert.ok(error instanceof UsageError);
      assert.equal(
        error.message,
        `malformed auth file ${path}: it is not valid JSON at line 2, column 31`,
      );
      assert.equal(error.cause, undefined);
      return true;
    });
    // A folder where the file should be is an error of its own, not "malformed".
    await Deno.mkdir(`${dir}/folder.json`);
    await assert.rejects(readJsonObject(`${dir}/folder.json`, "auth file"), (error) => {
      assert.ok(error instanceof OcisyncError && !(error instanceof UsageError));
      assert.match(error.message, /^cannot read auth file .*folder\.json/);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "writeJsonObject: tabs, mode 0600 in a 0700 folder, through a symlink",
  ignore: !posix,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/new/config.json`;
      await writeJsonObject(path, { auths: { a: {} } });
      assert.equal(await Deno.readTextFile(path), '{\n\t"auths": {\n\t\t"a": {}\n\t}\n}\n');
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(`${dir}/new`)).mode! & 0o777, 0o700);
      await Deno.writeTextFile(`${dir}/real.json`, "{}", { mode: 0o644 });
      await Deno.chmod(`${dir}/real.json`, 0o644);
      await Deno.symlink(`${dir}/real.json`, `${dir}/link.json`);
      await writeJsonObject(`${dir}/link.json`, { x: 1 });
      assert.ok((await Deno.lstat(`${dir}/link.json`)).isSymlink);
      assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/real.json`)), { x: 1 });
      assert.equal((await Deno.stat(`${dir}/real.json`)).mode! & 0o777, 0o600);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
