/**
 * A local disk that fills up under a pull or a sync: the command fails at once, without reading
 * the rest of the layer from the registry, and says where it could not write. The disk is a small tmpfs mounted here, which gives a
 * real ENOSPC, so the tests need root; as another user they are reported as ignored, by name.
 */
import assert from "node:assert/strict";
import { RUN_FLAGS } from "../scripts/permissions.ts";
import { ocisync, ocisyncOk, run, shown } from "./helpers/cli.ts";
import { registryCli } from "./helpers/cost.ts";
import { randomBytes } from "./helpers/random.ts";
import { withRegistry } from "./helpers/registry.ts";
import type { TestRegistry } from "./helpers/registry.ts";
import { withTempDir } from "./helpers/tree.ts";
import { withTmpfs } from "./helpers/tmpfs.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** Why these tests cannot run here, or undefined when they can. */
const notRoot = Deno.uid() === 0 ? undefined : "they mount a tmpfs, which needs root";

/** Registers a test, or says out loud why it is skipped: no test is skipped silently. */
function test(name: string, fn: () => Promise<void>): void {
  if (notRoot) console.warn(`SKIPPED "${name}": ${notRoot}`);
  Deno.test({ name: notRoot ? `${name} (skipped: ${notRoot})` : name, ignore: !!notRoot, fn });
}

/** The size of the layer: far more than the disk holds. */
const LAYER_BYTES = 48 * 1024 * 1024;

/** Pushes an image of one uncompressed layer of random bytes, and returns its reference. */
async function pushLargeImage(registry: TestRegistry, tmp: string): Promise<string> {
  await Deno.mkdir(`${tmp}/src`);
  await Deno.writeFile(`${tmp}/src/data.bin`, randomBytes(LAYER_BYTES));
  const reference = `${registry.host}/full/disk:v1`;
  const pushed = await registryCli(registry, tmp, [
    "push",
    reference,
    `${tmp}/src:/data`,
    "--compression",
    "none",
    "-q",
  ]);
  assert.equal(pushed.code, 0, shown(pushed));
  return reference;
}

/** The bytes of blobs the registry sent while `action` ran. */
async function blobBytesSentDuring(
  registry: TestRegistry,
  action: () => Promise<void>,
): Promise<number> {
  const before = (await registry.requests()).length;
  await action();
  const requests = (await registry.requests()).slice(before);
  return requests
    .filter((r) => r.method === "GET" && r.path.includes("/blobs/"))
    .reduce((sum, r) => sum + (r.bytes ?? 0), 0);
}

test("pull and sync -o into a full disk stop reading the layer: most of it is never sent", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const reference = await pushLargeImage(registry, tmp);
    const disk = `${tmp}/disk`;
    await withTmpfs(disk, "size=2m", async () => {
      for (
        const args of [
          ["pull", reference, "-o", `${disk}/out`],
          ["sync", reference, "-o", `${disk}/srv`, "--once"],
        ]
      ) {
        let stderr = "";
        const sent = await blobBytesSentDuring(registry, async () => {
          const result = await registryCli(registry, tmp, args);
          assert.notEqual(result.code, 0, shown(result));
          stderr = result.stderr;
        });
        assert.match(stderr, /No space left on device/, args[0]);
        // Before, the whole layer was read to check its digest after the disk refused a write.
        assert.ok(sent < LAYER_BYTES / 2, `${args[0]}: ${sent} of ${LAYER_BYTES} bytes sent`);
      }
    });
  });
});

test("a sync tick that fails on a full disk says where: the folder of -o, standard output for --events", async () => {
  await withTempDir("ocisync-full-disk-", async (tmp) => {
    await Deno.mkdir(`${tmp}/src`);
    await Deno.writeFile(`${tmp}/src/data.bin`, randomBytes(3 * 1024 * 1024));
    const layout = `oci:${tmp}/layout:v1`;
    await ocisyncOk(["push", layout, "--files", `${tmp}/src/data.bin`, "-q"]);
    const disk = `${tmp}/disk`;
    await withTmpfs(disk, "size=1m", async () => {
      await Deno.mkdir(`${disk}/srv`);
      const sync = await ocisync(["sync", layout, "-o", `${disk}/srv`, "--once"]);
      assert.equal(sync.code, 1, shown(sync));
      // The tick's line and the error after it; before, both said only "No space left on device".
      const intoFolder = `sync into ${disk}/srv: No space left on device`;
      assert.equal(sync.stderr.split(intoFolder).length, 3, sync.stderr);

      const command = [Deno.execPath(), "run", ...RUN_FLAGS, MAIN, "sync", layout, "--events"]
        .concat(["--encoding", "base64", "--once"]).map((word) => `'${word}'`).join(" ");
      const events = await run("sh", ["-c", `${command} > '${disk}/events.jsonl'`]);
      assert.equal(events.code, 1, shown(events));
      const toStdout = "writing events to standard output: No space left on device";
      assert.equal(events.stderr.split(toStdout).length, 3, events.stderr);
    });
  });
});

test("gc on a full disk takes its lock and frees the space", async () => {
  await withTempDir("ocisync-full-disk-", async (tmp) => {
    await Deno.mkdir(`${tmp}/small`);
    await Deno.writeTextFile(`${tmp}/small/app.py`, "print('app')\n");
    await Deno.mkdir(`${tmp}/large`);
    await Deno.writeFile(`${tmp}/large/data.bin`, randomBytes(3 * 1024 * 1024));
    const disk = `${tmp}/disk`;
    await withTmpfs(disk, "size=8m", async () => {
      const layout = `${disk}/layout`;
      await ocisyncOk(["push", `oci:${layout}:small`, `${tmp}/small:/app`, "-q"]);
      await ocisyncOk(["push", `oci:${layout}:large`, `${tmp}/large:/data`, "-q"]);
      // The large image untagged: its blobs are garbage.
      const index = JSON.parse(await Deno.readTextFile(`${layout}/index.json`));
      index.manifests = index.manifests.filter(
        (m: { annotations?: Record<string, string> }) =>
          m.annotations?.["org.opencontainers.image.ref.name"] === "small",
      );
      await Deno.writeTextFile(`${layout}/index.json`, JSON.stringify(index));
      // Full: a new file can be made (an inode), but not a byte written to it.
      await run("dd", ["if=/dev/zero", `of=${disk}/fill`, "bs=64k"]);
      await assert.rejects(Deno.writeTextFile(`${disk}/probe`, "x"), /No space left on device/);

      // Before, exit 1: `cannot write the lock …/index.json.lock: No space left on device`.
      const gc = await ocisync(["gc", `oci:${layout}`, "--grace", "0", "--json"]);
      assert.equal(gc.code, 0, shown(gc));
      assert.ok(JSON.parse(gc.stdout).freedBytes > 3 * 1024 * 1024, gc.stdout);
      await Deno.writeFile(`${disk}/probe`, new Uint8Array(1024 * 1024));
      await assert.rejects(Deno.lstat(`${layout}/index.json.lock`), Deno.errors.NotFound);
      await ocisyncOk(["pull", `oci:${layout}:small`, "-o", `${tmp}/out`]);
    });
  });
});
