/**
 * What interrupted writes leave is cleaned up, and nothing a live writer still uses: `gc`
 * removes a layout's temporary blob files (`blobs/ALG/.HEX.RANDOM.tmp`) not modified for a day,
 * or for `--grace` when longer; the next writer of an archive removes its staging folders
 * (`.FILE.RANDOM.staging`) not modified for a day; a pull removes the staging folders beside its
 * own (`.ocisync-pull-RANDOM`) that killed pulls left a day ago, when they hold only a tree. The
 * leftovers are built here, aged with
 * `Deno.utime`; links among them are never followed.
 */
import assert from "node:assert/strict";
import { ocisync, shown } from "./helpers/cli.ts";
import { writeImage } from "./helpers/layers.ts";
import { exists, withTempDir } from "./helpers/tree.ts";

const HOUR = 3_600_000;

/** `hours` ago. */
function ago(hours: number): Date {
  return new Date(Date.now() - hours * HOUR);
}

/** Writes `content` at `path`, last modified `hours` ago. */
async function fileOfAge(path: string, content: string, hours: number): Promise<void> {
  await Deno.writeTextFile(path, content);
  await Deno.utime(path, ago(hours), ago(hours));
}

/** Runs `gc --json` on the layout and returns what it printed. */
async function gc(layout: string, ...args: string[]): Promise<Record<string, unknown>> {
  const result = await ocisync(["gc", `oci:${layout}`, "--json", ...args]);
  assert.equal(result.code, 0, shown(result));
  return JSON.parse(result.stdout);
}

/** The names in a folder, sorted. */
async function names(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name).sort();
}

Deno.test("gc removes temporary blob files untouched for a day (or --grace, when longer), never a fresh one or a link", async () => {
  await withTempDir("ocisync-leftovers-", async (tmp) => {
    const layout = `${tmp}/layout`;
    await writeImage(layout, [new Uint8Array(1024)]);
    const blobs = `${layout}/blobs/sha256`;
    const before = await names(blobs);
    const temp = (hex: string, random: string) => `.${hex.repeat(64)}.${random}.tmp`;
    // By age: a write that died three days ago, one 30 hours ago, one 2 hours ago, one now.
    const files = {
      days: { name: temp("a", "5e6f7081"), content: "died three days ago", hours: 72 },
      hours30: { name: temp("b", "92a3b4c5"), content: "died 30 hours ago", hours: 30 },
      hours2: { name: temp("c", "d6e7f809"), content: "stalled 2 hours", hours: 2 },
      now: { name: temp("d", "0a1b2c3d"), content: "in progress", hours: 0 },
      // Not a blob's temporary file: another program's, whatever its age.
      other: { name: ".notes.0a1b2c3d.tmp", content: "someone's notes", hours: 72 },
      // Nor one named so but for the random part, which ocisync writes as eight hex digits.
      named: { name: temp("f", "backup"), content: "a user's copy", hours: 72 },
    };
    for (const { name, content, hours } of Object.values(files)) {
      await fileOfAge(`${blobs}/${name}`, content, hours);
    }
    // A link named like an old temporary file, to an old file outside the layout.
    const outside = `${tmp}/outside.txt`;
    await fileOfAge(outside, "not the layout's", 72);
    const link = temp("e", "1a2b3c4d");
    await Deno.symlink(outside, `${blobs}/${link}`);
    const size = (text: string) => new TextEncoder().encode(text).length;
    const path = (name: string) => `blobs/sha256/${name}`;

    // A grace period longer than a day is the age a temporary file must reach.
    assert.deepEqual(await gc(layout, "--grace", "48h"), {
      removed: [],
      removedTemporary: [{ path: path(files.days.name), size: size(files.days.content) }],
      freedBytes: size(files.days.content),
      kept: 3,
      withinGrace: [],
    });
    // A shorter one, none included, still leaves a day.
    assert.deepEqual(await gc(layout, "--grace", "0"), {
      removed: [],
      removedTemporary: [{ path: path(files.hours30.name), size: size(files.hours30.content) }],
      freedBytes: size(files.hours30.content),
      kept: 3,
      withinGrace: [],
    });
    // Nothing left to remove.
    assert.deepEqual(await gc(layout, "--grace", "0"), {
      removed: [],
      removedTemporary: [],
      freedBytes: 0,
      kept: 3,
      withinGrace: [],
    });
    assert.deepEqual(
      await names(blobs),
      [...before, files.hours2.name, files.now.name, files.other.name, files.named.name, link]
        .sort(),
    );
    assert.equal(await Deno.readTextFile(outside), "not the layout's");
  });
});

for (const format of ["oci-archive", "docker-archive"]) {
  Deno.test(`the next writer of an archive (${format}) removes its staging folders and temporary files untouched for a day, and no other`, async () => {
    await withTempDir("ocisync-leftovers-", async (tmp) => {
      await writeImage(`${tmp}/image`, [new Uint8Array(1024)]);
      const out = `${tmp}/out`;
      await Deno.mkdir(out);
      // What a copy killed by SIGTERM leaves: a staging layout with a blob in it.
      const staging = async (name: string, hours: number) => {
        await Deno.mkdir(`${out}/${name}/blobs/sha256`, { recursive: true });
        await fileOfAge(`${out}/${name}/blobs/sha256/${"f".repeat(64)}`, "a large blob", hours);
        await Deno.utime(`${out}/${name}`, ago(hours), ago(hours));
      };
      const old = ".app.tar.5f3a9c01d2e4b6a7.staging";
      await staging(old, 30);
      // A live writer's (one that does not take the lock, such as an older ocisync), a day
      // not yet past.
      const recent = ".app.tar.0b1c2d3e4f5a6b7c.staging";
      await staging(recent, 20);
      // Of another archive, app.tar.1, in the same folder.
      const another = ".app.tar.1.1a2b3c4d5e6f7a8b.staging";
      await staging(another, 30);
      // A link named like an old staging folder, to an old folder outside.
      await staging("../elsewhere", 30);
      const link = ".app.tar.9e8d7c6b5a4f3e2d.staging";
      await Deno.symlink(`${tmp}/elsewhere`, `${out}/${link}`);
      // What a copy killed by SIGKILL while it wrote the archive leaves: its temporary file;
      // and a younger one, and one of app.tar.1.
      await fileOfAge(`${out}/.app.tar.3c4d5e6f.tmp`, "half an archive", 30);
      const younger = ".app.tar.4d5e6f70.tmp";
      await fileOfAge(`${out}/${younger}`, "half an archive", 20);
      const anothers = ".app.tar.1.5e6f7081.tmp";
      await fileOfAge(`${out}/${anothers}`, "half an archive", 30);
      // A user's own file, named like a temporary file but for the random part.
      const users = ".app.tar.backup.tmp";
      await fileOfAge(`${out}/${users}`, "a user's backup", 30);

      const reference = format === "oci-archive"
        ? `oci-archive:${out}/app.tar:v1`
        : `docker-archive:${out}/app.tar:app:v1`;
      const result = await ocisync(["copy", `oci:${tmp}/image:v1`, reference]);
      assert.equal(result.code, 0, shown(result));
      assert.deepEqual(
        await names(out),
        [another, recent, link, younger, anothers, users, "app.tar"].sort(),
      );
      assert.ok(await exists(`${tmp}/elsewhere/blobs/sha256/${"f".repeat(64)}`));
    });
  });
}

Deno.test("a pull removes the staging folders that killed pulls left beside it a day ago, if they hold only a tree", async () => {
  await withTempDir("ocisync-leftovers-", async (tmp) => {
    await writeImage(`${tmp}/image`, [new Uint8Array(1024)]);
    const parent = `${tmp}/srv`;
    // What a pull killed while extracting leaves: its staging folder, holding the tree so far.
    const staging = async (name: string, hours: number, aside?: string) => {
      await Deno.mkdir(`${parent}/${name}/tree/opt`, { recursive: true });
      await fileOfAge(`${parent}/${name}/tree/opt/big.bin`, "half an image", hours);
      if (aside) await fileOfAge(`${parent}/${name}/aside-1`, aside, hours);
      await Deno.utime(`${parent}/${name}`, ago(hours), ago(hours));
    };
    const dead = ".ocisync-pull-5f3a9c01d2e4b6a7";
    await staging(dead, 30);
    // A live pull's, a day not yet past.
    const live = ".ocisync-pull-0b1c2d3e4f5a6b7c";
    await staging(live, 20);
    // A merge that died or could not undo itself: what it moved aside is the user's.
    const kept = ".ocisync-pull-1a2b3c4d5e6f7a8b";
    await staging(kept, 30, "the user's settings\n");
    // A link named like a dead staging folder, to an old folder outside.
    await staging("../elsewhere", 30);
    const link = ".ocisync-pull-9e8d7c6b5a4f3e2d";
    await Deno.symlink(`${tmp}/elsewhere`, `${parent}/${link}`);

    const result = await ocisync(["pull", `oci:${tmp}/image:v1`, "-o", `${parent}/out`]);
    assert.equal(result.code, 0, shown(result));
    assert.deepEqual(await names(parent), [kept, live, link, "out"].sort());
    assert.equal(await Deno.readTextFile(`${parent}/${kept}/aside-1`), "the user's settings\n");
    assert.ok(await exists(`${tmp}/elsewhere/tree/opt/big.bin`));
  });
});
