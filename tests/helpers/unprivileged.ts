/**
 * Runs ocisync as the unprivileged user `nobody`, for tests of what root would read or write
 * anyway. The user gets its own world-readable copy of the program and of its Deno cache, so the
 * test passes wherever the clone lives, even in a folder that only root may enter.
 *
 * @module
 */
import { RUN_FLAGS } from "../../scripts/permissions.ts";
import { run, runOk, type RunResult } from "./cli.ts";
import { requireTool } from "./tools.ts";

const REPO = new URL("../../", import.meta.url).pathname;
/** What `main.ts` needs to run: its sources and the import map with its lock. */
const PROGRAM_FILES = ["main.ts", "mod.ts", "deno.json", "deno.lock", "src"];

/**
 * Copies the program into `dir` (which must exist), readable by all, and returns a function
 * that runs `ocisync ARGS…` there as `nobody` (uid and gid 65534) with the compile permissions.
 *
 * @example
 * ```ts
 * import { asNobody } from "./unprivileged.ts";
 * const ocisync = await asNobody(await Deno.makeTempDir());
 * const { code } = await ocisync(["version"]);
 * ```
 */
export async function asNobody(dir: string): Promise<(args: string[]) => Promise<RunResult>> {
  requireTool("setpriv", "util-linux");
  const app = `${dir}/ocisync-copy`;
  await Deno.mkdir(app, { recursive: true });
  await runOk("cp", ["-r", ...PROGRAM_FILES.map((f) => `${REPO}${f}`), app]);
  const denoDir = `${dir}/deno-dir`;
  await runOk(Deno.execPath(), ["cache", `${app}/main.ts`], { env: { DENO_DIR: denoDir } });
  await runOk("chmod", ["-R", "a+rX", app, denoDir]);
  for (let path = dir; path !== "/" && path !== ""; path = path.slice(0, path.lastIndexOf("/"))) {
    if ((Deno.statSync(path).mode! & 0o005) !== 0o005) {
      throw new Error(`${path} must be open to other users for nobody to reach the copy`);
    }
  }
  return (args) =>
    run("setpriv", [
      ...["--reuid=65534", "--regid=65534", "--clear-groups", Deno.execPath()],
      ...["run", "--cached-only", ...RUN_FLAGS, `${app}/main.ts`, ...args],
    ], { env: { DENO_DIR: denoDir, HOME: dir }, cwd: dir });
}
