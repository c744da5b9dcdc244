/**
 * containerd, the runtime under most Kubernetes nodes, imports an image index that ocisync wrote
 * as an `oci-archive:` file and unpacks the host's platform from it.
 */
import assert from "node:assert/strict";
import { ocisync, runOk, shown } from "./helpers/cli.ts";
import { requireTool } from "./helpers/tools.ts";
import { writeTree } from "./helpers/tree.ts";

requireTool("containerd", "containerd");
requireTool("ctr", "containerd");

/** A containerd of its own, in `dir`, for the length of `body`. */
async function withContainerd(dir: string, body: (ctr: string[]) => Promise<void>) {
  await Deno.writeTextFile(
    `${dir}/config.toml`,
    `version = 2\nroot = "${dir}/root"\nstate = "${dir}/state"\n[grpc]\n  address = "${dir}/sock"\n`,
  );
  const daemon = new Deno.Command("containerd", {
    args: ["--config", `${dir}/config.toml`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const ctr = ["--address", `${dir}/sock`, "--namespace", "ocisync-test"];
  try {
    // It answers once its socket is up.
    for (
      let i = 0;
      await new Deno.Command("ctr", { args: [...ctr, "version"] }).output()
        .then((o) => !o.success);
      i++
    ) {
      if (i > 100) throw new Error("containerd did not start");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await body(ctr);
  } finally {
    daemon.kill();
    await daemon.status;
  }
}

Deno.test("containerd imports an index from an oci-archive and unpacks the host's platform", async () => {
  // A short folder: containerd's socket path must fit a Unix socket's 108 bytes.
  const tmp = await Deno.makeTempDir({ dir: "/tmp", prefix: "ocd" });
  try {
    await writeTree(`${tmp}/app`, { "app.py": { type: "file", content: "print('hi')\n" } });
    const push = await ocisync([
      ...["push", `oci-archive:${tmp}/multi.tar:v1`, `${tmp}/app:/opt/app`],
      ...["--platform", "linux/amd64,linux/arm64", "-q"],
    ]);
    assert.equal(push.code, 0, shown(push));
    const digest = push.stdout.trim().split("@")[1];
    await withContainerd(tmp, async (ctr) => {
      const imported = await runOk("ctr", [
        ...ctr,
        ...["images", "import", "--snapshotter", "native"],
        `${tmp}/multi.tar`,
      ]);
      // ctr names the image after the archive's tag, v1, and keeps our index's digest.
      assert.match(
        imported,
        new RegExp(`unpacking \\S+:v1 \\(${digest}\\)\\.\\.\\.done`),
      );
      const listed = await runOk("ctr", [...ctr, "images", "ls"]);
      const line = listed.split("\n").find((l) => l.includes(digest));
      assert.ok(line?.includes(digest), listed);
      assert.match(line!, /linux\/amd64/);
      assert.match(line!, /linux\/arm64/);
      // The host's platform was unpacked into a snapshot.
      const snapshots = await runOk("ctr", [...ctr, "snapshots", "--snapshotter", "native", "ls"]);
      assert.ok(snapshots.trim().split("\n").length > 1, snapshots);
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
