/**
 * The command line as a person meets it: help, unknown commands, exit
 * codes, and a progress display only where one belongs.
 */
import assert from "node:assert/strict";
import { RUN_FLAGS } from "../scripts/permissions.ts";
import { ocisync, run, runOk } from "./helpers/cli.ts";
import { requireTool } from "./helpers/tools.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
// deno-lint-ignore no-control-regex -- the escape character is what these tests look for
const ESCAPE = /\x1b\[/;

/** Runs ocisync under a pseudo-terminal (util-linux `script`) and returns what the terminal got. */
async function onTerminal(args: string[], env: Record<string, string> = {}): Promise<string> {
  requireTool("script", "bsdutils");
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const command = [Deno.execPath(), "run", ...RUN_FLAGS, MAIN, ...args].map(quote).join(" ");
  return await runOk("script", ["-qec", command, "/dev/null"], { env });
}

Deno.test("progress: live on a terminal, absent in a pipe and with NO_COLOR", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${tmp}/src`);
    await Deno.writeFile(`${tmp}/src/blob`, crypto.getRandomValues(new Uint8Array(60_000)));
    const terminal = await onTerminal(["push", `oci:${tmp}/a:v1`, `${tmp}/src`]);
    assert.match(terminal, ESCAPE);
    assert.match(terminal, /total +\[#+\] +\d.* \/ .*\/s/);
    assert.match(terminal, /pushed oci:/);

    const noColor = await onTerminal(["push", `oci:${tmp}/b:v1`, `${tmp}/src`], { NO_COLOR: "1" });
    assert.doesNotMatch(noColor, ESCAPE);
    assert.match(noColor, /uploaded/);

    const piped = await ocisync(["push", `oci:${tmp}/c:v1`, `${tmp}/src`]);
    assert.equal(piped.code, 0, piped.stderr);
    assert.doesNotMatch(piped.stdout + piped.stderr, ESCAPE);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("inspect: an annotation or a title with a line break stays on its line", async () => {
  // Whoever pushed the image wrote these: a line break forged a line of inspect's summary.
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-inspect-lines-" });
  try {
    await Deno.mkdir(`${tmp}/src`);
    await Deno.writeTextFile(`${tmp}/src/a.txt`, "a\n");
    const pushed = await ocisync([
      "push",
      `oci:${tmp}/layout:v1`,
      `${tmp}/src`,
      "--annotation",
      "note=x\n  platform  linux/forged",
    ]);
    assert.equal(pushed.code, 0, pushed.stderr);
    const shown = await ocisync(["inspect", `oci:${tmp}/layout:v1`]);
    assert.equal(shown.code, 0, shown.stderr);
    const lines = shown.stdout.split("\n");
    assert.ok(!lines.includes("  platform  linux/forged"), shown.stdout);
    assert.ok(lines.includes("  annotation note=x\\x0a  platform  linux/forged"), shown.stdout);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("binary output never goes to a terminal, by stdout or stderr; pull -o - names no folder", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-binary-tty-" });
  try {
    await Deno.mkdir(`${tmp}/src`);
    await Deno.writeTextFile(`${tmp}/src/a.txt`, "a\n");
    requireTool("script", "bsdutils");
    for (const output of ["-", "/dev/stderr"]) {
      const command = [Deno.execPath(), "run", ...RUN_FLAGS, MAIN, "pack", `${tmp}/src`]
        .concat(["-o", output]).map((s) => `'${s}'`).join(" ");
      // script gives the child a terminal on stdout and stderr, and exits with its code.
      const shown = await run("script", ["-qec", command, "/dev/null"]);
      assert.equal(shown.code, 2, `${output}: ${shown.stdout}`);
      assert.match(shown.stdout, /refusing to write binary data to a terminal/, output);
      assert.ok(!shown.stdout.includes("\x1f\x8b"), "no gzip bytes reached the terminal");
    }
    const pulled = await ocisync(["pull", `oci:${tmp}/none:v1`, "-o", "-"], { cwd: tmp });
    assert.equal(pulled.code, 2, pulled.stderr);
    assert.match(pulled.stderr, /pull writes a folder, not standard output/);
    assert.equal(await Deno.lstat(`${tmp}/-`).then(() => true, () => false), false);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
