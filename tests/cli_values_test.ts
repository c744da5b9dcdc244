/**
 * Values given on the command line are checked before they can do harm: a tag that the
 * destination cannot hold is refused before anything is packed or sent, not once the image was
 * pushed under the other tags; an empty `--password-stdin` is refused before it is sent; a
 * reference with a password in it is refused without quoting the password. Each case runs the
 * CLI, against the real registry where one is asked, and asks the registry's own API what it holds.
 */
import assert from "node:assert/strict";
import { RUN_FLAGS } from "../scripts/permissions.ts";
import { ocisync, type RunResult, shown } from "./helpers/cli.ts";
import { type TestRegistry, withRegistry } from "./helpers/registry.ts";
import { isolatedEnv } from "./helpers/servers.ts";

/** Fails unless the run was a usage error (exit 2) whose message matches `message`. */
function assertUsageError(result: RunResult, message: RegExp): void {
  assert.equal(result.code, 2, shown(result));
  assert.match(result.stderr, /^ocisync: error: /, shown(result));
  assert.match(result.stderr, message, shown(result));
  assert.equal(result.stdout, "", shown(result));
}

/** The repositories the registry holds, from its catalog API. */
async function catalog(registry: TestRegistry): Promise<string[]> {
  const response = await fetch(`http://${registry.host}/v2/_catalog`);
  return ((await response.json()) as { repositories: string[] }).repositories;
}

Deno.test("cli values: a bad --tag is refused before push or build sends anything", async () => {
  await withRegistry({}, async (registry, tmp) => {
    await Deno.mkdir(`${tmp}/src`);
    await Deno.writeTextFile(`${tmp}/src/a.txt`, "a\n");
    await Deno.writeTextFile(
      `${tmp}/ocisync.yaml`,
      "image: oci:./built:v1\nlayers:\n  - source: src\n    dest: /app\n",
    );
    const env = isolatedEnv(tmp);
    const image = `${registry.host}/newrepo:v1`;
    const TAG = /invalid tag "[^"]*": a tag is 1 to 128 letters/;
    const runs: [string[], RegExp][] = [
      [["push", image, "src", "-t", "bad tag"], TAG],
      [["push", image, "src", "-t", "Bad!"], TAG],
      [["push", image, "src", "-t", "ok", "-t", "v1@sha256:0"], TAG],
      [["push", image, "src/a.txt", "--files", "-t", "bad tag"], TAG],
      [["build", "--image", image, "-t", "no good"], TAG],
      [["push", image, "src", "--env", "NOVALUE"], /environment setting is NAME=VALUE/],
      [["push", image, "src", "--workdir", "app"], /working directory must be absolute/],
      [["push", image, "src", "--label", "NOVALUE"], /--label takes KEY=VALUE/],
      [["push", image, "src", "--annotation", "NOVALUE"], /--annotation takes KEY=VALUE/],
    ];
    for (const [args, message] of runs) {
      assertUsageError(await ocisync(args, { cwd: tmp, env }), message);
    }
    // Nothing reached the registry: no request at all, and no repository.
    assert.deepEqual(await registry.requests(), []);
    assert.deepEqual(await catalog(registry), []);

    // A layout or an archive is not made either, for a tag that their own grammar refuses.
    const local: [string[], RegExp][] = [
      [["push", "oci:./bundle:v1", "src", "-t", "Bad!"], /invalid tag "Bad!" for an OCI image/],
      [["push", "oci:./bundle:v1", "src", "-t", "v1_"], /invalid tag "v1_" for an OCI image/],
      [["push", "oci-archive:./a.tar:v1", "src", "-t", "Bad!"], /invalid tag "Bad!" for an OCI/],
      [["push", "docker-archive:./d.tar:app:v1", "src", "-t", "bad tag"], /whitespace/],
      [["push", "oci:./bundle:v1", "src", "--env", "NOVALUE"], /NAME=VALUE/],
      [["build", "-t", "Bad!"], /invalid tag "Bad!" for an OCI image/],
    ];
    const listing = () => [...Deno.readDirSync(tmp)].map((entry) => entry.name).sort();
    const before = listing();
    for (const [args, message] of local) {
      assertUsageError(await ocisync(args, { cwd: tmp, env }), message);
      assert.deepEqual(listing(), before, `nothing is created: ${args.join(" ")}`);
    }
  });
});

Deno.test("cli values: an empty --password-stdin is refused, for every command, before it is sent", async () => {
  await withRegistry({ auth: "basic" }, async (registry, tmp) => {
    await Deno.mkdir(`${tmp}/src`);
    await Deno.writeTextFile(`${tmp}/src/a.txt`, "a\n");
    const env = isolatedEnv(tmp);
    const image = `${registry.host}/app:v1`;
    const user = ["-u", registry.username, "--password-stdin"];
    const commands = [
      ["push", image, "src", ...user],
      ["pull", image, "-o", "out", ...user],
      ["inspect", image, ...user],
      ["copy", image, "oci:./copied:v1", ...user],
      ["tags", `${registry.host}/app`, ...user],
      ["login", registry.host, ...user],
    ];
    for (const args of commands) {
      for (const stdin of ["", "\n", "\r\n"]) {
        const result = await ocisync(args, { cwd: tmp, env, stdin });
        assertUsageError(result, /--password-stdin read an empty password/);
        assert.doesNotMatch(result.stderr, /refused the credentials/, shown(result));
      }
    }
    // Refused before any request: the registry never saw the empty password, and login saved
    // nothing.
    assert.deepEqual(await registry.requests(), []);
    assert.deepEqual([...Deno.readDirSync(tmp)].map((entry) => entry.name), ["src"]);
  });
});

Deno.test("cli values: --password-stdin without --username fails before reading standard input", async () => {
  // Standard input stays open, as a terminal's does until Ctrl-D: the usage error must not wait.
  const main = new URL("../main.ts", import.meta.url).pathname;
  for (const args of [["inspect", "127.0.0.1:9/app:v1"], ["push", "oci:./x:v1", "."]]) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...RUN_FLAGS, main, ...args, "--password-stdin"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const output = await child.output().finally(() => clearTimeout(timer));
    await child.stdin.close().catch(() => {});
    const result = {
      code: output.code,
      stdout: new TextDecoder().decode(output.stdout),
      stderr: new TextDecoder().decode(output.stderr),
    };
    assertUsageError(result, /--password-stdin needs --username/);
  }
});

Deno.test("cli values: a reference with credentials is refused, and the password is never shown", async () => {
  await withRegistry({ auth: "basic" }, async (registry, tmp) => {
    await Deno.mkdir(`${tmp}/src`);
    const env = isolatedEnv(tmp);
    const secret = registry.password;
    const CREDENTIALS = /credentials cannot be part of a/;
    const refs = [
      `${registry.username}:${secret}@${registry.host}/app:v1`,
      `http://${registry.username}:${secret}@${registry.host}/app:v1`,
      `https://${registry.username}:${secret}@${registry.host}/app`,
      `${secret}@${registry.host}/app:v1`,
      `${registry.username}:${secret}@${registry.host}`,
    ];
    const runs: [string[], RegExp][] = refs.flatMap((ref): [string[], RegExp][] => [
      [["inspect", ref], CREDENTIALS],
      [["pull", ref, "-o", "out"], CREDENTIALS],
      [["copy", "oci:./none:v1", ref], CREDENTIALS],
      [["push", "oci:./out:v1", "src", "--base", ref], CREDENTIALS],
      [["sync", ref, "--events", "--once"], CREDENTIALS],
      // Where an argument is quoted for another reason, the secret is still redacted.
      [["inspect", `${registry.host}/app:v1`, ref], /unexpected argument "(https?:\/\/)?\*\*\*@/],
      [["sync", ref, "--config", "sync.yaml"], /not both: "(https?:\/\/)?\*\*\*@/],
    ]);
    runs.push(
      [
        ["login", `https://${registry.username}:${secret}@${registry.host}`, "-u", "me"],
        CREDENTIALS,
      ],
      [["login", `${registry.username}:${secret}@${registry.host}`, "-u", "me"], CREDENTIALS],
    );
    for (const [args, message] of runs) {
      const result = await ocisync(args, { cwd: tmp, env, stdin: "x\n" });
      assertUsageError(result, message);
      assert.match(result.stderr, /\*\*\*@/, shown(result));
      assert.ok(!result.stderr.includes(secret), `the password is shown:\n${shown(result)}`);
    }
    // Nothing was sent with the credentials, or without them.
    assert.deepEqual(await registry.requests(), []);
    // A digest stays a digest: refused for its own fault, and quoted whole.
    const digest = await ocisync(["inspect", "app@sha256:0"], { cwd: tmp, env });
    assertUsageError(digest, /invalid reference "app@sha256:0": invalid digest/);
  });
});

Deno.test("cli values: a --credentials file is read at once, though the registry asks for none", async () => {
  await withRegistry({}, async (registry, tmp) => {
    await Deno.mkdir(`${tmp}/app`);
    await Deno.writeTextFile(`${tmp}/app/a.txt`, "a\n");
    const env = isolatedEnv(tmp);
    const push = (file: string) =>
      ocisync(["push", `${registry.host}/app:v1`, `${tmp}/app`, "--credentials", file], { env });
    const missing = await push(`${tmp}/nope.json`);
    assert.equal(missing.code, 4, shown(missing));
    assert.match(missing.stderr, /credentials file not found: .*nope\.json/);
    await Deno.writeTextFile(`${tmp}/bad.json`, "{not json");
    const malformed = await push(`${tmp}/bad.json`);
    assert.equal(malformed.code, 2, shown(malformed));
    await Deno.writeTextFile(`${tmp}/open.json`, '{"username":"u","password":"p"}', {
      mode: 0o644,
    });
    await Deno.chmod(`${tmp}/open.json`, 0o644);
    const exposed = await push(`${tmp}/open.json`);
    assert.equal(exposed.code, 0, shown(exposed));
    assert.match(exposed.stderr, /warning: .*open\.json is readable by other users/);
    assert.equal((await registry.requests()).filter((r) => r.method === "PUT").length > 0, true);
  });
});

Deno.test("cli values: a config or recipe nested past the YAML parser's stack is exit 2, naming it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocisync-yaml-nesting-" });
  try {
    const file = `${dir}/nested.yaml`;
    await Deno.writeTextFile(file, `targets: ${"[".repeat(100_000)}\n`);
    for (const args of [["sync", "--config", file, "--once"], ["build", "-f", file, "--dry-run"]]) {
      const result = await ocisync(args);
      assert.equal(result.code, 2, shown(result));
      assert.match(result.stderr, /nested\.yaml: cannot be read as YAML: it nests too deeply/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
