import assert from "node:assert/strict";
import { NotFoundError, UsageError } from "../errors/mod.ts";
import { CredentialChain, credentialChain, credentialLookup, CredentialsFile } from "./chain.ts";
import { DockerConfigStore } from "./docker_config.ts";
import { posix } from "./fakes_test.ts";
import { authFilePaths } from "./paths.ts";
import type { Credential, CredentialSource, EnvLookup } from "./store.ts";

function envOf(vars: Record<string, string>): EnvLookup {
  return (name) => vars[name];
}

Deno.test("authFilePaths: the documented order, unset and empty variables skipped", () => {
  assert.deepEqual(authFilePaths(envOf({}), "/h"), [
    "/h/.docker/config.json",
    "/h/.config/containers/auth.json",
  ]);
  assert.deepEqual(
    authFilePaths(
      envOf({
        REGISTRY_AUTH_FILE: "/etc/auth.json",
        DOCKER_CONFIG: "/dc/",
        XDG_RUNTIME_DIR: "/run/user/1",
        XDG_CONFIG_HOME: "/cfg",
      }),
      "/h",
    ),
    [
      "/etc/auth.json",
      "/dc/config.json",
      "/run/user/1/containers/auth.json",
      "/cfg/containers/auth.json",
    ],
  );
  // The same file named twice is read once; HOME, then USERPROFILE, when no home is given.
  assert.deepEqual(
    authFilePaths(envOf({ REGISTRY_AUTH_FILE: "/h/.docker/config.json", HOME: "/h" })),
    ["/h/.docker/config.json", "/h/.config/containers/auth.json"],
  );
  assert.deepEqual(authFilePaths(envOf({ USERPROFILE: "/u", HOME: "", DOCKER_CONFIG: "" })), [
    "/u/.docker/config.json",
    "/u/.config/containers/auth.json",
  ]);
  assert.deepEqual(authFilePaths(envOf({})), []);
});

Deno.test("CredentialChain: the first source with a credential wins; hosts are normalised", async () => {
  const asked: string[] = [];
  const source = (name: string, found?: Credential): CredentialSource => ({
    get: (host) => {
      asked.push(`${name} ${host}`);
      return Promise.resolve(found);
    },
  });
  const chain = new CredentialChain([
    source("empty"),
    source("second", { username: "u", password: "p" }),
    source("third", { identityToken: "t" }),
  ]);
  assert.deepEqual(await chain.get("Index.Docker.io"), { username: "u", password: "p" });
  assert.deepEqual(asked, ["empty docker.io", "second docker.io"]);

  // An error stops the chain: a broken file is not skipped in silence.
  const failing = new CredentialChain([
    { get: () => Promise.reject(new UsageError("broken")) },
    source("after", { password: "p" }),
  ]);
  await assert.rejects(failing.get("ghcr.io"), UsageError);
  assert.equal(asked.length, 2);
});

Deno.test("credentialChain: explicit, then --credentials, then the standard files", () => {
  const env = envOf({ HOME: "/h", REGISTRY_AUTH_FILE: "/etc/auth.json" });
  const chain = credentialChain({
    username: "me",
    password: "p",
    credentialsFile: "/creds.json",
    env,
  });
  assert.equal(chain.sources.length, 2 + authFilePaths(env).length);
  assert.ok(chain.sources[1] instanceof CredentialsFile);
  assert.equal(chain.sources[1].path, "/creds.json");
  const files = chain.sources.slice(2).map((source) => {
    assert.ok(source instanceof DockerConfigStore);
    return source.path;
  });
  assert.deepEqual(files, authFilePaths(env));
  assert.deepEqual(credentialChain({ env }).sources.length, authFilePaths(env).length);
  assert.throws(() => credentialChain({ username: "me" }), UsageError);
  assert.throws(() => credentialLookup({ password: "p" }), UsageError);
});

Deno.test("credentialLookup reads no environment until it is asked", async () => {
  const read: string[] = [];
  const lookup = credentialLookup({
    env: (name) => void read.push(name),
  });
  assert.equal(read.length, 0);
  assert.equal(await lookup("ghcr.io"), undefined);
  assert.ok(read.includes("REGISTRY_AUTH_FILE"), read.join());
});

Deno.test("credentialLookup: an explicit username and password go to their registry only", async () => {
  const explicit = { username: "u", password: "p", env: envOf({ HOME: "/nonexistent" }) };
  const lookup = credentialLookup({ ...explicit, registry: "https://index.docker.io/v1/" });
  assert.deepEqual(await lookup("registry-1.docker.io"), { username: "u", password: "p" });
  assert.equal(await lookup("ghcr.io"), undefined);
  // Without a registry (a library caller that talks to one), they go to any.
  assert.deepEqual(await credentialLookup(explicit)("ghcr.io"), { username: "u", password: "p" });
});

Deno.test("CredentialsFile: both shapes, registry scoping, and their errors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const write = async (name: string, value: unknown) => {
      await Deno.writeTextFile(`${dir}/${name}`, JSON.stringify(value));
      return `${dir}/${name}`;
    };
    const seen: string[] = [];
    const onSecrets = (path: string) => Promise.resolve(void seen.push(path));

    const plain = await write("plain.json", { username: "u", password: "p" });
    assert.deepEqual(await new CredentialsFile(plain).get("any.example"), {
      username: "u",
      password: "p",
    });
    // Constructed for the command's registry, a credential naming none is for it alone; one
    // that names its registry keeps it.
    const bound = new CredentialsFile(plain, { registry: "index.docker.io" });
    assert.deepEqual(await bound.get("docker.io"), { username: "u", password: "p" });
    assert.equal(await bound.get("ghcr.io"), undefined);
    const own = await write("own.json", { username: "u", password: "p", registry: "ghcr.io" });
    assert.deepEqual(await new CredentialsFile(own, { registry: "quay.io" }).get("ghcr.io"), {
      username: "u",
      password: "p",
    });
    // "registry" may name Docker Hub by any alias or key.
    const hub = await write("hub.json", {
      username: "u",
      password: "p",
      registry: "https://index.docker.io/v1/",
    });
    const hubFile = new CredentialsFile(hub, { onSecrets });
    assert.deepEqual(await hubFile.get("registry-1.docker.io"), { username: "u", password: "p" });
    assert.equal(await hubFile.get("ghcr.io"), undefined);
    // A plain file holds a secret whether or not it applies to the host.
    assert.deepEqual(seen, [hub, hub]);
    // "registry" may name a namespace, as an auth file's key does: for the repositories under
    // it alone, and not for the registry itself.
    const team = await write("team.json", { username: "u", password: "p", registry: "r.io/team" });
    const teamFile = new CredentialsFile(team, { registry: "r.io" });
    assert.deepEqual(await teamFile.get("r.io", "team/app"), { username: "u", password: "p" });
    assert.equal(await teamFile.get("r.io", "team-b/app"), undefined);
    assert.equal(await teamFile.get("r.io"), undefined);
    assert.equal(await teamFile.get("other.io", "team/app"), undefined);

    const docker = await write("docker.json", { auths: { "ghcr.io": { auth: btoa("d:p") } } });
    assert.deepEqual(await new CredentialsFile(docker, { onSecrets }).get("ghcr.io"), {
      username: "d",
      password: "p",
    });
    assert.deepEqual(seen.slice(2), [docker]);

    await assert.rejects(new CredentialsFile(`${dir}/none.json`).get("x.io"), NotFoundError);
    const problems: [unknown, RegExp][] = [
      [{ auths: {}, username: "u" }, /it mixes a Docker config/],
      [{ user: "u" }, /expected a Docker config with "auths"/],
      [{ username: "", password: "p" }, /"username" must be a non-empty string/],
      [{ username: "u", password: 1 }, /"password" must be a string/],
      [{ username: "u", password: "p", registry: "quay.io/org/" }, /"registry" must be a registry/],
      [{ username: "u", password: "p", registry: 5 }, /"registry" must be a registry/],
    ];
    for (const [value, message] of problems) {
      const path = await write("bad.json", value);
      await assert.rejects(new CredentialsFile(path).get("x.io"), (error) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, message);
        assert.ok(error.message.includes(path));
        return true;
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "the readable-file warning: once per file, only for files holding secrets",
  ignore: !posix,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const config = `${dir}/docker/config.json`;
      await Deno.mkdir(`${dir}/docker`);
      await Deno.writeTextFile(
        config,
        JSON.stringify({ auths: { "a.io": { auth: btoa("u:p") } } }),
      );
      await Deno.chmod(config, 0o620);
      const warnings: string[] = [];
      const chain = credentialChain({
        env: envOf({ DOCKER_CONFIG: `${dir}/docker` }),
        home: dir,
        warn: (message) => warnings.push(message),
      });
      assert.deepEqual(await chain.get("a.io"), { username: "u", password: "p" });
      assert.equal(await chain.get("b.io"), undefined);
      assert.deepEqual(warnings, [
        `${config} is writable by other users; chmod 600 ${config}`,
      ]);

      await Deno.writeTextFile(config, JSON.stringify({ credsStore: "", auths: { "a.io": {} } }));
      await Deno.chmod(config, 0o644);
      const quiet: string[] = [];
      await credentialChain({
        env: envOf({ DOCKER_CONFIG: `${dir}/docker` }),
        home: dir,
        warn: (message) => quiet.push(message),
      }).get("a.io");
      assert.deepEqual(quiet, []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
