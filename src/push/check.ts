/**
 * The checks of a layer file before it becomes part of an image: it decompresses, its `diffId`
 * is the digest of its tar, and no entry would leave the image's root when extracted.
 *
 * The checks judge bytes that have the blob's digest, never another version of the file: a
 * started layer ({@linkcode LayerFileChecks}) checks the very chunks its upload reads, and the
 * target verifies those against the digest; when the upload does not carry them all, the checks
 * read the file on a pass of their own that verifies them against the digest too.
 *
 * @example
 * ```ts
 * import { checkLayerBytes } from "./check.ts";
 * const file = await Deno.open("./deps.tar.gz");
 * const { diffId, compression } = await checkLayerBytes("./deps.tar.gz", file.readable);
 * console.log(diffId, compression);
 * ```
 * @module
 */
import type { Compression } from "../compress/mod.ts";
import { decompressStream, detectCompression } from "../compress/decompress.ts";
import { type Digest, hashing, Sha256, verifyingStream } from "../digest/mod.ts";
import { UnsafeContentError, UsageError } from "../errors/mod.ts";
import type { Descriptor } from "../oci/types.ts";
import { countedBytes } from "../streams/mod.ts";
import { withSideReader } from "../streams/side.ts";
import { DEFAULT_MAX_EXTRACT_BYTES } from "../unpack/limits.ts";
import { NotTarError, readTar, type TarReadEntry } from "../tar/reader.ts";
import { openFileAt } from "../fs/read.ts";

/** What the checks of a layer file found. */
export interface LayerVerdict {
  /** The digest of the uncompressed tar. */
  diffId: Digest;
  /** The compression, from the first bytes. */
  compression: Compression;
}

/**
 * Checks the bytes of a layer file: decompresses them for the `diffId`, at most `maxExtractSize`
 * bytes of them, and checks every entry (see {@linkcode checkLayerEntry}). `bytes` is read to its end, so that the `diffId` and any
 * hash or verification on the way cover the whole file; it is cancelled when refused.
 *
 * @throws {UsageError} for bytes that are no layer archive (empty, or no tar inside).
 * @throws {UnsafeContentError} for an entry outside the image's root, corrupt compression, or
 * more than `maxExtractSize` bytes decompressed.
 * @example
 * ```ts
 * import { checkLayerBytes } from "./check.ts";
 * const file = await Deno.open("./deps.tar.gz");
 * console.log((await checkLayerBytes("./deps.tar.gz", file.readable)).diffId);
 * ```
 */
export async function checkLayerBytes(
  path: string,
  bytes: ReadableStream<Uint8Array>,
  maxExtractSize: number = DEFAULT_MAX_EXTRACT_BYTES,
): Promise<LayerVerdict> {
  const tar = new Sha256();
  let head: Uint8Array | undefined;
  let endTurn: (() => void) | undefined;
  // Read through a reader of our own, which can cancel the stream while it is being read.
  const reader = bytes.getReader();
  try {
    const headed = (async function* () {
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        head ??= next.value.byteLength > 0 ? next.value.slice(0, 4) : undefined;
        yield next.value;
      }
    })();
    const decompressed = decompressStream(headed, {
      what: path,
      onLargeWindow: async () => {
        endTurn ??= await largeWindowTurn();
      },
    });
    const uncompressed = hashing(
      countedBytes(decompressed, { bytes: 0 }, maxExtractSize, () =>
        new UnsafeContentError(
          `${path} decompresses to more than the limit of ${maxExtractSize} bytes`,
          {
            hint: "raise the size limit if the layer is really this large",
            option: "maxExtractSize",
          },
        )),
      tar,
    );
    const symlinks = new Set<string>();
    for await (const entry of readTar(uncompressed)) checkLayerEntry(path, entry, symlinks);
    // Drain what follows the end-of-archive blocks, so the digests cover the whole file.
    for await (const _ of uncompressed) { /* padding */ }
    if (head === undefined) throw notLayerArchive(path, "it is empty");
    return { diffId: tar.digest(), compression: detectCompression(head) };
  } catch (error) {
    // A stream read to its end is closed; a refused one is released here.
    await reader.cancel(error).catch(() => {});
    if (error instanceof NotTarError) {
      throw notLayerArchive(path, head === undefined ? "it is empty" : error.reason);
    }
    throw error;
  } finally {
    endTurn?.();
  }
}

/** The end of the last turn taken: see {@linkcode largeWindowTurn}. */
let lastTurn: Promise<void> = Promise.resolve();

/**
 * Waits for the turn of a check whose zstd frames need a large window (over 8 MiB, up to
 * 128 MiB: `LARGE_ZSTD_WINDOW` of `../compress/zstd_frames.ts`), and returns the function that
 * ends it. Such checks decode one at a time, so that a push of several of them (checked 4 at a
 * time, beside their uploads) holds one such window at once, not 4; the others, with the windows
 * of ordinary writers, run side by side.
 */
function largeWindowTurn(): Promise<() => void> {
  const { promise: ended, resolve: end } = Promise.withResolvers<void>();
  const turn = lastTurn.then(() => end);
  lastTurn = lastTurn.then(() => ended);
  return turn;
}

/** How far the checks may lag behind the upload that feeds them, in bytes. */
const CHECKS_LAG = 8 * 1024 * 1024;

/**
 * The checks of a layer file, bound to bytes with its digest, which a pass over the file may
 * still be computing.
 *
 * {@linkcode LayerFileChecks.openAt} reads the file for its upload. When the first read from the
 * start begins before anyone asks for the {@linkcode LayerFileChecks.verdict}, the checks read
 * the chunks of that very read, as it goes (the upload waits when they fall 8 MiB behind): the
 * file is read once for both, and the checks judge the bytes that the target verifies against
 * the digest. Otherwise (the target had the blob and read nothing, or the verdict was asked
 * first), when the file is read a second time (an upload resumed or started over, so that the
 * target got bytes of several reads), and when the upload's bytes were {@linkcode dropped}, the
 * verdict comes from a pass of the checks' own, which verifies the bytes against the digest too.
 *
 * @example
 * ```ts
 * import { LayerFileChecks } from "./check.ts";
 * const layer = new LayerFileChecks("./deps.tar.gz", Promise.resolve({
 *   mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
 *   digest: `sha256:${"0".repeat(64)}`,
 *   size: 1,
 * }));
 * const sent = await layer.openAt(0); // …read by an upload…
 * console.log((await layer.verdict()).diffId);
 * ```
 */
export class LayerFileChecks {
  readonly #path: string;
  readonly #descriptor: Promise<Descriptor>;
  /** The checks of the chunks of the file's first read. */
  #shared: Promise<LayerVerdict> | undefined;
  /** Whether that read ended before the end of the file. */
  #cut = () => false;
  /** The file was read again after its first read had started. */
  #readAgain = false;
  /** The bytes of the reads were not stored under the digest. */
  #dropped = false;
  /** The checks on a pass of their own. */
  #own: Promise<LayerVerdict> | undefined;

  readonly #maxExtractSize: number;

  /**
   * `descriptor` is the file's, from a pass over it that may still be running; the checks
   * decompress at most `maxExtractSize` bytes of it.
   */
  constructor(
    path: string,
    descriptor: Promise<Descriptor>,
    maxExtractSize: number = DEFAULT_MAX_EXTRACT_BYTES,
  ) {
    this.#path = path;
    this.#descriptor = descriptor;
    this.#maxExtractSize = maxExtractSize;
  }

  /**
   * The verdict on bytes with the file's digest: the checks of its one read for an upload, once
   * it has ended, or of their own pass (see the class).
   *
   * @throws {IntegrityError} when the file no longer has the digest.
   * @throws as {@linkcode checkLayerBytes} throws.
   */
  verdict(): Promise<LayerVerdict> {
    if (this.#shared === undefined || this.#readAgain || this.#dropped) return this.#ownPass();
    return this.#shared.catch((error) => {
      // The read ended early (an upload that resumes reads again): the checks saw part of the
      // bytes, and failed for that (the decoder reports it as its own error), so they read anew.
      if (this.#cut()) return this.#ownPass();
      throw error;
    });
  }

  /**
   * The file's bytes from `offset`, for its upload; the first read from the start feeds the
   * checks (see the class).
   */
  openAt(offset: number): Promise<ReadableStream<Uint8Array>> {
    if (offset > 0 || this.#shared !== undefined || this.#own !== undefined) {
      if (this.#shared !== undefined) this.#readAgain = true;
      return openFileAt(this.#path, offset);
    }
    // Set before any await: a verdict asked from now on waits for these checks.
    const opening = openFileAt(this.#path, 0).then((file) => withSideReader(file, CHECKS_LAG));
    this.#shared = opening.then((read) => {
      this.#cut = () => read.incomplete;
      return checkLayerBytes(this.#path, read.side, this.#maxExtractSize);
    });
    this.#shared.catch(() => {}); // asked for by verdict(), maybe later
    return opening.then(({ stream }) => stream);
  }

  /**
   * The bytes read for the upload were not stored under the digest (the target had the blob
   * already, or the upload failed): the verdict comes from the checks' own pass from now on.
   */
  dropped(): void {
    this.#dropped = true;
  }

  #ownPass(): Promise<LayerVerdict> {
    this.#own ??= this.#descriptor.then(async (descriptor) =>
      checkLayerBytes(
        this.#path,
        (await openFileAt(this.#path, 0))
          .pipeThrough(verifyingStream(descriptor, `layer file ${this.#path}`)),
        this.#maxExtractSize,
      )
    );
    return this.#own;
  }
}

/**
 * A SOURCE that is a file, but no layer archive. A usage error, not unsafe content: the bytes
 * are harmless, the command line asked for the wrong thing, and `--files` pushes such files.
 *
 * @example
 * ```ts
 * import { notLayerArchive } from "./check.ts";
 * throw notLayerArchive("./notes.txt", "it is empty");
 * ```
 */
export function notLayerArchive(path: string, why: string): UsageError {
  return new UsageError(
    `${path} is not a layer archive (a tar, .tar.gz or .tar.zst file): ${why}`,
    {
      hint: "a layer of an image is a folder or a layer archive; to push files as they are, " +
        "push them as an artifact's files",
      option: "files",
    },
  );
}

/**
 * Refuses an entry of a layer file that would leave the image's root when extracted: a `..` or
 * absolute name, a hard link to one, or a path through a symlink that an earlier entry of the
 * same layer made. Where such a write lands depends on the extractor (bsdtar refuses it, GNU tar
 * follows the link), and no tool that records a file system writes one. `symlinks` collects the
 * layer's symlinks, entry after entry.
 */
function checkLayerEntry(file: string, entry: TarReadEntry, symlinks: Set<string>): void {
  const refuse = (why: string) =>
    new UnsafeContentError(`${file}: entry "${entry.name}" ${why}`, {
      hint: "rebuild the layer from a folder, or push the folder itself",
    });
  const parts = (name: string, why: string) => {
    if (name.startsWith("/") || name.split("/").includes("..")) throw refuse(why);
    return name.split("/").filter((part) => part !== "" && part !== ".");
  };
  const own = parts(entry.name, "leaves the image's root");
  const paths = entry.type === "hardlink"
    ? [own, parts(entry.linkName, `links to "${entry.linkName}", outside the image's root`)]
    : [own];
  for (const path of paths) {
    for (let depth = 1; depth < path.length; depth++) {
      const through = path.slice(0, depth).join("/");
      if (symlinks.has(through)) throw refuse(`goes through the symlink "${through}"`);
    }
  }
  if (entry.type === "symlink") symlinks.add(own.join("/"));
  else symlinks.delete(own.join("/"));
}
