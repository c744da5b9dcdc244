/**
 * Multi-platform images against the real Distribution registry: a recipe with
 * `platforms: [linux/amd64, linux/arm64]` built on a base index pushed here
 * (two single-platform images and a hand-written index), judged by skopeo, by
 * the wheels' modules inside each platform's dependency layer, by the
 * registry's access log, by the image-spec's index schema, and by podman
 * pulling the arm64 image.
 */
import assert from "node:assert/strict";
import { runOk } from "./helpers/cli.ts";
import { sha256Digest } from "./helpers/hash.ts";
import { type Schema, validate } from "./helpers/json_schema.ts";
import {
  INDEX,
  layerFile,
  MANIFEST,
  ocisyncJson,
  pushBaseIndex,
  rawManifest,
  skopeoRaw,
  TLS,
  uploaded,
  writeProject,
  writes,
} from "./helpers/multiplatform.ts";
import { podmanArgs } from "./helpers/podman.ts";
import { withRegistry } from "./helpers/registry.ts";
import { requireTool } from "./helpers/tools.ts";
import { installCalls, recordingPip, requirePip } from "./helpers/wheels.ts";
import { buildImage, parseRecipe, readRecipe } from "../src/build/mod.ts";
import { NotFoundError, UsageError } from "../src/errors/mod.ts";
import { appendToIndex, openBaseIndex, writeIndexPlan } from "../src/push/index.ts";
import { parseReference } from "../src/ref/mod.ts";
import { closeTarget, openTarget } from "../src/target/mod.ts";

requireTool("skopeo", "skopeo");
requirePip();

const SCHEMAS = new URL("./fixtures/oci-schema/", import.meta.url);

/**
 * The vendored image-spec schemas (draft-04, one file each) as one schema in the subset of
 * `helpers/json_schema.ts`: each file's definitions under `$defs`, `$ref`s rewritten to them,
 * `id`s dropped. Three keywords that the helper does not know are translated or dropped, and
 * checked by the test itself: `patternProperties` of `.{1,}` becomes `additionalProperties`
 * (the same rule for every non-empty key), `minimum`/`maximum` (schemaVersion 2, sizes) are
 * asserted directly, and `format: uri` and `media` annotate only.
 */
async function indexSchema(): Promise<Schema> {
  const files = new Map<string, Schema>();
  for (const name of ["image-index-schema", "content-descriptor", "defs-descriptor", "defs"]) {
    files.set(
      `${name}.json`,
      JSON.parse(await Deno.readTextFile(new URL(`${name}.json`, SCHEMAS))),
    );
  }
  const defs: Record<string, Schema> = {};
  const translate = (node: unknown, file: string): unknown => {
    if (Array.isArray(node)) return node.map((item) => translate(item, file));
    if (typeof node !== "object" || node === null) return node;
    const out: Schema = {};
    for (const [key, value] of Object.entries(node as Schema)) {
      if (["id", "definitions", "minimum", "maximum", "format", "media"].includes(key)) continue;
      if (key === "$ref") {
        const [target, pointer] = String(value).split("#");
        const source = target || file;
        const name = pointer ? `${source}:${pointer.split("/").pop()}` : source;
        if (!(name in defs)) {
          defs[name] = {};
          const schema = files.get(source)!;
          const def = pointer
            ? (schema.definitions as Record<string, Schema>)[name.split(":")[1]]
            : schema;
          assert.ok(def, `the vendored schemas define ${value}`);
          defs[name] = translate(def, source) as Schema;
        }
        out.$ref = `#/$defs/${name}`;
      } else if (key === "patternProperties") {
        const rules = Object.entries(value as Schema);
        assert.deepEqual(rules.map(([pattern]) => pattern), [".{1,}"]);
        out.additionalProperties = translate(rules[0][1], file);
      } else if (key === "properties") {
        out.properties = Object.fromEntries(
          Object.entries(value as Schema).map(([name, rule]) => [name, translate(rule, file)]),
        );
      } else out[key] = translate(value, file);
    }
    return out;
  };
  const root = translate(files.get("image-index-schema.json"), "image-index-schema.json") as Schema;
  return { ...root, $defs: defs };
}

/** The index validates, and what the schema's dropped keywords said holds too. */
async function assertValidIndex(index: Record<string, unknown>) {
  assert.deepEqual(validate(await indexSchema(), index), []);
  assert.equal(index.schemaVersion, 2);
  for (const entry of index.manifests as { size: number }[]) {
    assert.ok(Number.isSafeInteger(entry.size) && entry.size >= 0);
  }
}

Deno.test("multiplatform: the vendored index schema refuses what is not an index", async () => {
  const schema = await indexSchema();
  assert.notDeepEqual(validate(schema, { manifests: [] }), []);
  assert.notDeepEqual(
    validate(schema, { schemaVersion: 2, manifests: [{ mediaType: MANIFEST, size: 1 }] }),
    [],
  );
  assert.notDeepEqual(
    validate(schema, {
      schemaVersion: 2,
      manifests: [],
      annotations: { a: 1 },
    }),
    [],
  );
  assert.deepEqual(validate(schema, { schemaVersion: 2, manifests: [] }), []);
});

Deno.test("multiplatform: the example recipe parses, and platforms: refuse a layer's own pip tags", async () => {
  const example = await readRecipe(
    new URL("../examples/prefect/multiplatform.ocisync.yaml", import.meta.url).pathname,
  );
  assert.deepEqual(example.platforms, [
    { os: "linux", architecture: "amd64" },
    { os: "linux", architecture: "arm64", variant: "v8" },
  ]);
  const layers = "layers:\n  - requirements: r.txt\n    platforms: [manylinux2014_x86_64]\n";
  assert.throws(
    () => parseRecipe(`image: oci:./o\nplatforms: [linux/amd64, linux/arm64]\n${layers}`, "x.yaml"),
    (error: Error) =>
      error instanceof UsageError && /^x\.yaml:5:5: .*platforms/.test(error.message),
  );
  assert.throws(
    () =>
      parseRecipe(
        `image: oci:./o\nplatform: linux/amd64\nplatforms: [linux/amd64]\n${layers}`,
        "x.yaml",
      ),
    /not both/,
  );
  assert.throws(
    () =>
      parseRecipe(`image: oci:./o\nplatforms: [linux/amd64, linux/x86_64]\n${layers}`, "x.yaml"),
    /listed twice/,
  );
  assert.throws(() => parseRecipe(`image: oci:./o\nlibc: uclibc\n${layers}`, "x.yaml"), /libc/);
  const one = parseRecipe(
    `image: oci:./o\nplatforms: [linux/arm64]\nlibc: musl\n${layers}`,
    "x.yaml",
  );
  assert.equal(one.libc, "musl");
});

Deno.test("multiplatform: build amd64+arm64 on a base index, each with its own wheels and one shared code layer", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const base = await pushBaseIndex(registry, tmp);
    const image = `${registry.host}/flows/multi:1`;
    const recipeFile = await writeProject(tmp, image, base.ref, "[linux/amd64, linux/arm64]");
    const recipe = await readRecipe(recipeFile);
    const pip = await recordingPip(tmp);
    const options = { cacheDir: `${tmp}/cache`, installerCommand: pip.command };

    // A dry run: the index's digest and each platform's, with nothing written.
    const beforeDry = (await registry.requests()).length;
    const dry = await buildImage(recipe, { ...options, dryRun: true });
    assert.deepEqual(writes((await registry.requests()).slice(beforeDry)), []);
    assert.ok(dry.index && dry.platforms?.length === 2);
    assert.equal(dry.digest, dry.index.index.descriptor.digest);
    const calls = await installCalls(pip.log);
    assert.equal(calls.length, 2, "one install per platform");
    assert.match(calls[0], /--platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64/);
    assert.match(calls[1], /--platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64/);
    for (const call of calls) assert.match(call, /--implementation cp --abi cp312/);

    const before = (await registry.requests()).length;
    const built = await buildImage(recipe, options);
    const requests = (await registry.requests()).slice(before);
    assert.equal((await installCalls(pip.log)).length, 2, "each platform's layer was cached");
    assert.equal(built.digest, dry.digest, "the dry run's index digest is the pushed one");
    assert.deepEqual(built.platforms!.map((p) => p.digest), dry.platforms.map((p) => p.digest));

    const index = await skopeoRaw(image);
    assert.equal(sha256Digest(await rawManifest(registry, "flows/multi", "1")), built.digest);
    assert.equal(index.mediaType, INDEX);
    assert.deepEqual(index.manifests.map((m: { platform: unknown }) => m.platform), [
      { architecture: "amd64", os: "linux" },
      { architecture: "arm64", os: "linux", variant: "v8" },
    ]);
    assert.deepEqual(
      index.manifests.map((m: { digest: string }) => m.digest),
      dry.platforms.map((p) => p.digest),
    );
    assert.equal(index.annotations["org.opencontainers.image.base.digest"], base.digest);
    assert.equal(index.annotations["org.opencontainers.image.revision"], "abc123");
    await assertValidIndex(index);

    const [amd64, arm64] = await Promise.all(
      index.manifests.map((m: { digest: string }) =>
        skopeoRaw(`${image.split(":1")[0]}@${m.digest}`)
      ),
    );
    const code = amd64.layers.at(-1).digest;
    assert.equal(arm64.layers.at(-1).digest, code, "one code layer, in both manifests");
    assert.notEqual(amd64.layers.at(-2).digest, arm64.layers.at(-2).digest);
    assert.equal(amd64.annotations["org.opencontainers.image.base.digest"], base.amd64);
    assert.equal(arm64.annotations["org.opencontainers.image.base.digest"], base.arm64);
    const module = "opt/ocisync/deps/nativepkg/__init__.py";
    assert.equal(
      await layerFile(registry, "flows/multi", amd64.layers.at(-2).digest, module, tmp),
      "ARCH = 'x86_64'\n",
    );
    assert.equal(
      await layerFile(registry, "flows/multi", arm64.layers.at(-2).digest, module, tmp),
      "ARCH = 'aarch64'\n",
    );
    assert.equal(
      await layerFile(registry, "flows/multi", arm64.layers[0].digest, "etc/base-arch", tmp),
      "arm64\n",
      "the arm64 image is on the base's arm64 image",
    );
    assert.equal(
      uploaded(requests).filter((d) => d === code).length,
      1,
      "the code layer is sent once",
    );
    assert.equal(built.indexPush!.stats.pushed, uploaded(requests).length);

    // podman pulls the arm64 image of the index.
    const podman = podmanArgs(`${tmp}/p`);
    await runOk("podman", [...podman, "pull", "-q", TLS, "--platform", "linux/arm64", image]);
    const inspected = JSON.parse(await runOk("podman", [...podman, "image", "inspect", image]));
    assert.equal(inspected[0].Architecture, "arm64");
    assert.equal(inspected[0].Digest, built.digest);
    await runOk("podman", [...podman, "rmi", "-a", "-f"]).catch(() => {});
  });
});

Deno.test("multiplatform: a platform the base lacks fails before anything is installed or sent", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const base = await pushBaseIndex(registry, tmp);
    const recipeFile = await writeProject(
      tmp,
      `${registry.host}/flows/missing:1`,
      base.ref,
      "[linux/amd64, linux/s390x]",
    );
    const pip = await recordingPip(tmp);
    const before = (await registry.requests()).length;
    await assert.rejects(
      buildImage(await readRecipe(recipeFile), {
        cacheDir: `${tmp}/cache`,
        installerCommand: pip.command,
      }),
      (error: Error) => {
        assert.ok(error instanceof NotFoundError, String(error));
        assert.match(
          error.message,
          /has no image for linux\/s390x; it has linux\/amd64, linux\/arm64\/v8$/,
        );
        return true;
      },
    );
    assert.deepEqual(writes((await registry.requests()).slice(before)), []);
    assert.deepEqual(await installCalls(pip.log), [], "nothing was installed");
    // The option overrides the recipe's platforms, and is checked the same way.
    await assert.rejects(
      buildImage(await readRecipe(recipeFile), {
        platforms: [{ os: "linux", architecture: "arm64" }, {
          os: "linux",
          architecture: "arm",
          variant: "v7",
        }],
        cacheDir: `${tmp}/cache`,
        installerCommand: pip.command,
      }),
      /no image for linux\/arm\/v7/,
    );
    assert.deepEqual(writes((await registry.requests()).slice(before)), []);
  });
});

Deno.test("multiplatform: appendToIndex appends to every platform, and keeps the attestations only when asked", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const base = await pushBaseIndex(registry, tmp);
    await Deno.mkdir(`${tmp}/app`);
    await Deno.writeTextFile(`${tmp}/app/hello.txt`, "hello\n");
    const layer = await ocisyncJson(["pack", `${tmp}/app`, "-o", `${tmp}/app.tar.gz`]);
    const prepared = [{
      path: `${tmp}/app.tar.gz`,
      descriptor: {
        mediaType: layer.mediaType,
        digest: layer.digest,
        size: layer.size,
      },
      diffId: layer.diffId,
    }];
    const opened = await openBaseIndex(parseReference(base.ref));
    try {
      assert.equal(opened.platforms.length, 2);
      assert.equal(opened.otherEntries.length, 1);
      const settings = { created: "1970-01-01T00:00:00Z", edits: { workdir: "/app" } };
      const all = await appendToIndex(opened, prepared, { ...settings, platforms: "all" });
      const kept = await appendToIndex(opened, prepared, {
        ...settings,
        platforms: "all",
        keepIndexEntries: true,
      });
      const one = await appendToIndex(opened, prepared, {
        ...settings,
        platforms: [{ os: "linux", architecture: "arm64" }],
      });
      assert.equal(all.manifests.length, 2);
      assert.equal(kept.manifests.length, 3);
      assert.equal(one.manifests.length, 1);
      await assert.rejects(
        appendToIndex(opened, prepared, {
          ...settings,
          platforms: [{ os: "linux", architecture: "s390x" }],
        }),
        /no image for linux\/s390x/,
      );

      const target = await openTarget(parseReference(`${registry.host}/app/all:1`), {
        create: true,
      });
      try {
        const before = (await registry.requests()).length;
        const result = await writeIndexPlan(target, kept, ["1"]);
        const requests = (await registry.requests()).slice(before);
        assert.equal(uploaded(requests).filter((d) => d === layer.digest).length, 1);
        assert.equal(result.digest, kept.index.descriptor.digest);
      } finally {
        await closeTarget(target);
      }
      const index = await skopeoRaw(`${registry.host}/app/all:1`);
      await assertValidIndex(index);
      assert.deepEqual(
        index.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture),
        ["amd64", "arm64", "unknown"],
      );
      assert.equal(index.manifests[2].digest, base.attestation, "the attestation, as it was");
      assert.equal(
        index.manifests[2].annotations["vnd.docker.reference.type"],
        "attestation-manifest",
      );
      for (const entry of index.manifests.slice(0, 2)) {
        const manifest = await skopeoRaw(`${registry.host}/app/all@${entry.digest}`);
        assert.equal(manifest.layers.at(-1).digest, layer.digest);
      }
      assert.ok(!JSON.stringify(all.index.descriptor).includes(base.attestation));
      assert.ok(
        !new TextDecoder().decode(all.index.bytes).includes(base.attestation),
        "left out unless kept",
      );
    } finally {
      await closeTarget(opened.target);
    }
  });
});
