/**
 * Issue 13, "the error must say what is true": refused credentials are told apart from missing
 * ones and checked before a push does any work; an unreachable registry is named with the
 * reason; tokens and credentials that would break a header are refused unquoted; credential
 * files that other users can read are warned about. Every case runs the CLI against the real
 * registry, or against a socket built for it.
 */
import assert from "node:assert/strict";
import { ExitCode } from "../src/cli/exit.ts";
import { credentialLookup } from "../src/credentials/mod.ts";
import { ocisync, type RunResult, shown } from "./helpers/cli.ts";
import { startProxy } from "./helpers/fault_proxy.ts";
import { type RegistryRequest, type TestRegistry, withRegistry } from "./helpers/registry.ts";
import {
  closedPort,
  isolatedEnv,
  plainHttpServer,
  silentListener,
  tokenServer,
} from "./helpers/servers.ts";
import { writeTree } from "./helpers/tree.ts";
import { sha256Hex } from "./helpers/hash.ts";
import { RegistryClient } from "../src/remote/auth.ts";
import { RegistryTarget } from "../src/remote/registry.ts";
import { parseRegistryReference } from "../src/ref/mod.ts";

const USER = "robot-7";
const PASSWORD = "s3cret-Pa55-for-issue-13";
const WRONG = "wr0ng-Pa55-for-issue-13";
const TREE = {
  "app": { type: "dir" as const },
  "app/main.py": { type: "file" as const, content: "print('hello')\n" },
};
// What a hostile token or credential tries to smuggle into a request.
const SMUGGLED = "Set-Cookie: stolen=issue-13";

function base64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

/** Fails when the output shows any of the secrets. */
function assertHides(result: RunResult, secrets: string[]): void {
  const output = result.stdout + result.stderr;
  for (const secret of secrets) {
    assert.ok(!output.includes(secret), `the output shows ${JSON.stringify(secret)}:\n${output}`);
  }
}

/** Fails unless the run failed with `code` and exactly one error line and one hint line. */
function assertError(result: RunResult, code: number, message: RegExp, hint: RegExp): void {
  assert.equal(result.code, code, shown(result));
  // With --debug, stack traces follow the error and its hint.
  const lines = result.stderr.trimEnd().split("\n");
  const at = lines.findIndex((line) => line.startsWith("ocisync: error: "));
  const [error, hinted] = lines.slice(at, at + 2);
  assert.match(error, /^ocisync: error: /, shown(result));
  assert.match(error, message, shown(result));
  assert.match(hinted, /^hint: /, shown(result));
  assert.match(hinted, hint, shown(result));
}

/** A server on a free port of 127.0.0.1, its handler told its own origin (`http://HOST:PORT`). */
function serveHere(
  handler: (request: Request, origin: string) => Response | Promise<Response>,
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => handler(request, `http://${new URL(request.url).host}`),
  );
}

const loginHint = (registry: TestRegistry) =>
  new RegExp(
    `^hint: run \`ocisync login ${RegExp.escape(registry.host)}\`, or pass --credentials$`,
  );

const isUpload = (request: RegistryRequest) =>
  request.path.includes("/blobs/") && request.method !== "GET";

for (const auth of ["basic", "token"] as const) {
  Deno.test(`${auth} auth: a refused password names the user; no credentials is another error`, async () => {
    await withRegistry({ auth, username: USER, password: PASSWORD }, async (registry, tmp) => {
      await writeTree(`${tmp}/src`, TREE);
      const env = isolatedEnv(tmp);
      const ref = `${registry.host}/t/app:v1`;
      const creds = ["-u", USER, "--password-stdin"];
      const pushed = await ocisync(["push", ref, `${tmp}/src`, ...creds], { env, stdin: PASSWORD });
      assert.equal(pushed.code, 0, shown(pushed));

      for (
        const args of [["push", ref, `${tmp}/src`], ["pull", ref, "-o", `${tmp}/out`]]
      ) {
        const refused = await ocisync([...args, ...creds], { env, stdin: WRONG });
        assertError(
          refused,
          ExitCode.Auth,
          new RegExp(
            `${RegExp.escape(registry.host)} refused the credentials of user ${USER}: .*401`,
          ),
          new RegExp(`^hint: check the password or token of user ${USER}`),
        );
        assert.doesNotMatch(refused.stderr, /no credentials found|pass --credentials/);
        assertHides(refused, [WRONG, PASSWORD, base64(`${USER}:${WRONG}`)]);

        const missing = await ocisync(args, { env });
        assertError(
          missing,
          ExitCode.Auth,
          new RegExp(`no credentials found for ${RegExp.escape(registry.host)}: .*401`),
          loginHint(registry),
        );
        assert.doesNotMatch(missing.stderr, /refused the credentials/);
      }
      await assert.rejects(Deno.stat(`${tmp}/out`), Deno.errors.NotFound, "nothing was pulled");
    });
  });

  Deno.test(`${auth} auth: a push with a refused password fails before packing or sending a blob`, async () => {
    await withRegistry({ auth, username: USER, password: PASSWORD }, async (registry, tmp) => {
      await writeTree(`${tmp}/src`, {
        "data": { type: "dir" },
        "data/app.py": { type: "file", content: "print('hello')\n" },
      });
      const env = isolatedEnv(tmp);
      const push = await ocisync(
        ["push", `${registry.host}/t/big:v1`, `${tmp}/src`, "-u", USER, "--password-stdin"],
        { env, stdin: WRONG },
      );
      assert.equal(push.code, ExitCode.Auth, shown(push));
      assert.match(push.stderr, new RegExp(`refused the credentials of user ${USER}`));
      // A push says "packing SRC" as it starts to pack: the credentials were tried before.
      assert.doesNotMatch(push.stderr, /packing/, "no layer was packed");

      const seen = await registry.requests();
      assert.deepEqual(seen.filter(isUpload), [], "no blob was sent");
      if (auth === "basic") {
        // A GET /v2/ learns the challenge, then one with the credentials: the one extra request.
        assert.deepEqual(seen.map((r) => `${r.method} ${r.path} ${r.status}`), [
          "GET /v2/ 401",
          "GET /v2/ 401",
        ]);
      } else {
        assert.deepEqual(seen.map((r) => `${r.method} ${r.path} ${r.status}`), ["GET /v2/ 401"]);
        assert.deepEqual(
          registry.tokenRequests!.map((t) => [t.scope, t.status]),
          [[["repository:t/big:pull,push"], 401]],
          "one token request, for the push scope",
        );
      }
    });
  });
}

Deno.test("a 403 DENIED with credentials says access was refused, not to log in again", async () => {
  await withRegistry(
    { auth: "basic", username: USER, password: PASSWORD },
    async (registry, tmp) => {
      const proxy = startProxy(registry.host);
      try {
        const env = isolatedEnv(tmp);
        await Deno.writeTextFile(
          `${tmp}/creds.json`,
          JSON.stringify({ username: USER, password: PASSWORD }),
          { mode: 0o600 },
        );
        // What a registry answers a user it knows who may not read the repository.
        const body = JSON.stringify({
          errors: [{ code: "DENIED", message: "requested access to the resource is denied" }],
        });
        proxy.inject({
          method: "GET",
          path: /\/manifests\//,
          times: Infinity,
          fault: { kind: "status", status: 403, body },
        });
        const ref = `${proxy.host}/t/app:v1`;
        const denied = new RegExp(
          "^hint: a 403 refuses access, not the credentials: check the repository's name, and " +
            `that user ${USER} may pull from ${RegExp.escape(proxy.host)}/t/app$`,
        );
        for (
          const [args, stdin] of [
            [["-u", USER, "--password-stdin"], PASSWORD],
            [["--credentials", `${tmp}/creds.json`], undefined],
          ] as const
        ) {
          const result = await ocisync(["inspect", ref, "--plain-http", ...args], { env, stdin });
          assertError(result, ExitCode.Auth, /403, DENIED: requested access/, denied);
          assert.doesNotMatch(result.stderr, /ocisync login|pass --credentials/);
        }
        // Without credentials, logging in is what may help.
        const anonymous = await ocisync(["inspect", ref, "--plain-http"], { env });
        assertError(
          anonymous,
          ExitCode.Auth,
          /403, DENIED/,
          new RegExp(
            `^hint: run \`ocisync login ${RegExp.escape(proxy.host)}\`, or pass --credentials$`,
          ),
        );
      } finally {
        await proxy.close();
      }
    },
  );
});

Deno.test("a server that answers 404 in HTML, /v2/ too, is not said to lack the repository", async () => {
  const requests: string[] = [];
  const server = serveHere((request) => {
    requests.push(new URL(request.url).pathname);
    return new Response("<html><body><h1>404 Not Found</h1></body></html>", {
      status: 404,
      headers: { "content-type": "text/html" },
    });
  });
  try {
    const host = `127.0.0.1:${server.addr.port}`;
    const result = await ocisync(["inspect", `${host}/acme/app:v1`, "--plain-http"]);
    assertError(
      result,
      ExitCode.NotFound,
      /404, BODY: <html>/,
      new RegExp(
        `^hint: ${RegExp.escape(host)} answered 404 to the tag list of acme/app too, without a ` +
          `registry's error code: check the repository's name, and that ${RegExp.escape(host)} ` +
          "is an OCI registry$",
      ),
    );
    assert.doesNotMatch(result.stderr, /does not exist/);
    assert.ok(requests.includes("/v2/acme/app/tags/list"), "the hint asked for the tags");
  } finally {
    await server.shutdown();
  }
});

Deno.test("an unreachable registry is named, with the reason and a hint, exit 6", async (t) => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-unreachable-" });
  const env = isolatedEnv(tmp);
  const pull = (host: string, ...more: string[]) =>
    ocisync(["pull", `${host}/t/app:v1`, "-o", `${tmp}/out`, "--retries", "0", ...more], { env });
  try {
    await t.step("connection refused", async () => {
      const host = `127.0.0.1:${closedPort()}`;
      const result = await pull(host);
      assertError(
        result,
        ExitCode.Network,
        new RegExp(
          `GET http://${RegExp.escape(host)}/v2/t/app/manifests/v1: cannot connect to ` +
            `${RegExp.escape(host)}: ` +
            `connection refused$`,
        ),
        new RegExp(`nothing accepts connections at ${RegExp.escape(host)}`),
      );
      assert.doesNotMatch(result.stderr, /error sending request|client error/);
    });

    await t.step("DNS lookup failed", async () => {
      const result = await pull("nosuch.invalid");
      assertError(
        result,
        ExitCode.Network,
        /GET https:\/\/nosuch\.invalid\/v2\/t\/app\/manifests\/v1: cannot resolve the host name nosuch\.invalid \(/,
        /check the spelling of nosuch\.invalid/,
      );
    });

    await t.step("through a proxy that is down: the hint says a proxy is set", async () => {
      const proxy = `http://127.0.0.1:${closedPort()}`;
      const result = await ocisync(
        ["pull", "registry.example/t/app:v1", "-o", `${tmp}/out`, "--retries", "0"],
        { env: { ...env, HTTPS_PROXY: proxy, NO_PROXY: "", no_proxy: "" } },
      );
      assertError(
        result,
        ExitCode.Network,
        /GET https:\/\/registry\.example\/v2\/t\/app\/manifests\/v1: cannot connect to registry\.example: /,
        /\(HTTPS_PROXY is set: the proxy may be what failed\)$/,
      );
    });

    await t.step("no answer within --timeout", async () => {
      const silent = silentListener();
      try {
        const started = Date.now();
        const result = await pull(silent.host, "--timeout", "1s");
        const elapsed = Date.now() - started;
        assertError(
          result,
          ExitCode.Network,
          new RegExp(
            `GET http://${
              RegExp.escape(silent.host)
            }/v2/t/app/manifests/v1: no response within 1000 ms$`,
          ),
          new RegExp(`${RegExp.escape(silent.host)} did not answer in time: .*--timeout`),
        );
        assert.ok(silent.hits() >= 1, "the connection was made");
        assert.ok(elapsed >= 1000 && elapsed < 5000, `failed after ${elapsed} ms`);
      } finally {
        await silent.close();
      }
    });

    await t.step("TLS to a plain-HTTP server", async () => {
      // Loopback, but not one of the three names that get plain HTTP by default.
      const server = plainHttpServer("127.0.0.2");
      try {
        const result = await pull(server.host);
        assertError(
          result,
          ExitCode.Network,
          new RegExp(
            `GET https://${RegExp.escape(server.host)}/v2/t/app/manifests/v1: TLS handshake with ` +
              `${RegExp.escape(server.host)} failed: it does not answer in TLS`,
          ),
          new RegExp(
            `if ${
              RegExp.escape(server.host)
            } serves plain HTTP, use plain HTTP \\(--plain-http\\)$`,
          ),
        );
        assert.equal(server.hits(), 0, "no request got through the handshake");
        // The hint is right: with --plain-http, the request arrives.
        await pull(server.host, "--plain-http");
        assert.ok(server.hits() > 0);
      } finally {
        await server.close();
      }
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a token server's token with CR LF, a space or NUL is refused and never shown", async () => {
  await withRegistry(
    { auth: "token", username: USER, password: PASSWORD },
    async (registry, tmp) => {
      const hostileTokens = [`abc\r\n${SMUGGLED}`, `eyJhbGciOi.x ${SMUGGLED}`, `abc\0${SMUGGLED}`];
      for (const token of hostileTokens) {
        for (const body of [{ token }, { access_token: token, expires_in: 300 }]) {
          const hostile = tokenServer(body);
          // The real registry, whose challenges name the hostile token server as their realm.
          const proxy = startProxy(registry.host, async (request) => {
            const response = await proxy.forward(request);
            const challenge = response.headers.get("www-authenticate");
            if (challenge === null) return response;
            const headers = new Headers(response.headers);
            headers.set("www-authenticate", challenge.replace(registry.tokenRealm!, hostile.realm));
            return new Response(response.body, { status: response.status, headers });
          });
          try {
            const result = await ocisync(
              ["inspect", `${proxy.host}/t/app:v1`, "-u", USER, "--password-stdin", "--debug"],
              { env: isolatedEnv(tmp), stdin: PASSWORD },
            );
            assertError(
              result,
              ExitCode.Auth,
              new RegExp(
                `the token server of ${
                  RegExp.escape(proxy.host)
                } sent a token with characters that ` +
                  "RFC 6750 does not allow in a bearer token",
              ),
              new RegExp(RegExp.escape(hostile.host)),
            );
            assertHides(result, [token, "stolen", SMUGGLED, PASSWORD]);
            assert.equal(hostile.hits(), 1);
            assert.ok(proxy.seen.every((r) => r.authorization === null), "no token was sent");
          } finally {
            await proxy.close();
            await hostile.close();
          }
        }
      }
    },
  );
});

Deno.test("an identity token, user name or password that would break a header is not sent", async (t) => {
  await t.step("identity token with CR LF", async () => {
    await withRegistry({ auth: "token", username: USER }, async (registry, tmp) => {
      const env = isolatedEnv(tmp);
      const identityToken = `abc\r\n${SMUGGLED}`;
      await Deno.mkdir(`${tmp}/docker`);
      await Deno.writeTextFile(
        `${tmp}/docker/config.json`,
        JSON.stringify({ auths: { [registry.host]: { identitytoken: identityToken } } }),
        { mode: 0o600 },
      );
      const result = await ocisync(["inspect", `${registry.host}/t/app:v1`], { env });
      assertError(
        result,
        ExitCode.Auth,
        new RegExp(
          `the identity token for ${RegExp.escape(registry.host)} holds characters that ` +
            "RFC 6750 does not allow",
        ),
        /ocisync login/,
      );
      assertHides(result, [identityToken, "stolen"]);
      assert.deepEqual(registry.tokenRequests, [], "the token server got nothing");
    });
  });

  for (
    const [name, credential] of [
      ["a password with CR LF", { username: USER, password: `pw\r\n${SMUGGLED}` }],
      ["a password with LF", { username: USER, password: `pw\n${SMUGGLED}` }],
      ["a user name with NUL", { username: `${USER}\0${SMUGGLED}`, password: PASSWORD }],
    ] as const
  ) {
    await t.step(name, async () => {
      await withRegistry(
        { auth: "basic", username: USER, password: PASSWORD },
        async (registry, tmp) => {
          const file = `${tmp}/creds.json`;
          await Deno.writeTextFile(file, JSON.stringify(credential), { mode: 0o600 });
          const result = await ocisync(
            ["inspect", `${registry.host}/t/app:v1`, "--credentials", file],
            { env: isolatedEnv(tmp) },
          );
          assertError(
            result,
            ExitCode.Auth,
            new RegExp(
              `the user name or password for ${RegExp.escape(registry.host)} holds a line break ` +
                "or NUL character; it was not sent",
            ),
            /remove the character/,
          );
          assertHides(result, ["stolen", PASSWORD]);
          // The first request, sent without them, learned that the registry wants them.
          const seen = await registry.requests();
          assert.deepEqual(seen.map((r) => `${r.method} ${r.path} ${r.status}`), [
            "GET /v2/t/app/manifests/v1 401",
          ]);
        },
      );
    });
  }
});

Deno.test("credential files that other users can read get a warning on stderr", async () => {
  await withRegistry(
    { auth: "basic", username: USER, password: PASSWORD },
    async (registry, tmp) => {
      await writeTree(`${tmp}/src`, TREE);
      const env = isolatedEnv(tmp);
      const push = (...more: string[]) =>
        ocisync(["push", `${registry.host}/t/app:v1`, `${tmp}/src`, ...more], { env });
      const warning = (path: string, how = "readable") =>
        `ocisync: warning: ${path} is ${how} by other users; chmod 600 ${path}\n`;
      const count = (text: string, part: string) => text.split(part).length - 1;

      // A --credentials file.
      const file = `${tmp}/creds.json`;
      await Deno.writeTextFile(file, JSON.stringify({ username: USER, password: PASSWORD }));
      await Deno.chmod(file, 0o644);
      const exposed = await push("--credentials", file);
      assert.equal(exposed.code, 0, shown(exposed));
      assert.equal(count(exposed.stderr, warning(file)), 1, exposed.stderr);
      await Deno.chmod(file, 0o600);
      const private_ = await push("--credentials", file);
      assert.equal(private_.code, 0, shown(private_));
      assert.doesNotMatch(private_.stderr, /warning/);

      // The Docker config: group-readable, then group-writable only.
      const config = `${tmp}/docker/config.json`;
      await Deno.mkdir(`${tmp}/docker`);
      const auths = { [registry.host]: { auth: base64(`${USER}:${PASSWORD}`) } };
      await Deno.writeTextFile(config, JSON.stringify({ auths }));
      for (const [mode, how] of [[0o640, "readable"], [0o620, "writable"]] as const) {
        await Deno.chmod(config, mode);
        const result = await push();
        assert.equal(result.code, 0, shown(result));
        assert.equal(count(result.stderr, warning(config, how)), 1, result.stderr);
      }

      // A config that holds no secret is nobody's business.
      await Deno.writeTextFile(config, JSON.stringify({ psFormat: "table" }));
      await Deno.chmod(config, 0o644);
      const none = await push();
      assert.equal(none.code, ExitCode.Auth, shown(none));
      assert.doesNotMatch(none.stderr, /warning/);
    },
  );
});

Deno.test("credentialLookup reports an exposed file through warn, once, and prints nothing", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync creds " });
  try {
    const file = `${tmp}/it's creds.json`;
    await Deno.writeTextFile(file, JSON.stringify({ username: USER, password: PASSWORD }));
    await Deno.chmod(file, 0o604);
    const warnings: string[] = [];
    const lookup = credentialLookup({
      credentialsFile: file,
      env: () => undefined,
      home: tmp,
      warn: (message) => warnings.push(message),
    });
    assert.deepEqual(await lookup("a.example"), { username: USER, password: PASSWORD });
    await lookup("b.example");
    // Quoted by hand for sh: '…'\''…'.
    const quoted = `'${tmp}/it'\\''s creds.json'`;
    assert.deepEqual(warnings, [
      `${file} is readable by other users; chmod 600 ${quoted}`,
    ]);

    // Without a hook, the library says nothing: run it alone and read its stderr.
    const code = `import { credentialLookup } from ${
      JSON.stringify(
        new URL("../src/credentials/mod.ts", import.meta.url).href,
      )
    };
      await credentialLookup({ credentialsFile: ${
      JSON.stringify(file)
    }, env: () => undefined })("a.example");`;
    const silent = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--quiet", code],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(silent.success, new TextDecoder().decode(silent.stderr));
    assert.equal(
      new TextDecoder().decode(silent.stdout) + new TextDecoder().decode(silent.stderr),
      "",
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a registry or token server that echoes the credentials it was sent has them blanked out", async () => {
  // Hostile: every refusal quotes the request's Authorization header, in a distribution-spec
  // error (the registry, Basic) or in a text body (its token server, for the Bearer path).
  const server = serveHere((request, origin) => {
    const url = new URL(request.url);
    const sent = request.headers.get("authorization") ?? "none";
    if (url.pathname === "/token") {
      return new Response(`cannot parse ${sent} (${atob(sent.split(" ")[1] ?? "")})\n`, {
        status: 401,
      });
    }
    const challenge = url.pathname.startsWith("/v2/basic/")
      ? `Basic realm="echo"`
      : `Bearer realm="${origin}/token",service="echo"`;
    return Response.json(
      { errors: [{ code: "UNAUTHORIZED", message: `refused ${sent}` }] },
      { status: 401, headers: { "www-authenticate": challenge } },
    );
  });
  const tmp = await Deno.makeTempDir();
  try {
    const host = `127.0.0.1:${server.addr.port}`;
    const env = isolatedEnv(tmp);
    for (const repository of ["basic/app", "bearer/app"]) {
      const result = await ocisync(
        ["inspect", `${host}/${repository}:v1`, "-u", USER, "--password-stdin"],
        { env, stdin: PASSWORD },
      );
      assert.equal(result.code, ExitCode.Auth, shown(result));
      assert.match(result.stderr, /refused the credentials of user robot-7/);
      assert.match(result.stderr, /\*\*\*/);
      assertHides(result, [PASSWORD, base64(`${USER}:${PASSWORD}`)]);
    }
  } finally {
    await server.shutdown();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a password echoed in a JSON error as Python writes one (\\u00e4, \\/) is blanked out too", async () => {
  // The message decodes to the password itself: blanked in the text as sent was not enough.
  const password = "pä/ss+wörd=1";
  const asPython = (text: string) =>
    JSON.stringify(text).replace(
      /[^\x20-\x7e]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
    )
      .replaceAll("/", "\\/");
  const server = serveHere(() =>
    new Response(
      `{"errors":[{"code":"UNAUTHORIZED","message":${asPython(`bad password ${password}`)}}]}`,
      {
        status: 401,
        headers: { "www-authenticate": `Basic realm="echo"`, "content-type": "application/json" },
      },
    )
  );
  const tmp = await Deno.makeTempDir();
  try {
    const result = await ocisync(
      ["inspect", `127.0.0.1:${server.addr.port}/app:v1`, "-u", USER, "--password-stdin"],
      { env: isolatedEnv(tmp), stdin: password },
    );
    assert.equal(result.code, ExitCode.Auth, shown(result));
    assert.match(result.stderr, /bad password \*\*\*/);
    assertHides(result, [password, "wörd"]);
  } finally {
    await server.shutdown();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("an identity token that the token server refuses with OAuth's 400 invalid_grant is a refused credential, exit 3", async () => {
  // RFC 6749, section 5.2: an expired or revoked refresh token is answered 400, not 401.
  const server = serveHere(async (request, origin) => {
    const url = new URL(request.url);
    if (url.pathname === "/token" && request.method === "POST") {
      const form = new URLSearchParams(await request.text());
      assert.equal(form.get("refresh_token"), "revoked-identity-token");
      return Response.json(
        { error: "invalid_grant", error_description: "refresh token expired or revoked" },
        { status: 400 },
      );
    }
    return new Response("{}", {
      status: 401,
      headers: { "www-authenticate": `Bearer realm="${origin}/token",service="reg"` },
    });
  });
  const tmp = await Deno.makeTempDir();
  try {
    const host = `127.0.0.1:${server.addr.port}`;
    await Deno.mkdir(`${tmp}/docker`);
    await Deno.writeTextFile(
      `${tmp}/docker/config.json`,
      JSON.stringify({ auths: { [host]: { identitytoken: "revoked-identity-token" } } }),
      { mode: 0o600 },
    );
    const result = await ocisync(["inspect", `${host}/app:v1`], { env: isolatedEnv(tmp) });
    assertError(
      result,
      ExitCode.Auth,
      new RegExp(
        `${RegExp.escape(host)} refused the identity token: .* -> 400, invalid_grant: ` +
          "refresh token expired or revoked",
      ),
      /expired or been revoked: run `ocisync login/,
    );
    assertHides(result, ["revoked-identity-token"]);
  } finally {
    await server.shutdown();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a blob's body that breaks off after its token expired is resumed with a new token", async () => {
  // Tokens last a second; the body breaks off after 1.5 s, so its Range request meets a 401.
  const blob = new Uint8Array(200_000).map((_, i) => i % 251);
  const digest = `sha256:${sha256Hex(blob)}` as const;
  const issued = new Map<string, number>();
  const tokens = serveHere(() => {
    const token = `token${issued.size + 1}`;
    issued.set(token, Date.now());
    return Response.json({ token, expires_in: 1 });
  });
  const seen: string[] = [];
  const registry = serveHere((request) => {
    const token = request.headers.get("authorization")?.slice("Bearer ".length) ?? "";
    const fresh = issued.has(token) && Date.now() - issued.get(token)! < 1000;
    const range = /bytes=(\d+)-/.exec(request.headers.get("range") ?? "");
    seen.push(`${range ? "range" : "whole"} ${token || "none"} ${fresh ? 200 : 401}`);
    if (!fresh) {
      const realm = `http://127.0.0.1:${tokens.addr.port}/token`;
      return new Response("{}", {
        status: 401,
        headers: { "www-authenticate": `Bearer realm="${realm}",service="reg"` },
      });
    }
    if (range) {
      const from = Number(range[1]);
      return new Response(blob.slice(from), {
        status: 206,
        headers: { "content-range": `bytes ${from}-${blob.length - 1}/${blob.length}` },
      });
    }
    const body = new ReadableStream({
      async start(controller) {
        controller.enqueue(blob.slice(0, 100_000));
        await new Promise((resolve) => setTimeout(resolve, 1500));
        controller.error(new Error("connection reset"));
      },
    });
    return new Response(body, { headers: { "content-length": String(blob.length) } });
  });
  const client = new RegistryClient({
    credentials: () => Promise.resolve({ username: USER, password: PASSWORD }),
  });
  const target = new RegistryTarget(
    parseRegistryReference(`127.0.0.1:${registry.addr.port}/app`),
    { client },
  );
  try {
    const stream = await target.fetchBlob({
      mediaType: "application/octet-stream",
      digest,
      size: blob.length,
    });
    assert.deepEqual(new Uint8Array(await new Response(stream).arrayBuffer()), blob);
    assert.deepEqual(seen, [
      "whole none 401",
      "whole token1 200",
      "range token1 401",
      "range token2 200",
    ]);
  } finally {
    client.close();
    await tokens.shutdown();
    await registry.shutdown();
  }
});

Deno.test("a redirect or a Link to a file: URL is refused: no local file is read or sent on", async () => {
  // Deno's fetch reads file: URLs: a token server that redirected to a local auth file had its
  // `token` sent to the registry as a bearer token, and a Link put a file's lines in tags.
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-file-scheme-" });
  const secret = "LocalSecretTok3n-issue-13";
  await Deno.writeTextFile(`${tmp}/auth.json`, JSON.stringify({ token: secret }));
  await Deno.writeTextFile(`${tmp}/tags.json`, '{"name":"app","tags":["from-local-file"]}');
  const seen: string[] = [];
  const server = serveHere((request, here) => {
    const url = new URL(request.url);
    seen.push(`${request.method} ${url.pathname} ${request.headers.get("authorization") ?? ""}`);
    if (url.pathname === "/token") {
      return new Response(null, { status: 307, headers: { location: `file://${tmp}/auth.json` } });
    }
    if (url.pathname === "/v2/app/tags/list") {
      return Response.json({ name: "app", tags: ["v1"] }, {
        headers: { link: `<file://${tmp}/tags.json>; rel="next"` },
      });
    }
    if (request.headers.get("authorization") === null && url.pathname !== "/v2/app/tags/list") {
      return new Response("{}", {
        status: 401,
        headers: { "www-authenticate": `Bearer realm="${here}/token",service="reg"` },
      });
    }
    return new Response("{}", { status: 404 });
  });
  try {
    const host = `127.0.0.1:${server.addr.port}`;
    const env = isolatedEnv(tmp);
    const inspect = await ocisync(["inspect", "-q", `${host}/app:v1`], { env });
    assert.equal(inspect.code, ExitCode.UnsafeContent, shown(inspect));
    assert.match(
      inspect.stderr,
      /refusing to fetch file:\/\/.*auth\.json: a registry and its token/,
    );
    assert.ok(!seen.some((line) => line.includes(secret)), seen.join("\n"));
    assertHides(inspect, [secret]);

    const tags = await ocisync(["tags", `${host}/app`], { env });
    assert.equal(tags.code, ExitCode.UnsafeContent, shown(tags));
    assert.doesNotMatch(tags.stdout, /from-local-file/);
  } finally {
    await server.shutdown();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a server that drips its answer a byte at a time fails within a few --timeout, exit 6", async () => {
  // Each read came within --timeout, so a 4 MiB manifest could be held for weeks.
  const server = serveHere((request) => {
    let timer: ReturnType<typeof setInterval> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        timer = setInterval(() => controller.enqueue(new TextEncoder().encode(" ")), 300);
      },
      cancel: () => clearInterval(timer),
    });
    request.signal.addEventListener("abort", () => clearInterval(timer));
    return new Response(body, {
      headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
    });
  });
  try {
    const started = Date.now();
    const inspect = await ocisync([
      "inspect",
      `127.0.0.1:${server.addr.port}/app:v1`,
      "--timeout",
      "1s",
      "--retries",
      "0",
    ]);
    assert.equal(inspect.code, ExitCode.Network, shown(inspect));
    assert.match(inspect.stderr, /under 1024 bytes in \d+ ms of waiting/);
    assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
  } finally {
    await server.shutdown();
  }
});
