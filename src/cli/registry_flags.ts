/**
 * What the registry flags select: credentials, transport settings and a request log, as
 * session options. A module of its own, re-exported by `common.ts`, so that `inspect` and
 * `tags`, which need nothing else of the shared options, load nothing else at start-up.
 *
 * @module
 */
import type { ParsedOptions } from "./args.ts";
import { logExchange, type Output } from "./output.ts";
import { type Bounds, parseDuration, parseWholeNumber } from "../units/mod.ts";
import { UsageError } from "../errors/mod.ts";
import type { CredentialLookup, CredentialOptions } from "../credentials/mod.ts";
import type { Session, SessionOptions } from "../target/mod.ts";

/**
 * The target options that registry flags select: credentials in the order
 * users expect, transport settings, and a verbose request log. `registry` is the one registry
 * that `--username` and `--password-stdin`, and a `--credentials` file's credential that names
 * no registry, are for: the command's own, as {@linkcode registryOf} picks it from the
 * references it writes to and reads. Any other registry the command talks to gets only the
 * credentials stored for it (`ocisync login`, a Docker config).
 */
export async function registryOptions(
  options: ParsedOptions,
  out: Output,
  registry: string | undefined,
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
  const password = options["password-stdin"] ? await stdinPassword(options) : undefined;
  const retries = options.retries === undefined
    ? undefined
    : parseWholeNumber(options.retries as string, "--retries", RETRIES_BOUNDS);
  let exchanges = 0;
  const timeout = options.timeout === undefined
    ? undefined
    : parseDuration(options.timeout as string, "--timeout");
  out.credentialRegistry = registry;
  const lookupOptions: CredentialOptions = {
    username: options.username as string | undefined,
    password,
    credentialsFile: options.credentials as string | undefined,
    registry,
    warn: (message) => out.warn(message),
  };
  // A given user is checked at once (a name needs a password); else the credential store
  // loads at the first lookup, which a layout or an archive never makes.
  const credentials = lookupOptions.username === undefined
    ? lazyCredentialLookup(lookupOptions)
    : (await import("../credentials/mod.ts")).credentialLookup(lookupOptions);
  // A --credentials file is read now, for the command's registry: a mistyped path is exit 4,
  // and a malformed or exposed file is said, though the registry may never ask for credentials.
  if (lookupOptions.credentialsFile !== undefined && registry !== undefined) {
    await credentials(registry);
  }
  return {
    credentials,
    plainHttp: options["plain-http"] === true,
    caFile: options["ca-file"] as string | undefined,
    retries,
    // One bound for both waits: for a response, and for more of its body.
    timeout,
    idleTimeout: timeout,
    // Without --verbose there is no log: the transport then leaves out its logging layer, which
    // would word a line for every request (a sync tick's HEAD among them) only to drop it.
    log: out.mode.verbose ? (line) => out.verbose(line) : undefined,
    onExchange: out.mode.debug ? (exchange) => logExchange(out, exchange, ++exchanges) : undefined,
  };
}

/**
 * The password of `--password-stdin`, without its final line break. `--username` is checked
 * first, so that a mistake does not wait for the end of input (a terminal's Ctrl-D); an empty
 * password is refused here rather than sent, which a registry would answer as a wrong one.
 */
async function stdinPassword(options: ParsedOptions): Promise<string> {
  if (!options.username) throw new UsageError("--password-stdin needs --username");
  const password = (await new Response(Deno.stdin.readable).text()).replace(/\r?\n$/, "");
  if (password === "") {
    throw new UsageError("--password-stdin read an empty password from standard input", {
      hint: 'pipe the password or token in: echo "$TOKEN" | ocisync … -u USER --password-stdin',
    });
  }
  return password;
}

/** A credential lookup that loads the credential store when it is first asked. */
function lazyCredentialLookup(options: CredentialOptions): CredentialLookup {
  let lookup: Promise<CredentialLookup> | undefined;
  return async (registry, repository) => {
    lookup ??= import("../credentials/mod.ts").then((store) => store.credentialLookup(options));
    return await (await lookup)(registry, repository);
  };
}

/**
 * The session of one command run, with the options the registry flags select (see
 * {@linkcode registryOptions}, which `registry` is passed to): every target the command opens
 * through it shares one client
 * per registry, so that the run learns each registry's challenge once and asks for a token once
 * per scope set. Close it when the command ends.
 *
 * @example
 * ```ts
 * import { openSession } from "./registry_flags.ts";
 * import { Output } from "./output.ts";
 * import { parseReference, registryOf } from "../ref/mod.ts";
 * const out = new Output({ json: false, quiet: false, verbose: false, debug: false });
 * const reference = parseReference("localhost:5000/app");
 * await using session = await openSession({}, out, registryOf(reference));
 * const target = await session.open(reference);
 * ```
 */
export async function openSession(
  options: ParsedOptions,
  out: Output,
  registry: string | undefined,
): Promise<Session> {
  // Loaded here, not with this module, as the credential store is (see above).
  const { Session } = await import("../target/mod.ts");
  return new Session(await registryOptions(options, out, registry));
}

/**
 * `--retries`: more would keep a command failing for hours, with backoff, on an error that
 * does not go away.
 */
export const RETRIES_BOUNDS: Bounds = { min: 0, max: 20 };
