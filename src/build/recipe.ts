/**
 * The `ocisync.yaml` recipe: an image, its tags, an optional base, the
 * platform, the layers, and the runtime config. Every error names the file,
 * line and column of the value at fault.
 *
 * ```yaml
 * image: ghcr.io/acme/flows:v1
 * tags: [latest]
 * base: docker.io/prefecthq/prefect-client:3-python3.12   # optional
 * platform: linux/amd64                # or platforms: [linux/amd64, linux/arm64], an index
 * layers:
 *   - requirements: requirements.txt    # pip install, under dest (default /opt/ocisync/deps)
 *     python_version: "3.12"
 *     platforms: [manylinux2014_x86_64]
 *   - source: ./flows                   # packed as `pack` does
 *     dest: /opt/prefect/flows
 *     exclude: ["*.log"]
 * config:
 *   workdir: /opt/prefect/flows
 *   env: { PYTHONPATH: /opt/ocisync/deps }
 *   labels: { org.opencontainers.image.source: https://github.com/acme/flows }
 * ```
 *
 * Paths, an `oci:` layout's included, are relative to the recipe's folder.
 *
 * @example
 * ```ts
 * import { readRecipe } from "./recipe.ts";
 * const recipe = await readRecipe("ocisync.yaml");
 * console.log(recipe.layers.length);
 * ```
 * @module
 */
// Full npm: specifier, so that this module imports from outside this repository too.
import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  type Scalar,
  type YAMLMap,
  // deno-lint-ignore no-import-prefix
} from "npm:yaml@2.8.1";
import { dirname, join } from "node:path";
import { parseYamlDocument } from "../yaml/mod.ts";
import { type Compression, COMPRESSIONS } from "../compress/mod.ts";
import { NotFoundError, OcisyncError, UsageError } from "../errors/mod.ts";
import { readNamedText } from "../fs/read.ts";
import type { ConfigEdits } from "../image/edit.ts";
import { formatPlatform, parsePlatform } from "../image/platform.ts";
import type { Platform } from "../oci/types.ts";
import {
  DEFAULT_DEPS_PREFIX,
  type DepsOptions,
  type InstallerChoice,
  type Libc,
  LIBCS,
} from "../python/mod.ts";
import { parseReference, type Reference } from "../ref/mod.ts";

/** A layer of Python dependencies, installed from a requirements file. */
export interface RequirementsLayer extends
  Pick<
    DepsOptions,
    | "pythonVersion"
    | "platforms"
    | "implementation"
    | "indexUrl"
    | "extraIndexUrls"
    | "findLinks"
    | "noIndex"
    | "installer"
  > {
  /** Tells the layer kinds apart. */
  kind: "requirements";
  /** The requirements file. */
  requirements: string;
  /** Where the packages land in the image. */
  dest: string;
}

/** A layer packed from a folder. */
export interface SourceLayer {
  /** Tells the layer kinds apart. */
  kind: "source";
  /** The folder. */
  source: string;
  /** Where it lands in the image. */
  dest: string;
  /** gitignore-style patterns to leave out. */
  exclude: string[];
}

/** One layer of a recipe. */
export type RecipeLayer = RequirementsLayer | SourceLayer;

/** A validated recipe, with paths resolved against its folder. */
export interface Recipe {
  /** The recipe file. */
  file: string;
  /** Where the image goes. */
  image: Reference;
  /** More tags. */
  tags: string[];
  /** The image to append to. */
  base?: Reference;
  /** The image's platform (the base's, chosen from an index). */
  platform?: Platform;
  /**
   * The platforms of a multi-platform image (`platforms:`), an index with one manifest per
   * platform; each is chosen from the base's index. Exclusive with `platform`.
   */
  platforms?: Platform[];
  /**
   * The target images' C library, which chooses the wheels of a multi-platform build's
   * dependency layers: glibc (manylinux, the default) or musl (Alpine, musllinux).
   */
  libc?: Libc;
  /** The compression of built layers. */
  compression?: Compression;
  /** The layers, from the bottom up. */
  layers: RecipeLayer[];
  /** The runtime config. */
  config: ConfigEdits;
  /** Manifest annotations. */
  annotations: Record<string, string>;
}

const TOP_KEYS = [
  "image",
  "tags",
  "base",
  "platform",
  "platforms",
  "libc",
  "compression",
  "layers",
  "config",
  "annotations",
];
const REQUIREMENTS_KEYS = [
  "requirements",
  "dest",
  "python_version",
  "platforms",
  "implementation",
  "index_url",
  "extra_index_urls",
  "find_links",
  "no_index",
  "installer",
];
const SOURCE_KEYS = ["source", "dest", "exclude"];
const CONFIG_KEYS = ["workdir", "env", "entrypoint", "cmd", "user", "labels"];
const INSTALLERS = ["pip", "uv", "auto"];

/**
 * Reads and validates a recipe file.
 *
 * @throws {NotFoundError} when the file does not exist.
 * @throws {UsageError} `FILE:LINE:COLUMN: …` for a YAML or schema error.
 * @example
 * ```ts
 * import { readRecipe } from "./recipe.ts";
 * const recipe = await readRecipe("examples/prefect/ocisync.yaml");
 * console.log(recipe.image);
 * ```
 */
export async function readRecipe(file: string): Promise<Recipe> {
  let text: string;
  try {
    text = await readNamedText(file, "the recipe");
  } catch (error) {
    if (error instanceof OcisyncError) throw error;
    if (error instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`no such recipe: ${file}`, {
        hint: "write an ocisync.yaml, or name one with -f FILE",
      });
    }
    throw new OcisyncError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  return parseRecipe(text, file);
}

/**
 * Validates recipe text; `file` names it in errors and anchors relative paths.
 *
 * @throws {UsageError} `FILE:LINE:COLUMN: …` for a YAML or schema error.
 * @example
 * ```ts
 * import { parseRecipe } from "./recipe.ts";
 * const recipe = parseRecipe("image: oci:./out:v1\nlayers:\n  - source: .\n    dest: /app\n", "x.yaml");
 * console.log(recipe.layers[0].kind); // "source"
 * ```
 */
export function parseRecipe(text: string, file: string): Recipe {
  return new RecipeReader(text, file).read();
}

class RecipeReader {
  readonly #file: string;
  readonly #folder: string;
  readonly #lines = new LineCounter();
  readonly #text: string;

  constructor(text: string, file: string) {
    this.#text = text;
    this.#file = file;
    this.#folder = dirname(file);
  }

  read(): Recipe {
    const doc = parseYamlDocument(this.#text, this.#file, {
      lineCounter: this.#lines,
      prettyErrors: false,
    });
    const [error] = doc.errors;
    if (error) this.#fail(error.pos[0], error.message.split("\n")[0]);
    if (!isMap(doc.contents)) {
      this.#fail(doc.contents?.range?.[0] ?? 0, "a recipe is a mapping with image and layers");
    }
    const top = this.#fields(doc.contents, TOP_KEYS, "the recipe");
    const image = this.#required(top, "image", doc.contents, "the recipe");
    const layers = this.#required(top, "layers", doc.contents, "the recipe");
    const platform = top.get("platform");
    const platforms = top.get("platforms");
    if (platform && platforms) {
      this.#fail(platforms, "give platform: or platforms:, not both");
    }
    const compression = top.get("compression");
    const libc = top.get("libc");
    const parsedPlatform = platform ? this.#platform(platform) : undefined;
    const parsedPlatforms = platforms ? this.#platforms(platforms) : undefined;
    const recipeLayers = this.#layers(layers);
    if (parsedPlatforms && parsedPlatforms.length > 1) {
      for (const [i, layer] of recipeLayers.entries()) {
        if (layer.kind === "requirements" && layer.platforms) {
          const item = (layers as { items: YAMLMap[] }).items[i];
          this.#fail(
            item.items.find((pair) => (pair.key as Scalar).value === "platforms")?.key as Node,
            "a requirements layer's platforms: (pip tags) fit one image platform; with several " +
              "platforms, leave it out: each platform's wheels are chosen from it",
          );
        }
      }
    }
    return {
      file: this.#file,
      image: this.#reference(image),
      tags: this.#strings(top.get("tags"), "tags"),
      ...(top.has("base") ? { base: this.#reference(top.get("base")!) } : {}),
      ...(parsedPlatform ? { platform: parsedPlatform } : {}),
      ...(parsedPlatforms ? { platforms: parsedPlatforms } : {}),
      ...(libc ? { libc: this.#choice(libc, "libc", LIBCS) as Libc } : {}),
      ...(compression
        ? { compression: this.#choice(compression, "compression", COMPRESSIONS) as Compression }
        : {}),
      layers: recipeLayers,
      config: this.#config(top.get("config")),
      annotations: this.#stringMap(top.get("annotations"), "annotations"),
    };
  }

  #layers(node: Node): RecipeLayer[] {
    if (!isSeq(node) || node.items.length === 0) {
      this.#fail(node, "layers is a list of entries with requirements: or source:");
    }
    return node.items.map((item) => {
      const entry = item as Node;
      if (!isMap(entry)) this.#fail(entry, "a layer is a mapping with requirements: or source:");
      const keys = entry.items.map((pair) => String((pair.key as Scalar).value));
      if (keys.includes("requirements") === keys.includes("source")) {
        this.#fail(entry, "a layer has exactly one of requirements: and source:");
      }
      return keys.includes("requirements")
        ? this.#requirementsLayer(entry)
        : this.#sourceLayer(entry);
    });
  }

  #requirementsLayer(entry: YAMLMap): RequirementsLayer {
    const fields = this.#fields(entry, REQUIREMENTS_KEYS, "a requirements layer");
    const optional = (key: string) =>
      fields.has(key) ? this.#string(fields.get(key)!, key) : undefined;
    const installer = fields.get("installer");
    const layer: RequirementsLayer = {
      kind: "requirements",
      requirements: this.#path(this.#string(fields.get("requirements")!, "requirements")),
      dest: this.#dest(fields.get("dest")) ?? DEFAULT_DEPS_PREFIX,
      pythonVersion: optional("python_version"),
      platforms: fields.has("platforms")
        ? this.#strings(fields.get("platforms"), "platforms")
        : undefined,
      implementation: optional("implementation"),
      indexUrl: optional("index_url"),
      extraIndexUrls: fields.has("extra_index_urls")
        ? this.#strings(fields.get("extra_index_urls"), "extra_index_urls")
        : undefined,
      findLinks: fields.has("find_links")
        ? this.#strings(fields.get("find_links"), "find_links").map((link) =>
          link.includes("://") ? link : this.#path(link)
        )
        : undefined,
      noIndex: fields.has("no_index")
        ? this.#boolean(fields.get("no_index")!, "no_index")
        : undefined,
      installer: installer
        ? this.#choice(installer, "installer", INSTALLERS) as InstallerChoice
        : undefined,
    };
    return Object.fromEntries(
      Object.entries(layer).filter(([, value]) => value !== undefined),
    ) as unknown as RequirementsLayer;
  }

  #sourceLayer(entry: YAMLMap): SourceLayer {
    const fields = this.#fields(entry, SOURCE_KEYS, "a source layer");
    return {
      kind: "source",
      source: this.#path(this.#string(fields.get("source")!, "source")),
      dest: this.#dest(this.#required(fields, "dest", entry, "a source layer"))!,
      exclude: this.#strings(fields.get("exclude"), "exclude"),
    };
  }

  #config(node: Node | undefined): ConfigEdits {
    if (node === undefined) return {};
    if (!isMap(node)) this.#fail(node, "config is a mapping");
    const fields = this.#fields(node, CONFIG_KEYS, "config");
    const edits: ConfigEdits = {};
    const env = fields.get("env");
    if (env) {
      edits.env = isMap(env)
        ? Object.entries(this.#stringMap(env, "env")).map(([name, value]) => `${name}=${value}`)
        : this.#strings(env, "env").map((setting, i) => {
          if (!/^[^=]+=/.test(setting)) {
            this.#fail(
              (env as { items: Node[] }).items[i],
              `an env entry is NAME=VALUE, not "${setting}"`,
            );
          }
          return setting;
        });
    }
    const workdir = fields.get("workdir");
    if (workdir) {
      edits.workdir = this.#string(workdir, "workdir");
      if (!edits.workdir.startsWith("/")) this.#fail(workdir, "workdir must be an absolute path");
    }
    for (const key of ["entrypoint", "cmd"] as const) {
      const value = fields.get(key);
      if (value) edits[key] = isSeq(value) ? this.#strings(value, key) : [this.#string(value, key)];
    }
    if (fields.has("user")) edits.user = this.#scalarText(fields.get("user")!, "user");
    if (fields.has("labels")) edits.labels = this.#stringMap(fields.get("labels"), "labels");
    return edits;
  }

  /** The pairs of a mapping by key, refusing keys outside `allowed`. */
  #fields(map: YAMLMap, allowed: string[], what: string): Map<string, Node> {
    const fields = new Map<string, Node>();
    for (const pair of map.items) {
      const key = pair.key as Node;
      const name = isScalar(key) ? String(key.value) : "";
      if (!allowed.includes(name)) {
        this.#fail(key, `unknown key "${name}" in ${what}; expected one of ${allowed.join(", ")}`);
      }
      fields.set(name, (pair.value ?? key) as Node);
    }
    return fields;
  }

  #required(fields: Map<string, Node>, key: string, parent: Node, what: string): Node {
    const node = fields.get(key);
    if (!node) this.#fail(parent, `${what} needs ${key}:`);
    return node;
  }

  #string(node: Node, key: string): string {
    if (!isScalar(node) || typeof node.value !== "string" || node.value === "") {
      const hint = isScalar(node) && typeof node.value === "number"
        ? ` (quote it: YAML reads ${node.source ?? node.value} as a number)`
        : "";
      this.#fail(node, `${key} must be a non-empty string${hint}`);
    }
    return node.value;
  }

  /** A scalar as written: labels and user IDs are often numbers, and `1.0` must stay `1.0`. */
  #scalarText(node: Node, key: string): string {
    if (!isScalar(node) || node.value === null || typeof node.value === "object") {
      this.#fail(node, `${key} must be a string, a number or a boolean`);
    }
    return typeof node.value === "string" ? node.value : node.source ?? String(node.value);
  }

  #boolean(node: Node, key: string): boolean {
    if (!isScalar(node) || typeof node.value !== "boolean") {
      this.#fail(node, `${key} must be true or false`);
    }
    return node.value;
  }

  #strings(node: Node | undefined, key: string): string[] {
    if (node === undefined) return [];
    if (isScalar(node)) return [this.#string(node, key)];
    if (!isSeq(node)) this.#fail(node, `${key} must be a list of strings`);
    return node.items.map((item) => this.#string(item as Node, key));
  }

  #stringMap(node: Node | undefined, key: string): Record<string, string> {
    if (node === undefined) return {};
    if (!isMap(node)) this.#fail(node, `${key} must be a mapping`);
    return Object.fromEntries(node.items.map((pair) => [
      this.#scalarText(pair.key as Node, `a key of ${key}`),
      this.#scalarText(
        (pair.value ?? pair.key) as Node,
        `${key}.${String((pair.key as Scalar).value)}`,
      ),
    ]));
  }

  #choice(node: Node, key: string, choices: readonly string[]): string {
    const value = this.#string(node, key);
    if (!choices.includes(value)) this.#fail(node, `${key} must be one of ${choices.join(", ")}`);
    return value;
  }

  #dest(node: Node | undefined): string | undefined {
    if (node === undefined) return undefined;
    const dest = this.#string(node, "dest");
    if (!dest.startsWith("/")) this.#fail(node, "dest must be an absolute path in the image");
    if (dest.split("/").includes("..")) this.#fail(node, 'dest must not contain ".."');
    return dest;
  }

  #platform(node: Node): Platform {
    const text = this.#string(node, "platform");
    return this.#checked(node, () => parsePlatform(text));
  }

  #platforms(node: Node): Platform[] {
    if (!isSeq(node) || node.items.length === 0) {
      this.#fail(node, "platforms is a non-empty list of os/arch[/variant], e.g. [linux/amd64]");
    }
    const seen = new Set<string>();
    return node.items.map((item) => {
      const platform = this.#platform(item as Node);
      const key = formatPlatform(platform);
      if (seen.has(key)) this.#fail(item as Node, `platform ${key} is listed twice`);
      seen.add(key);
      return platform;
    });
  }

  #reference(node: Node): Reference {
    const text = this.#string(node, "an image reference");
    const reference = this.#checked(node, () => parseReference(text));
    if (reference.kind === "layout") reference.path = this.#path(reference.path);
    return reference;
  }

  #path(path: string): string {
    return path.startsWith("/") ? path : join(this.#folder, path);
  }

  /** Runs a parser of the CLI's values and places its usage error at `node`. */
  #checked<T>(node: Node, parse: () => T): T {
    try {
      return parse();
    } catch (error) {
      if (error instanceof UsageError) this.#fail(node, error.message);
      throw error;
    }
  }

  #fail(at: Node | number | null | undefined, message: string): never {
    const offset = typeof at === "number" ? at : at?.range?.[0] ?? 0;
    const { line, col } = this.#lines.linePos(offset);
    throw new UsageError(`${this.#file}:${line}:${col}: ${message}`);
  }
}
