/**
 * The command line's reference holds: every command's `--help` shows every option of its spec,
 * typos get a one-line "did you mean", each exit code of the README's table comes out of a real
 * failure of its kind, the hints that need a second look at the registry name what exists,
 * `--debug` shows headers without secrets, and the bash completions complete.
 */
import assert from "node:assert/strict";
import { COMMANDS } from "../src/cli/commands/mod.ts";
import { ExitCode } from "../src/cli/exit.ts";
import { ocisync, run, runOk, type RunResult, shown } from "./helpers/cli.ts";
import { closedPort } from "./helpers/servers.ts";
import { startRegistry } from "./helpers/registry.ts";
import { requireTool } from "./helpers/tools.ts";
import { writeTree } from "./helpers/tree.ts";

const TREE = {
  "flows": { type: "dir" as const },
  "flows/flow.py": { type: "file" as const, content: "print('hello')\n" },
};

/** An error is one line, and at most one hint line after it. */
function assertOneLineError(result: RunResult, code: number, message: RegExp): void {
  assert.equal(result.code, code, shown(result));
  assert.match(result.stderr, /^ocisync: error: [^\n]+\n(hint: [^\n]+\n)?$/, shown(result));
  assert.match(result.stderr, message, shown(result));
}

Deno.test("--help of every command: usage, every option with its default, examples", async () => {
  const results = await Promise.all(COMMANDS.map(({ spec }) => ocisync([spec.name, "--help"])));
  for (const [i, { spec }] of COMMANDS.entries()) {
    const result = results[i];
    assert.equal(result.code, 0, `${spec.name}: ${shown(result)}`);
    assert.match(result.stdout, /^Usage: ocisync /m, spec.name);
    for (const option of spec.options) {
      assert.ok(result.stdout.includes(`--${option.name}`), `${spec.name} --${option.name}`);
      if (option.short) assert.ok(result.stdout.includes(`-${option.short}, --${option.name}`));
      if (option.default) assert.ok(result.stdout.includes(`default: ${option.default}`));
    }
    assert.ok(spec.examples.length >= 1, `${spec.name} has examples`);
    for (const example of spec.examples) assert.ok(result.stdout.includes(example), example);
  }
  // --help --json prints the spec for every command, those without a --json of their own too.
  const specs = await Promise.all(
    COMMANDS.map(({ spec }) => ocisync([spec.name, "--help", "--json"])),
  );
  for (const [i, { spec }] of COMMANDS.entries()) {
    assert.equal(specs[i].code, 0, `${spec.name}: ${shown(specs[i])}`);
    assert.equal(JSON.parse(specs[i].stdout).name, spec.name);
  }
});

Deno.test("docs/cli.md is what scripts/gen-cli-docs.ts renders from the specs", async () => {
  const script = new URL("../scripts/gen-cli-docs.ts", import.meta.url).pathname;
  const check = await run(Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-run",
    script,
    "--check",
  ]);
  assert.equal(check.code, 0, shown(check));
});

Deno.test("ocisync --help lists every command; no command at all is a usage error", async () => {
  const help = await ocisync(["--help"]);
  assert.equal(help.code, 0);
  for (const { spec } of COMMANDS) {
    assert.match(help.stdout, new RegExp(`^  ${spec.name} +${RegExp.escape(spec.summary)}$`, "m"));
  }
  // An error's usage goes to stderr: stdout stays for results.
  const none = await ocisync([]);
  assert.equal(none.code, ExitCode.Usage);
  assert.equal(none.stdout, "");
  assert.equal(none.stderr, help.stdout);
  // As git and docker read them: `help CMD` is `CMD --help`; `-v` alone is the version.
  const [helpPack, packHelp] = await Promise.all([
    ocisync(["help", "pack"]),
    ocisync(["pack", "--help"]),
  ]);
  assert.equal(helpPack.code, 0);
  assert.equal(helpPack.stdout, packHelp.stdout);
  const [v, version] = await Promise.all([ocisync(["-v"]), ocisync(["--version"])]);
  assert.equal(v.code, 0);
  assert.equal(v.stdout, version.stdout);
});

Deno.test("unknown commands and options exit 2 with a one-line did you mean", async () => {
  const [command, option, short, shell] = await Promise.all([
    ocisync(["pul", "oci:./x"]),
    ocisync(["pack", "./flows", "--comprssion", "zstd"]),
    ocisync(["pack", "./flows", "-x"]),
    ocisync(["completions", "bsh"]),
  ]);
  assertOneLineError(
    command,
    ExitCode.Usage,
    /unknown command "pul"\nhint: did you mean `ocisync pull`\?/,
  );
  assertOneLineError(option, ExitCode.Usage, /--comprssion.*\nhint: did you mean --compression\?/);
  assertOneLineError(short, ExitCode.Usage, /unknown option -x for pack/);
  assertOneLineError(shell, ExitCode.Usage, /"bsh"\nhint: did you mean bash\?/);
});

Deno.test("exit codes 0 to 7, one real case of each, as the README's table says", async () => {
  requireTool("mkfifo", "coreutils");
  const registry = await startRegistry({ auth: "basic" });
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-exit-" });
  try {
    await writeTree(tmp, TREE);
    const layout = `oci:${tmp}/layout:v1`;
    assert.equal((await ocisync(["push", layout, `${tmp}/flows`])).code, ExitCode.Ok);
    // Corrupt the one layer blob in place: same size, other bytes.
    const index = JSON.parse(await Deno.readTextFile(`${tmp}/layout/index.json`));
    const manifest = JSON.parse(
      await Deno.readTextFile(`${tmp}/layout/blobs/${index.manifests[0].digest.replace(":", "/")}`),
    );
    const blob = `${tmp}/layout/blobs/${manifest.layers[0].digest.replace(":", "/")}`;
    const bytes = await Deno.readFile(blob);
    bytes[bytes.length - 1] ^= 0xff;
    await Deno.writeFile(blob, bytes);
    await Deno.mkdir(`${tmp}/special`);
    await runOk("mkfifo", [`${tmp}/special/pipe`]);

    const [ok, other, usage, auth, notFound, integrity, network, unsafe] = await Promise.all([
      ocisync(["version"]),
      // A folder where a file is expected: unreadable as a config file.
      ocisync(["sync", "--config", tmp, "--once"]),
      ocisync(["pack", `${tmp}/flows`, "-o", `${tmp}/x.tar`, "--compression", "brotli"]),
      ocisync(
        ["inspect", `${registry.host}/t/app:v1`, "-u", registry.username, "--password-stdin"],
        { stdin: `wrong-${registry.password}` },
      ),
      ocisync(["pack", `${tmp}/no-such-folder`, "-o", `${tmp}/x.tar.gz`]),
      ocisync(["pull", layout, "-o", `${tmp}/out`]),
      ocisync(["inspect", `127.0.0.1:${closedPort()}/t/app:v1`, "--retries", "0"]),
      ocisync(["pack", `${tmp}/special`, "-o", `${tmp}/special.tar.gz`]),
    ]);
    assert.equal(ok.code, ExitCode.Ok, shown(ok));
    assertOneLineError(other, ExitCode.Other, /cannot read/);
    assertOneLineError(usage, ExitCode.Usage, /--compression must be one of gzip, zstd, none/);
    assertOneLineError(
      auth,
      ExitCode.Auth,
      new RegExp(
        `refused the credentials of user ${registry.username}: .*401.*\nhint: check the password`,
      ),
    );
    assertOneLineError(notFound, ExitCode.NotFound, /no-such-folder/);
    assertOneLineError(integrity, ExitCode.Integrity, /sha256:/);
    await assert.rejects(
      Deno.stat(`${tmp}/out`),
      Deno.errors.NotFound,
      "a failed pull writes nothing",
    );
    assertOneLineError(network, ExitCode.Network, /127\.0\.0\.1/);
    assertOneLineError(unsafe, ExitCode.UnsafeContent, /pipe/);
  } finally {
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("hints: a missing tag lists the tags, a missing repository says so", async () => {
  const registry = await startRegistry({ auth: "basic" });
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-hints-" });
  try {
    await writeTree(tmp, TREE);
    const credentials = `${tmp}/credentials.json`;
    await Deno.writeTextFile(
      credentials,
      JSON.stringify({ username: registry.username, password: registry.password }),
      { mode: 0o600 },
    );
    const auth = ["--credentials", credentials];
    const push = await ocisync(
      ["push", `${registry.host}/t/app:v1`, `${tmp}/flows`, "-t", "v2", ...auth],
    );
    assert.equal(push.code, 0, shown(push));
    const [tag, latest, repository, tags] = await Promise.all([
      ocisync(["pull", `${registry.host}/t/app:v9`, "-o", `${tmp}/out`, ...auth]),
      ocisync(["inspect", `${registry.host}/t/app`, ...auth]),
      ocisync(["inspect", `${registry.host}/t/nope:v1`, ...auth]),
      ocisync(["tags", `${registry.host}/t/nope`, ...auth]),
    ]);
    const name = RegExp.escape(`${registry.host}/t/app`);
    assertOneLineError(
      tag,
      ExitCode.NotFound,
      new RegExp(`manifests/v9 -> 404.*MANIFEST_UNKNOWN.*\nhint: ${name} has the tags v1, v2\n`),
    );
    assertOneLineError(
      latest,
      ExitCode.NotFound,
      /manifests\/latest .*\nhint: .* has the tags v1, v2/,
    );
    const missing = /\nhint: the repository .*\/t\/nope does not exist: check its name/;
    assertOneLineError(repository, ExitCode.NotFound, missing);
    assertOneLineError(tags, ExitCode.NotFound, /NAME_UNKNOWN/);
    assertOneLineError(tags, ExitCode.NotFound, missing);
  } finally {
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("--debug: request and response headers with secrets redacted, stack traces", async () => {
  const password = "s3cret-Pa55word-for-debug";
  const registry = await startRegistry({ auth: "token", password });
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-debug-" });
  try {
    await writeTree(tmp, TREE);
    const login = ["-u", registry.username, "--password-stdin"];
    const ref = `${registry.host}/t/app:v1`;
    const push = await ocisync(["push", ref, `${tmp}/flows`, ...login, "--debug"], {
      stdin: password,
    });
    assert.equal(push.code, 0, shown(push));
    const log = push.stderr;
    // What --verbose shows, and the headers on both sides of each exchange.
    assert.match(log, /^PUT http:\/\/.*\/manifests\/v1 -> 201$/m);
    assert.match(log, /^\[\d+\] > PUT http:\/\/.*\/manifests\/v1$/m);
    assert.match(
      log,
      /^\[\d+\] > content-type: application\/vnd\.oci\.image\.manifest\.v1\+json$/m,
    );
    assert.match(log, /^\[\d+\] < docker-content-digest: sha256:[a-f0-9]{64}$/m);
    assert.match(
      log,
      /^\[\d+\] < www-authenticate: Bearer realm="http:\/\/127\.0\.0\.1:\d+\/token"/m,
    );
    // The upload's Location carries the registry's _state, a signed secret of its own.
    assert.match(log, /^\[\d+\] < location: .*\/blobs\/uploads\/[^?\s]+\?_state=\*\*\*$/m);
    assert.match(log, /^\[\d+\] > authorization: Basic \*\*\*$/m);
    assert.match(log, /^\[\d+\] > authorization: Bearer \*\*\*$/m);
    const base64 = (text: string) => btoa(text);
    for (const secret of [password, base64(`${registry.username}:${password}`), "eyJ"]) {
      assert.ok(!log.includes(secret), `the log shows ${secret}`);
    }
    assert.doesNotMatch(log, /"(token|access_token|refresh_token)"/);
    assert.doesNotMatch(log, /_state=[^*]/);

    const verbose = await ocisync(["inspect", ref, ...login, "-v"], { stdin: password });
    assert.match(verbose.stderr, /^GET http:\/\/.*\/manifests\/v1 -> 200$/m);
    assert.doesNotMatch(verbose.stderr, /^\[\d+\] [<>]/m, "headers are for --debug only");

    // An error the library does not word: a layout folder that is a link to itself.
    await Deno.symlink("odd", `${tmp}/odd`);
    const [plain, debug] = await Promise.all([
      ocisync(["inspect", `oci:${tmp}/odd`]),
      ocisync(["inspect", `oci:${tmp}/odd`, "--debug"]),
    ]);
    assertOneLineError(plain, ExitCode.Other, new RegExp(`cannot stat ${tmp}/odd: `));
    assert.equal(debug.code, ExitCode.Other);
    assert.match(debug.stderr, /^ocisync: error: .*\n/);
    assert.match(debug.stderr, /\n(caused by: )?FilesystemLoop: .*\n( {4}at .*\n)+/);
    assert.match(debug.stderr, /^ {4}at .*src\/layout\/mod\.ts:\d+/m);
    // An error of ocisync's own shows where it was thrown too.
    const missing = await ocisync([
      "pack",
      `${tmp}/no-such-folder`,
      "-o",
      `${tmp}/x.tgz`,
      "--debug",
    ]);
    assert.equal(missing.code, ExitCode.NotFound, shown(missing));
    assert.match(
      missing.stderr,
      /\nNotFoundError: .*no-such-folder.*\n( {4}at .*src\/.*\.ts:\d+.*\n)+/,
    );
  } finally {
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("completions: bash completes commands, options and values; zsh and fish cover all", async () => {
  const [bash, zsh, fish] = await Promise.all(
    ["bash", "zsh", "fish"].map((shell) => ocisync(["completions", shell])),
  );
  for (const result of [bash, zsh, fish]) assert.equal(result.code, 0, shown(result));
  const complete = async (...words: string[]) => {
    const script = [
      bash.stdout,
      "complete -p ocisync",
      `COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")})`,
      `COMP_CWORD=${words.length - 1}`,
      "_ocisync",
      'printf "%s\\n" "${COMPREPLY[@]}"',
    ].join("\n");
    const result = await run("bash", ["--norc", "-c", script]);
    assert.equal(result.code, 0, shown(result));
    const [registration, ...words_] = result.stdout.trim().split("\n");
    assert.equal(registration, "complete -o default -F _ocisync ocisync");
    return words_.filter((w) => w !== "");
  };
  assert.deepEqual(await complete("ocisync", "p"), ["pack", "push", "pull"]);
  assert.deepEqual(await complete("ocisync", "pack", "--comp"), ["--compression"]);
  assert.deepEqual(await complete("ocisync", "sync", "--log-format", ""), ["text", "json"]);
  assert.deepEqual(await complete("ocisync", "completions", ""), ["bash", "zsh", "fish"]);
  assert.deepEqual(await complete("ocisync", "pull", "-o", ""), [], "files, from readline");
  const names = (await complete("ocisync", "")).filter((w) => !w.startsWith("-") && w !== "help");
  assert.deepEqual(names, COMMANDS.map((c) => c.spec.name));
  for (const { spec } of COMMANDS) {
    const flags = spec.options.flatMap((o) => [`--${o.name}`, ...(o.short ? [`-${o.short}`] : [])]);
    assert.deepEqual((await complete("ocisync", spec.name, "-")).sort(), flags.sort(), spec.name);
  }

  // zsh and fish are not run here: their scripts are checked for every command and option.
  for (const { spec } of COMMANDS) {
    assert.ok(zsh.stdout.includes(`'${spec.name}:`), `zsh: ${spec.name}`);
    assert.ok(zsh.stdout.includes(`        ${spec.name})\n          _arguments`), spec.name);
    assert.ok(fish.stdout.includes(`-f -a ${spec.name} -d `), `fish: ${spec.name}`);
    for (const option of spec.options) {
      const when = `__fish_seen_subcommand_from ${spec.name}'`;
      const fishLine = fish.stdout.split("\n").find((line) =>
        line.includes(when) && line.includes(` -l ${option.name} `)
      );
      assert.ok(fishLine, `fish: ${spec.name} --${option.name}`);
      if (option.short) assert.ok(fishLine.includes(` -s ${option.short} `));
      assert.ok(zsh.stdout.includes(`--${option.name}[`), `zsh: ${spec.name} --${option.name}`);
    }
  }
  assert.match(zsh.stdout, /^#compdef ocisync\n/);
  assert.ok(zsh.stdout.endsWith("\nelse\n  compdef _ocisync ocisync\nfi\n"));
});
