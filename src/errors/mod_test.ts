import assert from "node:assert/strict";
import { cutText, QUOTE_LIMIT, quoteRemote, redactSecrets, stringifyJson } from "./mod.ts";

Deno.test("cutText: cuts by code point, an ellipsis marking the cut", () => {
  assert.equal(cutText("x".repeat(QUOTE_LIMIT)), "x".repeat(QUOTE_LIMIT));
  assert.equal(cutText("x".repeat(QUOTE_LIMIT + 1)), `${"x".repeat(QUOTE_LIMIT - 1)}…`);
  // Surrogate pairs count as one character each, and are never split.
  assert.equal(cutText("😀".repeat(QUOTE_LIMIT)), "😀".repeat(QUOTE_LIMIT));
  assert.equal(cutText("😀".repeat(QUOTE_LIMIT + 1)), `${"😀".repeat(QUOTE_LIMIT - 1)}…`);
  assert.equal(cutText(`${"x".repeat(7)}😀😀`, 8), `${"x".repeat(7)}…`);
  assert.equal(cutText(`${"x".repeat(6)}😀😀`, 8), `${"x".repeat(6)}😀😀`);
  // A tag of 16 MiB, as a hostile registry lists one: the quote is as short as any other.
  assert.equal(cutText("a".repeat(16 * 1024 * 1024), 10), `${"a".repeat(9)}…`);
});

Deno.test("quoteRemote: folds onto one line, then cuts", () => {
  assert.equal(quoteRemote("v1\r\nocisync: pulled\x1b[2K"), "v1 ocisync: pulled\\x1b[2K");
  assert.equal(quoteRemote(`${"\n".repeat(500)}${"y".repeat(300)}`, 5), "yyyy…");
});

Deno.test("stringifyJson: every code unit parses back, and none that breaks a line stands raw", () => {
  const every = Array.from({ length: 0x10000 }, (_, code) => String.fromCharCode(code)).join("");
  const text = stringifyJson({ every }, 2);
  assert.deepEqual(JSON.parse(text), { every });
  assert.doesNotMatch(
    text.replaceAll("\n  ", "").replace(/\n}$/, "}"),
    // deno-lint-ignore no-control-regex -- the characters are what must not stand raw
    /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/,
  );
});

Deno.test("redactSecrets: a secret as sent, in a JSON string, and URL- or form-encoded", () => {
  const secret = 'pä/ss+wörd="1" &x';
  const echoes = [
    secret,
    JSON.stringify(secret).slice(1, -1),
    encodeURIComponent(secret),
    new URLSearchParams({ refresh_token: secret }).toString().split("=").slice(1).join("="),
  ];
  for (const echo of echoes) {
    assert.equal(redactSecrets(`refused ${echo}.`, [secret]), "refused ***.", echo);
  }
});
