/**
 * The permissions the ocisync binary is compiled with. This is the one place
 * they are written: `scripts/compile.ts` bakes them in, and the tests and the
 * demo run `main.ts` with exactly these flags, so a missing permission fails a
 * test instead of a user.
 *
 * - `--allow-read`, `--allow-write`: folders to pack and extract, layouts,
 *   credential files, state files.
 * - `--allow-net`: registries and token servers.
 * - `--allow-env`: `SOURCE_DATE_EPOCH`, `DOCKER_CONFIG`, `REGISTRY_AUTH_FILE`,
 *   `HOME`, proxies, `NO_COLOR`.
 * - `--allow-run`: `docker-credential-*` helpers, pip and hooks.
 * - `--allow-sys=hostname`: the layout lock records its host, so a lock left by a crashed
 *   process on this host can be broken at once.
 *
 * @module
 */

/** The `--allow-*` flags of the compiled binary. */
export const PERMISSION_FLAGS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-run",
  "--allow-sys=hostname",
];

/** Modules loaded at run time that `deno compile` must embed (worker threads). */
export const COMPILE_INCLUDES: readonly string[] = [
  "src/compress/deflate_worker.ts",
  "src/compress/zstd_worker.ts",
  "src/unpack/worker.ts",
];
