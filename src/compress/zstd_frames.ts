/**
 * The frame structure of a zstd stream (RFC 8878, section 3.1), followed without decoding
 * anything: frame headers, block headers and checksums carry every length, so the bytes can be
 * cut at the boundaries of frames and blocks as they stream by.
 *
 * The decoder in `node:zlib` needs this twice over. It says nothing when the input stops inside a
 * frame: it hands out what it decoded so far, and a truncated layer would pass for a short one.
 * And in Deno it throws a decoding error out of a callback, uncaught, whenever the error is met
 * on a later step of a write than the first; fed one block per write, each error is met on the
 * first step, where it becomes the stream's error (see {@linkcode zstdPieces}).
 *
 * @example
 * ```ts
 * import { zstdPieces } from "./zstd_frames.ts";
 * import { zstdStream } from "./zstd.ts";
 * const frame = zstdStream([new TextEncoder().encode("hi")]);
 * for await (const piece of zstdPieces(frame)) console.log(piece.length);
 * ```
 * @module
 */
import { UnsafeContentError } from "../errors/mod.ts";

/**
 * The largest zstd window ocisync decodes with, as a power of two: 2^27 bytes, 128 MiB. It is
 * libzstd's default limit (`ZSTD_WINDOWLOG_LIMIT_DEFAULT`), so the `zstd` command decodes by
 * default what ocisync decodes, `zstd --long` and `--ultra -22` included; containerd's decoder
 * (klauspost/compress) takes up to 2^29. The writers of layers stay far below: `zstd -19` and
 * klauspost's encoder, which containerd, BuildKit and podman use, write 2^23 at most, and
 * ocisync's frames hold 2 MiB each.
 */
export const ZSTD_WINDOW_LOG_MAX = 27;

/**
 * A frame whose decoder needs more than this, 8 MiB (the window of `zstd -19` and of
 * klauspost's encoder), has a large window: {@linkcode ZstdPiecesOptions.onLargeWindow}.
 */
export const LARGE_ZSTD_WINDOW = 2 ** 23;

/** Options of {@linkcode zstdPieces}. */
export interface ZstdPiecesOptions {
  /** What the stream is, for messages: `layer sha256:…`, a file's path. Default "zstd data". */
  what?: string;
  /**
   * Awaited before a frame whose decoder needs more than {@linkcode LARGE_ZSTD_WINDOW} bytes
   * goes on, so that a caller can bound how many such decoders run at once.
   */
  onLargeWindow?: () => Promise<void> | void;
}

/** The magic number of a zstd frame, little-endian: `28 b5 2f fd`. */
const FRAME_MAGIC = 0xfd2fb528;
/** Skippable frames have magic numbers `0x184d2a50` to `0x184d2a5f`. */
const SKIPPABLE_MAGIC = 0x184d2a50;
/**
 * Whether `head`, a stream's first four bytes, starts a zstd stream: a frame, or a skippable
 * frame, which `pzstd` puts before each of its frames.
 *
 * @example
 * ```ts
 * import { startsZstd } from "./zstd_frames.ts";
 * startsZstd(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd])); // true
 * startsZstd(new Uint8Array([0x50, 0x2a, 0x4d, 0x18])); // true: a skippable frame
 * ```
 */
export function startsZstd(head: Uint8Array): boolean {
  if (head.length < 4) return false;
  const magic = (head[0] | head[1] << 8 | head[2] << 16 | head[3] << 24) >>> 0;
  return magic === FRAME_MAGIC || (magic & 0xfffffff0) >>> 0 === SKIPPABLE_MAGIC;
}

/** The largest block the format allows, raw or decoded: 128 KiB. */
const MAX_BLOCK_SIZE = 128 * 1024;
/** Block type 1, RLE: one byte, repeated `Block_Size` times. */
const RLE_BLOCK = 1;
/** Block type 3 is reserved: a stream that has one is corrupt. */
const RESERVED_BLOCK = 3;

/** Where the reader is in the stream, and how many bytes that part still needs. */
type Part =
  | "magic"
  | "descriptor"
  | "header"
  | "block-header"
  | "block"
  | "checksum"
  | "skippable-size"
  | "skippable-data";

/**
 * Passes a zstd stream on in pieces that end at its boundaries: a frame's magic and header, each
 * block with its header (at most 128 KiB and 3 bytes), a frame's checksum, a skippable frame's
 * header; a skippable frame's content passes as it comes, unbuffered.
 *
 * @throws {UnsafeContentError} when the stream ends inside a frame (it is truncated), or has
 * something other than a frame where one must start, a reserved block type or an oversized block.
 * @example
 * ```ts
 * import { zstdPieces } from "./zstd_frames.ts";
 * const empty = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x00, 0x01, 0x00, 0x00]);
 * await Array.fromAsync(zstdPieces([empty])); // one frame header, one empty block
 * ```
 */
export async function* zstdPieces(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ZstdPiecesOptions = {},
): AsyncGenerator<Uint8Array> {
  const splitter = new FrameSplitter(options.what ?? "zstd data");
  for await (const chunk of source) {
    for (const piece of splitter.push(chunk)) {
      if (splitter.largeWindow()) await options.onLargeWindow?.();
      yield piece;
    }
  }
  splitter.end();
}

/** The state machine behind {@linkcode zstdPieces}, fed chunk after chunk. */
class FrameSplitter {
  #part: Part = "magic";
  /** Bytes the current part still needs. */
  #need = 4;
  /** The bytes of the piece being gathered. */
  #piece: Uint8Array[] = [];
  /** Whether the current frame ends with a 4-byte checksum. */
  #checksum = false;
  /** Whether the current block is the frame's last. */
  #lastBlock = false;
  /** Bytes read so far, for messages. */
  #offset = 0;
  /** The current frame's header: its single-segment flag and the sizes of its fields. */
  #header = { singleSegment: false, dictionary: 0, contentSize: 0 };
  /** Set when the frame header just passed on needs a large window, until asked. */
  #largeWindow = false;
  readonly #what: string;

  /** `what` names the stream in messages. */
  constructor(what: string) {
    this.#what = what;
  }

  /** Whether the piece just passed on starts a frame that needs a large window; asked once. */
  largeWindow(): boolean {
    const large = this.#largeWindow;
    this.#largeWindow = false;
    return large;
  }

  /** Takes a chunk; yields the pieces it completes. */
  *push(chunk: Uint8Array): Generator<Uint8Array> {
    let at = 0;
    while (at < chunk.length) {
      const bytes = chunk.subarray(at, at + this.#need);
      at += bytes.length;
      this.#offset += bytes.length;
      this.#need -= bytes.length;
      if (this.#part === "skippable-data") yield bytes;
      else this.#gather(bytes);
      // Parts of no bytes (an empty raw block, a header with no optional fields) end at once.
      while (this.#need === 0) {
        const piece = this.#next();
        if (piece) yield piece;
      }
    }
  }

  /** Adds bytes to the piece; bytes that follow on in the same chunk extend its last part. */
  #gather(bytes: Uint8Array): void {
    const last = this.#piece.at(-1);
    if (last?.buffer === bytes.buffer && last.byteOffset + last.length === bytes.byteOffset) {
      // Most pieces lie within one chunk: they go on as a view of it, uncopied.
      this.#piece[this.#piece.length - 1] = new Uint8Array(
        last.buffer,
        last.byteOffset,
        last.length + bytes.length,
      );
    } else {
      this.#piece.push(bytes);
    }
  }

  /** Checks that the stream ended between two frames. */
  end(): void {
    if (this.#part !== "magic" || this.#need !== 4) {
      throw corrupt(
        `unexpected end of file: the stream stops inside a frame, after ${this.#offset} bytes`,
      );
    }
  }

  /** The current part is complete: reads it, moves to the next, and returns a finished piece. */
  #next(): Uint8Array | undefined {
    const bytes = concat(this.#piece);
    const tail = (n: number) => bytes.subarray(bytes.length - n);
    switch (this.#part) {
      case "magic":
        return this.#magic(littleEndian(tail(4)));
      case "descriptor":
        return this.#descriptor(tail(1)[0]);
      case "header":
        this.#checkWindow(bytes.subarray(5));
        return this.#finish(bytes, "block-header", 3);
      case "block-header":
        return this.#blockHeader(littleEndian(tail(3)));
      case "block":
        if (!this.#lastBlock) return this.#finish(bytes, "block-header", 3);
        return this.#checksum
          ? this.#finish(bytes, "checksum", 4)
          : this.#finish(bytes, "magic", 4);
      case "checksum":
        return this.#finish(bytes, "magic", 4);
      case "skippable-size":
        return this.#finish(bytes, "skippable-data", littleEndian(tail(4)));
      case "skippable-data":
        return this.#finish(bytes, "magic", 4);
    }
  }

  #magic(magic: number): undefined {
    if (magic === FRAME_MAGIC) return this.#expect("descriptor", 1);
    if ((magic & 0xfffffff0) >>> 0 === SKIPPABLE_MAGIC) return this.#expect("skippable-size", 4);
    throw corrupt(`no zstd frame starts at byte ${this.#offset - 4}`);
  }

  /** The frame header descriptor gives the size of the rest of the header. */
  #descriptor(descriptor: number): undefined {
    if (descriptor & 0x08) throw corrupt("a frame header has its reserved bit set");
    const singleSegment = (descriptor & 0x20) !== 0;
    this.#checksum = (descriptor & 0x04) !== 0;
    const window = singleSegment ? 0 : 1;
    const dictionary = [0, 1, 2, 4][descriptor & 0x03];
    const contentSize = [singleSegment ? 1 : 0, 2, 4, 8][descriptor >> 6];
    this.#header = { singleSegment, dictionary, contentSize };
    return this.#expect("header", window + dictionary + contentSize);
  }

  /**
   * Reads the window that the frame's header asks for (RFC 8878, 3.1.1.1.2), and refuses one
   * over 2^{@linkcode ZSTD_WINDOW_LOG_MAX}, as libzstd would, but saying what it is: the data
   * is not corrupt, it asks for more memory than a layer is given. The decoder's buffer is the
   * window, or the frame's content when it is smaller and known.
   */
  #checkWindow(header: Uint8Array): void {
    const { singleSegment, dictionary, contentSize } = this.#header;
    const fieldAt = (singleSegment ? 0 : 1) + dictionary;
    const content = contentSize === 0
      ? undefined
      : littleEndian(header.subarray(fieldAt, fieldAt + contentSize)) +
        (contentSize === 2 ? 256 : 0);
    let window = content ?? 0;
    if (!singleSegment) {
      const exponent = header[0] >> 3;
      const base = 2 ** (10 + exponent);
      window = base + (base / 8) * (header[0] & 7);
    }
    if (window > 2 ** ZSTD_WINDOW_LOG_MAX) {
      const power = Math.log2(window);
      const size = Number.isInteger(power) ? `2^${power}` : String(window);
      throw new UnsafeContentError(
        `${this.#what} needs a ${size}-byte zstd window, over the ` +
          `2^${ZSTD_WINDOW_LOG_MAX}-byte limit`,
        { hint: "compress it with a smaller window (without --long, at -19 or below)" },
      );
    }
    this.#largeWindow = Math.min(window, content ?? window) > LARGE_ZSTD_WINDOW;
  }

  #blockHeader(header: number): undefined {
    this.#lastBlock = (header & 1) === 1;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === RESERVED_BLOCK) throw corrupt("a block has the reserved type");
    if (size > MAX_BLOCK_SIZE) throw corrupt(`a block of ${size} bytes is over 128 KiB`);
    return this.#expect("block", type === RLE_BLOCK ? 1 : size);
  }

  /** Moves on within the current piece. */
  #expect(part: Part, need: number): undefined {
    this.#part = part;
    this.#need = need;
    return undefined;
  }

  /** Ends the current piece and returns it (unless empty), then moves on. */
  #finish(bytes: Uint8Array, part: Part, need: number): Uint8Array | undefined {
    this.#piece = [];
    this.#expect(part, need);
    return bytes.length > 0 ? bytes : undefined;
  }
}

function corrupt(problem: string): UnsafeContentError {
  return new UnsafeContentError(`corrupt zstd data: ${problem}`);
}

function littleEndian(bytes: Uint8Array): number {
  return bytes.reduceRight((value, byte) => value * 256 + byte, 0);
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const bytes = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  parts.reduce((offset, part) => (bytes.set(part, offset), offset + part.length), 0);
  return bytes;
}
