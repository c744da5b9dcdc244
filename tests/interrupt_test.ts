/**
 * A command stopped by a signal (Ctrl-C's SIGINT, a CI job's SIGTERM, a closed terminal's
 * SIGHUP) leaves no half-written file or folder behind, and exits with 128 and the signal's
 * number, as a shell reports. To stop each command at a known point, a proxy in front of the
 * registry stalls the layer's download or upload after its first bytes; the signal comes once
 * the command's temporary file or folder is there.
 */
import assert from "node:assert/strict";
import { RUN_FLAGS } from "../scripts/permissions.ts";
import { ocisyncOk } from "./helpers/cli.ts";
import { type FaultRule, type FrontProxy, startProxy } from "./helpers/fault_proxy.ts";
import { tarImage } from "./helpers/layers.ts";
import { startRegistry } from "./helpers/registry.ts";
import { namesIn, withTempDir } from "./helpers/tree.ts";
import { until } from "./helpers/wait.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** The signals that stop a command, with the exit codes a shell reports for them. */
const STOP_SIGNALS: { signal: Deno.Signal; code: number }[] = [
  { signal: "SIGINT", code: 130 },
  { signal: "SIGTERM", code: 143 },
  { signal: "SIGHUP", code: 129 },
];

/** A stall of the layer's download (a `GET` of a blob of at least 1 MiB) after 64 KiB. */
const STALLED_DOWNLOAD: FaultRule = {
  method: "GET",
  path: /\/blobs\/sha256:/,
  times: Infinity,
  fault: { kind: "stall", seconds: 60, after: 64 * 1024 },
};

/** Whether the proxy has stalled a request. */
function stalled(proxy: FrontProxy): boolean {
  return proxy.seen.some((request) => request.fault === "stall");
}

/**
 * Runs `ocisync ARGS…` (with `env`), sends `signal` once `ready` says the command is where it
 * should be stopped, and returns its exit code and stderr.
 */
async function stopped(
  args: string[],
  signal: Deno.Signal,
  what: string,
  ready: () => boolean,
  env: Record<string, string> = {},
): Promise<{ code: number; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...RUN_FLAGS, MAIN, ...args],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    await until(ready, what);
  } catch (error) {
    child.kill("SIGKILL");
    await child.output();
    throw error;
  }
  child.kill(signal);
  const { code, stderr } = await child.output();
  return { code, stderr: new TextDecoder().decode(stderr) };
}

/**
 * A registry behind a proxy that stalls the downloads of blobs, holding `app:v1`: a folder with
 * a 2 MiB file of random bytes.
 */
async function withStalledImage(
  fn: (proxy: FrontProxy, tmp: string) => Promise<void>,
): Promise<void> {
  const registry = await startRegistry();
  const proxy = startProxy(registry.host);
  try {
    await withTempDir("ocisync-interrupt-", async (tmp) => {
      await Deno.mkdir(`${tmp}/src`);
      // getRandomValues fills at most 64 KiB a call.
      const random = new Uint8Array(2 * 1024 * 1024);
      for (let at = 0; at < random.length; at += 65536) {
        crypto.getRandomValues(random.subarray(at, at + 65536));
      }
      await Deno.writeFile(`${tmp}/src/data.bin`, random);
      await ocisyncOk(["push", `${registry.host}/app:v1`, `${tmp}/src`]);
      proxy.inject(STALLED_DOWNLOAD);
      await fn(proxy, tmp);
    });
  } finally {
    await proxy.close();
    await registry.stop();
  }
}

for (const { signal, code } of STOP_SIGNALS) {
  Deno.test(`${signal} during a pull removes the staging folder and exits ${code}`, async () => {
    await withStalledImage(async (proxy, tmp) => {
      await Deno.mkdir(`${tmp}/parent`);
      const result = await stopped(
        ["pull", `${proxy.host}/app:v1`, "-o", `${tmp}/parent/out`],
        signal,
        "the stalled layer download, with the staging folder made",
        () => stalled(proxy) && namesIn(`${tmp}/parent`).length > 0,
      );
      assert.equal(result.code, code, result.stderr);
      assert.match(result.stderr, new RegExp(`stopped by ${signal}`));
      assert.deepEqual(namesIn(`${tmp}/parent`), [], "no staging folder, no destination");
    });
  });
}

Deno.test("SIGINT during a copy into a layout removes the blob's temporary file", async () => {
  await withStalledImage(async (proxy, tmp) => {
    const blobs = `${tmp}/layout/blobs/sha256`;
    const result = await stopped(
      ["copy", `${proxy.host}/app:v1`, `oci:${tmp}/layout:v1`],
      "SIGINT",
      "the layer's temporary file in the layout",
      () => namesIn(blobs).some((name) => name.endsWith(".tmp")),
    );
    assert.equal(result.code, 130, result.stderr);
    assert.deepEqual(namesIn(blobs).filter((name) => name.startsWith(".")), []);
  });
});

Deno.test("SIGTERM during a copy into an archive removes its staging folder", async () => {
  await withStalledImage(async (proxy, tmp) => {
    await Deno.mkdir(`${tmp}/out`);
    const result = await stopped(
      ["copy", `${proxy.host}/app:v1`, `oci-archive:${tmp}/out/app.tar`],
      "SIGTERM",
      "the archive's staging folder, holding the layer's temporary file",
      () =>
        namesIn(`${tmp}/out`).some((name) =>
          name.endsWith(".staging") &&
          namesIn(`${tmp}/out/${name}/blobs/sha256`).some((blob) => blob.endsWith(".tmp"))
        ),
    );
    assert.equal(result.code, 143, result.stderr);
    assert.deepEqual(namesIn(`${tmp}/out`), [], "no staging folder, no lock file");
  });
});

Deno.test("SIGTERM during a push removes the packed layer's work folder", async () => {
  await withStalledImage(async (proxy, tmp) => {
    proxy.inject({
      method: "POST",
      path: /^\/v2\/other\/blobs\/uploads\//,
      times: Infinity,
      fault: { kind: "stall", seconds: 60 },
    });
    await Deno.mkdir(`${tmp}/temporary`);
    const result = await stopped(
      ["push", `${proxy.host}/other:v1`, `${tmp}/src`],
      "SIGTERM",
      "the stalled upload, with the layer packed in the work folder",
      () => stalled(proxy) && namesIn(`${tmp}/temporary`).length > 0,
      { TMPDIR: `${tmp}/temporary` },
    );
    assert.equal(result.code, 143, result.stderr);
    assert.deepEqual(namesIn(`${tmp}/temporary`), []);
  });
});

Deno.test("SIGINT while a pull merges its files waits for the merge: every file is in place", async () => {
  await withTempDir("ocisync-interrupt-merge-", async (tmp) => {
    // Enough files that the merge takes a while: the signal comes once it has begun.
    const names = Array.from({ length: 20_000 }, (_, i) => `f${String(i).padStart(5, "0")}`);
    const reference = await tarImage(tmp, [
      names.map((name) => ({ type: "file" as const, name, data: name })),
    ]);
    const destination = `${tmp}/out`;
    await Deno.mkdir(destination);
    await Deno.writeTextFile(`${destination}/mine.txt`, "the user's\n");
    const result = await stopped(
      ["pull", reference, "-o", destination],
      "SIGINT",
      "the merge's first file in the destination",
      () => namesIn(destination).includes(names[0]),
    );
    assert.equal(result.code, 130, result.stderr);
    assert.match(result.stderr, /SIGINT: stopping once the files are in place/);
    const merged = namesIn(destination);
    assert.equal(merged.length, names.length + 1, "every file of the image, and the user's");
    assert.equal(Deno.readTextFileSync(`${destination}/mine.txt`), "the user's\n");
    assert.deepEqual(namesIn(tmp).filter((name) => name.startsWith(".ocisync-pull-")), []);
    assert.deepEqual(namesIn(destination).filter((name) => name.startsWith(".")), []);
  });
});

Deno.test("SIGTERM while deps runs its installer ends the installer and what it started", () =>
  withTempDir("ocisync-interrupt-", async (tmp) => {
    // An installer that starts a child of its own and takes its time, as pip building a wheel.
    const installer = `${tmp}/slow-pip`;
    await Deno.writeTextFile(
      installer,
      `#!/bin/sh
if [ "$1" = "--version" ]; then echo "pip 24.0 from /nowhere (python 3.11)"; exit 0; fi
sleep 60 &
echo "$$ $!" > '${tmp}/pids.tmp' && mv '${tmp}/pids.tmp' '${tmp}/pids'
wait
`,
      { mode: 0o755 },
    );
    await Deno.writeTextFile(`${tmp}/requirements.txt`, "alpha==1.0\n");
    const { code, stderr } = await stopped(
      [
        ...["deps", "-r", `${tmp}/requirements.txt`, "-o", `${tmp}/deps.tgz`, "--no-cache"],
        ...["--installer", "pip", "--installer-command", installer],
        ...["--python-version", "3.11", "--platform", "linux/amd64"],
      ],
      "SIGTERM",
      "the installer to start",
      () => namesIn(tmp).includes("pids"),
      { TMPDIR: tmp },
    );
    assert.equal(code, 143, stderr);
    const pids = (await Deno.readTextFile(`${tmp}/pids`)).trim().split(" ").map(Number);
    // Each is gone, or a zombie that its new parent has yet to reap. The signal was sent as
    // ocisync exited: a loaded machine may take a moment to deliver it.
    const running = () =>
      pids.filter((pid) => {
        try {
          return !/^\d+ \(.*\) Z/.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
        } catch {
          return false;
        }
      });
    for (let wait = 0; wait < 50 && running().length > 0; wait++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const alive = running();
    assert.deepEqual(alive, [], `still running: ${alive.join(", ")}`);
    assert.deepEqual(namesIn(tmp).sort(), ["pids", "requirements.txt", "slow-pip"]);
  }));
