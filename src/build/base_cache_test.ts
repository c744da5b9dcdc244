import assert from "node:assert/strict";
import { DocumentCache, openCachedBase } from "./base_cache.ts";
import { parseReference } from "../ref/mod.ts";
import { silentListener } from "../../tests/helpers/servers.ts";
import { sha256Digest } from "../digest/mod.ts";

const DOCUMENT = new TextEncoder().encode('{"schemaVersion":2}');
const DIGEST = sha256Digest(DOCUMENT);
const HEX = DIGEST.slice("sha256:".length);

/** Runs `test` with a cache folder of this user's own, and the details the cache gave. */
async function withCache(
  test: (cache: DocumentCache, entry: string, details: string[], tmp: string) => Promise<void>,
): Promise<void> {
  const tmp = await Deno.makeTempDir();
  try {
    const details: string[] = [];
    const cache = new DocumentCache(`${tmp}/cache`, (line) => details.push(line));
    await Deno.mkdir(cache.dir, { recursive: true, mode: 0o700 });
    await test(cache, `${cache.dir}/${HEX}`, details, tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

Deno.test("DocumentCache.get never opens an entry that is a fifo", () =>
  withCache(async (cache, entry, details) => {
    const made = await new Deno.Command("mkfifo", { args: [entry] }).output();
    assert.ok(made.success, "mkfifo");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hung = new Promise<"hung">((resolve) => timer = setTimeout(() => resolve("hung"), 3000));
    const read = cache.get(DIGEST);
    try {
      const got = await Promise.race([read, hung]);
      assert.notEqual(got, "hung", "the read waited for a writer to the fifo");
      assert.equal(got, undefined);
    } finally {
      clearTimeout(timer);
      // A reader left waiting is let go: a writer that opens and closes gives it the end.
      if ((await Deno.lstat(entry).catch(() => undefined))?.isFifo) {
        (await Deno.open(entry, { write: true })).close();
        await read;
      }
    }
    assert.match(details.join("\n"), /is not a regular file/);
    await assert.rejects(Deno.lstat(entry), Deno.errors.NotFound, "the fifo is removed");
  }));

Deno.test("DocumentCache.get never reads through a link, to the right bytes or to /dev/zero", () =>
  withCache(async (cache, entry, details, tmp) => {
    // A link may lead anywhere: one to the very bytes is refused as well. (First: the old read
    // of /dev/zero below never ended.)
    await Deno.writeFile(`${tmp}/document`, DOCUMENT);
    await Deno.symlink(`${tmp}/document`, entry);
    assert.equal(await cache.get(DIGEST), undefined);
    assert.match(details.join("\n"), /is a symlink/);
    await assert.rejects(Deno.lstat(entry), Deno.errors.NotFound, "the link is removed");
    assert.deepEqual(await Deno.readFile(`${tmp}/document`), DOCUMENT, "its target is kept");
    await Deno.symlink("/dev/zero", entry);
    assert.equal(await cache.get(DIGEST), undefined);
    await assert.rejects(Deno.lstat(entry), Deno.errors.NotFound);
    // A regular file of the folder's own is a hit.
    await Deno.writeFile(entry, DOCUMENT);
    assert.deepEqual(await cache.get(DIGEST), DOCUMENT);
  }));

Deno.test({
  name: "DocumentCache.get reads no folder that another user could change",
  ignore: Deno.uid() !== 0,
  fn: () =>
    withCache(async (cache, entry, details) => {
      await Deno.writeFile(entry, DOCUMENT);
      await Deno.chmod(cache.dir, 0o777);
      assert.equal(await cache.get(DIGEST), undefined);
      assert.match(details.join("\n"), /refusing the cache folder .*mode 777/);
      await Deno.chmod(cache.dir, 0o700);
      await Deno.chown(cache.dir, 65534, 65534);
      assert.equal(await cache.get(DIGEST), undefined);
      assert.match(details.join("\n"), /belongs to user 65534/);
      // Not read, so not judged: the entry is left to its folder's owner.
      assert.deepEqual(await Deno.readFile(entry), DOCUMENT);
      await Deno.chown(cache.dir, 0, 0);
      assert.deepEqual(await cache.get(DIGEST), DOCUMENT);
    }),
});

Deno.test("openCachedBase: its signal stops the reading of a base whose registry does not answer", async () => {
  const tmp = await Deno.makeTempDir();
  const silent = silentListener();
  try {
    const reading = new AbortController();
    const opening = openCachedBase(parseReference(`${silent.host}/base:1`), {
      cacheDir: `${tmp}/cache`,
      targets: { timeout: 30_000, retries: 0 },
      signal: reading.signal,
    });
    // Once the request is under way, the signal stops it: neither an answer nor the timeout (on
    // which the request would fail otherwise, after 30 s) is waited for.
    while (silent.hits() === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    reading.abort();
    await assert.rejects(opening, (error) => (error as Error).name === "AbortError");
  } finally {
    await silent.close();
    await Deno.remove(tmp, { recursive: true });
  }
});
