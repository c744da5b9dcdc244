/**
 * `ocisync gc` is safe to run at any time: unreachable blobs younger than `--grace` are kept,
 * temporary files are never touched, and a layout that real `ocisync push` processes write to
 * while gc runs again and again keeps every image it lists whole. Images are checked with
 * node:crypto, not with ocisync.
 */
import assert from "node:assert/strict";
import { ocisync, ocisyncOk, shown } from "./helpers/cli.ts";
import { sha256Hex } from "./helpers/hash.ts";
import { type Schema, validate } from "./helpers/json_schema.ts";
import { withTempDir, writeTree } from "./helpers/tree.ts";

const GC_SCHEMA = new URL("../docs/schemas/gc.schema.json", import.meta.url);
const TWO_HOURS_AGO = () => new Date(Date.now() - 2 * 3_600_000);

/** A descriptor, as index.json and manifests hold them. */
interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/** What `gc --json` prints. */
interface GcJson {
  removed: { digest: string; size: number }[];
  removedTemporary: { path: string; size: number }[];
  freedBytes: number;
  kept: number;
  withinGrace: { digest: string; size: number }[];
}

/** Runs `gc --json` and checks its output against docs/schemas/gc.schema.json. */
async function gcJson(layout: string, ...args: string[]): Promise<GcJson> {
  const json = JSON.parse(await ocisyncOk(["gc", `oci:${layout}`, "--json", ...args]));
  const schema = JSON.parse(await Deno.readTextFile(GC_SCHEMA)) as Schema;
  assert.deepEqual(validate(schema, json), []);
  return json;
}

/** Stores `content` as a blob of the layout, as a writer that crashed before listing it would. */
async function strayBlob(layout: string, content: string, mtime?: Date): Promise<string> {
  const hex = sha256Hex(content);
  const path = `${layout}/blobs/sha256/${hex}`;
  await Deno.writeTextFile(path, content);
  if (mtime) await Deno.utime(path, mtime, mtime);
  return `sha256:${hex}`;
}

/** The bytes of a blob, checked against its descriptor with node:crypto. */
async function checkedBlob(layout: string, descriptor: Descriptor): Promise<Uint8Array> {
  const [algorithm, hex] = descriptor.digest.split(":");
  assert.equal(algorithm, "sha256");
  const bytes = await Deno.readFile(`${layout}/blobs/sha256/${hex}`).catch((error) => {
    throw new Error(`${descriptor.mediaType} ${descriptor.digest} is missing`, { cause: error });
  });
  assert.equal(bytes.length, descriptor.size, `size of ${descriptor.digest}`);
  assert.equal(sha256Hex(bytes), hex, `digest of ${descriptor.digest}`);
  return bytes;
}

/** Checks that every image index.json lists has all its blobs, each matching its digest. */
async function assertComplete(layout: string): Promise<number> {
  const index = JSON.parse(await Deno.readTextFile(`${layout}/index.json`));
  let images = 0;
  for (const entry of index.manifests as Descriptor[]) {
    const manifest = JSON.parse(new TextDecoder().decode(await checkedBlob(layout, entry)));
    for (const child of [manifest.config, ...manifest.layers] as Descriptor[]) {
      await checkedBlob(layout, child);
    }
    images++;
  }
  return images;
}

/** `count` small files named `PREFIX0000.txt`…, whose content depends on `salt`. */
function manyFiles(count: number, salt: string, prefix = "f") {
  return Object.fromEntries(
    Array.from({ length: count }, (_, i) => [
      `${prefix}${String(i).padStart(4, "0")}.txt`,
      { type: "file" as const, content: `${salt} ${i}\n`.repeat(20) },
    ]),
  );
}

Deno.test("gc keeps unreachable blobs younger than --grace and never touches temporary files", async () => {
  await withTempDir("ocisync-gc-", async (tmp) => {
    const layout = `${tmp}/layout`;
    await writeTree(`${tmp}/src`, manyFiles(3, "app"));
    await ocisyncOk(["push", `oci:${layout}:v1`, `${tmp}/src:/app`, "-q"]);
    const old = await strayBlob(layout, "old and unreachable\n", TWO_HOURS_AGO());
    const fresh = await strayBlob(layout, "fresh and unreachable\n");
    // A write in progress, and one that died long ago: gc owns neither.
    const blobs = `${layout}/blobs/sha256`;
    const temps = {
      [`${blobs}/.${fresh.slice(7)}.0a1b2c3d.tmp`]: "in progress",
      [`${blobs}/.${"0".repeat(64)}.deadbeef.tmp`]: "died",
    };
    for (const [path, content] of Object.entries(temps)) await Deno.writeTextFile(path, content);
    const died = Object.keys(temps)[1];
    await Deno.utime(died, TWO_HOURS_AGO(), TWO_HOURS_AGO());
    // A gc killed while it had a listed blob set aside: the next one puts it back.
    const manifest = JSON.parse(await Deno.readTextFile(`${layout}/index.json`)).manifests[0];
    await Deno.rename(
      `${blobs}/${manifest.digest.slice(7)}`,
      `${blobs}/.${manifest.digest.slice(7)}.gc`,
    );

    const first = await gcJson(layout);
    const size = (text: string) => new TextEncoder().encode(text).length;
    assert.deepEqual(first.removed, [{ digest: old, size: size("old and unreachable\n") }]);
    assert.equal(first.freedBytes, size("old and unreachable\n"));
    assert.deepEqual(first.withinGrace, [{ digest: fresh, size: size("fresh and unreachable\n") }]);
    assert.equal(first.kept, 4, "config, layer, manifest and the fresh blob");
    for (const [path, content] of Object.entries(temps)) {
      assert.equal(await Deno.readTextFile(path), content, path);
    }
    assert.equal(await assertComplete(layout), 1);

    // A shorter grace period than the fresh blob's age, then none: only then does it go.
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual((await gcJson(layout, "--grace", "10ms")).removed.map((b) => b.digest), [
      fresh,
    ]);
    assert.deepEqual(await gcJson(layout, "--grace", "0"), {
      removed: [],
      removedTemporary: [],
      freedBytes: 0,
      kept: 3,
      withinGrace: [],
    });
    for (const path of Object.keys(temps)) assert.ok(await Deno.stat(path), path);
    assert.equal(await assertComplete(layout), 1);

    const bad = await ocisync(["gc", `oci:${layout}`, "--grace", "soon"]);
    assert.equal(bad.code, 2, shown(bad));
    assert.match(bad.stderr, /--grace must be a duration/);
  });
});

Deno.test("a push that reuses old unreachable blobs makes them young, so gc keeps them", async () => {
  await withTempDir("ocisync-gc-", async (tmp) => {
    const layout = `${tmp}/layout`;
    await writeTree(`${tmp}/src`, manyFiles(3, "reused"));
    const push = () => ocisyncOk(["push", `oci:${layout}:v1`, `${tmp}/src:/app`, "--json"]);
    await push();
    // Unlisted and two hours old: what gc removes, unless a push uses them again.
    const unlist = () =>
      Deno.writeTextFile(`${layout}/index.json`, '{"schemaVersion":2,"manifests":[]}');
    await unlist();
    const blobs = [...Deno.readDirSync(`${layout}/blobs/sha256`)].map((e) => `sha256:${e.name}`);
    for (const digest of blobs) {
      await Deno.utime(
        `${layout}/blobs/sha256/${digest.slice(7)}`,
        TWO_HOURS_AGO(),
        TWO_HOURS_AGO(),
      );
    }
    const again = JSON.parse(await push());
    assert.equal(again.uploaded, 0, "every blob was reused");
    // As if gc ran after the push's blobs and before its manifest was listed.
    await unlist();
    const result = await gcJson(layout);
    assert.deepEqual(result.removed, []);
    assert.deepEqual(result.withinGrace.map((b) => b.digest), blobs.sort());
  });
});

Deno.test("gc run again and again while ocisync push writes many files keeps every image whole", async () => {
  await withTempDir("ocisync-gc-", async (tmp) => {
    const layout = `${tmp}/layout`;
    const files = `${tmp}/files`;
    // One blob per file, written one at a time: the blobs wait long for their manifest.
    const push = async (tags: string[], salt: string) => {
      await Deno.remove(files, { recursive: true }).catch(() => {});
      // Most files are the same in every push, so each push reuses blobs the layout has.
      await writeTree(files, { ...manyFiles(60, "shared", "s"), ...manyFiles(20, salt, "o") });
      const names = [...Deno.readDirSync(files)].map((e) => e.name).sort();
      const [first, ...more] = tags;
      const result = await ocisync([
        ...["push", `oci:${layout}:${first}`, "--files", ...names],
        ...["--artifact-type", "application/vnd.example.test", "--concurrency", "1"],
        ...more.flatMap((tag) => ["--tag", tag]),
      ], { cwd: files });
      assert.equal(result.code, 0, shown(result));
    };
    // Those blobs are in the layout already, unreachable and old: only the push that reuses
    // them can tell gc that they are in use again.
    await push(["seed"], "seed");
    await Deno.writeTextFile(`${layout}/index.json`, '{"schemaVersion":2,"manifests":[]}');
    for await (const entry of Deno.readDir(`${layout}/blobs/sha256`)) {
      await Deno.utime(`${layout}/blobs/sha256/${entry.name}`, TWO_HOURS_AGO(), TWO_HOURS_AGO());
    }
    const garbage = await strayBlob(layout, "garbage\n", TWO_HOURS_AGO());

    let pushing = true;
    const runs: GcJson[] = [];
    const collector = (async () => {
      while (pushing) runs.push(await gcJson(layout));
    })();
    collector.catch(() => {}); // awaited below, after the pushes

    const tags: string[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        // Each push's blobs are unreachable until its manifest is listed, at the very end.
        await push(["latest", `run${i}`], `push ${i}`);
        tags.push(`run${i}`);
      }
    } finally {
      pushing = false;
      await collector;
    }

    assert.ok(runs.length >= 2, `gc ran ${runs.length} times`);
    const removed = runs.flatMap((run) => run.removed.map((b) => b.digest));
    assert.ok(removed.includes(garbage), "gc removed the old unreachable blob");
    const index = JSON.parse(await Deno.readTextFile(`${layout}/index.json`));
    const names = index.manifests.map((d: { annotations?: Record<string, string> }) =>
      d.annotations?.["org.opencontainers.image.ref.name"]
    );
    assert.deepEqual(names.sort(), ["latest", ...tags].sort());
    assert.equal(await assertComplete(layout), tags.length + 1);
    // And once nothing writes, gc still leaves every listed image whole.
    await gcJson(layout, "--grace", "0");
    assert.equal(await assertComplete(layout), tags.length + 1);
  });
});

Deno.test({
  name: "gc as root refuses a layout whose blob folder another user can swap, and removes nothing",
  // Root's own gc is what a swap would turn against root's files.
  ignore: Deno.uid() !== 0,
}, async () => {
  await withTempDir("ocisync-gc-owner-", async (tmp) => {
    const layout = `${tmp}/layout`;
    await writeTree(`${tmp}/src`, { "a.txt": { type: "file", content: "a\n" } });
    await ocisyncOk(["push", `oci:${layout}:v1`, `${tmp}/src`]);
    const old = new Date(Date.now() - 3 * 3_600_000);
    const stray = await strayBlob(layout, "unreachable\n", old);
    // The layout's user owns blobs/sha256: they could swap it for a link between removals.
    await Deno.chown(`${layout}/blobs/sha256`, 65534, 65534);
    const refused = await ocisync(["gc", `oci:${layout}`]);
    assert.equal(refused.code, 2, shown(refused));
    assert.match(refused.stderr, /refusing to collect garbage in .* as root: .*owned by uid 65534/);
    assert.match(refused.stderr, /nothing was removed/);
    const hex = stray.slice("sha256:".length);
    assert.equal(await Deno.readTextFile(`${layout}/blobs/sha256/${hex}`), "unreachable\n");
  });
});
