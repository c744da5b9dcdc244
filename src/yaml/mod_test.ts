/** The YAML parser's own failures on hostile nesting become the file's usage error. */
import assert from "node:assert/strict";
import { UsageError } from "../errors/mod.ts";
import { parseYamlDocument } from "./mod.ts";

/** Texts whose nesting runs the parser's recursion out of stack, whatever the stack's size. */
const HOSTILE = {
  "a line of 100,000 [": `image: ${"[".repeat(100_000)}\n`,
  "50,000 nested flow maps": `image: ${"{a: ".repeat(50_000)}\n`,
};

for (const [name, text] of Object.entries(HOSTILE)) {
  Deno.test(`parseYamlDocument: ${name} is the file's usage error`, () => {
    assert.throws(() => parseYamlDocument(text, "sync.yaml"), (error: Error) => {
      assert.ok(error instanceof UsageError, String(error));
      assert.match(error.message, /^sync\.yaml: cannot be read as YAML: it nests too deeply/);
      return true;
    });
  });
}

Deno.test("parseYamlDocument: a plain document parses, its errors kept in it", () => {
  assert.equal(parseYamlDocument("a: 1\n", "x.yaml").errors.length, 0);
  assert.equal(parseYamlDocument("a: [1\n", "x.yaml").errors.length > 0, true);
});
