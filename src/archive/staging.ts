/**
 * The staging layout of an archive being written: an OCI image layout in a
 * hidden folder beside the archive file, where pushed blobs and manifests are
 * kept (verified, by `LayoutTarget`) until `close()` writes the archive.
 * Beside the file, so that large blobs stay on its file system, and the
 * archive's temporary file is renamed within one folder.
 *
 * Writers of one archive are serialised by the lock file `FILE.lock` beside it
 * ({@linkcode lockArchive}), as a layout's are by its `index.json.lock`. The
 * writer holding it also removes the staging folders that writers killed
 * before they could clean up left behind (see {@linkcode lockArchive}).
 *
 * @example
 * ```ts
 * import { openStaging, removeStaging } from "./staging.ts";
 * const staging = await openStaging("app.tar");
 * console.log(staging.path); // "./.app.tar.k3j2x9.staging"
 * await removeStaging(staging);
 * ```
 * @module
 */
import { LayoutTarget } from "../layout/mod.ts";
import { IntegrityError, OcisyncError, UsageError } from "../errors/mod.ts";
import type { FileLock } from "../fs/lock.ts";
import { lstatOrUndefined } from "../fs/stat.ts";
import { destinationOf, LEFTOVER_AGE_MS, temporaryTarget } from "../fs/atomic.ts";
import { makeFolders, removeMadeFolders } from "../fs/folders.ts";
import {
  makeMarkedFolder,
  makeMarkedTempDir,
  markRemoval,
  unmarkTemporary,
} from "../fs/interrupted.ts";
import { MAX_MANIFEST_BYTES } from "../oci/types.ts";
import { openEntry, type TarIndex, type TarIndexEntry } from "./tar_index.ts";

/** How a staging folder's name ends: `.<file>.<random>.staging`. */
const STAGING_SUFFIX = ".staging";

/**
 * Whether `archive` is written through rather than replaced: standard output, a fifo or a
 * device (see `destinationOf`). Such an archive is never read back, nothing beside it is its
 * own (`/dev/stdout.lock` would be a file in `/dev`), and no other writer's images are in it to
 * keep: it takes no lock, and is staged in the temporary folder.
 *
 * @example
 * ```ts
 * import { isStreamed } from "./staging.ts";
 * await isStreamed("/dev/stdout"); // true
 * ```
 */
export async function isStreamed(archive: string): Promise<boolean> {
  return (await destinationOf(archive)).mode !== "replace";
}

/**
 * Creates a staging layout beside `archive`, named `.<file>.<random>.staging`, making the
 * archive's folder if it does not exist; for an archive written through ({@linkcode isStreamed}),
 * in the temporary folder. With `indexJson`, the layout starts with that `index.json`, so that
 * tags pushed next replace or join the archive's own, as they would in a layout.
 *
 * @example
 * ```ts
 * import { openStaging } from "./staging.ts";
 * const staging = await openStaging("out/app.tar");
 * console.log(await staging.listEntries()); // [], a new LayoutTarget
 * ```
 */
export async function openStaging(archive: string, indexJson?: Uint8Array): Promise<LayoutTarget> {
  const path = await isStreamed(archive)
    ? makeMarkedTempDir({ prefix: "ocisync-archive-", suffix: STAGING_SUFFIX })
    : await makeTempFolderBeside(archive);
  try {
    if (indexJson) await Deno.writeFile(`${path}/index.json`, indexJson);
    // Its images' other blobs are in the archive, or expected: the archive checks them.
    return await LayoutTarget.open(path, { create: true, partial: true });
  } catch (error) {
    await Deno.remove(path, { recursive: true }).catch(() => {});
    unmarkTemporary(path);
    throw error;
  }
}

/**
 * A staging folder `.<file>.<random>.staging` beside `archive`, whose folder is made; a
 * stopped process removes it (see `../fs/interrupted.ts`).
 */
async function makeTempFolderBeside(archive: string): Promise<string> {
  const { dir, name } = await makeFolder(archive);
  return makeMarkedFolder(dir, `.${name}.`, STAGING_SUFFIX);
}

/**
 * Takes the lock of the archive `archive` for writing: the lock file `<archive>.lock` beside it,
 * making the archive's folder and its parents if they do not exist (taken back at release while
 * empty: see {@linkcode ArchiveLock}); none for an archive written through
 * ({@linkcode isStreamed}), which no writer reads. A writer holds it from reading the archive
 * to renaming the new one into place, so that a second writer waits (up to 30 s, as for a
 * layout's `index.json`), then reads what the first wrote and adds to it; none overwrites
 * another's images. Release it when the archive is written or dropped ({@linkcode endWrite}).
 *
 * Holding it, it removes this archive's staging folders (`.<file>.<random>.staging`) left by
 * writers that died (a SIGTERM during a copy) once untouched for {@linkcode LEFTOVER_AGE_MS}:
 * every writer opened to write holds the lock while its staging folder exists, so none of them
 * is live; the age spares the folder of a writer that writes without the lock (an ocisync from
 * before writers took it, still running during an upgrade; a program that pushes into a target
 * it opened to read). Links are never followed.
 *
 * @throws {OcisyncError} when another process still holds the lock after 30 s; the message
 * names it. Also when the lock file cannot be created. Errors removing a staging folder pass,
 * the lock released.
 * @example
 * ```ts
 * import { lockArchive } from "./staging.ts";
 * const lock = await lockArchive("out/app.tar"); // out/app.tar.lock
 * await lock?.release();
 * ```
 */
export async function lockArchive(archive: string): Promise<ArchiveLock | undefined> {
  if (await isStreamed(archive)) return undefined;
  const { dir, name } = splitArchivePath(archive);
  // Known by device and inode, so that a write that fails takes back the folders it made, and
  // only those (a stop signal too: marked before the lock, they go after it).
  const made = await makeFolders(dir);
  const takeBack = () => {
    if (made.length === 0) return;
    unmarkTemporary(made[0].path);
    removeMadeFolders(made);
  };
  if (made.length > 0) markRemoval(made[0].path, () => removeMadeFolders(made));
  let lock: FileLock;
  try {
    // Loaded when a writer first needs it, as a layout's lock is: readers never evaluate it.
    const { FileLock } = await import("../fs/lock.ts");
    lock = await FileLock.acquire(`${archive}.lock`);
  } catch (error) {
    takeBack();
    throw error;
  }
  const release = async () => {
    try {
      await lock.release();
    } finally {
      takeBack();
    }
  };
  try {
    await removeLeftStaging(dir, name);
    return { release };
  } catch (error) {
    await release();
    throw error;
  }
}

/**
 * The lock of an archive being written, from {@linkcode lockArchive}. Releasing it also removes
 * the folders that were made for the archive, while they are still the ones made and empty: a
 * write that failed, or wrote nothing, leaves no folder behind.
 */
export interface ArchiveLock {
  /** Releases the lock, then takes back the folders made for the archive that are empty. */
  release(): Promise<void>;
}

/**
 * Removes what writers of the archive `name` in `dir` left there, killed before they could
 * (SIGKILL, the OOM killer, a power cut), once it was not modified for
 * {@linkcode LEFTOVER_AGE_MS}: staging folders, and the temporary file of a new archive, which
 * `writeFileAtomic` names `.<name>.<8 hex>.tmp`; see {@linkcode lockArchive}.
 */
async function removeLeftStaging(dir: string, name: string): Promise<void> {
  const prefix = `.${name}.`;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.startsWith(prefix)) continue;
    const rest = entry.name.slice(prefix.length);
    // The random part has no dot: `.app.tar.1.<random>.staging` is the archive app.tar.1's.
    const random = rest.endsWith(STAGING_SUFFIX) ? rest.slice(0, -STAGING_SUFFIX.length) : "";
    const staging = entry.isDirectory && random !== "" && !random.includes(".");
    const temporary = entry.isFile && temporaryTarget(entry.name) === name;
    if (!staging && !temporary) continue;
    const path = `${dir}/${entry.name}`;
    const info = lstatOrUndefined(path);
    const modified = info?.mtime?.getTime();
    if (!(staging ? info?.isDirectory : info?.isFile) || modified === undefined) continue;
    if (Date.now() - modified < LEFTOVER_AGE_MS) continue;
    try {
      // A link is removed itself; the recursive removal follows none inside.
      await Deno.remove(path, { recursive: staging });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}

/**
 * Ends a write: removes the staging layout, if one was made, then releases the archive's lock,
 * if one was taken, even when the removal fails.
 *
 * @example
 * ```ts
 * import { endWrite, lockArchive, openStaging } from "./staging.ts";
 * const lock = await lockArchive("out/app.tar");
 * await endWrite(openStaging("out/app.tar"), lock);
 * ```
 */
export async function endWrite(
  staging: Promise<LayoutTarget> | undefined,
  lock: ArchiveLock | undefined,
): Promise<void> {
  try {
    if (staging) await removeStaging(await staging);
  } finally {
    await lock?.release();
  }
}

/**
 * The refusal of a write whose archive file another writer created (when `existed` is false)
 * or changed after it was opened: another tool, or a writer through another name of the file,
 * which did not wait for the lock, and whose file must not be overwritten unseen. `hint` says
 * what running the command again does.
 *
 * @example
 * ```ts
 * import { changedArchiveError } from "./staging.ts";
 * throw changedArchiveError("oci-archive:app.tar", false, "run the command again");
 * ```
 */
export function changedArchiveError(name: string, existed: boolean, hint: string): OcisyncError {
  return new OcisyncError(
    `${name} was ${existed ? "changed" : "created"} by another writer after it was opened; it ` +
      "is left as that writer left it",
    { hint },
  );
}

/**
 * The refusal of a write into an archive opened for reading: only a writer holds the archive's
 * lock, and a file rewritten without it could drop what another writer added meanwhile.
 *
 * @example
 * ```ts
 * import { openedForReading } from "./staging.ts";
 * throw openedForReading("oci-archive:app.tar");
 * ```
 */
export function openedForReading(name: string): UsageError {
  return new UsageError(`${name} was opened for reading; open it with create to write`);
}

/** Makes the folder of `archive` if it does not exist, as a new layout's is; its path and the file's name. */
async function makeFolder(archive: string): Promise<{ dir: string; name: string }> {
  const parts = splitArchivePath(archive);
  await Deno.mkdir(parts.dir, { recursive: true });
  return parts;
}

/** The folder of the archive file `archive`, and its name there. */
function splitArchivePath(archive: string): { dir: string; name: string } {
  const slash = archive.lastIndexOf("/");
  return { dir: slash < 0 ? "." : archive.slice(0, slash) || "/", name: archive.slice(slash + 1) };
}

/**
 * Removes a staging layout and everything in it; one already gone is fine.
 *
 * @example
 * ```ts
 * import { openStaging, removeStaging } from "./staging.ts";
 * await removeStaging(await openStaging("app.tar"));
 * ```
 */
export async function removeStaging(staging: LayoutTarget): Promise<void> {
  try {
    await Deno.remove(staging.path, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  } finally {
    unmarkTemporary(staging.path);
  }
}

/**
 * The whole content of a small entry (`index.json`, `manifest.json`, a config), refused unread
 * when it is larger than a manifest may be: these are held in memory.
 *
 * @throws {IntegrityError} when the entry is over {@linkcode MAX_MANIFEST_BYTES}.
 * @example
 * ```ts
 * import { indexTar } from "./tar_index.ts";
 * import { readSmallEntry } from "./staging.ts";
 * const index = await indexTar("app.tar", { links: "refuse" });
 * const bytes = await readSmallEntry(index, index.entries.get("index.json")!);
 * ```
 */
export async function readSmallEntry(index: TarIndex, entry: TarIndexEntry): Promise<Uint8Array> {
  if (entry.size > MAX_MANIFEST_BYTES) {
    throw new IntegrityError(
      `${index.path}: ${entry.name} has ${entry.size} bytes, over the limit of ` +
        `${MAX_MANIFEST_BYTES}`,
    );
  }
  return await new Response(await openEntry(index, entry)).bytes();
}
