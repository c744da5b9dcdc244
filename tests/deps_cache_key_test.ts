/**
 * The dependency cache's key covers what the installer reads from this machine: the files a
 * requirements file includes however the option is written (`-rFILE`, `--requirement=FILE`), the
 * archives of local find-links (by content, under their real path, not the text given), local
 * archives that requirements name, and `${NAME}` variables. What cannot be keyed (a local source
 * folder, an option pip's requirements files do not have) is not cached at all. It also covers
 * what pip takes from the host when no target is given: the architecture, C library and Python of
 * the machine, here stood in for by a Python that tells pip it is another host.
 */
import assert from "node:assert/strict";
import { relative } from "node:path";
import { createHash } from "node:crypto";
import {
  hostTagsUsed,
  localContent,
  localPath,
  pipTarget,
  readRequirements,
} from "../src/python/mod.ts";
import { UsageError } from "../src/errors/mod.ts";
import { ocisync, runOk, shown } from "./helpers/cli.ts";
import { requireTool } from "./helpers/tools.ts";
import {
  installCalls,
  recordingPip,
  requirePip,
  type WheelSpec,
  writeWheels,
} from "./helpers/wheels.ts";

requirePip();
requireTool("tar", "tar");

/** A pure wheel whose module says `who`. */
function wheel(name: string, who: string, version = "1.0"): WheelSpec {
  return { name, version, files: { [`${name}/__init__.py`]: `WHO = '${who}'\n` } };
}

/** The sha256 of a file, computed here rather than by ocisync. */
async function sha256Of(path: string): Promise<string> {
  return `sha256:${createHash("sha256").update(await Deno.readFile(path)).digest("hex")}`;
}

async function withTmp(body: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix: "ocisync-deps-key-" }));
  try {
    await body(tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** `ocisync deps --json` with pip in `cwd`, offline, on a cache shared by the test. */
async function deps(tmp: string, cwd: string, args: string[]) {
  const result = await ocisync(
    ["deps", "--installer", "pip", "--no-index", "--compression", "none", "--json", ...args],
    { cwd, env: { XDG_CACHE_HOME: `${tmp}/cache` } },
  );
  assert.equal(result.code, 0, shown(result));
  return JSON.parse(result.stdout);
}

/**
 * A Python that runs `-c CODE` and `-m MODULE` as python3 does, after `patch`: a patch that
 * changes what pip reads of the machine makes it another host, to pip and to anyone who asks
 * its Python. Returns the installer command that runs pip on it.
 */
async function fakeHost(tmp: string, name: string, patch: string): Promise<string> {
  const path = `${tmp}/${name}.py`;
  await Deno.writeTextFile(
    path,
    `import os, runpy, sys, sysconfig
${patch}
option, what, *rest = sys.argv[1:]
if option == "-c":
    sys.argv = ["-c", *rest]
    exec(compile(what, "<string>", "exec"), {"__name__": "__main__"})
else:
    sys.argv = [what, *rest]
    runpy.run_module(what, run_name="__main__", alter_sys=True)
`,
  );
  return `python3 ${path} -m pip`;
}

/** A patch that makes pip's Python see `platform` (`linux-aarch64`) as its machine's. */
function onPlatform(platform: string): string {
  return `os.environ["_PYTHON_HOST_PLATFORM"] = "${platform}"`;
}

/** This machine's architecture, as wheel tags name it. */
const ARCH = Deno.build.arch;

/**
 * Builds `nativepkg==1.0` on each host, given as `who: patch` (see {@linkcode fakeHost}), from
 * one wheel per host whose tag only that host prefers (`who: tag`), with one cache: each host must
 * get a layer of its own wheel, not the one cached by the host before it. Then each again: a hit.
 */
async function eachHostGetsItsWheel(
  hosts: Record<string, string>,
  tags: Record<string, string>,
): Promise<void> {
  await withTmp(async (tmp) => {
    await writeWheels(
      `${tmp}/wheels`,
      Object.entries(tags).map(([who, tag]) => ({ ...wheel("nativepkg", who), tag })),
    );
    await Deno.writeTextFile(`${tmp}/requirements.txt`, "nativepkg==1.0\n");
    const build = async (who: string, output: string) =>
      deps(tmp, tmp, [
        "-r",
        "requirements.txt",
        "--find-links",
        "wheels",
        "--installer-command",
        await fakeHost(tmp, who, hosts[who]),
        "-o",
        output,
      ]);
    const digests = new Map<string, string>();
    for (const who of Object.keys(hosts)) {
      const layer = await build(who, `${tmp}/${who}.tar`);
      assert.equal(layer.cached, false, `${who}: a host of its own`);
      assert.equal(
        await layerFile(`${tmp}/${who}.tar`, "nativepkg/__init__.py"),
        `WHO = '${who}'\n`,
      );
      digests.set(who, layer.digest);
    }
    for (const who of Object.keys(hosts)) {
      const again = await build(who, `${tmp}/${who}-again.tar`);
      assert.equal(again.cached, true, `${who}: the same host, the same key`);
      assert.equal(again.digest, digests.get(who));
    }
  });
}

/** A file of an uncompressed layer, as GNU tar reads it. */
function layerFile(layer: string, path: string): Promise<string> {
  return runOk("tar", ["-xOf", layer, `opt/ocisync/deps/${path}`]);
}

Deno.test("readRequirements: -r and -c are followed in every form pip accepts", async () => {
  await withTmp(async (tmp) => {
    const forms = [
      "-rinc.txt",
      "-r inc.txt",
      "--requirement inc.txt",
      "--requirement=inc.txt",
      "--requirem inc.txt", // optparse takes a prefix of one option
      "-r 'inc.txt'",
      "-r=inc.txt", // pip reads `=inc.txt`, uv `inc.txt`: the one there is read
    ];
    await Deno.writeTextFile(`${tmp}/inc.txt`, "liba\n");
    for (const form of forms) {
      await Deno.writeTextFile(`${tmp}/requirements.txt`, `${form}\n`);
      const input = await readRequirements(`${tmp}/requirements.txt`);
      assert.deepEqual(
        input.files.map((file) => file.path),
        [`${tmp}/requirements.txt`, `${tmp}/inc.txt`],
        form,
      );
      assert.deepEqual(input.unpinned, ["liba"], form);
    }

    await Deno.writeTextFile(`${tmp}/c.txt`, "liba==1.0\n");
    for (const form of ["-cc.txt", "--constraint c.txt", "--constraint=c.txt", "-c c.txt"]) {
      await Deno.writeTextFile(`${tmp}/requirements.txt`, `${form}\nliba\n`);
      const input = await readRequirements(`${tmp}/requirements.txt`);
      assert.equal(input.files.length, 2, form);
      assert.deepEqual(input.unpinned, [], `${form} pins liba`);
    }

    await Deno.writeTextFile(`${tmp}/requirements.txt`, "-rnowhere.txt\n");
    await assert.rejects(
      readRequirements(`${tmp}/requirements.txt`),
      /no such requirements file: .*nowhere\.txt/,
    );
  });
});

Deno.test("readRequirements: what option lines and requirements make pip read is reported", async () => {
  await withTmp(async (tmp) => {
    await Deno.mkdir(`${tmp}/reqs/wheels`, { recursive: true });
    await Deno.writeTextFile(
      `${tmp}/reqs/requirements.txt`,
      [
        "-f wheels", // beside the file, where pip looks first
        "--find-links=./elsewhere", // not beside it: as written, from the working directory
        "--find-links https://example.com/links", // remote: its text is in the bytes
        "-i https://example.com/simple",
        "--no-index",
        "--prefer-binary",
        "dist/mylib-1.0-py3-none-any.whl",
        "other @ file:///srv/other-1.0-py3-none-any.whl ; python_version > '3'",
        "./src/pkg",
        "git+https://example.com/repo.git#egg=repo",
        "plain==1.0 --hash=sha256:abc",
        "--index-url ${OCISYNC_TEST_INDEX}/simple",
        "",
      ].join("\n"),
    );
    Deno.env.set("OCISYNC_TEST_INDEX", "https://mirror.example.com");
    const input = await readRequirements(`${tmp}/reqs/requirements.txt`);
    Deno.env.delete("OCISYNC_TEST_INDEX");
    assert.deepEqual(input.findLinks, [`${tmp}/reqs/wheels`, "./elsewhere"]);
    assert.deepEqual(input.localPaths, [
      "dist/mylib-1.0-py3-none-any.whl",
      "/srv/other-1.0-py3-none-any.whl",
      "./src/pkg",
    ]);
    assert.deepEqual(input.variables, [["OCISYNC_TEST_INDEX", "https://mirror.example.com"]]);
    assert.deepEqual(input.unknownOptions, []);
    assert.deepEqual(input.unpinned, [
      "dist/mylib-1.0-py3-none-any.whl",
      "other @ file:///srv/other-1.0-py3-none-any.whl",
      "./src/pkg",
      "git+https://example.com/repo.git#egg=repo",
    ]);

    // pip refuses these: a prefix of two options, an option it does not have, an open quote.
    const refused = ["--req inc.txt", "--no-such-option x", "-r 'inc.txt"];
    await Deno.writeTextFile(`${tmp}/reqs/requirements.txt`, `${refused.join("\n")}\nliba==1\n`);
    const unknown = await readRequirements(`${tmp}/reqs/requirements.txt`);
    assert.deepEqual(unknown.unknownOptions, refused);
  });
});

Deno.test("readRequirements: an editable install is refused in every form, in any file", async () => {
  await withTmp(async (tmp) => {
    const forms = [
      "-e ./src/pkg",
      "-e./src/pkg",
      "--editable ./src/pkg",
      "--editable=./src/pkg",
      "--edit ./src/pkg",
      "-e git+https://example.com/repo.git#egg=repo",
      "-e file:///srv/pkg",
    ];
    for (const form of forms) {
      await Deno.writeTextFile(`${tmp}/requirements.txt`, `liba==1.0\n${form}\n`);
      await assert.rejects(
        readRequirements(`${tmp}/requirements.txt`),
        (error: Error) =>
          error instanceof UsageError &&
          error.message.includes(`"${form}" is an editable install`) &&
          /drop -e/.test(error.hint ?? ""),
        form,
      );
      // In a file that another includes, and in a constraints file.
      await Deno.writeTextFile(`${tmp}/inc.txt`, `${form}\n`);
      for (const include of ["-r inc.txt", "-c inc.txt"]) {
        await Deno.writeTextFile(`${tmp}/requirements.txt`, `${include}\nliba==1.0\n`);
        await assert.rejects(
          readRequirements(`${tmp}/requirements.txt`),
          new RegExp(`${tmp}/inc\\.txt: .* is an editable install`),
          `${include}: ${form}`,
        );
      }
    }
  });
});

Deno.test("deps: an editable install is refused before the installer runs", () =>
  withTmp(async (tmp) => {
    await Deno.mkdir(`${tmp}/mypkg/mypkg`, { recursive: true });
    await Deno.writeTextFile(`${tmp}/mypkg/mypkg/__init__.py`, "VALUE = 1\n");
    await Deno.writeTextFile(
      `${tmp}/mypkg/pyproject.toml`,
      '[project]\nname = "mypkg"\nversion = "0.1"\n',
    );
    await Deno.writeTextFile(`${tmp}/inc.txt`, "-e ./mypkg\n");
    await Deno.writeTextFile(`${tmp}/requirements.txt`, "-r inc.txt\n");
    const pip = await recordingPip(tmp);
    for (const file of ["inc.txt", "requirements.txt"]) {
      const result = await ocisync(
        ["deps", "--installer", "pip", "--no-index", "-r", file, "-o", "deps.tgz"],
        {
          cwd: tmp,
          env: { XDG_CACHE_HOME: `${tmp}/cache`, OCISYNC_INSTALLER_COMMAND: pip.command },
        },
      );
      assert.equal(result.code, 2, shown(result));
      assert.match(result.stderr, /inc\.txt: "-e \.\/mypkg" is an editable install/, shown(result));
      assert.match(result.stderr, /hint: drop -e/, shown(result));
    }
    assert.deepEqual(await installCalls(pip.log), [], "pip never ran");
    assert.equal(await Deno.lstat(`${tmp}/deps.tgz`).catch(() => null), null);
  }));

Deno.test("localPath and localContent: file URLs, real paths, and each file's size and sha256", async () => {
  assert.equal(localPath("wheels"), "wheels");
  assert.equal(localPath("file:///srv/my%20wheels"), "/srv/my wheels");
  assert.equal(localPath("file://localhost/srv/w#frag"), "/srv/w");
  assert.equal(localPath("file:wheels"), "wheels");
  assert.equal(localPath("https://example.com/links"), undefined);
  assert.equal(localPath("file://otherhost/share"), undefined);

  await withTmp(async (tmp) => {
    const [name] = await writeWheels(`${tmp}/wheels`, [wheel("mylib", "a")]);
    await Deno.mkdir(`${tmp}/wheels/nested`);
    await Deno.writeTextFile(
      `${tmp}/wheels/nested/ignored.whl`,
      "not read: pip reads a flat folder",
    );
    await Deno.symlink(`${tmp}/wheels`, `${tmp}/link`);
    const wheelPath = `${tmp}/wheels/${name}`;
    const expected = {
      name,
      size: (await Deno.stat(wheelPath)).size,
      digest: await sha256Of(wheelPath),
    };
    // A relative path, from the working directory: no chdir, which would move the working
    // directory of every test file running at once in this process, and of what they spawn.
    assert.deepEqual(await localContent(relative(Deno.cwd(), `${tmp}/link`)), {
      path: `${tmp}/wheels`,
      folder: [expected],
    });
    assert.deepEqual(await localContent(wheelPath), { path: wheelPath, file: expected });
    assert.deepEqual(await localContent(`${tmp}/absent`), { path: `${tmp}/absent`, missing: true });
  });
});

Deno.test("deps: projects with the same requirements and their own wheels get their own layers", async () => {
  await withTmp(async (tmp) => {
    for (const project of ["a", "b"]) {
      await writeWheels(`${tmp}/${project}/wheels`, [wheel("mylib", `project ${project}`)]);
      await Deno.writeTextFile(`${tmp}/${project}/requirements.txt`, "mylib==1.0\n");
    }
    const args = (output: string) => [
      "-r",
      "requirements.txt",
      "--find-links",
      "wheels",
      "-o",
      output,
    ];
    const a = await deps(tmp, `${tmp}/a`, args(`${tmp}/a.tar`));
    const b = await deps(tmp, `${tmp}/b`, args(`${tmp}/b.tar`));
    assert.equal(b.cached, false, "project b's wheels are not project a's");
    assert.notEqual(b.digest, a.digest);
    assert.equal(await layerFile(`${tmp}/b.tar`, "mylib/__init__.py"), "WHO = 'project b'\n");
    const fresh = await deps(tmp, `${tmp}/b`, [...args(`${tmp}/b2.tar`), "--no-cache"]);
    assert.equal(b.digest, fresh.digest);

    // Unchanged wheels, reached from elsewhere by another spelling of their path: a hit.
    const again = await deps(tmp, tmp, [
      "-r",
      "a/requirements.txt",
      "--find-links",
      `file://${tmp}/a/../a/wheels`,
      "-o",
      `${tmp}/a2.tar`,
    ]);
    assert.equal(again.cached, true);
    assert.equal(again.digest, a.digest);

    // A wheel rebuilt under the same name and version is another key.
    await writeWheels(`${tmp}/a/wheels`, [wheel("mylib", "project a, rebuilt")]);
    const rebuilt = await deps(tmp, `${tmp}/a`, args(`${tmp}/a3.tar`));
    assert.equal(rebuilt.cached, false);
    assert.equal(
      await layerFile(`${tmp}/a3.tar`, "mylib/__init__.py"),
      "WHO = 'project a, rebuilt'\n",
    );
  });
});

Deno.test("deps: a file included as -rFILE is in the key", async () => {
  await withTmp(async (tmp) => {
    await writeWheels(`${tmp}/wheels`, [wheel("liba", "a"), wheel("libb", "b")]);
    await Deno.writeTextFile(`${tmp}/requirements.txt`, "-rother.txt\n");
    await Deno.writeTextFile(`${tmp}/other.txt`, "liba==1.0\n");
    const args = (
      output: string,
    ) => ["-r", "requirements.txt", "--find-links", "wheels", "-o", output];
    const one = await deps(tmp, tmp, args(`${tmp}/one.tar`));
    assert.equal(one.cached, false);
    assert.equal(await layerFile(`${tmp}/one.tar`, "liba/__init__.py"), "WHO = 'a'\n");

    await Deno.writeTextFile(`${tmp}/other.txt`, "libb==1.0\n");
    const two = await deps(tmp, tmp, args(`${tmp}/two.tar`));
    assert.equal(two.cached, false, "other.txt changed");
    assert.notEqual(two.digest, one.digest);
    const listing = await runOk("tar", ["-tf", `${tmp}/two.tar`]);
    assert.match(listing, /opt\/ocisync\/deps\/libb\/__init__\.py/);
    assert.doesNotMatch(listing, /liba/);
    assert.equal((await deps(tmp, tmp, args(`${tmp}/three.tar`))).cached, true);
  });
});

Deno.test("deps: find-links in the requirements file and local archives are keyed by content", async () => {
  await withTmp(async (tmp) => {
    await writeWheels(`${tmp}/reqs/wheels`, [wheel("liba", "a")]);
    const [local] = await writeWheels(`${tmp}/dist`, [wheel("localpkg", "one")]);
    await Deno.writeTextFile(
      `${tmp}/reqs/requirements.txt`,
      `-fwheels\nliba==1.0\ndist/${local}\n`,
    );
    const args = (output: string) => ["-r", "reqs/requirements.txt", "-o", output];
    assert.equal((await deps(tmp, tmp, args(`${tmp}/1.tar`))).cached, false);
    assert.equal((await deps(tmp, tmp, args(`${tmp}/2.tar`))).cached, true);

    await writeWheels(`${tmp}/reqs/wheels`, [wheel("liba", "a, rebuilt")]);
    assert.equal((await deps(tmp, tmp, args(`${tmp}/3.tar`))).cached, false, "-f's wheel");
    assert.equal(await layerFile(`${tmp}/3.tar`, "liba/__init__.py"), "WHO = 'a, rebuilt'\n");

    await writeWheels(`${tmp}/dist`, [wheel("localpkg", "two")]);
    assert.equal((await deps(tmp, tmp, args(`${tmp}/4.tar`))).cached, false, "the local wheel");
    assert.equal(await layerFile(`${tmp}/4.tar`, "localpkg/__init__.py"), "WHO = 'two'\n");
  });
});

/** A PEP 517 backend in the project itself, so that pip builds it offline with nothing to fetch. */
const BACKEND = `
import base64, hashlib, os, zipfile
def get_requires_for_build_wheel(config_settings=None):
    return []
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    info = "srcpkg-1.0.dist-info"
    files = {
        "srcpkg/__init__.py": open("srcpkg/__init__.py", "rb").read(),
        info + "/METADATA": b"Metadata-Version: 2.1\\nName: srcpkg\\nVersion: 1.0\\n",
        info + "/WHEEL": b"Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }
    record = [p + ",sha256=" + base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode()
              + "," + str(len(d)) for p, d in files.items()]
    files[info + "/RECORD"] = ("\\n".join(record + [info + "/RECORD,,"]) + "\\n").encode()
    name = "srcpkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
    return name
`;

Deno.test("deps: a requirement that installs a local folder is never cached", async () => {
  await withTmp(async (tmp) => {
    await Deno.mkdir(`${tmp}/pkg/srcpkg`, { recursive: true });
    await Deno.mkdir(`${tmp}/empty`);
    await Deno.writeTextFile(`${tmp}/pkg/backend.py`, BACKEND);
    await Deno.writeTextFile(
      `${tmp}/pkg/pyproject.toml`,
      '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
    );
    await Deno.writeTextFile(`${tmp}/pkg/srcpkg/__init__.py`, "WHO = 'one'\n");
    await Deno.writeTextFile(`${tmp}/requirements.txt`, "./pkg\n");
    const args = (
      output: string,
    ) => ["-r", "requirements.txt", "--find-links", "empty", "-o", output];
    const first = await deps(tmp, tmp, args(`${tmp}/1.tar`));
    assert.equal(first.cached, false);
    assert.deepEqual(first.unpinned, ["./pkg"]);
    assert.equal(await layerFile(`${tmp}/1.tar`, "srcpkg/__init__.py"), "WHO = 'one'\n");
    await assert.rejects(Deno.stat(`${tmp}/cache/ocisync/deps`), Deno.errors.NotFound);

    await Deno.writeTextFile(`${tmp}/pkg/srcpkg/__init__.py`, "WHO = 'two'\n");
    const second = await deps(tmp, tmp, args(`${tmp}/2.tar`));
    assert.equal(second.cached, false);
    assert.equal(await layerFile(`${tmp}/2.tar`, "srcpkg/__init__.py"), "WHO = 'two'\n");
  });
});

Deno.test("deps: with no target, hosts of another architecture get their own layers", async () => {
  await eachHostGetsItsWheel(
    { x86_64: onPlatform("linux-x86_64"), aarch64: onPlatform("linux-aarch64") },
    { x86_64: "py3-none-manylinux2014_x86_64", aarch64: "py3-none-manylinux2014_aarch64" },
  );
});

Deno.test("deps: with no target, hosts of another C library get their own layers", async () => {
  const glibc = (version: string) =>
    `confstr = os.confstr\nos.confstr = lambda name: ` +
    `"glibc ${version}" if name == "CS_GNU_LIBC_VERSION" else confstr(name)`;
  // The glibc 2.28 host prefers the newer wheel; the glibc 2.17 host cannot run it.
  await eachHostGetsItsWheel(
    { glibc_2_17: glibc("2.17"), glibc_2_28: glibc("2.28") },
    {
      glibc_2_17: `py3-none-manylinux_2_17_${ARCH}`,
      glibc_2_28: `py3-none-manylinux_2_28_${ARCH}`,
    },
  );
});

Deno.test("deps: with no target, hosts of another Python ABI get their own layers", async () => {
  const python =
    (await runOk("python3", ["-c", "import sys; print('cp%d%d' % sys.version_info[:2])"]))
      .trim();
  const debug = `config_var = sysconfig.get_config_var\nsysconfig.get_config_var = lambda name: ` +
    `1 if name == "Py_DEBUG" else config_var(name)`;
  // Same Python version, so the same `pip --version`: only the debug build's ABI differs.
  await eachHostGetsItsWheel(
    { release: "", debug },
    { release: `${python}-${python}-linux_${ARCH}`, debug: `${python}-${python}d-linux_${ARCH}` },
  );
});

Deno.test("deps: a target given in full keeps its key on any host", async () => {
  await withTmp(async (tmp) => {
    await writeWheels(`${tmp}/wheels`, [
      { ...wheel("nativepkg", "amd64"), tag: "py3-none-manylinux2014_x86_64" },
    ]);
    await Deno.writeTextFile(`${tmp}/requirements.txt`, "nativepkg==1.0\n");
    const target = ["--platform", "linux/amd64", "--python-version", "3.12"];
    const build = async (platform: string) =>
      deps(tmp, tmp, [
        "-r",
        "requirements.txt",
        "--find-links",
        "wheels",
        ...target,
        "--installer-command",
        await fakeHost(tmp, platform, onPlatform(platform)),
        "-o",
        `${tmp}/${platform}.tar`,
      ]);
    const x86 = await build("linux-x86_64");
    const arm = await build("linux-aarch64");
    assert.equal(arm.cached, true, "the host chooses nothing here: the key is the same");
    assert.equal(arm.digest, x86.digest);
  });
});

Deno.test("hostTagsUsed: what pip takes from the host is what the target leaves out", () => {
  assert.deepEqual(hostTagsUsed({}), ["python", "platform"]);
  assert.deepEqual(hostTagsUsed({ pythonVersion: "3.12" }), ["python", "platform"]);
  // A platform without an ABI: pip's ABI is the host Python's (`cp313t` on a free-threaded one).
  assert.deepEqual(hostTagsUsed({ platforms: ["manylinux2014_x86_64"] }), ["python"]);
  assert.deepEqual(hostTagsUsed(pipTarget("linux/arm64")), ["python"]);
  const full = { pythonVersion: "3.12", ...pipTarget("linux/arm64", { pythonVersion: "3.12" }) };
  assert.deepEqual(hostTagsUsed(full), []);
  assert.deepEqual(hostTagsUsed({ ...full, platforms: [] }), ["platform"]);
});

/**
 * A project in `tmp` that needs the local wheel `alpha`; returns a run of `ocisync deps` on it
 * with `args`, offline, writing `deps.tgz`, with its cache under `tmp/cache`.
 */
async function alphaProject(tmp: string, who: string) {
  const wheels = `${tmp}/wheels`;
  await writeWheels(wheels, [wheel("alpha", who)]);
  await Deno.writeTextFile(`${tmp}/requirements.txt`, "alpha==1.0\n");
  return (args: string[], stdin?: string) =>
    ocisync(
      [
        ...["deps", "--installer", "pip", "--no-index", "--find-links", wheels],
        ...["-o", "deps.tgz", ...args],
      ],
      { cwd: tmp, env: { XDG_CACHE_HOME: `${tmp}/cache` }, stdin },
    );
}

Deno.test("a requirements file that is a pipe or a device is refused before anything is installed or cached", () =>
  withTmp(async (tmp) => {
    const run = await alphaProject(tmp, "pipe");
    // Through a pipe, pip would read it empty after ocisync had read it for the key.
    const piped = await run(["-r", "/dev/stdin"], "alpha==1.0\n");
    assert.equal(piped.code, 2, shown(piped));
    assert.match(piped.stderr, /\/dev\/stdin is not a regular file/);
    await Deno.writeTextFile(`${tmp}/constrained.txt`, "-c /dev/zero\nalpha==1.0\n");
    const zero = await run(["-r", "constrained.txt"]);
    assert.equal(zero.code, 2, shown(zero));
    assert.match(zero.stderr, /\/dev\/zero is not a regular file/);
    // Nothing written: no layer, and no cache entry.
    assert.equal(await Deno.lstat(`${tmp}/deps.tgz`).catch(() => null), null);
    const cached = await Array.fromAsync(Deno.readDir(`${tmp}/cache/ocisync/deps`)).catch(() => []);
    assert.deepEqual(cached, []);
    // The file itself is installed, and its layer holds the package.
    await run(["-r", "requirements.txt"]).then((r) => assert.equal(r.code, 0, shown(r)));
    const listing = await runOk("tar", ["-tzf", `${tmp}/deps.tgz`]);
    assert.match(listing, /alpha\/__init__\.py/);
  }));

Deno.test("a deps cache folder that another user could change is refused", () =>
  withTmp(async (tmp) => {
    const cache = `${tmp}/cache/ocisync/deps`;
    const project = await alphaProject(tmp, "cache");
    const run = () => project(["-r", "requirements.txt"]);
    await Deno.mkdir(`${tmp}/elsewhere`);
    await Deno.mkdir(`${tmp}/cache/ocisync`, { recursive: true });
    await Deno.symlink(`${tmp}/elsewhere`, cache);
    const linked = await run();
    assert.equal(linked.code, 2, shown(linked));
    assert.match(linked.stderr, /refusing the cache folder .*deps: it is a symlink/);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(`${tmp}/elsewhere`)), []);
    await Deno.remove(cache);
    await Deno.mkdir(cache);
    await Deno.chmod(cache, 0o777);
    const open = await run();
    assert.equal(open.code, 2, shown(open));
    assert.match(open.stderr, /all users may write to it \(mode 777\)/);
    if (Deno.uid() === 0) {
      await Deno.chmod(cache, 0o755);
      await Deno.chown(cache, 65534, 65534);
      const foreign = await run();
      assert.equal(foreign.code, 2, shown(foreign));
      assert.match(foreign.stderr, /belongs to user 65534, not to this process's user 0/);
      await Deno.chown(cache, 0, 0);
    }
    await Deno.chmod(cache, 0o700);
    const owned = await run();
    assert.equal(owned.code, 0, shown(owned));
    // A new one is made for its owner alone.
    await Deno.remove(`${tmp}/cache`, { recursive: true });
    assert.equal((await run()).code, 0);
    assert.equal((await Deno.stat(cache)).mode! & 0o777, 0o700);
  }));

Deno.test({
  name:
    "deps on a cache folder that is full, then read-only, builds the layer all the same (as root)",
  ignore: Deno.uid() !== 0,
  fn: () =>
    withTmp(async (tmp) => {
      const run = await alphaProject(tmp, "full");
      const disk = `${tmp}/cache`;
      await Deno.mkdir(disk);
      await runOk("mount", ["-t", "tmpfs", "-o", "size=64k", "none", disk]);
      try {
        await Deno.mkdir(`${disk}/ocisync`, { mode: 0o700 });
        // Full: a new file can be made (an inode), but not a byte written to it.
        await Deno.writeFile(`${disk}/fill`, new Uint8Array(64 * 1024)).catch(() => {});
        for (const state of ["full", "read-only"]) {
          if (state === "read-only") await runOk("mount", ["-o", "remount,ro", disk]);
          await Deno.remove(`${tmp}/deps.tgz`).catch(() => {});
          // Before, exit 1 with the layer written but not reported, and `build` pushed nothing.
          const result = await run(["-r", "requirements.txt", "-v"]);
          assert.equal(result.code, 0, `${state}: ${shown(result)}`);
          assert.match(result.stderr, /cannot cache deps\.tgz: .*(No space left|Read-only)/, state);
          assert.equal(await layerFile(`${tmp}/deps.tgz`, "alpha/__init__.py"), "WHO = 'full'\n");
          const left = await Array.fromAsync(Deno.readDir(`${disk}/ocisync/deps`), (e) => e.name);
          assert.deepEqual(left, [], state);
        }
      } finally {
        await runOk("umount", [disk]);
      }
    }),
});
