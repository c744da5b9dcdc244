/** Strict base64 and PEM. */
import assert from "node:assert/strict";
import { decodeBase64, parsePem, toPem } from "./encoding.ts";

Deno.test("encoding: only canonical, padded base64 decodes", () => {
  assert.deepEqual(decodeBase64("AQID"), new Uint8Array([1, 2, 3]));
  assert.deepEqual(decodeBase64(""), new Uint8Array());
  for (const bad of ["AQI", "AQ==AQ==", "AQ=", "!!!!", "AQ\nID", "AR==", "AQ-_"]) {
    assert.equal(decodeBase64(bad), undefined, bad);
  }
});

Deno.test("encoding: PEM round-trips and mismatched labels are refused", () => {
  const der = new Uint8Array(100).map((_, i) => i);
  const pem = toPem("PUBLIC KEY", der);
  assert.ok(pem.split("\n").every((line) => line.length <= 64));
  assert.deepEqual(parsePem(pem), [{ label: "PUBLIC KEY", der }]);
  assert.equal(parsePem(pem.replace("END PUBLIC", "END PRIVATE")), undefined);
  assert.deepEqual(parsePem("nothing here"), []);
});
