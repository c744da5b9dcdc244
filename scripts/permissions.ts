/**
 * The flags the ocisync binary is compiled with: its permissions, and one V8 setting. This is the
 * one place they are written: `scripts/compile.ts` bakes them in, and the tests, the benchmarks
 * and the demo run `main.ts` with exactly these flags ({@linkcode RUN_FLAGS}), so a missing
 * permission fails a test instead of a user, and the benchmarks measure the memory the binary
 * uses.
 *
 * - `--allow-all`: the binary reads and writes wherever the user points it, talks to any
 *   registry, and runs the programs that the user's configuration names (`docker-credential-*`
 *   helpers, pip or uv, `sync --exec` hooks through `sh`), so it needs `--allow-run` for any
 *   program, which Deno's documentation calls "effectively the same as allow-all"
 *   (`Deno.RunPermissionDescriptor`: a program run is not sandboxed). The list the binary had
 *   (read, write, net, env, run, and the host name) isolated nothing, and cost time: short of
 *   every permission, Deno resolves each component of every path it opens (a `readlink` each,
 *   and a `getcwd`) to refuse `/proc/self` and `/dev` paths, about 27 µs an open. A pull of
 *   100,000 small files took 5.9 s against 3.7 s, a pack of 20,000 files 2.7 s against 1.8 s.
 *   With every permission, ocisync can also read the mount table (`/proc/self/mounts`), which
 *   `src/fs/mounts.ts` reads to keep a pull or a sync from deleting a mounted file system's files.
 * - `--v8-flags=--max-semi-space-size=2,--heap-growing-percent=50`: see {@linkcode V8_FLAGS}.
 *
 * @module
 */

/** The permission flag of the compiled binary: see the module's documentation. */
const PERMISSION_FLAGS: readonly string[] = ["--allow-all"];

/**
 * How V8 lets its heaps grow, so that memory does not grow with the entries of a pull:
 *
 * - `--max-semi-space-size=2`: the young generation, per thread, is capped at 2 MiB a half. V8
 *   grows it, by default up to 16 MiB a half, when many objects live through a collection, and
 *   a pull of a layer of many small files makes them (entries parsed ahead of the unpacking
 *   thread, and that thread's batches of them): peak RSS rose with the entry count, to 220–250
 *   MB at 100,000 entries, against 135–140 MB capped.
 * - `--heap-growing-percent=50`: after a full collection, the old generation may grow by half
 *   before the next, not by V8's own factor (up to four times when it judges collections slow
 *   against the allocation rate). Once the binary had every permission, a pull of 100,000 small
 *   files went faster, allocated faster, and its RSS rose through the run to 170–180 MB, almost
 *   all of it garbage not yet collected (the heaps held 20–40 MB): with the flag it stays at
 *   120–135 MB from the first seconds on.
 *
 * Neither changed the speed measured for pull, push, copy or pack (interleaved runs on tmpfs).
 */
const V8_FLAGS: readonly string[] = [
  "--v8-flags=--max-semi-space-size=2,--heap-growing-percent=50",
];

/** The flags of the compiled binary, for `deno compile` and for a `deno run` of `main.ts`. */
export const RUN_FLAGS: readonly string[] = [...PERMISSION_FLAGS, ...V8_FLAGS];

/** Modules loaded at run time that `deno compile` must embed (worker threads). */
export const COMPILE_INCLUDES: readonly string[] = [
  "src/compress/deflate_worker.ts",
  "src/compress/zstd_worker.ts",
  "src/unpack/worker.ts",
];
