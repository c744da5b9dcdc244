/**
 * What start-up loads. A `node:` module starts Deno's Node compatibility layer (about 25 ms,
 * more than an empty `deno run`), and an `npm:` package its npm resolver: the modules a short
 * command runs must import neither. What a module loads before its code runs is its static
 * import graph; `deno info --json` lists it, dynamic imports marked as such.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier?: string }; isDynamic?: boolean }[];
}

/** Every module that importing `path` (relative to the repository) loads, dynamic imports aside. */
async function staticGraph(path: string): Promise<Set<string>> {
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL(path, ROOT).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
  const info = JSON.parse(new TextDecoder().decode(stdout));
  const modules = new Map<string, InfoModule>(
    info.modules.map((module: InfoModule) => [module.specifier, module]),
  );
  const loaded = new Set<string>();
  const pending: string[] = [info.roots[0]];
  while (pending.length > 0) {
    const specifier = pending.pop()!;
    if (loaded.has(specifier)) continue;
    loaded.add(specifier);
    for (const dependency of modules.get(specifier)?.dependencies ?? []) {
      const target = dependency.code?.specifier;
      if (target !== undefined && !dependency.isDynamic) pending.push(target);
    }
  }
  return loaded;
}

async function assertNoNodeOrNpm(path: string): Promise<void> {
  const foreign = [...await staticGraph(path)].filter((specifier) =>
    specifier.startsWith("node:") || specifier.startsWith("npm:")
  );
  assert.deepEqual(foreign, [], `${path} loads ${foreign.join(", ")}`);
}

Deno.test("`ocisync version` and `--help` load no node: module and no npm package", async () => {
  // main.ts's static graph is what every command loads before its own code, and all that
  // `version`, `--help` and `completions` run.
  await assertNoNodeOrNpm("main.ts");
});

Deno.test("reading digests, references and layouts loads no node: module", async () => {
  // What `inspect -q oci:…` needs of them: parsing, and a layout's index and manifests, verified
  // through Web Crypto.
  for (const path of ["src/digest/parse.ts", "src/digest/verify.ts", "src/ref/mod.ts"]) {
    await assertNoNodeOrNpm(path);
  }
  await assertNoNodeOrNpm("src/layout/mod.ts");
});

Deno.test("the check sees node: modules: digest/mod.ts loads node:crypto, verify.ts does not", async () => {
  // The check above would pass vacuously if `deno info` listed no node: module at all.
  assert.ok((await staticGraph("src/digest/mod.ts")).has("node:crypto"));
  assert.ok(!(await staticGraph("src/digest/verify.ts")).has("node:crypto"));
});
