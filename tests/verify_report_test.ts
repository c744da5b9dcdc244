/**
 * What a user is told about signatures: when none verifies (`verify`, `copy --verify-key`), why
 * each one was refused, in text and in `--json`, with a signature's own text written out so that
 * it can neither forge a line nor drive the terminal; and after a copy of several platforms,
 * what verified each platform's manifest. Keys and signatures are made by Python's
 * `cryptography`, signature manifests are typed here: ocisync's signer is not used.
 */
import assert from "node:assert/strict";
import type { LayoutTarget } from "../src/layout/mod.ts";
import type { Descriptor } from "../mod.ts";
import { expectExit, ocisync, type RunResult, shown } from "./helpers/cli.ts";
import {
  handPayload,
  keyedDsseBundle,
  pushBundleReferrer,
  pushBytes,
  pushHandSignatures,
  pushOciManifest,
  pushPythonSignature,
  pushTestImage,
  pushTwoPlatforms,
  pythonKeys,
  pythonSign,
  withKeyAndLayout,
} from "./helpers/cosign_vectors.ts";

const signer = await pythonKeys();
const stranger = await pythonKeys();
const VERIFICATION = 8;
const PAYLOAD = "application/vnd.dev.cosign.simplesigning.v1+json";
const SIGNATURE = "dev.cosignproject.cosign/signature";

/** A layout in a new folder (`oci:DIR`), and the signer's public key beside it. */
function withLayout(
  body: (layout: LayoutTarget, dir: string, pub: string) => Promise<void>,
): Promise<void> {
  return withKeyAndLayout("ocisync-verify-report-", signer.public, body);
}

/** The lines of stderr that list refused signatures. */
function refusedLines(result: RunResult): string[] {
  return result.stderr.split("\n").filter((line) => line.startsWith("  refused: "));
}

/** `count` classic signatures of `digest` by the stranger, each over another payload. */
async function pushStrangerSignatures(
  layout: LayoutTarget,
  digest: string,
  count: number,
): Promise<void> {
  const signatures = [];
  for (let i = 0; i < count; i++) {
    const payload = handPayload(digest, "example.com/flows", `{"n":"${i}"}`);
    signatures.push({ payload, signature: await pythonSign(stranger.pkcs8, payload) });
  }
  await pushHandSignatures(layout, digest, signatures);
}

/** The layers of the `.sig` manifest of `digest`, as the layout holds them. */
async function sigLayers(layout: LayoutTarget, digest: string): Promise<Descriptor[]> {
  const tag = `sha256-${digest.slice("sha256:".length)}.sig`;
  const bytes = await layout.fetchManifest(await layout.resolve(tag));
  return JSON.parse(new TextDecoder().decode(bytes)).layers;
}

Deno.test("verify with the wrong key: one line per refused signature, in text and --json; exit 8", async () => {
  await withLayout(async (layout, dir, pub) => {
    const image = (await pushTestImage(layout, "v1")).descriptor;
    await pushStrangerSignatures(layout, image.digest, 2);
    const bundle = await pushBundleReferrer(
      layout,
      image,
      await keyedDsseBundle(stranger.pkcs8, image.digest),
    );
    const [first, second] = await sigLayers(layout, image.digest);

    const text = expectExit(await ocisync(["verify", "--key", pub, `oci:${dir}:v1`]), VERIFICATION);
    assert.match(text.stderr, /^ocisync: error: no signature of sha256:[0-9a-f]{64} verified: /);
    const lines = refusedLines(text);
    assert.equal(lines.length, 3, shown(text));
    assert.equal(lines[0], `  refused: layer 0 (${first.digest}): no key verified the signature`);
    assert.equal(lines[1], `  refused: layer 1 (${second.digest}): no key verified the signature`);
    assert.match(
      lines[2],
      new RegExp(`^ {2}refused: bundle sha256:[0-9a-f]{64} \\(referrer ${bundle.digest}\\): `),
    );
    // The hint said the first refusals on one line: they are listed already.
    assert.doesNotMatch(text.stderr, /^hint: /m);

    const json = expectExit(
      await ocisync(["verify", "--key", pub, `oci:${dir}:v1`, "--json"]),
      VERIFICATION,
    );
    const report = JSON.parse(json.stdout);
    assert.equal(report.reference, `oci:${dir}:v1`);
    assert.equal(report.digest, null, "no digest verified");
    assert.equal(report.resolvedDigest, image.digest);
    assert.deepEqual(report.verified, []);
    assert.equal(report.reason, "invalid-signature");
    assert.equal(report.rejected.length, 3);
    assert.equal(report.rejected[0], `layer 0 (${first.digest}): no key verified the signature`);
    assert.ok(report.rejected[2].includes(bundle.digest), report.rejected[2]);
    assert.deepEqual(refusedLines(json), lines, "stderr says the same in --json mode");

    // copy --verify-key says the same, and copies nothing.
    const copy = expectExit(
      await ocisync(["copy", `oci:${dir}:v1`, `oci:${dir}-copy:v1`, "--verify-key", pub]),
      VERIFICATION,
    );
    assert.deepEqual(refusedLines(copy), lines);
    assert.ok(!(await Deno.lstat(`${dir}-copy`).catch(() => undefined)), "no layout left");

    // So does pull --verify-key, and writes nothing.
    const pull = expectExit(
      await ocisync(["pull", `oci:${dir}:v1`, "-o", `${dir}-pulled`, "--verify-key", pub]),
      VERIFICATION,
    );
    assert.deepEqual(refusedLines(pull), lines);
    await assert.rejects(Deno.lstat(`${dir}-pulled`), Deno.errors.NotFound);

    // sync's JSON log line of the failed tick lists them too.
    const sync = expectExit(
      await ocisync([
        "sync",
        `oci:${dir}:v1`,
        "-o",
        `${dir}-synced`,
        "--once",
        "--verify-key",
        pub,
        "--log-format",
        "json",
      ]),
      VERIFICATION,
    );
    const failed = sync.stderr.split("\n").filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line)).find((entry) => entry.status === "failed");
    assert.deepEqual(failed?.rejected, report.rejected, shown(sync));
    await Deno.remove(`${dir}-synced`, { recursive: true }).catch(() => {});
  });
});

Deno.test("a failed verification lists five refusals and how many more; --verbose lists them all", async () => {
  await withLayout(async (layout, dir, pub) => {
    const image = (await pushTestImage(layout, "v1")).descriptor;
    await pushStrangerSignatures(layout, image.digest, 7);
    const verify = (...extra: string[]) =>
      ocisync(["verify", "--key", pub, `oci:${dir}:v1`, ...extra]);

    const capped = expectExit(await verify(), VERIFICATION);
    assert.equal(refusedLines(capped).length, 5, shown(capped));
    assert.match(
      capped.stderr,
      /^ {2}refused: layer 4 .*\n {2}and 2 more \(--verbose lists them all\)$/m,
    );
    const all = expectExit(await verify("--verbose"), VERIFICATION);
    assert.equal(refusedLines(all).length, 7, shown(all));
    assert.doesNotMatch(all.stderr, /more \(--verbose/);
    assert.equal(
      JSON.parse(expectExit(await verify("--json"), VERIFICATION).stdout).rejected.length,
      7,
    );
  });
});

Deno.test("a signature's hostile text is written out: no forged line, no terminal escape", async () => {
  await withLayout(async (layout, dir, pub) => {
    const image = (await pushTestImage(layout, "v1")).descriptor;
    // A layer of the .sig manifest whose media type, quoted in its refusal, would end the line,
    // print a line of ocisync's own and colour what follows red.
    const hostileType = "text/plain\nocisync: verified everything\x1b[31m\tred";
    const hostile = await pushBytes(layout, new TextEncoder().encode("{}"), hostileType);
    const payload = handPayload(image.digest, "example.com/flows");
    const valid = {
      ...await pushBytes(layout, payload, PAYLOAD),
      annotations: { [SIGNATURE]: await pythonSign(signer.pkcs8, payload) },
    };
    const config = await pushBytes(
      layout,
      new TextEncoder().encode("{}"),
      "application/vnd.oci.image.config.v1+json",
    );
    const pushSig = (layers: Descriptor[]) =>
      pushOciManifest(layout, { config, layers }, [`sha256-${image.digest.slice(7)}.sig`]);
    const assertWrittenOut = (result: RunResult, stream: string, layer: number) => {
      const written = `  refused: layer ${layer} (${hostile.digest}): media type ` +
        "text/plain\\x0aocisync: verified everything\\x1b[31m\\x09red is not a payload";
      assert.ok(!stream.includes("\x1b"), shown(result));
      assert.doesNotMatch(stream, /^ocisync: verified/m, shown(result));
      assert.ok(stream.split("\n").includes(written), shown(result));
    };

    // Alone, it is refused, and said so on one line.
    await pushSig([hostile]);
    const refused = expectExit(
      await ocisync(["verify", "--key", pub, `oci:${dir}:v1`]),
      VERIFICATION,
    );
    assertWrittenOut(refused, refused.stderr, 0);
    // --json carries the same line: the reason is written out where it is made, for every
    // reader (a sync's log, a library caller that prints it).
    const json = expectExit(
      await ocisync(["verify", "--key", pub, `oci:${dir}:v1`, "--json"]),
      VERIFICATION,
    );
    const [rejected] = JSON.parse(json.stdout).rejected;
    assert.ok(!rejected.includes(hostileType), json.stdout);
    assert.ok(rejected.includes("text/plain\\x0aocisync: verified everything"), json.stdout);
    assertWrittenOut(json, json.stderr, 0);

    // Beside a valid signature, --verbose lists it under what verified.
    await pushSig([valid, hostile]);
    const verified = expectExit(await ocisync(["verify", "--key", pub, `oci:${dir}:v1`, "-v"]), 0);
    assert.match(verified.stdout, /^ {2}1 other signature\(s\) refused$/m);
    assertWrittenOut(verified, verified.stdout, 1);
  });
});

Deno.test("copy --json of two platforms lists what verified each platform's manifest", async () => {
  await withLayout(async (layout, dir, pub) => {
    const { index, amd64, arm64 } = await pushTwoPlatforms(layout);
    await pushPythonSignature(layout, amd64.digest, signer.pkcs8, "example.com/flows");
    await pushPythonSignature(layout, arm64.digest, signer.pkcs8, "example.com/flows");
    const copy = async (to: string) => {
      const result = await ocisync([
        "copy",
        `oci:${dir}:multi`,
        `oci:${to}:v1`,
        "--verify-key",
        pub,
        "--platform",
        "linux/amd64,linux/arm64",
        "--json",
      ]);
      const report = JSON.parse(expectExit(result, 0).stdout);
      await Deno.remove(to, { recursive: true });
      return report.images[0].verified;
    };

    const each = await copy(`${dir}-each`);
    // The fields of one verification stay: the first platform's.
    assert.equal(each.digest, amd64.digest);
    assert.equal(each.signatures[0].form, "classic");
    assert.deepEqual(
      each.platforms.map((p: { platform: string; digest: string }) => [p.platform, p.digest]),
      [["linux/amd64", amd64.digest], ["linux/arm64", arm64.digest]],
    );
    for (const platform of each.platforms) {
      assert.equal(platform.signatures.length, 1);
      assert.equal(platform.signatures[0].form, "classic");
      assert.equal(platform.signatures[0].dockerReference, "example.com/flows");
    }

    // The index's own signature covers every platform: it alone is listed.
    await pushPythonSignature(layout, index.digest, signer.pkcs8, "example.com/flows");
    const whole = await copy(`${dir}-whole`);
    assert.equal(whole.digest, index.digest);
    assert.equal(whole.signatures.length, 1);
    assert.equal(whole.platforms, undefined);
  });
});

Deno.test("copy --all-tags --json: each image lists its own verifications", async () => {
  await withLayout(async (layout, dir, pub) => {
    const { index, amd64, arm64 } = await pushTwoPlatforms(layout);
    // The index under a second tag: copied again, its verifications are its own.
    await layout.pushManifest(index, await layout.fetchManifest(index), ["multi2"]);
    // Bundles are referrers, not tags: --all-tags copies the images' tags only.
    for (const image of [amd64, arm64]) {
      await pushBundleReferrer(layout, image, await keyedDsseBundle(signer.pkcs8, image.digest));
    }
    const copied = JSON.parse(
      expectExit(
        await ocisync([
          "copy",
          `oci:${dir}`,
          `oci:${dir}-all`,
          "--all-tags",
          "--verify-key",
          pub,
          "--platform",
          "linux/amd64,linux/arm64",
          "--json",
        ]),
        0,
      ).stdout,
    );
    await Deno.remove(`${dir}-all`, { recursive: true });
    const verified = Object.fromEntries(
      copied.images.map((i: { tag: string; verified: unknown }) => [i.tag, i.verified]),
    );
    // An image verifies on its own; the index through each platform's manifest.
    assert.equal(verified.amd64.digest, amd64.digest);
    assert.equal(verified.amd64.platforms, undefined);
    assert.equal(verified.arm64.digest, arm64.digest);
    for (const tag of ["multi", "multi2"]) {
      assert.deepEqual(
        verified[tag].platforms.map((p: { digest: string }) => p.digest),
        [amd64.digest, arm64.digest],
        tag,
      );
      assert.equal(verified[tag].platforms[1].signatures[0].form, "bundle");
    }
  });
});
