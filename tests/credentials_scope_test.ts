/**
 * A password given for one registry never reaches another. A copy, a push onto a base image
 * and a build read from one registry and write to another; with `--username` (or a credentials
 * file whose credential names no registry) meant for the destination, the source's token server
 * used to be sent them too, as it asks for credentials even for anonymous pulls. The source
 * registry here is a real Distribution with our token server, which records the user name of
 * every credential it is sent, valid or not.
 *
 * @module
 */
import assert from "node:assert/strict";
import { expectExit, ocisync, ocisyncOk } from "./helpers/cli.ts";
import { type TestRegistry, withRegistry } from "./helpers/registry.ts";
import { isolatedEnv } from "./helpers/servers.ts";
import { copy } from "../mod.ts";

const OWNER = "alice";
const OWNER_PASSWORD = "alice-password";
const PUBLISHER = "bob";
const PUBLISHER_PASSWORD = "bob-password";

/**
 * Two registries: `source`, whose token server grants anonymous pulls (as Docker Hub's does)
 * and holds `source/app:v1`, pushed by its owner; `destination`, with basic auth for the
 * publisher.
 */
async function withTwoRegistries(
  body: (source: TestRegistry, destination: TestRegistry, tmp: string) => Promise<void>,
): Promise<void> {
  await withRegistry(
    { auth: "token", anonymousPull: true, username: OWNER, password: OWNER_PASSWORD },
    async (source, tmp) => {
      await withRegistry(
        { auth: "basic", username: PUBLISHER, password: PUBLISHER_PASSWORD },
        async (destination) => {
          await Deno.mkdir(`${tmp}/app`);
          await Deno.writeTextFile(`${tmp}/app/main.py`, "print('app')\n");
          await ocisyncOk(
            ["push", `${source.host}/source/app:v1`, "app", "-u", OWNER, "--password-stdin"],
            { cwd: tmp, env: isolatedEnv(tmp), stdin: OWNER_PASSWORD },
          );
          await body(source, destination, tmp);
        },
      );
    },
  );
}

/** The user names that reached the source's token server. */
function presentedTo(registry: TestRegistry): (string | undefined)[] {
  return registry.tokenRequests!.map((request) => request.presented).filter(Boolean);
}

Deno.test("--username goes to the command's own registry only: copy and push --base", async () => {
  await withTwoRegistries(async (source, destination, tmp) => {
    const env = isolatedEnv(tmp);
    const asPublisher = ["-u", PUBLISHER, "--password-stdin"];
    const stdin = PUBLISHER_PASSWORD;
    await ocisyncOk(
      ["copy", `${source.host}/source/app:v1`, `${destination.host}/mirror/app:v1`, ...asPublisher],
      { env, stdin },
    );
    await ocisyncOk(
      [
        "push",
        `${destination.host}/mirror/derived:v1`,
        "app",
        "--base",
        `${source.host}/source/app:v1`,
        ...asPublisher,
      ],
      { cwd: tmp, env, stdin },
    );
    // Both read the source anonymously, and wrote with the publisher's password.
    assert.deepEqual(presentedTo(source), [OWNER]);
    const written = await ocisyncOk(
      ["inspect", "-q", `${destination.host}/mirror/derived:v1`, ...asPublisher],
      { env, stdin },
    );
    assert.match(written, /^sha256:[0-9a-f]{64}\n$/);
  });
});

Deno.test("a source that needs credentials other than --username's says so", async () => {
  await withTwoRegistries(async (source, destination, tmp) => {
    const env = isolatedEnv(tmp);
    const asPublisher = ["-u", PUBLISHER, "--password-stdin"];
    await ocisyncOk(
      ["copy", `${source.host}/source/app:v1`, `${destination.host}/mirror/app:v1`, ...asPublisher],
      { env, stdin: PUBLISHER_PASSWORD },
    );
    // Back the other way, with the owner's password: the publisher's registry gets none.
    const result = expectExit(
      await ocisync(
        [
          "copy",
          `${destination.host}/mirror/app:v1`,
          `${source.host}/source/copy:v1`,
          "-u",
          OWNER,
          "--password-stdin",
        ],
        { env, stdin: OWNER_PASSWORD },
      ),
      3,
    );
    assert.match(result.stderr, new RegExp(`no credentials found for ${destination.host}`));
    assert.match(
      result.stderr,
      new RegExp(
        `hint: --username is for the registry written to \\(else the one read\\), not ${destination.host}: run \`ocisync login ${destination.host}\``,
      ),
    );
    assert.ok(!result.stderr.includes(OWNER_PASSWORD));
  });
});

Deno.test("a credentials file's credential without a registry is for the command's own registry", async () => {
  await withTwoRegistries(async (source, destination, tmp) => {
    const file = `${tmp}/publisher.json`;
    await Deno.writeTextFile(
      file,
      JSON.stringify({ username: PUBLISHER, password: PUBLISHER_PASSWORD }),
    );
    await ocisyncOk(
      [
        "copy",
        `${source.host}/source/app:v1`,
        `${destination.host}/mirror/app:v1`,
        "--credentials",
        file,
      ],
      { env: isolatedEnv(tmp) },
    );
    assert.deepEqual(presentedTo(source), [OWNER]);

    // A missing tag at the source: the hint lists the source's tags, without the credential,
    // for a copy and for a push onto a base image alike.
    for (
      const args of [
        ["copy", `${source.host}/source/app:missing`, `${destination.host}/mirror/app:v2`],
        [
          "push",
          `${destination.host}/mirror/d:v1`,
          "app",
          "--base",
          `${source.host}/source/app:missing`,
        ],
      ]
    ) {
      const missing = expectExit(
        await ocisync([...args, "--credentials", file], { cwd: tmp, env: isolatedEnv(tmp) }),
        4,
      );
      assert.match(missing.stderr, new RegExp(`hint: ${source.host}/source/app has the tags v1`));
    }
    assert.deepEqual(presentedTo(source), [OWNER], "the hint sent the source no credential");
  });
});

Deno.test("a library call's Credential goes to the call's own registry only", async () => {
  await withTwoRegistries(async (source, destination, tmp) => {
    // The call's other registry is asked as when no credentials are given: the environment's
    // Docker config, isolated here as the CLI's is.
    const saved = Object.fromEntries(
      Object.keys(isolatedEnv(tmp)).map((name) => [name, Deno.env.get(name)]),
    );
    for (const [name, value] of Object.entries(isolatedEnv(tmp))) Deno.env.set(name, value);
    try {
      const [copied] = await copy(
        `${source.host}/source/app:v1`,
        `${destination.host}/mirror/app:v1`,
        { credentials: { username: PUBLISHER, password: PUBLISHER_PASSWORD } },
      );
      assert.match(copied.digest, /^sha256:/);
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) Deno.env.delete(name);
        else Deno.env.set(name, value);
      }
    }
    assert.deepEqual(presentedTo(source), [OWNER]);
  });
});

Deno.test("the source registry is still told who the user is when the destination is not a registry", async () => {
  await withTwoRegistries(async (source, _destination, tmp) => {
    await ocisyncOk(
      [
        "copy",
        `${source.host}/source/app:v1`,
        `oci:${tmp}/layout:v1`,
        "-u",
        OWNER,
        "--password-stdin",
      ],
      { env: isolatedEnv(tmp), stdin: OWNER_PASSWORD },
    );
    assert.deepEqual(presentedTo(source), [OWNER, OWNER]);
  });
});

Deno.test("sync of targets on several registries refuses one --username for all", async () => {
  await withTwoRegistries(async (source, destination, tmp) => {
    const config = `${tmp}/sync.yaml`;
    await Deno.writeTextFile(
      config,
      [
        "targets:",
        `  - reference: ${source.host}/source/app:v1`,
        `    output: ${tmp}/a`,
        `  - reference: ${destination.host}/mirror/app:v1`,
        `    output: ${tmp}/b`,
        "",
      ].join("\n"),
    );
    const result = expectExit(
      await ocisync(
        ["sync", "--config", config, "--once", "-u", PUBLISHER, "--password-stdin"],
        { env: isolatedEnv(tmp), stdin: PUBLISHER_PASSWORD },
      ),
      2,
    );
    assert.match(result.stderr, /--username is for one registry, and the targets use 2/);
    assert.match(result.stderr, /ocisync login/);
    assert.deepEqual(presentedTo(source), [OWNER]);
  });
});
