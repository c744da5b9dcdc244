/**
 * A `docker-credential-NAME` program as a {@linkcode CredentialStore}, speaking the protocol of
 * docker-credential-helpers: the verb is the only argument, the input comes on stdin and the
 * answer on stdout.
 *
 * - `get`: stdin is the server URL; stdout is `{"ServerURL", "Username", "Secret"}`, or the
 *   words "credentials not found" with a non-zero exit when there is none.
 * - `store`: stdin is `{"ServerURL", "Username", "Secret"}`.
 * - `erase`: stdin is the server URL.
 *
 * The username `<token>` marks the secret as an identity token. The server URL is the key
 * `docker login` uses: `https://index.docker.io/v1/` for Docker Hub, the host otherwise.
 *
 * @example
 * ```ts
 * import { CredentialHelper } from "./helper.ts";
 * const helper = new CredentialHelper("pass");
 * await helper.get("ghcr.io"); // runs `docker-credential-pass get`
 * ```
 * @module
 */
import { AuthError, quoteRemote, redactSecrets, UsageError } from "../errors/mod.ts";
import { readBounded } from "../streams/mod.ts";
import { errorText } from "./json_file.ts";
import {
  type Credential,
  type CredentialStore,
  defaultEnv,
  type EnvLookup,
  normaliseHost,
  serverAddress,
} from "./store.ts";

const TOKEN_USERNAME = "<token>";
// Any helper from docker-credential-helpers prints this (followed by "in native keychain").
const NOT_FOUND_OUTPUT = /credentials not found/i;
// A helper name is the end of a program name: a "/" would let a config run any program.
const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
// Enough of a helper's own words to say what went wrong, not enough to flood a terminal.
const MAX_HELPER_OUTPUT = 500;
// A helper that prints without end would fill the memory: it is killed past this.
const MAX_HELPER_BYTES = 64 * 1024;

/**
 * Options of {@linkcode CredentialHelper}.
 *
 * @example
 * ```ts
 * import type { CredentialHelperOptions } from "./helper.ts";
 * const options: CredentialHelperOptions = {
 *   origin: { path: "/home/me/.docker/config.json", field: "credsStore" },
 * };
 * ```
 */
export interface CredentialHelperOptions {
  /**
   * Reads `PATH`, where the program is looked for and which it runs with; the rest of the
   * environment is inherited, as helpers need it (cloud credentials, `HOME`).
   * Default: `Deno.env.get`.
   */
  env?: EnvLookup;
  /** The config and field that named the helper, for the hints of errors. */
  origin?: { path: string; field: string };
  /**
   * Milliseconds a run may take before the helper is killed: one that hangs would otherwise
   * hold the command, or every tick of a sync, for ever. Default a minute, time for a helper
   * that asks its user to unlock a keychain.
   */
  timeout?: number;
}

/**
 * Whether `name` can be a credential helper's name: the `NAME` of `docker-credential-NAME`,
 * with no `/` or other character that would let a config run another program.
 *
 * @example
 * ```ts
 * import { isHelperName } from "./helper.ts";
 * isHelperName("osxkeychain"); // true
 * isHelperName("../../bin/sh"); // false
 * ```
 */
export function isHelperName(name: string): boolean {
  return HELPER_NAME.test(name);
}

/**
 * The credential helper `docker-credential-NAME`, found on `PATH` (absolute folders only) when
 * it is first run, and killed when it runs for too long or prints over 64 KiB. Nothing it
 * prints is ever quoted in an error without the secrets it was given blanked out, and output
 * that may hold a secret (the standard output of `get`) is never quoted at all.
 *
 * @example
 * ```ts
 * import { CredentialHelper } from "./helper.ts";
 * const helper = new CredentialHelper("secretservice");
 * await helper.put("ghcr.io", { username: "me", password: "s3cret" });
 * await helper.get("ghcr.io"); // { username: "me", password: "s3cret" }
 * await helper.erase("ghcr.io"); // true
 * ```
 */
export class CredentialHelper implements CredentialStore {
  /** The helper's name: `pass` for `docker-credential-pass`. */
  readonly name: string;
  #env: EnvLookup;
  #origin?: { path: string; field: string };
  #timeout: number;

  /**
   * The helper `docker-credential-NAME`; nothing is run until it is used.
   *
   * @throws {UsageError} when `name` is not a helper name (see {@linkcode isHelperName}).
   */
  constructor(name: string, options: CredentialHelperOptions = {}) {
    if (!isHelperName(name)) {
      throw new UsageError(`${JSON.stringify(name)} is not a credential helper name`, {
        hint: "give the NAME of a docker-credential-NAME program on PATH",
      });
    }
    this.name = name;
    this.#env = options.env ?? defaultEnv;
    this.#origin = options.origin;
    this.#timeout = options.timeout ?? 60_000;
  }

  /** The program's name: `docker-credential-NAME`. */
  get program(): string {
    return `docker-credential-${this.name}`;
  }

  /**
   * Runs `get`. "Credentials not found" is no credential, not an error.
   *
   * @throws {AuthError} when the helper is missing, fails, or prints something malformed.
   */
  async get(host: string): Promise<Credential | undefined> {
    const registry = normaliseHost(host);
    const result = await this.#run("get", registry, serverAddress(registry), []);
    if (result.code !== 0) {
      if (NOT_FOUND_OUTPUT.test(result.stdout)) return undefined;
      // Its standard output is where a secret goes: a helper that fails after printing it, or
      // quotes it in its error, must not have it shown.
      throw this.#failure("get", registry, result, [], { quoteStdout: false });
    }
    let output: unknown;
    try {
      output = JSON.parse(result.stdout);
    } catch {
      output = undefined;
    }
    const { Username, Secret } = (output ?? {}) as Record<string, unknown>;
    if (
      typeof output !== "object" || output === null || Array.isArray(output) ||
      (Username !== undefined && typeof Username !== "string") ||
      (Secret !== undefined && typeof Secret !== "string")
    ) {
      // The output is never quoted: it may hold the secret.
      throw new AuthError(
        `credential helper ${this.program} printed malformed output for ${registry}`,
        { hint: 'it should print {"ServerURL": …, "Username": …, "Secret": …}' },
      );
    }
    if (typeof Secret !== "string" || Secret === "") return undefined;
    if (Username === TOKEN_USERNAME) return { identityToken: Secret };
    return Username === undefined || Username === ""
      ? { password: Secret }
      : { username: Username as string, password: Secret };
  }

  /**
   * Runs `store` with a username and password, or an identity token (as the user `<token>`).
   *
   * @throws {UsageError} when the credential is neither, e.g. a registry token, which helpers
   * cannot keep.
   * @throws {AuthError} when the helper is missing or fails.
   */
  async put(host: string, credential: Credential): Promise<void> {
    const registry = normaliseHost(host);
    const [username, secret] = credential.identityToken
      ? [TOKEN_USERNAME, credential.identityToken]
      : [credential.username ?? "", credential.password ?? ""];
    if (secret === "") {
      throw new UsageError(
        `credential helper ${this.program} cannot keep this credential for ${registry}: ` +
          "it needs a password or an identity token",
      );
    }
    const input = JSON.stringify({
      ServerURL: serverAddress(registry),
      Username: username,
      Secret: secret,
    });
    const result = await this.#run("store", registry, input, [secret]);
    if (result.code !== 0) throw this.#failure("store", registry, result, [secret]);
  }

  /**
   * Runs `erase`; resolves `false` when the helper had no credential for the host.
   *
   * @throws {AuthError} when the helper is missing or fails.
   */
  async erase(host: string): Promise<boolean> {
    const registry = normaliseHost(host);
    const result = await this.#run("erase", registry, serverAddress(registry), []);
    if (result.code === 0) return true;
    if (NOT_FOUND_OUTPUT.test(result.stdout)) return false;
    throw this.#failure("erase", registry, result, []);
  }

  /**
   * Runs the program found on `PATH`, with `input` on its standard input, for `host`; kills it
   * when it runs for too long or prints too much (see {@linkcode CredentialHelperOptions.timeout}).
   */
  async #run(verb: string, host: string, input: string, secrets: string[]): Promise<HelperResult> {
    const path = this.#env("PATH");
    const program = await findOnPath(this.program, path);
    if (program === undefined) {
      const origin = this.#origin;
      throw new AuthError(`credential helper ${this.program} not found on PATH`, {
        hint: `install ${this.program}` +
          (origin === undefined ? "" : `, or remove ${origin.field} from ${origin.path}`),
      });
    }
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(program, {
        args: [verb],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        // The helper runs with the PATH it was found on; the rest of the environment (cloud
        // credentials, HOME) is inherited, as helpers need it.
        env: path === undefined ? undefined : { PATH: path },
      }).spawn();
    } catch (error) {
      throw new AuthError(
        `cannot run credential helper ${program}: ${redactSecrets(errorText(error), secrets)}`,
        { cause: error },
      );
    }
    // Killing the helper does not close its output when a child of it holds it open: the
    // reads are stopped too.
    const stop = new AbortController();
    let ended: string | undefined;
    const end = (why: string) => {
      ended ??= why;
      stop.abort();
      try {
        child.kill("SIGKILL");
      } catch {
        // It has exited already.
      }
    };
    const deadline = setTimeout(
      () => end(`did not finish within ${this.#timeout / 1000} s`),
      this.#timeout,
    );
    const read = async (stream: ReadableStream<Uint8Array>): Promise<string> => {
      try {
        const bytes = await readBounded(
          stream.pipeThrough(new TransformStream(), { signal: stop.signal }),
          MAX_HELPER_BYTES,
        );
        if (bytes === undefined) end(`printed more than ${MAX_HELPER_BYTES / 1024} KiB`);
        return new TextDecoder().decode(bytes);
      } catch (error) {
        if (stop.signal.aborted) return "";
        throw error;
      }
    };
    try {
      const writer = child.stdin.getWriter();
      try {
        await writer.write(new TextEncoder().encode(input));
        await writer.close();
      } catch {
        // A helper may exit without reading its input; its exit status tells what happened.
      }
      const [stdout, stderr, status] = await Promise.all([
        read(child.stdout),
        read(child.stderr),
        child.status,
      ]);
      if (ended !== undefined) {
        throw new AuthError(
          `credential helper ${this.program} ${verb} for ${host} ${ended}: it was stopped`,
          this.#originHint(),
        );
      }
      return { code: status.code, stdout, stderr };
    } finally {
      clearTimeout(deadline);
    }
  }

  /** The hint that names the config that named the helper, if one did. */
  #originHint(): { hint?: string } {
    const origin = this.#origin;
    return origin === undefined
      ? {}
      : { hint: `the helper is named by ${origin.field} in ${origin.path}` };
  }

  /** The error for a helper that failed: its own words, with every secret blanked out. */
  #failure(
    verb: string,
    host: string,
    result: HelperResult,
    secrets: string[],
    { quoteStdout = true } = {},
  ): AuthError {
    // docker-credential-helpers print errors on stdout, others on stderr.
    const stdout = result.stdout.trim();
    // One line of the message: a helper's words must not forge lines of ocisync's own.
    const text = quoteRemote(
      redactSecrets(result.stderr.trim() || (quoteStdout ? stdout : ""), secrets),
      MAX_HELPER_OUTPUT,
    );
    const unshown = !quoteStdout && stdout !== ""
      ? ` (its standard output, ${stdout.length} characters, is not shown: it may hold the secret)`
      : "";
    return new AuthError(
      `credential helper ${this.program} ${verb} for ${host} failed ` +
        `(exit code ${result.code})${text === "" ? "" : `: ${text}`}${unshown}`,
      this.#originHint(),
    );
  }
}

interface HelperResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The absolute path of `binary` in one of the `PATH` folders, if it is there. */
async function findOnPath(binary: string, path: string | undefined): Promise<string | undefined> {
  if (path === undefined) return undefined;
  const windows = Deno.build.os === "windows";
  const names = windows ? [`${binary}.exe`, binary] : [binary];
  // Empty and relative entries (".") mean the current folder, which another user may own: never
  // look for credential programs there, as Go's exec.LookPath (docker's) refuses them.
  const absolute = windows ? /^([A-Za-z]:[\\/]|\\\\)/ : /^\//;
  for (const dir of path.split(windows ? ";" : ":").filter((dir) => absolute.test(dir))) {
    for (const name of names) {
      const candidate = `${dir.replace(/(?<=.)[\\/]+$/, "")}/${name}`;
      try {
        const info = await Deno.stat(candidate);
        if (info.isFile && (windows || ((info.mode ?? 0) & 0o111) !== 0)) return candidate;
      } catch {
        // Not here; try the next folder.
      }
    }
  }
  return undefined;
}
