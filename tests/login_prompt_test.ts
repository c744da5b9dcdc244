/**
 * Issue 18, `ocisync login HOST -u USER` without `--password-stdin`: on a terminal it asks
 * `Password: ` and reads the password without echo, as `docker login` does. The CLI runs in a
 * real pseudo-terminal, driven by Python's `pty` module, which types the keys as a user would
 * and records everything the terminal shows; the registry checks the password against its
 * htpasswd file.
 */
import assert from "node:assert/strict";
import { RUN_FLAGS } from "../scripts/permissions.ts";
import { ExitCode } from "../src/cli/exit.ts";
import { ocisync, run, shown } from "./helpers/cli.ts";
import { type TestRegistry, withRegistry } from "./helpers/registry.ts";
import { isolatedEnv } from "./helpers/servers.ts";
import { requireTool } from "./helpers/tools.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const PASSWORD = "Typed-Pa55-for-issue-18";
const BACKSPACE = "\x7f";
const CTRL_C = "\x03";
const CTRL_D = "\x04";
const CTRL_U = "\x15";

// Runs argv[1] (a JSON list) in a new pseudo-terminal; once "Password: " shows, types each
// string of argv[2] (a JSON list) in turn. Prints what the terminal showed and the exit code.
const DRIVER = `
import json, os, pty, select, sys, time
command, keys = json.loads(sys.argv[1]), json.loads(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(command[0], command)
shown = b""
def read(until, seconds):
    global shown
    deadline = time.time() + seconds
    while until not in shown and time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:
            return
        if not data:
            return
        shown += data
read(b"Password: ", 60)
for key in keys:
    os.write(fd, key.encode())
    time.sleep(0.05)
read(b"\\0never", 60)
_, status = os.waitpid(pid, 0)
print(json.dumps({"shown": shown.decode("utf-8", "replace"), "code": os.waitstatus_to_exitcode(status)}))
`;

/** What a run in the pseudo-terminal showed, and how it ended. */
interface TerminalRun {
  shown: string;
  code: number;
}

/** Runs `ocisync login HOST -u USER` in a pseudo-terminal and types `keys` at the prompt. */
async function loginOnTerminal(
  registry: TestRegistry,
  tmp: string,
  keys: string[],
): Promise<TerminalRun> {
  requireTool("python3", "python3");
  const command = [
    Deno.execPath(),
    "run",
    ...RUN_FLAGS,
    MAIN,
    ...["login", registry.host, "-u", registry.username],
  ];
  const result = await run(
    "python3",
    ["-c", DRIVER, JSON.stringify(command), JSON.stringify(keys)],
    { env: isolatedEnv(tmp) },
  );
  assert.equal(result.code, 0, shown(result));
  return JSON.parse(result.stdout);
}

/** The credentials that `login` saved for the registry, if any. */
async function saved(registry: TestRegistry, tmp: string): Promise<string | undefined> {
  const text = await Deno.readTextFile(`${tmp}/docker/config.json`).catch(() => undefined);
  const auth = text === undefined ? undefined : JSON.parse(text).auths?.[registry.host]?.auth;
  return auth === undefined ? undefined : atob(auth);
}

Deno.test("login on a terminal asks for the password without echo; backspace and Ctrl-U edit it", async () => {
  await withRegistry({ auth: "basic", password: PASSWORD }, async (registry, tmp) => {
    const typed = [`oops${CTRL_U}`, PASSWORD.slice(0, 5), `x${BACKSPACE}`, PASSWORD.slice(5), "\r"];
    const terminal = await loginOnTerminal(registry, tmp, typed);
    assert.equal(terminal.code, 0, terminal.shown);
    assert.match(terminal.shown, /^Password: \r?\n/);
    assert.match(terminal.shown, /Login Succeeded: credentials for 127\.0\.0\.1:\d+ saved in /);
    for (const secret of [PASSWORD, PASSWORD.slice(0, 5), PASSWORD.slice(5), "oops"]) {
      assert.ok(
        !terminal.shown.includes(secret),
        `the terminal showed ${secret}:\n${terminal.shown}`,
      );
    }
    assert.equal(await saved(registry, tmp), `${registry.username}:${PASSWORD}`);
    // The registry checked it: the challenge, then the credentials, accepted.
    const seen = (await registry.requests()).map((r) => `${r.method} ${r.path} ${r.status}`);
    assert.deepEqual(seen, ["GET /v2/ 401", "GET /v2/ 200"]);
  });
});

Deno.test("login on a terminal: a wrong password is refused, and not shown either", async () => {
  await withRegistry({ auth: "basic", password: PASSWORD }, async (registry, tmp) => {
    const wrong = "Wr0ng-typed-password";
    const terminal = await loginOnTerminal(registry, tmp, [wrong, "\r"]);
    assert.equal(terminal.code, ExitCode.Auth, terminal.shown);
    assert.match(terminal.shown, /refused the credentials of user ocisync/);
    assert.ok(!terminal.shown.includes(wrong), terminal.shown);
    assert.equal(await saved(registry, tmp), undefined);
  });
});

Deno.test("login on a terminal: Ctrl-C exits 130 and Ctrl-D or an empty password is refused, with nothing sent or saved", async () => {
  await withRegistry({ auth: "basic", password: PASSWORD }, async (registry, tmp) => {
    const interrupted = await loginOnTerminal(registry, tmp, [PASSWORD.slice(0, 5), CTRL_C]);
    assert.equal(interrupted.code, 130, interrupted.shown);
    assert.equal(interrupted.shown.replace(/\r/g, ""), "Password: \n", "nothing else was written");

    for (const keys of [[PASSWORD.slice(0, 5), CTRL_D], [CTRL_D], ["\r"]]) {
      const refused = await loginOnTerminal(registry, tmp, keys);
      assert.equal(refused.code, ExitCode.Usage, refused.shown);
      assert.match(refused.shown, /login needs a password: none was typed/);
      assert.ok(!refused.shown.includes(PASSWORD.slice(0, 5)), refused.shown);
    }
    assert.equal(await saved(registry, tmp), undefined);
    assert.deepEqual(await registry.requests(), [], "nothing reached the registry");
  });
});

Deno.test("login without a terminal and without --password-stdin is refused, clearly", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-login-" });
  try {
    const result = await ocisync(["login", "localhost:5000", "-u", "me"], {
      env: isolatedEnv(tmp),
      stdin: "",
    });
    assert.equal(result.code, ExitCode.Usage, shown(result));
    assert.equal(
      result.stderr,
      "ocisync: error: login needs --password-stdin when standard input is not a terminal\n" +
        'hint: echo "$TOKEN" | ocisync login localhost:5000 -u USER --password-stdin\n',
    );
    assert.doesNotMatch(result.stderr, /Password:/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
