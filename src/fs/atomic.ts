/**
 * Atomic file writes: write to a temporary file beside the target, then
 * rename. Readers see the old file or the whole new one, never a part, and a
 * failure leaves nothing behind.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./atomic.ts";
 * await writeFileAtomic("state.json", [new TextEncoder().encode("{}")]);
 * ```
 * @module
 */
import { fixedBlocks } from "../compress/blocks.ts";
import { OcisyncError } from "../errors/mod.ts";

const WRITE_SIZE = 1024 * 1024;

/** Options of {@linkcode writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** The file mode, e.g. 0o600 for credentials. Default: 0o644 less the umask. */
  mode?: number;
}

/**
 * Writes a stream of bytes to `path` atomically. The temporary file is named
 * `.<name>.<random>.tmp` in the same folder, so the rename never crosses file
 * systems.
 */
export async function writeFileAtomic(
  path: string,
  bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  const dir = slash >= 0 ? path.slice(0, slash + 1) : "";
  const temp = `${dir}.${path.slice(slash + 1)}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(temp, { write: true, createNew: true, mode: options.mode });
  } catch (error) {
    throw new OcisyncError(`cannot write ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    // Tar headers come 512 bytes at a time: gather them into large writes.
    for await (const block of fixedBlocks(bytes, WRITE_SIZE)) {
      let offset = 0;
      while (offset < block.length) offset += await file.write(block.subarray(offset));
    }
    await file.sync();
    file.close();
    await Deno.rename(temp, path);
  } catch (error) {
    try {
      file.close();
    } catch { /* already closed */ }
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}
