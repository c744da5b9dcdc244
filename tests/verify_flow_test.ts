/**
 * Verification where content lands — pull, copy, sync — and layer selection, against the real
 * Distribution registry. Signatures are made outside ocisync (Python's `cryptography` signs
 * payloads and bundles typed by hand from cosign's specification), and images are pushed by
 * hand, so that ocisync's signer and pusher are not what judges ocisync.
 */
import assert from "node:assert/strict";
import { copyImage } from "../src/copy/mod.ts";
import { pull } from "../src/pull/mod.ts";
import { parseReference, parseRegistryReference } from "../src/ref/mod.ts";
import { RegistryTarget } from "../src/remote/registry.ts";
import { directoryOutput, syncLoop, SyncMetrics, type SyncTick } from "../src/sync/mod.ts";
import { parsePublicKey, SignatureError, Verifier } from "../src/trust/mod.ts";
import {
  keyedDsseBundle,
  pushBundleReferrer,
  pushLayersImage,
  pushPythonSignature,
  pythonKeys,
  refusal,
} from "./helpers/cosign_vectors.ts";
import { type TestRegistry, withRegistry } from "./helpers/registry.ts";
import { exists } from "./helpers/tree.ts";

const signer = await pythonKeys();
const stranger = await pythonKeys();
const verifier = new Verifier({ publicKeys: [parsePublicKey(signer.public)] });

function targetOf(registry: TestRegistry, repository: string): RegistryTarget {
  return new RegistryTarget(parseRegistryReference(`${registry.host}/${repository}`));
}

const FILES = [
  { content: "x: 1\n", mediaType: "text/plain", title: "app.yaml" },
  { content: '{"a":1}', mediaType: "application/json", title: "data.json" },
];

Deno.test("pull with a verifier: nothing written unsigned or wrongly signed; a signed image lands", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const target = targetOf(registry, "team/flows");
    try {
      const unsigned = await pushLayersImage(target, "unsigned", FILES);
      const wrong = await pushLayersImage(target, "wrong", [...FILES, {
        content: "w",
        mediaType: "text/plain",
        title: "w.txt",
      }]);
      const signed = await pushLayersImage(target, "signed", [...FILES, {
        content: "s",
        mediaType: "text/plain",
        title: "s.txt",
      }]);
      await pushPythonSignature(target, wrong.descriptor.digest, stranger.pkcs8, target.name);
      await pushPythonSignature(target, signed.descriptor.digest, signer.pkcs8, target.name);

      for (const [tag, reason] of [["unsigned", "no-signature"], ["wrong", "invalid-signature"]]) {
        const before = (await registry.requests()).length;
        const error = await refusal(
          pull(target, await target.resolve(tag), `${tmp}/out-${tag}/deep`, { verifier }),
        );
        assert.equal(error.reason, reason);
        assert.equal(error.kind, "integrity"); // exit 5
        assert.equal(await exists(`${tmp}/out-${tag}`), false, "nothing written");
        const blobs = (await registry.requests()).slice(before).filter((r) =>
          r.method === "GET" && r.path.includes("/blobs/")
        );
        // Only signature payloads may have been read: never a layer of the image.
        const layerDigests = (tag === "unsigned" ? unsigned : wrong).layers.map((l) => l.digest);
        assert.ok(blobs.every((r) => !layerDigests.some((d) => r.path.endsWith(d))));
      }

      const result = await pull(target, await target.resolve("signed"), `${tmp}/out`, {
        verifier,
      });
      assert.equal(result.digest, signed.descriptor.digest);
      assert.equal(result.verified?.descriptor.digest, signed.descriptor.digest);
      assert.equal(await Deno.readTextFile(`${tmp}/out/s.txt`), "s");
    } finally {
      target.close();
    }
  });
});

Deno.test("copy with signatures carries the .sig manifest and bundles; the destination verifies", async () => {
  await withRegistry({}, async (a) => {
    await withRegistry({}, async (b) => {
      const source = targetOf(a, "team/flows");
      const destination = targetOf(b, "mirror/flows");
      try {
        const image = await pushLayersImage(source, "v1", FILES);
        await pushPythonSignature(source, image.descriptor.digest, signer.pkcs8, source.name);
        const bundle = await keyedDsseBundle(signer.pkcs8, image.descriptor.digest);
        const referrer = await pushBundleReferrer(source, image.descriptor, bundle, {
          fallbackTag: true,
        });

        const result = await copyImage(
          source,
          await source.resolve("v1"),
          destination,
          ["v1"],
          { verifier, signatures: true },
        );
        assert.equal(result.digest, image.descriptor.digest);
        assert.equal(result.signatures, 2, ".sig manifest and one bundle");
        assert.equal(result.verified?.descriptor.digest, image.descriptor.digest);

        // The destination has the .sig tag, the referrer, and lists it (fallback tag schema).
        const sigTag = `sha256-${image.descriptor.digest.slice(7)}.sig`;
        const tags = await Array.fromAsync(destination.tags());
        assert.ok(tags.includes(sigTag), `${sigTag} in ${tags}`);
        const listed = await Array.fromAsync(destination.referrers(image.descriptor));
        assert.deepEqual(listed.map((d) => d.digest), [referrer.digest]);

        // Verified at the destination: the classic form, and the bundle on its own.
        const atDestination = await verifier.verify(destination, await destination.resolve("v1"));
        assert.equal(atDestination.classic.length, 1);
        const { verifyBundles } = await import("../src/trust/mod.ts");
        const bundles = await verifyBundles(destination, image.descriptor, {
          publicKeys: [parsePublicKey(signer.public)],
        });
        assert.equal(bundles.bundles.length, 1);

        // An unsigned image is not copied at all.
        await pushLayersImage(source, "unsigned", [FILES[0]]);
        const before = (await b.requests()).length;
        await refusal(
          copyImage(source, await source.resolve("unsigned"), destination, ["unsigned"], {
            verifier,
            signatures: true,
          }),
        );
        assert.deepEqual((await b.requests()).slice(before), [], "nothing sent to the mirror");
      } finally {
        source.close();
        destination.close();
      }
    });
  });
});

Deno.test("sync retagged to an unsigned image keeps current on the signed one and counts it", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const target = targetOf(registry, "team/flows");
    const v1 = await pushLayersImage(target, "prod", FILES);
    await pushPythonSignature(target, v1.descriptor.digest, signer.pkcs8, target.name);
    const reference = `${registry.host}/team/flows:prod`;
    const metrics = new SyncMetrics([{ reference, interval: 60_000 }]);
    const ticks = syncLoop({
      reference: parseReference(reference),
      outputs: [directoryOutput(`${tmp}/live`)],
      interval: 10,
      verifier,
      open: () => Promise.resolve(targetOf(registry, "team/flows")),
    });
    const next = async (): Promise<SyncTick> => {
      const tick = (await ticks.next()).value!;
      metrics.record(tick);
      return tick;
    };
    const current = async () => (await Deno.readLink(`${tmp}/live/current`)).split("/").pop();
    try {
      const first = await next();
      assert.equal(first.status, "changed");
      assert.equal(await current(), v1.descriptor.digest.slice(7));

      await pushLayersImage(target, "prod", [{ ...FILES[0], content: "x: 2\n" }]);
      const refused = await next();
      assert.equal(refused.status, "failed");
      assert.ok(refused.error instanceof SignatureError);
      assert.equal(refused.digest, v1.descriptor.digest, "the last good digest");
      assert.equal(await current(), v1.descriptor.digest.slice(7));
      assert.equal(await Deno.readTextFile(`${tmp}/live/current/app.yaml`), "x: 1\n");

      // The same refused digest costs one HEAD, not another verification.
      const before = (await registry.requests()).length;
      assert.equal((await next()).status, "failed");
      const sent = (await registry.requests()).slice(before);
      assert.deepEqual(sent.map((r) => r.method), ["HEAD"]);

      assert.match(
        metrics.prometheus(),
        new RegExp(
          `ocisync_sync_verification_failures_total\\{target="0",reference="${reference}"\\} 2`,
        ),
      );
      const [health] = metrics.health().targets;
      assert.equal(health.verificationFailures, 2);
      assert.match(health.lastError ?? "", /^signature refused: /);
      assert.equal(health.digest, v1.descriptor.digest);
    } finally {
      await ticks.return();
      target.close();
    }
  });
});

Deno.test("layer selection: only matching blobs are fetched; copy writes them as files", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const target = targetOf(registry, "team/models");
    try {
      const image = await pushLayersImage(target, "v1", [
        { content: "weights", mediaType: "application/vnd.acme.model.v1", title: "model.bin" },
        { content: "readme", mediaType: "text/markdown", title: "README.md" },
        { content: "tokenizer", mediaType: "application/vnd.acme.model.tokenizer" },
        { content: "unsafe", mediaType: "application/x-other", title: "../escape" },
      ]);
      const blobGets = async (since: number) =>
        (await registry.requests()).slice(since).filter((r) =>
          r.method === "GET" && r.path.includes("/blobs/")
        ).map((r) => r.path.slice(r.path.lastIndexOf("/") + 1));

      let before = (await registry.requests()).length;
      const copied = await pull(target, await target.resolve("v1"), `${tmp}/copy`, {
        layerMediaTypes: ["application/vnd.acme.model*"],
        layerOperation: "copy",
      });
      assert.deepEqual(copied.files, ["model.bin", "layer-2"]);
      assert.deepEqual(copied.layers, [0, 2]);
      assert.deepEqual(
        (await blobGets(before)).sort(),
        [image.layers[0].digest, image.layers[2].digest].sort(),
      );
      assert.equal(await Deno.readTextFile(`${tmp}/copy/model.bin`), "weights");
      assert.equal(await Deno.readTextFile(`${tmp}/copy/layer-2`), "tokenizer");
      assert.deepEqual([...Deno.readDirSync(`${tmp}/copy`)].map((e) => e.name).sort(), [
        "layer-2",
        "model.bin",
      ]);

      before = (await registry.requests()).length;
      const extracted = await pull(target, await target.resolve("v1"), `${tmp}/extract`, {
        layerMediaTypes: ["text/*"],
      });
      assert.deepEqual(extracted.files, ["README.md"]);
      assert.deepEqual(await blobGets(before), [image.layers[1].digest]);

      // A title that is no plain file name is refused before anything is written.
      await assert.rejects(
        pull(target, await target.resolve("v1"), `${tmp}/bad`, {
          layerMediaTypes: ["application/x-other"],
          layerOperation: "copy",
        }),
        /refusing to copy layer 3/,
      );
      assert.equal(await exists(`${tmp}/bad`), false);
      await assert.rejects(
        pull(target, await target.resolve("v1"), `${tmp}/none`, { layerMediaTypes: ["image/*"] }),
        /no layer .* matching image\/\*/,
      );

      // sync's folder output takes the same selection.
      const ticks = syncLoop({
        reference: parseReference(`${registry.host}/team/models:v1`),
        outputs: [
          directoryOutput(`${tmp}/live`, {
            layerMediaTypes: ["application/vnd.acme.model.v1"],
            layerOperation: "copy",
          }),
        ],
        interval: 1000,
        once: true,
        open: () => Promise.resolve(targetOf(registry, "team/models")),
      });
      assert.equal((await ticks.next()).value?.status, "changed");
      await ticks.return();
      assert.deepEqual([...Deno.readDirSync(`${tmp}/live/current`)].map((e) => e.name), [
        "model.bin",
      ]);
    } finally {
      target.close();
    }
  });
});

Deno.test("sync sees a signature added later to a refused digest once recheckRefused has passed", async () => {
  // Long enough for a Python signer to start on a loaded machine.
  const RECHECK_MS = 3000;
  await withRegistry({}, async (registry, tmp) => {
    const target = targetOf(registry, "team/flows");
    const unsigned = await pushLayersImage(target, "prod", FILES);
    const ticks = syncLoop({
      reference: parseReference(`${registry.host}/team/flows:prod`),
      outputs: [directoryOutput(`${tmp}/live`)],
      interval: 10,
      recheckRefused: RECHECK_MS,
      verifier,
      open: () => Promise.resolve(targetOf(registry, "team/flows")),
    });
    try {
      assert.equal((await ticks.next()).value!.status, "failed");
      const refusedAt = performance.now();
      await pushPythonSignature(target, unsigned.descriptor.digest, signer.pkcs8, target.name);
      // Within the recheck period the refusal is remembered: one HEAD, no verification.
      const before = (await registry.requests()).length;
      assert.equal((await ticks.next()).value!.status, "failed");
      assert.deepEqual((await registry.requests()).slice(before).map((r) => r.method), ["HEAD"]);

      const left = RECHECK_MS - (performance.now() - refusedAt);
      assert.ok(left > 0, "the second tick ran within the recheck period");
      await new Promise((done) => setTimeout(done, left + 50));
      const delivered = (await ticks.next()).value!;
      assert.equal(delivered.status, "changed");
      assert.equal(delivered.digest, unsigned.descriptor.digest);
      assert.equal(await Deno.readTextFile(`${tmp}/live/current/app.yaml`), "x: 1\n");
    } finally {
      await ticks.return();
      target.close();
    }
  });
});
