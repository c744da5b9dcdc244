/**
 * Files the user names (a sync config, a recipe, keys, a CA file, a credentials file) are read
 * bounded: a device is refused unread, and a file or a pipe over the limit once it passes it,
 * exit 1 (an unreadable file), where each was read whole before (`/dev/zero`, or `yes` in a pipe, filled memory).
 */
import assert from "node:assert/strict";
import { RUN_FLAGS } from "../scripts/permissions.ts";
import { run, type RunResult, shown } from "./helpers/cli.ts";
import { withTempDir } from "./helpers/tree.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** `ocisync ARGS…`, ended after a minute: the old code read a pipe of `yes` for ever. */
function ocisyncBounded(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return run("timeout", ["60", Deno.execPath(), "run", ...RUN_FLAGS, MAIN, ...args], { env });
}

/**
 * Whether a sync config was refused as root before it was read: one that others may write
 * (`/dev/zero` is 0666) could choose the hooks root runs. That is exit 2.
 */
function refusedAsRoot(name: string, result: RunResult): boolean {
  return name === "sync --config" &&
    /refusing to read the config .* may be written by others/.test(result.stderr);
}

/** The exit code of an unreadable file (1), or of the refusal as root above (2). */
function refusedExit(name: string, result: RunResult): number {
  return refusedAsRoot(name, result) ? 2 : 1;
}

/** Each command, given `path` where it reads a file the user names. */
const READERS: Record<string, (path: string) => string[]> = {
  "sync --config": (path) => ["sync", "--config", path, "--once"],
  "build -f": (path) => ["build", "-f", path, "--dry-run"],
  "verify --key": (path) => ["verify", "example.invalid/app:v1", "--key", path],
  "verify --trusted-root": (path) => [
    "verify",
    "example.invalid/app:v1",
    "--trusted-root",
    path,
    "--certificate-identity",
    "a",
    "--certificate-oidc-issuer",
    "b",
  ],
  "sign --key": (path) => ["sign", "example.invalid/app:v1", "--key", path],
  "--ca-file": (path) => ["inspect", "example.invalid/app:v1", "--ca-file", path],
  "--credentials": (path) => ["inspect", "example.invalid/app:v1", "--credentials", path],
};

Deno.test("/dev/zero, a socket, or a file over 4 MiB, named as any file the user gives, is exit 1", async () => {
  await withTempDir("ocisync-named-files-", async (tmp) => {
    const large = `${tmp}/large`;
    await Deno.writeFile(large, new Uint8Array(4 * 1024 * 1024 + 1).fill(0x20));
    // A link is followed, as to any file the user names: what it leads to is judged.
    await Deno.symlink("/dev/zero", `${tmp}/zero-link`);
    // An agent's socket, named by mistake: called what it is.
    using _socket = Deno.listen({ transport: "unix", path: `${tmp}/agent.sock` });
    const kinds = [
      { path: "/dev/zero", message: /it is a character device, not a regular file/ },
      { path: `${tmp}/zero-link`, message: /it is a character device, not a regular file/ },
      { path: `${tmp}/agent.sock`, message: /it is a socket, not a regular file/ },
      { path: large, message: /it holds more than 4194304 bytes/ },
    ];
    for (const [name, args] of Object.entries(READERS)) {
      for (const { path, message } of kinds) {
        const result = await ocisyncBounded(args(path));
        assert.equal(result.code, refusedExit(name, result), `${name} ${path}: ${shown(result)}`);
        if (!refusedAsRoot(name, result)) {
          assert.match(result.stderr, message, `${name} ${path}: ${shown(result)}`);
        }
        assert.ok(result.stderr.includes(path), `${name}: the message names the file`);
      }
    }
  });
});

Deno.test("a pipe is read, as <(…) gives a key, and bounded: `yes` in it is exit 1", async () => {
  await withTempDir("ocisync-named-files-", async (tmp) => {
    for (const [name, args] of Object.entries(READERS)) {
      const fifo = `${tmp}/${name.replace(/[^a-z]/g, "")}.fifo`;
      await run("mkfifo", [fifo]);
      // Endless, as `yes` is: the reader must stop at its bound, and end the writer.
      const writer = new Deno.Command("sh", { args: ["-c", 'exec yes > "$0"', fifo] }).spawn();
      const result = await ocisyncBounded(args(fifo));
      try {
        writer.kill();
      } catch { /* ended when the reader closed the pipe */ }
      await writer.status;
      assert.equal(result.code, 1, `${name}: ${shown(result)}`);
      assert.match(result.stderr, /it holds more than 4194304 bytes/, `${name}: ${shown(result)}`);
    }
  });
});

Deno.test("a Docker config that is a link to /dev/zero is exit 1, not read without end", async () => {
  await withTempDir("ocisync-named-files-", async (tmp) => {
    await Deno.mkdir(`${tmp}/docker`);
    await Deno.symlink("/dev/zero", `${tmp}/docker/config.json`);
    const result = await ocisyncBounded(["logout", "example.invalid"], {
      DOCKER_CONFIG: `${tmp}/docker`,
      REGISTRY_AUTH_FILE: `${tmp}/docker/config.json`,
    });
    assert.equal(result.code, 1, shown(result));
    assert.match(result.stderr, /config\.json: it is a character device, not a regular file/);
  });
});
