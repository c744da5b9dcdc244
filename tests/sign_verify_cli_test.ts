/**
 * `ocisync sign`, `ocisync verify` and the verification, tag-policy and layer flags of `pull`,
 * `copy` and `sync`, run as the CLI against the real Distribution registry and `oci:` layouts.
 * What ocisync signs is judged by Python's `cryptography`; what ocisync verifies was signed by
 * Python over payloads typed from cosign's specification, so ocisync's signer never judges its
 * verifier.
 */
import assert from "node:assert/strict";
import { OciArchiveTarget } from "../src/archive/mod.ts";
import { LayoutTarget } from "../src/layout/mod.ts";
import { MediaType } from "../src/oci/mediatypes.ts";
import { parseRegistryReference } from "../src/ref/mod.ts";
import { RegistryTarget } from "../src/remote/registry.ts";
import type { Target } from "../mod.ts";
import { ocisync, runOk, type RunResult, shown } from "./helpers/cli.ts";
import { verifierPolicy } from "../src/sync/mod.ts";
import {
  pushLayersImage,
  pushPythonSignature,
  pushTestImage,
  pythonKeys,
  pythonVerify,
} from "./helpers/cosign_vectors.ts";
import { type Schema, validate } from "./helpers/json_schema.ts";
import { type TestRegistry, withRegistry } from "./helpers/registry.ts";
import { blob, imageDocuments } from "./helpers/images.ts";
import { exists, withTempDir, writeTree } from "./helpers/tree.ts";

const signer = await pythonKeys({ password: "correct horse" });
const stranger = await pythonKeys();

const VERIFICATION = 8;

function targetOf(registry: TestRegistry, repository: string): RegistryTarget {
  return new RegistryTarget(parseRegistryReference(`${registry.host}/${repository}`));
}

function assertSchema(name: string, value: unknown): void {
  const schema: Schema = JSON.parse(
    Deno.readTextFileSync(new URL(`../docs/schemas/${name}.schema.json`, import.meta.url)),
  );
  assert.deepEqual(validate(schema, value), [], `${name}: ${JSON.stringify(value)}`);
}

function ok(result: RunResult): RunResult {
  assert.equal(result.code, 0, shown(result));
  return result;
}

function refused(result: RunResult): void {
  assert.equal(result.code, VERIFICATION, shown(result));
  assert.match(result.stderr, /^ocisync: error: [^\n]*signature/, shown(result));
}

async function keyFiles(dir: string): Promise<{ pkcs8: string; encrypted: string; pub: string }> {
  const files = {
    pkcs8: `${dir}/ec.pem`,
    encrypted: `${dir}/cosign.key`,
    pub: `${dir}/cosign.pub`,
  };
  await Deno.writeTextFile(files.pkcs8, signer.pkcs8);
  await Deno.writeTextFile(files.encrypted, signer.encrypted);
  await Deno.writeTextFile(files.pub, signer.public);
  return files;
}

/** The payloads and signatures of an image's `.sig` manifest, read back without ocisync's verifier. */
async function sigLayers(
  target: Target,
  digest: string,
): Promise<{ payload: Uint8Array; signature: string }[]> {
  const tag = `sha256-${digest.slice("sha256:".length)}.sig`;
  const descriptor = await target.resolve(tag);
  const manifest = JSON.parse(new TextDecoder().decode(await target.fetchManifest(descriptor)));
  const layers = [];
  for (const layer of manifest.layers) {
    assert.equal(layer.mediaType, "application/vnd.dev.cosign.simplesigning.v1+json");
    const payload = new Uint8Array(await new Response(await target.fetchBlob(layer)).arrayBuffer());
    layers.push({ payload, signature: layer.annotations["dev.cosignproject.cosign/signature"] });
  }
  return layers;
}

Deno.test("sign: Python verifies the signature over the payload, which names the digest", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const keys = await keyFiles(tmp);
    const target = targetOf(registry, "team/app");
    try {
      const image = await pushTestImage(target, "v1");
      const ref = `${registry.host}/team/app:v1`;
      const signed = ok(
        await ocisync(["sign", ref, "--key", keys.pkcs8, "-a", "ci=true", "--json"]),
      );
      const result = JSON.parse(signed.stdout);
      assertSchema("sign", result);
      assert.equal(result.digest, image.descriptor.digest);
      assert.equal(result.appended, true);
      assert.equal(result.tag, `sha256-${image.descriptor.digest.slice(7)}.sig`);

      const [layer] = await sigLayers(target, image.descriptor.digest);
      assert.equal(layer.signature, result.signature);
      assert.equal(await pythonVerify(signer.public, layer.payload, layer.signature), true);
      assert.equal(await pythonVerify(stranger.public, layer.payload, layer.signature), false);
      const payload = JSON.parse(new TextDecoder().decode(layer.payload));
      assert.equal(payload.critical.image["docker-manifest-digest"], image.descriptor.digest);
      assert.equal(payload.critical.identity["docker-reference"], `${registry.host}/team/app`);
      assert.equal(payload.critical.type, "cosign container image signature");
      assert.deepEqual(payload.optional, { ci: "true" });

      // The same key and payload again: nothing new; -q prints the .sig manifest's digest.
      const again = ok(await ocisync(["sign", ref, "--key", keys.pkcs8, "-a", "ci=true", "-q"]));
      assert.equal(again.stdout.trim(), result.signatureManifest);
      // Another key is appended beside the first, which stays.
      await Deno.writeTextFile(`${tmp}/other.pem`, stranger.sec1);
      ok(
        await ocisync([
          "sign",
          ref,
          "--key",
          `${tmp}/other.pem`,
          "--sign-container-identity",
          "x/y",
        ]),
      );
      const layers = await sigLayers(target, image.descriptor.digest);
      assert.equal(layers.length, 2);
      assert.equal(
        await pythonVerify(stranger.public, layers[1].payload, layers[1].signature),
        true,
      );
      assert.match(new TextDecoder().decode(layers[1].payload), /"docker-reference":"x\/y"/);

      // And ocisync's verifier accepts what its signer wrote, with the annotation required.
      const verified = ok(
        await ocisync(["verify", ref, "--key", keys.pub, "-a", "ci=true", "--json"]),
      );
      assert.equal(JSON.parse(verified.stdout).verified.length, 1);
    } finally {
      target.close();
    }
  });
});

Deno.test("sign: a cosign-encrypted key signs with COSIGN_PASSWORD; a wrong one exits 2", async () => {
  await withTempDir("ocisync-sign-", async (tmp) => {
    const keys = await keyFiles(tmp);
    const layout = await LayoutTarget.open(`${tmp}/layout`, { create: true });
    const image = await pushTestImage(layout, "v1");
    const ref = `oci:${tmp}/layout:v1`;
    const wrong = await ocisync(["sign", ref, "--key", keys.encrypted], {
      env: { COSIGN_PASSWORD: "wrong" },
    });
    assert.equal(wrong.code, 2, shown(wrong));
    const signed = ok(
      await ocisync(["sign", ref, "--key", keys.encrypted, "--json"], {
        env: { COSIGN_PASSWORD: "correct horse" },
      }),
    );
    assert.equal(JSON.parse(signed.stdout).digest, image.descriptor.digest);
    const reopened = await LayoutTarget.open(`${tmp}/layout`);
    const [layer] = await sigLayers(reopened, image.descriptor.digest);
    assert.equal(await pythonVerify(signer.public, layer.payload, layer.signature), true);
  });
});

Deno.test("sign: a key file others can read, or a key in the clear, is said on stderr; signing goes on", async () => {
  await withTempDir("ocisync-sign-", async (tmp) => {
    const keys = await keyFiles(tmp);
    const layout = await LayoutTarget.open(`${tmp}/layout`, { create: true });
    const image = await pushTestImage(layout, "v1");
    const ref = `oci:${tmp}/layout:v1`;
    await Deno.chmod(keys.pkcs8, 0o644);
    const clear = ok(await ocisync(["sign", ref, "--key", keys.pkcs8]));
    // A tag is resolved by whoever serves it, as cosign warns.
    assert.match(
      clear.stderr,
      new RegExp(`layout:v1 names a tag: signing ${image.descriptor.digest}, which oci:`),
    );
    assert.match(clear.stderr, /ec\.pem is readable by other users; chmod 600 /);
    assert.match(
      clear.stderr,
      /ec\.pem holds the private key unencrypted; cosign keeps it encrypted/,
    );
    // cosign's own form, private to its owner: nothing to say.
    await Deno.chmod(keys.encrypted, 0o600);
    const quiet = ok(
      await ocisync([
        "sign",
        `oci:${tmp}/layout@${image.descriptor.digest}`,
        "--key",
        keys.encrypted,
      ], {
        env: { COSIGN_PASSWORD: "correct horse" },
      }),
    );
    assert.doesNotMatch(quiet.stderr, /warning/);
  });
});

Deno.test("cosign's CI spellings: sign --yes --tlog-upload=false, verify --insecure-ignore-tlog=true", async () => {
  await withTempDir("ocisync-sign-", async (tmp) => {
    const keys = await keyFiles(tmp);
    const layout = await LayoutTarget.open(`${tmp}/layout`, { create: true });
    const image = await pushTestImage(layout, "v1");
    const ref = `oci:${tmp}/layout@${image.descriptor.digest}`;
    // cosign uploads to Rekor unless told not to; ocisync never does, and says so.
    for (const upload of ["--tlog-upload", "--tlog-upload=true"]) {
      const refusedUpload = await ocisync(["sign", ref, "--key", keys.pkcs8, upload]);
      assert.equal(refusedUpload.code, 2, shown(refusedUpload));
      assert.match(refusedUpload.stderr, /writes no transparency-log \(Rekor\) entry/);
    }
    const badFlag = await ocisync(["sign", ref, "--key", keys.pkcs8, "--yes=maybe"]);
    assert.equal(badFlag.code, 2, shown(badFlag));
    assert.match(badFlag.stderr, /--yes is a flag: give it alone, or as --yes=true or =false/);
    ok(await ocisync(["sign", ref, "--key", keys.pkcs8, "-y", "--tlog-upload=false", "-q"]));
    ok(await ocisync(["sign", ref, "--key", keys.pkcs8, "--yes=true", "--json=false"]));
    // Keyed verification reads no log: cosign's flag for that is taken, in either spelling.
    for (const flag of ["--insecure-ignore-tlog", "--insecure-ignore-tlog=true"]) {
      const verified = ok(await ocisync(["verify", ref, "--key", keys.pub, flag, "-q"]));
      assert.equal(verified.stdout, `${image.descriptor.digest}\n`);
    }
    // Without a key it is still keyless's flag, which needs a trusted root.
    const keyless = await ocisync(["verify", ref, "--insecure-ignore-tlog"]);
    assert.equal(keyless.code, 2, shown(keyless));
    assert.match(keyless.stderr, /keyless verification needs --trusted-root/);
    // `--json=false` is no JSON.
    const human = ok(await ocisync(["verify", ref, "--key", keys.pub, "--json=false"]));
    assert.match(human.stdout, /^verified /);
  });
});

Deno.test("verify --key: a Python-signed image verifies; unsigned or by another key exits 8", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const keys = await keyFiles(tmp);
    const target = targetOf(registry, "team/app");
    try {
      const signed = await pushTestImage(target, "signed");
      const other = await pushTestImage(target, "other");
      await pushTestImage(target, "unsigned");
      await pushPythonSignature(target, signed.descriptor.digest, signer.pkcs8, target.name);
      await pushPythonSignature(target, other.descriptor.digest, stranger.pkcs8, target.name);
      const ref = (tag: string) => `${registry.host}/team/app:${tag}`;

      const json = JSON.parse(
        ok(await ocisync(["verify", ref("signed"), "--key", keys.pub, "--json"])).stdout,
      );
      assertSchema("verify", json);
      assert.equal(json.digest, signed.descriptor.digest);
      assert.equal(json.verified[0].form, "classic");
      assert.equal(json.verified[0].dockerReference, target.name);
      const quiet = ok(await ocisync(["verify", ref("signed"), "--key", keys.pub, "-q"]));
      assert.equal(quiet.stdout, `${signed.descriptor.digest}\n`);
      const human = ok(await ocisync(["verify", ref("signed"), "--key", keys.pub]));
      assert.match(human.stdout, /^verified .*@sha256:[0-9a-f]{64}\n {2}classic signature by key/);

      refused(await ocisync(["verify", ref("unsigned"), "--key", keys.pub]));
      refused(await ocisync(["verify", ref("other"), "--key", keys.pub]));
      // A signature that verifies but lacks the annotation asked for is refused too.
      refused(await ocisync(["verify", ref("signed"), "--key", keys.pub, "-a", "ci=true"]));
      // Nothing to verify with is a usage error.
      assert.equal((await ocisync(["verify", ref("signed")])).code, 2);
      const keyless = await ocisync(["verify", ref("signed"), "--trusted-root", keys.pub]);
      assert.equal(keyless.code, 2, shown(keyless));
    } finally {
      target.close();
    }
  });
});

Deno.test("pull --verify-key: an unsigned image exits 8 and writes nothing; a signed one lands", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const keys = await keyFiles(tmp);
    const target = targetOf(registry, "team/files");
    try {
      const files = [{ content: "x: 1\n", mediaType: "text/plain", title: "app.yaml" }];
      // Different content: the same bytes would be the same digest, and signed too.
      await pushLayersImage(target, "unsigned", [
        ...files,
        { content: "u", mediaType: "text/plain", title: "u.txt" },
      ]);
      const signed = await pushLayersImage(target, "signed", files);
      await pushPythonSignature(target, signed.descriptor.digest, signer.pkcs8, target.name);
      const ref = (tag: string) => `${registry.host}/team/files:${tag}`;

      refused(
        await ocisync(["pull", ref("unsigned"), "-o", `${tmp}/out/deep`, "--verify-key", keys.pub]),
      );
      assert.equal(await exists(`${tmp}/out`), false, "nothing written");

      const pulled = JSON.parse(
        ok(
          await ocisync([
            "pull",
            ref("signed"),
            "-o",
            `${tmp}/out`,
            "--verify-key",
            keys.pub,
            "--json",
          ]),
        ).stdout,
      );
      assertSchema("pull", pulled);
      assert.equal(pulled.verified.digest, signed.descriptor.digest);
      assert.equal(pulled.verified.signatures[0].form, "classic");
      assert.equal(await Deno.readTextFile(`${tmp}/out/app.yaml`), "x: 1\n");
    } finally {
      target.close();
    }
  });
});

Deno.test("copy --signatures --verify-key to a second registry; verify against the copy", async () => {
  await withRegistry({}, async (a, tmp) => {
    await withRegistry({}, async (b) => {
      const keys = await keyFiles(tmp);
      const source = targetOf(a, "team/app");
      try {
        const image = await pushTestImage(source, "v1");
        await pushTestImage(source, "unsigned");
        await pushPythonSignature(source, image.descriptor.digest, signer.pkcs8, source.name);

        const refusedCopy = await ocisync([
          "copy",
          `${a.host}/team/app:unsigned`,
          `${b.host}/mirror/app:unsigned`,
          "--verify-key",
          keys.pub,
        ]);
        refused(refusedCopy);
        assert.equal((await ocisync(["inspect", `${b.host}/mirror/app:unsigned`, "-q"])).code, 4);

        const copied = JSON.parse(
          ok(
            await ocisync([
              "copy",
              `${a.host}/team/app:v1`,
              `${b.host}/mirror/app:v1`,
              "--signatures",
              "--verify-key",
              keys.pub,
              "--json",
            ]),
          ).stdout,
        );
        assertSchema("copy", copied);
        assert.equal(copied.signatures, 1);
        assert.equal(copied.images[0].verified.digest, image.descriptor.digest);

        const verified = JSON.parse(
          ok(
            await ocisync(["verify", `${b.host}/mirror/app:v1`, "--key", keys.pub, "--json"]),
          ).stdout,
        );
        assert.equal(verified.digest, image.descriptor.digest);
        // The payload still names the source repository, as cosign's copy leaves it.
        assert.equal(verified.verified[0].dockerReference, source.name);
      } finally {
        source.close();
      }
    });
  });
});

Deno.test("sync --once --verify-key: an unsigned image exits 8 and leaves no current", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const keys = await keyFiles(tmp);
    const target = targetOf(registry, "team/flows");
    try {
      await pushLayersImage(target, "prod", [
        { content: "x", mediaType: "text/plain", title: "x.txt" },
      ]);
      const result = await ocisync([
        "sync",
        `${registry.host}/team/flows:prod`,
        "-o",
        `${tmp}/srv`,
        "--once",
        "--verify-key",
        keys.pub,
      ]);
      assert.equal(result.code, VERIFICATION, shown(result));
      assert.match(result.stderr, / failed \(exit 8, 1 in a row\): signature refused: /);
      assert.equal(await exists(`${tmp}/srv/current`), false);
    } finally {
      target.close();
    }
  });
});

Deno.test("a key or trusted root that does not exist is exit 4, naming it, for every command", async () => {
  await withTempDir("ocisync-missing-key-", async (tmp) => {
    await writeTree(`${tmp}/src`, { "a.txt": { type: "file", content: "a" } });
    const image = `oci:${tmp}/layout:v1`;
    ok(await ocisync(["push", image, `${tmp}/src`]));
    const key = `${tmp}/no-such.pub`;
    const root = `${tmp}/no-such-root.json`;
    const keyless = ["--certificate-identity", "me@example.com"];
    const runs: [string[], string][] = [
      [["verify", image, "--key", key], `no such key file: ${key}`],
      [["pull", image, "-o", `${tmp}/out`, "--verify-key", key], `no such key file: ${key}`],
      [["copy", image, `oci:${tmp}/copy:v1`, "--verify-key", key], `no such key file: ${key}`],
      [
        ["sync", image, "-o", `${tmp}/srv`, "--once", "--verify-key", key],
        `no such key file: ${key}`,
      ],
      [["sign", image, "--key", key], `no such key file: ${key}`],
      [
        ["verify", image, "--trusted-root", root, ...keyless, "--certificate-oidc-issuer", "x"],
        `no such trusted root file: ${root}`,
      ],
    ];
    for (const [args, message] of runs) {
      const result = await ocisync(args);
      assert.equal(result.code, 4, shown(result));
      assert.ok(result.stderr.includes(`ocisync: error: ${message}\n`), shown(result));
    }
    // Nothing was pulled or copied (sync locks its folder before it reads the keys).
    for (const written of ["out", "copy"]) assert.equal(await exists(`${tmp}/${written}`), false);
  });
});

Deno.test("pull and sync --semver pick the highest tag in the range", async () => {
  await withTempDir("ocisync-semver-", async (tmp) => {
    const layout = await LayoutTarget.open(`${tmp}/layout`, { create: true });
    const digests: Record<string, string> = {};
    for (const tag of ["1.0.0", "1.4.2", "1.10.0-rc.1", "2.0.0", "latest"]) {
      digests[tag] = (await pushLayersImage(layout, tag, [
        { content: `version ${tag}`, mediaType: "text/plain", title: "version.txt" },
      ])).descriptor.digest;
    }
    const pulled = JSON.parse(
      ok(
        await ocisync([
          "pull",
          `oci:${tmp}/layout`,
          "--semver",
          "^1",
          "-o",
          `${tmp}/out`,
          "--json",
        ]),
      ).stdout,
    );
    assertSchema("pull", pulled);
    assert.equal(pulled.tag, "1.4.2");
    assert.equal(pulled.digest, digests["1.4.2"]);
    assert.equal(await Deno.readTextFile(`${tmp}/out/version.txt`), "version 1.4.2");
    // A reference with a tag leaves nothing to pick: a usage error.
    const tagged = await ocisync(["pull", `oci:${tmp}/layout:latest`, "--semver", "^1"]);
    assert.equal(tagged.code, 2, shown(tagged));

    const synced = await ocisync([
      "sync",
      `oci:${tmp}/layout`,
      "--tag-regex",
      "^1\\.",
      "-o",
      `${tmp}/srv`,
      "--once",
      "--log-format",
      "json",
    ]);
    assert.equal(synced.code, 0, shown(synced));
    const line = JSON.parse(synced.stderr.trim().split("\n").at(-1)!);
    assertSchema("sync-log", line);
    assert.equal(line.tag, "1.4.2"); // lexically last of the matches
    assert.equal(await Deno.readTextFile(`${tmp}/srv/current/version.txt`), "version 1.4.2");
  });
});

Deno.test("pull --layer-media-type --layer-operation copy writes the selected blob as a file", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const target = targetOf(registry, "team/models");
    try {
      const weights = new Uint8Array(4096).map((_, i) => (i * 7) % 256);
      await pushLayersImage(target, "v3", [
        { content: "read me", mediaType: "text/markdown", title: "README.md" },
        { content: weights, mediaType: "application/vnd.acme.model.v1+bin", title: "model.bin" },
      ]);
      const pulled = JSON.parse(
        ok(
          await ocisync([
            "pull",
            `${registry.host}/team/models:v3`,
            "--layer-media-type",
            "application/vnd.acme.model*",
            "--layer-operation",
            "copy",
            "-o",
            `${tmp}/out`,
            "--json",
          ]),
        ).stdout,
      );
      assertSchema("pull", pulled);
      assert.deepEqual(pulled.files, ["model.bin"]);
      assert.deepEqual(await Deno.readFile(`${tmp}/out/model.bin`), weights);
      assert.equal(await exists(`${tmp}/out/README.md`), false);
      const bad = await ocisync([
        "pull",
        `${registry.host}/team/models:v3`,
        "--layer-operation",
        "move",
      ]);
      assert.equal(bad.code, 2, shown(bad));
    } finally {
      target.close();
    }
  });
});

Deno.test("sign into an oci-archive waits for its lock and adds to what the writer holding it wrote", async () => {
  // sign read the archive without the lock and wrote it anew: a writer's image that landed
  // meanwhile made it fail, and a Docker 25 save's manifest.json was dropped.
  await withTempDir("ocisync-sign-archive-", async (tmp) => {
    const keys = await keyFiles(tmp);
    await writeTree(`${tmp}/flows`, { "etl.py": { type: "file", content: "print(1)\n" } });
    const archive = `${tmp}/app.tar`;
    const digest = ok(await ocisync(["push", `oci-archive:${archive}:v1`, `${tmp}/flows`, "-q"]))
      .stdout.trim().split("@")[1];

    const writer = await OciArchiveTarget.open(archive, { create: true });
    const signing = ocisync(["sign", "--key", keys.encrypted, `oci-archive:${archive}:v1`], {
      env: { COSIGN_PASSWORD: "correct horse" },
    });
    const layer = blob(MediaType.OciLayer, new Uint8Array(1024));
    const image = imageDocuments([layer], [layer.descriptor.digest], {});
    await new Promise((resolve) => setTimeout(resolve, 1500));
    for (const { descriptor, bytes } of [image.config, layer]) {
      await writer.pushBlob(descriptor, ReadableStream.from([bytes]));
    }
    await writer.pushManifest(image.manifest.descriptor, image.manifest.bytes, ["v2"]);
    await writer.close();
    ok(await signing);

    const after = await OciArchiveTarget.open(archive);
    assert.deepEqual((await Array.fromAsync(after.tags())).sort(), [
      `sha256-${digest.slice("sha256:".length)}.sig`,
      "v1",
      "v2",
    ]);
    ok(await ocisync(["verify", "--key", keys.pub, `oci-archive:${archive}:v1`]));

    const docker = await ocisync(["sign", "--key", keys.pkcs8, `docker-archive:${tmp}/d.tar`]);
    assert.equal(docker.code, 2, shown(docker));
    assert.match(docker.stderr, /a docker-archive holds one image, not its signature/);
  });
});

Deno.test("copy --all-tags --verify-key verifies tags the mirror has already, and leaves out signature tags", async () => {
  // An image mirrored earlier without verification passed a gated run as "up to date", exit 0;
  // and the .sig tags were verified as images, so a signed repository always exited 8.
  await withRegistry({}, async (registry, tmp) => {
    const keys = await keyFiles(tmp);
    const source = targetOf(registry, "team/app");
    const signed = targetOf(registry, "team/signed");
    try {
      const image = await pushTestImage(source, "v1");
      await pushTestImage(source, "evil");
      await pushPythonSignature(source, image.descriptor.digest, signer.pkcs8, source.name);
      ok(await ocisync(["copy", "--all-tags", `${registry.host}/team/app`, `oci:${tmp}/mirror`]));
      const gated = await ocisync(
        ["copy", "--all-tags", `${registry.host}/team/app`, `oci:${tmp}/mirror`]
          .concat(["--verify-key", keys.pub]),
      );
      refused(gated);

      const only = await pushTestImage(signed, "v1");
      await pushPythonSignature(signed, only.descriptor.digest, signer.pkcs8, signed.name);
      const sigTag = `sha256-${only.descriptor.digest.slice("sha256:".length)}.sig`;
      const run = () =>
        ocisync(
          ["copy", "--all-tags", `${registry.host}/team/signed`, `oci:${tmp}/signed`]
            .concat(["--verify-key", keys.pub, "--signatures", "--json"]),
        );
      for (const round of ["copied", "up to date"]) {
        const copied = JSON.parse(ok(await run()).stdout);
        assertSchema("copy", copied);
        const byTag = Object.fromEntries(
          copied.images.map((i: { tag: string }) => [i.tag, i]),
        );
        assert.equal(byTag.v1.skipped, round === "up to date");
        assert.equal(byTag.v1.verified.digest, only.descriptor.digest, round);
        assert.match(byTag[sigTag].leftOut, /holds signatures or attestations/);
      }
      // The signature came with its image: the mirror verifies.
      ok(await ocisync(["verify", `oci:${tmp}/signed:v1`, "--key", keys.pub]));
    } finally {
      source.close();
      signed.close();
    }
  });
});

Deno.test("sync --verify-key reads the key once: the state records the policy that verified", async () => {
  // The key was read for the verifier, then again for the policy the state records: a key
  // rotated (here, a fifo that serves another key the second time) between the two had the
  // state claim a check the digest never had, and a later sync with that key skipped it.
  await withRegistry({}, async (registry, tmp) => {
    const keys = await keyFiles(tmp);
    await Deno.writeTextFile(`${tmp}/other.pub`, stranger.public);
    const target = targetOf(registry, "team/flows");
    const fifo = `${tmp}/key.fifo`;
    try {
      const image = await pushLayersImage(target, "prod", [
        { content: "x", mediaType: "text/plain", title: "x.txt" },
      ]);
      await pushPythonSignature(target, image.descriptor.digest, signer.pkcs8, target.name);
      await runOk("mkfifo", [fifo]);
      const writer = new Deno.Command("sh", {
        args: ["-c", 'cat "$1" > "$0"; cat "$2" > "$0"', fifo, keys.pub, `${tmp}/other.pub`],
      }).spawn();
      try {
        const sync = ok(
          await ocisync(
            ["sync", `${registry.host}/team/flows:prod`, "-o", `${tmp}/srv`, "--once"]
              .concat(["--state", `${tmp}/state.json`, "--verify-key", fifo]),
          ),
        );
        assert.match(sync.stderr, / changed /);
      } finally {
        // Ended already when its second key went into the pipe before the reader closed it.
        await Promise.race([writer.status, new Promise((done) => setTimeout(done, 100))]);
        try {
          writer.kill();
        } catch { /* ended */ }
        await writer.status;
      }
      const state = JSON.parse(await Deno.readTextFile(`${tmp}/state.json`));
      const recorded = Object.values(state.references)[0] as { verification: string };
      assert.equal(recorded.verification, await verifierPolicy({ verifyKeys: [keys.pub] }));
      // So a sync with the other key verifies, and refuses.
      const other = await ocisync(
        ["sync", `${registry.host}/team/flows:prod`, "-o", `${tmp}/srv`, "--once"]
          .concat(["--state", `${tmp}/state.json`, "--verify-key", `${tmp}/other.pub`]),
      );
      assert.equal(other.code, VERIFICATION, shown(other));
      assert.match(other.stderr, / failed \(exit 8, 1 in a row\): signature refused: /);
    } finally {
      target.close();
    }
  });
});

Deno.test("sign: signers of one image at once each keep their signature", async () => {
  // A registry keeps the last manifest put to the .sig tag: a signer who read it before another
  // one's write, and wrote after, used to drop that signature, and both exited 0.
  await withRegistry({}, async (registry, tmp) => {
    const target = targetOf(registry, "team/app");
    try {
      const image = await pushTestImage(target, "v1");
      const ref = `${registry.host}/team/app@${image.descriptor.digest}`;
      const keys = await Promise.all(Array.from({ length: 6 }, () => pythonKeys()));
      await Promise.all(keys.map((key, i) => Deno.writeTextFile(`${tmp}/k${i}.pem`, key.pkcs8)));
      const signed = await Promise.all(
        keys.map((_, i) => ocisync(["sign", ref, "--key", `${tmp}/k${i}.pem`, "--json"])),
      );
      for (const result of signed) ok(result);
      const layers = await sigLayers(target, image.descriptor.digest);
      assert.equal(layers.length, keys.length, "one signature per signer");
      for (const key of keys) {
        const verified = await Promise.all(
          layers.map(({ payload, signature }) => pythonVerify(key.public, payload, signature)),
        );
        assert.equal(verified.filter(Boolean).length, 1, "each signer's signature is there once");
      }
    } finally {
      target.close();
    }
  });
});
