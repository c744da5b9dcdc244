/**
 * Secrets stay secret: with the most verbose log, a full push and pull (basic and token auth,
 * faults included) print no password, no base64 credentials and no bearer token; a password on
 * the command line is refused; credential files get mode 0600; TLS is verified unless a CA file
 * says otherwise.
 */
import assert from "node:assert/strict";
import { ExitCode } from "../src/cli/exit.ts";
import { ocisync, run, runOk, shown } from "./helpers/cli.ts";
import { startProxy } from "./helpers/fault_proxy.ts";
import { startRegistry } from "./helpers/registry.ts";
import { requireTool } from "./helpers/tools.ts";
import { snapshot, writeTree } from "./helpers/tree.ts";
import { RUN_FLAGS } from "../scripts/permissions.ts";

const PASSWORD = "s3cret-Pa55word-for-ocisync";
const TREE = {
  "app": { type: "dir" as const },
  "app/main.py": { type: "file" as const, content: "print('hello')\n" },
};

function base64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

/** Fails when any secret, or anything shaped like a credential, is in `text`. */
function assertNoSecrets(text: string, secrets: string[]): void {
  for (const secret of secrets) {
    assert.ok(secret.length >= 8, `a secret too short to search for: ${secret}`);
    assert.ok(!text.includes(secret), `the output shows ${secret}:\n${text}`);
  }
  assert.doesNotMatch(text, /authorization|Basic [A-Za-z0-9+/=]{8}|Bearer [\w-]{8}|eyJ/i);
}

for (const auth of ["basic", "token"] as const) {
  Deno.test(`${auth} auth: push and pull with -v print no password, no credentials, no token`, async () => {
    const registry = await startRegistry({ auth, password: PASSWORD });
    const proxy = startProxy(registry.host);
    const tmp = await Deno.makeTempDir({ prefix: "ocisync-secrets-" });
    try {
      await writeTree(`${tmp}/src`, TREE);
      const creds = ["-u", registry.username, "--password-stdin", "-v"];
      const output: string[] = [];
      const ocisyncLogged = async (args: string[], stdin = PASSWORD) => {
        const result = await ocisync([...args, ...creds], { stdin });
        output.push(result.stdout, result.stderr);
        return result;
      };
      const ref = `${proxy.host}/t/app:v1`;
      // A transient failure on the way, so that retries are logged too.
      proxy.inject({ method: "GET", path: /\/blobs\//, fault: { kind: "status", status: 503 } });
      const push = await ocisyncLogged(["push", ref, `${tmp}/src`]);
      assert.equal(push.code, 0, shown(push));
      const pull = await ocisyncLogged(["pull", ref, "-o", `${tmp}/out`]);
      assert.equal(pull.code, 0, shown(pull));
      assert.deepEqual(await snapshot(`${tmp}/out`), await snapshot(`${tmp}/src`));
      const copy = await ocisyncLogged(["copy", ref, `${proxy.host}/t/copy:v1`]);
      assert.equal(copy.code, 0, shown(copy));
      // Failures: a refused password and a server error, in their error messages.
      const refused = await ocisyncLogged(["pull", ref, "-o", `${tmp}/no`], `wrong-${PASSWORD}`);
      assert.equal(refused.code, ExitCode.Auth, shown(refused));
      proxy.inject({
        method: "GET",
        path: /\/manifests\//,
        times: Infinity,
        fault: { kind: "status", status: 500 },
      });
      const failed = await ocisyncLogged([
        ...["pull", ref, "-o", `${tmp}/no`, "--retries", "1"],
      ]);
      assert.equal(failed.code, ExitCode.Network, shown(failed));
      assert.ok(output.join("").includes(" -> 200"), "the log is on");

      // What was really sent: the credentials in every form they took.
      const sent = [...new Set(proxy.seen.map((r) => r.authorization).filter((a) => a !== null))];
      assert.ok(sent.length > 0);
      assert.ok(sent.every((a) => a!.startsWith(auth === "basic" ? "Basic " : "Bearer ")));
      const credentials = sent.map((a) => a!.split(" ")[1]);
      assertNoSecrets(output.join("\n"), [
        PASSWORD,
        base64(PASSWORD),
        base64(`${registry.username}:${PASSWORD}`),
        ...credentials,
        // Each part of a JWT on its own, the signature above all.
        ...credentials.flatMap((token) => token.split(".")).filter((part) => part.length >= 8),
      ]);
    } finally {
      await proxy.close();
      await registry.stop();
      await Deno.remove(tmp, { recursive: true });
    }
  });
}

Deno.test("--password on the command line is refused, pointing to --password-stdin", async () => {
  for (
    const args of [
      ["push", "localhost:1/x:v1", "."],
      ["pull", "localhost:1/x:v1"],
      ["copy", "localhost:1/x:v1", "localhost:1/y:v1"],
      ["login", "localhost:1", "-u", "me"],
    ]
  ) {
    const result = await ocisync([...args, "--password", PASSWORD]);
    assert.equal(result.code, ExitCode.Usage, `${args[0]}: ${shown(result)}`);
    assert.match(result.stderr, /\nhint: .*--password-stdin/);
    assertNoSecrets(result.stdout + result.stderr, [PASSWORD]);
  }
});

Deno.test("login writes the Docker config with mode 0600 in a 0700 folder, whatever the umask", async () => {
  const registry = await startRegistry({ auth: "basic", password: PASSWORD });
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-secrets-" });
  try {
    const main = new URL("../main.ts", import.meta.url).pathname;
    const login = (config: string) =>
      run("sh", [
        "-c",
        'umask 000 && exec "$@"',
        "sh",
        ...[Deno.execPath(), "run", ...RUN_FLAGS, main],
        ...["login", registry.host, "-u", registry.username, "--password-stdin", "-v"],
      ], { env: { DOCKER_CONFIG: config }, stdin: PASSWORD });

    // A new folder and file.
    const fresh = await login(`${tmp}/new/docker`);
    assert.equal(fresh.code, 0, shown(fresh));
    assertNoSecrets(fresh.stdout + fresh.stderr, [PASSWORD, base64(`ocisync:${PASSWORD}`)]);
    assert.equal((await Deno.stat(`${tmp}/new/docker/config.json`)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${tmp}/new/docker`)).mode! & 0o777, 0o700);

    // A config that was readable by all is replaced by one that is not; its other keys stay.
    await Deno.mkdir(`${tmp}/old`);
    await Deno.writeTextFile(`${tmp}/old/config.json`, '{"psFormat":"table"}');
    await Deno.chmod(`${tmp}/old/config.json`, 0o644);
    const existing = await login(`${tmp}/old`);
    assert.equal(existing.code, 0, shown(existing));
    assert.equal((await Deno.stat(`${tmp}/old/config.json`)).mode! & 0o777, 0o600);
    const config = JSON.parse(await Deno.readTextFile(`${tmp}/old/config.json`));
    assert.equal(config.psFormat, "table");
    assert.ok(config.auths[registry.host].auth);
  } finally {
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("TLS is verified: a self-signed registry fails without --ca-file and works with it", async () => {
  requireTool("openssl", "openssl");
  // Loopback, but not one of the three names that get plain HTTP by default.
  const address = "127.0.0.2";
  const registry = await startRegistry({ auth: "basic", password: PASSWORD });
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-tls-" });
  await runOk("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
    ...["-keyout", `${tmp}/key.pem`, "-out", `${tmp}/cert.pem`, "-days", "1"],
    ...["-subj", "/CN=ocisync-test-registry", "-addext", `subjectAltName=IP:${address}`],
    ...["-addext", "basicConstraints=critical,CA:FALSE"],
  ]);
  const proxy = startProxy(registry.host, undefined, {
    hostname: address,
    tls: {
      cert: await Deno.readTextFile(`${tmp}/cert.pem`),
      key: await Deno.readTextFile(`${tmp}/key.pem`),
    },
  });
  try {
    await writeTree(`${tmp}/src`, TREE);
    const ref = `${proxy.host}/t/app:v1`;
    const creds = ["-u", registry.username, "--password-stdin"];
    const options = { stdin: PASSWORD };

    const untrusted = await ocisync(
      ["push", ref, `${tmp}/src`, ...creds, "--retries", "0"],
      options,
    );
    assert.equal(untrusted.code, ExitCode.Network, shown(untrusted));
    assert.match(
      untrusted.stderr,
      /GET https:\/\/127\.0\.0\.2:\d+\/v2\/: .*UnknownIssuer.*\nhint: .*\(--ca-file FILE\)\n$/,
    );
    assert.equal(proxy.seen.length, 0, "no request got through the handshake");

    const ca = ["--ca-file", `${tmp}/cert.pem`];
    const push = await ocisync(["push", ref, `${tmp}/src`, ...creds, ...ca], options);
    assert.equal(push.code, 0, shown(push));
    const pull = await ocisync(["pull", ref, "-o", `${tmp}/out`, ...creds, ...ca], options);
    assert.equal(pull.code, 0, shown(pull));
    assert.deepEqual(await snapshot(`${tmp}/out`), await snapshot(`${tmp}/src`));
    assert.ok(proxy.seen.length > 0);

    const plain = await ocisync(
      ["pull", ref, "-o", `${tmp}/plain`, ...creds, "--insecure"],
      options,
    );
    assert.equal(plain.code, ExitCode.Usage, shown(plain));

    // A CA file that does not exist is exit 4, as any missing file is, before any request: also
    // for a copy, whose first request (does the destination have the tag?) takes a 404 as "no".
    const seen = proxy.seen.length;
    const missing = `${tmp}/missing.pem`;
    const layout = `oci:${tmp}/layout:v1`;
    assert.equal((await ocisync(["push", layout, `${tmp}/src`])).code, 0);
    for (const args of [["inspect", ref], ["copy", layout, ref], ["push", ref, `${tmp}/src`]]) {
      const result = await ocisync([...args, ...creds, "--ca-file", missing], options);
      assert.equal(result.code, ExitCode.NotFound, shown(result));
      assert.ok(
        result.stderr.includes(`ocisync: error: no such CA file: ${missing}\n`),
        shown(result),
      );
    }
    assert.equal(proxy.seen.length, seen, "no request was sent");
  } finally {
    await proxy.close();
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test({
  name: "login as root refuses a credentials file another user could lead elsewhere",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    // A link of another user's at REGISTRY_AUTH_FILE's path (in a sticky folder, as /tmp), or a
    // folder of theirs on its way: root wrote its password where they chose, or over root's file.
    const registry = await startRegistry({ auth: "basic", password: PASSWORD });
    const tmp = await Deno.makeTempDir({ prefix: "ocisync-secrets-root-" });
    try {
      const sticky = `${tmp}/sticky`;
      await Deno.mkdir(sticky);
      await Deno.chmod(sticky, 0o1777);
      const victim = `${tmp}/victim.conf`;
      await Deno.writeTextFile(victim, '{"root":"own"}\n');
      await Deno.symlink(victim, `${sticky}/auth.json`);
      await runOk("chown", ["-h", "65534:65534", `${sticky}/auth.json`]);
      const theirs = `${tmp}/theirs`;
      await Deno.mkdir(theirs);
      await Deno.chown(theirs, 65534, 65534);
      // Their link, in their folder, into a folder only root may change: refused before root
      // makes a folder or a lock there.
      const rootOnly = `${tmp}/root-only`;
      await Deno.mkdir(rootOnly, { mode: 0o700 });
      await Deno.symlink(rootOnly, `${theirs}/link`);
      await runOk("chown", ["-h", "65534:65534", `${theirs}/link`]);
      for (
        const file of [
          `${sticky}/auth.json`,
          `${theirs}/auth.json`,
          `${theirs}/link/made/deeper/auth.json`,
        ]
      ) {
        const login = await ocisync(
          ["login", registry.host, "-u", registry.username, "--password-stdin"],
          { env: { REGISTRY_AUTH_FILE: file }, stdin: PASSWORD },
        );
        assert.equal(login.code, 2, shown(login));
        assert.match(
          login.stderr,
          /refusing to write credentials as root to .*can be replaced by another user/,
        );
      }
      assert.equal(await Deno.readTextFile(victim), '{"root":"own"}\n');
      assert.deepEqual((await Array.fromAsync(Deno.readDir(theirs))).map((e) => e.name), ["link"]);
      assert.deepEqual(await Array.fromAsync(Deno.readDir(rootOnly)), [], "nothing made there");
    } finally {
      await registry.stop();
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("a webhook is named by its origin only: the secret in its path shows in no tick line, -v line or error", async () => {
  // Slack's and Discord's webhooks carry their secret in the path, which the tick line, the
  // request log and /healthz's lastError showed whole.
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-webhook-" });
  const hook = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("no such hook", { status: 404 }),
  );
  try {
    await writeTree(`${tmp}/src`, TREE);
    assert.equal((await ocisync(["push", `oci:${tmp}/layout:v1`, `${tmp}/src`])).code, 0);
    const secrets = ["XsEcReTsLaCkToKeN", "B0BBB", "qsecret"];
    const path = "/services/T0AAA/B0BBB/XsEcReTsLaCkToKeN?token=qsecret";
    const sync = (origin: string) =>
      ocisync([
        ...["sync", `oci:${tmp}/layout:v1`, "--once", "-v", "--retries", "0"],
        ...["--timeout", "2s", "--webhook", `${origin}${path}`],
      ]);
    const origin = `http://127.0.0.1:${hook.addr.port}`;
    const refused = await sync(origin);
    assert.equal(refused.code, 1, shown(refused));
    assert.match(refused.stderr, new RegExp(`the webhook ${origin} answered 404`));
    assert.match(refused.stderr, new RegExp(`POST ${origin} -> 404`));
    // Nothing listens: the transport's own error.
    await hook.shutdown();
    const down = await sync(origin);
    assert.equal(down.code, ExitCode.Network, shown(down));
    assert.match(down.stderr, new RegExp(`the webhook: POST ${origin}: cannot connect`));
    for (const result of [refused, down]) {
      for (const secret of secrets) assert.ok(!result.stderr.includes(secret), shown(result));
    }
  } finally {
    await hook.shutdown().catch(() => {});
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a webhook over HTTPS trusts --ca-file, as the registry does", async () => {
  requireTool("openssl", "openssl");
  const address = "127.0.0.2";
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-webhook-tls-" });
  await runOk("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
    ...["-keyout", `${tmp}/key.pem`, "-out", `${tmp}/cert.pem`, "-days", "1"],
    ...["-subj", "/CN=ocisync-test-webhook", "-addext", `subjectAltName=IP:${address}`],
    ...["-addext", "basicConstraints=critical,CA:FALSE"],
  ]);
  const received: unknown[] = [];
  const hook = Deno.serve({
    hostname: address,
    port: 0,
    cert: await Deno.readTextFile(`${tmp}/cert.pem`),
    key: await Deno.readTextFile(`${tmp}/key.pem`),
    onListen: () => {},
  }, async (request) => {
    received.push(await request.json());
    return new Response(null, { status: 204 });
  });
  try {
    await writeTree(`${tmp}/src`, TREE);
    assert.equal((await ocisync(["push", `oci:${tmp}/layout:v1`, `${tmp}/src`])).code, 0);
    const url = `https://${address}:${hook.addr.port}/hook`;
    const sync = (...args: string[]) =>
      ocisync([
        "sync",
        `oci:${tmp}/layout:v1`,
        "--once",
        "--retries",
        "0",
        "--webhook",
        url,
        ...args,
      ]);
    const untrusted = await sync();
    assert.equal(untrusted.code, ExitCode.Network, shown(untrusted));
    assert.match(
      untrusted.stderr,
      /hint: trust the webhook's certificate authority \(--ca-file FILE\)/,
    );
    const trusted = await sync("--ca-file", `${tmp}/cert.pem`);
    assert.equal(trusted.code, 0, shown(trusted));
    assert.equal(received.length, 1);
  } finally {
    await hook.shutdown();
    await Deno.remove(tmp, { recursive: true });
  }
});
