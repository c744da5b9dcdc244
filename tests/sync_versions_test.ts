/**
 * What `sync -o DIR` removes when it prunes old versions: only what it made, only in the folder
 * it made, and always all of it. `DIR/.ocisync` replaced by a link to another folder (an
 * administrator moving versions to another disk, or whoever may write to `DIR`) had the pruning
 * delete that folder's `2024/`, `cafe/` or `.ocisync-notes/`, as their names looked like the
 * sync's own; and a version holding a read-only folder, which a sync running as an ordinary user
 * could not empty, failed every tick after it for good. The images are GNU tar's layers, pushed
 * to a real registry; the sync runs as root and as `nobody`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { expectExit, ocisync, ocisyncOk, runOk } from "./helpers/cli.ts";
import { withRegistry } from "./helpers/registry.ts";
import { asNobody } from "./helpers/unprivileged.ts";
import { snapshot } from "./helpers/tree.ts";
import { sha256Hex } from "./helpers/hash.ts";

/** Pushes a layer that GNU tar makes of `conf/NAME`, in a folder of mode `mode`, as `ref`. */
async function pushConf(tmp: string, ref: string, name: string, mode: string): Promise<void> {
  const work = await Deno.makeTempDir({ dir: tmp });
  await Deno.mkdir(`${work}/conf`);
  await Deno.writeTextFile(`${work}/conf/${name}`, `${name}\n`);
  await runOk("chmod", [mode, `${work}/conf`]);
  await runOk("tar", ["-C", work, "--owner=0", "--group=0", "-cf", `${work}/layer.tar`, "conf"]);
  await ocisyncOk(["push", ref, `${work}/layer.tar`]);
}

Deno.test("sync -o: a DIR/.ocisync that is a link, or another user's, is neither pulled into nor pruned", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const ref = `${registry.host}/t/conf:v1`;
    const out = `${tmp}/out`;
    const once = () => ocisync(["sync", ref, "-o", out, "--keep", "1", "--once"]);
    await pushConf(tmp, ref, "a", "755");
    await ocisyncOk(["sync", ref, "-o", out, "--keep", "1", "--once"]);

    // The versions moved to another folder, which holds names like the sync's own.
    const elsewhere = `${tmp}/elsewhere`;
    await Deno.rename(`${out}/.ocisync`, elsewhere);
    for (const name of ["2024", "cafe", "deadbeef", ".ocisync-notes", "a".repeat(64)]) {
      await Deno.mkdir(`${elsewhere}/${name}`);
      await Deno.writeTextFile(`${elsewhere}/${name}/keep.txt`, "mine\n");
    }
    await Deno.symlink(elsewhere, `${out}/.ocisync`);
    const before = await snapshot(elsewhere);
    await pushConf(tmp, ref, "b", "755");
    const linked = expectExit(await once(), 1);
    assert.match(linked.stderr, /\.ocisync is a symlink: refusing to pull into it or prune it/);
    assert.deepEqual(await snapshot(elsewhere), before);

    // A folder of another user, who could swap what is in it.
    await Deno.remove(`${out}/.ocisync`);
    await Deno.rename(elsewhere, `${out}/.ocisync`);
    await Deno.chown(`${out}/.ocisync`, 65534, 65534);
    const foreign = expectExit(await once(), 1);
    assert.match(foreign.stderr, /belongs to user 65534, not to this process's user 0/);
    assert.deepEqual(await snapshot(`${out}/.ocisync`), before);
    // Given back, the sync delivers, and prunes only its own version folders.
    await Deno.chown(`${out}/.ocisync`, 0, 0);
    await ocisyncOk(["sync", ref, "-o", out, "--keep", "1", "--once"]);
    assert.equal(await Deno.readTextFile(`${out}/current/conf/b`), "b\n");
    const left = (await Array.fromAsync(Deno.readDir(`${out}/.ocisync`))).map((e) => e.name);
    for (const name of ["2024", "cafe", "deadbeef", ".ocisync-notes"]) {
      assert.ok(left.includes(name), `${name} was removed: ${left}`);
    }
  });
});

Deno.test({
  name: "sync -o as an ordinary user: a version holding a read-only folder is pruned",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    await withRegistry({}, async (registry, tmp) => {
      await Deno.chmod(tmp, 0o755);
      const nobody = await asNobody(tmp);
      const ref = `${registry.host}/t/conf:v1`;
      const out = `${tmp}/out`;
      await Deno.mkdir(out);
      await Deno.chown(out, 65534, 65534);
      const sync = () => nobody(["sync", ref, "-o", out, "--keep", "1", "--once"]);
      await pushConf(tmp, ref, "a", "555");
      assert.equal((await sync()).code, 0);
      const [first] = await Array.fromAsync(Deno.readDir(`${out}/.ocisync`));
      assert.equal((await Deno.stat(`${out}/.ocisync/${first.name}/conf`)).mode! & 0o777, 0o555);
      for (const name of ["b", "c"]) {
        await pushConf(tmp, ref, name, "555");
        const result = await sync();
        assert.equal(result.code, 0, result.stderr);
        assert.equal(await Deno.readTextFile(`${out}/current/conf/${name}`), `${name}\n`);
      }
      // The current version and the one before it (a reader may still be in it).
      const versions = await Array.fromAsync(Deno.readDir(`${out}/.ocisync`));
      assert.equal(versions.length, 2, versions.map((v) => v.name).join());
      assert.ok(!versions.some((v) => v.name === first.name));
    });
  },
});

Deno.test({
  name:
    "sync as root refuses an output or state that another user could lead elsewhere; nothing is made there",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    // Each step of a change goes by path: a user owning a folder on the way could swap it for a
    // link between two steps, or link it to a folder of root's choosing, and root wrote there.
    const tmp = await Deno.makeTempDir({ prefix: "ocisync-sync-shielded-" });
    try {
      await Deno.mkdir(`${tmp}/src`);
      await Deno.writeTextFile(`${tmp}/src/a.yaml`, "a: 1\n");
      await ocisyncOk(["push", `oci:${tmp}/layout:v1`, `${tmp}/src`]);
      const once = (...args: string[]) =>
        ocisync(["sync", `oci:${tmp}/layout:v1`, "--once", ...args]);
      const theirs = `${tmp}/theirs`;
      const rootOnly = `${tmp}/root-only`;
      await Deno.mkdir(theirs);
      await Deno.chown(theirs, 65534, 65534);
      await Deno.mkdir(rootOnly, { mode: 0o700 });
      await Deno.symlink(rootOnly, `${theirs}/flows`);
      await runOk("chown", ["-h", "65534:65534", `${theirs}/flows`]);
      const open = `${tmp}/open`;
      await Deno.mkdir(open);
      await Deno.chmod(open, 0o777);

      const linked = expectExit(await once("-o", `${theirs}/flows`), 2);
      assert.match(
        linked.stderr,
        /refusing to sync as root into .*theirs\/flows: .*theirs\/flows can be replaced by another user: its folder is owned by uid 65534/,
      );
      const writable = expectExit(await once("-o", `${open}/flows`), 2);
      assert.match(writable.stderr, /may be written by others than root \(mode 777\)/);
      const state = expectExit(await once("-o", `${tmp}/out`, "--state", `${theirs}/s.json`), 2);
      assert.match(state.stderr, /refusing to keep the state as root at .*theirs/);
      // A link of root's, in root's folder, that leads into the other user's folder.
      await Deno.symlink(`${theirs}/real.json`, `${tmp}/state.json`);
      const led = expectExit(await once("-o", `${tmp}/out`, "--state", `${tmp}/state.json`), 2);
      assert.match(led.stderr, /refusing to keep the state as root at .*theirs/);
      for (const folder of [rootOnly, open, theirs]) {
        const made = (await Array.fromAsync(Deno.readDir(folder))).map((e) => e.name);
        assert.deepEqual(made, folder === theirs ? ["flows"] : [], `${folder}: ${made}`);
      }
      assert.equal(await Deno.lstat(`${tmp}/out`).then(() => true, () => false), false);

      // In folders only root can change, it delivers.
      await Deno.remove(`${tmp}/state.json`);
      await ocisyncOk(["sync", `oci:${tmp}/layout:v1`, "--once", "-o", `${tmp}/out`]);
      assert.equal(await Deno.readTextFile(`${tmp}/out/current/a.yaml`), "a: 1\n");
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "sync as root refuses a config, key or trusted root that another user could change; no hook runs",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    // The config names the hooks root runs, and the folders it writes; a key decides what root
    // delivers as verified. A config of mode 0666 in another user's folder ran their hook as root.
    const tmp = await Deno.makeTempDir({ prefix: "ocisync-sync-config-" });
    try {
      await Deno.mkdir(`${tmp}/src`);
      await Deno.writeTextFile(`${tmp}/src/a.yaml`, "a: 1\n");
      await ocisyncOk(["push", `oci:${tmp}/layout:v1`, `${tmp}/src`]);
      const theirs = `${tmp}/theirs`;
      await Deno.mkdir(theirs);
      await Deno.chown(theirs, 65534, 65534);
      const config = (name: string) =>
        `targets:\n  - reference: oci:${tmp}/layout:v1\n    exec: touch ${tmp}/ran-${name}\n`;
      const write = async (path: string, name: string, mode: number, uid = 0) => {
        await Deno.writeTextFile(path, config(name));
        await Deno.chmod(path, mode);
        await Deno.chown(path, uid, uid);
        return path;
      };
      const cases: [string, string, RegExp][] = [
        ["theirs", await write(`${tmp}/theirs.yaml`, "theirs", 0o644, 65534), /owned by uid 65534/],
        ["open", await write(`${tmp}/open.yaml`, "open", 0o666), /others than root \(mode 666\)/],
        [
          "folder",
          await write(`${theirs}/sync.yaml`, "folder", 0o644),
          /theirs can be replaced by another user: its folder is owned by uid 65534/,
        ],
      ];
      await write(`${theirs}/led.yaml`, "led", 0o644);
      await Deno.symlink(`${theirs}/led.yaml`, `${tmp}/led.yaml`);
      cases.push(["led", `${tmp}/led.yaml`, /theirs can be replaced by another user/]);
      for (const [name, path, why] of cases) {
        const refused = expectExit(await ocisync(["sync", "--config", path, "--once"]), 2);
        assert.match(refused.stderr, /refusing to read the config .* as root: /, name);
        assert.match(refused.stderr, why, name);
        assert.equal(await Deno.lstat(`${tmp}/ran-${name}`).then(() => true, () => false), false);
      }

      const key = `${tmp}/cosign.pub`;
      await Deno.writeTextFile(key, "not read\n");
      await Deno.chown(key, 65534, 65534);
      const keyed = await write(`${tmp}/keyed.yaml`, "keyed", 0o644);
      await Deno.writeTextFile(keyed, `verifyKey: ${key}\n`, { append: true });
      const untrusted = expectExit(await ocisync(["sync", "--config", keyed, "--once"]), 2);
      assert.match(
        untrusted.stderr,
        /refusing to trust .*cosign\.pub as root: .*owned by uid 65534/,
      );
      const flag = ["sync", `oci:${tmp}/layout:v1`, "--events", "--once", "--verify-key", key];
      assert.match(expectExit(await ocisync(flag), 2).stderr, /refusing to trust/);

      // Root's own config, in root's folder, runs.
      await ocisyncOk(["sync", "--config", await write(`${tmp}/ok.yaml`, "ok", 0o644), "--once"]);
      assert.equal(await Deno.lstat(`${tmp}/ran-ok`).then(() => true, () => false), true);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("sync -o: a prune cut short leaves no part of a version under its name; a rollback gets it whole", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-prune-kill-" });
  try {
    // A version of 60 folders of 150 files: its removal takes long enough to be cut.
    for (let d = 0; d < 60; d++) {
      await Deno.mkdir(`${tmp}/a/d${d}`, { recursive: true });
      for (let f = 0; f < 150; f++) await Deno.writeTextFile(`${tmp}/a/d${d}/f${f}`, `${d}/${f}\n`);
    }
    for (const name of ["b", "c"]) {
      await Deno.mkdir(`${tmp}/${name}`);
      await Deno.writeTextFile(`${tmp}/${name}/only.txt`, `${name}\n`);
    }
    for (const name of ["a", "b", "c"]) {
      await ocisyncOk(["push", `oci:${tmp}/layout:${name}`, `${tmp}/${name}`]);
    }
    const sync = (tag: string) => [
      "sync",
      `oci:${tmp}/layout:${tag}`,
      "--once",
      "-o",
      `${tmp}/out`,
      "--keep",
      "1",
    ];
    await ocisyncOk(sync("a"));
    await ocisyncOk(sync("b"));
    const versions = `${tmp}/out/.ocisync`;
    const current = () => Deno.readLinkSync(`${tmp}/out/current`).split("/").pop();
    const [versionA] = [...Deno.readDirSync(versions)].map((e) => e.name)
      .filter((name) => !name.startsWith(".") && name !== current());
    const folderA = `${versions}/${versionA}`;

    // Syncing c prunes a's version: the process is killed as soon as that has begun.
    const { RUN_FLAGS } = await import("../scripts/permissions.ts");
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...RUN_FLAGS, new URL("../main.ts", import.meta.url).pathname, ...sync("c")],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const left = await Array.fromAsync(Deno.readDir(folderA)).catch(() => undefined);
      if (left === undefined || left.length < 60) break;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    try {
      child.kill("SIGKILL");
    } catch { /* it had ended */ }
    await child.status;

    // What is under a version's name is whole; a rollback to a delivers it whole.
    const whole = async (folder: string) => {
      let files = 0;
      for await (const dir of Deno.readDir(folder)) {
        if (dir.isDirectory) {
          files += (await Array.fromAsync(Deno.readDir(`${folder}/${dir.name}`))).length;
        }
      }
      return files;
    };
    if (await Deno.lstat(folderA).then(() => true, () => false)) {
      assert.equal(await whole(folderA), 9000, "a version folder is whole or gone");
    }
    await ocisyncOk(sync("a"));
    assert.equal(await whole(`${tmp}/out/current`), 9000);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("sync -o: a file, a link or another user's folder at a version's name is moved away, not reused", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-version-name-" });
  try {
    await Deno.mkdir(`${tmp}/src`);
    await Deno.writeTextFile(`${tmp}/src/hello.txt`, "hello\n");
    await ocisyncOk(["push", `oci:${tmp}/layout:v1`, `${tmp}/src:/app`]);
    // The version's name: the manifest's hex, read from the layout and checked by hashing it.
    const { manifests } = JSON.parse(await Deno.readTextFile(`${tmp}/layout/index.json`));
    const hex = manifests[0].digest.slice("sha256:".length);
    assert.equal(sha256Hex(await Deno.readFile(`${tmp}/layout/blobs/sha256/${hex}`)), hex);
    // What someone else's folder would offer as the version: their own files.
    await Deno.mkdir(`${tmp}/theirs/app`, { recursive: true });
    await Deno.writeTextFile(`${tmp}/theirs/app/hello.txt`, "not the image\n");
    const plants: [string, (path: string) => Promise<void>][] = [
      ["a file", (path) => Deno.writeTextFile(path, "not a version\n")],
      ["a link to a folder", (path) => Deno.symlink(`${tmp}/theirs`, path)],
    ];
    if (Deno.uid() === 0) {
      plants.push(["another user's folder", async (path) => {
        await Deno.mkdir(`${path}/app`, { recursive: true });
        await Deno.writeTextFile(`${path}/app/hello.txt`, "not the image\n");
        await Deno.chown(`${path}/app/hello.txt`, 65534, 65534);
        await Deno.chown(`${path}/app`, 65534, 65534);
        await Deno.chown(path, 65534, 65534);
      }]);
    }
    for (const [what, plant] of plants) {
      const out = `${tmp}/out`;
      await Deno.remove(out, { recursive: true }).catch(() => {});
      await Deno.mkdir(`${out}/.ocisync`, { recursive: true });
      await plant(`${out}/.ocisync/${hex}`);
      const sync = [
        "sync",
        `oci:${tmp}/layout:v1`,
        "-o",
        out,
        "--state",
        `${tmp}/state.json`,
        "--force-pull",
        "--once",
      ];
      expectExit(await ocisync(sync), 0);
      const version = await Deno.lstat(`${out}/.ocisync/${hex}`);
      assert.ok(version.isDirectory && version.uid === Deno.uid(), what);
      assert.equal(await Deno.readTextFile(`${out}/current/app/hello.txt`), "hello\n", what);
      // Delivered once: the next run finds it held, where a file was found lost at every tick.
      const again = expectExit(await ocisync(sync.filter((a) => a !== "--force-pull")), 0);
      assert.match(again.stderr, / unchanged /, what);
      assert.equal(await Deno.readTextFile(`${tmp}/theirs/app/hello.txt`), "not the image\n");
      const left = [...Deno.readDirSync(`${out}/.ocisync`)].map((e) => e.name);
      assert.deepEqual(left, [hex], `${what}: swept`);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("sync -o --force-pull: the live version, edited or damaged, is pulled again whole", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-force-pull-" });
  try {
    await Deno.mkdir(`${tmp}/src`);
    await Deno.writeTextFile(`${tmp}/src/app.conf`, "good\n");
    await Deno.writeTextFile(`${tmp}/src/other`, "x\n");
    await ocisyncOk(["push", `oci:${tmp}/layout:v1`, `${tmp}/src:/app`]);
    const sync = ["sync", `oci:${tmp}/layout:v1`, "-o", `${tmp}/out`, "--state", `${tmp}/s.json`];
    expectExit(await ocisync([...sync, "--once"]), 0);
    const before = await snapshot(`${tmp}/out/current`);
    // An app or an admin deletes and edits files inside the live version.
    await Deno.remove(`${tmp}/out/current/app/app.conf`);
    await Deno.writeTextFile(`${tmp}/out/current/app/other`, "tampered\n");
    await Deno.writeTextFile(`${tmp}/out/current/app/added`, "not the image's\n");
    expectExit(await ocisync([...sync, "--once", "--force-pull"]), 0);
    assert.deepEqual(await snapshot(`${tmp}/out/current`), before);
    // Nothing left of the swap beside the versions.
    const versions = [...Deno.readDirSync(`${tmp}/out/.ocisync`)].map((entry) => entry.name);
    assert.equal(versions.length, 1, versions.join(", "));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("sync -o: the partial trees of pulls SIGKILLed in DIR do not pile up; one holding set-aside files stays", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-staging-pile-" });
  try {
    // Enough files that a pull is caught with part of its tree written.
    for (let d = 0; d < 40; d++) {
      await Deno.mkdir(`${tmp}/src/d${d}`, { recursive: true });
      for (let f = 0; f < 100; f++) await Deno.writeTextFile(`${tmp}/src/d${d}/f${f}`, `${f}\n`);
    }
    await ocisyncOk(["push", `oci:${tmp}/layout:v1`, `${tmp}/src:/app`]);
    const versions = `${tmp}/out/.ocisync`;
    const stagings = () =>
      [...(function* () {
        try {
          yield* Deno.readDirSync(versions);
        } catch { /* not made yet */ }
      })()].map((e) => e.name).filter((name) => name.startsWith(".ocisync-pull-"));
    const { RUN_FLAGS } = await import("../scripts/permissions.ts");
    const main = new URL("../main.ts", import.meta.url).pathname;
    for (let kill = 1; kill <= 3; kill++) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", ...RUN_FLAGS, main, "sync", `oci:${tmp}/layout:v1`, "-o", `${tmp}/out`],
        stdout: "null",
        stderr: "null",
      }).spawn();
      // Killed once this attempt's tree has files: it leaves it behind.
      const deadline = Date.now() + 60_000;
      const written = (name: string) => {
        try {
          return [...Deno.readDirSync(`${versions}/${name}/tree/app`)].length > 5;
        } catch {
          return false;
        }
      };
      while (Date.now() < deadline) {
        const fresh = stagings().filter(written);
        if (fresh.length > 0 && stagings().length <= kill) break;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      child.kill("SIGKILL");
      await child.status;
    }
    assert.ok(stagings().length >= 1, "a pull was caught part-way");
    // A staging folder holding what a merge set aside may hold a user's files: it stays.
    const aside = `${versions}/.ocisync-pull-00000000000000aa`;
    await Deno.mkdir(`${aside}/aside-1`, { recursive: true });
    await Deno.writeTextFile(`${aside}/aside-1/notes.txt`, "mine\n");
    // A sync that fails its tick (no such tag) still sweeps at start-up, under the lock.
    const failed = await ocisync(["sync", `oci:${tmp}/layout:nope`, "-o", `${tmp}/out`, "--once"]);
    expectExit(failed, 4);
    assert.deepEqual(stagings(), [".ocisync-pull-00000000000000aa"]);
    assert.equal(await Deno.readTextFile(`${aside}/aside-1/notes.txt`), "mine\n");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("sync -o --keep 1: a redelivery after a crash past the swap keeps the version that was live before it", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-keep-one-" });
  try {
    for (const name of ["a", "c"]) {
      await Deno.mkdir(`${tmp}/${name}`);
      await Deno.writeTextFile(`${tmp}/${name}/only.txt`, `${name}\n`);
      await ocisyncOk(["push", `oci:${tmp}/layout:${name}`, `${tmp}/${name}:/data`]);
    }
    const out = `${tmp}/out`;
    // One tag, moved from a to c and back, as a release moves it.
    const sync = async (tag: string, hook: string) => {
      await ocisyncOk(["copy", `oci:${tmp}/layout:${tag}`, `oci:${tmp}/layout:prod`]);
      return syncArgs(hook);
    };
    const syncArgs = (hook: string) => [
      "sync",
      `oci:${tmp}/layout:prod`,
      "-o",
      out,
      "--state",
      `${tmp}/state.json`,
      "--keep",
      "1",
      "--exec",
      hook,
    ];
    await ocisyncOk([...await sync("a", "true"), "--once"]);
    // Where a reader is: the version a's folder, resolved through current.
    const versionA = await Deno.realPath(`${out}/current`);
    // Killed in c's hook: the swap to c is done, the state still says a.
    const { RUN_FLAGS } = await import("../scripts/permissions.ts");
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...RUN_FLAGS,
        new URL("../main.ts", import.meta.url).pathname,
        ...await sync("c", `touch ${tmp}/in-hook; sleep 30`),
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const deadline = Date.now() + 30_000;
    while (!(await Deno.lstat(`${tmp}/in-hook`).then(() => true, () => false))) {
      if (Date.now() > deadline) throw new Error("the hook never ran");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill("SIGKILL");
    await child.status;
    assert.equal(await Deno.readTextFile(`${out}/current/data/only.txt`), "c\n");
    // The restart delivers c again: a, live until the crash, is kept for its readers.
    await ocisyncOk([...syncArgs("true"), "--once"]);
    assert.equal(await Deno.readTextFile(`${versionA}/data/only.txt`), "a\n");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
