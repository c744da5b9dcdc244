import assert from "node:assert/strict";
import { NetworkError } from "../../errors/mod.ts";
import { type HttpExchange, logging } from "./logging.ts";
import { redactHeader, redactMessage, redactUrl } from "./redact.ts";
import { request, response, scriptedFetch } from "./fakes_test.ts";

Deno.test("redactUrl: secret query values and user info are hidden; the API's own parameters are kept", () => {
  assert.equal(
    redactUrl(
      new URL("https://s3.example/b?X-Amz-Signature=abc&X-Amz-Credential=k&digest=sha256:1"),
    ),
    "https://s3.example/b?X-Amz-Signature=***&X-Amz-Credential=***&digest=sha256:1",
  );
  assert.equal(
    redactUrl(new URL("https://r.example/v2/app/blobs/uploads/u?_state=s3cr3t#frag")),
    "https://r.example/v2/app/blobs/uploads/u?_state=***",
  );
  assert.equal(
    redactUrl(
      new URL("https://me:pw@auth.example/token?service=r&scope=repository:a:pull&token=t"),
    ),
    "https://***:***@auth.example/token?service=r&scope=repository:a:pull&token=***",
  );
  assert.equal(
    redactUrl(new URL("https://r.example/v2/app/tags/list?n=10&last=v9")),
    "https://r.example/v2/app/tags/list?n=10&last=v9",
  );
  assert.equal(
    redactMessage("error sending request for url (https://s3.example/b?sig=abc): reset"),
    "error sending request for url (https://s3.example/b?sig=***): reset",
  );
});

Deno.test("redactHeader: credentials, cookies and secret-named headers are hidden; URLs in values are redacted", () => {
  assert.equal(redactHeader("Authorization", "Bearer eyJhbGciOi.x.y"), "Bearer ***");
  assert.equal(redactHeader("authorization", "Basic dTpw"), "Basic ***");
  assert.equal(redactHeader("authorization", "opaque"), "***");
  assert.equal(redactHeader("proxy-authorization", "Basic dTpw"), "Basic ***");
  for (const name of ["cookie", "set-cookie", "x-registry-token", "x-api-key", "x-session-id"]) {
    assert.equal(redactHeader(name, "value"), "***", name);
  }
  assert.equal(
    redactHeader("location", "https://s3.example/b?X-Amz-Signature=abc"),
    "https://s3.example/b?X-Amz-Signature=***",
  );
  assert.equal(
    redactHeader("www-authenticate", 'Bearer realm="https://auth.example/token?x=1",service="r"'),
    'Bearer realm="https://auth.example/token?x=***",service="r"',
  );
  assert.equal(redactHeader("content-type", "application/json"), "application/json");
});

Deno.test("logging: one redacted line per exchange, and each exchange's raw headers for --debug", async () => {
  const lines: string[] = [];
  const exchanges: HttpExchange[] = [];
  const fake = scriptedFetch({
    ...response(200, { headers: { "docker-content-digest": "sha256:1" } }),
    statusText: "OK",
  });
  const send = logging(fake.fetch, {
    log: (line) => lines.push(line),
    onExchange: (exchange) => exchanges.push(exchange),
  });
  const url = "https://s3.example/b?X-Amz-Signature=abc&digest=sha256:1";
  await send(request("GET", url, { headers: { authorization: "Bearer abc" } }));
  assert.deepEqual(lines, ["GET https://s3.example/b?X-Amz-Signature=***&digest=sha256:1 -> 200"]);
  assert.equal(exchanges.length, 1);
  const [exchange] = exchanges;
  assert.equal(exchange.url.href, url, "the receiver redacts: it gets the URL as sent");
  assert.equal(exchange.requestHeaders.get("authorization"), "Bearer abc");
  assert.equal(exchange.responseHeaders.get("docker-content-digest"), "sha256:1");
  assert.deepEqual([exchange.method, exchange.status, exchange.statusText], ["GET", 200, "OK"]);
});

Deno.test("logging: a failure is logged in the error's words; an abort is not logged", async () => {
  const lines: string[] = [];
  const url = "http://127.0.0.1:9/v2/?_state=x";
  const shown = "HEAD http://127.0.0.1:9/v2/?_state=***";
  const refused = new NetworkError(`${shown}: cannot connect to 127.0.0.1:9: connection refused`);
  const log = (line: string) => lines.push(line);
  await assert.rejects(
    logging(scriptedFetch(refused).fetch, { log })(request("HEAD", url)),
    refused,
  );
  assert.deepEqual(lines, [`${shown} -> cannot connect to 127.0.0.1:9: connection refused`]);

  const reason = new Error("stopped");
  await assert.rejects(
    logging(scriptedFetch(reason).fetch, { log })(
      request("HEAD", url, { signal: AbortSignal.abort(reason) }),
    ),
    reason,
  );
  assert.equal(lines.length, 1);
});

Deno.test("logging: without a log or an exchange receiver it adds nothing", () => {
  const { fetch } = scriptedFetch(response(200));
  assert.equal(logging(fetch, {}), fetch);
});
