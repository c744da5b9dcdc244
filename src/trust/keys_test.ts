/**
 * Keys against a fixed vector made by Python's `cryptography` and PyNaCl: an EC P-256 key as
 * cosign's encrypted file (scrypt N=2^15, r=8, p=1, password "test"; the legacy parameters),
 * the same key as SEC1, its public key, and Python's signature over "hello".
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { KeyError } from "./errors.ts";
import { parsePrivateKey, parsePublicKey, signBytes, verifyBytes } from "./keys.ts";

const ENCRYPTED = `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjozMjc2OCwiciI6
OCwicCI6MX0sInNhbHQiOiJlT2JEWDVEMHJ1aWhvQ1BoQmthOVJtbHVVUXJSSXRE
WmtHTkVxS0M2K3hRPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJObnNndmZMK0JadndaTHVoT25EczlDM2FMSU1CQmFPZiJ9LCJj
aXBoZXJ0ZXh0IjoiV3BFY254dTZaNFdpOEQ5QlM5d2dVOGJvT2d3N0w5b0krQUxq
eXFsMThjeFI3aGdHYjdFblFudy9TbExtcnFMYUtDNzNJbjhKcWRiYUlKZGJNcmov
ZUJ5ZS9BSk1YdDVSMnRSVEZmL2N1VkxwWmNnK0FibmpjSHNyVTNJOVB1S29FTEJD
K29YbTZQY1Z5WUZxbHI5c3JpUGRTU09jWUdzQVlsaXNDOS85SDFyUGttbTkrcmp4
SnFZanN3VlMwTmxqWUtHeDhjVU1kNC9JMUE9PSJ9
-----END ENCRYPTED SIGSTORE PRIVATE KEY-----
`;
const PUBLIC = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAENJDAlEXQd+LwlztIqA2sQ8uR6k30
hP3MFRxcyH8NAyQ78JoI/2mIReYPFzSfvxmxQb1kRFQar78z9gPS21mw6A==
-----END PUBLIC KEY-----
`;
const SEC1 = `-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIFSIWdxrvI1Yha/XZC1aFmp9D1d3SxwmaVPmF0914SJRoAoGCCqGSM49
AwEHoUQDQgAENJDAlEXQd+LwlztIqA2sQ8uR6k30hP3MFRxcyH8NAyQ78JoI/2mI
ReYPFzSfvxmxQb1kRFQar78z9gPS21mw6A==
-----END EC PRIVATE KEY-----
`;
const PYTHON_SIGNATURE_OF_HELLO =
  "MEQCIF6HKFFvU/hK+cZlHnTMJJC9T/PFL4y/WfZLEIyFESRTAiBuasYHNeb2kQX3ioDM/YVpiYlwFALO9RVD2IagBnhdwg==";
const FINGERPRINT = "sha256:ca1ed6f1f8b35242aa075ea6353c5475f9b23cfdd6a65952efa5a0015fdf2cff";

const hello = new TextEncoder().encode("hello");
const fromBase64 = (text: string) =>
  new Uint8Array(atob(text).split("").map((c) => c.charCodeAt(0)));

Deno.test("keys: Python's signature verifies with the public key; the fingerprint is its SPKI's", () => {
  const key = parsePublicKey(PUBLIC);
  assert.equal(key.fingerprint, FINGERPRINT);
  assert.equal(key.pem, PUBLIC);
  assert.ok(verifyBytes(key, hello, fromBase64(PYTHON_SIGNATURE_OF_HELLO)));
  assert.ok(
    !verifyBytes(key, new TextEncoder().encode("hellO"), fromBase64(PYTHON_SIGNATURE_OF_HELLO)),
  );
  assert.ok(!verifyBytes(key, hello, new Uint8Array([0x30, 0x02, 0x02, 0x00])));
});

Deno.test("keys: the cosign-encrypted key decrypts to the same key as its SEC1 form", async () => {
  const encrypted = await parsePrivateKey(ENCRYPTED, { password: "test" });
  const sec1 = await parsePrivateKey(SEC1);
  assert.equal(encrypted.publicKey.fingerprint, FINGERPRINT);
  assert.equal(sec1.publicKey.fingerprint, FINGERPRINT);
  const signature = signBytes(encrypted, hello);
  assert.ok(verifyBytes(parsePublicKey(PUBLIC), hello, signature));
  // DER: a SEQUENCE of two INTEGERs, at most 72 bytes for P-256.
  assert.equal(signature[0], 0x30);
  assert.ok(signature.length <= 72);
});

Deno.test("keys: a wrong password, a tampered ciphertext and odd scrypt parameters are refused", async () => {
  await assert.rejects(parsePrivateKey(ENCRYPTED, { password: "tesT" }), /wrong password/);
  const body = ENCRYPTED.split("\n").slice(1, -2).join("");
  const doc = JSON.parse(atob(body));
  const rewrap = (value: unknown) =>
    `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n${
      btoa(JSON.stringify(value))
    }\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n`;
  const flipped = fromBase64(doc.ciphertext);
  flipped[5] ^= 1;
  await assert.rejects(
    parsePrivateKey(rewrap({ ...doc, ciphertext: btoa(String.fromCharCode(...flipped)) }), {
      password: "test",
    }),
    /wrong password/,
  );
  await assert.rejects(
    parsePrivateKey(rewrap({ ...doc, kdf: { ...doc.kdf, params: { N: 1 << 24, r: 8, p: 1 } } }), {
      password: "test",
    }),
    /unsupported scrypt parameters/,
  );
  await assert.rejects(
    parsePrivateKey(rewrap({ ...doc, cipher: { ...doc.cipher, name: "aes" } }), {
      password: "test",
    }),
    KeyError,
  );
});

Deno.test("keys: text that is not a key is refused with a KeyError", async () => {
  await assert.rejects(parsePrivateKey("hello"), KeyError);
  await assert.rejects(parsePrivateKey(PUBLIC), /not a PEM private key/);
  assert.throws(() => parsePublicKey(SEC1), KeyError);
  const broken = PUBLIC.replace("MFkw", "MFkx");
  assert.throws(() => parsePublicKey(broken), KeyError);
  // The fingerprint is plain sha256 of the DER, as computed here.
  const der = fromBase64(PUBLIC.split("\n").slice(1, -2).join(""));
  assert.equal(FINGERPRINT, `sha256:${createHash("sha256").update(der).digest("hex")}`);
});
