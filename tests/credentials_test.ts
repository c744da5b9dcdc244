import assert from "node:assert/strict";
import { AuthError, NotFoundError, UsageError } from "../src/errors/mod.ts";
import {
  credentialLookup,
  type CredentialOptions,
  dockerConfigPath,
  type EnvLookup,
  removeCredential,
  saveCredential,
} from "../src/credentials/mod.ts";

const SECRET = "pa55-Wörd:with-colon";
const posix = Deno.build.os !== "windows";

/** A base64 `auth` value as Docker writes it. */
function auth(username: string, password: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(`${username}:${password}`)));
}

/** A fresh home, Docker config dir and PATH with the fake helper; never the real ones. */
interface Sandbox {
  root: string;
  home: string;
  bin: string;
  /** Where the fake helper records `store` and `erase` calls. */
  log: string;
  vars: Record<string, string>;
  env: EnvLookup;
  options(extra?: Partial<CredentialOptions>): CredentialOptions;
  write(path: string, value: unknown): Promise<string>;
  calls(): Promise<string[]>;
  [Symbol.asyncDispose](): Promise<void>;
}

async function sandbox(): Promise<Sandbox> {
  const root = await Deno.makeTempDir({ prefix: "ocisync-credentials-" });
  const home = `${root}/home`;
  const bin = `${root}/bin`;
  const log = `${root}/helper.log`;
  await Deno.mkdir(home);
  await Deno.mkdir(bin);
  // A credential helper speaking the docker-credential-helpers protocol, for a few hosts.
  await Deno.writeTextFile(
    `${bin}/docker-credential-test`,
    `#!/bin/sh
input=$(cat)
case "$1" in
get)
  case "$input" in
    ghcr.io) echo '{"ServerURL":"ghcr.io","Username":"helper-user","Secret":"helper-secret"}' ;;
    https://index.docker.io/v1/) echo '{"Username":"<token>","Secret":"id-token"}' ;;
    broken.example) echo "keychain is locked" >&2; exit 3 ;;
    garbled.example) echo 'Secret=helper-secret {' ;;
    *) echo "credentials not found in native keychain"; exit 1 ;;
  esac ;;
store)
  case "$input" in
    *fail.example*) echo "cannot store $input" >&2; exit 2 ;;
  esac
  printf 'store %s\\n' "$input" >> '${log}' ;;
erase)
  printf 'erase %s\\n' "$input" >> '${log}'
  case "$input" in
    ghcr.io) ;;
    *) echo "credentials not found in native keychain"; exit 1 ;;
  esac ;;
*) echo "unknown verb" >&2; exit 9 ;;
esac
`,
    { mode: 0o755 },
  );
  const vars: Record<string, string> = { HOME: home, PATH: `${bin}:/usr/bin:/bin` };
  const env: EnvLookup = (name) => vars[name];
  return {
    root,
    home,
    bin,
    log,
    vars,
    env,
    options: (extra = {}) => ({ env, home, ...extra }),
    async write(path, value) {
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      await Deno.writeTextFile(path, typeof value === "string" ? value : JSON.stringify(value));
      return path;
    },
    async calls() {
      try {
        return (await Deno.readTextFile(log)).trim().split("\n");
      } catch {
        return [];
      }
    },
    [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }),
  };
}

/** The error a promise rejects with, asserting it rejects. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new assert.AssertionError({ message: "expected a rejection" });
}

/** Asserts that no part of an error shows a secret. */
function assertNoSecret(error: Error, ...secrets: string[]): void {
  const text = [error.message, (error as UsageError).hint ?? "", String(error.cause ?? "")]
    .join("\n");
  for (const secret of secrets) {
    assert.ok(!text.includes(secret), `error shows a secret: ${text}`);
  }
}

Deno.test("explicit username and password apply to any registry and win", async () => {
  await using box = await sandbox();
  await box.write(`${box.home}/.docker/config.json`, {
    auths: { "ghcr.io": { auth: auth("file", "file-pass") } },
  });
  const lookup = credentialLookup(box.options({ username: "me", password: SECRET }));
  assert.deepEqual(await lookup("ghcr.io"), { username: "me", password: SECRET });
  assert.deepEqual(await lookup("127.0.0.1:5000"), { username: "me", password: SECRET });
});

Deno.test("a username without a password is a usage error", () => {
  assert.throws(() => credentialLookup({ username: "me" }), UsageError);
  assert.throws(() => credentialLookup({ password: SECRET }), UsageError);
});

Deno.test("nothing configured finds nothing", async () => {
  await using box = await sandbox();
  assert.equal(await credentialLookup(box.options())("ghcr.io"), undefined);
});

Deno.test("--credentials: a plain file without registry applies to any host", async () => {
  await using box = await sandbox();
  const file = await box.write(`${box.root}/creds.json`, { username: "u", password: SECRET });
  const lookup = credentialLookup(box.options({ credentialsFile: file }));
  assert.deepEqual(await lookup("ghcr.io"), { username: "u", password: SECRET });
  assert.deepEqual(await lookup("docker.io"), { username: "u", password: SECRET });
});

Deno.test("--credentials: a plain file with registry applies to that host only", async () => {
  await using box = await sandbox();
  const file = await box.write(`${box.root}/creds.json`, {
    username: "u",
    password: SECRET,
    registry: "127.0.0.1:5000",
  });
  await box.write(`${box.home}/.docker/config.json`, {
    auths: { "ghcr.io": { auth: auth("home", "home-pass") } },
  });
  const lookup = credentialLookup(box.options({ credentialsFile: file }));
  assert.deepEqual(await lookup("127.0.0.1:5000"), { username: "u", password: SECRET });
  // Other hosts fall through to the standard files.
  assert.deepEqual(await lookup("ghcr.io"), { username: "home", password: "home-pass" });
  assert.equal(await lookup("quay.io"), undefined);

  const hub = await box.write(`${box.root}/hub.json`, {
    username: "u",
    password: SECRET,
    registry: "https://index.docker.io/v1/",
  });
  const hubLookup = credentialLookup(box.options({ credentialsFile: hub }));
  assert.deepEqual(await hubLookup("docker.io"), { username: "u", password: SECRET });
});

Deno.test("--credentials: a Docker config file, preferred to the standard files", async () => {
  await using box = await sandbox();
  const file = await box.write(`${box.root}/docker.json`, {
    auths: { "ghcr.io": { auth: auth("given", SECRET) } },
  });
  box.vars.REGISTRY_AUTH_FILE = await box.write(`${box.root}/auth.json`, {
    auths: { "ghcr.io": { auth: auth("env", "env-pass") } },
  });
  const lookup = credentialLookup(box.options({ credentialsFile: file }));
  assert.deepEqual(await lookup("ghcr.io"), { username: "given", password: SECRET });
});

Deno.test("--credentials: a missing file is NotFoundError, a bad one UsageError", async () => {
  await using box = await sandbox();
  const missing = `${box.root}/nope.json`;
  const notFound = await rejection(
    credentialLookup(box.options({ credentialsFile: missing }))("ghcr.io"),
  );
  assert.ok(notFound instanceof NotFoundError);
  assert.match(notFound.message, /nope\.json/);

  for (const value of [{ user: "u", pass: SECRET }, { username: "u" }, [SECRET], "12"]) {
    const file = await box.write(`${box.root}/bad.json`, JSON.stringify(value));
    const error = await rejection(credentialLookup(box.options({ credentialsFile: file }))("x.io"));
    assert.ok(error instanceof UsageError, String(error));
    assert.ok(error.message.includes(file));
    assertNoSecret(error, SECRET);
  }
});

Deno.test("REGISTRY_AUTH_FILE comes before DOCKER_CONFIG", async () => {
  await using box = await sandbox();
  box.vars.REGISTRY_AUTH_FILE = await box.write(`${box.root}/auth.json`, {
    auths: { "ghcr.io": { auth: auth("env", "env-pass") } },
  });
  box.vars.DOCKER_CONFIG = `${box.root}/docker`;
  await box.write(`${box.root}/docker/config.json`, {
    auths: {
      "ghcr.io": { auth: auth("docker", "docker-pass") },
      "quay.io": { auth: auth("docker", "quay-pass") },
    },
  });
  const lookup = credentialLookup(box.options());
  assert.deepEqual(await lookup("ghcr.io"), { username: "env", password: "env-pass" });
  // A host the first file lacks is looked up in the next.
  assert.deepEqual(await lookup("quay.io"), { username: "docker", password: "quay-pass" });
});

Deno.test("DOCKER_CONFIG replaces ~/.docker, then containers auth.json files follow", async () => {
  await using box = await sandbox();
  await box.write(`${box.home}/.docker/config.json`, {
    auths: { "ghcr.io": { auth: auth("home", "home-pass") } },
  });
  await box.write(`${box.home}/.config/containers/auth.json`, {
    auths: { "quay.io": { auth: auth("podman", "podman-pass") } },
  });
  const lookup = credentialLookup(box.options());
  assert.deepEqual(await lookup("ghcr.io"), { username: "home", password: "home-pass" });
  assert.deepEqual(await lookup("quay.io"), { username: "podman", password: "podman-pass" });

  box.vars.DOCKER_CONFIG = `${box.root}/docker`;
  await box.write(`${box.root}/docker/config.json`, {
    auths: { "ghcr.io": { auth: auth("docker", "docker-pass") } },
  });
  box.vars.XDG_RUNTIME_DIR = `${box.root}/run`;
  await box.write(`${box.root}/run/containers/auth.json`, {
    auths: { "quay.io": { auth: auth("runtime", "runtime-pass") } },
  });
  const again = credentialLookup(box.options());
  assert.deepEqual(await again("ghcr.io"), { username: "docker", password: "docker-pass" });
  assert.deepEqual(await again("quay.io"), { username: "runtime", password: "runtime-pass" });
});

Deno.test("a registry in Docker's config and the runtime auth.json gets Docker's, unlike podman", async () => {
  // podman and skopeo read $XDG_RUNTIME_DIR/containers/auth.json first and Docker's config
  // last; ocisync reads Docker's config second, as the README says: the file `login` writes.
  await using box = await sandbox();
  box.vars.XDG_RUNTIME_DIR = `${box.root}/run`;
  await box.write(`${box.home}/.docker/config.json`, {
    auths: { "r.example": { auth: auth("docker", "docker-pass") } },
  });
  await box.write(`${box.root}/run/containers/auth.json`, {
    auths: {
      "r.example": { auth: auth("runtime", "runtime-pass") },
      "r.example/team/app": { auth: auth("app", "app-pass") },
      "runtime.example": { auth: auth("runtime", "runtime-pass") },
    },
  });
  const lookup = credentialLookup(box.options());
  assert.equal((await lookup("runtime.example", "web/app"))?.username, "runtime");
  assert.equal((await lookup("r.example", "web/app"))?.username, "docker");
  // The first file with a credential for the repository wins, as in podman, though a later
  // file has a more specific key.
  assert.equal((await lookup("r.example", "team/app"))?.username, "docker");
});

Deno.test("entries: base64 auth, username/password fields, identitytoken", async () => {
  await using box = await sandbox();
  await box.write(`${box.home}/.docker/config.json`, {
    auths: {
      "a.example": { auth: auth("alice", SECRET) },
      "b.example": { username: "bob", password: "bob-pass" },
      "c.example": { auth: auth("carol", ""), identitytoken: "refresh-token" },
      "d.example": { identitytoken: "only-token" },
      "e.example": {},
      "f.example": { username: "frank" },
    },
  });
  const lookup = credentialLookup(box.options());
  assert.deepEqual(await lookup("a.example"), { username: "alice", password: SECRET });
  assert.deepEqual(await lookup("b.example"), { username: "bob", password: "bob-pass" });
  assert.deepEqual(await lookup("c.example"), {
    username: "carol",
    password: "",
    identityToken: "refresh-token",
  });
  assert.deepEqual(await lookup("d.example"), { identityToken: "only-token" });
  assert.equal(await lookup("e.example"), undefined);
  assert.equal(await lookup("f.example"), undefined);
});

Deno.test("Docker Hub keys and URL-form keys name their host", async () => {
  await using box = await sandbox();
  await box.write(`${box.home}/.docker/config.json`, {
    auths: {
      "https://index.docker.io/v1/": { auth: auth("hub", "hub-pass") },
      "https://GHCR.io": { auth: auth("ghcr", "ghcr-pass") },
      "http://127.0.0.1:5000/v2/": { auth: auth("local", "local-pass") },
      "quay.io/some-org": { auth: auth("scoped", "scoped-pass") },
      "https://quay.io/v1/": { auth: auth("url", "url-pass") },
      "quay.io": { auth: auth("bare", "bare-pass") },
    },
  });
  const lookup = credentialLookup(box.options());
  for (const hub of ["docker.io", "index.docker.io", "registry-1.docker.io"]) {
    assert.deepEqual(await lookup(hub), { username: "hub", password: "hub-pass" });
  }
  assert.deepEqual(await lookup("ghcr.io"), { username: "ghcr", password: "ghcr-pass" });
  assert.deepEqual(await lookup("127.0.0.1:5000"), { username: "local", password: "local-pass" });
  // The key written as the bare host wins over URL forms; namespace-scoped keys are ignored.
  assert.deepEqual(await lookup("quay.io"), { username: "bare", password: "bare-pass" });
  assert.equal(await lookup("127.0.0.1:5001"), undefined);
});

Deno.test("other Docker Hub spellings are found too", async () => {
  await using box = await sandbox();
  await box.write(`${box.home}/.docker/config.json`, {
    auths: { "registry-1.docker.io": { username: "hub", password: "hub-pass" } },
  });
  const lookup = credentialLookup(box.options());
  assert.deepEqual(await lookup("docker.io"), { username: "hub", password: "hub-pass" });
});

Deno.test({
  name: "credHelpers: runs the helper found on PATH; not found falls through",
  ignore: !posix,
  fn: async () => {
    await using box = await sandbox();
    await box.write(`${box.home}/.docker/config.json`, {
      credHelpers: { "ghcr.io": "test", "quay.io": "test", "docker.io": "test" },
      auths: {
        "ghcr.io": { auth: auth("file", "file-pass") },
        "quay.io": { auth: auth("file", "quay-pass") },
      },
    });
    const lookup = credentialLookup(box.options());
    assert.deepEqual(await lookup("ghcr.io"), {
      username: "helper-user",
      password: "helper-secret",
    });
    assert.deepEqual(await lookup("quay.io"), { username: "file", password: "quay-pass" });
    // Docker Hub is asked for as https://index.docker.io/v1/; "<token>" means an identity token.
    assert.deepEqual(await lookup("docker.io"), { identityToken: "id-token" });
  },
});

Deno.test({
  name: "credsStore: used after auths, and empty auths entries defer to it",
  ignore: !posix,
  fn: async () => {
    await using box = await sandbox();
    await box.write(`${box.home}/.docker/config.json`, {
      credsStore: "test",
      auths: {
        "ghcr.io": {},
        "https://index.docker.io/v1/": {},
        "quay.io": { auth: auth("file", "quay-pass") },
      },
    });
    const lookup = credentialLookup(box.options());
    assert.deepEqual(await lookup("ghcr.io"), {
      username: "helper-user",
      password: "helper-secret",
    });
    assert.deepEqual(await lookup("docker.io"), { identityToken: "id-token" });
    assert.deepEqual(await lookup("quay.io"), { username: "file", password: "quay-pass" });
    assert.equal(await lookup("127.0.0.1:5000"), undefined);
  },
});

Deno.test({
  name: "a failing or garbled helper is an AuthError, never showing the secret",
  ignore: !posix,
  fn: async () => {
    await using box = await sandbox();
    await box.write(`${box.home}/.docker/config.json`, { credsStore: "test" });
    const lookup = credentialLookup(box.options());
    const broken = await rejection(lookup("broken.example"));
    assert.ok(broken instanceof AuthError);
    assert.match(broken.message, /docker-credential-test/);
    assert.match(broken.message, /keychain is locked/);
    const garbled = await rejection(lookup("garbled.example"));
    assert.ok(garbled instanceof AuthError);
    assertNoSecret(garbled, "helper-secret");
    // Failures are not cached: the next call runs the helper again.
    assert.ok(await rejection(lookup("broken.example")) instanceof AuthError);
  },
});

Deno.test("a helper missing from PATH is an AuthError naming the binary", async () => {
  await using box = await sandbox();
  const config = await box.write(`${box.home}/.docker/config.json`, {
    credHelpers: { "ghcr.io": "nosuch" },
  });
  const error = await rejection(credentialLookup(box.options())("ghcr.io"));
  assert.ok(error instanceof AuthError);
  assert.match(error.message, /docker-credential-nosuch/);
  assert.match(error.hint ?? "", /docker-credential-nosuch/);
  assert.ok(error.hint?.includes(config));
  // Hosts the helper is not configured for do not need it.
  assert.equal(await credentialLookup(box.options())("quay.io"), undefined);
});

Deno.test("malformed files are UsageErrors naming the file, never showing secrets", async () => {
  await using box = await sandbox();
  const config = `${box.home}/.docker/config.json`;
  const bad: unknown[] = [
    `{"auths": {"ghcr.io": {"auth": "${auth("u", SECRET)}"}},, }`,
    `{"auths": {"ghcr.io": {"password": ${SECRET}}}}`,
    `{"auths": {"ghcr.io": {"auth": "${auth("u", SECRET)}"`,
    { auths: { "ghcr.io": { auth: btoa(`no-colon-${SECRET}`) } } },
    { auths: { "ghcr.io": { auth: `!!${SECRET}!!` } } },
    { auths: { "ghcr.io": { password: [SECRET] } } },
    { auths: [SECRET] },
    { credsStore: `../../${SECRET}` },
    { credHelpers: { "ghcr.io": 1 } },
  ];
  for (const content of bad) {
    await box.write(config, content);
    const error = await rejection(credentialLookup(box.options())("quay.io"));
    assert.ok(error instanceof UsageError, `${content}: ${error}`);
    assert.ok(error.message.includes(config), error.message);
    assertNoSecret(error, SECRET, auth("u", SECRET), btoa(`no-colon-${SECRET}`));
  }
  await box.write(config, `{\n  "auths": {\n    "ghcr.io": { "auth": x${SECRET} }\n  }\n}`);
  const error = await rejection(credentialLookup(box.options())("ghcr.io"));
  assert.match(error.message, /line 3/);
});

Deno.test("an unreadable file is an error naming it", async () => {
  await using box = await sandbox();
  // A folder where the file should be cannot be read, even by root.
  const config = `${box.home}/.docker/config.json`;
  await Deno.mkdir(config, { recursive: true });
  const error = await rejection(credentialLookup(box.options())("ghcr.io"));
  assert.ok(!(error instanceof UsageError) && error.message.includes(config), error.message);
});

Deno.test("each lookup reads the files again: a credential saved meanwhile is found", async () => {
  await using box = await sandbox();
  const config = await box.write(`${box.home}/.docker/config.json`, {
    auths: { "ghcr.io": { auth: auth("u", "p") } },
  });
  const lookup = credentialLookup(box.options());
  const first = await lookup("ghcr.io");
  first!.password = "changed";
  assert.deepEqual(await lookup("GHCR.io"), { username: "u", password: "p" });
  await box.write(config, { auths: { "ghcr.io": { auth: auth("u", "rotated") } } });
  assert.deepEqual(await lookup("ghcr.io"), { username: "u", password: "rotated" });
  await Deno.remove(config);
  assert.equal(await lookup("ghcr.io"), undefined);
});

Deno.test("dockerConfigPath: DOCKER_CONFIG, else HOME/.docker", () => {
  assert.equal(dockerConfigPath(() => undefined, "/home/me"), "/home/me/.docker/config.json");
  const env: EnvLookup = (name) => ({ DOCKER_CONFIG: "/etc/dc/", HOME: "/h" })[name];
  assert.equal(dockerConfigPath(env, "/home/me"), "/etc/dc/config.json");
  const homeOnly: EnvLookup = (name) => name === "HOME" ? "/h" : undefined;
  assert.equal(dockerConfigPath(homeOnly), "/h/.docker/config.json");
  assert.throws(() => dockerConfigPath(() => undefined), UsageError);
});

Deno.test({
  name: "saveCredential creates the config with modes 0700/0600",
  ignore: !posix,
  fn: async () => {
    await using box = await sandbox();
    box.vars.DOCKER_CONFIG = `${box.root}/new/docker`;
    const path = await saveCredential("docker.io", { username: "me", password: SECRET }, {
      env: box.env,
      home: box.home,
    });
    assert.equal(path, `${box.root}/new/docker/config.json`);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${box.root}/new/docker`)).mode! & 0o777, 0o700);
    const saved = JSON.parse(await Deno.readTextFile(path));
    assert.deepEqual(saved, {
      auths: { "https://index.docker.io/v1/": { auth: auth("me", SECRET) } },
    });
    assert.deepEqual(await credentialLookup(box.options())("docker.io"), {
      username: "me",
      password: SECRET,
    });
  },
});

Deno.test({
  name: "saveCredential keeps every other key and makes an existing file 0600",
  ignore: !posix,
  fn: async () => {
    await using box = await sandbox();
    const path = `${box.home}/.docker/config.json`;
    await box.write(path, {
      psFormat: "table {{.ID}}",
      auths: {
        "quay.io": { auth: auth("q", "q-pass") },
        "ghcr.io": { auth: auth("old", "old-pass"), email: "me@example.com" },
      },
      proxies: { default: { httpProxy: "http://proxy:3128" } },
    });
    await Deno.chmod(path, 0o644);
    const written = await saveCredential("ghcr.io", { username: "me", password: SECRET }, {
      env: box.env,
      home: box.home,
    });
    assert.equal(written, path);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(path)), {
      psFormat: "table {{.ID}}",
      auths: {
        "quay.io": { auth: auth("q", "q-pass") },
        "ghcr.io": { email: "me@example.com", auth: auth("me", SECRET) },
      },
      proxies: { default: { httpProxy: "http://proxy:3128" } },
    });
    // An explicit path wins, and a malformed existing file is left alone.
    const other = await box.write(`${box.root}/other.json`, `{"auths": `);
    const error = await rejection(
      saveCredential("ghcr.io", { username: "me", password: SECRET }, { configPath: other }),
    );
    assert.ok(error instanceof UsageError);
    assertNoSecret(error, SECRET);
    assert.equal(await Deno.readTextFile(other), `{"auths": `);
    assert.ok(
      await rejection(saveCredential("ghcr.io", { username: "a:b", password: "p" }, {
        configPath: other,
      })) instanceof UsageError,
    );
  },
});

Deno.test({
  name: "saveCredential writes through a symlinked config",
  ignore: !posix,
  fn: async () => {
    await using box = await sandbox();
    const real = await box.write(`${box.root}/dotfiles/config.json`, { auths: {} });
    await Deno.mkdir(`${box.home}/.docker`);
    await Deno.symlink(real, `${box.home}/.docker/config.json`);
    await saveCredential("ghcr.io", { username: "me", password: "p" }, {
      env: box.env,
      home: box.home,
    });
    assert.ok((await Deno.lstat(`${box.home}/.docker/config.json`)).isSymlink);
    assert.match(await Deno.readTextFile(real), /ghcr\.io/);
  },
});

Deno.test({
  name: "saveCredential and removeCredential go through the helper the config names",
  ignore: !posix,
  fn: async () => {
    await using box = await sandbox();
    const path = await box.write(`${box.home}/.docker/config.json`, {
      credsStore: "test",
      auths: { "ghcr.io": { auth: auth("stale", "stale-pass") } },
    });
    const options = { env: box.env, home: box.home };
    await saveCredential("ghcr.io", { username: "me", password: SECRET }, options);
    assert.deepEqual(await box.calls(), [
      `store ${JSON.stringify({ ServerURL: "ghcr.io", Username: "me", Secret: SECRET })}`,
    ]);
    const saved = await Deno.readTextFile(path);
    assert.ok(!saved.includes(auth("stale", "stale-pass")) && !saved.includes(SECRET));
    assert.deepEqual(JSON.parse(saved), { credsStore: "test", auths: { "ghcr.io": {} } });

    const error = await rejection(
      saveCredential("fail.example", { username: "me", password: SECRET }, options),
    );
    assert.ok(error instanceof AuthError);
    assert.match(error.message, /cannot store/);
    assertNoSecret(error, SECRET, JSON.stringify(SECRET).slice(1, -1));

    assert.equal(await removeCredential("ghcr.io", options), true);
    assert.equal(await removeCredential("quay.io", options), false);
    assert.deepEqual((await box.calls()).slice(1), ["erase ghcr.io", "erase quay.io"]);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(path)), {
      credsStore: "test",
      auths: {},
    });
  },
});

Deno.test({
  name: "removeCredential removes every entry for the registry",
  ignore: !posix,
  fn: async () => {
    await using box = await sandbox();
    const path = await box.write(`${box.home}/.docker/config.json`, {
      auths: {
        "https://index.docker.io/v1/": { auth: auth("hub", "hub-pass") },
        "docker.io": { auth: auth("hub", "hub-pass") },
        "ghcr.io": { auth: auth("g", "g-pass") },
      },
      currentContext: "default",
    });
    const options = { env: box.env, home: box.home };
    assert.equal(await removeCredential("docker.io", options), true);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(path)), {
      auths: { "ghcr.io": { auth: auth("g", "g-pass") } },
      currentContext: "default",
    });
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal(await removeCredential("docker.io", options), false);
    assert.equal(await removeCredential("x.io", { configPath: `${box.root}/none.json` }), false);
    assert.deepEqual(await box.calls(), []);
  },
});
