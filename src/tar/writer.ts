/**
 * The deterministic tar writer. It writes ustar headers that are
 * byte-identical to GNU tar's `--format=ustar --owner=0 --group=0
 * --numeric-owner`, and a PAX extended header only where ustar cannot hold a
 * name, a link target or a size.
 *
 * @example
 * ```ts
 * import { tarStream } from "./writer.ts";
 * const bytes = new TextEncoder().encode("hello\n");
 * const entries = [
 *   { name: "app/", type: "directory", mode: 0o755 },
 *   { name: "app/hi.txt", type: "file", mode: 0o644, size: bytes.length, body: () => [bytes] },
 * ] as const;
 * let total = 0;
 * for await (const chunk of tarStream(entries, { mtime: 0 })) total += chunk.length;
 * console.log(total); // 2048: two headers, one data block, two zero blocks
 * ```
 * @module
 */
import { UnsafeContentError } from "../errors/mod.ts";

/** The tar block size. */
export const BLOCK_SIZE = 512;

/** One entry to write. Names use "/" and carry no leading "/" or "./". */
export interface TarEntry {
  /** The path inside the archive; directories end with "/". */
  readonly name: string;
  /** What the entry is. Hard links are written as files. */
  readonly type: "file" | "directory" | "symlink";
  /** Permission bits only (0o7777 at most). */
  readonly mode: number;
  /** The content size for files. */
  readonly size?: number;
  /** The target of a symlink, unchanged. */
  readonly linkTarget?: string;
  /** The content of a file: must yield exactly `size` bytes. */
  readonly body?: () => AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

/** Options of {@linkcode tarStream}. */
export interface TarOptions {
  /** The modification time of every entry, in seconds since the epoch. */
  mtime: number;
}

const encoder = new TextEncoder();
/** The empty prefix or link of a header: read from, never yielded. */
const NO_BYTES = new Uint8Array();
const NAME_FIELD = 100;
const PREFIX_FIELD = 155;
/** The largest size an 11-digit octal field holds: 8 GiB - 1. */
const MAX_OCTAL_SIZE = 0o77777777777;
const TYPE_FLAG = { file: "0", symlink: "2", directory: "5" } as const;

/**
 * Serialises entries as a tar stream: for each entry its header (preceded by a
 * PAX header when needed), its content and the padding to 512 bytes; then two
 * zero blocks. No record padding follows, as with GNU tar's `--blocking-factor=1`. The
 * chunks are for reading: the paddings of all entries are views of one block of zeros, the
 * stream's own, so that a caller who writes into one changes no other stream.
 *
 * @throws {UnsafeContentError} when a file's content is not exactly its size.
 * @example
 * ```ts
 * import { tarStream } from "./writer.ts";
 * const chunks = await Array.fromAsync(tarStream([], { mtime: 0 })); // two zero blocks
 * ```
 */
export async function* tarStream(
  entries: AsyncIterable<TarEntry> | Iterable<TarEntry>,
  options: TarOptions,
): AsyncGenerator<Uint8Array> {
  const zeros = new Uint8Array(BLOCK_SIZE);
  for await (const entry of entries) {
    for (const header of entryHeaders(entry, options.mtime)) yield header;
    if (entry.type !== "file" || !entry.size) continue;
    let written = 0;
    for await (const chunk of entry.body?.() ?? []) {
      written += chunk.byteLength;
      if (written > entry.size) break;
      yield chunk;
    }
    if (written !== entry.size) {
      throw new UnsafeContentError(
        `${entry.name} changed while it was read: expected ${entry.size} bytes, got ${
          written > entry.size ? "more" : written
        }`,
      );
    }
    const padding = (BLOCK_SIZE - (entry.size % BLOCK_SIZE)) % BLOCK_SIZE;
    if (padding) yield zeros.subarray(0, padding);
  }
  yield new Uint8Array(2 * BLOCK_SIZE);
}

/** The header block(s) of one entry: a PAX header when ustar cannot hold it, then ustar. */
function entryHeaders(entry: TarEntry, mtime: number): Uint8Array[] {
  const name = encoder.encode(entry.name);
  const link = entry.linkTarget === undefined ? NO_BYTES : encoder.encode(entry.linkTarget);
  const size = entry.type === "file" ? entry.size ?? 0 : 0;
  const split = splitName(name);
  const pax: [string, string][] = [];
  if (!split) pax.push(["path", entry.name]);
  if (link.length > NAME_FIELD) pax.push(["linkpath", entry.linkTarget!]);
  if (size > MAX_OCTAL_SIZE) pax.push(["size", String(size)]);

  const header = ustarHeader({
    name: split?.name ?? truncateUtf8(name, NAME_FIELD),
    prefix: split?.prefix ?? NO_BYTES,
    mode: entry.mode,
    size: size > MAX_OCTAL_SIZE ? 0 : size,
    mtime,
    type: TYPE_FLAG[entry.type],
    link: link.length > NAME_FIELD ? truncateUtf8(link, NAME_FIELD) : link,
  });
  if (pax.length === 0) return [header];
  const records = encoder.encode(pax.map(([key, value]) => paxRecord(key, value)).join(""));
  const baseName = entry.name.replace(/\/$/, "").split("/").pop()!;
  const paxHeader = ustarHeader({
    // A fixed name keeps the archive deterministic (GNU tar puts its pid here).
    name: truncateUtf8(encoder.encode(`PaxHeaders/${baseName}`), NAME_FIELD),
    prefix: new Uint8Array(),
    mode: 0o644,
    size: records.length,
    mtime,
    type: "x",
    link: new Uint8Array(),
  });
  const body = new Uint8Array(Math.ceil(records.length / BLOCK_SIZE) * BLOCK_SIZE);
  body.set(records);
  return [paxHeader, body, header];
}

/**
 * Splits a long name into ustar's prefix and name fields the way GNU tar does:
 * at the last "/" that leaves a prefix of at most 155 bytes, provided the rest
 * is 1 to 100 bytes. Returns undefined when no split fits, so PAX is needed.
 */
function splitName(name: Uint8Array): { name: Uint8Array; prefix: Uint8Array } | undefined {
  if (name.length <= NAME_FIELD) return { name, prefix: NO_BYTES };
  if (name.length > PREFIX_FIELD + NAME_FIELD + 1) return undefined;
  const slash = 0x2f;
  let end = Math.min(name.length, PREFIX_FIELD + 1);
  if (end === name.length && name[end - 1] === slash) end--;
  let i = end - 1;
  while (i > 0 && name[i] !== slash) i--;
  const rest = name.length - i - 1;
  if (i === 0 || rest > NAME_FIELD || rest === 0) return undefined;
  return { prefix: name.subarray(0, i), name: name.subarray(i + 1) };
}

/** One PAX record: "<length> <key>=<value>\n", where length counts itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLength = encoder.encode(body).length;
  let length = bodyLength + String(bodyLength).length;
  if (String(length).length + bodyLength !== length) length++;
  return `${length}${body}`;
}

/** Cuts bytes to at most `max` without splitting a UTF-8 sequence. */
function truncateUtf8(bytes: Uint8Array, max: number): Uint8Array {
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

interface HeaderFields {
  name: Uint8Array;
  prefix: Uint8Array;
  mode: number;
  size: number;
  mtime: number;
  type: string;
  link: Uint8Array;
}

/** "ustar\0" and version "00": the magic of a POSIX ustar header. */
const USTAR_MAGIC = encoder.encode("ustar\x0000");

/** Builds one 512-byte ustar header with GNU tar's field formatting. */
function ustarHeader(fields: HeaderFields): Uint8Array {
  const block = new Uint8Array(BLOCK_SIZE);
  block.set(fields.name, 0);
  writeOctal(block, 100, 8, fields.mode);
  writeOctal(block, 108, 8, 0); // uid
  writeOctal(block, 116, 8, 0); // gid
  writeOctal(block, 124, 12, fields.size);
  writeOctal(block, 136, 12, fields.mtime);
  block.fill(0x20, 148, 156); // checksum field counts as spaces
  block[156] = fields.type.charCodeAt(0);
  block.set(fields.link, 157);
  block.set(USTAR_MAGIC, 257);
  // uname (265) and gname (297) stay empty, as with GNU tar --numeric-owner.
  writeOctal(block, 329, 8, 0); // devmajor
  writeOctal(block, 337, 8, 0); // devminor
  block.set(fields.prefix, 345);
  let sum = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) sum += block[i];
  // GNU tar writes six digits, a NUL and a space.
  writeOctal(block, 148, 7, sum);
  block[154] = 0;
  return block;
}

/**
 * Writes `value` as zero-padded octal that fills the field but its final NUL. Digits are
 * written as bytes: a header has seven such fields, and a layer thousands of headers.
 */
function writeOctal(block: Uint8Array, offset: number, width: number, value: number): void {
  let rest = value;
  for (let i = offset + width - 2; i >= offset; i--) {
    block[i] = 0x30 + (rest % 8);
    rest = Math.floor(rest / 8);
  }
}
