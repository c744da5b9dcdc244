/**
 * Options shared by every command, so each flag means the same everywhere.
 *
 * @module
 */
import { flagPlatform } from "./platforms.ts";
import type { ParsedOptions } from "./args.ts";
import { logExchange, type Output } from "./output.ts";
import { type Bounds, parseDuration, parseWholeNumber, POSITIVE_BOUNDS } from "../units/mod.ts";
import { type Compression, COMPRESSIONS } from "../compress/names.ts";
import { UsageError } from "../errors/mod.ts";
import { MAX_MTIME } from "../layer/limits.ts";
import type { Platform } from "../oci/types.ts";
import type { CredentialLookup, CredentialOptions } from "../credentials/mod.ts";
import type { Session, SessionOptions } from "../target/mod.ts";

// The option specs live in a light module of their own, so that `--help` and the completions
// load no command's code; they are re-exported here for the commands.
export { COMPRESSION_OPTION, OUTPUT_OPTIONS, outputMode, REGISTRY_OPTIONS } from "./options.ts";

/**
 * The target options that registry flags select: credentials in the order
 * users expect, transport settings, and a verbose request log.
 */
export async function registryOptions(
  options: ParsedOptions,
  out: Output,
): Promise<SessionOptions> {
  if (options.password !== undefined) {
    throw new UsageError("--password is refused: it would show in shell history and ps", {
      hint: 'pipe it in: echo "$TOKEN" | ocisync … --username USER --password-stdin',
    });
  }
  if (options.insecure) {
    throw new UsageError(
      "--insecure is not supported: the Deno runtime verifies every TLS certificate",
      {
        hint: "trust the registry's certificate with --ca-file FILE, or use --plain-http",
      },
    );
  }
  let password: string | undefined;
  if (options["password-stdin"]) {
    password = (await new Response(Deno.stdin.readable).text()).replace(/\r?\n$/, "");
    if (!options.username) throw new UsageError("--password-stdin needs --username");
  }
  const retries = options.retries === undefined
    ? undefined
    : parseWholeNumber(options.retries as string, "--retries", RETRIES_BOUNDS);
  let exchanges = 0;
  const timeout = options.timeout === undefined
    ? undefined
    : parseDuration(options.timeout as string, "--timeout");
  const lookupOptions: CredentialOptions = {
    username: options.username as string | undefined,
    password,
    credentialsFile: options.credentials as string | undefined,
    warn: (message) => out.warn(message),
  };
  return {
    // A given user is checked at once (a name needs a password); else the credential store
    // loads at the first lookup, which a layout or an archive never makes.
    credentials: lookupOptions.username === undefined
      ? lazyCredentialLookup(lookupOptions)
      : (await import("../credentials/mod.ts")).credentialLookup(lookupOptions),
    plainHttp: options["plain-http"] === true,
    caFile: options["ca-file"] as string | undefined,
    retries,
    // One bound for both waits: for a response, and for more of its body.
    timeout,
    idleTimeout: timeout,
    log: (line) => out.verbose(line),
    onExchange: out.mode.debug ? (exchange) => logExchange(out, exchange, ++exchanges) : undefined,
  };
}

/** A credential lookup that loads the credential store when it is first asked. */
function lazyCredentialLookup(options: CredentialOptions): CredentialLookup {
  let lookup: Promise<CredentialLookup> | undefined;
  return async (registry) => {
    lookup ??= import("../credentials/mod.ts").then((store) => store.credentialLookup(options));
    return await (await lookup)(registry);
  };
}

/**
 * The session of one command run, with the options the registry flags select (see
 * {@linkcode registryOptions}): every target the command opens through it shares one client
 * per registry, so that the run learns each registry's challenge once and asks for a token once
 * per scope set. Close it when the command ends.
 *
 * @example
 * ```ts
 * import { openSession } from "./common.ts";
 * import { Output } from "./output.ts";
 * import { parseReference } from "../ref/mod.ts";
 * const out = new Output({ json: false, quiet: false, verbose: false, debug: false });
 * await using session = await openSession({}, out);
 * const target = await session.open(parseReference("localhost:5000/app"));
 * ```
 */
export async function openSession(options: ParsedOptions, out: Output): Promise<Session> {
  // Loaded here, not with this module, as the credential store is (see above).
  const { Session } = await import("../target/mod.ts");
  return new Session(await registryOptions(options, out));
}

/**
 * Seconds since the epoch from `flag` (named `option`), else from
 * `SOURCE_DATE_EPOCH`, else 0: the mtime of packed entries and an image's
 * `created`, so builds are reproducible.
 */
export function sourceDateEpoch(flag?: string, option = "--mtime"): number {
  const source = flag !== undefined ? option : "SOURCE_DATE_EPOCH";
  const value = flag ?? Deno.env.get("SOURCE_DATE_EPOCH");
  if (value === undefined || value === "") return 0;
  if (!/^\d+$/.test(value) || Number(value) > MAX_MTIME) {
    throw new UsageError(`${source} must be whole seconds since the epoch, from 0 to ${MAX_MTIME}`);
  }
  return Number(value);
}

/**
 * `--retries`: more would keep a command failing for hours, with backoff, on an error that
 * does not go away.
 */
export const RETRIES_BOUNDS: Bounds = { min: 0, max: 20 };

/**
 * `--concurrency`: each transfer holds buffers and a connection; a million of them is a crash
 * ("Invalid array length"), not speed.
 */
export const CONCURRENCY_BOUNDS: Bounds = { min: 1, max: 64 };

/**
 * The ranges of whole-number flags, by flag, so that every command that takes one checks the
 * same range through {@linkcode positiveInteger}. Other flags take 1 or more.
 */
const WHOLE_NUMBER_BOUNDS: Record<string, Bounds> = { "--concurrency": CONCURRENCY_BOUNDS };

/**
 * A whole-number option of 1 or more, or undefined when absent; a flag listed in the shared
 * ranges (`--concurrency`, 1 to 64) is held to its range.
 *
 * @throws {UsageError} naming the option and its range.
 * @example
 * ```ts
 * import { positiveInteger } from "./common.ts";
 * positiveInteger("8", "--concurrency"); // 8
 * ```
 */
export function positiveInteger(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  return parseWholeNumber(value, option, WHOLE_NUMBER_BOUNDS[option] ?? POSITIVE_BOUNDS);
}

/**
 * The `--platform` option parsed, or undefined when absent; errors name the flag.
 *
 * @throws {UsageError} for a value that is not `os/arch[/variant]`.
 * @example
 * ```ts
 * import { platformOption } from "./common.ts";
 * platformOption({ platform: "linux/arm64" }); // { os: "linux", architecture: "arm64", variant: "v8" }
 * ```
 */
export function platformOption(options: ParsedOptions): Platform | undefined {
  const value = options.platform as string | undefined;
  return value === undefined ? undefined : flagPlatform(value);
}

/** The `--compression` value, checked; `gzip` when absent. */
export function compressionOption(options: ParsedOptions): Compression {
  const value = options.compression as string | undefined ?? "gzip";
  if (!(COMPRESSIONS as readonly string[]).includes(value)) {
    throw new UsageError(`--compression must be one of ${COMPRESSIONS.join(", ")}`);
  }
  return value as Compression;
}
