/**
 * `ocisync push --base` and `ocisync build` against the real Distribution
 * registry, judged by podman running the images, skopeo reading them, and
 * the registry's own access log counting what was sent.
 */
import assert from "node:assert/strict";
import { ocisync, runOk } from "./helpers/cli.ts";
import { podmanArgs } from "./helpers/podman.ts";
import { type RegistryRequest, type TestRegistry, withRegistry } from "./helpers/registry.ts";
import { requireTool } from "./helpers/tools.ts";
import {
  installCalls,
  offlineRecipe,
  recordingPip,
  requirePip,
  writeWheels,
} from "./helpers/wheels.ts";
import { parseRecipe } from "../src/build/recipe.ts";
import { sha256Hex } from "./helpers/hash.ts";

requireTool("skopeo", "skopeo");
requireTool("busybox", "busybox-static");
requirePip();

/** podman run options that this machine's limits need, and no network. */
const RUN_LIMITS = [
  "--network",
  "none",
  "--ulimit",
  "nofile=10000:10000",
  "--ulimit",
  "nproc=1000:1000",
];

async function ocisyncJson(args: string[], env?: Record<string, string>) {
  const result = await ocisync([...args, "--json"], { env });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

/** The blobs whose upload the registry completed, by digest. */
function uploaded(requests: RegistryRequest[]): string[] {
  return requests
    .filter((r) => r.method === "PUT" && r.path.includes("/blobs/uploads/"))
    .map((r) => new URL(r.path, "http://registry").searchParams.get("digest")!);
}

/**
 * A base image of Debian's static busybox: `/bin/busybox` and the applets the
 * tests run as symlinks, pushed by ocisync with a PATH and a default command.
 */
async function pushBusyboxBase(registry: TestRegistry, tmp: string) {
  const rootfs = `${tmp}/busybox-rootfs`;
  await Deno.mkdir(`${rootfs}/bin`, { recursive: true });
  await Deno.copyFile(
    await runOk("sh", ["-c", "command -v busybox"]).then((p) => p.trim()),
    `${rootfs}/bin/busybox`,
  );
  await Deno.chmod(`${rootfs}/bin/busybox`, 0o755);
  for (const applet of ["sh", "env", "sort", "cat", "ls", "pwd"]) {
    await Deno.symlink("busybox", `${rootfs}/bin/${applet}`);
  }
  const ref = `${registry.host}/base/busybox:1`;
  const pushed = await ocisyncJson([
    "push",
    ref,
    rootfs,
    "--env",
    "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
    "--cmd",
    "sh",
  ]);
  return { ref, digest: pushed.digest as string, layer: pushed.layers[0].digest as string };
}

Deno.test("push --base: a script layer on busybox runs in podman with its env and workdir, and base blobs are not sent again", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const base = await pushBusyboxBase(registry, tmp);
    await Deno.mkdir(`${tmp}/app/bin`, { recursive: true });
    await Deno.writeTextFile(
      `${tmp}/app/bin/hello.sh`,
      '#!/bin/sh\necho "$GREETING from $(pwd)"\nenv | sort\n',
    );
    await Deno.chmod(`${tmp}/app/bin/hello.sh`, 0o755);
    const ref = `${registry.host}/app/hello:1`;
    const args = [
      "push",
      ref,
      `${tmp}/app:/app`,
      "--base",
      base.ref,
      "--workdir",
      "/app",
      "--env",
      "GREETING=hello",
      "--env",
      "PATH=/app/bin:$PATH",
      "--entrypoint",
      "/app/bin/hello.sh",
      "--label",
      "org.example.flow=hello",
    ];
    const before = (await registry.requests()).length;
    const pushed = await ocisyncJson(args);
    const requests = (await registry.requests()).slice(before);

    // The base layer was mounted from its repository: neither downloaded nor uploaded.
    assert.ok(!uploaded(requests).includes(base.layer), "the base layer is not uploaded");
    assert.ok(
      requests.some((r) =>
        r.method === "POST" && r.status === 201 &&
        new URL(r.path, "http://registry").searchParams.get("mount") === base.layer
      ),
      "the base layer is mounted",
    );
    assert.ok(!requests.some((r) => r.method === "GET" && r.path.includes(base.layer.slice(7))));
    assert.equal(uploaded(requests).length, 2, "only our layer and the config");
    assert.equal(pushed.mounted, 1);

    const tls = "--tls-verify=false";
    const raw = JSON.parse(await runOk("skopeo", ["inspect", "--raw", tls, `docker://${ref}`]));
    assert.equal(raw.layers[0].digest, base.layer);
    assert.equal(raw.layers.length, 2);
    assert.equal(raw.annotations["org.opencontainers.image.base.digest"], base.digest);
    const baseConfig = JSON.parse(
      await runOk("skopeo", ["inspect", "--config", tls, `docker://${base.ref}`]),
    );
    const config = JSON.parse(
      await runOk("skopeo", ["inspect", "--config", tls, `docker://${ref}`]),
    );
    assert.deepEqual(config.config.Env, [
      "PATH=/app/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "GREETING=hello",
    ]);
    assert.equal(config.config.WorkingDir, "/app");
    assert.deepEqual(config.config.Entrypoint, ["/app/bin/hello.sh"]);
    assert.equal(config.config.Cmd, undefined, "an entrypoint drops the base's Cmd");
    assert.deepEqual(config.config.Labels, { "org.example.flow": "hello" });
    assert.equal(config.rootfs.diff_ids[0], baseConfig.rootfs.diff_ids[0]);
    assert.equal(config.rootfs.diff_ids.length, 2);
    assert.deepEqual(config.history.slice(0, 1), baseConfig.history);
    assert.equal(config.history.length, 2);

    const podman = podmanArgs(`${tmp}/podman`);
    await runOk("podman", [...podman, "pull", "-q", tls, ref]);
    const output = await runOk("podman", [...podman, "run", "--rm", ...RUN_LIMITS, ref]);
    const lines = output.trim().split("\n");
    assert.equal(lines[0], "hello from /app");
    assert.ok(lines.includes("GREETING=hello"), output);
    assert.ok(lines.includes("PATH=/app/bin:/usr/sbin:/usr/bin:/sbin:/bin"), output);
    assert.ok(lines.includes("PWD=/app"), output);

    // The same base digest and inputs give the same image, and nothing is sent again.
    const again = (await registry.requests()).length;
    assert.equal((await ocisyncJson(args)).digest, pushed.digest);
    assert.deepEqual(uploaded((await registry.requests()).slice(again)), []);
  });
});

Deno.test("push --base: a platform is chosen from a layout's index, and its blobs stream to the registry", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const parts = [];
    for (const [platform, content] of [["linux/amd64", "x86"], ["linux/arm64", "arm"]]) {
      await Deno.mkdir(`${tmp}/${content}`);
      await Deno.writeTextFile(`${tmp}/${content}/arch.txt`, content);
      const pushed = await ocisyncJson([
        "push",
        `oci:${tmp}/layout:${content}`,
        `${tmp}/${content}:/etc/base`,
        "--platform",
        platform,
      ]);
      const manifest = await Deno.readFile(`${tmp}/layout/blobs/sha256/${pushed.digest.slice(7)}`);
      parts.push({
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: pushed.digest,
        size: manifest.length,
        platform: { os: "linux", architecture: platform.split("/")[1] },
        layer: pushed.layers[0].digest,
      });
    }
    // An index written by hand, as another tool would, tagged "multi" in the layout.
    const index = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: parts.map(({ layer: _, ...descriptor }) => descriptor),
    }));
    const indexHex = sha256Hex(index);
    await Deno.writeFile(`${tmp}/layout/blobs/sha256/${indexHex}`, index);
    const layoutIndex = JSON.parse(await Deno.readTextFile(`${tmp}/layout/index.json`));
    layoutIndex.manifests.push({
      mediaType: "application/vnd.oci.image.index.v1+json",
      digest: `sha256:${indexHex}`,
      size: index.length,
      annotations: { "org.opencontainers.image.ref.name": "multi" },
    });
    await Deno.writeTextFile(`${tmp}/layout/index.json`, JSON.stringify(layoutIndex));

    await Deno.mkdir(`${tmp}/code`);
    await Deno.writeTextFile(`${tmp}/code/flow.py`, "print('flow')\n");
    const pushOnto = (ref: string, base: string, platform?: string) =>
      ocisync([
        "push",
        ref,
        `${tmp}/code:/code`,
        "--base",
        `oci:${tmp}/layout:${base}`,
        ...(platform ? ["--platform", platform] : []),
        "--json",
      ]);
    for (const [platform, part] of [["linux/arm64", parts[1]], [undefined, parts[0]]] as const) {
      const ref = `${registry.host}/multi/app:${part.platform.architecture}`;
      const before = (await registry.requests()).length;
      const result = await pushOnto(ref, "multi", platform);
      assert.equal(result.code, 0, result.stderr);
      const pushed = JSON.parse(result.stdout);
      assert.equal(pushed.layers[0].digest, part.layer, `the ${part.platform.architecture} base`);
      assert.ok(uploaded((await registry.requests()).slice(before)).includes(part.layer));
      const config = JSON.parse(
        await runOk("skopeo", ["inspect", "--config", "--tls-verify=false", `docker://${ref}`]),
      );
      assert.equal(config.architecture, part.platform.architecture);
    }

    const missing = await pushOnto(`${registry.host}/multi/app:s390x`, "multi", "linux/s390x");
    assert.equal(missing.code, 4, missing.stderr);
    assert.match(missing.stderr, /no manifest for linux\/s390x; it has linux\/amd64, linux\/arm64/);
    const mismatch = await pushOnto(`oci:${tmp}/out:x`, "x86", "linux/arm64");
    assert.equal(mismatch.code, 2, mismatch.stderr);
    assert.match(mismatch.stderr, /is a linux\/amd64 image, not linux\/arm64\/v8/);
  });
});

Deno.test("build: a code change re-uploads only the code layer; the image mounts as a volume", async () => {
  await withRegistry({}, async (registry, tmp) => {
    await writeWheels(`${tmp}/project/wheels`);
    const pip = await recordingPip(tmp);
    const env = { XDG_CACHE_HOME: `${tmp}/cache`, OCISYNC_INSTALLER_COMMAND: pip.command };
    await Deno.mkdir(`${tmp}/project/flows`);
    await Deno.writeTextFile(`${tmp}/project/requirements.txt`, "purepkg==1.0\nclitool==2.0\n");
    const flow = `${tmp}/project/flows/hello.py`;
    await Deno.writeTextFile(flow, "import purepkg\nprint('hello', purepkg.VALUE)\n");
    const ref = `${registry.host}/flows/hello:v1`;
    await Deno.writeTextFile(
      `${tmp}/project/ocisync.yaml`,
      offlineRecipe(ref, [
        "tags: [latest]",
        "config:",
        "  workdir: /opt/prefect/flows",
        "  env:",
        "    PYTHONPATH: /opt/ocisync/deps",
        "  labels:",
        "    org.opencontainers.image.version: 1.0",
      ]),
    );
    const recipe = `${tmp}/project/ocisync.yaml`;

    const before = (await registry.requests()).length;
    const dry = await ocisyncJson(["build", "-f", recipe, "--dry-run"], env);
    assert.equal(dry.dry_run, true);
    assert.deepEqual((await registry.requests()).slice(before), [], "a dry run sends nothing");

    const first = await ocisyncJson(["build", "-f", recipe], env);
    assert.equal(first.digest, dry.digest, "the dry run showed the digest that was pushed");
    assert.equal(first.uploaded, 3);
    assert.deepEqual(first.additional_tags, ["latest"]);
    const push = await ocisyncJson(["push", `oci:${tmp}/other:v1`, `${tmp}/project/flows`]);
    assert.deepEqual(Object.keys(first).sort(), Object.keys(push).sort(), "push's JSON fields");
    assert.equal((await installCalls(pip.log)).length, 1);
    const [deps, code] = first.layers;

    await Deno.writeTextFile(flow, "import purepkg\nprint('hello again', purepkg.VALUE)\n");
    const changed = (await registry.requests()).length;
    const second = await ocisyncJson(["build", "-f", recipe], env);
    const sent = uploaded((await registry.requests()).slice(changed));
    assert.equal(second.layers[0].digest, deps.digest, "the same dependency layer");
    assert.notEqual(second.layers[1].digest, code.digest);
    const config = JSON.parse(
      await runOk("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`]),
    ).config.digest;
    assert.deepEqual(
      sent.sort(),
      [second.layers[1].digest, config].sort(),
      "code layer and config",
    );
    assert.equal(
      (await installCalls(pip.log)).length,
      1,
      "the dependency layer came from the cache",
    );

    // Pulled back, the code runs on the dependencies, as an image volume would give them.
    const pull = await ocisync(["pull", ref, "-o", `${tmp}/pulled`]);
    assert.equal(pull.code, 0, pull.stderr);
    const ran = await runOk("python3", [`${tmp}/pulled/opt/prefect/flows/hello.py`], {
      env: { PYTHONPATH: `${tmp}/pulled/opt/ocisync/deps`, PYTHONDONTWRITEBYTECODE: "1" },
    });
    assert.equal(ran, "hello again pure\n");

    // podman mounts the image read-only into a busybox container, as a Kubernetes image volume.
    const base = await pushBusyboxBase(registry, tmp);
    const podman = podmanArgs(`${tmp}/podman`);
    await runOk("podman", [...podman, "pull", "-q", "--tls-verify=false", ref, base.ref]);
    const listed = await runOk("podman", [
      ...podman,
      "run",
      "--rm",
      ...RUN_LIMITS,
      "--mount",
      `type=image,source=${ref},destination=/code`,
      base.ref,
      "sh",
      "-c",
      "cat /code/opt/prefect/flows/hello.py; ls /code/opt/ocisync/deps; touch /code/x || echo read-only",
    ]);
    assert.match(listed, /print\('hello again'/);
    assert.match(listed, /purepkg-1\.0\.dist-info/);
    assert.match(listed, /read-only\n$/);
  });
});

Deno.test("build: recipe errors name the file, line and column", async () => {
  const cases: [string, RegExp][] = [
    [
      "image: a/b\nlayers: [{source: ., dest: /x}]\nplatfrom: linux/amd64\n",
      /r\.yaml:3:1: unknown key "platfrom" in the recipe/,
    ],
    ["layers:\n  - source: .\n    dest: /x\n", /r\.yaml:1:1: the recipe needs image:/],
    [
      "image: a/b\nlayers:\n  - requirements: r.txt\n    python_version: 3.10\n",
      /r\.yaml:4:21: python_version must be a non-empty string \(quote it: YAML reads 3\.10 as a number\)/,
    ],
    ["image: a/b\nlayers:\n  - source: .\n", /r\.yaml:3:5: a source layer needs dest:/],
    [
      "image: a/b\nlayers:\n  - source: .\n    requirements: r.txt\n",
      /r\.yaml:3:5: a layer has exactly one of requirements: and source:/,
    ],
    [
      "image: a/b\nlayers:\n  - source: .\n    dest: relative\n",
      /r\.yaml:4:11: dest must be an absolute path/,
    ],
    ["image: a/b\nplatform: linux\nlayers: []\n", /r\.yaml:2:11: invalid platform "linux"/],
    [
      "image: a/b\nlayers:\n  - source: .\n    dest: /x\nconfig:\n  env: [NOEQUALS]\n",
      /r\.yaml:6:9: an env entry is NAME=VALUE/,
    ],
    ["image: [a\nlayers: x\n", /r\.yaml:\d+:\d+: /],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseRecipe(text, "dir/r.yaml"), message, text);
  }
  const recipe = parseRecipe(
    "image: oci:./out:v1\nlayers:\n  - requirements: req.txt\n    find_links: [wheels, https://x.invalid/links]\n  - source: src\n    dest: /opt/app\nconfig:\n  entrypoint: /opt/app/run\n  user: 1000\n  labels: {version: 1.0}\n",
    "dir/r.yaml",
  );
  assert.deepEqual(recipe.image, { kind: "layout", path: "dir/out", tag: "v1" });
  assert.deepEqual(recipe.layers[0], {
    kind: "requirements",
    requirements: "dir/req.txt",
    dest: "/opt/ocisync/deps",
    findLinks: ["dir/wheels", "https://x.invalid/links"],
  });
  assert.deepEqual(recipe.config, {
    entrypoint: ["/opt/app/run"],
    user: "1000",
    labels: { version: "1.0" },
  });

  // Through the CLI: the usage exit code and the position.
  const tmp = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${tmp}/ocisync.yaml`,
      "image: a/b\nlayers:\n  - source: .\n    dest: /x\n    excludes: []\n",
    );
    const result = await ocisync(["build", "-f", `${tmp}/ocisync.yaml`, "--dry-run"]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /ocisync\.yaml:5:5: unknown key "excludes" in a source layer; expected one of source, dest, exclude/,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
