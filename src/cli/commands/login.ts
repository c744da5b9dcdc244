/**
 * `ocisync login HOST` and `ocisync logout HOST`: check credentials against
 * the registry, then save them in the Docker config (or its credential
 * helper); or remove them.
 *
 * @module
 */
import type { CommandSpec, ParsedArgs } from "../args.ts";
import { OUTPUT_OPTIONS, REGISTRY_OPTIONS, registryOptions } from "../common.ts";
import type { Output } from "../output.ts";
import { AuthError, UsageError } from "../../errors/mod.ts";
import { parseRegistryReference } from "../../ref/mod.ts";
import { RegistryClient } from "../../remote/auth.ts";
import { discardBody } from "../../remote/transport.ts";
import { removeCredential, saveCredential } from "../../remote/credentials.ts";

/** The spec of `login`. */
export const loginSpec: CommandSpec = {
  name: "login",
  summary: "check credentials against a registry and save them in the Docker config",
  usage: "ocisync login HOST -u USER --password-stdin",
  positionals: [1, 1],
  options: [...REGISTRY_OPTIONS.filter((o) => o.name !== "credentials"), ...OUTPUT_OPTIONS],
  examples: [
    'echo "$GITHUB_TOKEN" | ocisync login ghcr.io -u octocat --password-stdin',
    "ocisync login localhost:5000 -u admin --password-stdin < password.txt",
  ],
};

/** Runs `login`. */
export async function login(args: ParsedArgs, out: Output): Promise<void> {
  const { options } = args;
  const registry = registryHostArgument(args.positionals[0]);
  if (!options.username || !options["password-stdin"]) {
    throw new UsageError("login needs --username and --password-stdin", {
      hint: `echo "$TOKEN" | ocisync login ${registry} -u USER --password-stdin`,
    });
  }
  const targetOptions = await registryOptions(options, out);
  const client = new RegistryClient(targetOptions);
  try {
    // The API root with no scope: basic auth checks the password, token auth asks the token
    // server, which refuses wrong credentials.
    const response = await client.request(registry, [], {
      method: "GET",
      url: client.url(registry, "/v2/"),
    });
    await discardBody(response);
    if (response.status !== 200) {
      throw new AuthError(`${registry} refused the credentials (HTTP ${response.status})`);
    }
  } finally {
    client.close();
  }
  const credential = await targetOptions.credentials!(registry);
  const path = await saveCredential(registry, {
    username: credential!.username!,
    password: credential!.password!,
  }, {});
  out.result({
    human: `Login Succeeded: credentials for ${registry} saved in ${path}`,
    json: { registry, username: options.username, config: path },
    quiet: registry,
  });
}

/** The spec of `logout`. */
export const logoutSpec: CommandSpec = {
  name: "logout",
  summary: "remove a registry's saved credentials",
  usage: "ocisync logout HOST",
  positionals: [1, 1],
  options: OUTPUT_OPTIONS,
  examples: ["ocisync logout ghcr.io"],
};

/** Runs `logout`. */
export async function logout(args: ParsedArgs, out: Output): Promise<void> {
  const registry = registryHostArgument(args.positionals[0]);
  const removed = await removeCredential(registry, {});
  out.result({
    human: removed ? `Removed credentials for ${registry}` : `Not logged in to ${registry}`,
    json: { registry, removed },
    quiet: registry,
  });
}

/** A registry host as users write it: `ghcr.io`, `localhost:5000`, `https://index.docker.io/v1/`. */
function registryHostArgument(value: string): string {
  const host = value.replace(/^https?:\/\//, "").split("/")[0];
  try {
    // Reusing the reference grammar normalises Docker Hub's aliases and checks the host.
    const registry = parseRegistryReference(`${host}/x`).registry;
    if (!host.includes(".") && !host.includes(":") && host !== "localhost") throw new Error();
    return registry;
  } catch {
    throw new UsageError(`"${value}" is not a registry host`, {
      hint: "e.g. ghcr.io or localhost:5000",
    });
  }
}
