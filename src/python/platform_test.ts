import assert from "node:assert/strict";
import { UsageError } from "../errors/mod.ts";
import { installArgs } from "./installer.ts";
import { cpythonAbi, pipPlatformTags, pipTarget, pipTargetTags } from "./platform.ts";

Deno.test("pipPlatformTags: linux/amd64 and linux/arm64 are manylinux2014 and its manylinux_2_17 alias", () => {
  assert.deepEqual(pipPlatformTags("linux/amd64"), [
    "manylinux2014_x86_64",
    "manylinux_2_17_x86_64",
  ]);
  assert.deepEqual(pipPlatformTags({ os: "linux", architecture: "arm64", variant: "v8" }), [
    "manylinux2014_aarch64",
    "manylinux_2_17_aarch64",
  ]);
  assert.deepEqual(pipPlatformTags("linux/aarch64"), pipPlatformTags("linux/arm64"));
  assert.deepEqual(pipPlatformTags("linux/arm/v7"), [
    "manylinux2014_armv7l",
    "manylinux_2_17_armv7l",
  ]);
  assert.deepEqual(pipPlatformTags("linux/386")[0], "manylinux2014_i686");
  assert.deepEqual(pipPlatformTags("linux/ppc64le")[0], "manylinux2014_ppc64le");
  assert.deepEqual(pipPlatformTags("linux/s390x")[0], "manylinux2014_s390x");
});

Deno.test("pipPlatformTags: musl gives musllinux tags", () => {
  assert.deepEqual(pipPlatformTags("linux/amd64", "musl"), [
    "musllinux_1_2_x86_64",
    "musllinux_1_1_x86_64",
  ]);
  assert.deepEqual(pipPlatformTags("linux/arm64", "musl"), [
    "musllinux_1_2_aarch64",
    "musllinux_1_1_aarch64",
  ]);
});

Deno.test("pipPlatformTags: a platform without wheels is refused, naming it", () => {
  assert.throws(() => pipPlatformTags("windows/amd64"), (error: Error) => {
    assert.ok(error instanceof UsageError);
    assert.match(error.message, /windows\/amd64/);
    return true;
  });
  assert.throws(() => pipPlatformTags("linux/arm/v6"), /linux\/arm\/v6/);
  assert.throws(() => pipPlatformTags("linux/riscv64"), UsageError);
  assert.throws(() => pipPlatformTags("arm64"), UsageError);
});

Deno.test("pipTargetTags: OCI platforms are mapped, pip tags kept, repeats dropped", () => {
  assert.deepEqual(pipTargetTags(["manylinux2014_x86_64"]), ["manylinux2014_x86_64"]);
  assert.deepEqual(pipTargetTags(["linux/amd64", "manylinux2014_x86_64", "any"]), [
    "manylinux2014_x86_64",
    "manylinux_2_17_x86_64",
    "any",
  ]);
  assert.deepEqual(pipTargetTags(["linux/arm64"], "musl"), [
    "musllinux_1_2_aarch64",
    "musllinux_1_1_aarch64",
  ]);
});

Deno.test("cpythonAbi and pipTarget: cp3XX from the Python version", () => {
  assert.equal(cpythonAbi("3.12"), "cp312");
  assert.equal(cpythonAbi("3.9"), "cp39");
  assert.equal(cpythonAbi("3.10.4"), "cp310");
  assert.throws(() => cpythonAbi("three"), UsageError);
  assert.deepEqual(pipTarget("linux/arm64", { pythonVersion: "3.12" }), {
    platforms: ["manylinux2014_aarch64", "manylinux_2_17_aarch64"],
    implementation: "cp",
    abi: ["cp312"],
  });
  assert.deepEqual(pipTarget("linux/amd64"), {
    platforms: ["manylinux2014_x86_64", "manylinux_2_17_x86_64"],
    implementation: "cp",
  });
  assert.equal(
    pipTarget("linux/amd64", { implementation: "pp", pythonVersion: "3.10" }).abi,
    undefined,
  );
});

Deno.test("installArgs: pip gets each --platform and --abi; uv one --python-platform", () => {
  const target = pipTarget("linux/amd64", { pythonVersion: "3.12" });
  const options = { requirements: "r.txt", target: "/t", pythonVersion: "3.12", ...target };
  const pip = installArgs("pip", options);
  assert.deepEqual(pip.filter((_, i) => pip[i - 1] === "--platform"), target.platforms);
  assert.deepEqual(pip.filter((_, i) => pip[i - 1] === "--abi"), ["cp312"]);
  assert.ok(pip.includes("--implementation") && pip.includes(":all:"));
  const uv = installArgs("uv", options);
  assert.deepEqual(uv.filter((_, i) => uv[i - 1] === "--python-platform"), [
    "x86_64-manylinux2014",
  ]);
  assert.ok(!uv.includes("--abi") && !uv.includes("--implementation"));
  const musl = { ...options, ...pipTarget("linux/arm64", { libc: "musl" }) };
  assert.deepEqual(
    installArgs("uv", musl).filter((_, i, a) => a[i - 1] === "--python-platform"),
    ["aarch64-unknown-linux-musl"],
  );
  assert.throws(
    () =>
      installArgs("uv", { ...options, platforms: [...target.platforms, "manylinux2014_aarch64"] }),
    /uv takes one platform tag/,
  );
  assert.throws(() => installArgs("uv", { ...options, abi: ["cp311"] }), /uv takes no ABI/);
  assert.throws(
    () => installArgs("uv", { ...options, implementation: "pp" }),
    /uv takes no implementation/,
  );
});
