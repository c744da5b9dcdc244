/**
 * `deno task compile [--target TRIPLE]...`: builds `dist/ocisync` (or
 * `dist/ocisync-TRIPLE` per target) with the permissions and the V8 flags of
 * `scripts/permissions.ts`.
 *
 * `deno compile` downloads its base binary, `denort`, unless `DENORT_BIN`
 * names a local one; that variable passes through to `deno compile`
 * unchanged, so offline hosts set it.
 *
 * @module
 */
import { COMPILE_INCLUDES, RUN_FLAGS } from "./permissions.ts";

const root = new URL("..", import.meta.url).pathname;
const targets: (string | undefined)[] = [];
for (let i = 0; i < Deno.args.length; i++) {
  if (Deno.args[i] === "--target") targets.push(Deno.args[++i]);
  else if (Deno.args[i].startsWith("--target=")) targets.push(Deno.args[i].slice(9));
  else throw new Error(`unknown argument ${Deno.args[i]}: use --target TRIPLE`);
}
if (targets.length === 0) targets.push(undefined);

for (const target of targets) {
  const output = `${root}dist/ocisync${target ? `-${target}` : ""}`;
  const args = [
    "compile",
    // deno.json sets `lazy-dynamic-imports` so that `deno run` does not read every command's
    // modules before the first line runs; under that flag `deno compile` would embed no
    // dynamically imported module (the commands), so the compile reads no config, only the lock.
    "--no-config",
    `--lock=${root}deno.lock`,
    "--frozen",
    ...RUN_FLAGS,
    ...COMPILE_INCLUDES.flatMap((path) => ["--include", `${root}${path}`]),
    ...(target ? ["--target", target] : []),
    "--output",
    output,
    `${root}main.ts`,
  ];
  const { code } = await new Deno.Command(Deno.execPath(), { args }).spawn().status;
  if (code !== 0) Deno.exit(code);
  console.log(
    `built ${output}${Deno.env.get("DENORT_BIN") ? " (base binary from DENORT_BIN)" : ""}`,
  );
}
