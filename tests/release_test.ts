/**
 * The release workflow, which runs only on GitHub: its YAML parses, it builds on `v*` tags for
 * the five targets the README promises with the pinned Deno, publishes checksums, and each of
 * its targets goes through `scripts/compile.ts` to `deno compile`, which accepts it. Nothing is
 * downloaded: `DENORT_BIN` names a missing base binary, so each compile stops right after
 * Deno has accepted the target and named the output, which also proves `DENORT_BIN` is used.
 */
import assert from "node:assert/strict";
// Full npm: specifier, so that this module imports from outside this repository too.
// deno-lint-ignore no-import-prefix
import { parse } from "npm:yaml@2.8.1";
import { run } from "./helpers/cli.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const WORKFLOW = `${ROOT}.github/workflows/release.yml`;
const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Job {
  needs?: string;
  permissions?: Record<string, string>;
  strategy?: { matrix: { target: string[] } };
  steps: Step[];
}

Deno.test("release.yml: on v* tags, the five targets with Deno 2.9.6, checksums, a release", () => {
  const workflow = parse(Deno.readTextFileSync(WORKFLOW));
  assert.deepEqual(workflow.on, { push: { tags: ["v*"] } });
  assert.equal(workflow.env.DENO, "npx -y deno@2.9.6");
  const jobs = workflow.jobs as Record<string, Job>;
  assert.deepEqual(Object.keys(jobs), ["check", "build", "release"]);
  assert.ok(jobs.check.steps.some((step) => step.run === "$DENO task check"));

  const build = jobs.build;
  assert.equal(build.needs, "check");
  assert.deepEqual(build.strategy?.matrix.target, TARGETS);
  const compile = build.steps.find((step) => step.run?.includes("task compile"));
  assert.equal(compile?.run, "$DENO task compile --target ${{ matrix.target }}");
  const upload = build.steps.find((step) => step.uses?.startsWith("actions/upload-artifact@"));
  assert.equal(upload?.with?.["if-no-files-found"], "error");

  const release = jobs.release;
  assert.equal(release.needs, "build");
  assert.deepEqual(release.permissions, { contents: "write" });
  assert.deepEqual(workflow.permissions, { contents: "read" }, "only the release job writes");
  const checksums = release.steps.find((step) => step.run?.includes("sha256sum"));
  assert.match(checksums?.run ?? "", /sha256sum ocisync-\* > SHA256SUMS/);
  const publish = release.steps.find((step) =>
    step.uses?.startsWith("softprops/action-gh-release@")
  );
  assert.match(String(publish?.with?.files), /dist\/ocisync-\*\ndist\/SHA256SUMS/);
  assert.equal(publish?.with?.fail_on_unmatched_files, true);
});

Deno.test("every workflow target passes scripts/compile.ts to deno compile, which accepts it", async () => {
  const workflow = parse(Deno.readTextFileSync(WORKFLOW));
  const targets: string[] = workflow.jobs.build.strategy.matrix.target;
  const missing = "/nonexistent/denort";
  const results = await Promise.all(targets.map((target) =>
    run(Deno.execPath(), [
      ...["run", "--allow-read", "--allow-write", "--allow-env", "--allow-run"],
      `${ROOT}scripts/compile.ts`,
      ...["--target", target],
    ], { env: { DENORT_BIN: missing, NO_COLOR: "1" } })
  ));
  for (const [i, target] of targets.entries()) {
    const { code, stderr } = results[i];
    assert.notEqual(code, 0);
    assert.doesNotMatch(stderr, /invalid value/, target);
    const output = `dist/ocisync-${target}${target.includes("windows") ? ".exe" : ""}`;
    assert.ok(stderr.includes(`main.ts to ${output}\n`), `${target}: ${stderr}`);
    assert.ok(stderr.includes(`Could not find denort at '${missing}'`), `${target}: ${stderr}`);
  }
});
