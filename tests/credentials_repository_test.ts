/**
 * Credentials kept per repository or namespace, as containers-auth.json(5) defines them and
 * `podman login HOST/NS/REPO` writes them: the most specific key for a repository wins
 * (`HOST/team/app`, then `HOST/team`, then `HOST`), and no other repository is ever sent it.
 * ocisync used to skip such keys, saying "no credentials found", and sent the registry's own
 * credential where a repository had a key of its own; `logout HOST/REPO` erased the registry's
 * credential, and `login HOST/REPO` overwrote it.
 *
 * The auth files are written by podman where it can write them, so that the format is a
 * peer's; the registries are real Distributions, with htpasswd, or with the harness's token
 * server where a test must see whose credentials came with which scope.
 *
 * @module
 */
import assert from "node:assert/strict";
import { expectExit, ocisync, ocisyncOk, runOk } from "./helpers/cli.ts";
import { podmanArgs } from "./helpers/podman.ts";
import { type TestRegistry, withRegistry } from "./helpers/registry.ts";
import { isolatedEnv } from "./helpers/servers.ts";

const ALICE = "alice";
const ALICE_PASSWORD = "alice-password";
const BOB = "bob";
const BOB_PASSWORD = "bob-password";

/** A registry that knows alice (its main user) and bob, each with every right. */
function withUsers(
  auth: "basic" | "token",
  body: (registry: TestRegistry, tmp: string) => Promise<void>,
): Promise<void> {
  return withRegistry({
    auth,
    username: ALICE,
    password: ALICE_PASSWORD,
    users: { [BOB]: BOB_PASSWORD },
  }, body);
}

/** `podman login --authfile FILE KEY` as USER: the peer writes the file. */
async function podmanLogin(
  tmp: string,
  file: string,
  key: string,
  user: string,
  password: string,
): Promise<void> {
  await runOk("podman", [
    ...podmanArgs(`${tmp}/podman`),
    "login",
    "--authfile",
    file,
    "--tls-verify=false",
    "-u",
    user,
    "--password-stdin",
    key,
  ], { stdin: password });
}

/** A one-file folder to push. */
async function appFolder(tmp: string): Promise<string> {
  await Deno.mkdir(`${tmp}/app`, { recursive: true });
  await Deno.writeTextFile(`${tmp}/app/main.py`, "print('app')\n");
  return `${tmp}/app`;
}

async function readAuths(file: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(file)).auths;
}

function basic(user: string, password: string): { auth: string } {
  return { auth: btoa(`${user}:${password}`) };
}

Deno.test("a repository's key written by podman login is used for it, and for no other repository", async () => {
  await withUsers("basic", async (registry, tmp) => {
    const file = `${tmp}/auth.json`;
    await podmanLogin(tmp, file, `${registry.host}/test/app`, ALICE, ALICE_PASSWORD);
    assert.deepEqual(Object.keys(await readAuths(file)), [`${registry.host}/test/app`]);
    const env = { ...isolatedEnv(tmp), REGISTRY_AUTH_FILE: file };
    const app = await appFolder(tmp);

    const pushed = await ocisyncOk(["push", `${registry.host}/test/app:v1`, app, "-q"], { env });
    const inspected = await ocisyncOk(["inspect", `${registry.host}/test/app:v1`, "-q"], { env });
    assert.match(inspected, /^sha256:[0-9a-f]{64}\n$/);
    assert.equal(pushed, `${registry.host}/test/app@${inspected}`);

    // Another repository, beside it or below a namespace that only starts the same, gets
    // nothing: the registry asks, and none is found for it.
    for (const other of ["test/other", "test/app-b", "test"]) {
      const refused = expectExit(
        await ocisync(["push", `${registry.host}/${other}:v1`, app], { env }),
        3,
      );
      assert.match(refused.stderr, new RegExp(`no credentials found for ${registry.host}`));
    }
  });
});

Deno.test("the most specific key wins: a namespace's over the registry's, in one auth file", async () => {
  await withUsers("basic", async (registry, tmp) => {
    const file = `${tmp}/auth.json`;
    // The registry's own key holds a stale password (podman would check it, so it is written
    // here); podman then adds the namespace's beside it.
    await Deno.writeTextFile(
      file,
      JSON.stringify({ auths: { [registry.host]: basic(BOB, "stale") } }),
      { mode: 0o600 },
    );
    await podmanLogin(tmp, file, `${registry.host}/test`, ALICE, ALICE_PASSWORD);
    assert.deepEqual(Object.keys(await readAuths(file)).sort(), [
      registry.host,
      `${registry.host}/test`,
    ]);
    const env = { ...isolatedEnv(tmp), REGISTRY_AUTH_FILE: file };
    const app = await appFolder(tmp);

    await ocisyncOk(["push", `${registry.host}/test/app:v1`, app, "-q"], { env });
    await ocisyncOk(["inspect", `${registry.host}/test/app:v1`, "-q"], { env });
    // Outside the namespace, the registry's key is the one sent, and refused.
    const refused = expectExit(
      await ocisync(["push", `${registry.host}/web/app:v1`, app], { env }),
      3,
    );
    assert.match(refused.stderr, /refused the credentials of user bob/);
  });
});

Deno.test("Docker's config is read with the same scoped keys, as skopeo reads it", async () => {
  await withUsers("basic", async (registry, tmp) => {
    const env = isolatedEnv(tmp);
    await Deno.mkdir(env.DOCKER_CONFIG, { recursive: true });
    // Docker itself would take this key for the whole registry, having no other: skopeo and
    // podman keep it for the repository, and so does ocisync.
    await Deno.writeTextFile(
      `${env.DOCKER_CONFIG}/config.json`,
      JSON.stringify({ auths: { [`${registry.host}/test/app`]: basic(ALICE, ALICE_PASSWORD) } }),
      { mode: 0o600 },
    );
    const app = await appFolder(tmp);
    await ocisyncOk(["push", `${registry.host}/test/app:v1`, app, "-q"], { env });
    const refused = expectExit(
      await ocisync(["push", `${registry.host}/test/other:v1`, app], { env }),
      3,
    );
    assert.match(refused.stderr, new RegExp(`no credentials found for ${registry.host}`));
  });
});

Deno.test("login and logout HOST/NS/REPO keep and remove that key alone, as podman does", async () => {
  await withUsers("basic", async (registry, tmp) => {
    const file = `${tmp}/auth.json`;
    await podmanLogin(tmp, file, registry.host, BOB, BOB_PASSWORD);
    const wide = (await readAuths(file))[registry.host];
    const env = { ...isolatedEnv(tmp), REGISTRY_AUTH_FILE: file };
    const key = `${registry.host}/test/app`;

    const login = await ocisyncOk(["login", key, "-u", ALICE, "--password-stdin"], {
      env,
      stdin: ALICE_PASSWORD,
    });
    assert.equal(login.trim(), `Login Succeeded: credentials for ${key} saved in ${file}`);
    const auths = await readAuths(file);
    assert.deepEqual(auths[registry.host], wide);
    assert.deepEqual(auths[key], basic(ALICE, ALICE_PASSWORD));
    // podman reads the key as it wrote its own: alice for the repository, bob elsewhere.
    const podman = [...podmanArgs(`${tmp}/podman`), "login", "--authfile", file, "--get-login"];
    assert.equal((await runOk("podman", [...podman, key])).trim(), ALICE);
    assert.equal((await runOk("podman", [...podman, `${registry.host}/test/web`])).trim(), BOB);

    const json = JSON.parse(await ocisyncOk(["logout", key, "--json"], { env }));
    assert.deepEqual(json, {
      registry: registry.host,
      namespace: "test/app",
      removed: true,
      files: [file],
    });
    assert.deepEqual(await readAuths(file), { [registry.host]: wide });
    const again = await ocisyncOk(["logout", key], { env });
    assert.equal(again.trim(), `Not logged in to ${key}`);

    // The registry's logout leaves a namespace's key, as podman's does.
    await ocisyncOk(["login", key, "-u", ALICE, "--password-stdin"], {
      env,
      stdin: ALICE_PASSWORD,
    });
    await ocisyncOk(["logout", registry.host], { env });
    assert.deepEqual(await readAuths(file), { [key]: basic(ALICE, ALICE_PASSWORD) });
  });
});

Deno.test("login HOST/NS/REPO refuses a tag, a digest and a malformed path, saving nothing", async () => {
  await withUsers("basic", async (registry, tmp) => {
    const env = { ...isolatedEnv(tmp), REGISTRY_AUTH_FILE: `${tmp}/auth.json` };
    const cases: [string, RegExp][] = [
      [`${registry.host}/test/app:v1`, /names an image: .*leave out the tag/s],
      [`${registry.host}/test/app@sha256:${"a".repeat(64)}`, /names an image: .*digest/s],
      [`${registry.host}/Test/app`, /repository names must be lowercase/],
      [`${registry.host}/test//app`, /empty path component/],
      [`${registry.host}/v2`, /as the whole registry's key/],
    ];
    for (const [key, message] of cases) {
      const result = expectExit(
        await ocisync(["login", key, "-u", ALICE, "--password-stdin"], {
          env,
          stdin: ALICE_PASSWORD,
        }),
        2,
      );
      assert.match(result.stderr, message, key);
    }
    await assert.rejects(Deno.stat(`${tmp}/auth.json`), Deno.errors.NotFound);
  });
});

Deno.test("copy within a registry: each repository's own credential, the mount with the destination's", async () => {
  await withUsers("token", async (registry, tmp) => {
    const file = `${tmp}/auth.json`;
    await podmanLogin(tmp, file, `${registry.host}/src`, ALICE, ALICE_PASSWORD);
    await podmanLogin(tmp, file, `${registry.host}/dst`, BOB, BOB_PASSWORD);
    const env = { ...isolatedEnv(tmp), REGISTRY_AUTH_FILE: file };
    await ocisyncOk(["push", `${registry.host}/src/app:v1`, await appFolder(tmp), "-q"], {
      env,
    });
    const tokens = registry.tokenRequests!;
    tokens.length = 0;

    await ocisyncOk(["copy", `${registry.host}/src/app:v1`, `${registry.host}/dst/app:v1`], {
      env,
    });
    // The layer and the config were mounted, not copied through this machine.
    const mounts = (await registry.requests()).filter((request) =>
      request.method === "POST" && request.path.includes("mount=")
    );
    assert.ok(mounts.length > 0 && mounts.every((request) => request.status === 201));
    // Every token was asked with the credential of the repository its request was for: the
    // source's reads with alice's, the destination's writes, mounts included, with bob's.
    assert.ok(tokens.length > 0);
    for (const request of tokens) {
      const writes = request.scope.includes("repository:dst/app:pull,push");
      assert.equal(request.presented, writes ? BOB : ALICE, JSON.stringify(request));
      assert.equal(request.status, 200);
      if (!writes) assert.deepEqual(request.scope, ["repository:src/app:pull"]);
    }
    assert.ok(tokens.some((request) => request.presented === ALICE));
    assert.ok(tokens.some((request) =>
      request.scope.includes("repository:src/app:pull") &&
      request.presented === BOB
    ));

    // A repository under neither key is read anonymously: neither user's credential is sent.
    tokens.length = 0;
    expectExit(await ocisync(["inspect", `${registry.host}/other/app:v1`], { env }), 3);
    assert.ok(tokens.length > 0);
    assert.ok(tokens.every((request) => request.presented === undefined));
  });
});
