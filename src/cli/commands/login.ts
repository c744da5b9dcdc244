/**
 * `ocisync login HOST` and `ocisync logout HOST`: check credentials against
 * the registry, then save them in the Docker config (or its credential
 * helper); or remove them. As with `docker login`, the password comes from
 * `--password-stdin`, or is typed at a prompt without echo when standard input
 * is a terminal. `HOST/NAMESPACE` (a repository, or a path above some) keeps or
 * removes a credential for that namespace alone, under that key, as
 * `podman login` and `podman logout` do; the registry's own stays as it is.
 *
 * @module
 */
import type { ParsedArgs, ParsedOptions } from "../args.ts";
import { registryOptions } from "../registry_flags.ts";
import type { Output } from "../output.ts";
import { UsageError } from "../../errors/mod.ts";
import { parseRegistryReference, redactCredentials } from "../../ref/mod.ts";
import { RegistryClient } from "../../remote/auth.ts";
import {
  authFilePaths,
  credentialLookup,
  parseAuthKey,
  removeCredential,
  saveCredential,
} from "../../credentials/mod.ts";
import type { OpenTargetOptions } from "../../target/mod.ts";
export { loginSpec, logoutSpec } from "../specs.ts";

/** Runs `login`. */
export async function login(args: ParsedArgs, out: Output): Promise<void> {
  const { options } = args;
  const { registry, namespace, key } = loginKeyArgument(args.positionals[0]);
  if (!options.username) {
    throw new UsageError("login needs --username", {
      hint: `ocisync login ${key} -u USER, then type the password; or pipe it in: ` +
        `echo "$TOKEN" | ocisync login ${key} -u USER --password-stdin`,
    });
  }
  const targetOptions = options["password-stdin"]
    ? await registryOptions(options, out, registry)
    : await promptedOptions(options, registry, key, out);
  const client = new RegistryClient(targetOptions);
  try {
    // The API root with no scope: basic auth checks the password, token auth asks the token
    // server, which refuses credentials it does not know; the error names the user. A
    // namespace's credential is checked the same way: the registry knows its users, and a
    // namespace may hold no repository yet.
    await client.authenticate(registry, []);
  } finally {
    client.close();
  }
  const credential = await targetOptions.credentials!(registry);
  const path = await saveCredential(key, {
    username: credential!.username!,
    password: credential!.password!,
  }, {});
  out.result({
    human: `Login Succeeded: credentials for ${key} saved in ${path}`,
    json: {
      registry,
      ...(namespace === undefined ? {} : { namespace }),
      username: options.username,
      config: path,
    },
    quiet: key,
  });
}

/**
 * The registry options with the password typed at a prompt. The other options are checked
 * first, so that a mistake in them is not found after the password was typed; registryOptions
 * reads a password from --password-stdin only, so the typed one is given to the lookup here.
 */
async function promptedOptions(
  options: ParsedOptions,
  registry: string,
  key: string,
  out: Output,
): Promise<OpenTargetOptions> {
  const { username, ...others } = options;
  const checked = await registryOptions(others, out, registry);
  if (!Deno.stdin.isTerminal()) {
    throw new UsageError("login needs --password-stdin when standard input is not a terminal", {
      hint: `echo "$TOKEN" | ocisync login ${key} -u USER --password-stdin`,
    });
  }
  const password = await promptPassword(out);
  if (password === undefined) {
    throw new UsageError("login needs a password: none was typed", {
      hint: "type it and press Enter, or pass it with --password-stdin",
    });
  }
  return {
    ...checked,
    credentials: credentialLookup({
      username: username as string,
      password,
      registry,
      warn: (message) => out.warn(message),
    }),
  };
}

// 128 + SIGINT: what a shell reports for a command stopped with Ctrl-C.
const INTERRUPTED_EXIT_CODE = 130;

/**
 * Asks `Password: ` on stderr and reads the answer from the terminal in raw mode, so that it is
 * not echoed, as `docker login` does. Backspace and Ctrl-U edit it; Enter ends it. Ctrl-C exits
 * with 130 at once, having written nothing; Ctrl-D, the end of input, or an empty answer give
 * undefined.
 */
async function promptPassword(out: Output): Promise<string | undefined> {
  let line: HiddenLine;
  Deno.stdin.setRaw(true);
  try {
    // Only once echo is off: keys typed ahead would be shown otherwise.
    out.draw("Password: ");
    line = await readHiddenLine();
  } finally {
    Deno.stdin.setRaw(false);
    // Enter was not echoed: end the prompt's line.
    out.draw("\n");
  }
  // As if the signal had stopped it: no error message, nothing saved.
  if (line.ending === "interrupt") Deno.exit(INTERRUPTED_EXIT_CODE);
  return line.ending === "enter" && line.text !== "" ? line.text : undefined;
}

/** What was typed at a prompt without echo, and the key that ended it. */
interface HiddenLine {
  text: string;
  ending: "enter" | "interrupt" | "end";
}

const ENTER = [0x0d, 0x0a];
const BACKSPACE = [0x7f, 0x08];
const CTRL_C = 0x03;
const CTRL_D = 0x04;
const CTRL_U = 0x15;

/** Reads keys from stdin, in raw mode, up to Enter, Ctrl-C, Ctrl-D or the end of input. */
async function readHiddenLine(): Promise<HiddenLine> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(256);
  let chars: string[] = [];
  while (true) {
    const count = await Deno.stdin.read(buffer);
    if (count === null) return { text: chars.join(""), ending: "end" };
    for (const byte of buffer.subarray(0, count)) {
      if (ENTER.includes(byte)) return { text: chars.join(""), ending: "enter" };
      if (byte === CTRL_C) return { text: "", ending: "interrupt" };
      if (byte === CTRL_D) return { text: chars.join(""), ending: "end" };
      if (BACKSPACE.includes(byte)) chars.pop();
      else if (byte === CTRL_U) chars = [];
      // Other control keys are not part of a password; UTF-8 sequences come a byte at a time.
      else if (byte >= 0x20) chars.push(...decoder.decode(Uint8Array.of(byte), { stream: true }));
    }
  }
}

/**
 * Runs `logout`: the key's credentials go from every file that lookups read, not only the one
 * `login` writes, so that none is sent after it. For a host, those of the whole registry; for
 * `HOST/NAMESPACE`, that key's alone.
 */
export async function logout(args: ParsedArgs, out: Output): Promise<void> {
  const { registry, namespace, key } = loginKeyArgument(args.positionals[0]);
  const files: string[] = [];
  for (const configPath of authFilePaths()) {
    if (await removeCredential(key, { configPath })) files.push(configPath);
  }
  out.result({
    human: files.length > 0
      ? `Removed credentials for ${key} from ${files.join(", ")}`
      : `Not logged in to ${key}`,
    json: {
      registry,
      ...(namespace === undefined ? {} : { namespace }),
      removed: files.length > 0,
      files,
    },
    quiet: key,
  });
}

/** What `login` and `logout` act on: a registry, or a namespace in one, and its key. */
interface LoginKey {
  /** The registry, normalised: `docker.io` for Docker Hub's aliases. */
  registry: string;
  /** The repository, or the path above some, that the credential is for alone. */
  namespace?: string;
  /** `REGISTRY`, or `REGISTRY/NAMESPACE`: the key in messages, and the key kept. */
  key: string;
}

/**
 * A registry host as users write it (`ghcr.io`, `localhost:5000`,
 * `https://index.docker.io/v1/`), or a repository or namespace in one (`ghcr.io/acme/app`), as
 * `podman login` takes it. A URL stands for its host, whatever its path, as in podman. The
 * namespace is kept as written: `docker.io/acme` is Docker Hub's namespace `acme`, not
 * `library/acme`.
 */
function loginKeyArgument(value: string): LoginKey {
  const shown = redactCredentials(value);
  if (shown !== value) {
    throw new UsageError(`"${shown}": credentials cannot be part of a registry host`, {
      hint: "give them with -u USER, and the password at the prompt or with --password-stdin",
    });
  }
  const url = /^https?:\/\//.test(value);
  const rest = value.replace(/^https?:\/\//, "");
  const slash = rest.indexOf("/");
  const host = slash < 0 ? rest : rest.slice(0, slash);
  const path = url || slash < 0 ? "" : rest.slice(slash + 1);
  let registry: string;
  try {
    // Reusing the reference grammar normalises Docker Hub's aliases and checks the host.
    registry = parseRegistryReference(`${host}/x`).registry;
    if (!host.includes(".") && !host.includes(":") && host !== "localhost") throw new Error();
  } catch {
    throw new UsageError(`"${value}" is not a registry host`, {
      hint: "e.g. ghcr.io or localhost:5000, or ghcr.io/acme/app for one repository",
    });
  }
  if (path === "") return { registry, key: registry };
  return { registry, namespace: checkedNamespace(value, host, path), key: `${registry}/${path}` };
}

/** The path of `HOST/PATH`, checked as a repository name: no tag, no digest, no empty part. */
function checkedNamespace(value: string, host: string, path: string): string {
  const reference = parseRegistryReference(`${host}/${path}`);
  if (reference.tag !== undefined || reference.digest !== undefined) {
    throw new UsageError(
      `"${value}" names an image: credentials are kept for a registry, a repository or a ` +
        `namespace`,
      { hint: `leave out the ${reference.digest === undefined ? "tag" : "digest"}` },
    );
  }
  // Docker once wrote registries' keys with the API's path (`HOST/v2/`), which auth files still
  // read as the whole registry: such a key would not be the repository's alone.
  if (parseAuthKey(`${host}/${path}`)?.namespace !== path) {
    throw new UsageError(
      `"${value}": auth files read HOST/${path} as the whole registry's key, written the way ` +
        `Docker once wrote them, not as a repository's`,
      { hint: `log in to ${host} itself` },
    );
  }
  return path;
}
