/**
 * The `--json` output of every command, and the JSON lines of `sync`, validate against the
 * schemas documented in `docs/schemas/`; the validator itself is checked on cases written by
 * hand first, so that a lenient validator cannot pass a wrong output.
 */
import assert from "node:assert/strict";
import { lineSchemas, schemaOf } from "../scripts/gen-cli-docs.ts";
import { COMMANDS } from "../src/cli/commands/mod.ts";
import { ocisync, type RunOptions } from "./helpers/cli.ts";
import { type Schema, validate } from "./helpers/json_schema.ts";
import { startRegistry } from "./helpers/registry.ts";
import { writeTree } from "./helpers/tree.ts";
import { requirePip, writeWheels } from "./helpers/wheels.ts";
import { sha256Hex } from "./helpers/hash.ts";

const SCHEMAS = new URL("../docs/schemas/", import.meta.url);

function schema(name: string): Schema {
  return JSON.parse(Deno.readTextFileSync(new URL(`${name}.schema.json`, SCHEMAS)));
}

function assertValid(name: string, value: unknown): void {
  assert.deepEqual(validate(schema(name), value), [], `${name}: ${JSON.stringify(value)}`);
}

/** Runs a command with `--json`, expects success, and returns the parsed document. */
async function json(args: string[], options?: RunOptions): Promise<unknown> {
  const result = await ocisync([...args, "--json"], options);
  assert.equal(result.code, 0, `ocisync ${args.join(" ")}: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

function jsonLines(text: string): unknown[] {
  return text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line));
}

const TREE = {
  "flows": { type: "dir" as const },
  "flows/flow.py": { type: "file" as const, content: "print('hello')\n" },
  "flows/notes.txt": { type: "file" as const, content: "notes\n" },
};

Deno.test("the validator: each keyword accepts what it should and refuses the rest", () => {
  const digest = { type: "string", pattern: "^sha256:[a-f0-9]{64}$" };
  const root: Schema = {
    $defs: { digest },
    type: "object",
    properties: {
      digest: { $ref: "#/$defs/digest" },
      tag: { type: ["string", "null"] },
      kind: { enum: ["image", "artifact"] },
      sizes: { type: "array", items: { type: "integer" } },
      labels: { type: "object", additionalProperties: { type: "string" } },
      either: { oneOf: [{ type: "string" }, { type: "integer" }] },
    },
    required: ["digest"],
    additionalProperties: false,
  };
  const good = {
    digest: `sha256:${"a".repeat(64)}`,
    tag: null,
    kind: "image",
    sizes: [1, 2],
    labels: { a: "b" },
    either: 3,
  };
  assert.deepEqual(validate(root, good), []);
  const cases: [unknown, RegExp][] = [
    [{}, /^\/: digest is required$/],
    [{ ...good, digest: "sha256:xyz" }, /^\/digest: "sha256:xyz" does not match/],
    [{ ...good, tag: 1 }, /^\/tag: 1 is not of type string or null$/],
    [{ ...good, kind: "index" }, /^\/kind: "index" is not one of/],
    [{ ...good, sizes: [1, 2.5] }, /^\/sizes\/1: 2.5 is not of type integer$/],
    [{ ...good, labels: { a: 1 } }, /^\/labels\/a: 1 is not of type string$/],
    [{ ...good, either: true }, /^\/either: matches 0 of the oneOf schemas, not 1$/],
    [{ ...good, extra: 1 }, /^\/: extra is not allowed$/],
    [[good], /^\/: .* is not of type object$/],
  ];
  for (const [value, expected] of cases) {
    const errors = validate(root, value);
    assert.equal(errors.length, 1, `${JSON.stringify(value)}: ${errors}`);
    assert.match(errors[0], expected);
  }
  assert.deepEqual(validate({ oneOf: [{ type: "number" }, { type: "integer" }] }, 1), [
    "/: matches 2 of the oneOf schemas, not 1",
  ]);
  assert.throws(() => validate({ minimum: 1 }, 2), /unsupported keyword minimum/);
  assert.throws(() => validate({ $ref: "#/$defs/nothing" }, 2), /cannot resolve/);
});

Deno.test("every command with --json has a documented schema, and every schema is used", () => {
  const files = [...Deno.readDirSync(SCHEMAS)].map((entry) => entry.name).sort();
  const documented = COMMANDS.map((command) => schemaOf(command.spec))
    .filter((file) => file !== undefined);
  assert.deepEqual(files, [...new Set([...documented, ...lineSchemas()])].sort());
  for (const file of files) {
    const loaded = schema(file.replace(".schema.json", ""));
    assert.equal(loaded.$schema, "https://json-schema.org/draft/2020-12/schema", file);
    assert.equal(typeof loaded.title, "string", file);
  }
});

Deno.test("--json of pack, push, pull, copy, inspect, tags, gc, build, deps and version", async () => {
  requirePip();
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-json-" });
  try {
    await writeTree(tmp, TREE);
    const layout = `${tmp}/layout`;
    assertValid("pack", await json(["pack", `${tmp}/flows`, "-o", `${tmp}/flows.tar.gz`]));
    assertValid(
      "push",
      await json(["push", `oci:${layout}:amd64`, `${tmp}/flows:/opt/flows`, "-t", "latest"]),
    );
    await json(["push", `oci:${layout}:arm64`, `${tmp}/flows`, "--platform", "linux/arm64"]);
    assertValid(
      "push",
      await json(["push", `oci:${layout}:files`, `${tmp}/flows/notes.txt`, "--files"].concat(
        ["--artifact-type", "application/vnd.test"],
      )),
    );
    const [pulled, artifact, copied, inspected, tags, version] = await Promise.all([
      json(["pull", `oci:${layout}:amd64`, "-o", `${tmp}/out`]),
      json(["pull", `oci:${layout}:files`, "-o", `${tmp}/files`]),
      json(["copy", `oci:${layout}:amd64`, `oci:${tmp}/copy:v1`]),
      json(["inspect", `oci:${layout}:amd64`]),
      json(["tags", `oci:${layout}`]),
      json(["version"]),
    ]);
    assertValid("pull", pulled);
    assertValid("pull", artifact);
    assertValid("copy", copied);
    assertValid("inspect", inspected);
    assertValid("tags", tags);
    assertValid("version", version);

    // An index over the two images, written by hand, as another tool would.
    const index = JSON.parse(await Deno.readTextFile(`${layout}/index.json`));
    const byTag = (tag: string) =>
      index.manifests.find((m: { annotations?: Record<string, string> }) =>
        m.annotations?.["org.opencontainers.image.ref.name"] === tag
      );
    const child = (tag: string, architecture: string) => {
      const { mediaType, digest, size } = byTag(tag);
      return { mediaType, digest, size, platform: { os: "linux", architecture } };
    };
    const bytes = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [child("amd64", "amd64"), child("arm64", "arm64")],
    }));
    const hex = sha256Hex(bytes);
    await Deno.writeFile(`${layout}/blobs/sha256/${hex}`, bytes);
    index.manifests.push({
      mediaType: "application/vnd.oci.image.index.v1+json",
      digest: `sha256:${hex}`,
      size: bytes.length,
      annotations: { "org.opencontainers.image.ref.name": "multi" },
    });
    await Deno.writeTextFile(`${layout}/index.json`, JSON.stringify(index));
    const inspectedIndex = await json(["inspect", `oci:${layout}:multi`]);
    assert.ok("index" in (inspectedIndex as object));
    assertValid("inspect", inspectedIndex);

    await Deno.remove(`${tmp}/copy/index.json`);
    await Deno.writeTextFile(`${tmp}/copy/index.json`, '{"schemaVersion":2,"manifests":[]}');
    const gc = await json(["gc", `oci:${tmp}/copy`, "--grace", "0"]) as { removed: unknown[] };
    assert.ok(gc.removed.length > 0);
    assertValid("gc", gc);

    await Deno.writeTextFile(
      `${tmp}/ocisync.yaml`,
      "image: oci:./built:dev\nlayers:\n  - source: flows\n    dest: /opt/prefect/flows\n",
    );
    const built = await json(["build", "-f", `${tmp}/ocisync.yaml`, "--dry-run"]);
    assert.equal((built as { dry_run?: boolean }).dry_run, true);
    assertValid("push", built);

    await writeWheels(`${tmp}/wheels`);
    await Deno.writeTextFile(`${tmp}/requirements.txt`, "purepkg==1.0\n");
    const deps = await json([
      ...["deps", "-r", `${tmp}/requirements.txt`, "-o", `${tmp}/deps.tar.gz`],
      ...["--installer", "pip", "--no-index", "--find-links", `${tmp}/wheels`, "--no-cache"],
    ]);
    assertValid("deps", deps);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("--json of login, logout, push, tags; sync --events and --log-format json lines", async () => {
  const registry = await startRegistry({ auth: "basic" });
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-json-" });
  try {
    await writeTree(tmp, TREE);
    const env = { DOCKER_CONFIG: `${tmp}/docker` };
    const login = await json(
      ["login", registry.host, "-u", registry.username, "--password-stdin"],
      { env, stdin: registry.password },
    );
    assertValid("login", login);
    // A repository's credential, as podman keeps one: its key is named.
    const scoped = await json(
      ["login", `${registry.host}/t/flows`, "-u", registry.username, "--password-stdin"],
      { env, stdin: registry.password },
    );
    assertValid("login", scoped);
    assert.equal((scoped as { namespace?: string }).namespace, "t/flows");
    const ref = `${registry.host}/t/flows:v1`;
    assertValid(
      "push",
      await json(
        ["push", ref, `${tmp}/flows/flow.py`, `${tmp}/flows/notes.txt`, "--files"].concat(
          ["--artifact-type", "application/vnd.test"],
        ),
        { env },
      ),
    );
    assertValid("tags", await json(["tags", `${registry.host}/t/flows`], { env }));

    const sync = await ocisync(
      ["sync", ref, "--once", "--events", "--encoding", "base64", "--log-format", "json"],
      { env },
    );
    assert.equal(sync.code, 0, sync.stderr);
    const events = jsonLines(sync.stdout);
    assert.deepEqual(events.map((e) => (e as { action: string }).action), ["put", "put", "synced"]);
    for (const event of events) assertValid("sync-events", event);
    const log = jsonLines(sync.stderr);
    assert.equal((log[0] as { status: string }).status, "changed");
    for (const line of log) assertValid("sync-log", line);
    // A warning and the error the process exits with are JSON lines too, the dispatcher's hint
    // included: nothing but JSON reaches a log shipper.
    await Deno.writeTextFile(`${tmp}/bad-state.json`, "not a state");
    const failed = await ocisync(
      ["sync", `${registry.host}/t/flows:nope`, "--once", "--events", "--log-format", "json"]
        .concat(["--state", `${tmp}/bad-state.json`]),
      { env },
    );
    assert.equal(failed.code, 4, failed.stderr);
    const lines = jsonLines(failed.stderr) as Record<string, unknown>[];
    for (const line of lines) assertValid("sync-log", line);
    assert.match(String(lines.find((l) => l.level === "warning")?.msg), /is not valid/);
    const last = lines.at(-1)!;
    assert.equal(last.level, "error");
    assert.equal(last.exitCode, 4);
    assert.match(String(last.hint), /has the tags v1/);

    assertValid("logout", await json(["logout", `${registry.host}/t/flows`], { env }));
    assertValid("logout", await json(["logout", registry.host], { env }));
  } finally {
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});
