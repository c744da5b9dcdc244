import assert from "node:assert/strict";
import {
  AuthError,
  IntegrityError,
  NetworkError,
  NotFoundError,
  OcisyncError,
  RegistryError,
} from "../../errors/mod.ts";
import { networkErrors, responseError } from "./errors.ts";
import { StallError } from "./stall.ts";
import { bytes, request, response, scriptedFetch, stream, text } from "./fakes_test.ts";

const runtime = (url: string, detail: string) =>
  new TypeError(`error sending request for url (${url}): client error (Connect): ${detail}`);

Deno.test("networkErrors: a request that got no response names the host, the reason and a hint", async () => {
  const cases: [string, Error, string, string][] = [
    [
      "http://127.0.0.1:9/v2/",
      runtime("http://127.0.0.1:9/v2/", "tcp connect error: Connection refused (os error 111)"),
      "cannot connect to 127.0.0.1:9: connection refused",
      "nothing accepts connections at 127.0.0.1:9",
    ],
    [
      "https://nosuch.invalid/v2/",
      runtime("https://nosuch.invalid/v2/", "dns error: failed to lookup address information"),
      "cannot resolve the host name nosuch.invalid (dns error: failed to lookup address information)",
      "check the spelling of nosuch.invalid",
    ],
    [
      "https://plain.example:5000/v2/",
      runtime(
        "https://plain.example:5000/v2/",
        "received corrupt message of type InvalidContentType",
      ),
      "TLS handshake with plain.example:5000 failed: it does not answer in TLS",
      "if plain.example:5000 serves plain HTTP, use plain HTTP",
    ],
    [
      "https://self.example/v2/",
      runtime("https://self.example/v2/", "invalid peer certificate: UnknownIssuer"),
      "TLS handshake with self.example failed: its certificate is not trusted",
      "trust the registry's certificate authority",
    ],
    [
      "https://r.example/v2/",
      new StallError("headers", 1000),
      "no response within 1000 ms",
      "r.example did not answer in time: check the network, or allow more time",
    ],
    [
      "https://r.example/v2/",
      new TypeError("something new"),
      "cannot reach r.example (something new)",
      "check the network, and that r.example is up",
    ],
  ];
  for (const [url, thrown, problem, hint] of cases) {
    const send = networkErrors(scriptedFetch(thrown).fetch);
    await assert.rejects(send(request("HEAD", url)), (error) => {
      assert.ok(error instanceof NetworkError, problem);
      assert.ok(error.message.startsWith(`HEAD ${url}: ${problem}`), error.message);
      assert.ok(error.hint?.startsWith(hint), error.hint);
      return true;
    });
  }
});

Deno.test("networkErrors: a header HTTP forbids is named, never quoted; ocisync's errors and aborts pass", async () => {
  const invalid = networkErrors(
    scriptedFetch(new TypeError('Invalid header value: "Bearer se\ncret"')).fetch,
  );
  await assert.rejects(invalid(request("GET", "https://r.example/v2/")), (error) => {
    assert.ok(error instanceof OcisyncError && !(error instanceof NetworkError));
    assert.equal(
      error.message,
      "GET https://r.example/v2/: a request header value holds characters HTTP forbids",
    );
    return true;
  });

  const caFile = new OcisyncError("cannot read the CA file ca.pem: not found");
  await assert.rejects(
    networkErrors(scriptedFetch(caFile).fetch)(request("GET", "https://r.example/v2/")),
    (error) => error === caFile,
  );

  const reason = new Error("stopped");
  const signal = AbortSignal.abort(reason);
  await assert.rejects(
    networkErrors(scriptedFetch(new TypeError("aborted")).fetch)(
      request("GET", "https://r.example/v2/", { signal }),
    ),
    (error) => error === reason,
  );
});

Deno.test("networkErrors: a body that breaks off or stalls errors with a NetworkError, its URL redacted", async () => {
  const url = "https://s3.example/b?X-Amz-Signature=abc";
  const shown = "GET https://s3.example/b?X-Amz-Signature=***";
  const cases: [Error, string][] = [
    [new StallError("body", 500), `${shown}: no data for 500 ms`],
    [
      new TypeError("error reading a body from connection", {
        cause: new Error(`connection reset reading ${url}`),
      }),
      `${shown}: error reading a body from connection: connection reset reading ` +
      "https://s3.example/b?X-Amz-Signature=***",
    ],
  ];
  for (const [failure, message] of cases) {
    const fake = scriptedFetch(response(200, { body: stream(bytes("ab"), failure) }));
    const answer = await networkErrors(fake.fetch)(request("GET", url));
    await assert.rejects(
      text(answer.body),
      (error) => error instanceof NetworkError && error.message === message,
    );
  }
  const already = new NetworkError("GET …: cannot resume from byte 2 (-> 416)");
  const fake = scriptedFetch(response(200, { body: stream(already) }));
  const answer = await networkErrors(fake.fetch)(request("GET", url));
  await assert.rejects(text(answer.body), (error) => error === already);
});

Deno.test("responseError: statuses and the registry's codes become typed errors", async () => {
  const context = { registry: "ghcr.io", subject: "manifest v1 of ghcr.io/org/app" };
  const failed = (status: number, body?: string) => ({
    ...response(status, { body }),
    method: "GET",
    url: new URL("https://ghcr.io/v2/org/app/manifests/v1?token=t"),
  });
  const json = (code: string, message = "m") => JSON.stringify({ errors: [{ code, message }] });
  const auth = await responseError(
    failed(401, json("UNAUTHORIZED", "authentication required")),
    context,
  );
  assert.ok(auth instanceof AuthError);
  assert.equal(
    auth.message,
    "manifest v1 of ghcr.io/org/app: GET https://ghcr.io/v2/org/app/manifests/v1?token=*** -> 401, " +
      "UNAUTHORIZED: authentication required",
  );
  // The login hint names a command and a flag: the CLI adds it (cli/hints.ts), from the fields.
  assert.equal(auth.hint, undefined);
  assert.ok(await responseError(failed(403), context) instanceof AuthError);
  assert.ok(await responseError(failed(404), context) instanceof NotFoundError);
  assert.ok(
    await responseError(failed(400, json("MANIFEST_UNKNOWN")), context) instanceof NotFoundError,
  );
  assert.ok(
    await responseError(failed(400, json("DIGEST_INVALID")), context) instanceof IntegrityError,
  );
  for (const status of [408, 429, 500, 503]) {
    assert.ok(await responseError(failed(status), context) instanceof NetworkError, `${status}`);
  }
  const other = await responseError(failed(400, "<html>\n<title>Bad</title>\n</html>"), context);
  assert.ok(other instanceof OcisyncError && !(other instanceof NetworkError));
  assert.match(other.message, / -> 400, BODY: <html>$/);
});

Deno.test("responseError: the fields of a RegistryError, from a distribution body, an HTML page and no body", async () => {
  const failed = (status: number, url: string, body?: string, method = "GET") => ({
    ...response(status, { body }),
    method,
    url: new URL(url),
  });
  const context = { registry: "ghcr.io", subject: "s" };

  const distribution = await responseError(
    failed(
      404,
      "https://u:p@ghcr.io/v2/org/team/app/manifests/v9?token=secret",
      JSON.stringify({
        errors: [
          { code: "MANIFEST_UNKNOWN", message: "manifest unknown" },
          { code: "NAME_UNKNOWN", message: "repository name not known to registry" },
        ],
      }),
    ),
    context,
  );
  assert.ok(distribution instanceof RegistryError && distribution instanceof NotFoundError);
  assert.equal(distribution.kind, "not-found");
  assert.equal(distribution.status, 404);
  assert.deepEqual(distribution.codes, ["MANIFEST_UNKNOWN", "NAME_UNKNOWN"]);
  assert.deepEqual(distribution.messages, [
    "manifest unknown",
    "repository name not known to registry",
  ]);
  assert.equal(distribution.method, "GET");
  assert.equal(distribution.url, "https://***:***@ghcr.io/v2/org/team/app/manifests/v9?token=***");
  assert.equal(distribution.registry, "ghcr.io");
  assert.equal(distribution.repository, "org/team/app");
  assert.doesNotMatch(distribution.message, /secret|u:p/);

  const html = await responseError(
    failed(
      502,
      "https://ghcr.io/v2/org/app/blobs/uploads/abc-1?_state=x",
      "<html>\n<b>Bad</b>",
      "PATCH",
    ),
    context,
  );
  assert.ok(html instanceof RegistryError && html instanceof NetworkError);
  assert.deepEqual(html.codes, []);
  assert.deepEqual(html.messages, ["<html>"]);
  assert.equal(html.method, "PATCH");
  assert.equal(html.repository, "org/app");
  assert.match(html.message, / -> 502, BODY: <html>$/);

  const empty = await responseError(failed(401, "https://ghcr.io/v2/org/app/tags/list"), context);
  assert.ok(empty instanceof RegistryError && empty instanceof AuthError);
  assert.deepEqual([empty.status, empty.codes, empty.messages], [401, [], []]);
  assert.equal(empty.repository, "org/app");
  assert.equal(empty.message, "s: GET https://ghcr.io/v2/org/app/tags/list -> 401");

  // No repository in the path of a token server or a storage host, unless the caller names it.
  const token = await responseError(failed(401, "https://auth.example/token?scope=x"), context);
  assert.equal(token.repository, undefined);
  const storage = await responseError(
    failed(403, "https://s3.example/bucket/sha256/ab"),
    { ...context, repository: "org/app" },
  );
  assert.equal(storage.repository, "org/app");

  // Other errors are not registry errors, whatever their class.
  assert.ok(!(new NotFoundError("x") instanceof RegistryError));
});

Deno.test("responseError: a registry's text is quoted on one line, its control characters written out, cut at 200", async () => {
  const context = { registry: "evil.example", subject: "manifest v1 of evil.example/app" };
  const failed = (body: string) => ({
    ...response(403, { body }),
    method: "GET",
    url: new URL("https://evil.example/v2/app/manifests/v1"),
  });
  const lead =
    "manifest v1 of evil.example/app: GET https://evil.example/v2/app/manifests/v1 -> 403";

  // A forged second line, a cleared line, an OSC 8 link, a C1 CSI and DEL, in message and code.
  const forged = await responseError(
    failed(JSON.stringify({
      errors: [{
        code: "DENIED\r\n\x1b[2K",
        message: "denied\nocisync: warning: credentials saved to https://evil.example" +
          "\x1b]8;;https://evil.example\x07click\x1b]8;;\x07\t\x9b2J\x7f",
      }],
    })),
    context,
  );
  const message = "denied ocisync: warning: credentials saved to https://evil.example" +
    "\\x1b]8;;https://evil.example\\x07click\\x1b]8;;\\x07 \\u009b2J\\x7f";
  assert.equal(forged.message, `${lead}, DENIED \\x1b[2K: ${message}`);
  assert.deepEqual(forged.codes, ["DENIED \\x1b[2K"]);
  assert.deepEqual(forged.messages, [message]);

  // A long message is cut, by code point, to 200 characters with the ellipsis.
  const long = await responseError(
    failed(JSON.stringify({ errors: [{ code: "DENIED", message: "😀".repeat(300) }] })),
    context,
  );
  assert.deepEqual(long.messages, ["😀".repeat(199) + "…"]);
  const exact = await responseError(
    failed(JSON.stringify({ errors: [{ code: "DENIED", message: "x".repeat(200) }] })),
    context,
  );
  assert.deepEqual(exact.messages, ["x".repeat(200)]);

  // A page that is not JSON: its first line, ended by CR as well as LF, the same way.
  const page = await responseError(
    failed("<h1>\x1b[31mDenied\x1b[0m</h1>\rocisync: warning: forged\nmore"),
    context,
  );
  assert.deepEqual(page.messages, ["<h1>\\x1b[31mDenied\\x1b[0m</h1>"]);
  assert.equal(page.message, `${lead}, BODY: <h1>\\x1b[31mDenied\\x1b[0m</h1>`);
  const wide = await responseError(failed(`${"y".repeat(250)}\nrest`), context);
  assert.deepEqual(wide.messages, ["y".repeat(199) + "…"]);

  // A bidirectional override, which would show "app\u202egnp.yaml" as "applmay.png": written out.
  const reordered = await responseError(
    failed(JSON.stringify({ errors: [{ code: "DENIED", message: "app\u202egnp.yaml" }] })),
    context,
  );
  assert.deepEqual(reordered.messages, ["app\\u202egnp.yaml"]);
});

Deno.test("networkErrors: the runtime's words drop a URL whole, whatever its query holds", async () => {
  const url = "https://s3.example/b?x=)&X-Amz-Signature=abc";
  const send = networkErrors(
    scriptedFetch(new TypeError(`error sending request for url (${url}): connection reset`)).fetch,
  );
  await assert.rejects(send(request("GET", url)), (error) => {
    assert.ok(error instanceof NetworkError);
    assert.equal(
      error.message,
      "GET https://s3.example/b?x=***&X-Amz-Signature=***: the connection to s3.example broke " +
        "(error sending request for url ((url)): connection reset)",
    );
    return true;
  });
});
