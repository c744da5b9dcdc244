/**
 * How `pull` stages what it extracts and puts it in place, against a destination that others can
 * write or that is not what it seems: the staging folder stays private (0700) until it is put in
 * place; root never stages, nor merges, through a folder another user could swap for a link; a
 * staging folder swapped all the same is refused before anything moves; what a merge cannot do is
 * refused before any change, and a merge that fails midway is undone; artifact and copied files
 * named like whiteouts are refused. Images are built by hand (Python's `tarfile`, digests from
 * `node:crypto`); the "other user" is played by this process, doing only what that user could.
 */
import assert from "node:assert/strict";
import { ExitCode, exitCodeOf } from "../src/cli/exit.ts";
import { UnsafeContentError } from "../src/errors/mod.ts";
import { LayoutTarget } from "../src/layout/mod.ts";
import { pull } from "../src/pull/mod.ts";
import { ocisync, run, runOk, shown } from "./helpers/cli.ts";
import { type Entry, tarImage, writeImage } from "./helpers/layers.ts";
import { requireTool } from "./helpers/tools.ts";
import { snapshot } from "./helpers/tree.ts";
import { asNobody } from "./helpers/unprivileged.ts";

requireTool("python3", "python3");

/** The uid of `nobody`, who plays the other user. */
const NOBODY = 65534;
const STAGING_PREFIX = ".ocisync-pull-";

/** Why the tests that need root cannot run here, or undefined when they can. */
const notRoot = Deno.uid() === 0 ? undefined : "they need root, as ocisync runs on fleet hosts";
/** Why the tests that mount file systems cannot run here, or undefined when they can. */
const notMountable = notRoot ?? await mountFails();

async function mountFails(): Promise<string | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "ocisync-mount-probe-" });
  try {
    const mounted = await run("mount", ["-t", "tmpfs", "none", dir]);
    if (mounted.code !== 0) return `mount -t tmpfs fails here: ${mounted.stderr.trim()}`;
    await runOk("umount", [dir]);
    return undefined;
  } finally {
    await Deno.remove(dir);
  }
}

/** Registers a test, or says out loud why it is skipped: no test is skipped silently. */
function test(name: string, skip: string | undefined, fn: () => Promise<void>): void {
  if (skip) console.warn(`SKIPPED "${name}": ${skip}`);
  Deno.test({ name: skip ? `${name} (skipped: ${skip})` : name, ignore: skip !== undefined, fn });
}

/** A scratch folder (root's, 0700) with `victim/` holding `file`, for hostile swaps to aim at. */
async function withScratch(fn: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-pull-safety-" });
  try {
    await Deno.mkdir(`${tmp}/victim`, { mode: 0o700 });
    await Deno.chmod(`${tmp}/victim`, 0o700);
    await Deno.writeTextFile(`${tmp}/victim/file`, "root's own\n");
    await fn(tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** An artifact at `tmp/layout`, tagged v1: one layer per file, titled with its name. */
async function artifact(tmp: string, files: Record<string, string>): Promise<string> {
  const encoder = new TextEncoder();
  await writeImage(
    `${tmp}/layout`,
    Object.values(files).map((text) => encoder.encode(text)),
    false,
    Object.keys(files).map((title) => ({ "org.opencontainers.image.title": title })),
  );
  return `oci:${tmp}/layout:v1`;
}

/**
 * Pulls `tmp/layout:v1` through the library, calling `onEvent` at each layer's progress events:
 * before the layer is fetched ("started") and once it is extracted and checked ("done").
 */
async function pullLayout(tmp: string, destination: string, onEvent: (state: string) => void) {
  const layout = await LayoutTarget.open(`${tmp}/layout`);
  return await pull(layout, await layout.resolve("v1"), destination, {
    onBlob: (event) => onEvent(event.state),
  });
}

/** The staging folders in `folder`. */
function stagingIn(folder: string): string[] {
  return [...Deno.readDirSync(folder)].map((e) => e.name).filter((n) =>
    n.startsWith(STAGING_PREFIX)
  );
}

function modeOf(path: string): number {
  return Deno.lstatSync(path).mode! & 0o7777;
}

/** What the victim folder holds and its mode: hostile swaps must leave both as they were. */
function victimState(tmp: string): unknown {
  return {
    mode: modeOf(`${tmp}/victim`),
    names: [...Deno.readDirSync(`${tmp}/victim`)].map((e) => e.name).sort(),
    file: Deno.readTextFileSync(`${tmp}/victim/file`),
  };
}

const VICTIM = { mode: 0o700, names: ["file"], file: "root's own\n" };

/**
 * An image of one file, `app.conf`, at `tmp/layout`, and a folder `tmp/dest` that holds a
 * user's `notes.txt`; that folder's path.
 */
async function imageAndUserFolder(tmp: string): Promise<string> {
  await tarImage(tmp, [[{ type: "file", name: "app.conf", data: "from the image\n" }]]);
  const destination = `${tmp}/dest`;
  await Deno.mkdir(destination);
  await Deno.writeTextFile(`${destination}/notes.txt`, "the user's\n");
  return destination;
}

test(
  "pull: the staging folder is 0700 until the tree is put in place, then 0755",
  undefined,
  () =>
    withScratch(async (tmp) => {
      await tarImage(tmp, [
        [{ type: "dir", name: "etc", mode: 0o755 }, { type: "file", name: "etc/a.conf" }],
        [{ type: "file", name: "etc/b.conf" }],
      ]);
      const seen: number[][] = [];
      await pullLayout(tmp, `${tmp}/out`, () => {
        // At each event of each layer, from its fetch to its check: the folder and its tree.
        const [name] = stagingIn(tmp);
        seen.push([
          modeOf(`${tmp}/${name}`),
          ...[...Deno.readDirSync(`${tmp}/${name}`)].map((e) => modeOf(`${tmp}/${name}/${e.name}`)),
        ]);
      });
      assert.ok(seen.length >= 4, "at least the start and the end of both layers");
      for (const modes of seen) assert.deepEqual(modes, [0o700, 0o700]);
      assert.equal(modeOf(`${tmp}/out`), 0o755);
      assert.deepEqual(stagingIn(tmp), [], "no staging folder is left behind");
    }),
);

test(
  "pull into an empty folder merges: a file put there while the pull ran stays",
  undefined,
  () =>
    withScratch(async (tmp) => {
      await tarImage(tmp, [[{ type: "file", name: "app.txt" }]]);
      await Deno.mkdir(`${tmp}/out`, { mode: 0o750 });
      await Deno.chmod(`${tmp}/out`, 0o750);
      const before = await Deno.stat(`${tmp}/out`);
      let written = false;
      await pullLayout(tmp, `${tmp}/out`, () => {
        // The folder was empty when the pull began; the user's app writes into it meanwhile.
        if (!written) Deno.writeTextFileSync(`${tmp}/out/report.txt`, "the user's\n");
        written = true;
      });
      assert.equal(await Deno.readTextFile(`${tmp}/out/report.txt`), "the user's\n");
      assert.deepEqual([...Deno.readDirSync(`${tmp}/out`)].map((e) => e.name).sort(), [
        "app.txt",
        "report.txt",
      ]);
      const after = await Deno.stat(`${tmp}/out`);
      assert.equal(after.ino, before.ino, "the folder itself stays: it is merged into");
      assert.equal(after.mode! & 0o7777, 0o750);
      assert.deepEqual(stagingIn(tmp), [], "no staging folder is left behind");
    }),
);

test(
  "pull into a missing folder that is made and filled while the pull ran leaves it, and says so",
  undefined,
  () =>
    withScratch(async (tmp) => {
      await tarImage(tmp, [[{ type: "file", name: "app.txt" }]]);
      let written = false;
      const pulled = pullLayout(tmp, `${tmp}/out`, () => {
        if (written) return;
        Deno.mkdirSync(`${tmp}/out`);
        Deno.writeTextFileSync(`${tmp}/out/report.txt`, "the user's\n");
        written = true;
      });
      await assert.rejects(pulled, (error: Error) => {
        assert.match(
          error.message,
          /was not there when the pull began, and a folder with content was put there since/,
        );
        return true;
      });
      assert.deepEqual([...Deno.readDirSync(`${tmp}/out`)].map((e) => e.name), ["report.txt"]);
      assert.deepEqual(stagingIn(tmp), [], "no staging folder is left behind");
      // Pulled again, the image is merged in beside it.
      await pullLayout(tmp, `${tmp}/out`, () => {});
      assert.deepEqual([...Deno.readDirSync(`${tmp}/out`)].map((e) => e.name).sort(), [
        "app.txt",
        "report.txt",
      ]);
    }),
);

test(
  "pull into an empty folder a service owns keeps its owner, and needs no write on its parent",
  notRoot,
  () =>
    withScratch(async (tmp) => {
      await tarImage(tmp, [[{ type: "file", name: "app.txt" }]]);
      // An admin makes /srv/flows (root's /srv) and gives it to the service's user.
      await Deno.chmod(tmp, 0o755);
      await Deno.mkdir(`${tmp}/srv/flows`, { recursive: true });
      await Deno.mkdir(`${tmp}/srv/root-pulls`);
      await Deno.chown(`${tmp}/srv/flows`, NOBODY, NOBODY);
      await Deno.chown(`${tmp}/srv/root-pulls`, NOBODY, NOBODY);
      await runOk("chmod", ["-R", "a+rX", `${tmp}/layout`]);
      // Root's pull leaves the folder the service's: it is merged into, not replaced.
      await pullLayout(tmp, `${tmp}/srv/root-pulls`, () => {});
      const byRoot = await Deno.stat(`${tmp}/srv/root-pulls`);
      assert.equal(byRoot.uid, NOBODY, "the folder is still the service's");
      assert.deepEqual([...Deno.readDirSync(`${tmp}/srv/root-pulls`)].map((e) => e.name), [
        "app.txt",
      ]);
      // The service pulls into its own folder, in a folder it may not write.
      const asService = await asNobody(tmp);
      const pulled = await asService(["pull", `oci:${tmp}/layout:v1`, "-o", `${tmp}/srv/flows`]);
      assert.equal(pulled.code, ExitCode.Ok, shown(pulled));
      assert.deepEqual([...Deno.readDirSync(`${tmp}/srv/flows`)].map((e) => e.name), ["app.txt"]);
      assert.equal((await Deno.stat(`${tmp}/srv/flows`)).uid, NOBODY);
      assert.deepEqual([...Deno.readDirSync(`${tmp}/srv`)].map((e) => e.name).sort(), [
        "flows",
        "root-pulls",
      ]);
    }),
);

test(
  "pull as root into a folder another user owns stages where that user cannot swap it",
  notRoot,
  () =>
    withScratch(async (tmp) => {
      const destination = await imageAndUserFolder(tmp);
      await Deno.chown(destination, NOBODY, NOBODY);
      const swapped: string[] = [];
      await pullLayout(tmp, destination, (state) => {
        if (state !== "started") return;
        // What the owner of dest can do: rename the staging folder away, put a link there.
        for (const name of stagingIn(destination)) {
          Deno.renameSync(`${destination}/${name}`, `${destination}/moved-${name}`);
          Deno.symlinkSync(`${tmp}/victim`, `${destination}/${name}`);
          swapped.push(name);
        }
        assert.equal(
          stagingIn(tmp).length,
          1,
          "staged in the folder above, which only root can change",
        );
      });
      assert.deepEqual(swapped, [], "no staging folder was made in the folder nobody owns");
      assert.deepEqual(victimState(tmp), VICTIM);
      assert.deepEqual([...Deno.readDirSync(destination)].map((e) => e.name).sort(), [
        "app.conf",
        "notes.txt",
      ]);
      assert.equal(Deno.readTextFileSync(`${destination}/app.conf`), "from the image\n");
      assert.deepEqual(stagingIn(tmp), [], "no staging folder is left behind");
    }),
);

test(
  "pull: a staging folder swapped for a link after extraction is refused; nothing moves",
  undefined,
  () =>
    withScratch(async (tmp) => {
      const destination = await imageAndUserFolder(tmp);
      const before = await snapshot(destination);
      const refused = await pullLayout(tmp, destination, (state) => {
        if (state !== "done") return;
        // Every layer is extracted: the staging folder is replaced before it is finished.
        for (const name of stagingIn(destination)) {
          Deno.renameSync(`${destination}/${name}`, `${tmp}/moved`);
          Deno.symlinkSync(`${tmp}/victim`, `${destination}/${name}`);
        }
      }).then(() => undefined, (error: Error) => error);
      assert.ok(refused, "the pull fails");
      assert.match(refused.message, /staging folder .* was replaced while the pull ran/);
      assert.deepEqual(victimState(tmp), VICTIM, "nothing moved into or out of the link's target");
      for (const name of stagingIn(destination)) await Deno.remove(`${destination}/${name}`);
      assert.deepEqual(await snapshot(destination), before);
    }),
);

test(
  "pull as root refuses a mount point another user owns: no folder on it is safe to stage in",
  notMountable,
  () =>
    withScratch(async (tmp) => {
      const reference = await tarImage(tmp, [[{
        type: "file",
        name: "app.conf",
        data: "image\n",
      }]]);
      const mount = `${tmp}/mnt`;
      await Deno.mkdir(mount);
      await runOk("mount", ["-t", "tmpfs", "-o", `uid=${NOBODY},mode=0755`, "none", mount]);
      try {
        const refused = await ocisync(["pull", reference, "-o", mount, "--force"]);
        assert.equal(refused.code, ExitCode.Usage, shown(refused));
        assert.match(refused.stderr, new RegExp(`refusing to pull as root through ${mount}`));
        assert.match(refused.stderr, /its folder is owned by uid 65534/);
        assert.deepEqual([...Deno.readDirSync(mount)], [], "nothing was made there");
      } finally {
        await runOk("umount", [mount]);
      }
    }),
);

/** Destinations in which another user than root can swap `sub` for a link. */
const EXPOSED: { name: string; owner: number; mode: number; why: RegExp }[] = [
  { name: "owned by nobody", owner: NOBODY, mode: 0o755, why: /owned by uid 65534/ },
  {
    name: "root's, writable by all",
    owner: 0,
    mode: 0o777,
    why: /may be written by others than root \(mode 777\)/,
  },
];

for (const exposed of EXPOSED) {
  test(
    `pull as root refuses to merge into a folder that another user can swap (${exposed.name})`,
    notRoot,
    () =>
      withScratch(async (tmp) => {
        const reference = await tarImage(tmp, [[
          { type: "dir", name: "sub", mode: 0o757 },
          { type: "file", name: "sub/new.txt", data: "from the image\n" },
        ]]);
        const destination = `${tmp}/dest`;
        await Deno.mkdir(`${destination}/sub`, { recursive: true });
        await Deno.writeTextFile(`${destination}/sub/mine.txt`, "the user's\n");
        await Deno.chown(destination, exposed.owner, exposed.owner);
        await Deno.chmod(destination, exposed.mode);
        const before = await snapshot(destination);

        const refused = await ocisync(["pull", reference, "-o", destination]);
        assert.equal(refused.code, ExitCode.Usage, shown(refused));
        assert.match(
          refused.stderr,
          new RegExp(`refusing to merge into ${destination}/sub as root`),
        );
        assert.match(refused.stderr, exposed.why);
        assert.match(refused.stderr, /nothing was changed/);
        assert.deepEqual(await snapshot(destination), before);
        assert.deepEqual(victimState(tmp), VICTIM);

        // As the hint says, replacing the destination whole renames only what root controls.
        const replaced = await ocisync(["pull", reference, "-o", destination, "--delete"]);
        assert.equal(replaced.code, 0, shown(replaced));
        assert.deepEqual(Object.keys(await snapshot(destination)), ["sub", "sub/new.txt"]);
        assert.deepEqual(stagingIn(tmp), [], "no staging folder is left behind");
      }),
  );
}

test(
  "pull as root refuses to rename the image into a folder that another user can swap: --delete, or a new destination",
  notRoot,
  () =>
    withScratch(async (tmp) => {
      const reference = await tarImage(tmp, [[{ type: "file", name: "new.txt" }]]);
      // alice owns home/alice and home/alice/a: she can swap `a` for a link to a folder of
      // root's, between root's look and its renames, where an `app` of root's would be swapped
      // out and removed, or a new folder made.
      await Deno.chmod(tmp, 0o755);
      await Deno.mkdir(`${tmp}/home/alice/a/app`, { recursive: true });
      await Deno.writeTextFile(`${tmp}/home/alice/a/app/important.conf`, "root's\n");
      await Deno.chown(`${tmp}/home/alice`, NOBODY, NOBODY);
      await Deno.chown(`${tmp}/home/alice/a`, NOBODY, NOBODY);
      const before = await snapshot(`${tmp}/home`);
      const cases: [string, string[]][] = [
        ["--delete", ["-o", `${tmp}/home/alice/a/app`, "--delete"]],
        ["a new destination", ["-o", `${tmp}/home/alice/a/newapp`]],
      ];
      for (const [what, args] of cases) {
        const refused = await ocisync(["pull", reference, ...args]);
        assert.equal(refused.code, ExitCode.Usage, `${what}: ${shown(refused)}`);
        assert.match(refused.stderr, /refusing to pull into .* as root: .*\/home\/alice\/a can be/);
        assert.match(refused.stderr, /its folder is owned by uid 65534/, what);
        assert.match(refused.stderr, /nothing was changed/, what);
        assert.deepEqual(await snapshot(`${tmp}/home`), before, what);
        assert.deepEqual(stagingIn(tmp), [], `${what}: no staging folder is left behind`);
      }
    }),
);

test(
  "a user's merge gives a folder of theirs that they may not read the image's mode",
  notRoot,
  () =>
    withScratch(async (tmp) => {
      await tarImage(tmp, [[
        { type: "dir", name: "w", mode: 0o711 },
        { type: "file", name: "w/new.txt", data: "from the image\n" },
      ]]);
      await Deno.chmod(tmp, 0o755);
      await runOk("chmod", ["-R", "a+rX", `${tmp}/layout`]);
      // The service's folder w/ may be written and searched, not read, by its owner.
      const destination = `${tmp}/srv/flows`;
      await Deno.mkdir(`${destination}/w`, { recursive: true });
      await Deno.writeTextFile(`${destination}/w/mine.txt`, "the service's\n");
      await runOk("chown", ["-R", `${NOBODY}:${NOBODY}`, destination]);
      await Deno.chmod(`${destination}/w`, 0o311);
      const asService = await asNobody(tmp);
      const pulled = await asService(["pull", `oci:${tmp}/layout:v1`, "-o", destination]);
      assert.equal(pulled.code, ExitCode.Ok, shown(pulled));
      assert.equal((await Deno.lstat(`${destination}/w`)).mode! & 0o7777, 0o711);
      assert.deepEqual([...Deno.readDirSync(`${destination}/w`)].map((e) => e.name).sort(), [
        "mine.txt",
        "new.txt",
      ]);
    }),
);

test(
  "pull as root of an image with a sticky tmp/ keeps the bit, and pulls it again over itself",
  notRoot,
  () =>
    withScratch(async (tmp) => {
      const reference = await tarImage(tmp, [[
        { type: "dir", name: "tmp", mode: 0o1777 },
        { type: "dir", name: "tmp/.X11-unix", mode: 0o1777 },
        { type: "file", name: "tmp/.X11-unix/keep", data: "x\n" },
      ]]);
      const destination = `${tmp}/rootfs`;
      for (const pull of ["first", "second, a merge"]) {
        const pulled = await ocisync(["pull", reference, "-o", destination]);
        assert.equal(pulled.code, 0, `${pull}: ${shown(pulled)}`);
        for (const folder of ["tmp", "tmp/.X11-unix"]) {
          const mode = (await Deno.lstat(`${destination}/${folder}`)).mode! & 0o7777;
          assert.equal(mode, 0o1777, `${pull}: ${folder} ${mode.toString(8)}`);
        }
      }
    }),
);

test(
  "pull as root merges into a sticky folder's own subfolders (the sticky bit keeps others off)",
  notRoot,
  () =>
    withScratch(async (tmp) => {
      const reference = await tarImage(tmp, [[
        { type: "dir", name: "sub", mode: 0o750 },
        { type: "file", name: "sub/new.txt", data: "from the image\n" },
      ]]);
      const destination = `${tmp}/dest`;
      await Deno.mkdir(`${destination}/sub`, { recursive: true });
      await Deno.writeTextFile(`${destination}/sub/mine.txt`, "the user's\n");
      await Deno.chmod(destination, 0o1777);
      const merged = await ocisync(["pull", reference, "-o", destination]);
      assert.equal(merged.code, 0, shown(merged));
      assert.deepEqual(Object.keys(await snapshot(destination)), [
        "sub",
        "sub/mine.txt",
        "sub/new.txt",
      ]);
      assert.equal(modeOf(`${destination}/sub`), 0o750, "the image's mode");
    }),
);

/** A destination with the user's files where the image has files too, and `data/` to mount on. */
async function mergeScene(tmp: string): Promise<{ reference: string; destination: string }> {
  const reference = await tarImage(tmp, [[
    { type: "file", name: "aaa.conf", data: "image aaa\n" },
    { type: "dir", name: "conf", mode: 0o755 },
    { type: "file", name: "conf/app.yaml", data: "image app\n" },
    { type: "file", name: "conf/new.yaml", data: "image new\n" },
    { type: "dir", name: "data", mode: 0o755 },
    { type: "file", name: "data/seed.db", data: "image seed\n" },
    { type: "file", name: "zzz.conf", data: "image zzz\n" },
  ]]);
  const destination = `${tmp}/dest`;
  await Deno.mkdir(`${destination}/conf`, { recursive: true, mode: 0o750 });
  await Deno.chmod(`${destination}/conf`, 0o750);
  await Deno.mkdir(`${destination}/data`);
  await Deno.writeTextFile(`${destination}/aaa.conf`, "user aaa\n");
  await Deno.writeTextFile(`${destination}/zzz.conf`, "user zzz\n");
  await Deno.writeTextFile(`${destination}/conf/app.yaml`, "user app\n");
  await Deno.symlink("app.yaml", `${destination}/conf/link`);
  return { reference, destination };
}

test(
  "pull: a folder to merge into on another file system is refused before any change",
  notMountable,
  () =>
    withScratch(async (tmp) => {
      const { reference, destination } = await mergeScene(tmp);
      await runOk("mount", ["-t", "tmpfs", "none", `${destination}/data`]);
      try {
        await Deno.writeTextFile(`${destination}/data/user.db`, "user db\n");
        const before = await snapshot(destination);
        const refused = await ocisync(["pull", reference, "-o", destination]);
        assert.equal(refused.code, ExitCode.Other, shown(refused));
        assert.match(
          refused.stderr,
          new RegExp(`${destination}/data is on another file system than the staging folder`),
        );
        assert.deepEqual(await snapshot(destination), before);
        assert.equal(Deno.readTextFileSync(`${destination}/aaa.conf`), "user aaa\n");
        assert.deepEqual(stagingIn(destination), [], "no staging folder is left behind");
      } finally {
        await runOk("umount", [`${destination}/data`]);
      }
    }),
);

test(
  "pull: a merge that fails midway is undone: the user's files and modes are back",
  notMountable,
  () =>
    withScratch(async (tmp) => {
      const { reference, destination } = await mergeScene(tmp);
      // A bind mount of the same file system: the same device, so only the rename finds out
      // (EXDEV), after aaa.conf and conf/ were merged (the merge goes in name order).
      await runOk("mount", ["--bind", `${destination}/data`, `${destination}/data`]);
      try {
        await Deno.writeTextFile(`${destination}/data/user.db`, "user db\n");
        const before = await snapshot(destination);
        const failed = await ocisync(["pull", reference, "-o", destination]);
        assert.equal(failed.code, ExitCode.Other, shown(failed));
        assert.match(failed.stderr, /Invalid cross-device link/);
        assert.deepEqual(await snapshot(destination), before);
        assert.equal(Deno.readTextFileSync(`${destination}/aaa.conf`), "user aaa\n");
        assert.equal(Deno.readTextFileSync(`${destination}/conf/app.yaml`), "user app\n");
        assert.equal(modeOf(`${destination}/conf`), 0o750);
        assert.deepEqual(stagingIn(destination), [], "no staging folder is left behind");
      } finally {
        await runOk("umount", [`${destination}/data`]);
      }
      // Without the mount, the same pull merges: the failure was the mount's alone.
      const merged = await ocisync(["pull", reference, "-o", destination]);
      assert.equal(merged.code, 0, shown(merged));
      assert.equal(Deno.readTextFileSync(`${destination}/aaa.conf`), "image aaa\n");
      assert.equal(Deno.readTextFileSync(`${destination}/data/seed.db`), "image seed\n");
    }),
);

/**
 * A deep tree to merge, at `tmp/dest`, as an earlier pull and its user left it: read-only folders
 * (0555) three deep, files and a link that the image replaces, a file and a link where the image
 * has folders, the user's own files; and the image, at `tmp/layout`, which also has a folder
 * `zz/` (last in name order, so merged after every other step) holding `data/seed.db` and
 * `longNames` files of 100-character names.
 */
async function deepMergeScene(
  tmp: string,
  longNames: number,
): Promise<{ reference: string; destination: string }> {
  const reference = await tarImage(tmp, [[
    { type: "dir", name: "a", mode: 0o555 },
    { type: "file", name: "a/top.txt", data: "image top\n" },
    { type: "dir", name: "a/b", mode: 0o555 },
    { type: "dir", name: "a/b/c", mode: 0o700 },
    { type: "file", name: "a/b/c/app.conf", data: "image app\n", mode: 0o644 },
    { type: "file", name: "a/b/c/run.sh", data: "image run\n", mode: 0o755 },
    { type: "dir", name: "a/b/c/cache", mode: 0o755 },
    { type: "file", name: "a/b/c/cache/index", data: "image index\n" },
    { type: "dir", name: "a/b/c/plugins", mode: 0o555 },
    { type: "file", name: "a/b/c/plugins/p.py", data: "image plugin\n" },
    { type: "dir", name: "a/b/new", mode: 0o555 },
    { type: "dir", name: "a/b/new/deeper", mode: 0o555 },
    { type: "file", name: "a/b/new/deeper/f", data: "image f\n" },
    { type: "dir", name: "zz", mode: 0o755 },
    { type: "dir", name: "zz/data", mode: 0o755 },
    { type: "file", name: "zz/data/seed.db", data: "image seed\n" },
    ...Array.from({ length: longNames }, (_, i): Entry => ({
      type: "file",
      name: `zz/${"n".repeat(96)}${String(i).padStart(4, "0")}`,
      data: "image\n",
    })),
  ]]);
  const destination = `${tmp}/dest`;
  const c = `${destination}/a/b/c`;
  await Deno.mkdir(c, { recursive: true });
  await Deno.mkdir(`${destination}/zz/data`, { recursive: true });
  const files: [string, string, number][] = [
    ["a/top.txt", "user top\n", 0o640],
    ["a/b/notes.txt", "the user's notes\n", 0o600],
    ["a/b/c/app.conf", "user app\n", 0o600],
    ["a/b/c/run.sh", "user run\n", 0o700],
    ["a/b/c/mine.txt", "the user's own\n", 0o644],
    ["a/b/c/plugins", "a file where the image has a folder\n", 0o644],
    ["zz/keep", "the user's, in zz\n", 0o644],
  ];
  for (const [path, text, mode] of files) {
    await Deno.writeTextFile(`${destination}/${path}`, text);
    await Deno.chmod(`${destination}/${path}`, mode);
  }
  await Deno.symlink("../../b", `${c}/cache`);
  // Modes last, deepest first: the folders an earlier pull made read-only, and c the user's.
  for (const [path, mode] of [["a/b/c", 0o750], ["a/b", 0o555], ["a", 0o555]] as const) {
    await Deno.chmod(`${destination}/${path}`, mode);
  }
  return { reference, destination };
}

/**
 * A bound of what a merge keeps about paths that the scene's merge passes midway through zz/ with
 * 60 long names (about 2 KB go on the steps under a/, 9 KB on the names of zz/, and 190 bytes on
 * each file moved in there), and holds without them.
 */
const SCENE_RETAINED_BYTES = 16_000;

test(
  "pull: a deep merge past maxRetainedBytes stops midway, is undone, and fails as unsafe content",
  undefined,
  () =>
    withScratch(async (tmp) => {
      const pullWithBound = async (dir: string, destination: string) => {
        const layout = await LayoutTarget.open(`${dir}/layout`);
        return await pull(layout, await layout.resolve("v1"), destination, {
          maxRetainedBytes: SCENE_RETAINED_BYTES,
        });
      };
      // Without the long names, the merge holds within the bound: so with them, it fails only
      // in zz/, once every step under a/ and zz/data is done.
      await Deno.mkdir(`${tmp}/fits`);
      const fits = await deepMergeScene(`${tmp}/fits`, 0);
      await pullWithBound(`${tmp}/fits`, fits.destination);
      assert.equal(
        Deno.readTextFileSync(`${fits.destination}/a/b/c/plugins/p.py`),
        "image plugin\n",
      );
      await Deno.mkdir(`${tmp}/fails`);
      const { destination } = await deepMergeScene(`${tmp}/fails`, 60);
      const before = await snapshot(destination);
      await assert.rejects(
        () => pullWithBound(`${tmp}/fails`, destination),
        (error) =>
          error instanceof UnsafeContentError &&
          exitCodeOf(error) === ExitCode.UnsafeContent &&
          /limit of 16000 bytes of memory holds \(the paths a merge/.test(error.message),
      );
      // Byte for byte and mode for mode, links and the user's own files included; no staging
      // folder is left (it would be listed).
      assert.deepEqual(await snapshot(destination), before);
      assert.equal(Deno.readTextFileSync(`${destination}/a/b/c/app.conf`), "user app\n");
      assert.equal(modeOf(`${destination}/a/b`), 0o555);
    }),
);

test(
  "pull: a deep merge that fails midway is undone: files, links and read-only folders are back",
  notMountable,
  () =>
    withScratch(async (tmp) => {
      const { reference, destination } = await deepMergeScene(tmp, 0);
      // A bind mount of the same file system: only the rename into zz/data finds out (EXDEV),
      // after every step under a/.
      await runOk("mount", ["--bind", `${destination}/zz/data`, `${destination}/zz/data`]);
      try {
        const before = await snapshot(destination);
        const failed = await ocisync(["pull", reference, "-o", destination]);
        assert.equal(failed.code, ExitCode.Other, shown(failed));
        assert.match(failed.stderr, /Invalid cross-device link/);
        assert.deepEqual(await snapshot(destination), before);
      } finally {
        await runOk("umount", [`${destination}/zz/data`]);
      }
      // Without the mount, the same pull merges: the failure was the mount's alone.
      const merged = await ocisync(["pull", reference, "-o", destination]);
      assert.equal(merged.code, 0, shown(merged));
      assert.equal(Deno.readTextFileSync(`${destination}/a/b/c/app.conf`), "image app\n");
      assert.equal(Deno.readTextFileSync(`${destination}/a/b/c/mine.txt`), "the user's own\n");
      assert.equal(modeOf(`${destination}/a/b/c/plugins`), 0o555);
      assert.equal(modeOf(`${destination}/a/b/c`), 0o700);
    }),
);

/**
 * The mounts of the replace test: a tmpfs at the top, and deeper, under a name with a space (the
 * mount table writes it `\040`), a bind mount of a folder of the destination's own file system,
 * which has the destination's device: only the mount table shows it.
 */
const INNER_MOUNTS = [
  { name: "a file system", at: "data", bind: false },
  { name: "a bind mount", at: "conf/deep dir", bind: true },
];

for (const { name, at, bind } of INNER_MOUNTS) {
  test(
    `pull --delete: a folder with ${name} mounted inside is not replaced; its files stay`,
    notMountable,
    () =>
      withScratch(async (tmp) => {
        const { reference, destination } = await mergeScene(tmp);
        const mountPoint = `${destination}/${at}`;
        await Deno.mkdir(mountPoint, { recursive: true });
        if (bind) {
          await Deno.mkdir(`${tmp}/kept`);
          await runOk("mount", ["--bind", `${tmp}/kept`, mountPoint]);
        } else {
          await runOk("mount", ["-t", "tmpfs", "none", mountPoint]);
        }
        try {
          await Deno.writeTextFile(`${mountPoint}/user.db`, "user db\n");
          const before = await snapshot(destination);
          const refused = await ocisync(["pull", reference, "-o", destination, "--delete"]);
          assert.equal(refused.code, ExitCode.Usage, shown(refused));
          const said = `cannot replace ${destination}: a file system is mounted inside it, ` +
            `at ${mountPoint}, whose files would be deleted with the old content`;
          assert.ok(refused.stderr.includes(said), shown(refused));
          assert.deepEqual(await snapshot(destination), before);
          assert.equal(Deno.readTextFileSync(`${mountPoint}/user.db`), "user db\n");
          assert.deepEqual(stagingIn(tmp), [], "no staging folder is left behind");
        } finally {
          await runOk("umount", [mountPoint]);
        }
        // Unmounted, the same pull replaces the folder: the refusal was the mount's alone.
        const replaced = await ocisync(["pull", reference, "-o", destination, "--delete"]);
        assert.equal(replaced.code, 0, shown(replaced));
        const after = Object.keys(await snapshot(destination));
        assert.ok(!after.includes("conf/link"), "the user's link went with the old content");
        assert.equal(Deno.readTextFileSync(`${destination}/aaa.conf`), "image aaa\n");
      }),
  );
}

test(
  "sync: an old version with a file system mounted inside is not pruned; its files stay",
  notMountable,
  () =>
    withScratch(async (tmp) => {
      const destination = `${tmp}/srv`;
      const deliver = async (n: number) => {
        const reference = await tarImage(tmp, [[
          { type: "file", name: "app.txt", data: `v${n}\n` },
        ]]);
        const synced = await ocisync(["sync", reference, "-o", destination, "--once"]);
        assert.equal(synced.code, 0, shown(synced));
      };
      await deliver(1);
      // Mounted where the link led: the first version's folder.
      const first = await Deno.realPath(`${destination}/current`);
      await Deno.mkdir(`${first}/data`);
      await runOk("mount", ["-t", "tmpfs", "none", `${first}/data`]);
      try {
        await Deno.writeTextFile(`${first}/data/user.db`, "user db\n");
        await deliver(2);
        await deliver(3); // two kept: the first is beyond them
        assert.equal(Deno.readTextFileSync(`${destination}/current/app.txt`), "v3\n");
        assert.equal(Deno.readTextFileSync(`${first}/data/user.db`), "user db\n");
      } finally {
        await runOk("umount", [`${first}/data`]);
      }
      // Unmounted, the next change prunes it.
      await deliver(4);
      assert.throws(() => Deno.lstatSync(first), Deno.errors.NotFound);
    }),
);

test(
  "mountPointBelow, short of every permission, finds a file system mounted below by its device",
  notMountable,
  () =>
    withScratch(async (tmp) => {
      await Deno.mkdir(`${tmp}/top/a/b`, { recursive: true });
      await runOk("mount", ["-t", "tmpfs", "none", `${tmp}/top/a/b`]);
      try {
        // Deno reads /proc/self/mounts only with every permission: this run has read alone.
        const script = `${tmp}/find.ts`;
        const mounts = new URL("../src/fs/mounts.ts", import.meta.url).href;
        await Deno.writeTextFile(
          script,
          `import { mountPointBelow } from "${mounts}";\n` +
            "console.log(await mountPointBelow(Deno.args[0]) ?? 'none');\n",
        );
        const found = await run(Deno.execPath(), ["run", "--allow-read", script, `${tmp}/top`]);
        assert.equal(found.code, 0, shown(found));
        assert.equal(found.stdout.trim(), `${tmp}/top/a/b`);
        const within = await run(Deno.execPath(), [
          "run",
          "--allow-read",
          script,
          `${tmp}/top/a/b`,
        ]);
        assert.equal(within.stdout.trim(), "none", "the file system mounted on the folder itself");
      } finally {
        await runOk("umount", [`${tmp}/top/a/b`]);
      }
    }),
);

/** Titles that name whiteouts, each beside a file that it would delete. */
const WHITEOUT_TITLES: { name: string; files: Record<string, string>; copy?: boolean }[] = [
  { name: "a file's whiteout", files: { "a.txt": "a\n", ".wh.a.txt": "" } },
  { name: "an opaque whiteout", files: { "d/a.txt": "a\n", "d/.wh..wh..opq": "" } },
  { name: "in a folder's name", files: { "a.txt": "a\n", ".wh.d/b.txt": "b\n" } },
  { name: "copied", files: { "a.txt": "a\n", ".wh.a.txt": "" }, copy: true },
];

for (const { name, files, copy } of WHITEOUT_TITLES) {
  test(
    `pull refuses an artifact file named like a whiteout (${name})`,
    undefined,
    () =>
      withScratch(async (tmp) => {
        const reference = await artifact(tmp, files);
        const destination = `${tmp}/dest`;
        await Deno.mkdir(destination);
        await Deno.writeTextFile(`${destination}/keep.txt`, "the user's\n");
        const before = await snapshot(destination);
        const refused = await ocisync([
          "pull",
          reference,
          "-o",
          destination,
          ...(copy ? ["--layer-operation", "copy"] : []),
        ]);
        assert.equal(refused.code, ExitCode.UnsafeContent, shown(refused));
        assert.match(refused.stderr, /a name starting with \.wh\. is a whiteout/);
        assert.deepEqual(await snapshot(destination), before);
        assert.deepEqual(stagingIn(destination), []);
      }),
  );
}
