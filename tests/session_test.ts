/**
 * Issue 14, item 1: `Target` is the only seam. A session gives every target of one registry the
 * same client, so that a command learns the registry's challenge once and asks the token server
 * once per scope set; a mount that the registry answers with an upload session (202) is finished
 * in that session by the same call; `copy --referrers` from a layout finds the referrers among
 * the layout's manifests. Counted in the real registry's access log and the test token server's.
 */
import assert from "node:assert/strict";
import { sha256Digest } from "../src/digest/mod.ts";
import { LayoutTarget } from "../src/layout/mod.ts";
import { MediaType } from "../src/oci/mediatypes.ts";
import { isCloser, isMounter, isReferrerLister, isTagPager } from "../src/oci/target.ts";
import type { Descriptor } from "../src/oci/types.ts";
import { pushBlobs } from "../src/push/write.ts";
import { parseReference, parseRegistryReference } from "../src/ref/mod.ts";
import { RegistryTarget } from "../src/remote/registry.ts";
import { closeTarget, openTarget, Session } from "../src/target/mod.ts";
import { ocisync, shown } from "./helpers/cli.ts";
import { costOf, type Sent, sentDuring } from "./helpers/cost.ts";
import { type TestRegistry, withRegistry } from "./helpers/registry.ts";
import { writeTree } from "./helpers/tree.ts";

const enc = new TextEncoder();

const refusals = (sent: Sent) => sent.requests.filter((r) => r.endsWith(" 401"));

function blob(bytes: Uint8Array, mediaType: string = MediaType.OciLayer): Descriptor {
  return { mediaType, digest: sha256Digest(bytes), size: bytes.byteLength };
}

async function pushImage(registry: TestRegistry, tmp: string, reference: string): Promise<void> {
  await writeTree(`${tmp}/src`, { "data.txt": { type: "file", content: "in the base\n" } });
  await costOf(registry, tmp, ["push", reference, `${tmp}/src:/opt`]);
}

/** `copy --json` of an image between two repositories of one registry, with what it cost. */
async function copyWithin(registry: TestRegistry, tmp: string): Promise<Sent & { stdout: string }> {
  await pushImage(registry, tmp, `${registry.host}/t/src:v1`);
  return await costOf(registry, tmp, [
    "copy",
    `${registry.host}/t/src:v1`,
    `${registry.host}/t/dst:v1`,
    "--json",
  ]);
}

Deno.test("token: copy between two repositories of one registry learns the challenge once", async () => {
  await withRegistry({ auth: "token" }, async (registry, tmp) => {
    const copy = await copyWithin(registry, tmp);
    const result = JSON.parse(copy.stdout);
    // The layer and the config, linked within the registry.
    assert.equal(result.blobsMounted, 2, copy.stdout);
    assert.equal(result.blobsCopied, 0, copy.stdout);
    // One challenge for the run (the first request's), where a client per target met two.
    assert.deepEqual(refusals(copy), [`GET /v2/t/src/manifests/v1 401`], copy.requests.join("\n"));
    // One token per scope set: the source's pull, the mounts', the destination's push.
    assert.deepEqual(copy.tokens.toSorted(), [
      "repository:t/dst:pull,push",
      "repository:t/dst:pull,push repository:t/src:pull",
      "repository:t/src:pull",
    ]);
    // The GET by tag twice (the first refused), two mounts, the manifest PUT to its tag.
    assert.equal(copy.requests.length, 5, copy.requests.join("\n"));
  });
});

Deno.test("basic: copy between two repositories of one registry learns the challenge once", async () => {
  await withRegistry({ auth: "basic" }, async (registry, tmp) => {
    const copy = await copyWithin(registry, tmp);
    assert.equal(JSON.parse(copy.stdout).blobsMounted, 2, copy.stdout);
    assert.deepEqual(refusals(copy), [`GET /v2/t/src/manifests/v1 401`], copy.requests.join("\n"));
    assert.deepEqual(copy.tokens, []);
  });
});

/** `push --base` of a small app onto an image in the same registry, with what it cost. */
async function pushOntoBase(
  registry: TestRegistry,
  tmp: string,
): Promise<Sent & { stdout: string }> {
  await pushImage(registry, tmp, `${registry.host}/t/base:v1`);
  await writeTree(`${tmp}/app`, { "main.py": { type: "file", content: "print('app')\n" } });
  return await costOf(registry, tmp, [
    "push",
    `${registry.host}/t/app:v1`,
    `${tmp}/app:/app`,
    "--base",
    `${registry.host}/t/base:v1`,
  ]);
}

Deno.test("token: push --base from the same registry learns the challenge once", async () => {
  await withRegistry({ auth: "token" }, async (registry, tmp) => {
    const push = await pushOntoBase(registry, tmp);
    // The credentials are checked first, which learns the challenge; the base then reads
    // through the same client, where a client of its own was refused once more.
    assert.deepEqual(refusals(push), ["GET /v2/ 401"], push.requests.join("\n"));
    assert.deepEqual(push.tokens.toSorted(), [
      "repository:t/app:pull,push",
      "repository:t/app:pull,push repository:t/base:pull",
      "repository:t/base:pull",
    ]);
    // The base's layer is mounted from t/base, not sent again.
    const mounts = push.requests.filter((r) => r.includes("?mount="));
    assert.equal(mounts.length, 1, push.requests.join("\n"));
    assert.match(mounts[0], /&from=t%2Fbase 201$/);
  });
});

Deno.test("basic: push --base from the same registry learns the challenge once", async () => {
  await withRegistry({ auth: "basic" }, async (registry, tmp) => {
    const push = await pushOntoBase(registry, tmp);
    // Checking the credentials: GET /v2/ 401, then GET /v2/ 200 with them. Nothing after.
    assert.deepEqual(refusals(push), ["GET /v2/ 401"], push.requests.join("\n"));
  });
});

Deno.test("a mount answered with 202 is finished in that upload session by the same call", async () => {
  await withRegistry({}, async (registry) => {
    await using session = new Session();
    const app = await session.open(parseReference(`${registry.host}/t/app`));
    // A repository that lacks the blob: Distribution starts an ordinary upload instead.
    const empty = await session.open(parseReference(`${registry.host}/t/empty`));
    assert.ok(isMounter(app));
    const bytes = enc.encode("not in t/empty");
    let opened = 0;
    const fallback = () => {
      opened++;
      return Promise.resolve(ReadableStream.from([bytes]));
    };
    const sent = await sentDuring(registry, async () => {
      assert.equal(await app.mountBlob(blob(bytes), empty, fallback), "copied");
    });
    assert.equal(opened, 1);
    const mount = `POST /v2/t/app/blobs/uploads/?mount=${encodeURIComponent(sha256Digest(bytes))}` +
      "&from=t%2Fempty 202";
    // No HEAD, and no second POST: the bytes went into the session the mount started.
    assert.equal(sent.requests.length, 2, sent.requests.join("\n"));
    assert.equal(sent.requests[0], mount);
    assert.match(
      sent.requests[1],
      /^PUT \/v2\/t\/app\/blobs\/uploads\/[^ ]*digest=sha256%3A.* 201$/,
    );
    assert.equal(await app.hasBlob(blob(bytes)), true);

    // Through the writer: counted as pushed, not mounted.
    const other = enc.encode("also not in t/empty");
    const stats = await pushBlobs(app, [{
      descriptor: blob(other),
      open: () => Promise.resolve(ReadableStream.from([other])),
      from: empty,
    }]);
    assert.deepEqual(stats, { pushed: 1, skipped: 0, mounted: 0, bytes: other.byteLength });
    assert.equal(await app.hasBlob(blob(other)), true);

    // From its own repository there is nothing to mount: it has the blob, and nothing is opened.
    assert.equal(await app.mountBlob(blob(bytes), app, fallback), "present");
    assert.equal(opened, 1);
  });
});

Deno.test("copy --referrers from a layout copies the referrer that names the image as subject", async () => {
  await withRegistry({}, async (registry, tmp) => {
    await writeTree(`${tmp}/src`, { "data.txt": { type: "file", content: "signed\n" } });
    const pushed = await ocisync(["push", `oci:${tmp}/bundle:v1`, `${tmp}/src:/x`, "--json"]);
    assert.equal(pushed.code, 0, shown(pushed));

    // A signature beside the image, as tools store referrers in a layout: an untagged manifest
    // whose subject is the image, listed in index.json.
    const layout = await LayoutTarget.open(`${tmp}/bundle`);
    const image = await layout.resolve("v1");
    const empty = enc.encode("{}");
    const signature = enc.encode("a signature");
    await layout.pushBlob(blob(empty, MediaType.OciEmpty), ReadableStream.from([empty]));
    await layout.pushBlob(blob(signature), ReadableStream.from([signature]));
    const artifactType = "application/vnd.example.signature";
    const referrer = enc.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      artifactType,
      config: blob(empty, MediaType.OciEmpty),
      layers: [blob(signature)],
      subject: { mediaType: image.mediaType, digest: image.digest, size: image.size },
      annotations: { "org.example.signer": "ci" },
    }));
    await layout.pushManifest(blob(referrer, MediaType.OciManifest), referrer, []);

    // The layout lists it as the referrers API would.
    assert.ok(isReferrerLister(layout));
    const listed = {
      mediaType: MediaType.OciManifest,
      digest: sha256Digest(referrer),
      size: referrer.byteLength,
      artifactType,
      annotations: { "org.example.signer": "ci" },
    };
    assert.deepEqual(await Array.fromAsync(layout.referrers(image)), [listed]);
    assert.deepEqual(await Array.fromAsync(layout.referrers(image, artifactType)), [listed]);
    assert.deepEqual(await Array.fromAsync(layout.referrers(image, "application/other")), []);
    assert.deepEqual(await Array.fromAsync(layout.referrers(blob(referrer))), []);

    const copy = await ocisync([
      "copy",
      "--referrers",
      `oci:${tmp}/bundle:v1`,
      `${registry.host}/t/signed:v1`,
      "--json",
    ]);
    assert.equal(copy.code, 0, shown(copy));
    assert.equal(JSON.parse(copy.stdout).referrers, 1);
    const copied = await fetch(
      `http://${registry.host}/v2/t/signed/manifests/${sha256Digest(referrer)}`,
      { headers: { accept: MediaType.OciManifest } },
    );
    assert.equal(copied.status, 200);
    assert.equal(sha256Digest(new Uint8Array(await copied.arrayBuffer())), sha256Digest(referrer));
  });
});

Deno.test("a session keeps one client per registry host, and closes them all", async () => {
  const session = new Session({ plainHttp: true });
  // Concurrent first calls too: the client's code loads at the first, and each call waits for it.
  const [first, second] = await Promise.all(
    ["localhost:5000", "localhost:5000"].map((host) => session.client(host)),
  );
  assert.equal(first, second);
  assert.equal(await session.client("localhost:5000"), first);
  assert.equal(await session.client("docker.io"), await session.client("registry-1.docker.io"));
  assert.notEqual(first, await session.client("localhost:5001"));
  const target = await openTarget(parseReference("localhost:5000/app"), { session });
  assert.ok(isTagPager(target) && isCloser(target) && isReferrerLister(target));
  await closeTarget(target); // the session's client stays open for the other targets
  await assert.rejects(
    openTarget(parseReference("localhost:5000/app"), { session, retries: 1 }),
    TypeError,
  );
  await session.close();
  await session.close();
  await assert.rejects(session.open(parseReference("localhost:5000/app")), /session is closed/);
  await assert.rejects(session.client("localhost:5000"), /session is closed/);
  // A session closed while its first client loads makes none, which close() would not close.
  const closing = new Session();
  const client = closing.client("localhost:5000");
  await closing.close();
  await assert.rejects(client, /session is closed/);
});

Deno.test("a signal stops target calls: at once for a registry, between steps for a layout", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const stop = new AbortController();
    stop.abort(new Error("stopped"));
    const { signal } = stop;
    const layout = await LayoutTarget.open(`${tmp}/layout`, { create: true });
    const bytes = enc.encode("never written");
    await assert.rejects(
      layout.pushBlob(blob(bytes), ReadableStream.from([bytes]), { signal }),
      /stopped/,
    );
    assert.equal(await layout.hasBlob(blob(bytes)), false);
    await assert.rejects(layout.resolve("v1", { signal }), /stopped/);

    // A registry that is never reached: the signal ends the call before any request.
    const registry = new RegistryTarget(parseRegistryReference("127.0.0.1:9/app"), {
      retries: 0,
    });
    await assert.rejects(registry.resolve("v1", { signal }), /stopped/);
    await assert.rejects(
      registry.pushBlob(blob(bytes), ReadableStream.from([bytes]), { signal }),
      /stopped/,
    );
    await registry.close();
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
