/**
 * Tag policies against the real Distribution registry: picking by semver range and by regex,
 * `pull` of a repository without a tag, and a sync that follows the highest match, whose
 * unchanged tick costs the tag list and one HEAD. Images are pushed by hand.
 */
import assert from "node:assert/strict";
import { pull } from "../src/pull/mod.ts";
import { parseReference, parseRegistryReference } from "../src/ref/mod.ts";
import { RegistryTarget } from "../src/remote/registry.ts";
import { eventsOutput, syncLoop, SyncMetrics } from "../src/sync/mod.ts";
import { parseSyncConfig } from "../src/sync/config_file.ts";
import { pickTag, resolveTagPolicy, TagNotFoundError } from "../src/sync/policy.ts";
import { pushLayersImage } from "./helpers/cosign_vectors.ts";
import { type TestRegistry, withRegistry } from "./helpers/registry.ts";

function targetOf(registry: TestRegistry, repository: string): RegistryTarget {
  return new RegistryTarget(parseRegistryReference(`${registry.host}/${repository}`));
}

async function pushVersion(target: RegistryTarget, tag: string): Promise<string> {
  const image = await pushLayersImage(target, tag, [
    { content: `version ${tag}\n`, mediaType: "text/plain", title: "version.txt" },
  ]);
  return image.descriptor.digest;
}

Deno.test("semver and regex picks from a registry's tags; pull of a repository by policy", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const target = targetOf(registry, "team/flows");
    try {
      for (const tag of ["1.0.0", "1.2.0", "2.0.0", "v1.3.0-rc.1", "nightly-20240101"]) {
        await pushVersion(target, tag);
      }
      await pushVersion(target, "nightly-20240315");
      assert.equal(await pickTag(target, { semver: "^1" }), "1.2.0");
      assert.equal(await pickTag(target, { semver: ">=1.3.0-rc.0 <2" }), "v1.3.0-rc.1");
      assert.equal(await pickTag(target, { tagRegex: "^nightly-" }), "nightly-20240315");
      const error = await pickTag(target, { semver: "^3" }).catch((e) => e);
      assert.ok(error instanceof TagNotFoundError, String(error));
      assert.match(error.message, /semver "\^3"/);

      const reference = parseReference(`${registry.host}/team/flows`);
      const { tag, descriptor } = await resolveTagPolicy(target, reference, { semver: "^1" });
      assert.equal(tag, "1.2.0");
      await pull(target, descriptor, `${tmp}/out`);
      assert.equal(await Deno.readTextFile(`${tmp}/out/version.txt`), "version 1.2.0\n");
      await assert.rejects(
        resolveTagPolicy(target, parseReference(`${registry.host}/team/flows:1.0.0`), {
          semver: "^1",
        }),
        /names a tag/,
      );
    } finally {
      target.close();
    }
  });
});

Deno.test("sync with a policy: the tag list plus one HEAD per unchanged tick; a new match moves", async () => {
  await withRegistry({}, async (registry) => {
    const target = targetOf(registry, "team/flows");
    const lines: Record<string, unknown>[] = [];
    const reference = `${registry.host}/team/flows`;
    const metrics = new SyncMetrics([{ reference, interval: 60_000 }]);
    const ticks = syncLoop({
      reference: parseReference(reference),
      tagPolicy: { semver: "^1" },
      outputs: [
        eventsOutput({
          write: (chunk) => {
            lines.push(
              ...new TextDecoder().decode(chunk).split("\n").filter((l) => l !== "")
                .map((l) => JSON.parse(l)),
            );
            return Promise.resolve(chunk.length);
          },
        }),
      ],
      interval: 10,
      open: () => Promise.resolve(targetOf(registry, "team/flows")),
    });
    try {
      await pushVersion(target, "1.0.0");
      const v12 = await pushVersion(target, "1.2.0");
      await pushVersion(target, "2.0.0");

      const first = (await ticks.next()).value!;
      metrics.record(first);
      assert.equal(first.status, "changed");
      assert.equal(first.tag, "1.2.0");
      assert.equal(first.digest, v12);
      assert.ok(lines.length > 0);
      assert.ok(lines.every((line) => line.tag === "1.2.0"), JSON.stringify(lines));

      for (let i = 0; i < 2; i++) {
        const before = (await registry.requests()).length;
        const tick = (await ticks.next()).value!;
        metrics.record(tick);
        assert.equal(tick.status, "unchanged");
        assert.equal(tick.tag, "1.2.0");
        const sent = (await registry.requests()).slice(before);
        assert.deepEqual(sent.map((r) => [r.method, r.path]), [
          ["GET", "/v2/team/flows/tags/list?n=1000"],
          ["HEAD", "/v2/team/flows/manifests/1.2.0"],
        ]);
      }

      const v14 = await pushVersion(target, "v1.4.0");
      const moved = (await ticks.next()).value!;
      metrics.record(moved);
      assert.equal(moved.status, "changed");
      assert.equal(moved.tag, "v1.4.0");
      assert.equal(moved.digest, v14);
      assert.equal(moved.previous, v12);
      assert.equal(metrics.health().targets[0].tag, "v1.4.0");
      assert.match(metrics.prometheus(), /ocisync_sync_info\{.*,tag="v1\.4\.0"\} 1/);
    } finally {
      await ticks.return();
      target.close();
    }
  });
});

Deno.test("--config: a number is taken as written, as the same text on the command line", async () => {
  // YAML reads `1.10` as the number 1.1: the policy followed 1.1.x, an older line than 1.10.x.
  const { targets: [target] } = await parseSyncConfig(
    [
      "targets:",
      "  - reference: localhost:5000/team/models",
      "    semver: 1.10",
      "    tagRegex: 2.0",
      "    output: 12345678901234567890",
      "    exec: 1e3",
      "",
    ].join("\n"),
    "sync.yaml",
  );
  assert.deepEqual(target.tagPolicy, { semver: "1.10", tagRegex: "2.0" });
  assert.equal(target.output, "12345678901234567890");
  assert.equal(target.exec, "1e3");
  // Not 16: `--keep 0x10` is refused, and so is the same text in a config.
  await assert.rejects(
    () =>
      parseSyncConfig(
        "targets:\n  - reference: localhost:5000/app:v1\n    output: /srv/app\n    keep: 0x10\n",
        "sync.yaml",
      ),
    /sync\.yaml:4:11: keep.*0x10/,
  );
});

Deno.test("--config: policy, verification and layer keys, checked with their place", async () => {
  const { targets: [target] } = await parseSyncConfig(
    [
      "verifyKey: /etc/ocisync/a.pub",
      "targets:",
      "  - reference: localhost:5000/team/models",
      '    semver: ">=1.2, <2"',
      "    tagRegex: ^v",
      "    output: /srv/models",
      "    layerMediaTypes: [application/vnd.acme.model*, text/*]",
      "    layerOperation: copy",
      "",
    ].join("\n"),
    "sync.yaml",
  );
  assert.deepEqual(target.tagPolicy, { semver: ">=1.2, <2", tagRegex: "^v" });
  assert.deepEqual(target.verify, { verifyKeys: ["/etc/ocisync/a.pub"] });
  assert.deepEqual(target.layerMediaTypes, ["application/vnd.acme.model*", "text/*"]);
  assert.equal(target.layerOperation, "copy");

  const refused = (yaml: string, pattern: RegExp) =>
    assert.rejects(() => parseSyncConfig(yaml, "sync.yaml"), pattern);
  await refused(
    "targets:\n  - reference: localhost:5000/app:v1\n    semver: ^1\n    events: true\n",
    /sync\.yaml:3:13: semver: .*names a tag/,
  );
  await refused(
    "targets:\n  - reference: localhost:5000/app\n    semver: one\n    events: true\n",
    /not a semantic-version range/,
  );
  await refused(
    "targets:\n  - reference: localhost:5000/app\n    layerOperation: copy\n    events: true\n",
    /layerOperation needs .*output/,
  );
  await refused(
    "targets:\n  - reference: localhost:5000/app\n    certificateIdentity: me\n    events: true\n",
    /keyless verification needs .*trustedRoot/,
  );
  await refused(
    "targets:\n  - reference: localhost:5000/app\n    trustedRoot: root.json\n    events: true\n",
    /trustedRoot needs .*certificateIdentity/,
  );
});
