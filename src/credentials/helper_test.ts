import assert from "node:assert/strict";
import { relative as relativePath } from "node:path";
import { AuthError, UsageError } from "../errors/mod.ts";
import { CredentialHelper, isHelperName } from "./helper.ts";
import { type HelperSandbox, helperSandbox, posix } from "./fakes_test.ts";

const SECRET = 'se"cret\\with-quotes';
const LEAKED = "S3cretPassw0rd";

/** A temp dir with `bin/docker-credential-fake`, which logs every call it gets. */
function fakeHelper(): Promise<HelperSandbox> {
  return helperSandbox("ocisync-helper-", {
    fake: (log) =>
      `#!/bin/sh
LEAKED=${LEAKED}
input=$(cat)
printf '%s %s\\n' "$1" "$input" >> '${log}'
case "$1" in
get)
  case "$input" in
    ghcr.io) echo '{"ServerURL":"ghcr.io","Username":"u","Secret":"p"}' ;;
    https://index.docker.io/v1/) echo '{"Username":"<token>","Secret":"refresh"}' ;;
    anonymous.example) echo '{"Secret":"only-secret"}' ;;
    empty.example) echo '{"Username":"u","Secret":""}' ;;
    garbled.example) echo 'Secret=leaked {' ;;
    typed.example) echo '{"Username":1,"Secret":"leaked"}' ;;
    broken.example) echo "keychain is locked" >&2; exit 3 ;;
    forging.example) printf 'locked\\r\\nocisync: login succeeded\\n\\t\\033[1Adone\\n' >&2; exit 3 ;;
    leaky.example) echo '{"ServerURL":"leaky.example","Username":"u","Secret":"'"$LEAKED"'"}'; exit 1 ;;
    quoting.example) echo "error: keychain locked; last value was $LEAKED"; exit 1 ;;
    hang.example) sleep 30 ;;
    flood.example) yes | head -c 1000000 ;;
    *) echo "credentials not found in native keychain"; exit 1 ;;
  esac ;;
store)
  case "$input" in
    *fail.example*) echo "cannot store $input" >&2; exit 2 ;;
  esac ;;
erase)
  case "$input" in
    ghcr.io) ;;
    denied.example) echo "access denied" >&2; exit 4 ;;
    *) echo "credentials not found in native keychain"; exit 1 ;;
  esac ;;
*) exit 9 ;;
esac
`,
  });
}

Deno.test("isHelperName: a program name's end, nothing that could run another program", () => {
  for (const name of ["pass", "osxkeychain", "ecr-login", "acr-env", "gcloud", "a.b_c"]) {
    assert.ok(isHelperName(name), name);
  }
  for (const name of ["", "../../bin/sh", "a/b", "-x", ".hidden", "a b", "a\\b"]) {
    assert.ok(!isHelperName(name), name);
  }
  assert.throws(() => new CredentialHelper("../sh"), UsageError);
  assert.equal(new CredentialHelper("pass").program, "docker-credential-pass");
});

Deno.test({
  name: "get: the protocol's answers, as credentials",
  ignore: !posix,
  fn: async () => {
    await using fake = await fakeHelper();
    const helper = new CredentialHelper("fake", { env: fake.env });
    assert.deepEqual(await helper.get("GHCR.io"), { username: "u", password: "p" });
    // Docker Hub is asked for by its legacy key; "<token>" marks an identity token.
    assert.deepEqual(await helper.get("index.docker.io"), { identityToken: "refresh" });
    assert.deepEqual(await helper.get("anonymous.example"), { password: "only-secret" });
    assert.equal(await helper.get("empty.example"), undefined);
    assert.equal(await helper.get("nothing.example"), undefined);
    assert.deepEqual(await fake.calls(), [
      "get ghcr.io",
      "get https://index.docker.io/v1/",
      "get anonymous.example",
      "get empty.example",
      "get nothing.example",
    ]);
  },
});

Deno.test({
  name: "get: failures and malformed output are AuthErrors that never quote a secret",
  ignore: !posix,
  fn: async () => {
    await using fake = await fakeHelper();
    const origin = { path: "/home/me/.docker/config.json", field: "credsStore" };
    const helper = new CredentialHelper("fake", { env: fake.env, origin });
    for (const host of ["garbled.example", "typed.example"]) {
      await assert.rejects(helper.get(host), (error) => {
        assert.ok(error instanceof AuthError);
        assert.equal(
          error.message,
          `credential helper docker-credential-fake printed malformed output for ${host}`,
        );
        assert.ok(!error.message.includes("leaked"));
        return true;
      });
    }
    await assert.rejects(helper.get("broken.example"), (error) => {
      assert.ok(error instanceof AuthError);
      assert.equal(
        error.message,
        "credential helper docker-credential-fake get for broken.example failed (exit code 3): " +
          "keychain is locked",
      );
      assert.equal(error.hint, `the helper is named by credsStore in ${origin.path}`);
      return true;
    });
  },
});

Deno.test({
  name: "get: a helper's stderr is quoted on one line, its line breaks and escapes written out",
  ignore: !posix,
  fn: async () => {
    await using fake = await fakeHelper();
    const helper = new CredentialHelper("fake", { env: fake.env });
    await assert.rejects(helper.get("forging.example"), (error) => {
      assert.ok(error instanceof AuthError);
      assert.equal(
        error.message,
        "credential helper docker-credential-fake get for forging.example failed (exit code 3): " +
          "locked ocisync: login succeeded \\x1b[1Adone",
      );
      return true;
    });
  },
});

Deno.test({
  name: "get: a helper's standard output is never quoted when it fails: it may hold the secret",
  ignore: !posix,
  fn: async () => {
    await using fake = await fakeHelper();
    const helper = new CredentialHelper("fake", { env: fake.env });
    for (const host of ["leaky.example", "quoting.example"]) {
      await assert.rejects(helper.get(host), (error) => {
        assert.ok(error instanceof AuthError);
        assert.match(
          error.message,
          new RegExp(
            `^credential helper docker-credential-fake get for ${host} failed \\(exit code 1\\) ` +
              "\\(its standard output, \\d+ characters, is not shown: it may hold the secret\\)$",
          ),
        );
        assert.ok(!error.message.includes(LEAKED));
        return true;
      });
    }
  },
});

Deno.test({
  name: "a helper that hangs, or prints without end, is killed: an AuthError, in bounded time",
  ignore: !posix,
  fn: async () => {
    await using fake = await fakeHelper();
    const helper = new CredentialHelper("fake", { env: fake.env, timeout: 300 });
    const started = Date.now();
    // Its `sleep` outlives it, holding its output open: the reads end all the same.
    await assert.rejects(
      helper.get("hang.example"),
      new AuthError(
        "credential helper docker-credential-fake get for hang.example did not finish within " +
          "0.3 s: it was stopped",
      ),
    );
    assert.ok(Date.now() - started < 10_000, `${Date.now() - started} ms`);
    await assert.rejects(helper.get("flood.example"), (error) => {
      assert.ok(error instanceof AuthError);
      assert.equal(
        error.message,
        "credential helper docker-credential-fake get for flood.example printed more than " +
          "64 KiB: it was stopped",
      );
      return true;
    });
  },
});

Deno.test({
  name: "helpers are looked for in absolute PATH folders only, never in the current folder",
  ignore: !posix,
  fn: async () => {
    await using fake = await fakeHelper();
    const bin = `${fake.dir}/bin`;
    const relative = relativePath(Deno.cwd(), bin);
    for (const path of [`.:${relative}`, relative, `${relative}/`]) {
      const helper = new CredentialHelper("fake", {
        env: (name) => name === "PATH" ? path : undefined,
      });
      await assert.rejects(helper.get("ghcr.io"), /docker-credential-fake not found on PATH/);
    }
    assert.deepEqual(await fake.calls(), []);
  },
});

Deno.test({
  name: "put: store gets the server URL, the user and the secret as JSON",
  ignore: !posix,
  fn: async () => {
    await using fake = await fakeHelper();
    const helper = new CredentialHelper("fake", { env: fake.env });
    await helper.put("ghcr.io", { username: "me", password: SECRET });
    await helper.put("docker.io", { identityToken: "refresh", username: "ignored" });
    assert.deepEqual(await fake.calls(), [
      `store ${JSON.stringify({ ServerURL: "ghcr.io", Username: "me", Secret: SECRET })}`,
      `store ${
        JSON.stringify({
          ServerURL: "https://index.docker.io/v1/",
          Username: "<token>",
          Secret: "refresh",
        })
      }`,
    ]);
    // The helper echoes its input, secret included: blanked out, raw and JSON-escaped.
    await assert.rejects(helper.put("fail.example", { username: "me", password: SECRET }), (e) => {
      assert.ok(e instanceof AuthError);
      assert.match(e.message, /^credential helper docker-credential-fake store for fail\.example/);
      assert.match(e.message, /cannot store/);
      assert.ok(!e.message.includes(SECRET), e.message);
      assert.ok(!e.message.includes(JSON.stringify(SECRET).slice(1, -1)), e.message);
      return true;
    });
    // A registry token has no place in the protocol: refused before anything runs.
    const before = (await fake.calls()).length;
    await assert.rejects(helper.put("ghcr.io", { registryToken: "bearer" }), UsageError);
    await assert.rejects(helper.put("ghcr.io", { username: "me" }), UsageError);
    assert.equal((await fake.calls()).length, before);
  },
});

Deno.test({
  name: "erase: true when it had one, false when not found, an error otherwise",
  ignore: !posix,
  fn: async () => {
    await using fake = await fakeHelper();
    const helper = new CredentialHelper("fake", { env: fake.env });
    assert.equal(await helper.erase("ghcr.io"), true);
    assert.equal(await helper.erase("quay.io"), false);
    await assert.rejects(helper.erase("denied.example"), /erase for denied\.example failed/);
    assert.deepEqual(await fake.calls(), [
      "erase ghcr.io",
      "erase quay.io",
      "erase denied.example",
    ]);
  },
});

Deno.test("a helper missing from PATH is an AuthError naming the program", async () => {
  const helper = new CredentialHelper("nosuch", { env: () => "/nonexistent" });
  await assert.rejects(helper.get("ghcr.io"), (error) => {
    assert.ok(error instanceof AuthError);
    assert.equal(error.message, "credential helper docker-credential-nosuch not found on PATH");
    assert.equal(error.hint, "install docker-credential-nosuch");
    return true;
  });
  const named = new CredentialHelper("nosuch", {
    env: () => undefined,
    origin: { path: "/c.json", field: 'credHelpers["ghcr.io"]' },
  });
  await assert.rejects(named.erase("ghcr.io"), (error) => {
    assert.ok(error instanceof AuthError);
    assert.equal(
      error.hint,
      'install docker-credential-nosuch, or remove credHelpers["ghcr.io"] from /c.json',
    );
    return true;
  });
});
