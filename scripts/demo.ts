/**
 * `deno task demo`: the main job on the embedded default, with no server.
 * It runs the CLI with the compiled binary's permissions and prints what
 * each step produced.
 *
 * @module
 */
import { PERMISSION_FLAGS } from "./permissions.ts";

const root = new URL("..", import.meta.url).pathname;
const work = `${root}.demo`;
await Deno.mkdir(work, { recursive: true });

async function ocisync(...args: string[]): Promise<void> {
  console.log(`$ ocisync ${args.join(" ")}`);
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSION_FLAGS, `${root}main.ts`, ...args],
    cwd: root,
  });
  const { code } = await command.spawn().status;
  if (code !== 0) Deno.exit(code);
}

await ocisync(
  "pack",
  "examples/hello-flow",
  "--prefix",
  "opt/prefect/flows",
  "-o",
  ".demo/hello-flow.tar.gz",
);
console.log(
  `\nThe layer is in ${work}/hello-flow.tar.gz. Run it again: the digests do not change.`,
);
