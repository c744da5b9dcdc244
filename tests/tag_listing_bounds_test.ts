/**
 * A registry's listings end: one whose `Link` headers lead back to a page already read, on to
 * new pages without end, or that lists more tags (or referrers) than any repository holds, made
 * `tags`, `copy --all-tags` and the hint of a missing tag request and collect for ever (and the
 * memory with them), and `copy --referrers` and signature checks collect a hundred thousand
 * referrers a page; signature checks stop reading once they have examined their share. So did
 * listings of names that are no tags (of megabytes each), pages of megabytes without end, and
 * referrers with megabytes of annotations each. The hostile registries are built here: one
 * that answers the tag listing
 * only, which is all that these commands ask before the listing ends; and a real registry behind
 * a proxy that answers the referrers listing with pages made here.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync } from "node:crypto";
import { expectExit, ocisync, ocisyncOk } from "./helpers/cli.ts";
import { startProxy } from "./helpers/fault_proxy.ts";
import { startRegistry, type TestRegistry } from "./helpers/registry.ts";
import { ExitCode } from "../src/cli/exit.ts";
import { MAX_REFERRERS } from "../src/trust/bundle.ts";
import { MAX_REFERRER_ANNOTATIONS } from "../src/oci/referrers.ts";
import {
  MAX_LISTED_REFERRERS,
  MAX_LISTED_TAGS,
  MAX_REFERRER_LISTING_BYTES,
  MAX_TAG_LIST_PAGES,
  MAX_TAG_LISTING_BYTES,
} from "../src/remote/registry.ts";
import { MAX_TAG_PAGES, TAG_PAGE_SIZE } from "../src/sync/policy.ts";

/** A name of `length` characters that no tag grammar takes: an ESC, then "z"s. */
function hugeName(prefix: string, length: number): string {
  return `${prefix}\x1b[31m${"z".repeat(length)}`;
}

/** Bytes of pages of valid tags that {@linkcode hostileRegistry}'s "bytes" mode sends each. */
const PAGE_OF_TAGS_BYTES = 1024 * 1024;

/**
 * The hostile registry, the tag-list requests it answered and the bytes of tag lists it sent,
 * by repository. Manifests are unknown to it.
 */
function hostileRegistry() {
  const requests = new Map<string, number>();
  const sent = new Map<string, number>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const url = new URL(request.url);
    if (/^\/v2\/\w+\/x\/manifests\//.test(url.pathname)) {
      return Response.json(
        { errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] },
        {
          status: 404,
        },
      );
    }
    const match = /^\/v2\/(\w+)\/x\/tags\/list$/.exec(url.pathname);
    if (!match) return new Response("not found\n", { status: 404 });
    const [, mode] = match;
    const count = (requests.get(mode) ?? 0) + 1;
    requests.set(mode, count);
    const page = (tags: string[], next?: string) => {
      const body = JSON.stringify({ name: `${mode}/x`, tags });
      sent.set(mode, (sent.get(mode) ?? 0) + body.length);
      return new Response(body, {
        headers: {
          "content-type": "application/json",
          ...(next === undefined ? {} : { link: `<${next}>; rel="next"` }),
        },
      });
    };
    const list = `/v2/${mode}/x/tags/list`;
    switch (mode) {
      // Three pages, each one name of a megabyte that is no tag, as the 'last' of the next.
      case "badtag":
        return page(
          [hugeName(`v${count}`, 1024 * 1024)],
          count < 3 ? `${list}?pg=${count + 1}` : undefined,
        );
      // Ten names of 100 kB that are no tags, on one page.
      case "hint":
        return page(Array.from({ length: 10 }, (_, i) => hugeName(`t${i}`, 100_000)));
      // Pages of a megabyte of valid tags of 120 characters, each page a new one, for ever.
      case "bytes": {
        const tags = Array.from(
          { length: Math.floor(PAGE_OF_TAGS_BYTES / 123) },
          (_, i) => `t${count}-${i}-`.padEnd(120, "x"),
        );
        return page(tags, `${list}?last=${tags.at(-1)}`);
      }
      // Pages of more short tags than asked for, each page a new one, for ever.
      case "crowded": {
        const tags = Array.from(
          { length: MAX_TAG_PAGES * TAG_PAGE_SIZE + 1 },
          (_, i) => `${count}.${i}.0`,
        );
        return page(tags, `${list}?last=${tags.at(-1)}`);
      }
      // The second page points back at itself.
      case "loop":
        return page(["v1"], `${list}?last=v1`);
      // Each page a new one, for ever.
      case "endless":
        return page([`v${count}`], `${list}?last=v${count}`);
      // One page, with more tags than a listing collects.
      case "huge":
        return page(Array.from({ length: MAX_LISTED_TAGS + 1 }, (_, i) => `v${i}`));
      default:
        return new Response("not found\n", { status: 404 });
    }
  });
  const host = `127.0.0.1:${server.addr.port}`;
  return { host, requests, sent, server };
}

/** Runs `fn` with a {@linkcode hostileRegistry} and a scratch folder, and removes both after. */
async function withHostileRegistry(
  fn: (registry: ReturnType<typeof hostileRegistry>, tmp: string) => Promise<void>,
): Promise<void> {
  const registry = hostileRegistry();
  const tmp = await Deno.makeTempDir();
  try {
    await fn(registry, tmp);
  } finally {
    await registry.server.shutdown();
    await Deno.remove(tmp, { recursive: true });
  }
}

Deno.test("tags: a Link back to a page already read, endless pages, or too many tags: exit 5", async () => {
  const { host, requests, server } = hostileRegistry();
  try {
    const loop = expectExit(await ocisync(["tags", `${host}/loop/x`]), ExitCode.Integrity);
    assert.match(loop.stderr, /tags of .*loop\/x: the registry's next page is one it has sent/);
    assert.equal(requests.get("loop"), 2);

    const endless = expectExit(await ocisync(["tags", `${host}/endless/x`]), ExitCode.Integrity);
    assert.match(endless.stderr, new RegExp(`more than ${MAX_TAG_LIST_PAGES} pages`));
    assert.equal(requests.get("endless"), MAX_TAG_LIST_PAGES);

    const huge = expectExit(await ocisync(["tags", `${host}/huge/x`]), ExitCode.Integrity);
    assert.match(huge.stderr, new RegExp(`more than ${MAX_LISTED_TAGS} tags`));
    assert.equal(huge.stdout, "");
  } finally {
    await server.shutdown();
  }
});

Deno.test("copy --all-tags from a registry whose pages loop: exit 5, nothing written", async () => {
  await withHostileRegistry(async ({ host, requests }, tmp) => {
    const copy = expectExit(
      await ocisync(["copy", "--all-tags", `${host}/loop/x`, `oci:${tmp}/out`]),
      ExitCode.Integrity,
    );
    assert.match(copy.stderr, /the registry's next page is one it has sent/);
    assert.equal(requests.get("loop"), 2);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(tmp)), []);
  });
});

/** Asserts that no line of `text` is longer than `max` characters. */
function assertShortLines(text: string, max = 1000): void {
  const longest = Math.max(0, ...text.split("\n").map((line) => line.length));
  assert.ok(longest <= max, `a line of ${longest} characters`);
}

Deno.test("tags, copy --all-tags: a listed name that is no tag: exit 5, quoted cut short, page 1 only", async () => {
  await withHostileRegistry(async ({ host, requests }, tmp) => {
    const tags = expectExit(await ocisync(["tags", `${host}/badtag/x`]), ExitCode.Integrity);
    assert.match(
      tags.stderr,
      new RegExp(
        `tags of ${host}/badtag/x: the registry lists "v1\\\\x1b\\[31mz+…", which is no tag \\(a tag is`,
      ),
    );
    assert.equal(tags.stdout, "");
    assertShortLines(tags.stderr);
    assert.equal(requests.get("badtag"), 1, "the first page is the last read");

    const copy = expectExit(
      await ocisync(["copy", "--all-tags", `${host}/badtag/x`, `oci:${tmp}/out`]),
      ExitCode.Integrity,
    );
    assert.match(copy.stderr, /the registry lists "v\d+\\x1b\[31mz+…", which is no tag/);
    assertShortLines(copy.stderr);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(tmp)), []);
  });
});

Deno.test("sync --semver: a listed name that is no tag is refused (exit 5), never sent back as last=", async () => {
  await withHostileRegistry(async ({ host, requests }, tmp) => {
    const sync = expectExit(
      await ocisync(["sync", "--once", "--semver", ">=1", `${host}/badtag/x`, "-o", `${tmp}/live`]),
      ExitCode.Integrity,
    );
    assert.match(sync.stderr, /the registry lists "v\d+\\x1b\[31mz+…", which is no tag/);
    assertShortLines(sync.stderr);
    assert.ok(sync.stderr.length < 4000, `${sync.stderr.length} characters on stderr`);
    assert.equal(requests.get("badtag"), 1);
  });
});

Deno.test("pull of a missing tag: the hint quotes no name that is no tag", async () => {
  await withHostileRegistry(async ({ host, requests }, tmp) => {
    const pull = expectExit(
      await ocisync(["pull", `${host}/hint/x:nope`, "-o", `${tmp}/out`]),
      ExitCode.NotFound,
    );
    assert.equal(requests.get("hint"), 1, "the tags were listed for the hint");
    assert.match(pull.stderr, /^hint: check the tag; list them with `ocisync tags .*hint\/x`$/m);
    assert.doesNotMatch(pull.stderr, /zzzz/);
    assertShortLines(pull.stderr);
  });
});

Deno.test("tags: pages of valid tags are read up to a byte budget: exit 5, no page past it", async () => {
  const { host, sent, server } = hostileRegistry();
  try {
    const tags = expectExit(await ocisync(["tags", `${host}/bytes/x`]), ExitCode.Integrity);
    assert.match(
      tags.stderr,
      new RegExp(`pages of tags add up to more than ${MAX_TAG_LISTING_BYTES / 1024 / 1024} MiB`),
    );
    assert.equal(tags.stdout, "");
    // The bound is reached within one page of it, long before the count of tags (which would
    // be twice as many bytes): what the registry had to send says how much was held.
    const bytes = sent.get("bytes") ?? 0;
    assert.ok(bytes > MAX_TAG_LISTING_BYTES, `${bytes} bytes sent`);
    assert.ok(bytes <= MAX_TAG_LISTING_BYTES + PAGE_OF_TAGS_BYTES, `${bytes} bytes sent`);
  } finally {
    await server.shutdown();
  }
});

Deno.test("sync --semver: pages of more tags than asked for count as tags, not pages", async () => {
  await withHostileRegistry(async ({ host, requests }, tmp) => {
    const sync = expectExit(
      await ocisync([
        "sync",
        "--once",
        "--semver",
        ">=1",
        `${host}/crowded/x`,
        "-o",
        `${tmp}/live`,
      ]),
      ExitCode.Usage,
    );
    assert.match(sync.stderr, /has more than 100000 tags: too many to pick from/);
    assert.equal(requests.get("crowded"), 1, "no page past the one that held too many");
  });
});

/** A referrers page of `count` made-up manifests of `artifactType`, linking to `next` when given. */
function referrersPage(
  count: number,
  next?: string,
  artifactType = "application/vnd.example+json",
) {
  const manifests = Array.from({ length: count }, (_, i) => ({
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType,
    digest: `sha256:${createHash("sha256").update(`referrer ${i}`).digest("hex")}`,
    size: 100,
  }));
  return {
    kind: "status" as const,
    status: 200,
    body: JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests,
    }),
    headers: {
      "content-type": "application/vnd.oci.image.index.v1+json",
      ...(next === undefined ? {} : { link: `<${next}>; rel="next"` }),
    },
  };
}

/** Pushes a one-file image as `t/app:v1`; returns its digest. */
async function pushApp(registry: TestRegistry, tmp: string): Promise<string> {
  await Deno.mkdir(`${tmp}/app`);
  await Deno.writeTextFile(`${tmp}/app/main.py`, "print('app')\n");
  const pushed = await ocisyncOk(["push", `${registry.host}/t/app:v1`, `${tmp}/app`, "-q"]);
  return pushed.trim().split("@")[1];
}

Deno.test("copy --referrers: referrer pages that loop, or list too many: exit 5, read no further", async () => {
  const registry = await startRegistry();
  const proxy = startProxy(registry.host);
  const tmp = await Deno.makeTempDir();
  try {
    const digest = await pushApp(registry, tmp);
    const list = `/v2/t/app/referrers/${digest}`;
    const copyReferrers = async (to: string) =>
      expectExit(
        await ocisync(["copy", "--referrers", `${proxy.host}/t/app:v1`, `oci:${tmp}/${to}`]),
        ExitCode.Integrity,
      );

    // The second page links to itself.
    proxy.inject({ path: new RegExp(`${list}$`), fault: referrersPage(1, `${list}?page=1`) });
    proxy.inject({ path: /\?page=1$/, fault: referrersPage(1, `${list}?page=1`) });
    const loop = await copyReferrers("loop");
    assert.match(
      loop.stderr,
      /referrers of sha256:\w+ in .*: the registry's next page is one it has sent/,
    );

    // Pages of 20,000 each, every one new: the listing ends past the bound, unread further.
    const perPage = 20_000;
    const pages = Math.floor(MAX_LISTED_REFERRERS / perPage) + 1;
    proxy.inject({ path: new RegExp(`${list}$`), fault: referrersPage(perPage, `${list}?n=2`) });
    for (let page = 2; page <= pages; page++) {
      proxy.inject({
        path: new RegExp(`\\?n=${page}$`),
        fault: referrersPage(perPage, `${list}?n=${page + 1}`),
      });
    }
    const many = await copyReferrers("many");
    assert.match(many.stderr, new RegExp(`more than ${MAX_LISTED_REFERRERS} referrers`));
    assert.deepEqual(proxy.unused(), [], "every page was asked for, and no more");
    assert.ok(!proxy.seen.some((r) => r.path.endsWith(`?n=${pages + 1}`)));
  } finally {
    await proxy.close();
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

/**
 * A proxy in front of `registry` that answers every referrers listing itself with `pages` pages
 * of `body(page)`, each linking to the next; counts the pages and bytes it sent.
 */
function referrersServer(
  registry: TestRegistry,
  pages: number,
  body: (page: number) => string,
) {
  const sent = { pages: 0, bytes: 0 };
  const proxy = startProxy(registry.host, (_request, url) => {
    if (!url.pathname.includes("/referrers/")) return Promise.resolve(undefined);
    const page = Number(url.searchParams.get("pg") ?? "1");
    const text = body(page);
    sent.pages++;
    sent.bytes += text.length;
    const link: Record<string, string> = page < pages
      ? { link: `<${url.pathname}?pg=${page + 1}>; rel="next"` }
      : {};
    return Promise.resolve(
      new Response(text, {
        headers: { "content-type": "application/vnd.oci.image.index.v1+json", ...link },
      }),
    );
  });
  return { proxy, sent };
}

/** A referrers index of one made-up manifest, with `annotations` when given. */
function referrersIndex(page: number, annotations?: Record<string, string>): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: "application/vnd.example+json",
      digest: `sha256:${createHash("sha256").update(`referrer ${page}`).digest("hex")}`,
      size: 100,
      ...(annotations === undefined ? {} : { annotations }),
    }],
  });
}

Deno.test("copy --referrers: referrers with megabytes of annotations: exit 5 past a bound, not kept", async () => {
  const registry = await startRegistry();
  const annotations = { "org.example.note": "a".repeat(1024 * 1024) };
  const { proxy, sent } = referrersServer(
    registry,
    10,
    (page) => referrersIndex(page, annotations),
  );
  const tmp = await Deno.makeTempDir();
  try {
    await pushApp(registry, tmp);
    const copy = expectExit(
      await ocisync(["copy", "--referrers", `${proxy.host}/t/app:v1`, `oci:${tmp}/out`]),
      ExitCode.Integrity,
    );
    assert.match(
      copy.stderr,
      /referrers of sha256:\w+ in .*: their annotations add up to more than \d+ MiB/,
    );
    // Read up to the page that went past the bound, and no further.
    const each = JSON.stringify(annotations).length;
    assert.equal(sent.pages, Math.floor(MAX_REFERRER_ANNOTATIONS / each) + 1);
  } finally {
    await proxy.close();
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("copy --referrers: pages of referrers are read up to a byte budget: exit 5", async () => {
  const registry = await startRegistry();
  // Each page as large as a manifest may be, with spaces after the index.
  const pageBytes = 4 * 1024 * 1024 - 1024;
  const { proxy, sent } = referrersServer(registry, 40, (page) => {
    const index = referrersIndex(page);
    return index + " ".repeat(pageBytes - index.length);
  });
  const tmp = await Deno.makeTempDir();
  try {
    await pushApp(registry, tmp);
    const copy = expectExit(
      await ocisync(["copy", "--referrers", `${proxy.host}/t/app:v1`, `oci:${tmp}/out`]),
      ExitCode.Integrity,
    );
    assert.match(
      copy.stderr,
      new RegExp(
        `pages of referrers add up to more than ${MAX_REFERRER_LISTING_BYTES / 1024 / 1024} MiB`,
      ),
    );
    assert.ok(sent.bytes > MAX_REFERRER_LISTING_BYTES, `${sent.bytes} bytes sent`);
    assert.ok(sent.bytes <= MAX_REFERRER_LISTING_BYTES + pageBytes, `${sent.bytes} bytes sent`);
  } finally {
    await proxy.close();
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("verify: a referrers listing longer than the bundles examined is read no further", async () => {
  const registry = await startRegistry();
  const proxy = startProxy(registry.host);
  const tmp = await Deno.makeTempDir();
  try {
    const digest = await pushApp(registry, tmp);
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    await Deno.writeTextFile(
      `${tmp}/cosign.pub`,
      publicKey.export({ type: "spki", format: "pem" }).toString(),
    );
    const list = `/v2/t/app/referrers/${digest}`;
    const bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json";
    // A first page of as many bundle referrers as are examined, and a second one after it.
    proxy.inject(
      {
        path: new RegExp(`${list}$`),
        fault: referrersPage(MAX_REFERRERS, `${list}?n=2`, bundleType),
      },
      { path: /\?n=2$/, fault: referrersPage(1, undefined, bundleType) },
    );
    const verify = await ocisync([
      "verify",
      "--key",
      `${tmp}/cosign.pub`,
      `${proxy.host}/t/app:v1`,
    ]);
    expectExit(verify, ExitCode.Verification);
    assert.ok(proxy.seen.some((r) => r.path.endsWith(list)), "the first page was read");
    assert.ok(!proxy.seen.some((r) => r.path.endsWith("?n=2")), "the second page was not");
    // Each referrer of the first page was looked at (its made-up manifest is missing).
    const looked = proxy.seen.filter((r) => r.path.includes("/manifests/sha256:")).length;
    assert.ok(looked >= MAX_REFERRERS, `${looked} manifests asked for`);
  } finally {
    await proxy.close();
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});
