/**
 * Fakes shared by this folder's tests (no tests of its own): a temp dir of fake credential
 * helpers that log every call they get.
 * @module
 */
import type { EnvLookup } from "./store.ts";

/** Whether the tests that need POSIX modes and shell scripts can run. */
export const posix = Deno.build.os !== "windows";

/** A temp dir with fake credential helpers in `bin/`, removed on dispose. */
export interface HelperSandbox {
  /** The temp dir. */
  dir: string;
  /** An environment whose `PATH` finds the helpers (and `/usr/bin`, `/bin`), and nothing else. */
  env: EnvLookup;
  /** The calls the helpers logged, one line each, in order. */
  calls(): Promise<string[]>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Writes each of `scripts` as `bin/docker-credential-<name>` in a new temp dir: a shell script,
 * made from the path of the log it appends its calls to (`calls.log`).
 */
export async function helperSandbox(
  prefix: string,
  scripts: Record<string, (log: string) => string>,
): Promise<HelperSandbox> {
  const dir = await Deno.makeTempDir({ prefix });
  await Deno.mkdir(`${dir}/bin`);
  const log = `${dir}/calls.log`;
  for (const [name, script] of Object.entries(scripts)) {
    await Deno.writeTextFile(`${dir}/bin/docker-credential-${name}`, script(log), {
      mode: 0o755,
    });
  }
  return {
    dir,
    env: (name) => name === "PATH" ? `${dir}/bin:/usr/bin:/bin` : undefined,
    async calls() {
      const text = await Deno.readTextFile(log).catch(() => "");
      return text.split("\n").filter((line) => line !== "");
    },
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}
