/**
 * `sync --events` holds a change's batch in memory, so it is bounded (`--max-events-size`, the
 * library's `maxEventsSize`): a hostile artifact whose manifest declares huge layers is refused
 * before any layer is fetched, a batch that JSON escapes push over the limit stops fetching at
 * once, a layer that streams more than it declared is not read past its size, and nothing is
 * written for a refused change. Every artifact here is built by hand in an `oci:` layout.
 */
import assert from "node:assert/strict";
import { ocisync } from "./helpers/cli.ts";
import { type Blob, blob, jsonBlob } from "./helpers/images.ts";
import { writeLayoutIndex } from "./helpers/layers.ts";
import { withTempDir } from "./helpers/tree.ts";
import { DEFAULT_MAX_EVENTS_SIZE } from "../src/cli/specs.ts";
import { IntegrityError, UnsafeContentError, UsageError } from "../src/errors/mod.ts";
import { LayoutTarget } from "../src/layout/mod.ts";
import { MediaType } from "../src/oci/mediatypes.ts";
import type { Target } from "../src/oci/target.ts";
import { TITLE_ANNOTATION } from "../src/oci/annotations.ts";
import type { Descriptor } from "../src/oci/types.ts";
import { parseReference } from "../src/ref/mod.ts";
import { eventsOutput, syncLoop, type SyncTick } from "../src/sync/mod.ts";
import { DEFAULT_MAX_EVENTS_BYTES } from "../src/sync/outputs.ts";
import { parseSize } from "../src/units/mod.ts";

const GIB = 1024 ** 3;

/** A layer of the artifact: its bytes, stored as a blob unless `stored` is false. */
interface LayerSpec {
  title: string;
  bytes: Uint8Array;
  /** The size the manifest declares, when it lies; the bytes' length otherwise. */
  declaredSize?: number;
  /** Whether the blob is written into the layout. Default true. */
  stored?: boolean;
}

/**
 * Writes an artifact of `layers` (one titled `text/plain` layer each) at `dir`, tagged `v1`, and
 * returns its reference. The manifest declares each layer's `declaredSize`, whatever the bytes.
 */
async function writeArtifact(dir: string, layers: LayerSpec[]): Promise<string> {
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  const store = async ({ descriptor, bytes }: Blob) => {
    await Deno.writeFile(`${dir}/blobs/sha256/${descriptor.digest.slice(7)}`, bytes);
    return descriptor;
  };
  const descriptors: Descriptor[] = [];
  for (const layer of layers) {
    const stored = blob("text/plain", layer.bytes);
    if (layer.stored ?? true) await store(stored);
    descriptors.push({
      ...stored.descriptor,
      size: layer.declaredSize ?? layer.bytes.length,
      annotations: { [TITLE_ANNOTATION]: layer.title },
    });
  }
  const config = await store(blob(MediaType.OciEmpty, new TextEncoder().encode("{}")));
  const manifest = await store(jsonBlob(MediaType.OciManifest, {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: "application/vnd.example.config",
    config,
    layers: descriptors,
  }));
  await writeLayoutIndex(dir, manifest);
  return `oci:${dir}:v1`;
}

const text = (value: string) => new TextEncoder().encode(value);

/** The actions of the JSON lines on stdout. */
function actions(stdout: string): string[] {
  return stdout.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line).action);
}

/** `target`, with its `fetchBlob` replaced by `fetchBlob`. */
function withFetchBlob(target: Target, fetchBlob: Target["fetchBlob"]): Target {
  return new Proxy(target, {
    get(inner, key) {
      if (key === "fetchBlob") return fetchBlob;
      const value = Reflect.get(inner, key);
      return typeof value === "function" ? value.bind(inner) : value;
    },
  });
}

/** `target`, counting the blobs fetched from it. */
function countingFetches(target: Target): { target: Target; fetched: string[] } {
  const fetched: string[] = [];
  const counting = withFetchBlob(target, (descriptor, options) => {
    fetched.push(descriptor.digest);
    return target.fetchBlob(descriptor, options);
  });
  return { target: counting, fetched };
}

/** Runs one tick of events for `reference` into memory: its tick, error and what was written. */
async function eventsTick(
  reference: string,
  open: (path: string) => Promise<Target>,
  options: { maxEventsSize?: number; encoding?: "utf-8" | "base64" } = {},
): Promise<{ tick?: SyncTick; error?: unknown; written: Uint8Array[] }> {
  const written: Uint8Array[] = [];
  const sink = {
    write: (chunk: Uint8Array) => Promise.resolve(written.push(chunk) && chunk.length),
  };
  const loop = syncLoop({
    reference: parseReference(reference),
    outputs: [eventsOutput(sink, options)],
    interval: 1000,
    once: true,
    open: (ref) => open((ref as { path: string }).path),
  });
  const tick = (await loop.next()).value as SyncTick | undefined;
  const error = await loop.next().then(() => undefined, (error) => error);
  return { tick, error, written };
}

Deno.test("--events: a change over --max-events-size exits 7, names the sizes, writes nothing", async () => {
  await withTempDir("ocisync-events-bound-", async (tmp) => {
    const reference = await writeArtifact(`${tmp}/layout`, [
      { title: "small.txt", bytes: text("small\n") },
      { title: "big.txt", bytes: text("x".repeat(2000)) },
    ]);
    const state = `${tmp}/state.json`;
    const args = ["sync", reference, "--once", "--events", "--state", state];

    const refused = await ocisync([...args, "--max-events-size", "1KiB"]);
    assert.equal(refused.code, 7, refused.stderr);
    assert.match(
      refused.stderr,
      /error: the events of oci:.*layout:v1 \(sha256:[0-9a-f]{64}\) would take more than the limit of 1024 bytes: its layers declare 2006 bytes of content, and none was fetched/,
    );
    assert.match(
      refused.stderr,
      /hint: events hold a change in memory.*raise the events size limit.*\(--max-events-size\)/,
    );
    assert.equal(refused.stdout, "", "no put, no synced");
    const recorded = await Deno.readTextFile(state).then(JSON.parse, () => ({ references: {} }));
    assert.equal(recorded.references[reference], undefined, "the state is not advanced");

    // The same artifact under a limit it fits in: delivered as before.
    const delivered = await ocisync([...args, "--max-events-size", "4KiB"]);
    assert.equal(delivered.code, 0, delivered.stderr);
    assert.deepEqual(actions(delivered.stdout), ["put", "put", "synced"]);
  });
});

Deno.test("--events: base64 counts the encoded size against the limit", async () => {
  await withTempDir("ocisync-events-bound-", async (tmp) => {
    // 900 bytes fit a 1000-byte limit as text, not once encoded (1200).
    const reference = await writeArtifact(`${tmp}/layout`, [
      { title: "a.bin", bytes: new Uint8Array(900) },
    ]);
    const args = ["sync", reference, "--once", "--events", "--max-events-size", "1000B"];
    const refused = await ocisync([...args, "--encoding", "base64"]);
    assert.equal(refused.code, 7, refused.stderr);
    assert.match(
      refused.stderr,
      /limit of 1000 bytes: its layers declare 1200 bytes of content in base64/,
    );
    assert.equal(refused.stdout, "");
  });
});

Deno.test("--events: the default limit refuses a layer declared over it, before any fetch", async () => {
  await withTempDir("ocisync-events-bound-", async (tmp) => {
    assert.equal(parseSize(DEFAULT_MAX_EVENTS_SIZE, "--max-events-size"), DEFAULT_MAX_EVENTS_BYTES);
    // The manifest declares 1 GiB; the blob is not even in the layout: a fetch would fail (4).
    const reference = await writeArtifact(`${tmp}/layout`, [
      { title: "huge.txt", bytes: text("hostile"), declaredSize: GIB, stored: false },
    ]);
    const cli = await ocisync(["sync", reference, "--once", "--events"]);
    assert.equal(cli.code, 7, cli.stderr);
    assert.match(
      cli.stderr,
      new RegExp(
        `limit of ${DEFAULT_MAX_EVENTS_BYTES} bytes: its layers declare ${GIB} bytes of content, and none was fetched`,
      ),
    );
    assert.equal(cli.stdout, "");

    let counted: string[] = [];
    const { tick, error, written } = await eventsTick(reference, async (path) => {
      const { target, fetched } = countingFetches(await LayoutTarget.open(path));
      counted = fetched;
      return target;
    });
    assert.equal(tick?.status, "failed");
    assert.ok(error instanceof UnsafeContentError, String(error));
    assert.equal(error.option, "maxEventsSize");
    assert.deepEqual(counted, [], "no layer was fetched");
    assert.deepEqual(written, []);
  });
});

Deno.test("--events: lines that JSON escapes push over the limit stop the fetches at once", async () => {
  await withTempDir("ocisync-events-bound-", async (tmp) => {
    // 100 control characters declare 100 bytes, but are 600 once escaped as \u0001.
    const reference = await writeArtifact(`${tmp}/layout`, [
      { title: "controls.txt", bytes: text("\u0001".repeat(100)) },
      { title: "next.txt", bytes: text("never fetched\n") },
    ]);
    let counted: string[] = [];
    const { tick, error, written } = await eventsTick(reference, async (path) => {
      const { target, fetched } = countingFetches(await LayoutTarget.open(path));
      counted = fetched;
      return target;
    }, { maxEventsSize: 500 });
    assert.equal(tick?.status, "failed");
    assert.ok(error instanceof UnsafeContentError, String(error));
    assert.match(
      error.message,
      /limit of 500 bytes: its 114 bytes of content take more as JSON lines, and nothing was written/,
    );
    assert.equal(counted.length, 1, "the second layer is not fetched");
    assert.deepEqual(written, []);
  });
});

Deno.test("--events: a layer that streams more than it declares is not read past its size", async () => {
  await withTempDir("ocisync-events-bound-", async (tmp) => {
    const reference = await writeArtifact(`${tmp}/layout`, [
      { title: "liar.txt", bytes: text("0123456789") },
    ]);
    // A target that checks nothing, as a library user's own might: 1000 chunks of 1 KiB for a
    // layer that declares 10 bytes.
    let pulled = 0;
    const { tick, error, written } = await eventsTick(reference, async (path) => {
      return withFetchBlob(await LayoutTarget.open(path), () =>
        Promise.resolve(
          new ReadableStream<Uint8Array>({
            pull(controller) {
              if (++pulled > 1000) controller.close();
              else controller.enqueue(new Uint8Array(1024).fill(0x61));
            },
          }),
        ));
    });
    assert.equal(tick?.status, "failed");
    assert.ok(error instanceof IntegrityError, String(error));
    assert.match(
      error.message,
      /layer sha256:[0-9a-f]{64} of .* is larger than its declared size 10/,
    );
    assert.ok(pulled <= 3, `read ${pulled} chunks`);
    assert.deepEqual(written, []);
  });
});

Deno.test("--max-events-size: a malformed size is a usage error, in the CLI and the library", async () => {
  const result = await ocisync(["sync", "oci:./none:v1", "--events", "--max-events-size", "0"]);
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /--max-events-size/);
  for (const maxEventsSize of [0, -1, 1.5, NaN, Infinity]) {
    assert.throws(
      () => eventsOutput(Deno.stdout, { maxEventsSize }),
      UsageError,
      String(maxEventsSize),
    );
  }
});
