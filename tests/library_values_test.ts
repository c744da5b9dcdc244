/**
 * The library's options refuse what would quietly turn a safeguard off: a `NaN` concurrency
 * pushed no blob and reported success, a `NaN` bound turned extraction's bounds off, an empty
 * platform list copied every platform, an interval of 0 ticked hundreds of times a second, and
 * `maxFailures: 0` ended a watch after one tick. `pullTo` now stops when its signal does. Each
 * case runs the library as a program outside the repository would, on OCI layouts.
 */
import assert from "node:assert/strict";
import {
  type Compression,
  compressStream,
  copy,
  inspect,
  layerMediaType,
  OcisyncError,
  parseReference,
  pullTo,
  pushFolder,
  RegistryTarget,
  syncOnce,
  UsageError,
  watch,
} from "../mod.ts";
import { withTempDir, writeTree } from "./helpers/tree.ts";

async function withBundle(body: (tmp: string) => Promise<void>): Promise<void> {
  await withTempDir("ocisync-library-values-", async (tmp) => {
    await writeTree(`${tmp}/site`, {
      "index.html": { type: "file", content: "<h1>hi</h1>\n" },
      "b.txt": { type: "file", content: "b\n" },
    });
    await pushFolder(`oci:${tmp}/bundle:v1`, `${tmp}/site`);
    await body(tmp);
  });
}

const exists = (path: string) => Deno.lstat(path).then(() => true, () => false);

Deno.test("library: NaN or Infinity as a concurrency or a bound is refused, not read as none", async () => {
  await withBundle(async (tmp) => {
    for (const concurrency of [NaN, Infinity]) {
      await assert.rejects(
        pushFolder(`oci:${tmp}/other:v1`, `${tmp}/site`, { concurrency }),
        (error: Error) => error instanceof UsageError && /concurrency/.test(error.message),
      );
    }
    for (const options of [{ timeout: NaN }, { retries: Infinity }]) {
      await assert.rejects(inspect("localhost:1/app:v1", options), UsageError);
    }
    for (const bound of [{ maxExtractSize: NaN }, { maxEntries: NaN }, { maxExtractSize: -1 }]) {
      await assert.rejects(pullTo(`oci:${tmp}/bundle:v1`, `${tmp}/out`, bound), UsageError);
      assert.equal(await exists(`${tmp}/out`), false, JSON.stringify(bound));
    }
  });
});

Deno.test("library: pullTo stops when its signal does, mid-way, and puts nothing in place", async () => {
  await withBundle(async (tmp) => {
    const stop = new AbortController();
    await assert.rejects(
      pullTo(`oci:${tmp}/bundle:v1`, `${tmp}/out`, {
        signal: stop.signal,
        onBlob: (event) => {
          if (event.state === "started") stop.abort(new Error("stopped"));
        },
      }),
      /stopped/,
    );
    assert.equal(await exists(`${tmp}/out`), false);
  });
});

Deno.test("library: an empty platform list, an interval or jitter out of range, keep 0 and maxFailures 0 are refused", async () => {
  await withBundle(async (tmp) => {
    await assert.rejects(
      copy(`oci:${tmp}/bundle:v1`, `oci:${tmp}/copy:v1`, { platforms: [] }),
      (error: Error) => error instanceof UsageError && /platforms is empty/.test(error.message),
    );
    // An interval past a timer's 2^31 - 1 ms, or Infinity, ticked as if it were 1 ms, and so
    // did a NaN jitter; a jitter over 1 waited a negative time; keep 0 was a TypeError.
    for (
      const options of [
        { interval: 0 },
        { interval: NaN },
        { interval: 3_000_000_000 },
        { interval: Infinity },
        { jitter: NaN },
        { jitter: 3 },
        { jitter: -0.5 },
        { keep: 0 },
        { maxFailures: 0 },
      ]
    ) {
      const ticks = watch(`oci:${tmp}/bundle:v1`, `${tmp}/live`, options);
      await assert.rejects(ticks.next(), UsageError, JSON.stringify(options));
    }
    assert.equal(await exists(`${tmp}/live`), false, "no folder is left for a refused watch");
  });
});

Deno.test("library: an mtime that is no whole second in a tar's range is refused; dest's message names no flag", async () => {
  await withBundle(async (tmp) => {
    for (const mtime of [NaN, -1, 1.5, 0o77777777777 + 1]) {
      await assert.rejects(
        pushFolder(`oci:${tmp}/other:v1`, `${tmp}/site`, { mtime }),
        (error: Error) =>
          error instanceof UsageError && /^mtime must be whole seconds/.test(error.message),
      );
    }
    assert.equal(await exists(`${tmp}/other`), false);
    await assert.rejects(
      pushFolder(`oci:${tmp}/other:v1`, `${tmp}/site`, { dest: "../x" }),
      (error: Error) =>
        error instanceof UsageError &&
        error.message === 'the path in the layer, "../x", must not contain ".."',
    );
  });
});

Deno.test("library: a compression that is none of gzip, zstd and none is refused, with nothing written", async () => {
  await withBundle(async (tmp) => {
    const lz4 = "lz4" as Compression;
    const refused = (error: Error) =>
      error instanceof UsageError && error.option === "compression" &&
      error.message === 'compression must be one of gzip, zstd, none, not "lz4"';
    await assert.rejects(
      pushFolder(`oci:${tmp}/other:v1`, `${tmp}/site`, { compression: lz4 }),
      refused,
    );
    assert.equal(await exists(`${tmp}/other`), false);
    assert.throws(() => compressStream(ReadableStream.from([]), lz4), refused);
    assert.throws(() => layerMediaType(lz4), refused);
  });
});

Deno.test("library: RegistryTarget refuses a chunkSize or concurrency that is no positive integer", () => {
  const reference = parseReference("localhost:5000/app:v1");
  assert.equal(reference.kind, "registry");
  if (reference.kind !== "registry") return;
  for (const options of [{ chunkSize: 0 }, { chunkSize: NaN }, { concurrency: 1.5 }]) {
    const [option] = Object.keys(options);
    assert.throws(
      () => new RegistryTarget(reference, options),
      (error: Error) => error instanceof UsageError && error.option === option,
    );
  }
});

Deno.test("library: an error of the file system is an OcisyncError naming the path, with Deno's error as its cause", async () => {
  await withBundle(async (tmp) => {
    await Deno.writeTextFile(`${tmp}/file`, "a file, not a folder\n");
    const calls: [string, () => Promise<unknown>][] = [
      ["pullTo", () => pullTo(`oci:${tmp}/bundle:v1`, `${tmp}/file/out`)],
      ["pushFolder", () => pushFolder(`oci:${tmp}/file/layout:v1`, `${tmp}/site`)],
      ["copy", () => copy(`oci:${tmp}/bundle:v1`, `oci:${tmp}/file/layout:v1`)],
      ["syncOnce", () => syncOnce(`oci:${tmp}/bundle:v1`, `${tmp}/file/live`)],
    ];
    for (const [name, call] of calls) {
      await assert.rejects(
        call(),
        (error: Error) =>
          error instanceof OcisyncError && error.cause instanceof Deno.errors.NotADirectory &&
          // The sync says what is in the way: the file, where its folder would be.
          /^cannot [a-z ]+ \S*\/file\/\S+: (Not a directory|\S*\/file is a file, not a folder)/
            .test(error.message),
        name,
      );
    }
  });
});
