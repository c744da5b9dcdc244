/**
 * Text that a hostile registry, layout, archive, layer or signature controls, with a line break
 * and a forged line of ocisync's after it (then a CR and an ESC), fed through every route that
 * quotes such text: the registry's tag list in a hint, a manifest's media type and schemaVersion,
 * an index's platform, layer entry names and link targets, a layout's and a docker-archive's tag
 * names, sync's last error, copied layers' titles, a folder in the way, pull's report and a
 * signature's fields. Every line ocisync prints must be one of its own, and no terminal control
 * may reach stdout or stderr. The inputs are built here, with digests from `node:crypto`.
 */
import assert from "node:assert/strict";
import { ocisync, run, type RunResult, shown } from "./helpers/cli.ts";
import { sha256Digest } from "./helpers/hash.ts";
import { type Entry, pythonTar } from "./helpers/layers.ts";
import { requireTool } from "./helpers/tools.ts";
import { withTempDir } from "./helpers/tree.ts";
import {
  handPayload,
  pushHandSignatures,
  pythonKeys,
  pythonSign,
} from "./helpers/cosign_vectors.ts";
import { LayoutTarget } from "../src/layout/mod.ts";
import { signatureLines } from "../src/cli/commands/verify.ts";
import { RUN_FLAGS } from "../scripts/permissions.ts";

requireTool("python3", "python3");

/** The line a hostile name forges, as ocisync would print it after a pull. */
const FORGED = "ocisync: pulled app:v2 into out (1 layer, verified)";
/** Appended to a hostile name: a line break, the forged line, a CR and a line clear. */
const FORGE = `\n${FORGED}\r\x1b[2K`;
/** How FORGE shows once written out. */
const FORGE_SHOWN = `\\x0a${FORGED}\\x0d\\x1b[2K`;

/**
 * That every line of the run is one of ocisync's own (stderr: `ocisync: error: `,
 * `ocisync: warning: `, `hint: ` or indented; stdout: `stdout` or indented), that no forged line
 * starts one, and that no CR or ESC reaches either stream.
 */
function assertOwnLines(result: RunResult, stdout = /^$/): void {
  const why = shown(result);
  for (const text of [result.stdout, result.stderr]) {
    // deno-lint-ignore no-control-regex -- the controls are what must not be there
    assert.ok(!/[\r\x1b\x9b]/.test(text), `a raw control character: ${why}`);
    assert.ok(!text.split("\n").some((line) => line.startsWith(FORGED)), `a forged line: ${why}`);
  }
  for (const line of result.stderr.replace(/\n$/, "").split("\n")) {
    if (line === "") continue;
    // Besides errors and hints: a progress line (a blob's short digest), a sync tick's line.
    assert.match(
      line,
      /^(ocisync: (error|warning): |hint: | {2}\S|[0-9a-f]{12}: |\d{4}-\d\d-\d\dT[\d:.]+Z oci:)/,
      why,
    );
  }
  for (const line of result.stdout.replace(/\n$/, "").split("\n")) {
    if (line === "" || line.startsWith("  ")) continue;
    assert.match(line, stdout, why);
  }
}

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

/** An OCI layout built by hand: blobs by digest, and the index entries given. */
class HandLayout {
  readonly entries: Record<string, unknown>[] = [];
  constructor(readonly dir: string) {
    Deno.mkdirSync(`${dir}/blobs/sha256`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
  }

  /** Writes a blob and returns its descriptor. */
  blob(bytes: Uint8Array, mediaType: string, extra: Record<string, unknown> = {}) {
    const digest = sha256Digest(bytes);
    Deno.writeFileSync(`${this.dir}/blobs/sha256/${digest.slice(7)}`, bytes);
    return { mediaType, digest, size: bytes.byteLength, ...extra };
  }

  /** An image of these layer tars (uncompressed, each with its annotations) and config. */
  image(tars: Uint8Array[], titles: (string | undefined)[] = [], config?: Uint8Array) {
    const layers = tars.map((tar, i) =>
      this.blob(
        tar,
        "application/vnd.oci.image.layer.v1.tar",
        titles[i] === undefined
          ? {}
          : { annotations: { "org.opencontainers.image.title": titles[i] } },
      )
    );
    const configBytes = config ?? json({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: tars.map((tar) => sha256Digest(tar)) },
    });
    return this.manifest({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: this.blob(configBytes, "application/vnd.oci.image.config.v1+json"),
      layers,
    });
  }

  /** An artifact of one file, `hello`, titled `title`. */
  artifact(title: string) {
    const file = this.blob(new TextEncoder().encode("hello"), "text/plain", {
      annotations: { "org.opencontainers.image.title": title },
    });
    return this.manifest({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: "application/x-test",
      config: this.blob(json({}), "application/vnd.oci.empty.v1+json"),
      layers: [file],
    });
  }

  /** A manifest (or index) document as a blob of the manifest media type. */
  manifest(doc: unknown, mediaType = "application/vnd.oci.image.manifest.v1+json") {
    return this.blob(json(doc), mediaType);
  }

  /** Names `descriptor` `tag` in the index, and writes the index. */
  tag(tag: string, descriptor: Record<string, unknown>): string {
    this.entries.push({ ...descriptor, annotations: { "org.opencontainers.image.ref.name": tag } });
    Deno.writeTextFileSync(
      `${this.dir}/index.json`,
      JSON.stringify({ schemaVersion: 2, manifests: this.entries }),
    );
    return `oci:${this.dir}:${tag}`;
  }
}

/** A tar of `entries`, written by Python's tarfile. */
async function tar(tmp: string, entries: Entry[]): Promise<Uint8Array> {
  const path = `${tmp}/${crypto.randomUUID()}.tar`;
  const bytes = await pythonTar(path, entries);
  await Deno.remove(path);
  return bytes;
}

/**
 * A registry that lists the tags given (a hostile one) for every repository, and knows no
 * manifest: a pull of any tag is MANIFEST_UNKNOWN, whose hint lists the tags.
 */
function taggingRegistry(tags: string[]): { host: string; close(): Promise<void> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    const type = { "content-type": "application/json" };
    if (path === "/v2/") return new Response("{}", { headers: type });
    if (path.endsWith("/tags/list")) {
      return new Response(JSON.stringify({ name: "app", tags }), { headers: type });
    }
    const body = JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "unknown" }] });
    return new Response(request.method === "HEAD" ? null : body, { status: 404, headers: type });
  });
  return { host: `127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

Deno.test("a hostile registry's tag list in the hint forges no line", async () => {
  await withTempDir("ocisync-forged-", async (tmp) => {
    const registry = taggingRegistry(["v1", `v3${FORGE}`, "v4\u202eevil"]);
    try {
      const result = await ocisync(["pull", `${registry.host}/app:v2`, "-o", `${tmp}/out`]);
      assert.equal(result.code, 4, shown(result));
      assertOwnLines(result);
      // Names that are no tags are refused with the listing, so the hint names none of them.
      assert.match(result.stderr, /^hint: check the tag; list them with `ocisync tags .*\/app`$/m);
      assert.doesNotMatch(result.stderr, /has the tags|ocisync: pulled/);
    } finally {
      await registry.close();
    }
  });
});

/** The refusals of hostile documents and layers, each with the exit code it gives. */
const REFUSED: {
  name: string;
  command: (layout: HandLayout, tmp: string) => string[] | Promise<string[]>;
  code: number;
  shows?: RegExp;
}[] = [
  {
    name: "a manifest's mediaType",
    command: (layout, tmp) => {
      const doc = { schemaVersion: 2, mediaType: `application/x${FORGE}`, config: {}, layers: [] };
      return ["pull", layout.tag("mt", layout.manifest(doc)), "-o", `${tmp}/out`];
    },
    code: 5,
    shows: /unsupported media type application\/x\\x0aocisync: pulled/,
  },
  {
    name: "a schemaVersion that is no number",
    command: (layout) => {
      const doc = { schemaVersion: `2${FORGE}`, layers: [] };
      return ["inspect", layout.tag("sv", layout.manifest(doc))];
    },
    code: 5,
    shows: /schemaVersion is 2\\x0aocisync: pulled/,
  },
  {
    name: "an index's platform",
    command: async (layout, tmp) => {
      const image = layout.image([await tar(tmp, [{ type: "file", name: "a", data: "a" }])]);
      const index = {
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [{ ...image, platform: { os: "plan9", architecture: `mips${FORGE}` } }],
      };
      const ref = layout.tag("idx", layout.manifest(index, index.mediaType));
      return ["pull", ref, "-o", `${tmp}/out`];
    },
    code: 4,
    shows: /it has plan9\/mips\\x0aocisync: pulled/,
  },
  {
    name: "a layer entry's name",
    command: async (layout, tmp) => {
      const entries: Entry[] = [{ type: "file", name: `../evil${FORGE}`, data: "x" }];
      return [
        "pull",
        layout.tag("name", layout.image([await tar(tmp, entries)])),
        "-o",
        `${tmp}/out`,
      ];
    },
    code: 7,
    shows: /refusing layer entry "\.\.\/evil\\x0aocisync: pulled/,
  },
  {
    name: "a hard link's target that is no file",
    command: async (layout, tmp) => {
      const entries: Entry[] = [{ type: "hardlink", name: "h", link: `x${FORGE}` }];
      return [
        "pull",
        layout.tag("nofile", layout.image([await tar(tmp, entries)])),
        "-o",
        `${tmp}/out`,
      ];
    },
    code: 7,
    shows: /links to x\\x0aocisync: pulled .*, which is not a file/,
  },
  {
    name: "a hard link's target",
    command: async (layout, tmp) => {
      const entries: Entry[] = [{ type: "hardlink", name: "h", link: `../../x${FORGE}` }];
      return [
        "pull",
        layout.tag("hard", layout.image([await tar(tmp, entries)])),
        "-o",
        `${tmp}/out`,
      ];
    },
    code: 7,
  },
  {
    name: "a layout's tag names, listed when a tag is not found",
    command: async (layout, tmp) => {
      const image = layout.image([await tar(tmp, [{ type: "file", name: "a", data: "a" }])]);
      layout.tag(`v1${FORGE}`, image);
      return ["pull", `oci:${layout.dir}:nope`, "-o", `${tmp}/out`];
    },
    code: 4,
    shows: /its tags are v1\\x0aocisync: pulled/,
  },
  {
    name: "a docker-archive's RepoTags, listed when a tag is not found",
    command: async (_layout, tmp) => {
      const config = JSON.stringify({
        architecture: "amd64",
        os: "linux",
        rootfs: { type: "layers", diff_ids: [] },
      });
      const manifest = JSON.stringify([
        { Config: "config.json", RepoTags: [`app:v1${FORGE}`], Layers: [] },
      ]);
      await pythonTar(`${tmp}/docker.tar`, [
        { type: "file", name: "config.json", data: config },
        { type: "file", name: "manifest.json", data: manifest },
      ]);
      return ["pull", `docker-archive:${tmp}/docker.tar:other:v9`, "-o", `${tmp}/out`];
    },
    code: 4,
    shows: /its RepoTags are app:v1\\x0aocisync: pulled/,
  },
  {
    name: "sync's last error, in its text log",
    command: (layout, tmp) => {
      const doc = { schemaVersion: 2, mediaType: `application/x${FORGE}`, config: {}, layers: [] };
      return ["sync", layout.tag("sync", layout.manifest(doc)), "-o", `${tmp}/live`, "--once"];
    },
    code: 5,
    shows: /^ocisync: error: .*application\/x\\x0aocisync: pulled/m,
  },
  {
    name: "two copied layers of one title",
    command: async (layout, tmp) => {
      const title = `t${FORGE}`;
      const image = layout.image(
        [
          await tar(tmp, [{ type: "file", name: "a", data: "a" }]),
          await tar(tmp, [{ type: "file", name: "b", data: "b" }]),
        ],
        [title, title],
      );
      return ["pull", layout.tag("copy", image), "-o", `${tmp}/out`, "--layer-operation", "copy"];
    },
    code: 7,
    shows: /refusing to copy two layers as "t\\x0aocisync: pulled/,
  },
  {
    name: "a file of the image where the destination has a folder",
    command: async (layout, tmp) => {
      const name = `d${FORGE}`;
      await Deno.mkdir(`${tmp}/out/${name}`, { recursive: true });
      await Deno.writeTextFile(`${tmp}/out/${name}/kept`, "kept");
      const entries: Entry[] = [{ type: "file", name, data: "x" }];
      return [
        "pull",
        layout.tag("conflict", layout.image([await tar(tmp, entries)])),
        "-o",
        `${tmp}/out`,
      ];
    },
    code: 1,
    shows: /has a file at d\\x0aocisync: pulled/,
  },
];

for (const { name, command, code, shows } of REFUSED) {
  Deno.test(`forged lines: ${name} is written out on the error's one line`, async () => {
    await withTempDir("ocisync-forged-", async (tmp) => {
      const args = await command(new HandLayout(`${tmp}/layout`), tmp);
      const result = await ocisync(args);
      assert.equal(result.code, code, shown(result));
      assertOwnLines(result);
      assert.match(result.stderr, shows ?? new RegExp(FORGE_SHOWN.replace(/[\\[().]/g, "\\$&")));
    });
  });
}

Deno.test("forged lines: pull's report lists hostile entry names and artifact titles on its lines", async () => {
  await withTempDir("ocisync-forged-", async (tmp) => {
    const layout = new HandLayout(`${tmp}/layout`);
    const entries: Entry[] = [
      { type: "file", name: "a.txt", data: "a" },
      { type: "file", name: `b${FORGE}c`, data: "b" },
    ];
    const image = layout.tag("image", layout.image([await tar(tmp, entries)]));
    const pulled = await ocisync(["pull", image, "-o", `${tmp}/image`]);
    assert.equal(pulled.code, 0, shown(pulled));
    assertOwnLines(pulled, /^pulled /);
    assert.match(pulled.stdout, /^ {2}entries: a\.txt, b\\x0aocisync: pulled .*\\x1b\[2Kc$/m);

    const artifact = layout.tag("artifact", layout.artifact(`f${FORGE}g`));
    const files = await ocisync(["pull", artifact, "-o", `${tmp}/artifact`]);
    assert.equal(files.code, 0, shown(files));
    assertOwnLines(files, /^pulled /);
    assert.match(files.stdout, /^ {2}files: f\\x0aocisync: pulled .*g$/m);
  });
});

Deno.test("forged lines: verify shows a signature's reference and annotations on one line", async () => {
  const keys = await pythonKeys();
  await withTempDir("ocisync-forged-", async (tmp) => {
    const hand = new HandLayout(`${tmp}/layout`);
    const image = hand.image([await tar(tmp, [{ type: "file", name: "a", data: "a" }])]);
    const ref = hand.tag("v1", image);
    await Deno.writeTextFile(`${tmp}/cosign.pub`, keys.public);
    // The payload's strings are JSON: the line breaks are the decoded text's.
    const quoted = (text: string) => JSON.stringify(text).slice(1, -1);
    const payload = handPayload(
      image.digest,
      quoted(`example.com/app${FORGE}`),
      JSON.stringify({ note: `ok${FORGE}` }),
    );
    const layout = await LayoutTarget.open(hand.dir);
    await pushHandSignatures(layout, image.digest, [
      { payload, signature: await pythonSign(keys.pkcs8, payload) },
    ]);
    for (const command of ["verify", "pull"]) {
      const args = command === "verify"
        ? ["verify", ref, "--key", `${tmp}/cosign.pub`]
        : ["pull", ref, "--verify-key", `${tmp}/cosign.pub`, "-o", `${tmp}/out`];
      const result = await ocisync(args);
      assert.equal(result.code, 0, shown(result));
      assertOwnLines(result, /^(verified|pulled) /);
      assert.match(
        result.stdout,
        /^ {2}classic signature by key .*\(docker-reference example\.com\/app\\x0aocisync: pulled .*; note=ok\\x0aocisync: pulled .*\)$/m,
      );
    }
  });
});

Deno.test("signatureLines: a keyless signature's identity and issuer are written out", () => {
  const [line] = signatureLines([
    {
      form: "bundle",
      kind: "keyless",
      identity: `ci@example.com${FORGE}`,
      issuer: `https://issuer.example${FORGE}`,
    } as unknown as Parameters<typeof signatureLines>[0][number],
  ]);
  assert.equal(
    line,
    `bundle signed keyless by ci@example.com${FORGE_SHOWN} (issuer https://issuer.example${FORGE_SHOWN})`,
  );
});

Deno.test("forged lines: inspect --config and --raw show escapes written out on a terminal, and exact bytes in a pipe", async () => {
  requireTool("script", "bsdutils");
  await withTempDir("ocisync-forged-", async (tmp) => {
    const layout = new HandLayout(`${tmp}/layout`);
    const config = new TextEncoder().encode(
      '\x1b]0;PWNED\x07\x1b[2J\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07\r\u009b1m\u202e{"os":"linux"}\n',
    );
    const image = layout.image(
      [await tar(tmp, [{ type: "file", name: "a", data: "a" }])],
      [],
      config,
    );
    const ref = layout.tag("v1", image);

    // A pipe gets the blob and the manifest byte for byte.
    const main = new URL("../main.ts", import.meta.url).pathname;
    for (
      const [flag, expected] of [
        ["--config", config],
        ["--raw", await Deno.readFile(`${layout.dir}/blobs/sha256/${image.digest.slice(7)}`)],
      ] as const
    ) {
      const piped = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...RUN_FLAGS, main, "inspect", ref, flag],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(piped.code, 0, new TextDecoder().decode(piped.stderr));
      assert.deepEqual(piped.stdout, expected);
    }

    // A terminal gets its controls written out, the newline kept.
    const command = [Deno.execPath(), "run", ...RUN_FLAGS, main, "inspect", ref, "--config"]
      .map((word) => `'${word}'`).join(" ");
    const screen = await run("script", ["-qec", command, "/dev/null"], { env: { TERM: "xterm" } });
    assert.equal(screen.code, 0, shown(screen));
    // deno-lint-ignore no-control-regex -- the controls are what must not be there
    assert.ok(!/[\x1b\x9b\u202e]/.test(screen.stdout), JSON.stringify(screen.stdout));
    assert.ok(
      screen.stdout.includes(
        '\\x1b]0;PWNED\\x07\\x1b[2J\\x1b]8;;http://evil.example/\\x07click\\x1b]8;;\\x07\\x0d\\u009b1m\\u202e{"os":"linux"}',
      ),
      JSON.stringify(screen.stdout),
    );
  });
});

Deno.test("forged lines: JSON lines stay one line each for a reader that splits at U+2028, NEL or VT", async () => {
  await withTempDir("ocisync-forged-", async (tmp) => {
    const layout = new HandLayout(`${tmp}/layout`);
    // JSON lets these stand raw inside a string; Python's splitlines() ends a line at the first
    // four, a terminal obeys the C1 CSI, and a bidi override reorders what follows.
    const title = "notes\u2028ocisync: pulled\u2029\x85x\x7f\x9b1m\u202e.txt";
    const ref = layout.tag("v1", layout.artifact(title));
    const synced = await ocisync(["sync", ref, "--once", "--events", "--log-format", "json"]);
    assert.equal(synced.code, 0, shown(synced));
    const pulled = await ocisync(["pull", ref, "-o", `${tmp}/out`, "--json"]);
    assert.equal(pulled.code, 0, shown(pulled));

    // A second reader of JSON lines: Python's, which splits where a line-based consumer does.
    const reader = `
import json, sys
events = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8").read().splitlines() if line]
logs = [json.loads(line) for line in open(sys.argv[2], encoding="utf-8").read().splitlines() if line]
document = open(sys.argv[3], encoding="utf-8").read()
assert len(document.splitlines()) == document.count("\\n"), "a line break inside the --json document"
print(json.dumps([[e.get("action"), e.get("path")] for e in events] + [len(logs)] + [json.loads(document)["files"]]))
`;
    for (
      const [name, text] of [["events", synced.stdout], ["log", synced.stderr], [
        "doc",
        pulled.stdout,
      ]]
    ) {
      await Deno.writeTextFile(`${tmp}/${name}`, text);
    }
    const read = await run("python3", ["-c", reader, `${tmp}/events`, `${tmp}/log`, `${tmp}/doc`]);
    assert.equal(read.code, 0, shown(read));
    const [put, synced_, logCount, files] = JSON.parse(read.stdout);
    assert.deepEqual(put, ["put", title]);
    assert.equal(synced_[0], "synced");
    assert.ok(logCount >= 1, shown(synced));
    assert.deepEqual(files, [title]);
    const raw = /[\x7f-\x9f\u2028\u2029\u202e]/;
    for (const text of [synced.stdout, synced.stderr, pulled.stdout]) {
      assert.ok(!raw.test(text), JSON.stringify(text));
    }
  });
});
