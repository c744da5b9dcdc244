/**
 * Strict base64 and PEM, for bytes that arrive from registries and key files: a decoder that
 * accepts any junk would let two encodings stand for one signature, or hide a truncated key.
 *
 * @example
 * ```ts
 * import { decodeBase64, encodeBase64 } from "./encoding.ts";
 * decodeBase64(encodeBase64(new Uint8Array([1, 2, 3]))); // Uint8Array [1, 2, 3]
 * ```
 * @module
 */
import { Buffer } from "node:buffer";
import { isJsonObject } from "../oci/types.ts";

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes standard, padded base64 (RFC 4648 §4), refusing anything else, or `undefined`.
 *
 * @example
 * ```ts
 * import { decodeBase64 } from "./encoding.ts";
 * decodeBase64("AQID"); // Uint8Array [1, 2, 3]
 * decodeBase64("not base64!"); // undefined
 * ```
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (!BASE64.test(text)) return undefined;
  const bytes = new Uint8Array(Buffer.from(text, "base64"));
  // Non-zero padding bits give a second spelling of the same bytes: refused.
  return Buffer.from(bytes).toString("base64") === text ? bytes : undefined;
}

/**
 * Standard, padded base64.
 *
 * @example
 * ```ts
 * import { encodeBase64 } from "./encoding.ts";
 * encodeBase64(new TextEncoder().encode("hi")); // "aGk="
 * ```
 */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/**
 * Lowercase hex.
 *
 * @example
 * ```ts
 * import { encodeHex } from "./encoding.ts";
 * encodeHex(new Uint8Array([255])); // "ff"
 * ```
 */
export function encodeHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** One PEM block: its label and the DER bytes. */
export interface PemBlock {
  /** The label, e.g. `PUBLIC KEY` or `ENCRYPTED SIGSTORE PRIVATE KEY`. */
  label: string;
  /** The decoded body. */
  der: Uint8Array;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/**
 * The PEM blocks of a text, in order. Headers (`Proc-Type:`) are not supported: the keys that
 * carry them are OpenSSL's legacy encrypted keys, which cosign does not read either.
 *
 * @example
 * ```ts
 * import { parsePem } from "./encoding.ts";
 * parsePem("-----BEGIN X-----\nAQID\n-----END X-----\n"); // [{ label: "X", der: … }]
 * ```
 */
export function parsePem(text: string): PemBlock[] | undefined {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(PEM_BLOCK)) {
    if (match[1] !== match[3]) return undefined;
    const der = decodeBase64(match[2].replace(/\s+/g, ""));
    if (der === undefined || der.length === 0) return undefined;
    blocks.push({ label: match[1], der });
  }
  return blocks;
}

/**
 * One PEM block with its base64 wrapped at 64 characters, as Go's `encoding/pem` writes it.
 *
 * @example
 * ```ts
 * import { toPem } from "./encoding.ts";
 * toPem("PUBLIC KEY", new Uint8Array([1, 2, 3])); // "-----BEGIN PUBLIC KEY-----\nAQID\n…"
 * ```
 */
export function toPem(label: string, der: Uint8Array): string {
  const lines = encodeBase64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/**
 * Parses strict UTF-8 JSON that must be an object: a signed document (a bundle, a payload).
 * `malformed` makes the error thrown, from what is wrong (`not JSON`, `not a JSON object`).
 *
 * @throws the error `malformed` makes, when the bytes are not a JSON object.
 * @example
 * ```ts
 * import { decodeJsonObject } from "./encoding.ts";
 * decodeJsonObject(new TextEncoder().encode('{"a":1}'), (what) => new Error(what)); // { a: 1 }
 * ```
 */
export function decodeJsonObject(
  bytes: Uint8Array,
  malformed: (what: string) => Error,
): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw malformed("not JSON");
  }
  if (!isJsonObject(doc)) throw malformed("not a JSON object");
  return doc;
}
