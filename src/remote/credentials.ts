/**
 * Registry credentials, found where users of docker, podman, skopeo and ORAS keep them, and
 * saved where `docker login` saves them.
 *
 * {@linkcode credentialLookup} tries, in order, and the first source that yields a credential
 * for the registry wins:
 *
 * 1. an explicit username and password (`--username` with `--password-stdin`), for any registry;
 * 2. a credentials file (`--credentials FILE`): a Docker config, or
 *    `{"username", "password", "registry"?}`;
 * 3. `$REGISTRY_AUTH_FILE`, `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`),
 *    `$XDG_RUNTIME_DIR/containers/auth.json` and `$XDG_CONFIG_HOME/containers/auth.json` (else
 *    `~/.config/containers/auth.json`). Missing files are skipped.
 *
 * Within a Docker config, `credHelpers[host]` comes first, then `auths[host]`, then
 * `credsStore`. Helpers are the `docker-credential-NAME` programs on `PATH`.
 *
 * No error message ever contains a password, token or base64 `auth` string. A file that holds
 * credentials and that other users may read is reported through
 * {@linkcode CredentialOptions.warn}.
 *
 * @example
 * ```ts
 * import { credentialLookup } from "./credentials.ts";
 * const lookup = credentialLookup({});
 * const credential = await lookup("ghcr.io"); // undefined when nothing is configured
 * ```
 * @module
 */
import { AuthError, NotFoundError, OcisyncError, UsageError } from "../errors/mod.ts";
import { writeFileAtomic } from "../fs/atomic.ts";

/**
 * What a registry accepts to authenticate: a username and password, or an identity token (an
 * OAuth2 refresh token), possibly with the username it belongs to.
 *
 * @example
 * ```ts
 * import type { Credential } from "./credentials.ts";
 * const credential: Credential = { username: "me", password: "s3cret" };
 * ```
 */
export interface Credential {
  /** The user name, for basic authentication or a token request. */
  username?: string;
  /** The password or personal access token. */
  password?: string;
  /** An OAuth2 refresh token, exchanged at the registry's token server. */
  identityToken?: string;
}

/**
 * Finds the credential for a registry host as written in references after normalisation:
 * `docker.io`, `ghcr.io`, `127.0.0.1:5000`. Resolves `undefined` when there is none.
 *
 * @example
 * ```ts
 * import { credentialLookup, type CredentialLookup } from "./credentials.ts";
 * const lookup: CredentialLookup = credentialLookup({ username: "me", password: "s3cret" });
 * await lookup("docker.io"); // { username: "me", password: "s3cret" }
 * ```
 */
export type CredentialLookup = (registry: string) => Promise<Credential | undefined>;

/**
 * Reads an environment variable; `undefined` when it is not set.
 *
 * @example
 * ```ts
 * import type { EnvLookup } from "./credentials.ts";
 * const env: EnvLookup = (name) => ({ HOME: "/home/me" } as Record<string, string>)[name];
 * ```
 */
export type EnvLookup = (name: string) => string | undefined;

/**
 * Options of {@linkcode credentialLookup}.
 *
 * @example
 * ```ts
 * import type { CredentialOptions } from "./credentials.ts";
 * const options: CredentialOptions = { credentialsFile: "./creds.json" };
 * ```
 */
export interface CredentialOptions {
  /** The explicit username (`--username`); needs {@linkcode CredentialOptions.password}. */
  username?: string;
  /** The explicit password (`--password-stdin`); needs {@linkcode CredentialOptions.username}. */
  password?: string;
  /** A credentials file (`--credentials FILE`): a Docker config or `{"username", "password"}`. */
  credentialsFile?: string;
  /**
   * Reads environment variables: `REGISTRY_AUTH_FILE`, `DOCKER_CONFIG`, `XDG_RUNTIME_DIR`,
   * `XDG_CONFIG_HOME`, `HOME`, and `PATH` to find and run credential helpers.
   * Default: `Deno.env.get`.
   */
  env?: EnvLookup;
  /** The home directory. Default: `$HOME`, else `$USERPROFILE`. */
  home?: string;
  /**
   * Receives warnings: a file that holds credentials and that other users may read or write
   * (`FILE is readable by other users; chmod 600 FILE`, as ssh warns about keys), once per
   * file. The library prints nothing itself. Default: warnings are dropped.
   */
  warn?: (message: string) => void;
}

/**
 * Options of {@linkcode saveCredential} and {@linkcode removeCredential}.
 *
 * @example
 * ```ts
 * import type { SaveCredentialOptions } from "./credentials.ts";
 * const options: SaveCredentialOptions = { configPath: "/tmp/docker/config.json" };
 * ```
 */
export interface SaveCredentialOptions {
  /** The Docker config to change. Default: {@linkcode dockerConfigPath}. */
  configPath?: string;
  /** Reads environment variables, as in {@linkcode CredentialOptions.env}. */
  env?: EnvLookup;
  /** The home directory, as in {@linkcode CredentialOptions.home}. */
  home?: string;
}

const DOCKER_HUB = "docker.io";
// The key Docker has always used for Docker Hub, in config files and towards helpers.
const DOCKER_HUB_KEY = "https://index.docker.io/v1/";
const DOCKER_HUB_ALIASES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);
const TOKEN_USERNAME = "<token>";
// Any helper from docker-credential-helpers prints this (followed by "in native keychain").
const NOT_FOUND_OUTPUT = /credentials not found/i;
// A helper name is the end of a program name: a "/" would let a config run any program.
const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const CREDENTIAL_FIELDS = ["auth", "username", "password", "identitytoken", "registrytoken"];
const MAX_HELPER_OUTPUT = 500;
// JSON strings and numbers, sticky: they match at lastIndex or not at all. A JSON string must
// not contain raw control characters, hence the range in the pattern.
// deno-lint-ignore no-control-regex
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/** One `auths` entry, validated and decoded. */
interface AuthEntry {
  credential?: Credential;
}

/** A Docker config, validated: where to look for each registry's credential. */
interface DockerConfig {
  path: string;
  auths: Map<string, AuthEntry>;
  credHelpers: Map<string, string>;
  credsStore?: string;
}

/** Where a helper name came from, for error hints. */
interface HelperSource {
  name: string;
  path: string;
  field: string;
}

const defaultEnv: EnvLookup = (name) => Deno.env.get(name);

/**
 * Returns a {@linkcode CredentialLookup} that tries the explicit credential, the credentials
 * file, then the standard auth files (see the module documentation for the order). Results are
 * cached per registry for the life of the returned function, so that a helper that prompts runs
 * once; failures are not cached.
 *
 * @throws {UsageError} at once, when only one of `username` and `password` is given.
 * @example
 * ```ts
 * import { credentialLookup } from "./credentials.ts";
 * const credentialsFile = `${await Deno.makeTempDir()}/creds.json`;
 * await Deno.writeTextFile(credentialsFile, '{"username": "me", "password": "s3cret"}');
 * const lookup = credentialLookup({ credentialsFile });
 * await lookup("127.0.0.1:5000"); // { username: "me", password: "s3cret" }
 * ```
 */
export function credentialLookup(options: CredentialOptions): CredentialLookup {
  if ((options.username === undefined) !== (options.password === undefined)) {
    throw new UsageError(
      options.username === undefined
        ? "a password was given without a username"
        : "a username was given without a password",
      { hint: "give both --username and --password-stdin, or neither" },
    );
  }
  const cache = new Map<string, Promise<Credential | undefined>>();
  const checkExposure = exposureCheck(options.warn);
  return (registry) => {
    const host = normaliseRegistry(registry);
    let found = cache.get(host);
    if (found === undefined) {
      found = findCredential(host, options, checkExposure);
      cache.set(host, found);
      found.catch(() => cache.delete(host));
    }
    // A copy each time, so that a caller changing it cannot change what the next one gets.
    return found.then((credential) => credential && { ...credential });
  };
}

/**
 * The Docker config file: `$DOCKER_CONFIG/config.json`, else `HOME/.docker/config.json`.
 *
 * @throws {UsageError} when neither `DOCKER_CONFIG` nor a home directory is known.
 * @example
 * ```ts
 * import { dockerConfigPath } from "./credentials.ts";
 * dockerConfigPath(() => undefined, "/home/me"); // "/home/me/.docker/config.json"
 * dockerConfigPath((name) => name === "DOCKER_CONFIG" ? "/etc/docker" : undefined);
 * // "/etc/docker/config.json"
 * ```
 */
export function dockerConfigPath(env: EnvLookup = defaultEnv, home?: string): string {
  const path = findDockerConfigPath(env, home);
  if (path === undefined) {
    throw new UsageError("cannot find the Docker config: the home directory is unknown", {
      hint: "set HOME or DOCKER_CONFIG",
    });
  }
  return path;
}

/**
 * Saves a credential as `docker login` does, and returns the path of the config written. The
 * credential goes to the helper named by the config's `credHelpers` for the registry or its
 * `credsStore` (the config then gets an empty entry, as Docker writes), else into
 * `auths[KEY].auth` as base64 `user:pass`, where KEY is `https://index.docker.io/v1/` for Docker
 * Hub and the host otherwise. Every other part of the config is kept. The folder is created with
 * mode 0700; the file is replaced atomically and has mode 0600.
 *
 * @throws {UsageError} when the credential or the existing config is malformed.
 * @throws {AuthError} when a credential helper is missing or fails.
 * @example
 * ```ts
 * import { saveCredential } from "./credentials.ts";
 * const configPath = `${await Deno.makeTempDir()}/config.json`;
 * await saveCredential("ghcr.io", { username: "me", password: "s3cret" }, { configPath });
 * ```
 */
export async function saveCredential(
  registry: string,
  credential: { username: string; password: string },
  options: SaveCredentialOptions,
): Promise<string> {
  const { username, password } = credential;
  if (username === "" || username.includes(":")) {
    // "user:pass" is split at the first colon, so a username cannot contain one.
    throw new UsageError('the username must not be empty or contain ":"');
  }
  if (password === "") throw new UsageError("the password must not be empty");
  const env = options.env ?? defaultEnv;
  const path = options.configPath ?? dockerConfigPath(env, options.home);
  const host = normaliseRegistry(registry);
  const raw = await readJson(path, "Docker config") ?? {};
  const config = parseDockerConfig(raw, path);
  const helper = helperFor(config, host);
  const auths = raw.auths === undefined ? {} : raw.auths as Record<string, unknown>;
  const key = authKey(host);
  const entry = withoutCredential(auths[key]);
  if (helper !== undefined) {
    const input = JSON.stringify({
      ServerURL: helperServerUrl(host),
      Username: username,
      Secret: password,
    });
    const result = await runHelper(helper, "store", input, env, [password]);
    if (result.code !== 0) throw helperFailure(helper, "store", host, result, [password]);
    // The empty entry tells Docker a credential exists, and hides any stale one in the file.
    auths[key] = entry;
  } else {
    auths[key] = { ...entry, auth: encodeBase64(`${username}:${password}`) };
  }
  raw.auths = auths;
  await writeConfig(path, raw);
  return path;
}

/**
 * Removes a registry's credential as `docker logout` does: through the helper the config names
 * for it, and every `auths` entry for the registry, whatever form its key is written in.
 * Resolves whether anything was removed.
 *
 * @throws {UsageError} when the existing config is malformed.
 * @throws {AuthError} when a credential helper is missing or fails.
 * @example
 * ```ts
 * import { removeCredential } from "./credentials.ts";
 * const configPath = `${await Deno.makeTempDir()}/config.json`;
 * await removeCredential("ghcr.io", { configPath }); // false: nothing was saved
 * ```
 */
export async function removeCredential(
  registry: string,
  options: SaveCredentialOptions,
): Promise<boolean> {
  const env = options.env ?? defaultEnv;
  const path = options.configPath ?? dockerConfigPath(env, options.home);
  const host = normaliseRegistry(registry);
  const raw = await readJson(path, "Docker config");
  if (raw === undefined) return false;
  const config = parseDockerConfig(raw, path);
  let removed = false;
  const helper = helperFor(config, host);
  if (helper !== undefined) {
    const result = await runHelper(helper, "erase", helperServerUrl(host), env, []);
    if (result.code === 0) removed = true;
    else if (!NOT_FOUND_OUTPUT.test(result.stdout)) {
      throw helperFailure(helper, "erase", host, result, []);
    }
  }
  const auths = raw.auths as Record<string, unknown> | undefined;
  const keys = [...config.auths.keys()].filter((key) => authKeyHost(key) === host);
  if (auths !== undefined && keys.length > 0) {
    for (const key of keys) delete auths[key];
    await writeConfig(path, raw);
    removed = true;
  }
  return removed;
}

/** Warns about a file that holds credentials, if others may read or write it. */
type ExposureCheck = (path: string) => Promise<void>;

/** Tries every source in order; the first credential found wins. */
async function findCredential(
  host: string,
  options: CredentialOptions,
  checkExposure: ExposureCheck,
): Promise<Credential | undefined> {
  if (options.username !== undefined && options.password !== undefined) {
    return { username: options.username, password: options.password };
  }
  const env = options.env ?? defaultEnv;
  if (options.credentialsFile !== undefined) {
    const found = await fromCredentialsFile(options.credentialsFile, host, env, checkExposure);
    if (found !== undefined) return found;
  }
  for (const path of authFilePaths(env, options.home)) {
    const raw = await readJson(path, "auth file");
    if (raw === undefined) continue;
    const config = parseDockerConfig(raw, path);
    if (holdsSecrets(config)) await checkExposure(path);
    const found = await fromDockerConfig(config, host, env);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Checks files for modes that let other users read or write them, and warns through `warn`,
 * once per file, as ssh does for private keys. Without `warn`, checks nothing.
 */
function exposureCheck(warn: ((message: string) => void) | undefined): ExposureCheck {
  const checked = new Set<string>();
  return async (path) => {
    if (warn === undefined || checked.has(path)) return;
    checked.add(path);
    // The mode of the file itself, through any symlink; null on Windows, which has no such bits.
    const mode = (await Deno.stat(path).catch(() => undefined))?.mode ?? 0;
    if ((mode & 0o077) === 0) return;
    const how = mode & 0o044 ? "readable" : mode & 0o022 ? "writable" : "accessible";
    warn(`${path} is ${how} by other users; chmod 600 ${shellWord(path)}`);
  };
}

/** Whether a Docker config holds a secret itself, rather than naming helpers that keep them. */
function holdsSecrets(config: DockerConfig): boolean {
  return [...config.auths.values()].some((entry) => entry.credential !== undefined);
}

/** A path as one shell word, quoted when it needs to be, for a command to copy. */
function shellWord(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`;
}

/** A `--credentials` file, in either shape. Unlike the standard files, it must exist. */
async function fromCredentialsFile(
  path: string,
  host: string,
  env: EnvLookup,
  checkExposure: ExposureCheck,
): Promise<Credential | undefined> {
  const raw = await readJson(path, "credentials file");
  if (raw === undefined) {
    throw new NotFoundError(`credentials file not found: ${path}`);
  }
  const isDocker = "auths" in raw || "credHelpers" in raw || "credsStore" in raw;
  const isPlain = "username" in raw || "password" in raw;
  if (isDocker && isPlain) {
    throw malformed(
      path,
      'it mixes a Docker config ("auths", "credHelpers", "credsStore") with "username"/"password"',
    );
  }
  if (isDocker) {
    const config = parseDockerConfig(raw, path);
    if (holdsSecrets(config)) await checkExposure(path);
    return fromDockerConfig(config, host, env);
  }
  if (!isPlain) {
    throw malformed(
      path,
      'expected a Docker config with "auths", or {"username", "password", "registry"?}',
    );
  }
  const { username, password, registry } = raw;
  if (typeof username !== "string" || username === "") {
    throw malformed(path, '"username" must be a non-empty string');
  }
  if (typeof password !== "string") throw malformed(path, '"password" must be a string');
  await checkExposure(path);
  if (registry !== undefined) {
    if (typeof registry !== "string" || authKeyHost(registry) === undefined) {
      throw malformed(path, '"registry" must be a registry host such as "ghcr.io"');
    }
    if (authKeyHost(registry) !== host) return undefined;
  }
  return { username, password };
}

/** Looks a host up in a Docker config: `credHelpers`, then `auths`, then `credsStore`. */
async function fromDockerConfig(
  config: DockerConfig,
  host: string,
  env: EnvLookup,
): Promise<Credential | undefined> {
  const helperKey = pickKey(config.credHelpers.keys(), host);
  if (helperKey !== undefined) {
    const name = config.credHelpers.get(helperKey)!;
    const field = `credHelpers[${JSON.stringify(helperKey)}]`;
    const found = await helperGet({ name, path: config.path, field }, host, env);
    if (found !== undefined) return found;
  }
  const authsKey = pickKey(config.auths.keys(), host);
  const entry = authsKey === undefined ? undefined : config.auths.get(authsKey)!;
  if (entry?.credential !== undefined) return { ...entry.credential };
  if (config.credsStore !== undefined) {
    return helperGet(
      { name: config.credsStore, path: config.path, field: "credsStore" },
      host,
      env,
    );
  }
  return undefined;
}

/** The helper that stores this host's credential, if the config names one. */
function helperFor(config: DockerConfig, host: string): HelperSource | undefined {
  const helperKey = pickKey(config.credHelpers.keys(), host);
  if (helperKey !== undefined) {
    const field = `credHelpers[${JSON.stringify(helperKey)}]`;
    return { name: config.credHelpers.get(helperKey)!, path: config.path, field };
  }
  if (config.credsStore !== undefined) {
    return { name: config.credsStore, path: config.path, field: "credsStore" };
  }
  return undefined;
}

/** Runs `docker-credential-NAME get`. "Credentials not found" is no credential, not an error. */
async function helperGet(
  helper: HelperSource,
  host: string,
  env: EnvLookup,
): Promise<Credential | undefined> {
  const result = await runHelper(helper, "get", helperServerUrl(host), env, []);
  if (result.code !== 0) {
    if (NOT_FOUND_OUTPUT.test(result.stdout)) return undefined;
    throw helperFailure(helper, "get", host, result, []);
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
      `credential helper docker-credential-${helper.name} printed malformed output for ${host}`,
      { hint: 'it should print {"ServerURL": …, "Username": …, "Secret": …}' },
    );
  }
  if (typeof Secret !== "string" || Secret === "") return undefined;
  if (Username === TOKEN_USERNAME) return { identityToken: Secret };
  return Username === undefined || Username === ""
    ? { password: Secret }
    : { username: Username as string, password: Secret };
}

interface HelperResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a credential helper found on `PATH`, with `input` on its standard input. */
async function runHelper(
  helper: HelperSource,
  verb: "get" | "store" | "erase",
  input: string,
  env: EnvLookup,
  secrets: string[],
): Promise<HelperResult> {
  const binary = `docker-credential-${helper.name}`;
  const path = env("PATH");
  const program = await findOnPath(binary, path);
  if (program === undefined) {
    throw new AuthError(`credential helper ${binary} not found on PATH`, {
      hint: `install ${binary}, or remove ${helper.field} from ${helper.path}`,
    });
  }
  let output: Deno.CommandOutput;
  try {
    const child = new Deno.Command(program, {
      args: [verb],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      // The helper runs with the PATH it was found on; the rest of the environment (cloud
      // credentials, HOME) is inherited, as helpers need it.
      env: path === undefined ? undefined : { PATH: path },
    }).spawn();
    const writer = child.stdin.getWriter();
    try {
      await writer.write(new TextEncoder().encode(input));
      await writer.close();
    } catch {
      // A helper may exit without reading its input; its exit status tells what happened.
    }
    output = await child.output();
  } catch (error) {
    throw new AuthError(
      `cannot run credential helper ${program}: ${redact(errorText(error), secrets)}`,
      {
        cause: error,
      },
    );
  }
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** The error for a helper that failed: its own words, with every secret blanked out. */
function helperFailure(
  helper: HelperSource,
  verb: string,
  host: string,
  result: HelperResult,
  secrets: string[],
): AuthError {
  // docker-credential-helpers print errors on stdout, others on stderr.
  const said = redact(result.stderr.trim() || result.stdout.trim(), secrets);
  const text = said.length > MAX_HELPER_OUTPUT ? `${said.slice(0, MAX_HELPER_OUTPUT)}…` : said;
  return new AuthError(
    `credential helper docker-credential-${helper.name} ${verb} for ${host} failed ` +
      `(exit code ${result.code})${text === "" ? "" : `: ${text}`}`,
    { hint: `the helper is named by ${helper.field} in ${helper.path}` },
  );
}

/** The absolute path of `binary` in one of the `PATH` folders, if it is there. */
async function findOnPath(binary: string, path: string | undefined): Promise<string | undefined> {
  if (path === undefined) return undefined;
  const windows = Deno.build.os === "windows";
  const names = windows ? [`${binary}.exe`, binary] : [binary];
  // Empty entries would mean the current folder: never look for credential programs there.
  for (const dir of path.split(windows ? ";" : ":").filter((dir) => dir !== "")) {
    for (const name of names) {
      const candidate = join(dir, name);
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

/** The standard auth files, in the order they are tried, without duplicates. */
function authFilePaths(env: EnvLookup, home: string | undefined): string[] {
  const homeDir = home ?? homeFromEnv(env);
  const paths = [
    nonEmpty(env("REGISTRY_AUTH_FILE")),
    findDockerConfigPath(env, homeDir),
  ];
  const runtime = nonEmpty(env("XDG_RUNTIME_DIR"));
  if (runtime !== undefined) paths.push(join(runtime, "containers", "auth.json"));
  const configHome = nonEmpty(env("XDG_CONFIG_HOME")) ??
    (homeDir === undefined ? undefined : join(homeDir, ".config"));
  if (configHome !== undefined) paths.push(join(configHome, "containers", "auth.json"));
  return [...new Set(paths.filter((path): path is string => path !== undefined))];
}

function findDockerConfigPath(env: EnvLookup, home: string | undefined): string | undefined {
  const dir = nonEmpty(env("DOCKER_CONFIG"));
  if (dir !== undefined) return join(dir, "config.json");
  const homeDir = home ?? homeFromEnv(env);
  return homeDir === undefined ? undefined : join(homeDir, ".docker", "config.json");
}

function homeFromEnv(env: EnvLookup): string | undefined {
  return nonEmpty(env("HOME")) ?? nonEmpty(env("USERPROFILE"));
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === "" ? undefined : value;
}

function join(dir: string, ...parts: string[]): string {
  return [dir.replace(/(?<=.)[\\/]+$/, ""), ...parts].join("/");
}

/**
 * Reads a JSON object. A missing file is `undefined`; an unreadable one is an error, and a
 * malformed one a {@linkcode UsageError}, naming the path and never quoting the content.
 */
async function readJson(
  path: string,
  what: string,
): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw new OcisyncError(`cannot read ${what} ${path}: ${errorText(error)}`, {
      cause: error,
      hint: "check that it is a readable file",
    });
  }
  // Editors on Windows may start the file with a byte order mark, which JSON.parse refuses.
  text = text.replace(/^\uFEFF/, "");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // The parser's message may quote the text around the error, secrets included: keep only
    // where it is. No cause either, for the same reason.
    throw malformed(path, `it is not valid JSON${jsonErrorPlace(text)}`, what);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw malformed(path, "it must contain a JSON object", what);
  }
  return value as Record<string, unknown>;
}

/**
 * " at line L, column C" for the first syntax error in `text`. JSON.parse's own messages quote
 * the text around the error, and not all of them tell where it is, so the place is found anew.
 */
function jsonErrorPlace(text: string): string {
  const offset = jsonErrorOffset(text);
  if (offset === undefined) return "";
  if (offset >= text.length) return " (it ends too early)";
  const before = text.slice(0, offset).split("\n");
  return ` at line ${before.length}, column ${before[before.length - 1].length + 1}`;
}

/** Where a JSON text stops being valid JSON, or `undefined` if it is valid. */
function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  const fail = (): never => {
    throw new SyntaxError(String(i));
  };
  const space = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const expect = (token: string) => {
    if (!text.startsWith(token, i)) fail();
    i += token.length;
  };
  const match = (pattern: RegExp) => {
    pattern.lastIndex = i;
    if (!pattern.test(text)) fail();
    i = pattern.lastIndex;
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      i++;
      space();
      if (text[i] === close) return void i++;
      for (;;) {
        if (c === "{") {
          space();
          match(STRING);
          space();
          expect(":");
        }
        value();
        space();
        if (text[i] === ",") i++;
        else return expect(close);
      }
    }
    if (c === '"') return match(STRING);
    if (c === "t" || c === "f" || c === "n") return match(/true|false|null/y);
    match(NUMBER);
  };
  try {
    value();
    space();
    return i < text.length ? i : undefined;
  } catch (error) {
    return error instanceof SyntaxError ? i : undefined;
  }
}

/** Validates a Docker config and decodes its `auths` entries. */
function parseDockerConfig(raw: Record<string, unknown>, path: string): DockerConfig {
  const config: DockerConfig = { path, auths: new Map(), credHelpers: new Map() };
  const { auths, credHelpers, credsStore } = raw;
  if (auths !== undefined) {
    if (!isObject(auths)) throw malformed(path, '"auths" must be an object');
    for (const [key, value] of Object.entries(auths)) {
      config.auths.set(key, parseAuthEntry(key, value, path));
    }
  }
  if (credHelpers !== undefined) {
    if (!isObject(credHelpers)) throw malformed(path, '"credHelpers" must be an object');
    for (const [key, name] of Object.entries(credHelpers)) {
      const field = `credHelpers[${JSON.stringify(key)}]`;
      if (typeof name !== "string") throw malformed(path, `${field} must be a string`);
      // Docker reads an empty helper name as no helper.
      if (name === "") continue;
      if (!HELPER_NAME.test(name)) throw malformed(path, `${field} is not a helper name`);
      config.credHelpers.set(key, name);
    }
  }
  if (credsStore !== undefined) {
    if (typeof credsStore !== "string") throw malformed(path, '"credsStore" must be a string');
    if (credsStore !== "" && !HELPER_NAME.test(credsStore)) {
      throw malformed(path, '"credsStore" is not a helper name');
    }
    if (credsStore !== "") config.credsStore = credsStore;
  }
  return config;
}

function parseAuthEntry(key: string, value: unknown, path: string): AuthEntry {
  const field = `auths[${JSON.stringify(key)}]`;
  if (!isObject(value)) throw malformed(path, `${field} must be an object`);
  for (const name of ["auth", "username", "password", "identitytoken"]) {
    if (value[name] !== undefined && typeof value[name] !== "string") {
      throw malformed(path, `${field}.${name} must be a string`);
    }
  }
  let username = value.username as string | undefined;
  let password = value.password as string | undefined;
  const auth = value.auth as string | undefined;
  if (auth !== undefined && auth !== "") {
    // The value is never quoted in the error: it is the password, barely disguised.
    const decoded = decodeBase64(auth);
    const colon = decoded?.indexOf(":") ?? -1;
    if (decoded === undefined || colon < 0) {
      throw malformed(path, `${field}.auth must be base64 of "username:password"`);
    }
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  const identityToken = nonEmpty(value.identitytoken as string | undefined);
  const credential: Credential = {};
  if (username) credential.username = username;
  if (password !== undefined && (username || password !== "")) credential.password = password;
  if (identityToken !== undefined) credential.identityToken = identityToken;
  // Docker Desktop leaves empty entries for credentials kept in its store; a username alone
  // cannot authenticate either. Both fall through to the next source.
  const usable = credential.password !== undefined || identityToken !== undefined;
  return { credential: usable ? credential : undefined };
}

/** A copy of an `auths` entry without its credential fields, to keep e.g. `email`. */
function withoutCredential(entry: unknown): Record<string, unknown> {
  if (!isObject(entry)) return {};
  return Object.fromEntries(
    Object.entries(entry).filter(([name]) => !CREDENTIAL_FIELDS.includes(name)),
  );
}

/** Writes a config atomically, with mode 0600, in a folder created with mode 0700. */
async function writeConfig(path: string, raw: Record<string, unknown>): Promise<void> {
  // Replace the file a symlink points to, not the symlink (dotfile managers link configs).
  let target = path;
  try {
    target = await Deno.realPath(path);
  } catch {
    const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
    if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true, mode: 0o700 });
  }
  // Tabs, as Docker writes it, so that a login does not reformat the whole file.
  const bytes = new TextEncoder().encode(`${JSON.stringify(raw, null, "\t")}\n`);
  await writeFileAtomic(target, [bytes], { mode: 0o600 });
  if (Deno.build.os !== "windows") await Deno.chmod(target, 0o600);
}

function malformed(path: string, problem: string, what = "auth file"): UsageError {
  return new UsageError(`malformed ${what} ${path}: ${problem}`, {
    hint: "fix or remove the file",
  });
}

/** Lowercase host, Docker Hub's aliases as `docker.io`. */
function normaliseRegistry(registry: string): string {
  return authKeyHost(registry) ?? registry.toLowerCase();
}

/**
 * The registry host a config key names, or `undefined` for keys scoped to a repository
 * namespace (podman's `quay.io/org`), which a per-registry lookup cannot honour. Keys may be
 * URLs (`https://host/v1/`, `http://host:5000`), hosts, or hosts with an API path (`host/v2/`).
 */
function authKeyHost(key: string): string | undefined {
  let rest = key.trim();
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(rest);
  if (scheme !== null) rest = rest.slice(scheme[0].length);
  const slash = rest.indexOf("/");
  let host = slash < 0 ? rest : rest.slice(0, slash);
  const tail = slash < 0 ? "" : rest.slice(slash);
  if (scheme === null && !/^\/*(?:v[12]\/*)?$/.test(tail)) return undefined;
  host = host.replace(/^[^@]*@/, "").toLowerCase();
  if (host === "") return undefined;
  return DOCKER_HUB_ALIASES.has(host) ? DOCKER_HUB : host;
}

/** The key `docker login` writes for a host. */
function authKey(host: string): string {
  return host === DOCKER_HUB ? DOCKER_HUB_KEY : host;
}

function helperServerUrl(host: string): string {
  return host === DOCKER_HUB ? DOCKER_HUB_KEY : host;
}

/**
 * The key for `host` among `keys`: the one `docker login` writes, else a bare host, else an
 * https URL, else any other form; ties go to the first in code-point order, so that the choice
 * does not depend on the order of the file.
 */
function pickKey(keys: Iterable<string>, host: string): string | undefined {
  const canonical = authKey(host);
  const rank = (key: string): number =>
    key === canonical ? 0 : !key.includes("://") ? 1 : /^https:/i.test(key) ? 2 : 3;
  const matching = [...keys].filter((key) => authKeyHost(key) === host);
  matching.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return matching[0];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function encodeBase64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

function decodeBase64(text: string): string | undefined {
  try {
    const binary = atob(text.trim());
    const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** `text` with every occurrence of each secret, raw or JSON-escaped, replaced by `***`. */
function redact(text: string, secrets: string[]): string {
  let result = text;
  for (const secret of secrets) {
    for (const form of new Set([secret, JSON.stringify(secret).slice(1, -1)])) {
      if (form !== "") result = result.split(form).join("***");
    }
  }
  return result;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
