/**
 * `deno task demo`: the main job on the embedded default, with no server.
 * It runs the CLI with the compiled binary's permissions and prints what
 * each step produced.
 *
 * @module
 */
import { RUN_FLAGS } from "./permissions.ts";

const root = new URL("..", import.meta.url).pathname;
const work = `${root}.demo`;
await Deno.mkdir(work, { recursive: true });

async function ocisync(...args: string[]): Promise<void> {
  console.log(`$ ocisync ${args.join(" ")}`);
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", ...RUN_FLAGS, `${root}main.ts`, ...args],
    cwd: root,
  });
  const { code } = await command.spawn().status;
  if (code !== 0) Deno.exit(code);
}

const layout = "oci:.demo/layout:hello-flow";
await ocisync(
  "pack",
  "examples/hello-flow",
  "--prefix",
  "opt/prefect/flows",
  "-o",
  ".demo/hello-flow.tar.gz",
);
await ocisync("push", layout, "examples/hello-flow:/opt/prefect/flows", "--tag", "latest");
await Deno.remove(`${work}/pulled`, { recursive: true }).catch(() => {});
await ocisync("pull", layout, "-o", ".demo/pulled");
console.log(
  `\nThe flow went into the OCI layout ${work}/layout and came back out in ${work}/pulled.` +
    "\nRun it again: the digests do not change.",
);
