/**
 * Options shared by every command, so each flag means the same everywhere.
 *
 * @module
 */
import type { OptionSpec, ParsedOptions } from "./args.ts";
import { logExchange, type Output, type OutputMode } from "./output.ts";
import { parseDuration } from "./units.ts";
import { type Compression, COMPRESSIONS } from "../compress/mod.ts";
import { UsageError } from "../errors/mod.ts";
import { MAX_MTIME } from "../layer/mod.ts";
import { credentialLookup } from "../remote/credentials.ts";
import type { OpenTargetOptions } from "../target/mod.ts";

/** `--json`, `-q`, `--verbose`, `--debug` and `--help`. */
export const OUTPUT_OPTIONS: OptionSpec[] = [
  { name: "json", type: "boolean", description: "print one JSON document" },
  { name: "quiet", short: "q", type: "boolean", description: "print only the main value" },
  {
    name: "verbose",
    short: "v",
    type: "boolean",
    description: "log each HTTP request and other details on stderr",
  },
  {
    name: "debug",
    type: "boolean",
    description: "--verbose, plus HTTP headers (secrets redacted) and stack traces",
  },
  { name: "help", short: "h", type: "boolean", description: "show this help" },
];

/** The output mode that the parsed options select; `--debug` implies `--verbose`. */
export function outputMode(options: ParsedOptions): OutputMode {
  const debug = options.debug === true;
  return {
    json: options.json === true,
    quiet: options.quiet === true,
    verbose: debug || options.verbose === true,
    debug,
  };
}

/** Options of every command that talks to registries. */
export const REGISTRY_OPTIONS: OptionSpec[] = [
  {
    name: "username",
    short: "u",
    type: "string",
    value: "USER",
    description: "registry user name",
  },
  {
    name: "password-stdin",
    type: "boolean",
    description: "read the password or token from standard input",
  },
  {
    name: "password",
    type: "string",
    value: "PASS",
    description: "refused: a password on the command line leaks into shell history and ps",
  },
  {
    name: "credentials",
    type: "string",
    value: "FILE",
    description: 'a JSON file: Docker\'s {"auths": …} or {"username", "password", "registry"}',
  },
  {
    name: "plain-http",
    type: "boolean",
    description: "use HTTP instead of HTTPS (automatic for localhost and 127.0.0.1)",
  },
  {
    name: "ca-file",
    type: "string",
    value: "FILE",
    description: "trust this PEM certificate authority too",
  },
  {
    name: "retries",
    type: "string",
    value: "N",
    description: "retries of failed requests",
    default: "3",
  },
  {
    name: "timeout",
    type: "string",
    value: "DURATION",
    description: "how long to wait for a response, or for more of its body",
    default: "30s",
  },
];

/**
 * The target options that registry flags select: credentials in the order
 * users expect, transport settings, and a verbose request log.
 */
export async function registryOptions(
  options: ParsedOptions,
  out: Output,
): Promise<OpenTargetOptions> {
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
  const retries = options.retries === undefined ? undefined : Number(options.retries);
  if (retries !== undefined && (!Number.isInteger(retries) || retries < 0)) {
    throw new UsageError("--retries must be a whole number, 0 or more");
  }
  let exchanges = 0;
  const timeout = options.timeout === undefined
    ? undefined
    : parseDuration(options.timeout as string, "--timeout");
  return {
    credentials: credentialLookup({
      username: options.username as string | undefined,
      password,
      credentialsFile: options.credentials as string | undefined,
    }),
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

/** A positive whole number option, or undefined when absent. */
export function positiveInteger(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(`${option} must be a whole number, 1 or more`);
  }
  return n;
}

/** `--compression`, for every command that writes layers. */
export const COMPRESSION_OPTION: OptionSpec = {
  name: "compression",
  type: "string",
  value: "ALGO",
  description: "gzip, zstd or none",
  default: "gzip",
};

/** The `--compression` value, checked; `gzip` when absent. */
export function compressionOption(options: ParsedOptions): Compression {
  const value = options.compression as string | undefined ?? "gzip";
  if (!(COMPRESSIONS as readonly string[]).includes(value)) {
    throw new UsageError(`--compression must be one of ${COMPRESSIONS.join(", ")}`);
  }
  return value as Compression;
}
