/**
 * `ocisync deps`, offline: wheels made here with Python's zipfile, installed
 * by the real pip with `--no-index --find-links`, and the layers read back by
 * GNU tar and Python.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ocisync, runOk } from "./helpers/cli.ts";
import { requireTool } from "./helpers/tools.ts";
import { installCalls, recordingPip, requirePip, writeWheels } from "./helpers/wheels.ts";

requirePip();
requireTool("tar", "tar");

async function withWork(body: (tmp: string, wheels: string) => Promise<void>): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-deps-test-" });
  try {
    await writeWheels(`${tmp}/wheels`);
    await body(tmp, `${tmp}/wheels`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** `ocisync deps` with pip, offline, and a cache of the test's own. */
function deps(tmp: string, wheels: string, args: string[], env: Record<string, string> = {}) {
  return ocisync(
    ["deps", "--installer", "pip", "--no-index", "--find-links", wheels, ...args],
    { env: { XDG_CACHE_HOME: `${tmp}/cache`, ...env } },
  );
}

const PYTHON_RECORD_CHECK = `
import base64, csv, hashlib, os, sys
root = sys.argv[1]
for info in sorted(d for d in os.listdir(root) if d.endswith(".dist-info")):
    for row in csv.reader(open(os.path.join(root, info, "RECORD"))):
        path = os.path.normpath(row[0])
        while path.startswith("../"):
            path = path[3:]
        assert os.path.exists(os.path.join(root, path)), f"{info}/RECORD names missing {row[0]}"
        if row[1]:
            data = open(os.path.join(root, path), "rb").read()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert row[1] == "sha256=" + digest and int(row[2]) == len(data), f"stale {row[0]}"
print("records ok")
`;

Deno.test("deps: two runs on other staging paths and times give one digest, without host traces", async () => {
  await withWork(async (tmp, wheels) => {
    // A direct file URL makes pip write direct_url.json with this host's path.
    const pure = `${wheels}/purepkg-1.0-py3-none-any.whl`;
    const hash = createHash("sha256").update(await Deno.readFile(pure)).digest("hex");
    const requirements = `${tmp}/requirements.txt`;
    await Deno.writeTextFile(
      requirements,
      `purepkg @ file://${pure}#sha256=${hash}\nclitool==2.0\nnativepkg==1.0  # native\n`,
    );

    // What pip leaves without ocisync: the traces the normalisation exists for.
    await runOk("python3", [
      "-m",
      "pip",
      "install",
      "--target",
      `${tmp}/plain`,
      "--no-compile",
      "--no-index",
      "--find-links",
      wheels,
      "-r",
      requirements,
    ]);
    await Deno.stat(`${tmp}/plain/purepkg-1.0.dist-info/direct_url.json`);
    await Deno.stat(`${tmp}/plain/purepkg/__pycache__/__init__.cpython-311.pyc`);
    assert.match(await Deno.readTextFile(`${tmp}/plain/bin/clitool`), /^#!\/\S+python/);

    const results = [];
    for (const name of ["one", "two"]) {
      await Deno.mkdir(`${tmp}/staging-${name}`);
      const result = await deps(
        tmp,
        wheels,
        ["-r", requirements, "-o", `${tmp}/${name}.tar.gz`, "--no-cache", "--json"],
        { TMPDIR: `${tmp}/staging-${name}` },
      );
      assert.equal(result.code, 0, result.stderr);
      assert.doesNotMatch(result.stderr, /warning/, "every requirement is pinned");
      results.push(JSON.parse(result.stdout));
      // pip's files get the current time as mtime: the second run is at another second.
      await new Promise((resolve) => setTimeout(resolve, 1100));
    }
    assert.equal(results[0].digest, results[1].digest);
    assert.equal(results[0].cached, false);
    assert.deepEqual(
      await Deno.readFile(`${tmp}/one.tar.gz`),
      await Deno.readFile(`${tmp}/two.tar.gz`),
    );

    const listing = (await runOk("tar", ["-tzf", `${tmp}/one.tar.gz`])).trim().split("\n");
    assert.ok(listing.includes("opt/ocisync/deps/purepkg/__init__.py"), listing.join("\n"));
    assert.deepEqual(listing.filter((p) => /\.pyc$|__pycache__|direct_url\.json/.test(p)), []);

    await Deno.mkdir(`${tmp}/unpacked`);
    await runOk("tar", ["-xzf", `${tmp}/one.tar.gz`, "-C", `${tmp}/unpacked`]);
    const site = `${tmp}/unpacked/opt/ocisync/deps`;
    const script = await Deno.readTextFile(`${site}/bin/clitool`);
    assert.equal(script.split("\n")[0], "#!/usr/bin/env python3");
    for (const path of listing.filter((p) => !p.endsWith("/"))) {
      const text = await Deno.readTextFile(`${tmp}/unpacked/${path}`);
      assert.ok(!text.includes(tmp), `${path} names the build host's path ${tmp}`);
    }
    assert.equal((await runOk("python3", ["-c", PYTHON_RECORD_CHECK, site])).trim(), "records ok");

    const env = { PYTHONPATH: site, PYTHONDONTWRITEBYTECODE: "1" };
    const imported = await runOk(
      "python3",
      ["-c", "import purepkg, clitool, nativepkg; print(purepkg.VALUE, nativepkg.ARCH)"],
      { env },
    );
    assert.equal(imported.trim(), "pure x86_64");
    assert.equal((await runOk(`${site}/bin/clitool`, [], { env })).trim(), "cli ok");
  });
});

Deno.test("deps: --platform picks the wheel built for the target, not the host", async () => {
  await withWork(async (tmp, wheels) => {
    await Deno.writeTextFile(`${tmp}/requirements.txt`, "nativepkg==1.0\n");
    const digests = new Set<string>();
    for (const arch of ["aarch64", "x86_64"]) {
      const output = `${tmp}/${arch}.tar.gz`;
      const result = await deps(tmp, wheels, [
        "-r",
        `${tmp}/requirements.txt`,
        "-o",
        output,
        "--platform",
        `manylinux2014_${arch}`,
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
        "--prefix",
        "/site",
        "-q",
      ]);
      assert.equal(result.code, 0, result.stderr);
      digests.add(result.stdout.trim());
      const module = await runOk("tar", ["-xzOf", output, "site/nativepkg/__init__.py"]);
      assert.equal(module, `ARCH = '${arch}'\n`);
      const wheel = await runOk("tar", ["-xzOf", output, "site/nativepkg-1.0.dist-info/WHEEL"]);
      assert.match(wheel, new RegExp(`Tag: py3-none-manylinux2014_${arch}`));
    }
    assert.equal(digests.size, 2);
  });
});

Deno.test("deps: a second run comes from the cache without running the installer", async () => {
  await withWork(async (tmp, wheels) => {
    const pip = await recordingPip(tmp);
    const requirements = `${tmp}/requirements.txt`;
    await Deno.writeTextFile(requirements, "purepkg==1.0\nclitool==2.0\n");
    const build = async (output: string, extra: string[] = [], env = {}) => {
      const result = await deps(
        tmp,
        wheels,
        ["-r", requirements, "-o", output, "--json", ...extra],
        env,
      );
      assert.equal(result.code, 0, result.stderr);
      return JSON.parse(result.stdout);
    };

    const first = await build(`${tmp}/a.tar.gz`, ["--installer-command", pip.command]);
    assert.equal(first.cached, false);
    assert.equal((await installCalls(pip.log)).length, 1);

    // The environment variable names the installer as well as the flag does.
    const second = await build(`${tmp}/b.tar.gz`, [], { OCISYNC_INSTALLER_COMMAND: pip.command });
    assert.equal(second.cached, true);
    assert.equal((await installCalls(pip.log)).length, 1, "the installer did not run");
    assert.equal(second.digest, first.digest);
    assert.deepEqual(
      await Deno.readFile(`${tmp}/b.tar.gz`),
      await Deno.readFile(`${tmp}/a.tar.gz`),
    );

    const forced = await build(`${tmp}/c.tar.gz`, [
      "--installer-command",
      pip.command,
      "--no-cache",
    ]);
    assert.equal(forced.cached, false);
    assert.equal((await installCalls(pip.log)).length, 2);

    // A damaged entry is a miss: the layer is built again, the same.
    const entries = [...Deno.readDirSync(`${tmp}/cache/ocisync/deps`)].map((e) => e.name);
    const blob = entries.find((name) => name.endsWith(".layer"))!;
    await Deno.writeTextFile(`${tmp}/cache/ocisync/deps/${blob}`, "damaged");
    const repaired = await build(`${tmp}/d.tar.gz`, ["--installer-command", pip.command]);
    assert.equal(repaired.cached, false);
    assert.equal(repaired.digest, first.digest);
    assert.equal((await installCalls(pip.log)).length, 3);

    // Other requirement bytes are another key, even when they mean the same packages.
    await Deno.writeTextFile(requirements, "purepkg==1.0\nclitool==2.0\n# reviewed\n");
    const edited = await build(`${tmp}/e.tar.gz`, ["--installer-command", pip.command]);
    assert.equal(edited.cached, false);
    assert.equal((await installCalls(pip.log)).length, 4);
  });
});

Deno.test("deps -v: the installer's lines are quoted behind '  | ', so none passes for ocisync's", async () => {
  await withWork(async (tmp, wheels) => {
    // A package's build prints what it likes: here, a line of ocisync's and one that a CR
    // would overwrite with another.
    const wrapper = `${tmp}/chatty-pip`;
    await Deno.writeTextFile(
      wrapper,
      "#!/bin/sh\necho 'ocisync: pulled ghcr.io/acme/evil:v1 into /srv (forged)'\n" +
        "printf 'Collecting\\rocisync: warning: forged\\n'\nexec python3 -m pip \"$@\"\n",
    );
    await Deno.chmod(wrapper, 0o755);
    await Deno.writeTextFile(`${tmp}/requirements.txt`, "purepkg==1.0\n");
    const result = await deps(tmp, wheels, [
      ...["-r", `${tmp}/requirements.txt`, "-o", `${tmp}/deps.tar.gz`, "-v"],
      ...["--installer-command", wrapper],
    ]);
    assert.equal(result.code, 0, result.stderr);
    for (const line of result.stderr.split("\n")) {
      assert.ok(!/^ocisync: (pulled|warning: forged)/.test(line), `a forged line: ${line}`);
      assert.ok(!line.includes("\r"), `a carriage return: ${JSON.stringify(line)}`);
    }
    assert.match(result.stderr, /^ {2}\| ocisync: pulled ghcr\.io\/acme\/evil:v1/m);
  });
});

Deno.test("deps: a pip failure shows pip's own error and leaves no output file", async () => {
  await withWork(async (tmp, wheels) => {
    await Deno.mkdir(`${tmp}/out`);
    await Deno.writeTextFile(`${tmp}/requirements.txt`, "purepkg==1.0\nnosuchpkg==9.9\n");
    const output = `${tmp}/out/deps.tar.gz`;
    const result = await deps(tmp, wheels, ["-r", `${tmp}/requirements.txt`, "-o", output]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /ocisync: error: pip failed with exit code 1/);
    // Quoted under the message, each line marked as pip's.
    assert.match(
      result.stderr,
      /^ {2}\| ERROR: No matching distribution found for nosuchpkg==9\.9$/m,
    );
    assert.deepEqual([...Deno.readDirSync(`${tmp}/out`)], [], "no output, no temporary file");

    const missing = await deps(tmp, wheels, ["-r", `${tmp}/absent.txt`, "-o", output]);
    assert.equal(missing.code, 4);
    assert.match(missing.stderr, /no such requirements file/);
  });
});

Deno.test("deps: unpinned requirements are named in a warning, and a constraints file pins", async () => {
  await withWork(async (tmp, wheels) => {
    await Deno.writeTextFile(`${tmp}/constraints.txt`, "purepkg==1.0\n");
    await Deno.writeTextFile(
      `${tmp}/requirements.txt`,
      "-c constraints.txt\npurepkg\nclitool>=1 ; python_version >= '3'\n",
    );
    const result = await deps(tmp, wheels, [
      "-r",
      `${tmp}/requirements.txt`,
      "-o",
      `${tmp}/d.tar.gz`,
      "--json",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /ocisync: warning: not pinned with ==, so this layer cannot be reproduced over time: clitool>=1\n/,
    );
    assert.deepEqual(JSON.parse(result.stdout).unpinned, ["clitool>=1"]);
    const listing = await runOk("tar", ["-tzf", `${tmp}/d.tar.gz`]);
    assert.match(listing, /opt\/ocisync\/deps\/clitool\/__init__\.py/);
  });
});
