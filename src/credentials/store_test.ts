import assert from "node:assert/strict";
import { DEFAULT_REGISTRY, DOCKER_HUB_ALIASES } from "../ref/mod.ts";
import {
  DOCKER_HUB_SERVER_ADDRESS,
  formatAuthKey,
  hostOfKey,
  keySpecificity,
  normaliseHost,
  parseAuthKey,
  serverAddress,
} from "./store.ts";

Deno.test("hostOfKey: hosts, URLs and API paths name their host; namespaces name none", () => {
  const cases: [string, string | undefined][] = [
    ["ghcr.io", "ghcr.io"],
    ["GHCR.io", "ghcr.io"],
    [" ghcr.io ", "ghcr.io"],
    ["https://ghcr.io", "ghcr.io"],
    ["https://GHCR.io/", "ghcr.io"],
    ["http://127.0.0.1:5000/v2/", "127.0.0.1:5000"],
    ["127.0.0.1:5000/v2/", "127.0.0.1:5000"],
    ["quay.io/v1", "quay.io"],
    ["https://quay.io/some/path", "quay.io"],
    ["https://user@registry.example", "registry.example"],
    ["[::1]:5000", "[::1]:5000"],
    // podman's namespace-scoped keys cannot be honoured by a per-registry lookup.
    ["quay.io/some-org", undefined],
    ["quay.io/v3/", undefined],
    ["", undefined],
    ["https://", undefined],
  ];
  for (const [key, host] of cases) assert.equal(hostOfKey(key), host, key);
});

Deno.test("Docker Hub: every alias and its config key mean docker.io", () => {
  // The aliases are src/ref's, so references and credentials cannot disagree.
  for (const alias of [...DOCKER_HUB_ALIASES, DEFAULT_REGISTRY]) {
    assert.equal(normaliseHost(alias), "docker.io", alias);
    assert.equal(hostOfKey(`https://${alias}/v1/`), "docker.io", alias);
  }
  assert.equal(hostOfKey(DOCKER_HUB_SERVER_ADDRESS), "docker.io");
  assert.equal(normaliseHost("Index.Docker.IO"), "docker.io");
});

Deno.test("normaliseHost: lowercases what names no registry, and is idempotent", () => {
  assert.equal(normaliseHost("Quay.io/Org"), "quay.io/org");
  for (const host of ["ghcr.io", "docker.io", "localhost:5000", "registry-1.docker.io"]) {
    assert.equal(normaliseHost(normaliseHost(host)), normaliseHost(host));
  }
});

Deno.test("serverAddress: Docker Hub's legacy key, else the host", () => {
  assert.equal(serverAddress("docker.io"), "https://index.docker.io/v1/");
  assert.equal(serverAddress("registry-1.docker.io"), "https://index.docker.io/v1/");
  assert.equal(serverAddress("GHCR.io"), "ghcr.io");
  assert.equal(serverAddress("localhost:5000"), "localhost:5000");
});

Deno.test("parseAuthKey: a key without a scheme and with a path is scoped to that path", () => {
  const cases: [string, ReturnType<typeof parseAuthKey>][] = [
    ["quay.io", { host: "quay.io" }],
    ["https://quay.io/org/app", { host: "quay.io" }],
    ["quay.io/v2/", { host: "quay.io" }],
    ["Quay.io/org", { host: "quay.io", namespace: "org" }],
    ["127.0.0.1:5000/test/app", { host: "127.0.0.1:5000", namespace: "test/app" }],
    ["index.docker.io/acme", { host: "docker.io", namespace: "acme" }],
    // An empty segment is under no repository: nothing is read for it.
    ["quay.io/org/", undefined],
    ["quay.io//app", undefined],
    ["", undefined],
  ];
  for (const [key, parsed] of cases) assert.deepEqual(parseAuthKey(key), parsed, key);
});

Deno.test("keySpecificity: whole path segments, the longest namespace the most specific", () => {
  const key = (namespace?: string) => ({ host: "r.io", namespace });
  assert.equal(keySpecificity(key(), "a/b/c"), 0);
  assert.equal(keySpecificity(key("a"), "a/b/c"), 1);
  assert.equal(keySpecificity(key("a/b"), "a/b/c"), 2);
  assert.equal(keySpecificity(key("a/b/c"), "a/b/c"), 3);
  // Another repository, a prefix that is not a segment, a namespace below the repository.
  assert.equal(keySpecificity(key("a/x"), "a/b/c"), undefined);
  assert.equal(keySpecificity(key("a/b-c"), "a/b"), undefined);
  assert.equal(keySpecificity(key("a"), "ab/c"), undefined);
  assert.equal(keySpecificity(key("a/b/c/d"), "a/b/c"), undefined);
  // A request to the registry itself is for the whole registry's key alone.
  assert.equal(keySpecificity(key(), undefined), 0);
  assert.equal(keySpecificity(key("a"), undefined), undefined);
});

Deno.test("formatAuthKey: docker login's key for a registry, podman's for a namespace", () => {
  assert.equal(formatAuthKey({ host: "docker.io" }), DOCKER_HUB_SERVER_ADDRESS);
  assert.equal(formatAuthKey({ host: "docker.io", namespace: "acme" }), "docker.io/acme");
  assert.equal(formatAuthKey({ host: "GHCR.io", namespace: "a/b" }), "ghcr.io/a/b");
});
