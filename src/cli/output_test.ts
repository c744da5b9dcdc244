import assert from "node:assert/strict";
import { OcisyncError } from "../errors/mod.ts";
import { escapeControls, logExchange, Output, type OutputMode } from "./output.ts";

/** An output whose stdout and stderr are kept as text. */
function captured(mode: OutputMode) {
  const decoder = new TextDecoder();
  const stream = () => {
    const chunks: string[] = [];
    return {
      chunks,
      writeSync(bytes: Uint8Array): number {
        chunks.push(decoder.decode(bytes));
        return bytes.length;
      },
    };
  };
  const stdout = stream();
  const stderr = stream();
  return {
    out: new Output(mode, { stdout, stderr }),
    stdout: () => stdout.chunks.join(""),
    stderr: () => stderr.chunks.join(""),
  };
}

/** A layer title as a hostile image might set it: a cleared line, a link, a CR, C1 and DEL. */
const HOSTILE = "app\x1b[2K\x1b]8;;https://evil.example\x07click\x1b]8;;\x07\rok\x08\x7f\x9b2J";
const SHOWN = "app\\x1b[2K\\x1b]8;;https://evil.example\\x07click\\x1b]8;;\\x07\\x0dok\\x08\\x7f" +
  "\\u009b2J";

Deno.test("Output: results, status lines, logs and warnings show control characters written out", () => {
  const { out, stdout, stderr } = captured({ verbose: true, debug: true });
  out.result({ human: `layers\n\t${HOSTILE}`, json: null, quiet: "" });
  out.info(`pulled ${HOSTILE}`);
  out.verbose(`tag ${HOSTILE}`);
  out.debug(`header ${HOSTILE}`);
  out.warn(`annotation ${HOSTILE}`);
  assert.equal(stdout(), `layers\n\t${SHOWN}\n`);
  assert.equal(
    stderr(),
    `pulled ${SHOWN}\ntag ${SHOWN}\nheader ${SHOWN}\nocisync: warning: annotation ${SHOWN}\n`,
  );
});

Deno.test("Output: -q values are written out too; line and paragraph separators are left", () => {
  const { out, stdout } = captured({ quiet: true });
  out.result({ human: "", json: null, quiet: `v1\nv2\x1b[8m\u2028\u2029` });
  assert.equal(stdout(), "v1\nv2\\x1b[8m\u2028\u2029\n");
});

Deno.test("Output: an error's message and hint cannot forge lines or drive the terminal", () => {
  const { out, stderr } = captured({});
  out.error(
    new OcisyncError("denied\rocisync: warning: credentials saved\x1b[1A", {
      hint: `log in\x1b]0;title\x07`,
    }),
  );
  assert.equal(
    stderr(),
    "ocisync: error: denied\\x0docisync: warning: credentials saved\\x1b[1A\n" +
      "hint: log in\\x1b]0;title\\x07\n",
  );
});

/** A name as a hostile registry or image might set it, to forge a line of ocisync's own. */
const FORGING = "v3\nocisync: pulled r.example/app:v2 into ./out\r\x1b[2K\u2028x";
const FORGING_SHOWN = "v3\\x0aocisync: pulled r.example/app:v2 into ./out\\x0d\\x1b[2K\u2028x";

Deno.test("Output: a warning, an error's message and its hint are one line each, whatever they quote", () => {
  const { out, stderr } = captured({});
  out.warn(`tag ${FORGING}`);
  out.error(new OcisyncError(`media type ${FORGING}`, { hint: `the tags ${FORGING}\tv4` }));
  assert.equal(
    stderr(),
    `ocisync: warning: tag ${FORGING_SHOWN}\n` +
      `ocisync: error: media type ${FORGING_SHOWN}\n` +
      `hint: the tags ${FORGING_SHOWN}\\x09v4\n`,
  );
  for (const line of stderr().trimEnd().split("\n")) assert.match(line, /^(ocisync: |hint: )/);
});

Deno.test("Output: another program's words are quoted under the message, each line marked", () => {
  const { out, stderr } = captured({});
  out.error(
    new OcisyncError("pip failed with exit code 1", {
      hint: "above, pip's own messages",
      quoted: ["ERROR: no match\nocisync: pulled r.example/app:v2\r\x1b[1A", "\tlast"],
    }),
  );
  assert.equal(
    stderr(),
    "ocisync: error: pip failed with exit code 1\n" +
      "  | ERROR: no match\n" +
      "  | ocisync: pulled r.example/app:v2\\x0d\\x1b[1A\n" +
      "  | \tlast\n" +
      "hint: above, pip's own messages\n",
  );
  const json = captured({ logLines: true });
  json.out.error(new OcisyncError("pip failed", { quoted: ["a", "b"] }));
  assert.deepEqual(JSON.parse(json.stderr()).quoted, ["a", "b"]);
});

Deno.test("Output: --debug's stack traces keep each message on one line", () => {
  const { out, stderr } = captured({ debug: true });
  out.error(new OcisyncError("outer", { cause: new Error(`inner ${FORGING}`) }));
  const lines = stderr().trimEnd().split("\n");
  assert.ok(lines.includes(`caused by: Error: inner ${FORGING_SHOWN}`), stderr());
  assert.ok(!lines.some((line) => line.startsWith("ocisync: pulled")), stderr());
});

Deno.test("Output: --json is printed as JSON.stringify makes it, but for what breaks a line or drives a terminal", () => {
  const { out, stdout } = captured({ json: true, verbose: true });
  const json = { title: "a\x1bb\x7f\x9b\n\u2028\u202e", n: 1 };
  out.result({ human: HOSTILE, json, quiet: HOSTILE });
  assert.equal(
    stdout(),
    '{\n  "title": "a\\u001bb\\u007f\\u009b\\n\\u2028\\u202e",\n  "n": 1\n}\n',
  );
  assert.deepEqual(JSON.parse(stdout()), json);
});

Deno.test("Output: data is byte for byte into a pipe, and shown with its controls written out on a terminal", () => {
  // A config blob as a hostile registry might serve it: a title, a cleared screen, a link, a
  // CR, C1 CSI, a bidi override, and a byte that is not UTF-8.
  const blob = new Uint8Array([
    ...new TextEncoder().encode("\x1b]0;T\x07\x1b[2J\x1b]8;;http://e\x07a\r\u009b1m\u202e{\n\t}"),
    0xff,
  ]);
  const piped: Uint8Array[] = [];
  const pipe = { writeSync: (b: Uint8Array) => (piped.push(b.slice()), b.length) };
  new Output({}, { stdout: pipe, stderr: pipe }).data(blob);
  assert.deepEqual(new Uint8Array(piped.flatMap((b) => [...b])), blob);

  const shown: string[] = [];
  const terminal = {
    isTerminal: () => true,
    writeSync: (b: Uint8Array) => (shown.push(new TextDecoder().decode(b)), b.length),
  };
  new Output({}, { stdout: terminal, stderr: terminal }).data(blob);
  assert.equal(
    shown.join(""),
    "\\x1b]0;T\\x07\\x1b[2J\\x1b]8;;http://e\\x07a\\x0d\\u009b1m\\u202e{\n\t}\ufffd",
  );
});

Deno.test("Output: draw writes the progress display's escape codes as they are", () => {
  const { out, stderr } = captured({});
  out.draw("\x1b[2A\r\x1b[2K50%\n");
  assert.equal(stderr(), "\x1b[2A\r\x1b[2K50%\n");
});

Deno.test("logExchange: URLs in headers are resolved against the request's and redacted whole", () => {
  const { out, stderr } = captured({ debug: true });
  logExchange(out, {
    method: "POST",
    url: new URL("https://r.example/v2/app/blobs/uploads/?mount=sha256:1&from=lib"),
    requestHeaders: new Headers({ authorization: "Bearer eyJhbGciOi.x.y" }),
    status: 202,
    statusText: "Accepted",
    responseHeaders: new Headers({
      location: "/v2/app/blobs/uploads/uuid?_state=SECRETSTATE1",
      link: '</v2/app/tags/list?n=10&last=x&token=SECRET>; rel="next"',
      "x-note": "a\x1b[2Kb\x9b",
    }),
  }, 7);
  assert.equal(
    stderr(),
    [
      "[7] > POST https://r.example/v2/app/blobs/uploads/?mount=sha256:1&from=lib",
      "[7] > authorization: Bearer ***",
      "[7] < 202 Accepted",
      '[7] < link: <https://r.example/v2/app/tags/list?n=10&last=x&token=***>; rel="next"',
      "[7] < location: https://r.example/v2/app/blobs/uploads/uuid?_state=***",
      "[7] < x-note: a\\x1b[2Kb\\u009b",
      "",
    ].join("\n"),
  );
});

Deno.test("escapeControls: C0 but newline and tab, DEL, C1 and bidi overrides are written out; the rest is left", () => {
  assert.equal(
    escapeControls("\x00\x07\x08\t\n\x0b\x0c\r\x1b\x1f \x7f\x80\x9b\x9f\xa0é\u2028"),
    "\\x00\\x07\\x08\t\n\\x0b\\x0c\\x0d\\x1b\\x1f \\x7f\\u0080\\u009b\\u009f\xa0é\u2028",
  );
  // "flow\u202egnp.py" shows as "flowyp.png"; the marks that only hint a direction are left.
  assert.equal(
    escapeControls("flow\u202egnp.py \u2066x\u2069 \u200e\u200f\u2029"),
    "flow\\u202egnp.py \\u2066x\\u2069 \u200e\u200f\u2029",
  );
});
