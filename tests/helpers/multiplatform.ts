/**
 * The setup of the multi-platform tests (`multiplatform_test.ts`, `multiplatform_cli_test.ts`):
 * a base index pushed to the real registry, a project of native wheels for two architectures,
 * and readers of what the registry holds and was asked.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ocisync, runOk } from "./cli.ts";
import { sha256Digest } from "./hash.ts";
import type { RegistryRequest, TestRegistry } from "./registry.ts";
import { writeWheels } from "./wheels.ts";

export const INDEX = "application/vnd.oci.image.index.v1+json";
export const MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const TLS = "--tls-verify=false";

/** `ocisync ARGS… --json`, which must succeed, parsed. */
// deno-lint-ignore no-explicit-any
export async function ocisyncJson(args: string[]): Promise<any> {
  const result = await ocisync([...args, "--json"]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

/** The blobs whose upload the registry completed, by digest. */
export function uploaded(requests: RegistryRequest[]): string[] {
  return requests
    .filter((r) => r.method === "PUT" && r.path.includes("/blobs/uploads/"))
    .map((r) => new URL(r.path, "http://registry").searchParams.get("digest")!);
}

/** Requests that write: uploads and manifests. */
export function writes(requests: RegistryRequest[]): RegistryRequest[] {
  return requests.filter((r) => r.method === "PUT" || r.method === "POST" || r.method === "PATCH");
}

/** A manifest's or index's exact bytes, as the registry serves them. */
export async function rawManifest(
  registry: TestRegistry,
  repo: string,
  ref: string,
): Promise<Uint8Array> {
  const response = await fetch(`http://${registry.host}/v2/${repo}/manifests/${ref}`, {
    headers: { accept: [MANIFEST, INDEX].join(", ") },
  });
  assert.equal(response.status, 200, `${repo}:${ref}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** `skopeo inspect --raw`, parsed. */
// deno-lint-ignore no-explicit-any
export async function skopeoRaw(ref: string): Promise<any> {
  return JSON.parse(await runOk("skopeo", ["inspect", "--raw", TLS, `docker://${ref}`]));
}

/** The base index that {@linkcode pushBaseIndex} pushed, and its entries' digests. */
export interface BaseIndex {
  ref: string;
  digest: string;
  amd64: string;
  arm64: string;
  attestation: string;
}

/**
 * A base index in `base/multi:1`: a linux/amd64 and a linux/arm64 image pushed by ocisync, each
 * with a file naming its architecture, and an attestation-like `unknown/unknown` entry, listed
 * by an index written here by hand.
 */
export async function pushBaseIndex(registry: TestRegistry, tmp: string): Promise<BaseIndex> {
  const entries = [];
  for (
    const [tag, platform] of [
      ["amd64", "linux/amd64"],
      ["arm64", "linux/arm64"],
      ["att", "unknown/unknown"],
    ] as const
  ) {
    const root = `${tmp}/base-${tag}`;
    await Deno.mkdir(`${root}/etc`, { recursive: true });
    await Deno.writeTextFile(`${root}/etc/base-arch`, `${tag}\n`);
    await ocisyncJson([
      "push",
      `${registry.host}/base/multi:${tag}`,
      `${root}/etc:/etc`,
      "--platform",
      platform,
    ]);
    const bytes = await rawManifest(registry, "base/multi", tag);
    const [os, architecture] = platform.split("/");
    entries.push({
      mediaType: MANIFEST,
      digest: sha256Digest(bytes),
      size: bytes.length,
      platform: { architecture, os, ...(architecture === "arm64" ? { variant: "v8" } : {}) },
      ...(tag === "att"
        ? { annotations: { "vnd.docker.reference.type": "attestation-manifest" } }
        : {}),
    });
  }
  const index = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: INDEX,
    manifests: entries,
  }));
  const put = await fetch(`http://${registry.host}/v2/base/multi/manifests/1`, {
    method: "PUT",
    headers: { "content-type": INDEX },
    body: index,
  });
  assert.equal(put.status, 201, await put.text());
  return {
    ref: `${registry.host}/base/multi:1`,
    digest: sha256Digest(index),
    amd64: entries[0].digest,
    arm64: entries[1].digest,
    attestation: entries[2].digest,
  };
}

/** A project of `nativepkg==1.0` from local wheels for both architectures, and a flow. */
export async function writeProject(
  tmp: string,
  image: string,
  base: string,
  platforms: string,
): Promise<string> {
  const dir = `${tmp}/project`;
  await writeWheels(`${dir}/wheels`);
  await Deno.mkdir(`${dir}/flows`, { recursive: true });
  await Deno.writeTextFile(`${dir}/requirements.txt`, "nativepkg==1.0\n");
  await Deno.writeTextFile(`${dir}/flows/flow.py`, "print('hello from the flow')\n");
  const recipe = [
    `image: ${image}`,
    `base: ${base}`,
    `platforms: ${platforms}`,
    "layers:",
    "  - requirements: requirements.txt",
    "    installer: pip",
    "    no_index: true",
    "    find_links: [wheels]",
    '    python_version: "3.12"',
    "  - source: flows",
    "    dest: /opt/prefect/flows",
    "config:",
    "  workdir: /opt/prefect/flows",
    "annotations: { org.opencontainers.image.revision: abc123 }",
    "",
  ].join("\n");
  await Deno.writeTextFile(`${dir}/ocisync.yaml`, recipe);
  return `${dir}/ocisync.yaml`;
}

/** A file of a layer blob read from the registry, by tar. */
export async function layerFile(
  registry: TestRegistry,
  repo: string,
  digest: string,
  path: string,
  tmp: string,
): Promise<string> {
  const response = await fetch(`http://${registry.host}/v2/${repo}/blobs/${digest}`);
  assert.equal(response.status, 200);
  const file = `${tmp}/${digest.slice(7, 19)}.tar.gz`;
  await Deno.writeFile(file, new Uint8Array(await response.arrayBuffer()));
  return await runOk("tar", ["-xzOf", file, path]);
}
