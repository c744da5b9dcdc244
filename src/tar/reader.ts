/**
 * A streaming tar reader for layers written by any tool: ustar with its
 * prefix field, PAX extended headers, GNU long names and links, and base-256
 * numbers. Each entry's body must be read, or skipped, before the next entry.
 *
 * Corrupt input gives an {@linkcode UnsafeContentError}, never an untyped
 * exception, and no header field can make it allocate without bound. So does
 * a header that GNU tar, bsdtar, Python or Go would read otherwise (a PAX
 * number that is no plain decimal, GNU sparse records, a global header that
 * renames, content after a link or folder): a check of the entries read here
 * must judge the entries those tools extract. An entry no one can extract (a
 * NUL byte in its name, a link to nothing or to itself) is refused too.
 *
 * @example
 * ```ts
 * import { readTar } from "./reader.ts";
 * import { tarStream } from "./writer.ts";
 * for await (const entry of readTar(tarStream([{ name: "d/", type: "directory", mode: 0o755 }], { mtime: 0 }))) {
 *   console.log(entry.name, entry.type); // "d/" "directory"
 * }
 * ```
 * @module
 */
import { UnsafeContentError } from "../errors/mod.ts";
import { BLOCK_SIZE } from "./writer.ts";

/** What an entry is. Other types (devices, fifos) are reported as `other`. */
export type TarEntryType = "file" | "directory" | "symlink" | "hardlink" | "other";

/** One entry read from an archive. */
export interface TarReadEntry {
  /** The path as stored (after PAX and GNU long-name overrides). */
  name: string;
  /** What the entry is. */
  type: TarEntryType;
  /** The raw type flag, e.g. "0", "5", "3" for a character device. */
  typeFlag: string;
  /** Permission bits, including setuid, setgid and sticky as stored. */
  mode: number;
  /** The content size in bytes. */
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** The target of a symlink or hard link. */
  linkName: string;
  /** The content. Read it to the end, or leave it: the reader skips what is left. */
  body: AsyncIterable<Uint8Array>;
}

/** Extended-header records larger than this are refused: no layer needs them. */
const MAX_EXTENDED_HEADER = 1024 * 1024;
/**
 * The most extended-header bytes before one entry, all its headers together: the records of a
 * chain of `x` headers with different keys are all kept until the entry, so without this a
 * layer could fill memory 1 MiB at a time.
 */
const MAX_EXTENDED_HEADERS_PER_ENTRY = 4 * MAX_EXTENDED_HEADER;
const decoder = new TextDecoder();

/** Pulls exact byte counts out of a chunked stream. */
class ByteSource {
  #iterator: AsyncIterator<Uint8Array>;
  #buffer: Uint8Array = new Uint8Array(0);
  #offset = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#iterator = source[Symbol.asyncIterator]();
  }

  /** Up to `max` bytes (at least one), or undefined at the end of the stream. */
  async next(max: number): Promise<Uint8Array | undefined> {
    return this.take(max) ?? (await this.#fill() ? this.take(max) : undefined);
  }

  /** Up to `max` bytes already buffered, or undefined when none are. */
  take(max: number): Uint8Array | undefined {
    if (this.#offset >= this.#buffer.length) return undefined;
    const end = Math.min(this.#buffer.length, this.#offset + max);
    const chunk = this.#buffer.subarray(this.#offset, end);
    this.#offset = end;
    return chunk;
  }

  /** Reads the next non-empty chunk; false at the end of the stream. */
  async #fill(): Promise<boolean> {
    while (this.#offset >= this.#buffer.length) {
      const { value, done } = await this.#iterator.next();
      if (done) return false;
      this.#buffer = value;
      this.#offset = 0;
    }
    return true;
  }

  /** `n` bytes, or fewer when the stream ends first. */
  async upTo(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let filled = 0;
    for (let chunk; filled < n && (chunk = await this.next(n - filled));) {
      out.set(chunk, filled);
      filled += chunk.length;
    }
    return out.subarray(0, filled);
  }

  /** Exactly `n` bytes, or undefined when the stream ends first. */
  async exactly(n: number): Promise<Uint8Array | undefined> {
    if (this.#offset >= this.#buffer.length && !(await this.#fill())) return undefined;
    // Within one chunk, a view of it, as `next` gives: no chunk is written after it is read.
    if (this.#buffer.length - this.#offset >= n) return this.take(n);
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = await this.next(n - filled);
      if (!chunk) return truncated();
      out.set(chunk, filled);
      filled += chunk.length;
    }
    return out;
  }

  /** Skips `n` bytes; with `lenient`, the stream may end first. */
  async skip(n: number, lenient = false): Promise<void> {
    while (n > 0) {
      const chunk = this.take(n) ?? await this.next(n);
      if (!chunk) return lenient ? undefined : truncated();
      n -= chunk.length;
    }
  }
}

function truncated(): never {
  throw new UnsafeContentError("tar archive is truncated");
}

/**
 * The stream is not a tar archive at all: its first block is no tar header. Distinct from a
 * truncated or corrupt archive, so that a caller handed a file of another kind (a JSON file
 * given as a layer) can say so. It is an {@linkcode UnsafeContentError} like any unreadable
 * archive.
 *
 * @example
 * ```ts
 * import { NotTarError, readTar } from "./reader.ts";
 * const json = new TextEncoder().encode('{"not": "a tar"}');
 * try {
 *   await Array.fromAsync(readTar(ReadableStream.from([json])));
 * } catch (error) {
 *   console.log(error instanceof NotTarError); // true
 * }
 * ```
 */
export class NotTarError extends UnsafeContentError {
  /** What the first block showed instead, e.g. `its first 512 bytes are not a tar header`. */
  readonly reason: string;

  /** An error saying the stream is not a tar archive, and why. */
  constructor(reason: string) {
    super(`not a tar archive: ${reason}`);
    this.reason = reason;
  }
}

/**
 * The first header of an archive, or undefined for an empty stream. Its first block tells an
 * archive from other bytes: a tar header has a valid checksum, or at least the `ustar` magic of
 * a header that was cut short or damaged.
 */
async function firstHeader(input: ByteSource): Promise<Uint8Array | undefined> {
  const block = await input.upTo(BLOCK_SIZE);
  if (block.length === 0) return undefined;
  const magic = decoder.decode(block.subarray(257, 262)) === "ustar";
  if (block.length < BLOCK_SIZE) {
    if (magic) truncated();
    throw new NotTarError(`its ${block.length} bytes are less than one ${BLOCK_SIZE}-byte header`);
  }
  if (!magic && !block.every((b) => b === 0) && !checksumMatches(block)) {
    throw new NotTarError(`its first ${BLOCK_SIZE} bytes are not a tar header`);
  }
  return block;
}

/**
 * Reads the entries of a tar stream in order.
 *
 * @throws {NotTarError} when the first block is no tar header: the bytes are not an archive.
 * @throws {UnsafeContentError} on a bad checksum, a truncated archive, or a
 * malformed extended header.
 */
export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarReadEntry> {
  const input = new ByteSource(source);
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  /** Extended-header bytes read since the last entry. */
  let extended = 0;
  for (let first = true;; first = false) {
    const header = first ? await firstHeader(input) : await input.exactly(BLOCK_SIZE);
    if (!header || header.every((b) => b === 0)) return; // end: a zero block, or EOF
    verifyChecksum(header);
    const typeFlag = String.fromCharCode(header[156] || 0x30);
    const extendedHeader = typeFlag === "x" || typeFlag === "g" || typeFlag === "L" ||
      typeFlag === "K";
    // A PAX size is the next entry's: an extended header between them has its own, as GNU tar
    // and Python read it.
    const size = pax.size === undefined || extendedHeader
      ? readNumber(header, 124, 12)
      : Number(pax.size);
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new UnsafeContentError("tar entry has an invalid size");
    }
    const padded = Math.ceil(size / BLOCK_SIZE) * BLOCK_SIZE;

    if (extendedHeader) {
      if (size > MAX_EXTENDED_HEADER) {
        throw new UnsafeContentError(`tar extended header of ${size} bytes is over the limit`);
      }
      extended += size;
      if (extended > MAX_EXTENDED_HEADERS_PER_ENTRY) {
        throw new UnsafeContentError(
          `tar extended headers of more than ${MAX_EXTENDED_HEADERS_PER_ENTRY} bytes before ` +
            "one entry are over the limit",
        );
      }
      const data = (await input.exactly(padded)) ?? truncated();
      const content = data.subarray(0, size);
      if (typeFlag === "x") pax = { ...pax, ...parsePax(content) };
      // Global headers ("g") set defaults nobody relies on in layers; they are read and dropped,
      // as bsdtar drops them. GNU tar and Python apply them to the entries after: one that
      // names or sizes those entries is refused, lest they read other entries than these.
      if (typeFlag === "g") refuseGlobalOverrides(parsePax(content));
      if (typeFlag === "L") longName = cString(content);
      if (typeFlag === "K") longLink = cString(content);
      continue;
    }

    const ustarName = cString(header, 0, 100);
    const prefix = isPosixUstar(header) ? cString(header, 345, 500) : "";
    const name = agreed("name", pax.path, longName) ??
      (prefix ? `${prefix}/${ustarName}` : ustarName);
    const linkName = agreed("link target", pax.linkpath, longLink) ??
      cString(header, 157, 257);
    const mtime = Math.floor(Number(pax.mtime ?? readNumber(header, 136, 12)));
    pax = {};
    longName = longLink = undefined;
    extended = 0;
    const type = entryType(typeFlag, name);
    refuseUnreadable({ name, type, typeFlag, size, linkName });

    let remaining = size;
    const body = (async function* () {
      while (remaining > 0) {
        const chunk = await input.next(remaining);
        if (!chunk) truncated();
        remaining -= chunk.length;
        yield chunk;
      }
    })();
    yield {
      name,
      type,
      typeFlag,
      mode: readNumber(header, 100, 8) & 0o7777,
      size,
      mtime: Number.isFinite(mtime) ? mtime : 0,
      linkName,
      body,
    };
    await input.skip(remaining);
    // Some writers (umoci) end the stream without padding the last entry or writing the
    // end-of-archive blocks; GNU tar accepts that, and so does this reader.
    await input.skip(padded - size, true);
  }
}

/**
 * Whether a header is POSIX ustar (magic `ustar\0`, version `00`), whose bytes 345–500 are the
 * prefix of its name. The old GNU format (`ustar  \0`) keeps other fields there, and GNU tar,
 * bsdtar and Go ignore them: read as a prefix, they would give the entry another name here than
 * where it is extracted.
 */
function isPosixUstar(header: Uint8Array): boolean {
  return POSIX_USTAR.every((byte, i) => header[257 + i] === byte);
}

/** `ustar\0` and `00`, bytes 257–265 of a POSIX ustar header. */
const POSIX_USTAR = [...new TextEncoder().encode("ustar\x0000")];

/**
 * The one value of a name that a PAX record and a GNU long-name header may both give. When they
 * differ the entry is refused: readers disagree on which wins (libarchive and Go take the GNU
 * one), so a check of one name here would pass an entry extracted under the other.
 */
function agreed(
  what: string,
  pax: string | undefined,
  gnu: string | undefined,
): string | undefined {
  if (pax !== undefined && gnu !== undefined && pax !== gnu) {
    throw new UnsafeContentError(
      `tar entry has two ${what}s: "${pax}" in its PAX header and "${gnu}" in a GNU one`,
    );
  }
  return pax ?? gnu;
}

/**
 * Refuses an entry that other readers would read otherwise, or that no one can extract: a name
 * or link target with a NUL byte (a PAX record can hold one; C readers cut the name there), a
 * link with no target or a hard link to itself, a GNU sparse file, and content on an entry that
 * has none.
 */
function refuseUnreadable(
  entry: Pick<TarReadEntry, "name" | "type" | "typeFlag" | "size" | "linkName">,
): void {
  const { name, type, typeFlag, size, linkName } = entry;
  const refuse = (why: string): never => {
    throw new UnsafeContentError(`tar entry ${JSON.stringify(name)} ${why}`);
  };
  if (name.includes("\0")) refuse("has a NUL byte in its name");
  if (typeFlag === "S") refuse("is a GNU sparse file, which ocisync does not read");
  if (size > 0 && (type === "directory" || HEADER_ONLY.has(typeFlag))) {
    // GNU tar skips the content of some such entries; bsdtar, Python and Go read none, and take
    // what follows for the next header: they would see entries that this reader skips.
    refuse(
      `(type ${JSON.stringify(typeFlag)}) has ${size} bytes of content, which readers ` +
        "disagree on: a link, folder or device has none",
    );
  }
  if (type !== "symlink" && type !== "hardlink") return;
  if (linkName === "") refuse("is a link with no target");
  if (linkName.includes("\0")) refuse(`links to ${JSON.stringify(linkName)}, with a NUL byte`);
  if (type === "hardlink" && pathOf(linkName) === pathOf(name)) refuse("is a hard link to itself");
}

/** A name without empty and `.` components, to compare two names of one path. */
function pathOf(name: string): string {
  return name.split("/").filter((part) => part !== "" && part !== ".").join("/");
}

/** The type flags of entries that have no content: links, devices, folders and fifos. */
const HEADER_ONLY = new Set(["1", "2", "3", "4", "5", "6"]);

function entryType(flag: string, name: string): TarEntryType {
  switch (flag) {
    case "0":
    case "7": // contiguous file: a regular file everywhere that matters
      return name.endsWith("/") ? "directory" : "file";
    case "1":
      return "hardlink";
    case "2":
      return "symlink";
    case "5":
      return "directory";
    default:
      return "other";
  }
}

function verifyChecksum(header: Uint8Array): void {
  if (readNumber(header, 148, 8) !== checksumOf(header)) {
    throw new UnsafeContentError("tar header checksum mismatch: the archive is corrupt");
  }
}

/** Whether a block's checksum field holds its checksum; false when the field is no number. */
function checksumMatches(header: Uint8Array): boolean {
  try {
    return readNumber(header, 148, 8) === checksumOf(header);
  } catch {
    return false;
  }
}

/** The ustar checksum: the bytes' sum, the checksum field counted as eight spaces. */
function checksumOf(header: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  return sum;
}

/** An octal field, or a base-256 one (high bit set) as GNU tar writes large values. */
function readNumber(header: Uint8Array, offset: number, length: number): number {
  if (header[offset] & 0x80) {
    let value = header[offset] & 0x7f;
    for (let i = offset + 1; i < offset + length; i++) value = value * 256 + header[i];
    return value;
  }
  // Octal digits up to a NUL, between ASCII blanks, read in place: a header has several numbers.
  let end = header.indexOf(0, offset);
  if (end < 0 || end > offset + length) end = offset + length;
  let start = offset;
  while (start < end && isBlank(header[start])) start++;
  while (end > start && isBlank(header[end - 1])) end--;
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = header[i] - 0x30;
    if (digit < 0 || digit > 7) return readNumberText(header.subarray(offset, offset + length));
    value = value * 8 + digit;
  }
  return value;
}

/** A field with anything but octal digits and ASCII blanks: valid only if they are other blanks. */
function readNumberText(field: Uint8Array): number {
  const text = cString(field).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new UnsafeContentError("tar header has a malformed number");
  return parseInt(text, 8);
}

/** The ASCII characters that `String.prototype.trim` removes: tab, line feeds, space. */
function isBlank(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

/** The text of `bytes` from `start` up to `end` or the first NUL, whichever comes first. */
function cString(bytes: Uint8Array, start = 0, end = bytes.length): string {
  if (bytes[start] === 0 || start >= end) return "";
  const nul = bytes.indexOf(0, start);
  return text(bytes.subarray(start, nul < 0 || nul > end ? end : nul));
}

/**
 * UTF-8 bytes as a string. A header's fields are short and almost always ASCII, decoded here
 * without the runtime's decoder, whose call costs more than such a field's decoding: with it,
 * the names and numbers of a header took half of the reader's time. Longer text (a GNU long
 * name may have up to 1 MiB) goes to the decoder: `fromCharCode` takes one argument a byte, and
 * too many overflow the stack.
 */
function text(bytes: Uint8Array): string {
  if (bytes.length > HEADER_FIELD_MAX) return decoder.decode(bytes);
  for (let i = 0; i < bytes.length; i++) if (bytes[i] >= 0x80) return decoder.decode(bytes);
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}

/** The longest text field of a ustar header: the name's prefix. */
const HEADER_FIELD_MAX = 155;

/**
 * The PAX numbers this reader or others act on, each with the form it must have: plain decimal
 * digits, and for times an optional sign and fraction. JavaScript's `Number` also takes `0x200`,
 * `1e3` and blanks, which GNU tar refuses and bsdtar and Python read as 0: a size read otherwise
 * here than there hides the entries that follow.
 */
const PAX_NUMBERS: Record<string, RegExp> = {
  size: /^[0-9]+$/,
  uid: /^[0-9]+$/,
  gid: /^[0-9]+$/,
  mtime: /^-?[0-9]+(\.[0-9]+)?$/,
  atime: /^-?[0-9]+(\.[0-9]+)?$/,
  ctime: /^-?[0-9]+(\.[0-9]+)?$/,
};

/**
 * Parses PAX records: "<length> <key>=<value>\n", where length counts the whole record. Numbers
 * must have their plain form ({@linkcode PAX_NUMBERS}), and GNU sparse records are refused:
 * GNU tar, Python and Go take an entry's name (`GNU.sparse.name`) and size from them, which this
 * reader does not.
 */
function parsePax(bytes: Uint8Array): Record<string, string> {
  const records: Record<string, string> = {};
  let offset = 0;
  while (offset < bytes.length) {
    const space = bytes.indexOf(0x20, offset);
    const digits = space > offset ? decoder.decode(bytes.subarray(offset, space)) : "";
    const length = /^[0-9]+$/.test(digits) ? Number(digits) : NaN;
    if (
      !Number.isSafeInteger(length) || length <= space - offset || offset + length > bytes.length
    ) {
      throw new UnsafeContentError("tar PAX header is malformed");
    }
    const record = decoder.decode(bytes.subarray(space + 1, offset + length - 1));
    const eq = record.indexOf("=");
    if (eq <= 0) throw new UnsafeContentError("tar PAX record has no key");
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    if (key.startsWith("GNU.sparse.")) {
      throw new UnsafeContentError(
        "tar PAX records GNU.sparse.* make a GNU sparse file, which ocisync does not read; " +
          "other readers take the entry's name and size from them",
      );
    }
    if (Object.hasOwn(PAX_NUMBERS, key) && !PAX_NUMBERS[key].test(value)) {
      throw new UnsafeContentError(
        `tar PAX record ${key} is not a decimal number: ${JSON.stringify(value.slice(0, 40))}`,
      );
    }
    records[key] = value;
    offset += length;
  }
  return records;
}

/** The records that would name or size the entries after a global PAX header. */
const GLOBAL_OVERRIDES = ["path", "linkpath", "size"];

function refuseGlobalOverrides(records: Record<string, string>): void {
  const key = GLOBAL_OVERRIDES.find((key) => Object.hasOwn(records, key));
  if (key === undefined) return;
  throw new UnsafeContentError(
    `tar global PAX header sets ${key} for the entries after it, which readers disagree on`,
  );
}
