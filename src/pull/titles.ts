/**
 * The rules of artifact files' titles, which say where a pull writes each file: a relative path
 * inside the destination, naming no whiteout. A push checks its titles with them, so that it
 * never writes an artifact that a pull refuses.
 *
 * @example
 * ```ts
 * import { artifactFilePath } from "./titles.ts";
 * artifactFilePath("app.yaml"); // "app.yaml"; "../evil" and "/etc/evil" are refused
 * ```
 * @module
 */
import { escapeRemote, UnsafeContentError } from "../errors/mod.ts";
import { TITLE_ANNOTATION } from "../oci/annotations.ts";
import type { Descriptor } from "../oci/types.ts";

/**
 * Where an artifact's file titled `title` goes: the title as a relative path, which a pull
 * writes and a push checks.
 *
 * @throws {UnsafeContentError} for a title that leaves the destination, or names a whiteout.
 * @example
 * ```ts
 * import { artifactFilePath } from "./titles.ts";
 * artifactFilePath("./conf/app.yaml"); // "conf/app.yaml"
 * ```
 */
export function artifactFilePath(title: string): string {
  const parts = title.split("/").filter((p) => p !== "" && p !== ".");
  if (title.startsWith("/") || parts.includes("..") || parts.length === 0) {
    throw new UnsafeContentError(
      `refusing artifact file "${escapeRemote(title)}": it leaves the target`,
    );
  }
  refuseWhiteout(title, parts);
  return parts.join("/");
}

/**
 * Where an artifact layer's file goes: its title (`org.opencontainers.image.title`, which the
 * layer must have) as a relative path, without empty and `.` parts ({@linkcode artifactFilePath}).
 * `sync`'s events name layers by it too, so that they say no path that a pull of the same image
 * refuses.
 *
 * @throws {UnsafeContentError} for a title that leaves the destination, or names a whiteout.
 * @example
 * ```ts
 * import { artifactPath } from "./titles.ts";
 * import { TITLE_ANNOTATION } from "../oci/annotations.ts";
 * const digest = `sha256:${"0".repeat(64)}` as const;
 * const layer = { mediaType: "text/yaml", digest, size: 0 };
 * artifactPath({ ...layer, annotations: { [TITLE_ANNOTATION]: "./flows//a.yaml" } }); // "flows/a.yaml"
 * artifactPath({ ...layer, annotations: { [TITLE_ANNOTATION]: "../etc/passwd" } }); // throws
 * ```
 */
export function artifactPath(layer: Descriptor): string {
  return artifactFilePath(layer.annotations![TITLE_ANNOTATION]);
}

/** What starts the name of an OCI whiteout: in a layer, such a name deletes another. */
const WHITEOUT_PREFIX = ".wh.";

/**
 * Refuses a file title with a whiteout's name among its `parts`: written through the unpacker,
 * it would delete the file it names (or, as `.wh..wh..opq`, a whole folder's other files)
 * instead of being written, and such names are never meant as files.
 *
 * @throws {UnsafeContentError}
 * @example
 * ```ts
 * import { refuseWhiteout } from "./titles.ts";
 * refuseWhiteout("conf/app.yaml", ["conf", "app.yaml"]); // fine; ".wh.app.yaml" is refused
 * ```
 */
export function refuseWhiteout(title: string, parts: string[]): void {
  if (!parts.some((part) => part.startsWith(WHITEOUT_PREFIX))) return;
  throw new UnsafeContentError(
    `refusing the file "${
      escapeRemote(title)
    }": a name starting with ${WHITEOUT_PREFIX} is a whiteout, which ` +
      "deletes files in a layer, and is never written as a file",
    { hint: "rename the file before pushing it" },
  );
}
