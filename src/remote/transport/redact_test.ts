import assert from "node:assert/strict";
import { redactHeader, redactMessage, redactUrl, replaceUrls } from "./redact.ts";

/** The exchange the headers below came with: an upload to a registry. */
const BASE = new URL("https://r.example/v2/app/blobs/uploads/?mount=sha256:1&from=lib");

Deno.test("redactHeader: a relative, scheme-relative or upper-case Location is resolved and redacted whole", () => {
  const cases: [string, string, URL | undefined, string][] = [
    [
      "location",
      "/v2/app/blobs/uploads/uuid?_state=SECRETSTATE1",
      BASE,
      "https://r.example/v2/app/blobs/uploads/uuid?_state=***",
    ],
    [
      "Location",
      "uuid-2?_state=SECRETSTATE2",
      BASE,
      "https://r.example/v2/app/blobs/uploads/uuid-2?_state=***",
    ],
    [
      "location",
      "HTTPS://s3.example/b?X-Amz-Signature=abc",
      BASE,
      "https://s3.example/b?X-Amz-Signature=***",
    ],
    [
      "location",
      "//s3.example/b?X-Amz-Signature=abc",
      BASE,
      "https://s3.example/b?X-Amz-Signature=***",
    ],
    [
      "content-location",
      "/v2/app/manifests/v1?token=SECRET#frag",
      BASE,
      "https://r.example/v2/app/manifests/v1?token=***",
    ],
    // Without the exchange's URL, a relative one cannot be placed: it is hidden, not shown.
    ["location", "/v2/app/blobs/uploads/uuid?_state=SECRETSTATE1", undefined, "***"],
    ["location", "//s3.example/b?X-Amz-Signature=abc", undefined, "***"],
    // Nor is one that does not parse.
    ["location", "http://[::1/b?X-Amz-Signature=abc", BASE, "***"],
  ];
  for (const [name, value, base, expected] of cases) {
    assert.equal(redactHeader(name, value, base), expected, value);
  }
});

Deno.test("redactHeader: query values after ; or , are redacted with the rest of the query", () => {
  assert.equal(
    redactHeader("location", "https://s3/b?a=1;X-Amz-Signature=abc", BASE),
    "https://s3/b?a=***;X-Amz-Signature=***",
  );
  // A public parameter's value ends at `;`, as some servers read it: what follows is not shown.
  assert.equal(
    redactHeader("location", "https://s3/b?digest=sha256:1;X-Amz-Signature=abc", BASE),
    "https://s3/b?digest=sha256:1;X-Amz-Signature=***",
  );
  assert.equal(
    redactHeader("location", "https://s3/b?a=1,X-Amz-Signature=abc", BASE),
    "https://s3/b?a=***",
  );
  // Inside a longer value, the URL runs on past `;` and `,`.
  assert.equal(
    redactHeader("www-authenticate", "Bearer realm=https://auth.example/t?a=1;sig=abc,service=r"),
    "Bearer realm=https://auth.example/t?a=***;sig=***",
  );
});

Deno.test("redactHeader: each target of a Link is resolved and redacted, its parameters kept", () => {
  assert.equal(
    redactHeader("link", '</v2/app/tags/list?n=10&last=x&token=SECRET>; rel="next"', BASE),
    '<https://r.example/v2/app/tags/list?n=10&last=x&token=***>; rel="next"',
  );
  assert.equal(
    redactHeader(
      "Link",
      '</v2/a?n=1&token=ONE>; rel="next", <HTTPS://S3.example/b?sig=TWO>; rel="alternate"',
      BASE,
    ),
    '<https://r.example/v2/a?n=1&token=***>; rel="next", ' +
      '<https://s3.example/b?sig=***>; rel="alternate"',
  );
  assert.equal(
    redactHeader("link", '</v2/a?token=SECRET>; anchor="https://x.example/?sig=abc"', BASE),
    '<https://r.example/v2/a?token=***>; anchor="https://x.example/?sig=***"',
  );
  // Without a base, or left open, a target is hidden.
  assert.equal(
    redactHeader("link", '</v2/app/tags/list?token=SECRET>; rel="next"'),
    '<***>; rel="next"',
  );
  assert.equal(redactHeader("link", "</v2/app/tags/list?token=SECRET", BASE), "<***");
});

Deno.test("redactHeader: any value that is a URL or a path is redacted whole; others keep their words", () => {
  assert.equal(
    redactHeader("x-upload-url", "HTTPS://s3.example/b?X-Amz-Signature=abc"),
    "https://s3.example/b?X-Amz-Signature=***",
  );
  assert.equal(
    redactHeader("x-next", "/v2/app/blobs/uploads/u?_state=SECRET", BASE),
    "https://r.example/v2/app/blobs/uploads/u?_state=***",
  );
  assert.equal(
    redactHeader("www-authenticate", 'Bearer realm="HTTPS://auth.example/token?x=1",service="r"'),
    'Bearer realm="https://auth.example/token?x=***",service="r"',
  );
  assert.equal(
    redactHeader("warning", '199 - "see //s3.example/b?sig=abc, then retry"', BASE),
    '199 - "see https://s3.example/b?sig=***, then retry"',
  );
  for (
    const [name, value] of [
      ["docker-content-digest", `sha256:${"a".repeat(64)}`],
      ["content-type", "application/vnd.oci.image.manifest.v1+json"],
      ["accept", "application/vnd.oci.image.index.v1+json, */*"],
      ["date", "Tue, 15 Nov 1994 08:12:31 GMT"],
      ["docker-distribution-api-version", "registry/2.0"],
    ]
  ) {
    assert.equal(redactHeader(name, value, BASE), value, name);
  }
});

Deno.test("redactUrl: a public value that decodes to a control character or separator is shown as sent", () => {
  assert.equal(
    redactUrl(new URL("https://r.example/v2/app/tags/list?n=10&last=%0a%1b[2K%26token%3Dx")),
    "https://r.example/v2/app/tags/list?n=10&last=%0a%1b[2K%26token%3Dx",
  );
  // A raw escape in a URL is percent-encoded by the parser, and so shown.
  assert.equal(
    redactUrl(new URL("https://r.example/v2/app/tags/list?last=a\x1bb")),
    "https://r.example/v2/app/tags/list?last=a%1Bb",
  );
  // A plain one reads as it was meant.
  assert.equal(
    redactUrl(new URL("https://r.example/v2/a/blobs/uploads/?mount=sha256%3Aab&from=t%2Fapp")),
    "https://r.example/v2/a/blobs/uploads/?mount=sha256:ab&from=t/app",
  );
  // A public name in disguise is still a name: its value is shown only if it decodes to one.
  assert.equal(
    redactUrl(new URL("https://s3.example/b?%64igest=sha256:1&X%2DAmz%2DSignature=abc")),
    "https://s3.example/b?digest=sha256:1&X-Amz-Signature=***",
  );
});

Deno.test("redactMessage: any scheme in either case, and the whole query whatever it holds", () => {
  assert.equal(
    redactMessage("error sending request for url (HTTPS://s3.example/b?sig=abc): reset"),
    "error sending request for url (https://s3.example/b?sig=***): reset",
  );
  assert.equal(
    redactMessage("error sending request for url (https://s3.example/b?x=)&sig=abc): reset"),
    "error sending request for url (https://s3.example/b?x=***&sig=***): reset",
  );
  assert.equal(
    redactMessage("reading https://s3.example/b?a=1;sig=abc, then https://t.example/?k=v."),
    "reading https://s3.example/b?a=***;sig=***, then https://t.example/?k=***.",
  );
  assert.equal(redactMessage("no url here: /v2/app"), "no url here: /v2/app");
  assert.equal(redactMessage("bad (https://[::1/?sig=abc)"), "bad ((url))");
});

Deno.test("replaceUrls: each URL is replaced, the punctuation after it kept", () => {
  assert.equal(
    replaceUrls("at (HTTP://h.example/v2/closed?a=)&b=c): closed", () => "(url)"),
    "at ((url)): closed",
  );
});

Deno.test("redactUrl: a URL over 1000 characters is cut there, in messages too", () => {
  const long = new URL(`https://r.example/v2/app/tags/list?n=100&last=${"a".repeat(16 << 20)}`);
  const shown = redactUrl(long);
  assert.equal(shown.length, 1000);
  assert.ok(shown.startsWith("https://r.example/v2/app/tags/list?n=100&last=aaa"));
  assert.ok(shown.endsWith("a…"));
  const message = redactMessage(`error sending request for url (${long.href}): Invalid URL`);
  assert.equal(message, `error sending request for url (${shown}): Invalid URL`);
  const short = new URL("https://r.example/v2/app/tags/list?n=100&last=v1");
  assert.equal(redactUrl(short), short.href);
});
