import assert from "node:assert/strict";
import { utf8Order } from "./walk.ts";

/** The order GNU tar's --sort=name gives: strcmp of the UTF-8 bytes, computed the long way. */
function byUtf8Bytes(a: string, b: string): number {
  const [x, y] = [new TextEncoder().encode(a), new TextEncoder().encode(b)];
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

Deno.test("utf8Order sorts names as the bytes of their UTF-8 do, astral and private-use included", () => {
  // Characters on every side of the boundaries where UTF-16 and UTF-8 orders part.
  const alphabet = ["a", "Z", "\u00e9", "\u07ff", "\u0800", "\ud7ff", "\ue000", "\uff21", "\uffff"]
    .concat(["\u{10000}", "\u{1F600}", "\u{10FFFF}"]);
  let seed = 7;
  const random = () => (seed = (seed * 48271) % 0x7fffffff) / 0x7fffffff;
  const names = Array.from(
    { length: 2000 },
    () =>
      Array.from(
        { length: 1 + Math.floor(random() * 4) },
        () => alphabet[Math.floor(random() * alphabet.length)],
      ).join(""),
  );
  assert.deepEqual([...names].sort(utf8Order), [...names].sort(byUtf8Bytes));
  assert.deepEqual(["\u{1F600}", "\uff21", "b", "ab", "a"].sort(utf8Order), [
    "a",
    "ab",
    "b",
    "\uff21",
    "\u{1F600}",
  ]);
});
