/**
 * `-o` onto files that are not regular (issue 13): a fifo, a character device,
 * symlinks (to a regular file, dangling, to `/proc/self/fd/1`), `-o -`, and the
 * errors of paths that cannot be written, which must name the path. Every
 * input is built here, in a temporary folder.
 */
import assert from "node:assert/strict";
import { RUN_FLAGS } from "../scripts/permissions.ts";
import { ExitCode } from "../src/cli/exit.ts";
import { ocisync, run, runOk, shown } from "./helpers/cli.ts";
import { asNobody } from "./helpers/unprivileged.ts";
import { writeWheels } from "./helpers/wheels.ts";
import { requireTool } from "./helpers/tools.ts";

requireTool("mkfifo", "coreutils");

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A temporary folder with `src/` to pack, removed afterwards. */
async function withTree(body: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-output-test-" });
  try {
    await Deno.mkdir(`${tmp}/src/sub`, { recursive: true });
    await Deno.writeTextFile(`${tmp}/src/hello.py`, "print('hello')\n");
    await Deno.writeTextFile(`${tmp}/src/sub/data.txt`, "x".repeat(100_000));
    await body(tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** The layer that `pack` writes to a regular file, as a reference for the other outputs. */
async function referenceLayer(tmp: string): Promise<Uint8Array> {
  const result = await ocisync(["pack", `${tmp}/src`, "-o", `${tmp}/reference.tar.gz`]);
  assert.equal(result.code, 0, shown(result));
  return await Deno.readFile(`${tmp}/reference.tar.gz`);
}

/**
 * Reads a fifo to its end in a `cat` of its own, as a consumer of the layer would. `bytes`
 * fails after 60 s: a regression that renames over the fifo leaves `cat` waiting for a writer
 * that never comes, and the test must fail rather than hang.
 */
function readFifo(path: string): { bytes: Promise<Uint8Array> } {
  const cat = new Deno.Command("cat", { args: [path], stdout: "piped" }).spawn();
  const timer = setTimeout(() => cat.kill("SIGKILL"), 60_000);
  const bytes = cat.output().then((output) => {
    clearTimeout(timer);
    if (!output.success) throw new Error(`nothing was written into the fifo ${path}`);
    return output.stdout;
  });
  return { bytes };
}

/**
 * `run`, failing after 60 s instead of hanging: then `unblock` frees the process, e.g. by
 * opening the fifo it waits on.
 */
async function withinMinute<T>(run: Promise<T>, unblock: () => Promise<void>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), 60_000));
  const first = await Promise.race([run, late]);
  clearTimeout(timer);
  if (first !== "late") return first;
  await unblock();
  await run;
  throw new Error("the command did not finish within a minute");
}

/** Runs ocisync through `sh`, with a redirection of its own: `sh -c '… >> FILE'`. */
function ocisyncShell(args: string[], redirect: string) {
  const quoted = [Deno.execPath(), "run", ...RUN_FLAGS, MAIN, ...args]
    .map((word) => `'${word.replaceAll("'", `'\\''`)}'`).join(" ");
  return run("sh", ["-c", `${quoted} ${redirect}`]);
}

Deno.test("output: pack into a fifo writes through it, and the fifo stays a fifo", async () => {
  await withTree(async (tmp) => {
    const expected = await referenceLayer(tmp);
    await runOk("mkfifo", [`${tmp}/pipe`]);
    const read = readFifo(`${tmp}/pipe`);
    const result = await ocisync(["pack", `${tmp}/src`, "-o", `${tmp}/pipe`, "--json"]);
    assert.equal(result.code, 0, shown(result));
    assert.deepEqual(await read.bytes, expected, "the reader gets the same bytes as a file would");
    assert.equal((await Deno.lstat(`${tmp}/pipe`)).isFifo, true);
    assert.equal(JSON.parse(result.stdout).path, `${tmp}/pipe`);
    const names = [...Deno.readDirSync(tmp)].map((e) => e.name).sort();
    assert.deepEqual(names, ["pipe", "reference.tar.gz", "src"], "no temporary file is left");
  });
});

Deno.test("output: pack onto a character device leaves it a character device", async () => {
  await withTree(async (tmp) => {
    // As root, a device node of our own (1,3 is /dev/null), so that a regression replaces a
    // file in the test's folder and not the host's /dev/null. Others cannot rename over
    // /dev/null anyway, so they write to it.
    const device = Deno.uid() === 0 ? `${tmp}/null` : "/dev/null";
    if (Deno.uid() === 0) await runOk("mknod", [device, "c", "1", "3"]);
    for (const compression of ["gzip", "none"]) {
      const result = await ocisync([
        "pack",
        `${tmp}/src`,
        "-o",
        device,
        "-q",
        "--compression",
        compression,
      ]);
      assert.equal(result.code, 0, shown(result));
      assert.match(result.stdout, /^sha256:[0-9a-f]{64}\n$/);
      const info = await Deno.lstat(device);
      assert.equal(info.isCharDevice, true, `${device} is still a character device`);
      assert.equal(info.isFile, false);
    }
    assert.deepEqual([...Deno.readDirSync(tmp)].map((e) => e.name).sort(), [
      ...(Deno.uid() === 0 ? ["null"] : []),
      "src",
    ]);
  });
});

Deno.test("output: a symlink to a regular file stays a link, and its target gets the layer", async () => {
  await withTree(async (tmp) => {
    const expected = await referenceLayer(tmp);
    await Deno.mkdir(`${tmp}/store`);
    await Deno.writeTextFile(`${tmp}/store/layer.tar.gz`, "old content");
    await Deno.symlink("store/layer.tar.gz", `${tmp}/link.tar.gz`);
    // A chain of two links, the second absolute, and a link whose target does not exist yet.
    await Deno.symlink(`${tmp}/link.tar.gz`, `${tmp}/chain.tar.gz`);
    await Deno.symlink("store/new.tar.gz", `${tmp}/dangling.tar.gz`);
    for (const link of ["link.tar.gz", "chain.tar.gz", "dangling.tar.gz"]) {
      const result = await ocisync(["pack", `${tmp}/src`, "-o", `${tmp}/${link}`]);
      assert.equal(result.code, 0, shown(result));
      assert.equal((await Deno.lstat(`${tmp}/${link}`)).isSymlink, true, `${link} is a link`);
      assert.deepEqual(await Deno.readFile(`${tmp}/${link}`), expected, link);
    }
    assert.equal(await Deno.readLink(`${tmp}/chain.tar.gz`), `${tmp}/link.tar.gz`);
    assert.deepEqual(await Deno.readFile(`${tmp}/store/new.tar.gz`), expected);
    const store = [...Deno.readDirSync(`${tmp}/store`)].map((e) => e.name).sort();
    assert.deepEqual(store, ["layer.tar.gz", "new.tar.gz"], "no temporary file is left");
  });
});

Deno.test("output: a replaced file keeps its mode, a new one gets 0644 less the umask", async () => {
  await withTree(async (tmp) => {
    await Deno.writeTextFile(`${tmp}/private.tar.gz`, "old");
    await Deno.chmod(`${tmp}/private.tar.gz`, 0o600);
    await Deno.writeTextFile(`${tmp}/setuid.tar.gz`, "old");
    await Deno.chmod(`${tmp}/setuid.tar.gz`, 0o4750);
    for (const name of ["private.tar.gz", "setuid.tar.gz", "new.tar.gz"]) {
      const result = await ocisync(["pack", `${tmp}/src`, "-o", `${tmp}/${name}`]);
      assert.equal(result.code, 0, shown(result));
    }
    const umask = Deno.umask();
    const modes = ["private", "setuid", "new"].map((name) =>
      Deno.statSync(`${tmp}/${name}.tar.gz`).mode! & 0o7777
    );
    // The setuid bit is not lent to new content.
    assert.deepEqual(modes, [0o600, 0o750 & ~umask, 0o644 & ~umask]);
  });
});

Deno.test("output: copy to oci-archive: or docker-archive: /dev/stdout or a fifo streams the archive, with no lock or staging beside it", async () => {
  await withTree(async (tmp) => {
    const pushed = await ocisync(["push", `oci:${tmp}/layout:v1`, `${tmp}/src`]);
    assert.equal(pushed.code, 0, shown(pushed));
    const expected = {
      "oci-archive": ["blobs/", "index.json", "oci-layout"],
      "docker-archive": ["manifest.json"],
    };
    for (const [kind, members] of Object.entries(expected)) {
      const streamed = await ocisyncShell(
        ["copy", `oci:${tmp}/layout:v1`, `${kind}:/dev/stdout`],
        `> '${tmp}/${kind}.tar'`,
      );
      assert.equal(streamed.code, 0, shown(streamed));
      // GNU tar reads what went to stdout as a whole archive.
      const listed = (await runOk("tar", ["tf", `${tmp}/${kind}.tar`])).split("\n");
      for (const member of members) assert.ok(listed.includes(member), `${kind}: ${listed}`);

      await runOk("mkfifo", [`${tmp}/${kind}.pipe`]);
      const read = readFifo(`${tmp}/${kind}.pipe`);
      const piped = await ocisync(["copy", `oci:${tmp}/layout:v1`, `${kind}:${tmp}/${kind}.pipe`]);
      assert.equal(piped.code, 0, shown(piped));
      assert.deepEqual(await read.bytes, await Deno.readFile(`${tmp}/${kind}.tar`));
    }
    const left = [...Deno.readDirSync(tmp)].map((e) => e.name).filter((n) =>
      /lock|staging/.test(n)
    );
    assert.deepEqual(left, []);
  });
});

Deno.test("output: a symlink to /proc/self/fd/1, /dev/stdout and -o - write the layer on stdout", async () => {
  await withTree(async (tmp) => {
    const expected = await referenceLayer(tmp);
    await Deno.symlink("/proc/self/fd/1", `${tmp}/stdout-link`);
    for (const output of [`${tmp}/stdout-link`, "/dev/stdout", "-"]) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", ...RUN_FLAGS, MAIN, "pack", `${tmp}/src`, "-o", output, "-q"],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      });
      const result = await child.output();
      const stderr = new TextDecoder().decode(result.stderr);
      assert.equal(result.code, 0, stderr);
      // The layer alone on stdout: the digest goes to stderr, as tar's listing does.
      assert.deepEqual(result.stdout, expected, output);
      assert.match(stderr, /^sha256:[0-9a-f]{64}\n$/);
    }
    assert.equal(await Deno.readLink(`${tmp}/stdout-link`), "/proc/self/fd/1");
  });
});

Deno.test("output: -o /dev/stdout into a file opened for appending appends, as >> asks", async () => {
  await withTree(async (tmp) => {
    const expected = await referenceLayer(tmp);
    await Deno.writeTextFile(`${tmp}/log`, "before\n");
    const result = await ocisyncShell(
      ["pack", `${tmp}/src`, "-o", "/dev/stdout", "-q"],
      `>> '${tmp}/log'`,
    );
    assert.equal(result.code, 0, shown(result));
    const log = await Deno.readFile(`${tmp}/log`);
    assert.deepEqual(new TextDecoder().decode(log.subarray(0, 7)), "before\n");
    assert.deepEqual(log.subarray(7), expected, "the layer follows, whole, and nothing else");
    assert.match(result.stderr, /^sha256:/);
  });
});

Deno.test("output: a folder as -o is refused, naming it, and left as it was", async () => {
  await withTree(async (tmp) => {
    await Deno.mkdir(`${tmp}/out`);
    await Deno.symlink("out", `${tmp}/out-link`);
    for (const output of [`${tmp}/out`, `${tmp}/out-link`]) {
      const result = await ocisync(["pack", `${tmp}/src`, "-o", output]);
      assert.equal(result.code, 1, shown(result));
      assert.match(result.stderr, new RegExp(`cannot write ${output}: it is a folder`));
    }
    assert.deepEqual([...Deno.readDirSync(`${tmp}/out`)], []);
  });
});

Deno.test("output: -o in a folder that does not exist is exit 4, naming the path and its folder, not a temporary file", async () => {
  await withTree(async (tmp) => {
    await writeWheels(`${tmp}/wheels`);
    await Deno.writeTextFile(`${tmp}/requirements.txt`, "purepkg==1.0\n");
    const output = `${tmp}/no-such-folder/layer.tar.gz`;
    const runs = [
      await ocisync(["pack", `${tmp}/src`, "-o", output]),
      await ocisync(
        [
          ...["deps", "-r", `${tmp}/requirements.txt`, "-o", output, "--installer", "pip"],
          ...["--no-index", "--find-links", `${tmp}/wheels`, "--no-cache"],
        ],
      ),
    ];
    for (const result of runs) {
      assert.equal(result.code, ExitCode.NotFound, shown(result));
      assert.ok(
        result.stderr.includes(
          `ocisync: error: cannot write ${output}: the folder ${tmp}/no-such-folder does not exist\n`,
        ),
        shown(result),
      );
      assert.doesNotMatch(result.stderr, /\.tmp/, "the temporary file is not named");
      assert.match(result.stderr, /\nhint: create the folder first/);
    }
    await assert.rejects(Deno.lstat(`${tmp}/no-such-folder`), Deno.errors.NotFound);
  });
});

Deno.test("output: long names: 255 bytes work, longer ones are named in the error", async () => {
  await withTree(async (tmp) => {
    const expected = await referenceLayer(tmp);
    // The temporary file's name is longer than the target's: it is shortened to fit.
    const longest = `${"é".repeat(100)}${"x".repeat(48)}.tar.gz`;
    assert.equal(new TextEncoder().encode(longest).length, 255);
    const ok = await ocisync(["pack", `${tmp}/src`, "-o", `${tmp}/${longest}`]);
    assert.equal(ok.code, 0, shown(ok));
    assert.deepEqual(await Deno.readFile(`${tmp}/${longest}`), expected);
    await Deno.remove(`${tmp}/${longest}`);

    const tooLong = "y".repeat(300);
    for (const output of [`${tmp}/${tooLong}.tar.gz`, `${tmp}/${tooLong}/layer.tar.gz`]) {
      const result = await ocisync(["pack", `${tmp}/src`, "-o", output]);
      assert.equal(result.code, 1, shown(result));
      const [message, hint] = result.stderr.split("\n");
      assert.ok(message.startsWith(`ocisync: error: cannot write ${output}: `), message);
      assert.match(message, /File name too long/);
      assert.match(hint, /^hint: a name in a path can be at most 255 bytes/);
    }
    const pushed = await ocisync(["push", `oci:${tmp}/bundle:v1`, `${tmp}/src`]);
    assert.equal(pushed.code, 0, shown(pushed));
    const pulled = await ocisync(["pull", `oci:${tmp}/bundle:v1`, "-o", `${tmp}/${tooLong}`]);
    assert.equal(pulled.code, 1, shown(pulled));
    assert.match(pulled.stderr, /^ocisync: error: cannot \w+ .*File name too long \(os error 36\)/);
    assert.ok(pulled.stderr.includes(`${tmp}/${tooLong}`), "the error names the path");
    assert.match(pulled.stderr, /\nhint: a name in a path can be at most 255 bytes/);
    const names = [...Deno.readDirSync(tmp)].map((e) => e.name).sort();
    assert.deepEqual(names, ["bundle", "reference.tar.gz", "src"], "nothing is left behind");
  });
});

Deno.test("output: deps into a fifo writes through it, and does not wait to read it back", async () => {
  await withTree(async (tmp) => {
    await writeWheels(`${tmp}/wheels`);
    await Deno.writeTextFile(`${tmp}/requirements.txt`, "purepkg==1.0\n");
    const deps = (output: string) =>
      ocisync([
        "deps",
        "-r",
        `${tmp}/requirements.txt`,
        "-o",
        output,
        "--installer",
        "pip",
        "--no-index",
        "--find-links",
        `${tmp}/wheels`,
        "-q",
      ], { env: { XDG_CACHE_HOME: `${tmp}/cache` } });
    await runOk("mkfifo", [`${tmp}/pipe`]);
    const read = readFifo(`${tmp}/pipe`);
    // Reading the layer back from the fifo, for the cache, would wait for a writer for ever.
    const throughFifo = await withinMinute(deps(`${tmp}/pipe`), async () => {
      (await Deno.open(`${tmp}/pipe`, { write: true })).close();
    });
    assert.equal(throughFifo.code, 0, shown(throughFifo));
    const toFile = await deps(`${tmp}/deps.tar.gz`);
    assert.equal(toFile.code, 0, shown(toFile));
    assert.equal(throughFifo.stdout, toFile.stdout, "one digest");
    assert.deepEqual(await read.bytes, await Deno.readFile(`${tmp}/deps.tar.gz`));
    assert.equal((await Deno.lstat(`${tmp}/pipe`)).isFifo, true);
  });
});

Deno.test("output: pull and pack into a folder this user cannot write name it (run as an unprivileged user)", async () => {
  // root writes everywhere: nobody, with a copy of the program it can read, cannot.
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-output-test-" });
  try {
    await Deno.chmod(tmp, 0o755);
    await Deno.mkdir(`${tmp}/src`);
    await Deno.writeTextFile(`${tmp}/src/a.txt`, "a\n");
    const pushed = await ocisync(["push", `oci:${tmp}/bundle:v1`, `${tmp}/src`]);
    assert.equal(pushed.code, 0, shown(pushed));
    await Deno.mkdir(`${tmp}/locked`, { mode: 0o755 });
    await runOk("chmod", ["-R", "a+rX", `${tmp}/bundle`, `${tmp}/src`]);
    const cli = await asNobody(tmp);

    const pulled = await cli(["pull", `oci:${tmp}/bundle:v1`, "-o", `${tmp}/locked/out`]);
    assert.equal(pulled.code, 1, shown(pulled));
    assert.match(pulled.stderr, /Permission denied \(os error 13\)/);
    // The folder it could not make there: the staging folder, beside the destination.
    assert.ok(
      pulled.stderr.includes(`cannot create the folder ${tmp}/locked/.ocisync-pull-`),
      `names the path: ${pulled.stderr}`,
    );
    assert.match(pulled.stderr, /\nhint: this user may not do that there/);

    const packed = await cli(["pack", `${tmp}/src`, "-o", `${tmp}/locked/layer.tar.gz`]);
    assert.equal(packed.code, 1, shown(packed));
    assert.match(
      packed.stderr,
      new RegExp(`^ocisync: error: cannot write ${tmp}/locked/layer.tar.gz: Permission denied`),
    );
    assert.deepEqual([...Deno.readDirSync(`${tmp}/locked`)], [], "nothing is written");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("output: a temporary folder that cannot be made is named, though Deno's error does not", async () => {
  await withTree(async (tmp) => {
    const result = await ocisync(["push", `oci:${tmp}/bundle:v1`, `${tmp}/src`], {
      env: { TMPDIR: `${tmp}/missing` },
    });
    // A missing folder is exit 4, as the README's table says.
    assert.equal(result.code, ExitCode.NotFound, shown(result));
    assert.match(result.stderr, /^ocisync: error: cannot create a temporary folder: No such file/);
    assert.ok(result.stderr.includes(`hint: temporary files go in ${tmp}/missing`), result.stderr);
    assert.deepEqual([...Deno.readDirSync(tmp)].map((e) => e.name), ["src"]);
  });
});

Deno.test({
  name: "output: root writes through no other user's link, as in /tmp (pack -o, archives)",
  ignore: Deno.uid() !== 0,
  fn: () =>
    withTree(async (tmp) => {
      // The link is read, never opened: the kernel's protected_symlinks does not stop it.
      const sticky = `${tmp}/sticky`;
      await Deno.mkdir(sticky);
      await Deno.chmod(sticky, 0o1777);
      const victim = `${tmp}/root-only`;
      await Deno.writeTextFile(victim, "root's own\n", { mode: 0o600 });
      await ocisync(["push", `oci:${tmp}/bundle:v1`, `${tmp}/src`]);
      for (
        const [name, args] of [
          ["out.tar.gz", ["pack", `${tmp}/src`, "-o", `${sticky}/out.tar.gz`]],
          ["img.tar", ["copy", `oci:${tmp}/bundle:v1`, `docker-archive:${sticky}/img.tar:app:v1`]],
          ["oci.tar", ["copy", `oci:${tmp}/bundle:v1`, `oci-archive:${sticky}/oci.tar:v1`]],
        ] as const
      ) {
        await Deno.symlink(victim, `${sticky}/${name}`);
        await runOk("chown", ["-h", "65534:65534", `${sticky}/${name}`]);
        const result = await ocisync([...args]);
        assert.equal(result.code, ExitCode.Usage, shown(result));
        assert.match(result.stderr, /as root through .*, a symbolic link of user 65534/);
        assert.equal(await Deno.readTextFile(victim), "root's own\n", name);
      }
      // root's own link is written through, as before.
      await Deno.symlink(`${tmp}/mine.tar.gz`, `${tmp}/link.tar.gz`);
      const own = await ocisync(["pack", `${tmp}/src`, "-o", `${tmp}/link.tar.gz`]);
      assert.equal(own.code, 0, shown(own));
      assert.ok((await Deno.lstat(`${tmp}/mine.tar.gz`)).isFile);
    }),
});
