import assert from "node:assert/strict";
import { NotFoundError } from "../errors/mod.ts";
import { requirePip } from "../../tests/helpers/wheels.ts";
import { findInstaller, hostTags } from "./installer.ts";

/** What `COMMAND --version` prints, as pip words it, or undefined when it fails. */
function pipSays(command: string[]): string | undefined {
  const output = new Deno.Command(command[0], {
    args: [...command.slice(1), "--version"],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  return output.success ? new TextDecoder().decode(output.stdout) : undefined;
}

Deno.test("findInstaller tells pip's version as `python3 -m pip --version` does", async () => {
  requirePip();
  // pip itself is the second implementation: its own `--version`, less the path it prints.
  const said = pipSays(["python3", "-m", "pip"]);
  const words = /^pip (\S+) from .* \(python (\S+)\)\n$/.exec(said ?? "");
  assert.ok(words, `pip --version printed ${said}`);
  const installer = await findInstaller("pip", "python3 -m pip");
  assert.equal(installer.version, `pip ${words[1]} (python ${words[2]})`);
  assert.deepEqual(installer.command, ["python3", "-m", "pip"]);
});

Deno.test("findInstaller: a Python that cannot import pip has no installer, as pip's --version says", async () => {
  requirePip();
  // -S leaves out site-packages, where pip lives.
  const command = "python3 -S -m pip";
  assert.equal(pipSays(command.split(" ")), undefined, `${command} --version runs here`);
  await assert.rejects(() => findInstaller("pip", command), (error) => {
    assert.ok(error instanceof NotFoundError);
    assert.match(error.message, /^cannot run `python3 -S -m pip`: deps needs pip$/);
    return true;
  });
});

Deno.test("findInstaller and hostTags asked at once of one Python run it once", async () => {
  requirePip();
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-installer-" });
  try {
    // A Python that records each run: a pyenv shim alone costs 0.3 s a run.
    const log = `${tmp}/runs.log`;
    await Deno.writeTextFile(
      `${tmp}/python`,
      `#!/bin/sh\necho run >> '${log}'\nexec python3 "$@"\n`,
      { mode: 0o755 },
    );
    const runs = async () => (await Deno.readTextFile(log)).trim().split("\n").length;
    const [installer, tags] = await Promise.all([
      findInstaller("pip", `${tmp}/python -m pip`),
      hostTags([`${tmp}/python`]),
    ]);
    assert.match(installer.version, /^pip \S+ \(python \d+\.\d+\)$/);
    assert.ok(tags?.python && tags.platform, JSON.stringify(tags));
    assert.equal(await runs(), 1, "one run answered both");
    // Asked again once that run has ended: a pip upgraded meanwhile would be seen.
    assert.deepEqual(await hostTags([`${tmp}/python`]), tags);
    assert.equal(await runs(), 2);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("hostTags are the first of the tags that `pip debug` lists as compatible", async () => {
  requirePip();
  const debug = new Deno.Command("python3", {
    args: ["-m", "pip", "debug", "--verbose"],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  const first = /Compatible tags: \d+\n\s+(\S+)-(\S+)-(\S+)\n/.exec(
    new TextDecoder().decode(debug.stdout),
  );
  assert.ok(first, "pip debug listed its compatible tags");
  const [, interpreter, abi, platform] = first;
  assert.deepEqual(await hostTags(["python3"]), { python: `${interpreter}-${abi}`, platform });
});
