/**
 * `ocisync push` and `ocisync pull` against the real Distribution registry,
 * judged by real peers: skopeo, umoci and podman.
 */
import assert from "node:assert/strict";
import { ocisync, runOk } from "./helpers/cli.ts";
import { withRegistry } from "./helpers/registry.ts";
import { isolatedEnv } from "./helpers/servers.ts";
import { podmanArgs } from "./helpers/podman.ts";
import { requireTool } from "./helpers/tools.ts";
import { normalised, snapshot, writeTree } from "./helpers/tree.ts";

requireTool("skopeo", "skopeo");
requireTool("umoci", "umoci");

const TREE = {
  "app": { type: "dir" as const },
  "app/lib": { type: "dir" as const },
  "app/main.py": { type: "file" as const, content: "print('hello')\n" },
  "app/run.sh": { type: "file" as const, content: "#!/bin/sh\necho run\n", executable: true },
  "app/lib/util.py": { type: "file" as const, content: "X = 1\n" },
  "app/link": { type: "symlink" as const, target: "main.py" },
};

const isUpload = (r: { method: string; path: string }) =>
  (r.method === "PUT" || r.method === "PATCH" || r.method === "POST") && r.path.includes("/blobs/");

Deno.test("push to the registry: skopeo, umoci and podman accept the image; a second push uploads nothing", async () => {
  await withRegistry({ auth: "anonymous" }, async (registry, tmp) => {
    await writeTree(`${tmp}/src`, TREE);
    const ref = `${registry.host}/team/flows:v1`;
    const args = [
      "push",
      ref,
      `${tmp}/src:/opt/code`,
      "--tag",
      "latest",
      "--label",
      "org.example=yes",
      "--annotation",
      "org.opencontainers.image.source=https://example.invalid/repo",
    ];
    const push = await ocisync([...args, "--json"]);
    assert.equal(push.code, 0, push.stderr);
    const result = JSON.parse(push.stdout);
    assert.equal(result.image_name, `${registry.host}/team/flows`);
    assert.equal(result.tag, "v1");
    assert.deepEqual(result.additional_tags, ["latest"]);

    const inspect = JSON.parse(
      await runOk("skopeo", ["inspect", "--tls-verify=false", `docker://${ref}`]),
    );
    assert.equal(inspect.Digest, result.digest);
    assert.equal(inspect.Architecture, "amd64");
    assert.equal(inspect.Os, "linux");
    assert.deepEqual(inspect.Layers, result.layers.map((l: { digest: string }) => l.digest));
    assert.deepEqual(inspect.Labels, { "org.example": "yes" });
    assert.deepEqual(inspect.RepoTags.sort(), ["latest", "v1"]);
    const raw = JSON.parse(
      await runOk("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`]),
    );
    assert.equal(raw.mediaType, "application/vnd.oci.image.manifest.v1+json");

    await runOk("skopeo", [
      "copy",
      "--src-tls-verify=false",
      `docker://${ref}`,
      `oci:${tmp}/copy:v1`,
    ]);
    await runOk("umoci", ["unpack", "--rootless", "--image", `${tmp}/copy:v1`, `${tmp}/bundle`]);
    assert.deepEqual(
      await snapshot(`${tmp}/bundle/rootfs/opt/code`),
      normalised(await snapshot(`${tmp}/src`)),
    );

    const podman = podmanArgs(`${tmp}/podman`);
    await runOk("podman", [...podman, "pull", "--tls-verify=false", ref]);
    const images = await runOk("podman", [
      ...podman,
      "images",
      "--digests",
      "--format",
      "{{.Digest}}",
    ]);
    assert.match(images, new RegExp(result.digest));

    // The same inputs again: the same digest, and no blob is uploaded.
    const before = (await registry.requests()).length;
    const again = await ocisync([...args, "-q"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), `${registry.host}/team/flows@${result.digest}`);
    const second = (await registry.requests()).slice(before);
    assert.deepEqual(second.filter(isUpload), [], "no blob is uploaded twice");
    assert.ok(second.some((r) => r.method === "PUT" && r.path.includes("/manifests/")));
  });
});

Deno.test("pull from the registry: an image that umoci built and skopeo copied gives umoci's tree", async () => {
  await withRegistry({ auth: "anonymous" }, async (registry, tmp) => {
    await writeTree(`${tmp}/src`, TREE);
    await runOk("umoci", ["init", "--layout", `${tmp}/layout`]);
    await runOk("umoci", ["new", "--image", `${tmp}/layout:base`]);
    await runOk("umoci", [
      "insert",
      "--rootless",
      "--image",
      `${tmp}/layout:base`,
      `${tmp}/src/app`,
      "/srv/app",
    ]);
    // A second layer deletes a file: the pull must apply umoci's whiteout.
    await runOk("umoci", ["unpack", "--rootless", "--image", `${tmp}/layout:base`, `${tmp}/b`]);
    await Deno.remove(`${tmp}/b/rootfs/srv/app/lib/util.py`);
    await runOk("umoci", ["repack", "--image", `${tmp}/layout:base`, `${tmp}/b`]);
    const ref = `${registry.host}/umoci/image:base`;
    await runOk("skopeo", [
      "copy",
      "--dest-tls-verify=false",
      `oci:${tmp}/layout:base`,
      `docker://${ref}`,
    ]);

    const pull = await ocisync(["pull", ref, "-o", `${tmp}/out`, "--json"]);
    assert.equal(pull.code, 0, pull.stderr);
    const result = JSON.parse(pull.stdout);
    assert.equal(result.kind, "image");
    assert.deepEqual(await snapshot(`${tmp}/out/srv`), await snapshot(`${tmp}/b/rootfs/srv`));
    assert.ok(!(await snapshot(`${tmp}/out`))["srv/app/lib/util.py"], "the whiteout applied");
  });
});

Deno.test("artifacts: ORAS-style files round-trip, and skopeo sees titles and artifactType", async () => {
  await withRegistry({ auth: "anonymous" }, async (registry, tmp) => {
    await writeTree(`${tmp}/work`, {
      "conf": { type: "dir" },
      "conf/a.yaml": { type: "file", content: "a: 1\n" },
      "notes.txt": { type: "file", content: "notes" },
      "dir": { type: "dir" },
      "dir/inner.txt": { type: "file", content: "packed" },
    });
    const ref = `${registry.host}/cfg/app:v1`;
    const push = await ocisync(
      [
        "push",
        ref,
        "--files",
        "conf/a.yaml",
        "notes.txt:text/plain",
        "dir",
        "--artifact-type",
        "application/vnd.example.config",
        "--json",
      ],
      { cwd: `${tmp}/work` },
    );
    assert.equal(push.code, 0, push.stderr);
    const raw = JSON.parse(
      await runOk("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`]),
    );
    assert.equal(raw.artifactType, "application/vnd.example.config");
    assert.equal(raw.config.mediaType, "application/vnd.oci.empty.v1+json");
    assert.equal(raw.config.size, 2);
    const titles = raw.layers.map((l: { annotations: Record<string, string> }) =>
      l.annotations["org.opencontainers.image.title"]
    );
    assert.deepEqual(titles, ["conf/a.yaml", "notes.txt", "dir"]);
    assert.equal(raw.layers[1].mediaType, "text/plain");
    assert.equal(raw.layers[2].annotations["io.deis.oras.content.unpack"], "true");

    const pull = await ocisync(["pull", ref, "-o", `${tmp}/out`, "--json"]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.deepEqual(JSON.parse(pull.stdout).files, ["conf/a.yaml", "notes.txt", "dir"]);
    const got = await snapshot(`${tmp}/out`);
    const want = await snapshot(`${tmp}/work`);
    for (const path of ["conf/a.yaml", "notes.txt", "dir/inner.txt"]) {
      assert.equal(got[path]?.sha256, want[path].sha256, path);
    }
  });
});

Deno.test("credentials: flags, both --credentials shapes, DOCKER_CONFIG and a credential helper", async () => {
  await withRegistry({ auth: "basic" }, async (registry, tmp) => {
    await writeTree(`${tmp}/src`, TREE);
    const ref = `${registry.host}/secure/app:v1`;
    const source = `${tmp}/src:/app`;

    const anonymous = await ocisync(["push", ref, source]);
    assert.equal(anonymous.code, 3, anonymous.stderr);
    assert.match(anonymous.stderr, /ocisync login/);

    const flags = await ocisync(
      ["push", ref, source, "-u", registry.username, "--password-stdin"],
      {
        stdin: `${registry.password}\n`,
      },
    );
    assert.equal(flags.code, 0, flags.stderr);

    const wrong = await ocisync(
      ["push", ref, source, "-u", registry.username, "--password-stdin"],
      {
        stdin: "not-the-password\n",
      },
    );
    assert.equal(wrong.code, 3);
    assert.doesNotMatch(wrong.stderr, /not-the-password/);

    // Both shapes of --credentials: a plain record, and a Docker config.
    const auth = btoa(`${registry.username}:${registry.password}`);
    const files = {
      plain: { username: registry.username, password: registry.password, registry: registry.host },
      docker: { auths: { [registry.host]: { auth } } },
    };
    for (const [shape, content] of Object.entries(files)) {
      await Deno.writeTextFile(`${tmp}/${shape}.json`, JSON.stringify(content));
      const pulled = await ocisync(
        ["pull", ref, "-o", `${tmp}/${shape}-out`, "--credentials", `${tmp}/${shape}.json`],
      );
      assert.equal(pulled.code, 0, `${shape}: ${pulled.stderr}`);
    }

    await Deno.mkdir(`${tmp}/config`);
    await Deno.copyFile(`${tmp}/docker.json`, `${tmp}/config/config.json`);
    const env = await ocisync(["pull", ref, "-o", `${tmp}/p3`], {
      env: { DOCKER_CONFIG: `${tmp}/config` },
    });
    assert.equal(env.code, 0, env.stderr);

    // A credential helper on PATH, named by credHelpers.
    await Deno.mkdir(`${tmp}/bin`);
    await Deno.writeTextFile(
      `${tmp}/bin/docker-credential-test`,
      `#!/bin/sh\nread server\necho "{\\"ServerURL\\":\\"$server\\",\\"Username\\":\\"${registry.username}\\",\\"Secret\\":\\"${registry.password}\\"}"\n`,
    );
    await Deno.chmod(`${tmp}/bin/docker-credential-test`, 0o755);
    await Deno.mkdir(`${tmp}/helper`);
    await Deno.writeTextFile(
      `${tmp}/helper/config.json`,
      JSON.stringify({ credHelpers: { [registry.host]: "test" } }),
    );
    const helper = await ocisync(["pull", ref, "-o", `${tmp}/p4`], {
      env: { DOCKER_CONFIG: `${tmp}/helper`, PATH: `${tmp}/bin:${Deno.env.get("PATH")}` },
    });
    assert.equal(helper.code, 0, helper.stderr);
    for (const dir of ["plain-out", "docker-out", "p3", "p4"]) {
      assert.deepEqual(
        await snapshot(`${tmp}/${dir}/app`),
        normalised(await snapshot(`${tmp}/src`)),
      );
    }
  });
});

Deno.test("token auth: push and pull through our token server", async () => {
  await withRegistry({ auth: "token" }, async (registry, tmp) => {
    await writeTree(`${tmp}/src`, TREE);
    const ref = `${registry.host}/tok/app:v1`;
    const creds = { stdin: registry.password };
    const push = await ocisync([
      "push",
      ref,
      `${tmp}/src:/x`,
      "-u",
      registry.username,
      "--password-stdin",
    ], creds);
    assert.equal(push.code, 0, push.stderr);
    const pull = await ocisync([
      "pull",
      ref,
      "-o",
      `${tmp}/out`,
      "-u",
      registry.username,
      "--password-stdin",
    ], creds);
    assert.equal(pull.code, 0, pull.stderr);
    assert.deepEqual(await snapshot(`${tmp}/out/x`), normalised(await snapshot(`${tmp}/src`)));
    assert.ok(
      registry.tokenRequests!.some((t) => t.scope.includes("repository:tok/app:pull,push")),
    );
  });
});

Deno.test("oci: layouts: push, pull back, and umoci reads ours", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await writeTree(`${tmp}/src`, TREE);
    const push = await ocisync(["push", `oci:${tmp}/layout:v1`, `${tmp}/src:/srv`, "-q"]);
    assert.equal(push.code, 0, push.stderr);
    const pull = await ocisync(["pull", `oci:${tmp}/layout:v1`, "-o", `${tmp}/out`]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.deepEqual(await snapshot(`${tmp}/out/srv`), normalised(await snapshot(`${tmp}/src`)));
    await runOk("umoci", ["unpack", "--rootless", "--image", `${tmp}/layout:v1`, `${tmp}/bundle`]);
    assert.deepEqual(
      await snapshot(`${tmp}/bundle/rootfs/srv`),
      normalised(await snapshot(`${tmp}/src`)),
    );
    const inspect = JSON.parse(await runOk("skopeo", ["inspect", `oci:${tmp}/layout:v1`]));
    assert.equal(`oci:${tmp}/layout@${inspect.Digest}`, push.stdout.trim());
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("pull: a corrupt blob fails with the integrity code and leaves the folder as it was", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await writeTree(`${tmp}/src`, TREE);
    const push = await ocisync(["push", `oci:${tmp}/layout:v1`, `${tmp}/src`, "--json"]);
    assert.equal(push.code, 0, push.stderr);
    const layer = JSON.parse(push.stdout).layers[0].digest.slice(7);
    const path = `${tmp}/layout/blobs/sha256/${layer}`;
    const bytes = await Deno.readFile(path);
    bytes[bytes.length - 20] ^= 0xff;
    await Deno.writeFile(path, bytes);
    await writeTree(`${tmp}/out`, { "keep.txt": { type: "file", content: "mine" } });
    const before = await snapshot(`${tmp}/out`);
    const pull = await ocisync(["pull", `oci:${tmp}/layout:v1`, "-o", `${tmp}/out`]);
    assert.ok(pull.code === 5 || pull.code === 7, `${pull.code}: ${pull.stderr}`);
    assert.deepEqual(await snapshot(`${tmp}/out`), before);
    const leftovers = [...Deno.readDirSync(tmp)].map((e) => e.name).filter((n) =>
      n.startsWith(".")
    );
    assert.deepEqual(leftovers, [], "no staging folder is left behind");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("login checks the password, saves it with mode 0600, and logout removes it", async () => {
  for (const auth of ["basic", "token"] as const) {
    await withRegistry({ auth }, async (registry, tmp) => {
      const env = { DOCKER_CONFIG: `${tmp}/docker` };
      const wrong = await ocisync([
        "login",
        registry.host,
        "-u",
        registry.username,
        "--password-stdin",
      ], {
        env,
        stdin: "wrong",
      });
      assert.equal(wrong.code, 3, `${auth}: ${wrong.stderr}`);
      assert.ok(!(await Deno.stat(`${tmp}/docker/config.json`).catch(() => undefined)));

      const login = await ocisync([
        "login",
        registry.host,
        "-u",
        registry.username,
        "--password-stdin",
      ], {
        env,
        stdin: registry.password,
      });
      assert.equal(login.code, 0, `${auth}: ${login.stderr}`);
      assert.doesNotMatch(login.stdout + login.stderr, new RegExp(registry.password));
      const info = await Deno.stat(`${tmp}/docker/config.json`);
      assert.equal(info.mode! & 0o777, 0o600);
      const config = JSON.parse(await Deno.readTextFile(`${tmp}/docker/config.json`));
      assert.equal(
        atob(config.auths[registry.host].auth),
        `${registry.username}:${registry.password}`,
      );

      // The saved credentials work with no flags.
      await writeTree(`${tmp}/src`, TREE);
      const push = await ocisync(["push", `${registry.host}/saved/app:v1`, `${tmp}/src`], { env });
      assert.equal(push.code, 0, push.stderr);

      const logout = await ocisync(["logout", registry.host], { env });
      assert.equal(logout.code, 0, logout.stderr);
      const after = JSON.parse(await Deno.readTextFile(`${tmp}/docker/config.json`));
      assert.equal(after.auths?.[registry.host], undefined);
      const denied = await ocisync(["push", `${registry.host}/saved/app:v2`, `${tmp}/src`], {
        env,
      });
      assert.equal(denied.code, 3);
    });
  }
});

Deno.test("login writes the file lookups read first; logout removes the registry from every one", async () => {
  await withRegistry({ auth: "basic" }, async (registry, tmp) => {
    const authFile = `${tmp}/auth.json`;
    const env = { ...isolatedEnv(tmp), REGISTRY_AUTH_FILE: authFile };
    const basic = (password: string) => btoa(`${registry.username}:${password}`);
    const stale = { auths: { [registry.host]: { auth: basic("stale") } } };
    // A stale password where lookups look first, and the same host saved by docker and podman.
    await Deno.mkdir(`${tmp}/docker`);
    await Deno.mkdir(`${tmp}/xdg/containers`, { recursive: true });
    for (const path of [authFile, `${tmp}/docker/config.json`, `${tmp}/xdg/containers/auth.json`]) {
      await Deno.writeTextFile(path, JSON.stringify(stale), { mode: 0o600 });
    }
    const login = await ocisync(
      ["login", registry.host, "-u", registry.username, "--password-stdin", "--json"],
      { env, stdin: registry.password },
    );
    assert.equal(login.code, 0, login.stderr);
    assert.equal(JSON.parse(login.stdout).config, authFile);
    const saved = JSON.parse(await Deno.readTextFile(authFile));
    assert.equal(saved.auths[registry.host].auth, basic(registry.password));
    await writeTree(`${tmp}/src`, TREE);
    const push = await ocisync(["push", `${registry.host}/saved/app:v1`, `${tmp}/src`], { env });
    assert.equal(push.code, 0, push.stderr);

    const logout = await ocisync(["logout", registry.host, "--json"], { env });
    assert.equal(logout.code, 0, logout.stderr);
    assert.deepEqual(JSON.parse(logout.stdout), {
      registry: registry.host,
      removed: true,
      files: [authFile, `${tmp}/docker/config.json`, `${tmp}/xdg/containers/auth.json`],
    });
    const denied = await ocisync(["push", `${registry.host}/saved/app:v2`, `${tmp}/src`], { env });
    assert.equal(denied.code, 3);
    assert.match(denied.stderr, /no credentials found/);
  });
});

Deno.test("--password on the command line is refused; --insecure names --ca-file", async () => {
  for (const password of [["--password", "hunter2"], ["--password=hunter2"]]) {
    const result = await ocisync(["pull", "localhost:1/x", ...password]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--password is refused: it would show in shell history/);
    assert.match(result.stderr, /--password-stdin/);
    assert.doesNotMatch(result.stderr, /hunter2/);
  }
  const insecure = await ocisync(["pull", "localhost:1/x", "--insecure", "-o", "y"]);
  assert.equal(insecure.code, 2);
  assert.match(insecure.stderr, /--insecure is not supported/);
  assert.match(insecure.stderr, /hint: trust the registry's certificate with --ca-file FILE/);
});

Deno.test("pull gives a new folder ordinary permissions; a refused push leaves no layout", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await writeTree(`${tmp}/src`, TREE);
    const push = await ocisync(["push", `oci:${tmp}/layout:v1`, `${tmp}/src`]);
    assert.equal(push.code, 0, push.stderr);
    const pull = await ocisync(["pull", `oci:${tmp}/layout:v1`, "-o", `${tmp}/new`]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal((await Deno.stat(`${tmp}/new`)).mode! & 0o777, 0o755);

    // A layer file whose entry leaves the root, written by Python's tarfile.
    await runOk("python3", [
      "-c",
      "import io, sys, tarfile\nt = tarfile.open(sys.argv[1], 'w')\ni = tarfile.TarInfo('../escape')\ni.size = 1\nt.addfile(i, io.BytesIO(b'x'))\nt.close()",
      `${tmp}/evil.tar`,
    ]);
    const refused = await ocisync(["push", `oci:${tmp}/never:v1`, `${tmp}/evil.tar`]);
    assert.equal(refused.code, 7, refused.stderr);
    assert.equal(await Deno.stat(`${tmp}/never`).catch(() => undefined), undefined);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
