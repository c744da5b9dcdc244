/**
 * One `ocisync sync` process per output folder and per state file: a second process is refused
 * at once, with exit 2 and a message that names the holder, before any tick; a lock left by a
 * SIGKILLed process is broken at the next start; `--config` locks every target's folder. All
 * real processes with the binary's permissions, on an `oci:` layout built here.
 */
import assert from "node:assert/strict";
import { RUN_FLAGS } from "../scripts/permissions.ts";
import { ocisync, shown } from "./helpers/cli.ts";
import { writeTree } from "./helpers/tree.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
/** The exit code of a refused sync: the usage-style conflict of the README's table. */
const REFUSED = 2;

/** A running `ocisync sync`, whose stderr is gathered as it comes. */
class SyncRun {
  readonly child: Deno.ChildProcess;
  readonly started = Date.now();
  stderr = "";
  #reading: Promise<void>;

  constructor(args: string[], cwd: string) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...RUN_FLAGS, MAIN, "sync", ...args],
      cwd,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.child = child;
    this.#reading = (async () => {
      for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
        this.stderr += text;
      }
    })();
  }

  /** Waits until stderr has `count` lines matching `pattern`. */
  async waitFor(pattern: RegExp, count = 1, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const seen = () => this.stderr.split("\n").filter((line) => pattern.test(line)).length;
    while (seen() < count) {
      if (Date.now() > deadline) throw new Error(`no ${pattern} in:\n${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Waits for the exit, after `signal` if given; SIGKILLs it and fails after `timeoutMs`. */
  async exit(signal?: Deno.Signal, timeoutMs = 20_000): Promise<{ code: number; ms: number }> {
    if (signal) {
      try {
        this.child.kill(signal);
      } catch { /* it has ended */ }
    }
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    const { code, signal: killedBy } = await this.child.status;
    clearTimeout(timer);
    await this.#reading;
    if (!signal && killedBy === "SIGKILL") {
      throw new Error(`still running after ${timeoutMs} ms:\n${this.stderr}`);
    }
    return { code, ms: Date.now() - this.started };
  }
}

/** Runs `body` in a temporary folder holding a layout with one image, tagged v1, v2 and v3. */
async function withLayout(body: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-sync-lock-" });
  try {
    await writeTree(`${tmp}/src`, { "hello.txt": { type: "file", content: "hello\n" } });
    const push = await ocisync(
      ["push", "oci:layout:v1", "src:/app", "-t", "v2", "-t", "v3", "-q"],
      { cwd: tmp },
    );
    assert.equal(push.code, 0, shown(push));
    await body(tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** The message of a refusal: what is in use, and the holder's pid, host and start time. */
function refusal(what: string, holder: SyncRun): RegExp {
  const host = Deno.hostname().replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(
    `^ocisync: error: ${what} \\S+ is in use by another ocisync sync: ` +
      `pid ${holder.child.pid} on host ${host} since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\n`,
  );
}

/** What a lock file says about its holder. */
async function lockHolder(path: string): Promise<{ pid: number; hostname: string }> {
  return JSON.parse(await Deno.readTextFile(path));
}

const exists = (path: string) => Deno.lstat(path).then(() => true, () => false);
const TICK = / oci:layout:v1 (changed|unchanged) /;

Deno.test("a second sync on one -o DIR is refused at once; a SIGKILLed holder's lock is broken", async () => {
  await withLayout(async (tmp) => {
    const args = ["oci:layout:v1", "-o", "out", "--interval", "1s"];
    const first = new SyncRun(args, tmp);
    try {
      await first.waitFor(TICK);
      assert.equal((await lockHolder(`${tmp}/out/.ocisync.lock`)).pid, first.child.pid);

      // Not --once: only the lock can make it stop.
      const second = new SyncRun(args, tmp);
      const { code, ms } = await second.exit();
      assert.equal(code, REFUSED, second.stderr);
      assert.match(second.stderr, refusal("the output folder", first));
      assert.doesNotMatch(second.stderr, TICK, "no tick before the refusal");
      assert.ok(ms < 10_000, `refused after ${ms} ms`);
      // The holder is unharmed and keeps ticking.
      await first.waitFor(TICK, 3);
    } finally {
      await first.exit("SIGKILL");
    }

    // Killed: its lock file stays, and the next start breaks it at once.
    assert.ok(await exists(`${tmp}/out/.ocisync.lock`));
    const next = await ocisync(["sync", ...args, "--once"], { cwd: tmp });
    assert.equal(next.code, 0, shown(next));
    assert.ok(!(await exists(`${tmp}/out/.ocisync.lock`)), "released at exit");
    assert.equal(await Deno.readTextFile(`${tmp}/out/current/app/hello.txt`), "hello\n");
  });
});

Deno.test("a second sync on one --state FILE, by any name, is refused; a stopped holder releases it", async () => {
  await withLayout(async (tmp) => {
    const first = new SyncRun(
      ["oci:layout:v1", "-o", "one", "--state", "state.json", "--interval", "1s"],
      tmp,
    );
    const second = ["sync", "oci:layout:v1", "--events", "--encoding", "base64"];
    second.push("--state", "./state.json", "--once");
    try {
      await first.waitFor(TICK);
      assert.equal((await lockHolder(`${tmp}/state.json.lock`)).pid, first.child.pid);
      const refused = await ocisync(second, { cwd: tmp });
      assert.equal(refused.code, REFUSED, shown(refused));
      assert.match(refused.stderr, refusal("the state file", first));
      assert.equal(refused.stdout, "", "no events before the refusal");
      // Another name of the same file, through a link, takes the same lock.
      await Deno.symlink("state.json", `${tmp}/link.json`);
      const linked = await ocisync(
        ["sync", "oci:layout:v1", "--events", "--state", "link.json", "--once"],
        { cwd: tmp },
      );
      assert.equal(linked.code, REFUSED, shown(linked));
      assert.match(linked.stderr, refusal("the state file", first));
    } finally {
      assert.equal((await first.exit("SIGTERM")).code, 0, first.stderr);
    }
    assert.ok(!(await exists(`${tmp}/state.json.lock`)), "released at exit");
    const after = await ocisync(second, { cwd: tmp });
    assert.equal(after.code, 0, shown(after));
  });
});

Deno.test("--state, a link to a file not there yet: the file it leads to is the one locked and written", async () => {
  await withLayout(async (tmp) => {
    await Deno.mkdir(`${tmp}/persist`);
    await Deno.symlink("persist/state.json", `${tmp}/link.json`);
    const first = new SyncRun(
      ["oci:layout:v1", "-o", "one", "--state", "link.json", "--interval", "1s"],
      tmp,
    );
    try {
      await first.waitFor(TICK);
      assert.equal((await lockHolder(`${tmp}/persist/state.json.lock`)).pid, first.child.pid);
      const byTarget = await ocisync(
        ["sync", "oci:layout:v1", "-o", "two", "--state", "persist/state.json", "--once"],
        { cwd: tmp },
      );
      assert.equal(byTarget.code, REFUSED, shown(byTarget));
      assert.match(byTarget.stderr, refusal("the state file", first));
    } finally {
      assert.equal((await first.exit("SIGTERM")).code, 0, first.stderr);
    }
    assert.ok((await Deno.lstat(`${tmp}/link.json`)).isSymlink, "the link is kept");
    const state = JSON.parse(await Deno.readTextFile(`${tmp}/persist/state.json`));
    assert.deepEqual(Object.keys(state.references), ["oci:layout:v1"]);
  });
});

Deno.test("--config: two targets that name one state file by two names keep both their entries", async () => {
  await withLayout(async (tmp) => {
    await Deno.symlink("state.json", `${tmp}/link.json`);
    await Deno.writeTextFile(
      `${tmp}/sync.yaml`,
      [
        "targets:",
        "  - reference: oci:layout:v1",
        "    output: a",
        "    state: state.json",
        "  - reference: oci:layout:v2",
        "    output: b",
        "    state: link.json",
      ].join("\n") + "\n",
    );
    const result = await ocisync(["sync", "--config", "sync.yaml", "--once"], { cwd: tmp });
    assert.equal(result.code, 0, shown(result));
    assert.ok((await Deno.lstat(`${tmp}/link.json`)).isSymlink, "the link is kept");
    const state = JSON.parse(await Deno.readTextFile(`${tmp}/state.json`));
    assert.deepEqual(Object.keys(state.references).sort(), ["oci:layout:v1", "oci:layout:v2"]);
  });
});

Deno.test("--config: every target's folder and the shared state file are locked", async () => {
  await withLayout(async (tmp) => {
    const folders = ["a", "b", "c"];
    const tags = ["v1", "v2", "v3"];
    await Deno.writeTextFile(
      `${tmp}/sync.yaml`,
      [
        "interval: 1s",
        "state: state.json",
        "targets:",
        ...folders.flatMap((
          dir,
          i,
        ) => [`  - reference: oci:layout:${tags[i]}`, `    output: ${dir}`]),
      ].join("\n") + "\n",
    );
    const first = new SyncRun(["--config", "sync.yaml"], tmp);
    try {
      await first.waitFor(/ changed /, folders.length);
      for (const path of [...folders.map((dir) => `${dir}/.ocisync.lock`), "state.json.lock"]) {
        assert.equal((await lockHolder(`${tmp}/${path}`)).pid, first.child.pid, path);
      }
      // The last target's folder, from the command line; then the whole config again.
      const one = await ocisync(["sync", "oci:layout:v1", "-o", "c/", "--once"], { cwd: tmp });
      assert.equal(one.code, REFUSED, shown(one));
      assert.match(one.stderr, refusal("the output folder", first));
      assert.match(one.stderr, /\/c is in use/);
      const again = new SyncRun(["--config", "sync.yaml"], tmp);
      assert.equal((await again.exit()).code, REFUSED, again.stderr);
      assert.match(again.stderr, refusal("the output folder", first));
    } finally {
      assert.equal((await first.exit("SIGTERM")).code, 0, first.stderr);
    }
    for (const dir of folders) assert.ok(!(await exists(`${tmp}/${dir}/.ocisync.lock`)), dir);
  });
});

Deno.test("an invalid state file is set aside with a warning and the sync goes on; another version's is refused", async () => {
  await withLayout(async (tmp) => {
    const args = ["sync", "oci:layout:v1", "-o", "out", "--state", "state.json", "--once"];
    // What the file holds is not quoted: a link may have led to another file (root:$6$…).
    const damaged = '{"version":1,"references":{"oci:layout:v1":{"digest": root:SECRET-HASH';
    await Deno.writeTextFile(`${tmp}/state.json`, damaged);
    const result = await ocisync(args, { cwd: tmp });
    assert.equal(result.code, 0, shown(result));
    assert.match(
      result.stderr,
      /warning: the state file state\.json is not valid: .*: kept as state\.json\.invalid-[\dT-]+Z; the references are pulled again/,
    );
    assert.doesNotMatch(result.stderr, /root:/);
    const [aside] = (await Array.fromAsync(Deno.readDir(tmp), (e) => e.name))
      .filter((name) => name.startsWith("state.json.invalid-"));
    assert.equal(await Deno.readTextFile(`${tmp}/${aside}`), damaged);
    const state = JSON.parse(await Deno.readTextFile(`${tmp}/state.json`));
    assert.deepEqual(Object.keys(state.references), ["oci:layout:v1"]);
    assert.equal(await Deno.readTextFile(`${tmp}/out/current/app/hello.txt`), "hello\n");

    // A state of another format version (a newer ocisync's) is never set aside.
    const newer = '{"version":2,"references":{}}';
    await Deno.writeTextFile(`${tmp}/state.json`, newer);
    const refused = await ocisync(args, { cwd: tmp });
    assert.equal(refused.code, 1, shown(refused));
    assert.match(
      refused.stderr,
      /the state file state\.json is of format version 2, written by a newer ocisync: this one reads version 1/,
    );
    // Not this release's to remove: the newer one still reads it.
    assert.doesNotMatch(refused.stderr, /remove it|not valid/);
    assert.equal(await Deno.readTextFile(`${tmp}/state.json`), newer);
  });
});

Deno.test("a sync --once that fails leaves no folder it made for its locks", async () => {
  await withLayout(async (tmp) => {
    const failed = await ocisync(
      ["sync", "oci:layout:nope", "-o", "new/out", "--state", "states/s.json", "--once"],
      { cwd: tmp },
    );
    assert.equal(failed.code, 4, shown(failed));
    assert.equal(await exists(`${tmp}/new`), false);
    assert.equal(await exists(`${tmp}/states`), false);
    // A folder that was there is left, as it was.
    await Deno.mkdir(`${tmp}/there`);
    assert.equal(
      (await ocisync(["sync", "oci:layout:nope", "-o", "there", "--once"], { cwd: tmp })).code,
      4,
    );
    assert.deepEqual(await Array.fromAsync(Deno.readDir(`${tmp}/there`)), []);
    assert.equal(await exists(`${tmp}/there`), true);
  });
});

Deno.test("-o DIR removed by hand: the sync rebuilds it with its lock, and a second sync is still refused", async () => {
  await withLayout(async (tmp) => {
    const first = new SyncRun(["oci:layout:v1", "-o", "out", "--interval", "300ms"], tmp);
    try {
      await first.waitFor(/ changed /);
      await Deno.remove(`${tmp}/out`, { recursive: true });
      // "A lost folder is rebuilt": the next tick delivers the digest again, lock first.
      await first.waitFor(/ changed /, 2);
      assert.equal((await lockHolder(`${tmp}/out/.ocisync.lock`)).pid, first.child.pid);
      const second = await ocisync(["sync", "oci:layout:v1", "-o", "out", "--once"], {
        cwd: tmp,
      });
      assert.equal(second.code, REFUSED, shown(second));
      assert.match(second.stderr, refusal("the output folder", first));
    } finally {
      assert.equal((await first.exit("SIGTERM")).code, 0, first.stderr);
    }
  });
});

Deno.test("--state's folder removed by hand: the next change takes FILE.lock again", async () => {
  await withLayout(async (tmp) => {
    const first = new SyncRun(
      ["oci:layout:v1", "-o", "out", "--state", "var/state.json", "--interval", "300ms"],
      tmp,
    );
    try {
      await first.waitFor(/ changed /);
      await Deno.remove(`${tmp}/var`, { recursive: true });
      // A new version of the tag: a change, and a write of the state.
      await writeTree(`${tmp}/src2`, { "hello.txt": { type: "file", content: "bye\n" } });
      const push = await ocisync(["push", "oci:layout:v1", "src2:/app", "-q"], { cwd: tmp });
      assert.equal(push.code, 0, shown(push));
      await first.waitFor(/ changed /, 2);
      assert.ok(await exists(`${tmp}/var/state.json`));
      assert.equal((await lockHolder(`${tmp}/var/state.json.lock`)).pid, first.child.pid);
      const second = await ocisync(
        ["sync", "oci:layout:v1", "--events", "--state", "var/state.json", "--once"],
        { cwd: tmp },
      );
      assert.equal(second.code, REFUSED, shown(second));
      assert.match(second.stderr, refusal("the state file", first));
    } finally {
      assert.equal((await first.exit("SIGTERM")).code, 0, first.stderr);
    }
  });
});

Deno.test("a lock lost with DIR and taken by another sync meanwhile: the first stops with exit 2 before writing", async () => {
  await withLayout(async (tmp) => {
    const args = ["oci:layout:v1", "-o", "out", "--interval", "300ms"];
    const first = new SyncRun(args, tmp);
    let second: SyncRun | undefined;
    try {
      await first.waitFor(/ changed /);
      // Paused, so that the second surely starts in the emptied folder before it ticks again.
      first.child.kill("SIGSTOP");
      await Deno.remove(`${tmp}/out`, { recursive: true });
      second = new SyncRun(args, tmp);
      await second.waitFor(/ changed /);
      // The folder holds the digest again: the first finds out at its next change.
      await writeTree(`${tmp}/src2`, { "hello.txt": { type: "file", content: "bye\n" } });
      const push = await ocisync(["push", "oci:layout:v1", "src2:/app", "-q"], { cwd: tmp });
      assert.equal(push.code, 0, shown(push));
      await second.waitFor(/ changed /, 2);
      first.child.kill("SIGCONT");
      const { code } = await first.exit();
      assert.equal(code, REFUSED, first.stderr);
      assert.match(
        first.stderr,
        new RegExp(
          `the output folder \\S+ is in use by another ocisync sync: pid ${second.child.pid} ` +
            `.*; this sync held it until its lock \\S+ was removed, and stops`,
        ),
      );
      assert.equal((await lockHolder(`${tmp}/out/.ocisync.lock`)).pid, second.child.pid);
      // The first wrote nothing more: the second's two versions.
      assert.equal((await Array.fromAsync(Deno.readDir(`${tmp}/out/.ocisync`))).length, 2);
      assert.doesNotMatch(first.stderr, /(changed.*){2}/s);
      await second.waitFor(TICK, 3);
    } finally {
      await first.exit("SIGKILL");
      if (second) assert.equal((await second.exit("SIGTERM")).code, 0, second.stderr);
    }
  });
});

Deno.test("the temporary files that killed writes of the state left are removed once FILE.lock is held", async () => {
  await withLayout(async (tmp) => {
    await Deno.mkdir(`${tmp}/var`);
    // What a SIGKILL during a write of the state leaves, and what is not this sync's to remove.
    const dead = [".state.json.1a2b3c4d.tmp", ".state.json.0f0f0f0f.tmp"];
    for (const name of dead) await Deno.writeTextFile(`${tmp}/var/${name}`, '{"version":1,');
    const kept = [".other.json.1a2b3c4d.tmp", ".state.json.5e5e5e5e.tmp", "notes.txt"];
    await Deno.writeTextFile(`${tmp}/var/.other.json.1a2b3c4d.tmp`, "");
    await Deno.symlink(`${tmp}/var/notes.txt`, `${tmp}/var/.state.json.5e5e5e5e.tmp`);
    await Deno.writeTextFile(`${tmp}/var/notes.txt`, "mine\n");
    if (Deno.uid() === 0) {
      kept.push(".state.json.77777777.tmp");
      await Deno.writeTextFile(`${tmp}/var/.state.json.77777777.tmp`, "");
      await Deno.chown(`${tmp}/var/.state.json.77777777.tmp`, 65534, 65534);
    }
    // Its tick fails (no such tag): the removal came with the lock, before it.
    const failed = await ocisync(
      ["sync", "oci:layout:nope", "--events", "--state", "var/state.json", "--once"],
      { cwd: tmp },
    );
    assert.equal(failed.code, 4, shown(failed));
    const left = (await Array.fromAsync(Deno.readDir(`${tmp}/var`), (e) => e.name)).sort();
    assert.deepEqual(left, kept.sort());
    assert.equal(await Deno.readTextFile(`${tmp}/var/notes.txt`), "mine\n");
  });
});

Deno.test("-o DIR that is a file, at start-up or once a sync runs, is named as such, not as an OS error", async () => {
  await withLayout(async (tmp) => {
    await Deno.writeTextFile(`${tmp}/file`, "x\n");
    for (const dir of ["file", "file/sub"]) {
      const once = await ocisync(["sync", "oci:layout:v1", "-o", dir, "--once"], { cwd: tmp });
      assert.equal(once.code, 1, shown(once));
      assert.match(once.stderr, /\/file is a file, not a folder/);
      assert.doesNotMatch(once.stderr, /os error/);
    }
    const run = new SyncRun(["oci:layout:v1", "-o", "out", "--interval", "300ms"], tmp);
    try {
      await run.waitFor(/ changed /);
      await Deno.remove(`${tmp}/out`, { recursive: true });
      await Deno.writeTextFile(`${tmp}/out`, "x\n");
      await run.waitFor(/ failed /);
      assert.match(run.stderr, /\/out is a file, not a folder/);
      assert.match(run.stderr, /again: out is no longer a folder/);
      assert.doesNotMatch(run.stderr, /os error/);
    } finally {
      assert.equal((await run.exit("SIGTERM")).code, 0, run.stderr);
    }
  });
});

Deno.test({
  name: "as root, a --state file of another user's is refused, the message naming the file",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    await withLayout(async (tmp) => {
      await Deno.chmod(tmp, 0o755);
      await Deno.mkdir(`${tmp}/var`, { mode: 0o755 });
      await Deno.writeTextFile(`${tmp}/var/state.json`, '{"version":1,"references":{}}\n');
      await Deno.chown(`${tmp}/var/state.json`, 65534, 65534);
      const refused = await ocisync(
        ["sync", "oci:layout:v1", "--events", "--state", `${tmp}/var/state.json`, "--once"],
        { cwd: tmp },
      );
      assert.equal(refused.code, REFUSED, shown(refused));
      assert.match(
        refused.stderr,
        /refusing to keep the state as root at \S+: \S+\/var\/state\.json is owned by uid 65534/,
      );
      assert.doesNotMatch(refused.stderr, /its folder/);
    });
  },
});
