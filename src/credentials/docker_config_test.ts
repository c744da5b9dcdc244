import assert from "node:assert/strict";
import { UsageError } from "../errors/mod.ts";
import { DockerConfig, DockerConfigStore, type Place } from "./docker_config.ts";
import { type HelperSandbox, helperSandbox, posix } from "./fakes_test.ts";

function auth(username: string, password: string): string {
  return btoa(`${username}:${password}`);
}

function helper(name: string, field: string): Place {
  return { kind: "helper", name, field };
}

Deno.test("placement: credHelpers[host], auths, credsStore for get; the host's helper for put", () => {
  const config = DockerConfig.parse({
    credHelpers: { "ghcr.io": "own", "https://Quay.io": "quay", "empty.example": "" },
    credsStore: "store",
    auths: { "ghcr.io": {}, "https://index.docker.io/v1/": {}, "registry-1.docker.io": {} },
  }, "config.json");
  assert.deepEqual(config.placement("ghcr.io"), {
    read: [
      helper("own", 'credHelpers["ghcr.io"]'),
      { kind: "auths", keys: ["ghcr.io"] },
      helper("store", "credsStore"),
    ],
    write: helper("own", 'credHelpers["ghcr.io"]'),
  });
  // credsStore comes after auths when reading, and is written to for hosts without a helper.
  assert.deepEqual(config.placement("index.docker.io"), {
    read: [
      { kind: "auths", keys: ["https://index.docker.io/v1/", "registry-1.docker.io"] },
      helper("store", "credsStore"),
    ],
    write: helper("store", "credsStore"),
  });
  // A URL-form key names its host; an empty helper name is no helper.
  assert.deepEqual(
    config.placement("quay.io").write,
    helper("quay", 'credHelpers["https://Quay.io"]'),
  );
  assert.deepEqual(config.placement("empty.example").write, helper("store", "credsStore"));
});

Deno.test("placement: without helpers, auths alone, its keys best first", () => {
  const config = DockerConfig.parse({
    auths: {
      "http://quay.io": {},
      "quay.io/some-org": {},
      "https://quay.io/v1/": {},
      "quay.io": {},
      "https://QUAY.io": {},
    },
  }, "config.json");
  assert.deepEqual(config.placement("quay.io"), {
    read: [{
      kind: "auths",
      keys: ["quay.io", "https://QUAY.io", "https://quay.io/v1/", "http://quay.io"],
    }],
    write: {
      kind: "auths",
      keys: ["quay.io", "https://QUAY.io", "https://quay.io/v1/", "http://quay.io"],
    },
  });
  assert.deepEqual(config.placement("ghcr.io"), {
    read: [],
    write: { kind: "auths", keys: [] },
  });
});

Deno.test("get: the most specific key for the repository, never another repository's", async () => {
  const config = DockerConfig.parse({
    auths: {
      "r.io": { auth: auth("host", "p") },
      "r.io/team": { auth: auth("team", "p") },
      "r.io/team/app": { auth: auth("app", "p") },
      "r.io/other": { auth: auth("other", "p") },
      "other.io/team": { auth: auth("elsewhere", "p") },
    },
  }, "auth.json");
  const user = async (repository?: string, host = "r.io") =>
    (await config.get(host, repository))?.username;
  assert.equal(await user("team/app"), "app");
  assert.equal(await user("team/app/sub"), "app");
  assert.equal(await user("team/web"), "team");
  assert.equal(await user("team-b/app"), "host");
  assert.equal(await user("library/alpine"), "host");
  // The registry itself (a login's check) gets the whole registry's key only.
  assert.equal(await user(undefined), "host");
  // A scoped key names its host: another registry's repository never gets it.
  assert.equal(await user("team/app", "elsewhere.io"), undefined);
  assert.equal(await user("team/app", "other.io"), "elsewhere");

  // Without a key for the whole registry, other repositories get nothing.
  const scoped = DockerConfig.parse({ auths: { "r.io/team/app": { auth: auth("app", "p") } } }, "");
  assert.equal(await scoped.get("r.io", "team/web"), undefined);
  assert.equal(await scoped.get("r.io"), undefined);
  assert.deepEqual(scoped.placement("r.io", "team/app").read, [
    { kind: "auths", keys: ["r.io/team/app"] },
  ]);
});

Deno.test("get: an empty scoped entry is read as the best key, and does not fall back", async () => {
  const config = DockerConfig.parse({
    auths: { "r.io": { auth: auth("host", "p") }, "r.io/team": {} },
  }, "auth.json");
  // As for an empty entry of a host: the best key decides, as podman reads one file.
  assert.equal(await config.get("r.io", "team/app"), undefined);
  assert.equal((await config.get("r.io", "web/app"))?.username, "host");
});

Deno.test("parse: each kind of auths entry, and which ones can authenticate", async () => {
  const config = DockerConfig.parse({
    auths: {
      "a.example": { auth: auth("alice", "pw:with:colons") },
      "b.example": { username: "bob", password: "bob-pass", email: "bob@example.com" },
      "c.example": { auth: auth("carol", ""), identitytoken: "refresh" },
      "d.example": { registrytoken: "bearer" },
      "e.example": {},
      "f.example": { username: "frank" },
      "g.example": { auth: "", identitytoken: "" },
    },
  }, "config.json");
  assert.deepEqual(await config.get("a.example"), {
    username: "alice",
    password: "pw:with:colons",
  });
  assert.deepEqual(await config.get("b.example"), { username: "bob", password: "bob-pass" });
  assert.deepEqual(await config.get("c.example"), {
    username: "carol",
    password: "",
    identityToken: "refresh",
  });
  assert.deepEqual(await config.get("d.example"), { registryToken: "bearer" });
  for (const host of ["e.example", "f.example", "g.example", "h.example"]) {
    assert.equal(await config.get(host), undefined, host);
  }
  assert.ok(config.holdsSecrets);
  assert.ok(!DockerConfig.parse({ auths: { "e.example": {} }, credsStore: "x" }, "c").holdsSecrets);
});

Deno.test("parse: malformed parts name the file and field, never a value", () => {
  const bad: [Record<string, unknown>, string][] = [
    [{ auths: [] }, '"auths" must be an object'],
    [{ auths: { "x.io": "s3cret" } }, 'auths["x.io"] must be an object'],
    [{ auths: { "x.io": { registrytoken: 1 } } }, 'auths["x.io"].registrytoken must be a string'],
    [{ auths: { "x.io": { auth: btoa("s3cret") } } }, 'auths["x.io"].auth must be base64 of'],
    [{ credHelpers: { "x.io": "../s3cret" } }, 'credHelpers["x.io"] is not a helper name'],
    [{ credsStore: 1 }, '"credsStore" must be a string'],
  ];
  for (const [raw, problem] of bad) {
    assert.throws(() => DockerConfig.parse(raw, "/c.json"), (error) => {
      assert.ok(error instanceof UsageError);
      assert.ok(error.message.startsWith(`malformed auth file /c.json: ${problem}`), error.message);
      assert.ok(!error.message.includes("s3cret"));
      return true;
    });
  }
});

/** A temp dir with two fake helpers, `own` and `store`, that log calls and keep nothing. */
function sandbox(): Promise<HelperSandbox> {
  const helper = (name: string) => (log: string) =>
    `#!/bin/sh
input=$(cat)
printf '${name} %s %s\\n' "$1" "$input" >> '${log}'
case "$1 $input" in
  "get ghcr.io") echo '{"Username":"${name}-user","Secret":"${name}-secret"}' ;;
  "store "*|"erase ghcr.io") ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`;
  return helperSandbox("ocisync-docker-config-", { own: helper("own"), store: helper("store") });
}

async function readConfig(path: string): Promise<unknown> {
  return JSON.parse(await Deno.readTextFile(path));
}

Deno.test({
  name: "store: get, put and erase follow the same placement",
  ignore: !posix,
  fn: async () => {
    await using box = await sandbox();
    const path = `${box.dir}/config.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        credHelpers: { "ghcr.io": "own" },
        credsStore: "store",
        auths: { "quay.io": { auth: auth("file", "quay-pass") }, "ghcr.io": { email: "e" } },
      }),
    );
    const store = new DockerConfigStore(path, { env: box.env });
    // get: the host's own helper; auths before credsStore; credsStore last.
    assert.deepEqual(await store.get("ghcr.io"), { username: "own-user", password: "own-secret" });
    assert.deepEqual(await store.get("quay.io"), { username: "file", password: "quay-pass" });
    assert.equal(await store.get("other.example"), undefined);
    assert.deepEqual(await box.calls(), ["own get ghcr.io", "store get other.example"]);

    // put: to the host's own helper, else to credsStore; the file keeps an empty entry.
    await store.put("ghcr.io", { username: "me", password: "p1" });
    await store.put("quay.io", { username: "me", password: "p2" });
    assert.deepEqual((await box.calls()).slice(2), [
      `own store ${JSON.stringify({ ServerURL: "ghcr.io", Username: "me", Secret: "p1" })}`,
      `store store ${JSON.stringify({ ServerURL: "quay.io", Username: "me", Secret: "p2" })}`,
    ]);
    assert.deepEqual(await readConfig(path), {
      credHelpers: { "ghcr.io": "own" },
      credsStore: "store",
      auths: { "quay.io": {}, "ghcr.io": { email: "e" } },
    });

    // erase: through the same helper, and every auths entry.
    assert.equal(await store.erase("ghcr.io"), true);
    assert.equal(await store.erase("quay.io"), true);
    assert.equal(await store.erase("other.example"), false);
    assert.deepEqual((await box.calls()).slice(4), [
      "own erase ghcr.io",
      "store erase quay.io",
      "store erase other.example",
    ]);
    assert.deepEqual(await readConfig(path), {
      credHelpers: { "ghcr.io": "own" },
      credsStore: "store",
      auths: {},
    });
  },
});

Deno.test({
  name: "store: a scoped key is put and erased alone, as podman login and logout do",
  ignore: !posix,
  fn: async () => {
    await using box = await sandbox();
    const path = `${box.dir}/auth.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        auths: {
          "r.io": { auth: auth("host", "p") },
          "r.io/team": { auth: auth("team", "p") },
          "R.io/team/app": { auth: auth("old", "p"), email: "e" },
        },
      }),
    );
    const store = new DockerConfigStore(path, { env: box.env });
    await store.put("r.io/team/app", { username: "app", password: "p2" });
    assert.deepEqual(await readConfig(path), {
      auths: {
        "r.io": { auth: auth("host", "p") },
        "r.io/team": { auth: auth("team", "p") },
        // The other spelling of the same key loses its credential; its other fields stay.
        "R.io/team/app": { email: "e" },
        "r.io/team/app": { auth: auth("app", "p2") },
      },
    });
    assert.equal((await store.get("r.io", "team/app"))?.username, "app");

    assert.equal(await store.erase("r.io/team/app"), true);
    assert.equal(await store.erase("r.io/team/app"), false);
    assert.deepEqual(await readConfig(path), {
      auths: { "r.io": { auth: auth("host", "p") }, "r.io/team": { auth: auth("team", "p") } },
    });
    // The registry's own key goes alone too: the namespace's stays.
    assert.equal(await store.erase("r.io"), true);
    assert.deepEqual(await readConfig(path), {
      auths: { "r.io/team": { auth: auth("team", "p") } },
    });
    assert.deepEqual(await box.calls(), []);
  },
});

Deno.test({
  name: "store: a scoped key is refused where a helper keeps the host's credentials",
  ignore: !posix,
  fn: async () => {
    await using box = await sandbox();
    for (const config of [{ credHelpers: { "ghcr.io": "own" } }, { credsStore: "store" }]) {
      const path = `${box.dir}/config.json`;
      await Deno.writeTextFile(path, JSON.stringify(config));
      const store = new DockerConfigStore(path, { env: box.env });
      await assert.rejects(
        store.put("ghcr.io/acme/app", { username: "me", password: "p" }),
        (error) => {
          assert.ok(error instanceof UsageError);
          assert.match(
            error.message,
            /keeps one per registry: the credential for ghcr\.io\/acme\/app was not saved/,
          );
          return true;
        },
      );
      assert.deepEqual(await readConfig(path), config);
      // Nothing of the namespace's is in a helper: erasing it asks none.
      assert.equal(await store.erase("ghcr.io/acme/app"), false);
    }
    assert.deepEqual(await box.calls(), []);
  },
});

Deno.test({
  name: "store without helpers: auths under docker login's key, read back the same",
  ignore: !posix,
  fn: async () => {
    await using box = await sandbox();
    const path = `${box.dir}/docker/config.json`;
    const store = new DockerConfigStore(path, { env: box.env });
    assert.equal(await store.get("docker.io"), undefined);
    assert.equal(await store.erase("docker.io"), false);
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);

    await store.put("registry-1.docker.io", { username: "me", password: "pw" });
    await store.put("ghcr.io", { username: "me", identityToken: "refresh" });
    await store.put("quay.io", { registryToken: "bearer" });
    assert.deepEqual(await readConfig(path), {
      auths: {
        "https://index.docker.io/v1/": { auth: auth("me", "pw") },
        "ghcr.io": { username: "me", identitytoken: "refresh" },
        "quay.io": { registrytoken: "bearer" },
      },
    });
    assert.deepEqual(await store.get("docker.io"), { username: "me", password: "pw" });
    assert.deepEqual(await store.get("ghcr.io"), { username: "me", identityToken: "refresh" });
    assert.deepEqual(await store.get("quay.io"), { registryToken: "bearer" });
    assert.deepEqual(await box.calls(), []);

    for (const bad of [{ username: "a:b", password: "p" }, { username: "me", password: "" }, {}]) {
      await assert.rejects(store.put("ghcr.io", bad), UsageError);
    }
  },
});

Deno.test({
  name: "put: other entries for the host lose their old credentials, and keep their other fields",
  ignore: !posix,
  fn: async () => {
    await using box = await sandbox();
    const path = `${box.dir}/config.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        auths: {
          "http://127.0.0.1:5000/v2/": { auth: auth("me", "old-secret") },
          "https://127.0.0.1:5000": { auth: auth("me", "older-secret"), email: "e" },
          "index.docker.io": { auth: auth("me", "hub-secret") },
          "quay.io": { auth: auth("q", "quay-secret") },
        },
      }),
    );
    const store = new DockerConfigStore(path, { env: box.env });
    await store.put("127.0.0.1:5000", { username: "me", password: "new-secret" });
    await store.put("docker.io", { username: "me", password: "new-hub" });
    const text = await Deno.readTextFile(path);
    for (const old of ["old-secret", "older-secret", "hub-secret"]) {
      assert.ok(!text.includes(auth("me", old)), `${old} stayed in the file`);
    }
    assert.deepEqual(JSON.parse(text).auths, {
      "https://127.0.0.1:5000": { email: "e" },
      "127.0.0.1:5000": { auth: auth("me", "new-secret") },
      "https://index.docker.io/v1/": { auth: auth("me", "new-hub") },
      "quay.io": { auth: auth("q", "quay-secret") },
    });
  },
});

Deno.test("store: onSecrets only for files that hold a secret; label names the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const seen: string[] = [];
    const onSecrets = (path: string) => Promise.resolve(void seen.push(path));
    const secret = `${dir}/secret.json`;
    const named = `${dir}/named.json`;
    await Deno.writeTextFile(
      secret,
      JSON.stringify({ auths: { "x.io": { auth: auth("u", "p") } } }),
    );
    await Deno.writeTextFile(named, JSON.stringify({ auths: { "x.io": {} }, credHelpers: {} }));
    await new DockerConfigStore(secret, { onSecrets }).get("y.io");
    await new DockerConfigStore(named, { onSecrets }).get("y.io");
    assert.deepEqual(seen, [secret]);

    await Deno.writeTextFile(secret, "{");
    await assert.rejects(
      new DockerConfigStore(secret, { label: "auth file" }).get("x.io"),
      new RegExp(`^UsageError: malformed auth file ${RegExp.escape(secret)}: it is not valid JSON`),
    );
    // A malformed file is left alone by put.
    await assert.rejects(
      new DockerConfigStore(secret).put("x.io", { username: "u", password: "p" }),
      /malformed Docker config/,
    );
    assert.equal(await Deno.readTextFile(secret), "{");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "store: logins at once keep every entry; a logout without its helper still clears the file",
  ignore: !posix,
  fn: async () => {
    await using box = await sandbox();
    const path = `${box.dir}/config.json`;
    const store = new DockerConfigStore(path, { env: box.env });
    // Ten reads, changes and writes at once, as ten `ocisync login` runs would make them.
    const hosts = Array.from({ length: 10 }, (_, i) => `r${i}.example`);
    await Promise.all(hosts.map((host) => store.put(host, { username: "me", password: host })));
    const { auths } = await readConfig(path) as { auths: Record<string, unknown> };
    assert.deepEqual(Object.keys(auths).sort(), hosts);
    await assert.rejects(Deno.lstat(`${path}.lock`), Deno.errors.NotFound);

    // A config copied from a workstation: a credsStore that this host has not installed.
    await Deno.writeTextFile(
      path,
      JSON.stringify({ credsStore: "absent", auths: { "ghcr.io": { auth: auth("me", "pw") } } }),
    );
    await assert.rejects(store.erase("ghcr.io"), /docker-credential-absent/);
    assert.deepEqual(await readConfig(path), { credsStore: "absent", auths: {} });
  },
});

Deno.test({
  name: "store: a link to nothing is not followed to create a file where it points",
  ignore: !posix,
  fn: async () => {
    await using box = await sandbox();
    const path = `${box.dir}/config.json`;
    await Deno.mkdir(`${box.dir}/elsewhere`);
    await Deno.symlink(`${box.dir}/elsewhere/planted`, path);
    const store = new DockerConfigStore(path, { env: box.env });
    await assert.rejects(
      store.put("ghcr.io", { username: "me", password: "pw" }),
      /config\.json is a symbolic link to nothing: it was not written/,
    );
    assert.deepEqual([...Deno.readDirSync(`${box.dir}/elsewhere`)], []);
  },
});

Deno.test({
  name: "store: a config of another user is not rewritten (it would change owner) (as root)",
  ignore: !posix || Deno.uid() !== 0,
  fn: async () => {
    await using box = await sandbox();
    const path = `${box.dir}/config.json`;
    const before = JSON.stringify({ auths: {}, proxies: { default: {} } });
    await Deno.writeTextFile(path, before, { mode: 0o600 });
    await Deno.chown(path, 65534, 65534);
    const store = new DockerConfigStore(path, { env: box.env });
    await assert.rejects(
      store.put("ghcr.io", { username: "me", password: "pw" }),
      /belongs to user 65534, and this process runs as user 0/,
    );
    const after = await Deno.stat(path);
    assert.deepEqual([after.uid, after.mode! & 0o777], [65534, 0o600]);
    assert.equal(await Deno.readTextFile(path), before);
  },
});
