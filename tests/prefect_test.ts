/**
 * The Prefect plug-in, `prefect_ocisync`, called from plain `python3` as
 * Prefect would call its steps, against the real CLI; and the examples in
 * `examples/prefect/`, read back as Prefect reads them.
 */
import assert from "node:assert/strict";
// Full npm: specifier, so that this module imports from outside this repository too.
// deno-lint-ignore no-import-prefix
import { parse as parseYaml } from "npm:yaml@2.8.1";
import { RUN_FLAGS } from "../scripts/permissions.ts";
import { denoDir, run, runOk } from "./helpers/cli.ts";
import { requireTool } from "./helpers/tools.ts";
import { offlineRecipe, requirePip, writeWheels } from "./helpers/wheels.ts";
import { readRecipe } from "../src/build/recipe.ts";

requirePip();
requireTool("skopeo", "skopeo");

const ROOT = new URL("..", import.meta.url).pathname;
const PLUGIN = `${ROOT}integrations/prefect`;
const EXAMPLES = `${ROOT}examples/prefect`;

/** An `ocisync` executable for `OCISYNC_BIN`: main.ts with the binary's permissions. */
async function ocisyncWrapper(dir: string): Promise<string> {
  const path = `${dir}/ocisync`;
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const command = [Deno.execPath(), "run", ...RUN_FLAGS, `${ROOT}main.ts`].map(quote);
  // Deno's own cache, which the steps' XDG_CACHE_HOME would move (see `denoDir`).
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\nDENO_DIR=${quote(await denoDir())} exec ${command.join(" ")} "$@"\n`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

/**
 * A Python with pip and a setuptools that can write wheels (70.1 or later, or
 * the `wheel` package), or undefined.
 */
async function wheelBuilder(): Promise<string | undefined> {
  const probe = "import importlib.util as u, setuptools, pip\n" +
    "assert u.find_spec('wheel') or u.find_spec('setuptools.command.bdist_wheel')";
  for (const python of ["python3", "/usr/bin/python3"]) {
    if ((await run(python, ["-c", probe]).catch(() => ({ code: 1 }))).code === 0) return python;
  }
  return undefined;
}

/** Builds the plug-in's wheel into `dist` and returns its path. */
async function buildPluginWheel(tmp: string): Promise<string> {
  const dist = `${tmp}/dist`;
  const python = await wheelBuilder();
  if (python) {
    // A copy, since setuptools writes build/ and *.egg-info beside the sources.
    await runOk("cp", ["-r", PLUGIN, `${tmp}/plugin-src`]);
    await runOk(python, [
      "-m",
      "pip",
      "wheel",
      "--no-deps",
      "--no-build-isolation",
      "--no-index",
      "-w",
      dist,
      `${tmp}/plugin-src`,
    ]);
  } else {
    console.log("no setuptools able to write wheels: the test builds the wheel with zipfile");
    await writeWheels(dist, [{
      name: "prefect_ocisync",
      version: "0.1.0",
      files: {
        "prefect_ocisync/__init__.py": await Deno.readTextFile(
          `${PLUGIN}/prefect_ocisync/__init__.py`,
        ),
      },
    }]);
  }
  const wheels = [...Deno.readDirSync(dist)].map((e) => e.name);
  assert.deepEqual(wheels, ["prefect_ocisync-0.1.0-py3-none-any.whl"]);
  return `${dist}/${wheels[0]}`;
}

const STEPS_SCRIPT = `
import importlib, json, os, sys
import prefect_ocisync as steps
project, dest, layout = sys.argv[1:4]
deps = os.path.join(dest, "opt/ocisync/deps")
assert deps in sys.path and not os.path.exists(deps), "PYTHONPATH names a folder not there yet"
assert "prefect" not in sys.modules, "the plug-in does not import Prefect"

built = steps.build(recipe=os.path.join(project, "ocisync.yaml"), tags=["latest"])
pushed = steps.push(
    f"oci:{layout}", [os.path.join(project, "flows") + ":/opt/prefect/flows"],
    tag="code", additional_tags=["code-latest"], env={"PYTHONPATH": "/opt/ocisync/deps"},
    workdir="/opt/prefect/flows", entrypoint=["python3", "hello.py"], labels={"team": "data"},
)
try:
    import purepkg
    raise SystemExit("purepkg imported before the pull")
except ImportError:
    pass
pulled = steps.pull(f"{built['image_name']}@{built['digest']}", directory=dest,
                    code_path="/opt/prefect/flows")
import purepkg  # the dead PYTHONPATH entry is live again
os.chdir(pulled["directory"])
exec(open("hello.py").read())
try:
    steps.pull(f"oci:{layout}:missing", directory=os.path.join(dest, "none"))
    raise SystemExit("pulling a missing tag succeeded")
except steps.OcisyncError as error:
    failure = {"returncode": error.returncode, "message": str(error)}
print(json.dumps({"built": built, "pushed": pushed, "pulled": pulled, "failure": failure,
                  "purepkg": purepkg.__file__}))
`;

/** The pitfall, without the plug-in: a pull by a subprocess leaves the folder unimportable. */
const PITFALL_SCRIPT = `
import importlib, subprocess, sys
subprocess.run([sys.argv[1], "pull", sys.argv[2], "-o", sys.argv[3], "-q"], check=True,
               stdout=subprocess.DEVNULL)
try:
    import purepkg
    print("imported at once")
except ImportError:
    importlib.invalidate_caches()
    import purepkg
    print("imported after invalidate_caches")
`;

Deno.test("prefect_ocisync builds as a wheel with no dependencies, and its steps work from python3", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-prefect-test-" });
  try {
    const wheel = await buildPluginWheel(tmp);
    const metadata = await runOk("python3", [
      "-c",
      "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); " +
      "print(z.read('prefect_ocisync-0.1.0.dist-info/METADATA').decode())",
      wheel,
    ]);
    assert.match(metadata, /^Name: prefect[-_]ocisync$/m);
    assert.doesNotMatch(metadata, /^Requires-Dist:/m, "no dependencies");
    await runOk("python3", [
      "-m",
      "pip",
      "install",
      "--no-index",
      "--no-deps",
      "--target",
      `${tmp}/site`,
      wheel,
    ]);

    const project = `${tmp}/project`;
    await writeWheels(`${project}/wheels`);
    await Deno.mkdir(`${project}/flows`);
    await Deno.writeTextFile(`${project}/requirements.txt`, "purepkg==1.0\n");
    await Deno.writeTextFile(
      `${project}/flows/hello.py`,
      "import purepkg\nprint('flow sees', purepkg.VALUE)\n",
    );
    await Deno.writeTextFile(`${project}/ocisync.yaml`, offlineRecipe("oci:./layout:v1"));
    const dest = `${tmp}/flow-run`;
    const bin = await ocisyncWrapper(tmp);
    const env = {
      OCISYNC_BIN: bin,
      XDG_CACHE_HOME: `${tmp}/cache`,
      PYTHONPATH: `${tmp}/site:${dest}/opt/ocisync/deps`,
      PYTHONDONTWRITEBYTECODE: "1",
    };
    const result = await run("python3", ["-c", STEPS_SCRIPT, project, dest, `${tmp}/layout`], {
      env,
    });
    assert.equal(result.code, 0, result.stderr + result.stdout);
    const [flowLine, json] = result.stdout.trim().split("\n");
    assert.equal(flowLine, "flow sees pure");
    const { built, pushed, pulled, failure, purepkg } = JSON.parse(json);

    assert.equal(built.image_name, `oci:${project}/layout`);
    assert.equal(built.tag, "v1");
    assert.deepEqual(built.additional_tags, ["latest"]);
    assert.match(built.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(built.layers.length, 2);
    assert.equal(pushed.image_name, `oci:${tmp}/layout`);
    assert.equal(pushed.tag, "code");
    assert.equal(pushed.image, `oci:${tmp}/layout:code`);
    assert.deepEqual(pushed.additional_tags, ["code-latest"]);
    const config = JSON.parse(
      await runOk("skopeo", ["inspect", "--config", `oci:${tmp}/layout:code`]),
    ).config;
    assert.deepEqual(config.Entrypoint, ["python3", "hello.py"]);
    assert.deepEqual(config.Env, ["PYTHONPATH=/opt/ocisync/deps"]);
    assert.equal(config.WorkingDir, "/opt/prefect/flows");
    assert.deepEqual(config.Labels, { team: "data" });
    // Docker's image ID is the config's digest: read from skopeo's copy of the manifest.
    for (
      const [result, tag] of [[built, `oci:${project}/layout:v1`], [
        pushed,
        `oci:${tmp}/layout:code`,
      ]]
    ) {
      const manifest = JSON.parse(await runOk("skopeo", ["inspect", "--raw", tag]));
      assert.equal(result.image_id, manifest.config.digest);
    }

    assert.deepEqual(pulled, {
      directory: `${dest}/opt/prefect/flows`,
      deps_directory: `${dest}/opt/ocisync/deps`,
      digest: built.digest,
      image: `${built.image_name}@${built.digest}`,
    });
    assert.ok(purepkg.startsWith(`${dest}/opt/ocisync/deps/`), purepkg);
    assert.equal(failure.returncode, 4);
    assert.match(failure.message, /^ocisync: error: /);

    // The pitfall the plug-in handles: a folder made after start-up is not importable at once.
    const late = `${tmp}/late`;
    const pitfall = await runOk(
      "python3",
      ["-c", PITFALL_SCRIPT, bin, `${built.image_name}@${built.digest}`, late],
      { env: { ...env, PYTHONPATH: `${late}/opt/ocisync/deps` } },
    );
    assert.equal(pitfall.trim(), "imported after invalidate_caches");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("examples/prefect: the recipes validate and the prefect.yaml files wire ocisync as documented", async () => {
  for (const recipe of ["ocisync.yaml", "code.ocisync.yaml"]) {
    const parsed = await readRecipe(`${EXAMPLES}/${recipe}`);
    assert.ok(parsed.layers.some((l) => l.kind === "requirements"), recipe);
    assert.ok(parsed.layers.some((l) => l.kind === "source"), recipe);
  }
  const read = async (path: string) => parseYaml(await Deno.readTextFile(`${EXAMPLES}/${path}`));
  type Step = Record<string, Record<string, unknown>>;
  const stepsOf = (section: Step[], name: string) =>
    section.filter((step) => name in step).map((step) => step[name]);

  const shell = await read("prefect.yaml");
  const shellSteps = [...shell.build, ...shell.push];
  for (const step of stepsOf(shellSteps, "prefect.deployments.steps.run_shell_script")) {
    assert.equal(step.stream_output, false, "stdout is captured for templating");
    assert.match(String(step.script), /^ocisync .* -q$/, "-q prints only the pinned reference");
  }
  const pushStep = stepsOf(shell.push, "prefect.deployments.steps.run_shell_script")
    .find((step) => step.id === "push");
  assert.ok(pushStep, "a push step with id push");
  assert.equal(shell.deployments[0].work_pool.job_variables.image, "{{ push.stdout }}");
  const pull = shell.pull.map((step: Step) => Object.keys(step)[0]);
  assert.deepEqual(pull, [
    "prefect.deployments.steps.run_shell_script",
    "prefect.deployments.steps.set_working_directory",
  ]);
  assert.match(
    String(shell.pull[0]["prefect.deployments.steps.run_shell_script"].script),
    /^ocisync pull .* -o /,
  );

  const plugin = await read("prefect-plugin.yaml");
  assert.equal(plugin.build[0]["prefect_ocisync.build"].requires, "prefect-ocisync");
  assert.equal(plugin.pull[0]["prefect_ocisync.pull"].requires, "prefect-ocisync");

  const volume = await read("prefect-image-volume.yaml");
  assert.equal(volume.deployments[0].work_pool.job_variables.code_image, "{{ build.stdout }}");
  const template = JSON.parse(
    await Deno.readTextFile(`${EXAMPLES}/image-volume/base-job-template.json`),
  );
  assert.ok(template.variables.properties.code_image);
  const pod = template.job_configuration.job_manifest.spec.template.spec;
  assert.deepEqual(pod.volumes, [
    { name: "code", image: { reference: "{{ code_image }}", pullPolicy: "IfNotPresent" } },
  ]);
  const container = pod.containers[0];
  assert.deepEqual(container.volumeMounts, [{
    name: "code",
    mountPath: "/opt/code",
    readOnly: true,
  }]);
  const env = Object.fromEntries(
    container.env.map((e: { name: string; value: string }) => [e.name, e.value]),
  );
  assert.equal(env.PYTHONPATH, "/opt/code/opt/ocisync/deps:/opt/code/opt/prefect/flows");
  assert.equal(env.PYTHONDONTWRITEBYTECODE, "1");
});
