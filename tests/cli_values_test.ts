/**
 * Values given on the command line are checked before they can do harm: a tag that the
 * destination cannot hold is refused before anything is packed or sent, not once the image was
 * pushed under the other tags. Each case runs the CLI against the real registry, and asks the
 * registry's own API what it holds.
 */
import assert from "node:assert/strict";
import { ocisync, type RunResult, shown } from "./helpers/cli.ts";
import { type TestRegistry, withRegistry } from "./helpers/registry.ts";
import { isolatedEnv } from "./helpers/servers.ts";

/** Fails unless the run was a usage error (exit 2) whose message matches `message`. */
function assertUsageError(result: RunResult, message: RegExp): void {
  assert.equal(result.code, 2, shown(result));
  assert.match(result.stderr, /^ocisync: error: /, shown(result));
  assert.match(result.stderr, message, shown(result));
  assert.equal(result.stdout, "", shown(result));
}

/** The repositories the registry holds, from its catalog API. */
async function catalog(registry: TestRegistry): Promise<string[]> {
  const response = await fetch(`http://${registry.host}/v2/_catalog`);
  return ((await response.json()) as { repositories: string[] }).repositories;
}

Deno.test("cli values: a bad --tag is refused before push or build sends anything", async () => {
  await withRegistry({}, async (registry, tmp) => {
    await Deno.mkdir(`${tmp}/src`);
    await Deno.writeTextFile(`${tmp}/src/a.txt`, "a\n");
    await Deno.writeTextFile(
      `${tmp}/ocisync.yaml`,
      "image: oci:./built:v1\nlayers:\n  - source: src\n    dest: /app\n",
    );
    const env = isolatedEnv(tmp);
    const image = `${registry.host}/newrepo:v1`;
    const TAG = /invalid tag "[^"]*": a tag is 1 to 128 letters/;
    const runs: [string[], RegExp][] = [
      [["push", image, "src", "-t", "bad tag"], TAG],
      [["push", image, "src", "-t", "Bad!"], TAG],
      [["push", image, "src", "-t", "ok", "-t", "v1@sha256:0"], TAG],
      [["push", image, "src/a.txt", "--files", "-t", "bad tag"], TAG],
      [["build", "--image", image, "-t", "no good"], TAG],
      [["push", image, "src", "--env", "NOVALUE"], /environment setting is NAME=VALUE/],
      [["push", image, "src", "--workdir", "app"], /working directory must be absolute/],
      [["push", image, "src", "--label", "NOVALUE"], /--label takes KEY=VALUE/],
      [["push", image, "src", "--annotation", "NOVALUE"], /--annotation takes KEY=VALUE/],
    ];
    for (const [args, message] of runs) {
      assertUsageError(await ocisync(args, { cwd: tmp, env }), message);
    }
    // Nothing reached the registry: no request at all, and no repository.
    assert.deepEqual(await registry.requests(), []);
    assert.deepEqual(await catalog(registry), []);

    // A layout or an archive is not made either, for a tag that their own grammar refuses.
    const local: [string[], RegExp][] = [
      [["push", "oci:./bundle:v1", "src", "-t", "Bad!"], /invalid tag "Bad!" for an OCI image/],
      [["push", "oci:./bundle:v1", "src", "-t", "v1_"], /invalid tag "v1_" for an OCI image/],
      [["push", "oci-archive:./a.tar:v1", "src", "-t", "Bad!"], /invalid tag "Bad!" for an OCI/],
      [["push", "docker-archive:./d.tar:app:v1", "src", "-t", "bad tag"], /whitespace/],
      [["push", "oci:./bundle:v1", "src", "--env", "NOVALUE"], /NAME=VALUE/],
      [["build", "-t", "Bad!"], /invalid tag "Bad!" for an OCI image/],
    ];
    const listing = () => [...Deno.readDirSync(tmp)].map((entry) => entry.name).sort();
    const before = listing();
    for (const [args, message] of local) {
      assertUsageError(await ocisync(args, { cwd: tmp, env }), message);
      assert.deepEqual(listing(), before, `nothing is created: ${args.join(" ")}`);
    }
  });
});
