/**
 * Keys for cosign-style signatures: EC P-256 public keys (PEM `PUBLIC KEY`, SPKI) and private
 * keys in the three forms cosign users have: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`),
 * and cosign's own password-encrypted file (`ENCRYPTED SIGSTORE PRIVATE KEY`, or the older
 * `ENCRYPTED COSIGN PRIVATE KEY`), which `cosign generate-key-pair` writes.
 *
 * Signatures are ECDSA over SHA-256, ASN.1 DER-encoded, as cosign writes and reads them.
 *
 * The encrypted format is go-securesystemslib's `encrypted` package: a JSON document
 * `{"kdf":{"name":"scrypt","params":{"N","r","p"},"salt"},"cipher":{"name":"nacl/secretbox",
 * "nonce"},"ciphertext"}` (byte fields base64), whose key is scrypt(password, salt, 32 bytes)
 * and whose plaintext is the PKCS#8 DER of the key. Neither scrypt's parameters as cosign uses
 * scrypt comes from `node:crypto` (built into Deno, native, and checked in the tests against
 * Python's `cryptography`). NaCl's secretbox (XSalsa20-Poly1305) is in neither WebCrypto nor
 * `node:crypto`, so it comes from `tweetnacl`, the dependency-free port of NaCl, audited by
 * Cure53 in 2017 and unchanged in substance since. Writing it ourselves would mean owning a
 * stream cipher and a MAC whose bugs fail open (a compare that is not constant-time, a wrong
 * subkey derivation) and that a test round-tripping our own output could not catch.
 *
 * @example
 * ```ts
 * import { parsePrivateKey, signBytes, verifyBytes } from "./keys.ts";
 * const key = await parsePrivateKey(await Deno.readTextFile("cosign.key"), { password: "pw" });
 * const data = new TextEncoder().encode("hello");
 * const signature = signBytes(key, data);
 * console.log(verifyBytes(key.publicKey, data, signature)); // true
 * ```
 * @module
 */
import {
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  scrypt,
  sign,
  verify,
} from "node:crypto";
import { Buffer } from "node:buffer";
import { sha256Digest } from "../digest/mod.ts";
import type { Digest } from "../digest/mod.ts";
import { isJsonObject } from "../oci/types.ts";
import { decodeBase64, parsePem, toPem } from "./encoding.ts";
import { KeyError } from "./errors.ts";

/** The PEM label of cosign's encrypted private keys since v2. */
export const SIGSTORE_PRIVATE_KEY_LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY";
/** The PEM label of cosign's encrypted private keys before v2; still read. */
export const COSIGN_PRIVATE_KEY_LABEL = "ENCRYPTED COSIGN PRIVATE KEY";
/** The environment variable cosign reads the private key's password from. */
export const PASSWORD_VARIABLE = "COSIGN_PASSWORD";

/** An EC P-256 public key, with what a report shows of it. */
export interface PublicKey {
  /** The key, for `node:crypto`. */
  readonly keyObject: KeyObject;
  /** The DER SubjectPublicKeyInfo. */
  readonly spki: Uint8Array;
  /** `sha256:` of the DER SubjectPublicKeyInfo: names the key in reports. */
  readonly fingerprint: Digest;
  /** The key as PEM, as `cosign public-key` prints it. */
  readonly pem: string;
}

/** An EC P-256 private key and its public key. */
export interface PrivateKey {
  /** The key, for `node:crypto`. */
  readonly keyObject: KeyObject;
  /** Its public half. */
  readonly publicKey: PublicKey;
  /** Whether its file held it encrypted (cosign's form), rather than in the clear. */
  readonly encrypted: boolean;
}

/** Options of {@linkcode parsePrivateKey}. */
export interface PrivateKeyOptions {
  /**
   * The password of an encrypted key. When it is not given, `COSIGN_PASSWORD` is read, as
   * cosign does; an empty value is a valid (empty) password.
   */
  password?: string;
  /** Names the key in messages, e.g. its path. Default `the key`. */
  name?: string;
}

/**
 * Reads a PEM public key: SPKI (`-----BEGIN PUBLIC KEY-----`), EC P-256.
 *
 * @throws {KeyError} when the text holds no such key, or another kind of key.
 * @example
 * ```ts
 * import { parsePublicKey } from "./keys.ts";
 * const key = parsePublicKey(await Deno.readTextFile("cosign.pub"));
 * console.log(key.fingerprint);
 * ```
 */
export function parsePublicKey(pem: string, name = "the key"): PublicKey {
  const blocks = parsePem(pem);
  const block = blocks?.find((b) => b.label === "PUBLIC KEY");
  if (!block) {
    throw new KeyError(`${name} is not a PEM public key`, {
      hint: "give the PEM file that `cosign generate-key-pair` wrote as cosign.pub",
    });
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({ key: toBuffer(block.der), format: "der", type: "spki" });
  } catch (error) {
    throw new KeyError(`${name} is not a valid public key`, { cause: error });
  }
  return describePublic(checkP256(keyObject, name));
}

/**
 * Reads a PEM private key: PKCS#8, SEC1, or cosign's encrypted form. The password of an encrypted
 * key is `options.password`, else `COSIGN_PASSWORD`.
 *
 * @throws {KeyError} when the text holds no private key, another kind of key, an encrypted key
 * and no password, or the password is wrong.
 * @example
 * ```ts
 * import { parsePrivateKey } from "./keys.ts";
 * const key = await parsePrivateKey(await Deno.readTextFile("cosign.key"), { name: "cosign.key" });
 * console.log(key.publicKey.pem);
 * ```
 */
export async function parsePrivateKey(
  pem: string,
  options: PrivateKeyOptions = {},
): Promise<PrivateKey> {
  const name = options.name ?? "the key";
  const blocks = parsePem(pem);
  const block = blocks?.find((b) => PRIVATE_LABELS.includes(b.label));
  if (!block) {
    throw new KeyError(`${name} is not a PEM private key`, {
      hint: "give a PKCS#8, an EC (SEC1) or a cosign-encrypted private key in PEM",
    });
  }
  let der = block.der;
  let type: "pkcs8" | "sec1" = block.label === "EC PRIVATE KEY" ? "sec1" : "pkcs8";
  const encrypted = block.label === SIGSTORE_PRIVATE_KEY_LABEL ||
    block.label === COSIGN_PRIVATE_KEY_LABEL;
  if (encrypted) {
    der = await decryptCosignKey(block.der, passwordFor(options, name), name);
    type = "pkcs8";
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey({ key: toBuffer(der), format: "der", type });
  } catch (error) {
    throw new KeyError(`${name} is not a valid ${type === "sec1" ? "EC" : "PKCS#8"} private key`, {
      cause: error,
    });
  }
  checkP256(keyObject, name);
  return { keyObject, publicKey: describePublic(createPublicKey(keyObject)), encrypted };
}

/**
 * Signs bytes: ECDSA P-256 over SHA-256, DER-encoded, as cosign's signatures are.
 *
 * @example
 * ```ts
 * import { parsePrivateKey, signBytes } from "./keys.ts";
 * const key = await parsePrivateKey(await Deno.readTextFile("ec.pem"));
 * const signature = signBytes(key, new TextEncoder().encode("payload"));
 * ```
 */
export function signBytes(key: PrivateKey, data: Uint8Array): Uint8Array {
  return new Uint8Array(sign("sha256", data, { key: key.keyObject, dsaEncoding: "der" }));
}

/**
 * Whether a DER ECDSA signature over SHA-256 of `data` verifies with `key`. Malformed
 * signatures are simply not valid.
 *
 * @example
 * ```ts
 * import { parsePublicKey, verifyBytes } from "./keys.ts";
 * const key = parsePublicKey(await Deno.readTextFile("cosign.pub"));
 * verifyBytes(key, new TextEncoder().encode("payload"), new Uint8Array(70)); // false
 * ```
 */
export function verifyBytes(key: PublicKey, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify("sha256", data, { key: key.keyObject, dsaEncoding: "der" }, signature);
  } catch {
    return false;
  }
}

/**
 * The public key of a DER SubjectPublicKeyInfo (as found in bundles and certificates).
 *
 * @throws {KeyError} when it is not an EC P-256 key.
 * @example
 * ```ts
 * import { publicKeyFromSpki } from "./keys.ts";
 * publicKeyFromSpki(new Uint8Array(91)); // throws KeyError: not a valid public key
 * ```
 */
export function publicKeyFromSpki(spki: Uint8Array, name = "the key"): PublicKey {
  try {
    const keyObject = createPublicKey({ key: toBuffer(spki), format: "der", type: "spki" });
    return describePublic(checkP256(keyObject, name));
  } catch (error) {
    if (error instanceof KeyError) throw error;
    throw new KeyError(`${name} is not a valid public key`, { cause: error });
  }
}

const PRIVATE_LABELS = [
  "PRIVATE KEY",
  "EC PRIVATE KEY",
  SIGSTORE_PRIVATE_KEY_LABEL,
  COSIGN_PRIVATE_KEY_LABEL,
];

// The scrypt parameters go-securesystemslib writes (legacy, standard, OWASP), and the only ones it
// reads: a key file from anywhere else could otherwise ask for gigabytes of memory.
const SCRYPT_PARAMS = [32768, 65536, 131072].map((N) => ({ N, r: 8, p: 1 }));
const NONCE_BYTES = 24;
/** NaCl secretbox's key length (`nacl.secretbox.keyLength`): scrypt derives this many bytes. */
const SECRETBOX_KEY_BYTES = 32;

/**
 * tweetnacl, loaded when an encrypted key is opened: the first npm package a run loads costs
 * 50 ms of start-up (Node's module loader), and `pull` and `verify` take public keys only.
 */
async function loadNacl() {
  // Full npm: specifier rather than an import-map name, so that this module imports as it is
  // from outside this repository (the lint rule assumes every consumer reads our deno.json).
  // deno-lint-ignore no-import-prefix
  return (await import("npm:tweetnacl@1.0.3")).default;
}

async function decryptCosignKey(
  body: Uint8Array,
  password: string,
  name: string,
): Promise<Uint8Array> {
  const malformed = (what: string) =>
    new KeyError(`${name} is not a valid encrypted cosign key: ${what}`);
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw malformed("not JSON");
  }
  if (!isJsonObject(doc) || !isJsonObject(doc.kdf) || !isJsonObject(doc.cipher)) {
    throw malformed("no kdf or cipher");
  }
  const { kdf, cipher } = doc;
  if (kdf.name !== "scrypt") throw malformed(`unknown kdf ${JSON.stringify(kdf.name)}`);
  if (cipher.name !== "nacl/secretbox") {
    throw malformed(`unknown cipher ${JSON.stringify(cipher.name)}`);
  }
  const params = isJsonObject(kdf.params) ? kdf.params : {};
  const chosen = SCRYPT_PARAMS.find((p) =>
    p.N === params.N && p.r === params.r && p.p === params.p
  );
  if (!chosen) throw malformed("unsupported scrypt parameters");
  const salt = typeof kdf.salt === "string" ? decodeBase64(kdf.salt) : undefined;
  const nonce = typeof cipher.nonce === "string" ? decodeBase64(cipher.nonce) : undefined;
  const ciphertext = typeof doc.ciphertext === "string" ? decodeBase64(doc.ciphertext) : undefined;
  if (!salt || !ciphertext || nonce?.length !== NONCE_BYTES) {
    throw malformed("salt, nonce or ciphertext missing or not base64");
  }
  const [nacl, secret] = await Promise.all([loadNacl(), scryptKey(password, salt, chosen)]);
  const plain = nacl.secretbox.open(ciphertext, nonce, secret);
  if (plain === null) {
    throw new KeyError(`${name}: wrong password (the key could not be decrypted)`, {
      hint: `set ${PASSWORD_VARIABLE} to the password given to \`cosign generate-key-pair\``,
    });
  }
  return plain;
}

/** scrypt through `node:crypto`, whose default memory cap (32 MiB) is below what N = 2^16 needs. */
function scryptKey(
  password: string,
  salt: Uint8Array,
  params: { N: number; r: number; p: number },
): Promise<Uint8Array> {
  const maxmem = 256 * params.N * params.r;
  return new Promise((resolve, reject) =>
    scrypt(password, salt, SECRETBOX_KEY_BYTES, { ...params, maxmem }, (error, key) => {
      if (error) reject(error);
      else resolve(new Uint8Array(key));
    })
  );
}

function passwordFor(options: PrivateKeyOptions, name: string): string {
  if (options.password !== undefined) return options.password;
  const fromEnv = Deno.env.get(PASSWORD_VARIABLE);
  if (fromEnv !== undefined) return fromEnv;
  throw new KeyError(`${name} is encrypted and no password was given`, {
    hint: `set ${PASSWORD_VARIABLE} (it may be empty)`,
  });
}

function checkP256(keyObject: KeyObject, name: string): KeyObject {
  const curve = keyObject.asymmetricKeyDetails?.namedCurve;
  if (keyObject.asymmetricKeyType !== "ec" || curve !== "prime256v1") {
    const kind = keyObject.asymmetricKeyType === "ec"
      ? `an EC ${curve} key`
      : `a ${keyObject.asymmetricKeyType} key`;
    throw new KeyError(`${name} is ${kind}: only ECDSA P-256 keys are supported`, {
      hint: "cosign generate-key-pair makes P-256 keys",
    });
  }
  return keyObject;
}

function describePublic(keyObject: KeyObject): PublicKey {
  const spki = new Uint8Array(keyObject.export({ format: "der", type: "spki" }));
  return {
    keyObject,
    spki,
    fingerprint: sha256Digest(spki),
    pem: toPem("PUBLIC KEY", spki),
  };
}

// node:crypto's types take a Buffer for DER; this view shares the bytes.
function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
