/**
 * YAML documents for ocisync's own files (a build recipe, a sync config), parsed with the `yaml`
 * package, whose errors come back in the document with their place. What it throws instead is
 * its own failure on hostile nesting (a thousand nested maps, a line of `[`: its recursion runs
 * out of stack), which is reported as the file's fault, as a syntax error is.
 *
 * @example
 * ```ts
 * import { parseYamlDocument } from "./mod.ts";
 * const document = parseYamlDocument("image: oci:./out:v1\n", "ocisync.yaml");
 * console.log(document.errors.length); // 0
 * ```
 * @module
 */
// Full npm: specifier, so that this module imports from outside this repository too.
import {
  type Document,
  type DocumentOptions,
  parseDocument,
  type ParseOptions,
  // deno-lint-ignore no-import-prefix
} from "npm:yaml@2.8.1";
import { UsageError } from "../errors/mod.ts";

/**
 * `text` parsed as one YAML document; `file` names it in the error.
 *
 * @throws {UsageError} when the parser fails on its own (nesting too deep for its recursion),
 * naming the file.
 */
export function parseYamlDocument(
  text: string,
  file: string,
  options: ParseOptions & DocumentOptions = {},
): Document.Parsed {
  try {
    return parseDocument(text, options);
  } catch (error) {
    throw new UsageError(
      `${file}: cannot be read as YAML: it nests too deeply, or the parser failed ` +
        `(${(error as Error).message})`,
      { cause: error },
    );
  }
}
