/**
 * What a command costs a registry: the requests its access log and its token server saw while
 * something ran, and the CLI run as users run it, with the registry's credentials.
 * @module
 */
import assert from "node:assert/strict";
import { ocisync, shown } from "./cli.ts";
import type { TestRegistry } from "./registry.ts";
import { isolatedEnv } from "./servers.ts";

/** What the registry and its token server saw while `action` ran. */
export interface Sent {
  /** `METHOD PATH STATUS`, in order. */
  requests: string[];
  /** The scopes of each token request, joined by spaces. */
  tokens: string[];
}

/** Runs `action` and returns what the registry and its token server saw meanwhile. */
export async function sentDuring(
  registry: TestRegistry,
  action: () => Promise<void>,
): Promise<Sent> {
  const requests = (await registry.requests()).length;
  const tokens = registry.tokenRequests?.length ?? 0;
  await action();
  return {
    requests: (await registry.requests()).slice(requests).map((r) =>
      `${r.method} ${r.path} ${r.status}`
    ),
    tokens: (registry.tokenRequests ?? []).slice(tokens).map((t) => t.scope.join(" ")),
  };
}

/** Runs the CLI with the registry's credentials on stdin (none for an anonymous registry). */
export function registryCli(
  registry: TestRegistry,
  tmp: string,
  args: string[],
): ReturnType<typeof ocisync> {
  const env = isolatedEnv(tmp);
  if (registry.auth === "anonymous") return ocisync(args, { env });
  return ocisync([...args, "-u", registry.username, "--password-stdin"], {
    env,
    stdin: registry.password,
  });
}

/** Runs the CLI, fails unless it succeeds, and returns its output and what the registry saw. */
export async function costOf(
  registry: TestRegistry,
  tmp: string,
  args: string[],
): Promise<Sent & { stdout: string }> {
  let stdout = "";
  const sent = await sentDuring(registry, async () => {
    const result = await registryCli(registry, tmp, args);
    assert.equal(result.code, 0, `${args.join(" ")}: ${shown(result)}`);
    stdout = result.stdout;
  });
  return { ...sent, stdout };
}
