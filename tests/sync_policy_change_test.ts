/**
 * A sync whose verification policy changed (verification turned on, a key rotated, a state from a
 * release that did not record the policy) checks the digest the state has before it calls it
 * unchanged, against the real Distribution registry; and a config's empty `verifyKey` list is
 * refused. As in verify_flow_test.ts, keys are made and payloads signed by Python's
 * `cryptography`, and images are pushed by hand: ocisync's signer never judges its verifier.
 */
import assert from "node:assert/strict";
import { NotFoundError, UsageError } from "../src/errors/mod.ts";
import { parseReference, parseRegistryReference } from "../src/ref/mod.ts";
import { RegistryTarget } from "../src/remote/registry.ts";
import {
  directoryOutput,
  syncLoop,
  SyncMetrics,
  SyncState,
  type SyncTick,
  verifierPolicy,
} from "../src/sync/mod.ts";
import { parseSyncConfig } from "../src/sync/config_file.ts";
import { parsePublicKey, SignatureError, Verifier } from "../src/trust/mod.ts";
import { ocisync, shown } from "./helpers/cli.ts";
import { pushLayersImage, pushPythonSignature, pythonKeys } from "./helpers/cosign_vectors.ts";
import { type TestRegistry, withRegistry } from "./helpers/registry.ts";

const oldKey = await pythonKeys();
const newKey = await pythonKeys();

const FILES = [{ content: "x: 1\n", mediaType: "text/plain", title: "app.yaml" }];

function targetOf(registry: TestRegistry): RegistryTarget {
  return new RegistryTarget(parseRegistryReference(`${registry.host}/team/flows`));
}

/** A verifier of one public key and its policy's fingerprint, as the CLI reads them. */
async function verification(
  dir: string,
  name: string,
  publicPem: string,
): Promise<{ verifier: Verifier; verifierPolicy: string }> {
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, publicPem);
  return {
    verifier: new Verifier({ publicKeys: [parsePublicKey(publicPem)] }),
    verifierPolicy: (await verifierPolicy({ verifyKeys: [path] }))!,
  };
}

/**
 * The ticks of one sync "process": a loop on a state read afresh from `tmp/state.json`, into
 * `tmp/live`, with the requests each tick sent.
 */
async function startSync(
  registry: TestRegistry,
  tmp: string,
  options: { verifier?: Verifier; verifierPolicy?: string; reference?: string } = {},
): Promise<{
  next(): Promise<{ tick: SyncTick; sent: { method: string; path: string }[] }>;
  close(): Promise<void>;
}> {
  const ticks = syncLoop({
    reference: parseReference(options.reference ?? `${registry.host}/team/flows:prod`),
    outputs: [directoryOutput(`${tmp}/live`)],
    interval: 10,
    state: await SyncState.open(`${tmp}/state.json`),
    ...(options.verifier ? { verifier: options.verifier } : {}),
    ...(options.verifierPolicy ? { verifierPolicy: options.verifierPolicy } : {}),
    open: () => Promise.resolve(targetOf(registry)),
  });
  return {
    async next() {
      const before = (await registry.requests()).length;
      const tick = (await ticks.next()).value!;
      return { tick, sent: (await registry.requests()).slice(before) };
    },
    async close() {
      await ticks.return();
    },
  };
}

/** The entries the state file holds now. */
async function stateFile(tmp: string): Promise<Record<string, Record<string, unknown>>> {
  return JSON.parse(await Deno.readTextFile(`${tmp}/state.json`)).references;
}

/** Whether a request fetched one of `layers`: a pull, not only a verification. */
function pulled(sent: { method: string; path: string }[], layers: { digest: string }[]): boolean {
  return sent.some((r) => r.method === "GET" && layers.some((l) => r.path.endsWith(l.digest)));
}

/** Runs one tick of a new process, then ends it. */
async function oneTick(
  registry: TestRegistry,
  tmp: string,
  options: Parameters<typeof startSync>[2] = {},
): Promise<{ tick: SyncTick; sent: { method: string; path: string }[] }> {
  const loop = await startSync(registry, tmp, options);
  try {
    return await loop.next();
  } finally {
    await loop.close();
  }
}

Deno.test("sync: a digest delivered unverified is verified before a verifying sync calls it unchanged", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const target = targetOf(registry);
    try {
      const image = await pushLayersImage(target, "prod", FILES);
      const reference = `${registry.host}/team/flows:prod`;
      const byDigest = `${registry.host}/team/flows@${image.descriptor.digest}`;
      for (const ref of [reference, byDigest]) {
        assert.equal((await oneTick(registry, tmp, { reference: ref })).tick.status, "changed");
      }
      const recorded = await stateFile(tmp);
      assert.equal(recorded[reference].verification, "none");

      const old = await verification(tmp, "old.pub", oldKey.public);
      for (const ref of [reference, byDigest]) {
        const { tick, sent } = await oneTick(registry, tmp, { ...old, reference: ref });
        assert.equal(tick.status, "failed", ref);
        assert.ok(tick.error instanceof SignatureError, ref);
        assert.equal(pulled(sent, image.layers), false, "nothing pulled");
        // The folder keeps what it had, but the tick is no success: /healthz is not OK.
        const metrics = new SyncMetrics([{ reference: tick.reference, interval: 60_000 }]);
        metrics.record(tick);
        assert.equal(metrics.health().healthy, false);
      }
      assert.equal(await Deno.readTextFile(`${tmp}/live/current/app.yaml`), "x: 1\n");
      assert.deepEqual(await stateFile(tmp), recorded, "the state is not advanced");

      // Signed now: the next process verifies it, records the policy, pulls nothing.
      await pushPythonSignature(target, image.descriptor.digest, oldKey.pkcs8, target.name);
      const loop = await startSync(registry, tmp, old);
      try {
        const { tick, sent } = await loop.next();
        assert.equal(tick.status, "unchanged");
        assert.ok(sent.some((r) => r.path.includes(".sig")), "verified");
        assert.equal(pulled(sent, image.layers), false, "not pulled again");
        assert.equal((await stateFile(tmp))[reference].verification, old.verifierPolicy);
        // And then an idle tick is one HEAD again.
        const idle = await loop.next();
        assert.equal(idle.tick.status, "unchanged");
        assert.deepEqual(idle.sent.map((r) => r.method), ["HEAD"]);
      } finally {
        await loop.close();
      }
    } finally {
      target.close();
    }
  });
});

Deno.test("sync: after a key rotation the delivered digest is refused; an unchanged policy costs one HEAD", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const target = targetOf(registry);
    try {
      const image = await pushLayersImage(target, "prod", FILES);
      await pushPythonSignature(target, image.descriptor.digest, oldKey.pkcs8, target.name);
      const old = await verification(tmp, "old.pub", oldKey.public);
      const rotated = await verification(tmp, "new.pub", newKey.public);
      assert.notEqual(old.verifierPolicy, rotated.verifierPolicy);
      assert.equal((await oneTick(registry, tmp, old)).tick.status, "changed");

      // A restart under the same policy verifies nothing again.
      const same = await oneTick(registry, tmp, old);
      assert.equal(same.tick.status, "unchanged");
      assert.deepEqual(same.sent.map((r) => r.method), ["HEAD"]);

      const refused = await oneTick(registry, tmp, rotated);
      assert.equal(refused.tick.status, "failed");
      assert.ok(refused.tick.error instanceof SignatureError);
      assert.equal(pulled(refused.sent, image.layers), false);
      const reference = `${registry.host}/team/flows:prod`;
      assert.equal((await stateFile(tmp))[reference].verification, old.verifierPolicy);
      // Refused again at the next start: a failed check records nothing.
      assert.equal((await oneTick(registry, tmp, rotated)).tick.status, "failed");
    } finally {
      target.close();
    }
  });
});

Deno.test("sync: a state without a recorded policy, or a verifier without one, verifies once", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const target = targetOf(registry);
    try {
      const image = await pushLayersImage(target, "prod", FILES);
      await pushPythonSignature(target, image.descriptor.digest, oldKey.pkcs8, target.name);
      assert.equal((await oneTick(registry, tmp)).tick.status, "changed");
      // A state file as an older release wrote it: no "verification".
      const reference = `${registry.host}/team/flows:prod`;
      const entries = await stateFile(tmp);
      delete entries[reference].verification;
      await Deno.writeTextFile(
        `${tmp}/state.json`,
        JSON.stringify({ version: 1, references: entries }),
      );

      const old = await verification(tmp, "old.pub", oldKey.public);
      const upgraded = await oneTick(registry, tmp, old);
      assert.equal(upgraded.tick.status, "unchanged");
      assert.ok(upgraded.sent.length > 1, "verified");
      assert.equal(pulled(upgraded.sent, image.layers), false, "not pulled again");
      assert.equal((await stateFile(tmp))[reference].verification, old.verifierPolicy);

      // A verifier whose policy is not given: verified at the loop's first tick, not after.
      const loop = await startSync(registry, tmp, { verifier: old.verifier });
      try {
        const first = await loop.next();
        assert.equal(first.tick.status, "unchanged");
        assert.ok(first.sent.some((r) => r.path.includes(".sig")), "verified");
        const idle = await loop.next();
        assert.deepEqual(idle.sent.map((r) => r.method), ["HEAD"]);
      } finally {
        await loop.close();
      }
    } finally {
      target.close();
    }
  });
});

Deno.test("sync --once --verify-key on a state of an unverified sync, or after a key rotation, exits 8", async () => {
  await withRegistry({}, async (registry, tmp) => {
    const target = targetOf(registry);
    try {
      const image = await pushLayersImage(target, "prod", FILES);
      await Deno.writeTextFile(`${tmp}/old.pub`, oldKey.public);
      await Deno.writeTextFile(`${tmp}/new.pub`, newKey.public);
      const sync = (...more: string[]) =>
        ocisync([
          "sync",
          `${registry.host}/team/flows:prod`,
          "-o",
          `${tmp}/srv`,
          "--state",
          `${tmp}/state.json`,
          "--once",
          ...more,
        ]);
      const unverified = await sync();
      assert.equal(unverified.code, 0, shown(unverified));
      const refused = await sync("--verify-key", `${tmp}/old.pub`);
      assert.equal(refused.code, 8, shown(refused));
      assert.match(refused.stderr, / failed \(exit 8, 1 in a row\): signature refused: /);

      await pushPythonSignature(target, image.descriptor.digest, oldKey.pkcs8, target.name);
      const verified = await sync("--verify-key", `${tmp}/old.pub`);
      assert.equal(verified.code, 0, shown(verified));
      assert.match(verified.stderr, / unchanged /);
      const rotated = await sync("--verify-key", `${tmp}/new.pub`);
      assert.equal(rotated.code, 8, shown(rotated));
      assert.equal(await Deno.readTextFile(`${tmp}/srv/current/app.yaml`), "x: 1\n");
    } finally {
      target.close();
    }
  });
});

Deno.test("verifierPolicy names the keys and the keyless policy, not the files", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-policy-" });
  try {
    const write = async (name: string, text: string) => {
      await Deno.writeTextFile(`${tmp}/${name}`, text);
      return `${tmp}/${name}`;
    };
    const a = await write("a.pub", oldKey.public);
    const aAgain = await write("a-crlf.pub", oldKey.public.replaceAll("\n", "\r\n"));
    const b = await write("b.pub", newKey.public);
    const root = await write("root.json", '{"mediaType":"x"}');
    const otherRoot = await write("root2.json", '{"mediaType":"y"}');

    assert.equal(await verifierPolicy(undefined), undefined);
    // A key list that came out empty asks for verification with nothing: refused.
    await assert.rejects(verifierPolicy({ verifyKeys: [] }), UsageError);
    const ab = await verifierPolicy({ verifyKeys: [a, b] });
    assert.match(ab!, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await verifierPolicy({ verifyKeys: [b, aAgain] }), ab, "order and layout");
    assert.notEqual(await verifierPolicy({ verifyKeys: [a] }), ab);

    const keyless = {
      trustedRoot: root,
      certificateIdentity: "https://github.com/acme/flows/.github/workflows/release.yml@main",
      certificateOidcIssuer: "https://token.actions.githubusercontent.com",
    };
    const base = await verifierPolicy(keyless);
    const variants = [
      { ...keyless, trustedRoot: otherRoot },
      { ...keyless, certificateIdentity: undefined, certificateIdentityRegexp: "^https://" },
      { ...keyless, certificateOidcIssuerRegexp: "github" },
      { ...keyless, insecureIgnoreTlog: true },
      { ...keyless, insecureIgnoreSct: true },
      { ...keyless, verifyKeys: [a] },
    ];
    const seen = new Set([base]);
    for (const variant of variants) seen.add(await verifierPolicy(variant));
    assert.equal(seen.size, variants.length + 1, "each change is another policy");

    await assert.rejects(verifierPolicy({ verifyKeys: [`${tmp}/missing.pub`] }), NotFoundError);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("config: an empty verifyKey list is refused, at the top or in a target", async () => {
  const refused = (text: string, message: RegExp) =>
    assert.rejects(() => parseSyncConfig(text, "s.yaml"), (e: Error) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, message);
      return true;
    });
  await refused(
    [
      "verifyKey: /etc/ocisync/cosign.pub",
      "targets:",
      "  - reference: localhost:5000/a:v1",
      "    output: /srv/a",
      "    verifyKey: []",
    ].join("\n"),
    /^s\.yaml:5:16: verifyKey is an empty list$/,
  );
  await refused(
    "verifyKey: []\ntargets:\n  - reference: localhost:5000/a:v1\n    events: true\n",
    /^s\.yaml:1:12: verifyKey is an empty list$/,
  );
  // A target's own keys still replace the top's.
  const config = await parseSyncConfig(
    [
      "verifyKey: /etc/ocisync/a.pub",
      "targets:",
      "  - reference: localhost:5000/a:v1",
      "    events: true",
      "    verifyKey: [/etc/ocisync/b.pub]",
    ].join("\n"),
    "s.yaml",
  );
  assert.deepEqual(config.targets[0].verify, { verifyKeys: ["/etc/ocisync/b.pub"] });
});
