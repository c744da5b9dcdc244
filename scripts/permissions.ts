/**
 * The flags the ocisync binary is compiled with: its permissions, and one V8 setting. This is the
 * one place they are written: `scripts/compile.ts` bakes them in, and the tests, the benchmarks
 * and the demo run `main.ts` with exactly these flags ({@linkcode RUN_FLAGS}), so a missing
 * permission fails a test instead of a user, and the benchmarks measure the memory the binary
 * uses.
 *
 * - `--allow-read`, `--allow-write`: folders to pack and extract, layouts,
 *   credential files, state files.
 * - `--allow-net`: registries and token servers.
 * - `--allow-env`: `SOURCE_DATE_EPOCH`, `DOCKER_CONFIG`, `REGISTRY_AUTH_FILE`,
 *   `HOME`, proxies, `NO_COLOR`.
 * - `--allow-run`: `docker-credential-*` helpers, pip and hooks.
 * - `--allow-sys=hostname`: the layout lock records its host, so a lock left by a crashed
 *   process on this host can be broken at once.
 * - `--v8-flags=--max-semi-space-size=2`: see {@linkcode V8_FLAGS}.
 *
 * @module
 */

/** The `--allow-*` flags of the compiled binary. */
const PERMISSION_FLAGS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-run",
  "--allow-sys=hostname",
];

/**
 * V8's young generation, per thread, is capped at 2 MiB a half. V8 grows it, by default up to 16
 * MiB a half, when many objects live through a collection, and a pull of a layer of many small
 * files makes them (entries parsed ahead of the unpacking thread, and that thread's batches of
 * them): peak RSS rose with the entry count, to 220–250 MB at 100,000 entries, against 135–140 MB
 * capped, with no change in speed measured for pull, push or pack.
 */
const V8_FLAGS: readonly string[] = ["--v8-flags=--max-semi-space-size=2"];

/** The flags of the compiled binary, for `deno compile` and for a `deno run` of `main.ts`. */
export const RUN_FLAGS: readonly string[] = [...PERMISSION_FLAGS, ...V8_FLAGS];

/** Modules loaded at run time that `deno compile` must embed (worker threads). */
export const COMPILE_INCLUDES: readonly string[] = [
  "src/compress/deflate_worker.ts",
  "src/compress/zstd_worker.ts",
  "src/unpack/worker.ts",
];
