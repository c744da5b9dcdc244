/**
 * Seeded fuzzing of the parsers that read what the network and other tools hand ocisync: the
 * reference parser, the tar reader, the manifest and index parser, and the `WWW-Authenticate`
 * parser. Each {@linkcode FuzzTarget} makes inputs from a seeded generator (valid documents,
 * mutated, and hostile by construction: giant declared sizes, broken lengths) and checks that the
 * parser gives a valid result or its typed error, within a time bound. `tests/fuzz_test.ts` runs a
 * fixed seed in CI; `scripts/fuzz.ts` runs longer on demand.
 *
 * @example
 * ```ts
 * import { FUZZ_TARGETS, fuzz } from "./fuzz.ts";
 * for (const target of FUZZ_TARGETS) {
 *   const report = await fuzz(target, { seed: 1, iterations: 100 });
 *   console.log(report.target, report.results, report.errors);
 * }
 * ```
 * @module
 */
import { createHash } from "node:crypto";
import { isDigest } from "../../src/digest/mod.ts";
import { concatBytes } from "./bytes.ts";
import {
  AuthError,
  IntegrityError,
  type OcisyncError,
  UnsafeContentError,
  UsageError,
} from "../../src/errors/mod.ts";
import { MANIFEST_MEDIA_TYPES, MediaType } from "../../src/oci/mediatypes.ts";
import {
  type Descriptor,
  type ManifestOrIndex,
  MAX_MANIFEST_BYTES,
  parseManifestOrIndex,
} from "../../src/oci/types.ts";
import {
  familiarReference,
  formatReference,
  isLoopbackRegistry,
  parseLayoutReference,
  parseReference,
  parseRegistryReference,
  type Reference,
} from "../../src/ref/mod.ts";
import { parseChallenges } from "../../src/remote/challenge.ts";
import { readTar } from "../../src/tar/reader.ts";

/**
 * mulberry32: a small seeded generator of numbers in [0, 1), so that a failure replays exactly.
 *
 * @example
 * ```ts
 * import { prng } from "./fuzz.ts";
 * const next = prng(42);
 * console.log(next(), next());
 * ```
 */
export function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Seeded choices for generators.
 *
 * @example
 * ```ts
 * import { Random } from "./fuzz.ts";
 * const random = new Random(7);
 * random.pick(["a", "b"]);
 * ```
 */
export class Random {
  #next: () => number;

  /** A generator for `seed`. */
  constructor(seed: number) {
    this.#next = prng(seed);
  }

  /** A whole number in [0, below). */
  int(below: number): number {
    return Math.floor(this.#next() * below);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.#next() < p;
  }

  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** `length` random bytes. */
  bytes(length: number): Uint8Array<ArrayBuffer> {
    return Uint8Array.from({ length }, () => this.int(256));
  }

  /** A string of up to `pieces` pieces, each mostly from `alphabet`, else any code point. */
  text(alphabet: readonly string[], pieces: number): string {
    let text = "";
    for (let i = this.int(pieces + 1); i > 0; i--) {
      text += this.chance(0.85) ? this.pick(alphabet) : String.fromCodePoint(this.int(0x2ffff));
    }
    return text;
  }
}

/** What a parser gave for one input: a valid result, or its typed error. */
export type Outcome = "result" | "error";

/** A parser under fuzzing. */
export interface FuzzTarget {
  /** The name `scripts/fuzz.ts --target` takes. */
  name: string;
  /** One input. */
  generate(random: Random): unknown;
  /**
   * Runs the parser on `input`. Resolves with the outcome; rejects when the parser throws an
   * untyped error or gives an invalid result.
   */
  run(input: unknown): Promise<Outcome>;
  /** A printable form of an input, for the report of a failure. */
  describe(input: unknown): string;
}

/** Options of {@linkcode fuzz}. */
export interface FuzzOptions {
  /** The generator's seed: the same seed gives the same inputs. */
  seed: number;
  /** How many inputs to try. */
  iterations: number;
  /** The most one input may take, in milliseconds. Default 2000. */
  timeoutMs?: number;
}

/** What a run found. */
export interface FuzzReport {
  /** The target's name. */
  target: string;
  /** The seed of the run. */
  seed: number;
  /** Inputs tried. */
  iterations: number;
  /** Inputs that gave a valid result. */
  results: number;
  /** Inputs refused with the typed error. */
  errors: number;
  /** The longest any input took, in milliseconds. */
  slowestMs: number;
}

/**
 * Runs `target` on `iterations` inputs from `seed`.
 *
 * @throws {Error} naming the seed, the iteration and the input, when an input throws an untyped
 * error, gives an invalid result, or takes longer than the timeout.
 * @example
 * ```ts
 * import { FUZZ_TARGETS, fuzz } from "./fuzz.ts";
 * const report = await fuzz(FUZZ_TARGETS[0], { seed: 0x5eed, iterations: 500 });
 * ```
 */
export async function fuzz(target: FuzzTarget, options: FuzzOptions): Promise<FuzzReport> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const random = new Random(options.seed);
  const report: FuzzReport = {
    target: target.name,
    seed: options.seed,
    iterations: options.iterations,
    results: 0,
    errors: 0,
    slowestMs: 0,
  };
  for (let iteration = 0; iteration < options.iterations; iteration++) {
    const input = target.generate(random);
    const started = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const hung = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no outcome within ${timeoutMs} ms`)), timeoutMs);
      });
      const outcome = await Promise.race([target.run(input), hung]);
      // A synchronous loop cannot be interrupted; it is caught here once it ends.
      const elapsed = performance.now() - started;
      if (elapsed > timeoutMs) throw new Error(`took ${Math.round(elapsed)} ms`);
      report.slowestMs = Math.max(report.slowestMs, elapsed);
      report[outcome === "result" ? "results" : "errors"]++;
    } catch (error) {
      throw new Error(
        `${target.name}, seed ${options.seed}, iteration ${iteration}: ${describeError(error)}\n` +
          `input: ${target.describe(input)}`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
  }
  return report;
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Fails unless `condition` holds: a result that breaks the parser's promise. */
function check(condition: boolean, problem: string): asserts condition {
  if (!condition) throw new Error(`invalid result: ${problem}`);
}

/**
 * The outcome of a parser call: its typed error is an outcome, any other error a failure. When
 * `message` is given, the typed error's message must match it.
 */
async function outcome(
  expected: new (...args: never[]) => OcisyncError,
  parse: () => Promise<void> | void,
  message?: RegExp,
): Promise<Outcome> {
  try {
    await parse();
    return "result";
  } catch (error) {
    if (!(error instanceof expected)) throw error;
    if (message && !message.test(error.message)) {
      throw new Error(`an error message not like ${message}: ${error.message}`);
    }
    return "error";
  }
}

function short(text: string): string {
  return JSON.stringify(text.length > 2000 ? `${text.slice(0, 2000)}…` : text);
}

// ---------------------------------------------------------------------------
// references

const HEX64 = "0123456789abcdef".repeat(4);
const REFERENCE_PIECES = [
  ..."/:@.-_ abcxyz0129ABZ[]\\\t",
  ..."/:@.-_abcdefg",
  "oci:",
  "localhost",
  "docker.io",
  "[::1]",
  "sha256:",
  HEX64,
  `@sha256:${HEX64}`,
  "library",
  ":5000",
  "..",
];

// A refused reference is quoted in the error.
const NAMES_INPUT = /^invalid reference /;

const referenceTarget: FuzzTarget = {
  name: "reference",
  generate: (random) => random.text(REFERENCE_PIECES, 16),
  async run(input) {
    const text = input as string;
    check(typeof isLoopbackRegistry(text) === "boolean", "isLoopbackRegistry");
    await outcome(UsageError, () => checkReference(parseRegistryReference(text)), NAMES_INPUT);
    await outcome(UsageError, () => checkReference(parseLayoutReference(text)), NAMES_INPUT);
    return await outcome(UsageError, () => checkReference(parseReference(text)), NAMES_INPUT);
  },
  describe: (input) => short(input as string),
};

/** A parsed reference is well formed, and its printed forms read back as the same reference. */
function checkReference(ref: Reference): void {
  if (ref.kind === "layout") {
    check(typeof ref.path === "string" && ref.path !== "", "layout path");
  } else {
    check(ref.kind === "registry", "kind");
    check(typeof ref.registry === "string" && ref.registry !== "", "registry");
    check(typeof ref.repository === "string" && ref.repository !== "", "repository");
  }
  check(ref.tag === undefined || /^\w[\w.-]{0,127}$/.test(ref.tag), `tag ${ref.tag}`);
  check(ref.digest === undefined || isDigest(ref.digest), `digest ${ref.digest}`);
  for (const print of [formatReference, familiarReference]) {
    check(
      JSON.stringify(parseReference(print(ref))) === JSON.stringify(ref),
      `${print.name} does not round-trip`,
    );
  }
}

// ---------------------------------------------------------------------------
// tar

const BLOCK = 512;
const encoder = new TextEncoder();
const NAME_PIECES = ["a", "b/", "dir/", "../", "/", ".", "é", "x".repeat(60), "\u0000", ".wh."];
const PAX_KEYS = ["path", "linkpath", "size", "mtime", "uid", "gid", "uname", "comment"];
const PAX_VALUES = ["", "0", "-1", "1e400", "NaN", "99999999999999999999", "9007199254740993", "x"];

/** A header's fields; `size` may be a number (octal, or base-256 when huge) or raw text. */
interface RawHeader {
  name: string;
  mode: number;
  size: number | string;
  mtime: number | string;
  type: string;
  linkName: string;
  prefix: string;
  ustar: boolean;
}

/** A 512-byte header built by hand, with a correct checksum unless told otherwise. */
function rawHeader(fields: RawHeader, badChecksum: boolean): Uint8Array {
  const block = new Uint8Array(BLOCK);
  const put = (offset: number, length: number, text: string) =>
    block.set(encoder.encode(text).subarray(0, length), offset);
  const number = (offset: number, length: number, value: number | string) => {
    if (typeof value === "string") return put(offset, length, value);
    if (value < 8 ** (length - 1)) {
      return put(offset, length, value.toString(8).padStart(length - 1, "0"));
    }
    // Base-256, as GNU tar writes values too large for octal.
    let rest = BigInt(Math.floor(value));
    for (let i = offset + length - 1; i > offset; i--, rest >>= 8n) block[i] = Number(rest & 255n);
    block[offset] = 0x80;
  };
  put(0, 100, fields.name);
  number(100, 8, fields.mode);
  number(108, 8, 0);
  number(116, 8, 0);
  number(124, 12, fields.size);
  number(136, 12, fields.mtime);
  block[156] = fields.type.charCodeAt(0);
  put(157, 100, fields.linkName);
  if (fields.ustar) put(257, 8, "ustar\u000000");
  put(345, 155, fields.prefix);
  block.fill(0x20, 148, 156);
  let sum = block.reduce((total, byte) => total + byte, 0);
  if (badChecksum) sum += 1;
  put(148, 8, `${sum.toString(8).padStart(6, "0")}\u0000 `);
  return block;
}

function padded(content: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(content.length / BLOCK) * BLOCK);
  out.set(content);
  return out;
}

/** PAX records, mostly well formed. */
function paxRecords(random: Random): Uint8Array {
  let text = "";
  for (let i = random.int(4); i >= 0; i--) {
    const record = ` ${random.pick(PAX_KEYS)}=${
      random.chance(0.5) ? random.pick(PAX_VALUES) : random.text(NAME_PIECES, 4)
    }\n`;
    // The length counts itself: find the digits that make it right.
    let length = record.length + 1;
    while (String(length).length + record.length !== length) length++;
    text += random.chance(0.85)
      ? `${length}${record}`
      : `${random.pick(["", "0", "-5", "99999999999", "x", String(length + 1)])}${record}`;
  }
  return encoder.encode(text);
}

/** An archive of hand-built entries, some valid, some lying about their sizes. */
function tarArchive(random: Random): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = random.int(6); i > 0; i--) {
    const type = random.pick(["0", "0", "5", "2", "1", "x", "g", "L", "K", "3", "4", "6", "7"]);
    const content = type === "x" || type === "g"
      ? paxRecords(random)
      : type === "L" || type === "K"
      ? encoder.encode(`${random.text(NAME_PIECES, 8)}\u0000`)
      : type === "0" || type === "7"
      ? random.bytes(random.int(1500))
      : new Uint8Array();
    const size = random.chance(0.85) ? content.length : random.pick<number | string>([
      2 ** 33, // over 8 GiB: base-256
      2 ** 60,
      0o77777777777,
      content.length + 1000,
      "9z",
      " 12 ",
      "",
    ]);
    const name = random.text(NAME_PIECES, 5);
    parts.push(
      rawHeader({
        name,
        mode: random.pick([0o644, 0o755, 0o7777, 0o4755]),
        size,
        mtime: random.pick<number | string>([0, 1_700_000_000, 2 ** 40, "zz"]),
        type,
        linkName: random.text(NAME_PIECES, 3),
        prefix: random.chance(0.2) ? random.text(NAME_PIECES, 4) : "",
        ustar: random.chance(0.8),
      }, random.chance(0.03)),
      padded(content),
    );
  }
  parts.push(new Uint8Array(random.pick([0, BLOCK, 2 * BLOCK, 10 * BLOCK])));
  return concatBytes(parts);
}

/** Byte-level damage: flipped bytes, a cut, inserted or repeated bytes. */
function mutate(random: Random, bytes: Uint8Array): Uint8Array {
  let out: Uint8Array = bytes.slice();
  for (let i = random.int(4); i > 0 && out.length > 0; i--) {
    const at = random.int(out.length);
    switch (random.int(4)) {
      case 0:
        out[at] ^= 1 << random.int(8);
        break;
      case 1:
        out = out.slice(0, at);
        break;
      case 2:
        out = concatBytes([out.subarray(0, at), random.bytes(random.int(40)), out.subarray(at)]);
        break;
      default:
        out = concatBytes([
          out.subarray(0, at),
          out.subarray(random.int(out.length)),
          out.subarray(at),
        ]);
    }
  }
  return out;
}

const TAR_ENTRY_TYPES = new Set(["file", "directory", "symlink", "hardlink", "other"]);

const tarTarget: FuzzTarget = {
  name: "tar",
  generate(random) {
    const archive = tarArchive(random);
    const bytes = random.chance(0.5) ? mutate(random, archive) : archive;
    // Chunk sizes of a network read.
    const cuts = Array.from({ length: random.int(5) }, () => random.int(bytes.length + 1));
    return { bytes, cuts: cuts.sort((a, b) => a - b) };
  },
  run(input) {
    const { bytes, cuts } = input as { bytes: Uint8Array; cuts: number[] };
    const chunks = [0, ...cuts].map((start, i) => bytes.subarray(start, cuts[i] ?? bytes.length));
    return outcome(UnsafeContentError, async () => {
      let content = 0;
      for await (const entry of readTar(ReadableStream.from(chunks))) {
        check(typeof entry.name === "string", "name");
        check(TAR_ENTRY_TYPES.has(entry.type), `type ${entry.type}`);
        check(Number.isSafeInteger(entry.size) && entry.size >= 0, `size ${entry.size}`);
        check(Number.isInteger(entry.mode) && entry.mode >= 0 && entry.mode <= 0o7777, "mode");
        check(Number.isInteger(entry.mtime), `mtime ${entry.mtime}`);
        let read = 0;
        for await (const chunk of entry.body) read += chunk.byteLength;
        check(read === entry.size, `body of ${read} bytes for a size of ${entry.size}`);
        content += read;
      }
      // Nothing is made up: the bodies come from the input.
      check(content <= bytes.length, `${content} bytes of content from ${bytes.length}`);
    });
  },
  describe: (input) => {
    const { bytes, cuts } = input as { bytes: Uint8Array; cuts: number[] };
    return `${bytes.length} bytes, cut at ${cuts.join(",")}, base64 ` +
      btoa(String.fromCharCode(...bytes.subarray(0, 4096)));
  },
};

// ---------------------------------------------------------------------------
// manifests and indexes

const MEDIA_TYPES = [...MANIFEST_MEDIA_TYPES, MediaType.OciLayer, "application/json", "", "x/y"];
const JSON_JUNK: unknown[] = [
  null,
  true,
  0,
  -1,
  1.5,
  1e300,
  2 ** 53,
  "",
  "sha256:xyz",
  `sha256:${"a".repeat(64)}`,
  [],
  {},
  [1, "a"],
  { "__proto__": { size: 1 } },
  "x".repeat(300),
];

function descriptor(random: Random): Record<string, unknown> {
  const bytes = random.bytes(8);
  const out: Record<string, unknown> = {
    mediaType: random.pick(MEDIA_TYPES),
    digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`,
    size: random.int(1 << 20),
  };
  if (random.chance(0.3)) out.annotations = { "org.opencontainers.image.title": "a.txt" };
  if (random.chance(0.3)) {
    out.platform = { os: "linux", architecture: random.pick(["amd64", "arm64"]) };
  }
  if (random.chance(0.1)) out.urls = ["https://example.invalid/blob"];
  if (random.chance(0.1)) out.artifactType = "application/example";
  if (random.chance(0.1)) out.data = "e30=";
  return out;
}

function document(random: Random): Record<string, unknown> {
  const isIndex = random.chance(0.4);
  const doc: Record<string, unknown> = { schemaVersion: 2 };
  if (random.chance(0.8)) {
    doc.mediaType = isIndex
      ? random.pick([MediaType.OciIndex, MediaType.DockerManifestList])
      : random.pick([MediaType.OciManifest, MediaType.DockerManifest]);
  }
  const descriptors = () => Array.from({ length: random.int(4) }, () => descriptor(random));
  if (isIndex) doc.manifests = descriptors();
  else {
    doc.config = descriptor(random);
    doc.layers = descriptors();
  }
  if (random.chance(0.2)) doc.subject = descriptor(random);
  if (random.chance(0.2)) doc.annotations = { created: "now" };
  if (random.chance(0.1)) doc.artifactType = "application/example";
  return doc;
}

/** Replaces, removes or adds one value somewhere in the document. */
function damage(random: Random, value: unknown): unknown {
  if (Array.isArray(value)) {
    if (value.length === 0 || random.chance(0.2)) return random.pick(JSON_JUNK);
    const copy = [...value];
    const at = random.int(copy.length);
    copy[at] = damage(random, copy[at]);
    return copy;
  }
  if (value !== null && typeof value === "object") {
    const copy = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(copy);
    if (keys.length === 0 || random.chance(0.15)) return random.pick(JSON_JUNK);
    const key = random.pick(keys);
    if (random.chance(0.2)) delete copy[key];
    else copy[key] = damage(random, copy[key]);
    return copy;
  }
  return random.pick(JSON_JUNK);
}

const manifestTarget: FuzzTarget = {
  name: "manifest",
  generate(random) {
    const contentType = random.chance(0.5) ? random.pick(MEDIA_TYPES) : undefined;
    let doc: unknown = document(random);
    for (let i = random.int(3); i > 0; i--) doc = damage(random, doc);
    let bytes: Uint8Array = encoder.encode(JSON.stringify(doc));
    const form = random.int(100);
    if (form < 20) bytes = mutate(random, bytes);
    else if (form < 22) bytes = encoder.encode("[".repeat(100_000)); // deep nesting
    else if (form < 23) {
      // Just over the limit, and valid otherwise.
      const padding = "x".repeat(MAX_MANIFEST_BYTES);
      bytes = encoder.encode(JSON.stringify({ ...document(random), annotations: { padding } }));
    }
    return { bytes, contentType };
  },
  run(input) {
    const { bytes, contentType } = input as { bytes: Uint8Array; contentType?: string };
    return outcome(IntegrityError, () => checkParsed(parseManifestOrIndex(bytes, contentType)));
  },
  describe: (input) => {
    const { bytes, contentType } = input as { bytes: Uint8Array; contentType?: string };
    return `content type ${contentType}: ${short(new TextDecoder().decode(bytes))}`;
  },
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isStringMap(value: unknown): boolean {
  return isRecord(value) && Object.values(value).every((v) => typeof v === "string");
}

/** A parsed document is what its types say, all the way down. */
function checkParsed(parsed: ManifestOrIndex): void {
  const doc = (parsed.kind === "index" ? parsed.index : parsed.manifest) as unknown as Record<
    string,
    unknown
  >;
  check(doc.schemaVersion === 2, "schemaVersion");
  check(typeof parsed.mediaType === "string" && parsed.mediaType !== "", "mediaType");
  check(doc.mediaType === undefined || typeof doc.mediaType === "string", "document mediaType");
  check(doc.artifactType === undefined || typeof doc.artifactType === "string", "artifactType");
  check(doc.annotations === undefined || isStringMap(doc.annotations), "annotations");
  if (doc.subject !== undefined) checkDescriptor(doc.subject, "subject");
  if (parsed.kind === "index") {
    check(Array.isArray(parsed.index.manifests), "manifests");
    parsed.index.manifests.forEach((d, i) => checkDescriptor(d, `manifests[${i}]`));
  } else {
    checkDescriptor(parsed.manifest.config, "config");
    check(Array.isArray(parsed.manifest.layers), "layers");
    parsed.manifest.layers.forEach((d, i) => checkDescriptor(d, `layers[${i}]`));
  }
}

function checkDescriptor(value: unknown, where: string): void {
  check(isRecord(value), `${where} is an object`);
  const d = value as unknown as Descriptor;
  check(typeof d.mediaType === "string" && d.mediaType !== "", `${where}.mediaType`);
  check(typeof d.digest === "string" && isDigest(d.digest), `${where}.digest`);
  check(Number.isSafeInteger(d.size) && d.size >= 0, `${where}.size`);
  check(d.annotations === undefined || isStringMap(d.annotations), `${where}.annotations`);
  check(
    d.urls === undefined || (Array.isArray(d.urls) && d.urls.every((u) => typeof u === "string")),
    `${where}.urls`,
  );
  check(
    d.artifactType === undefined || typeof d.artifactType === "string",
    `${where}.artifactType`,
  );
  check(d.data === undefined || typeof d.data === "string", `${where}.data`);
  const platform = d.platform as unknown;
  check(
    platform === undefined ||
      (isRecord(platform) && typeof platform.os === "string" &&
        typeof platform.architecture === "string" &&
        (platform.variant === undefined || typeof platform.variant === "string")),
    `${where}.platform`,
  );
}

// ---------------------------------------------------------------------------
// WWW-Authenticate

const CHALLENGE_PIECES = [
  "Bearer",
  "Basic",
  " ",
  "\t",
  ",",
  "=",
  '"',
  "\\",
  "realm",
  "service",
  "scope",
  "https://r/token",
  "repository:a/b:pull,push",
  "__proto__",
  "é",
  "\u0000",
  "\u{1F600}",
];

const challengeTarget: FuzzTarget = {
  name: "challenge",
  generate: (random) =>
    random.chance(0.01)
      ? `Bearer realm="${"x".repeat(100_000)}`
      : random.text(CHALLENGE_PIECES, 24),
  run: (input) =>
    outcome(AuthError, () => {
      for (const challenge of parseChallenges(input as string)) {
        check(/^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(challenge.scheme), `scheme ${challenge.scheme}`);
        check(challenge.params instanceof Map, "params");
        for (const [name, value] of challenge.params) {
          check(name === name.toLowerCase() && name !== "", `parameter ${name}`);
          check(typeof value === "string", "value");
        }
      }
    }),
  describe: (input) => short(input as string),
};

/**
 * Every parser under fuzzing, by name.
 *
 * @example
 * ```ts
 * import { FUZZ_TARGETS } from "./fuzz.ts";
 * console.log(FUZZ_TARGETS.map((t) => t.name)); // ["reference", "tar", "manifest", "challenge"]
 * ```
 */
export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  referenceTarget,
  tarTarget,
  manifestTarget,
  challengeTarget,
];
