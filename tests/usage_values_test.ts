/**
 * Values that parse but make no sense (issue 13): counts that cannot be
 * allocated, durations the runtime's timers cannot hold, empty paths and
 * platforms. Each is a usage error (exit 2) that names the flag and its range,
 * for every command that takes the flag, and nothing is created.
 */
import assert from "node:assert/strict";
import { ocisync, shown } from "./helpers/cli.ts";

/**
 * Each command with arguments that are valid but for the flag under test. The references name
 * layouts that do not exist: a value must be refused before anything is opened or created.
 */
const BASE: Record<string, string[]> = {
  pack: ["pack", "src", "-o", "out.tar.gz"],
  deps: ["deps", "-r", "requirements.txt", "-o", "deps.tar.gz"],
  push: ["push", "oci:./pushed:v1", "src"],
  pull: ["pull", "oci:./bundle:v1", "-o", "pulled"],
  copy: ["copy", "oci:./bundle:v1", "oci:./copied:v1"],
  build: ["build", "-f", "ocisync.yaml"],
  inspect: ["inspect", "oci:./bundle:v1"],
  tags: ["tags", "oci:./bundle"],
  login: ["login", "localhost:5000", "-u", "me", "--password-stdin"],
  sync: ["sync", "oci:./bundle:v1", "--events", "--once"],
  gc: ["gc", "oci:./bundle"],
};

const REGISTRY_COMMANDS = ["push", "pull", "copy", "build", "inspect", "tags", "login", "sync"];
const CONCURRENCY_COMMANDS = ["push", "copy", "build"];
const PLATFORM_COMMANDS = ["pull", "copy", "push", "sync", "deps"];
const OUTPUT_COMMANDS = ["pack", "deps", "pull", "sync"];

/** One refused value: the flag and value to add, and what the error must say. */
interface Case {
  command: string;
  args: string[];
  error: RegExp;
}

function cases(commands: string[], args: string[], error: RegExp): Case[] {
  return commands.map((command) => ({ command, args, error }));
}

const RETRIES = /--retries must be a whole number from 0 to 20, not "/;
const TIMEOUT = /--timeout must be a duration (such as .* )?from 1ms to 24h, not "/;
const CONCURRENCY = /--concurrency must be a whole number from 1 to 64, not "/;
const SIZE = /--max-extract-size must be a size (such as .* )?from 1 byte to 8PiB, not "/;
const INTERVAL = /--interval must be a duration (such as .* )?from 1ms to 24h, not "/;
const empty = (flag: string) => new RegExp(`--${flag} needs a value, not an empty string`);

const CASES: Case[] = [
  ...cases(REGISTRY_COMMANDS, ["--retries", "21"], RETRIES),
  ...cases(REGISTRY_COMMANDS, ["--retries", "-1"], RETRIES),
  ...cases(REGISTRY_COMMANDS, ["--retries", "1e1"], RETRIES),
  ...cases(REGISTRY_COMMANDS, ["--timeout", "0"], TIMEOUT),
  ...cases(REGISTRY_COMMANDS, ["--timeout", "0ms"], TIMEOUT),
  // One past the runtime's timer limit (2^31-1 ms), where a timer fires at once.
  ...cases(REGISTRY_COMMANDS, ["--timeout", "2147483648ms"], TIMEOUT),
  ...cases(REGISTRY_COMMANDS, ["--timeout", "25h"], TIMEOUT),
  ...cases(REGISTRY_COMMANDS, ["--timeout", "30d"], TIMEOUT),
  ...cases(REGISTRY_COMMANDS, ["--timeout", ""], empty("timeout")),
  ...cases(REGISTRY_COMMANDS, ["--retries", ""], empty("retries")),
  ...cases(REGISTRY_COMMANDS.filter((c) => c !== "login"), ["-u", ""], empty("username")),
  ...cases(CONCURRENCY_COMMANDS, ["--concurrency", "1000000000"], CONCURRENCY),
  ...cases(CONCURRENCY_COMMANDS, ["--concurrency", "65"], CONCURRENCY),
  ...cases(CONCURRENCY_COMMANDS, ["--concurrency", "0"], CONCURRENCY),
  ...cases(CONCURRENCY_COMMANDS, ["--concurrency", "0x10"], CONCURRENCY),
  ...cases(CONCURRENCY_COMMANDS, ["--concurrency", ""], empty("concurrency")),
  ...cases(PLATFORM_COMMANDS, ["--platform", ""], empty("platform")),
  ...cases(PLATFORM_COMMANDS, ["--platform="], empty("platform")),
  ...cases(["pull", "copy"], ["--platform", "linux"], /--platform: invalid platform "linux"/),
  ...cases(OUTPUT_COMMANDS, ["-o", ""], empty("output")),
  ...cases(OUTPUT_COMMANDS, ["--output="], empty("output")),
  ...cases(["pull", "sync"], ["--max-extract-size", "0"], SIZE),
  ...cases(["pull", "sync"], ["--max-extract-size", "9000TiB"], SIZE),
  ...cases(["pull", "sync"], ["--max-extract-size", ""], empty("max-extract-size")),
  ...cases(["sync"], ["--interval", "0"], INTERVAL),
  ...cases(["sync"], ["--interval", "25h"], INTERVAL),
  ...cases(["sync"], ["--max-failures", "0"], /--max-failures must be a whole number 1 or more/),
  ...cases(["sync"], ["--keep", "1e3"], /--keep must be a whole number 1 or more/),
  ...cases(["sync"], ["--state", ""], empty("state")),
  ...cases(["pack", "deps"], ["--mtime", ""], empty("mtime")),
  ...cases(["pack", "deps"], ["--prefix", ""], empty("prefix")),
  ...cases(["pack", "push"], ["--exclude", ""], empty("exclude")),
  ...cases(["push", "build"], ["--tag", ""], empty("tag")),
  ...cases(["push", "pull", "copy"], ["--credentials", ""], empty("credentials")),
  ...cases(["push", "pull", "copy"], ["--ca-file", ""], empty("ca-file")),
  ...cases(["build"], ["--image", ""], empty("image")),
  ...cases(["deps"], ["-r", ""], empty("requirements")),
];

/** An empty positional argument: a path or reference that would mean "." or nothing. */
const EMPTY_ARGUMENTS: [string[], RegExp][] = [
  [["pack", "", "-o", "out.tar.gz"], /pack: argument 1 is empty/],
  [["push", "oci:./pushed:v1", "src", ""], /push: argument 3 is empty/],
  [["pull", "", "-o", "pulled"], /pull: argument 1 is empty/],
  [["gc", ""], /gc: argument 1 is empty/],
];

/** A folder with a source tree, a requirements file and a recipe, so that only the flag is wrong. */
async function withWork(body: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "ocisync-usage-test-" });
  try {
    await Deno.mkdir(`${tmp}/src`);
    await Deno.writeTextFile(`${tmp}/src/a.txt`, "a\n");
    await Deno.writeTextFile(`${tmp}/requirements.txt`, "purepkg==1.0\n");
    await Deno.writeTextFile(
      `${tmp}/ocisync.yaml`,
      "image: oci:./built:v1\nlayers:\n  - source: src\n    dest: /app\n",
    );
    await body(tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** The names in a folder, sorted. */
function listing(dir: string, filter: (name: string) => boolean = () => true): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter(filter).sort();
}

/** Runs one refused command line and checks the error and that nothing was created. */
async function assertRefused(tmp: string, args: string[], error: RegExp): Promise<void> {
  const before = listing(tmp);
  const result = await ocisync(args, { cwd: tmp, stdin: "password\n" });
  const what = `ocisync ${args.map((a) => JSON.stringify(a)).join(" ")}\n${shown(result)}`;
  assert.equal(result.code, 2, what);
  assert.match(result.stderr, /^ocisync: error: /, what);
  assert.match(result.stderr, error, what);
  assert.equal(result.stdout, "", what);
  assert.deepEqual(listing(tmp), before, `nothing is created: ${what}`);
}

Deno.test("usage: out-of-range and empty values are refused by every command that takes them", async () => {
  await withWork(async (tmp) => {
    // `-o ""` once made a staging folder in /: watch / too.
    const staging = (name: string) => name.startsWith(".ocisync");
    const rootBefore = listing("/", staging);
    for (const { command, args, error } of CASES) {
      await assertRefused(tmp, [...BASE[command], ...args], error);
    }
    assert.deepEqual(listing("/", staging), rootBefore, "nothing is created in /");
  });
});

Deno.test("usage: an empty argument is refused, naming its place", async () => {
  await withWork(async (tmp) => {
    for (const [args, error] of EMPTY_ARGUMENTS) await assertRefused(tmp, args, error);
  });
});

Deno.test("usage: inspect --raw --config is refused; --raw used to win without a word", async () => {
  await withWork(async (tmp) => {
    const pushed = await ocisync(["push", "oci:./bundle:v1", "src"], { cwd: tmp });
    assert.equal(pushed.code, 0, shown(pushed));
    await assertRefused(
      tmp,
      ["inspect", "oci:./bundle:v1", "--raw", "--config"],
      /--raw prints the manifest and --config the config: give one of them/,
    );
  });
});

Deno.test("usage: the ends of each range are accepted", async () => {
  await withWork(async (tmp) => {
    const run = async (args: string[]) => {
      const result = await ocisync(args, { cwd: tmp });
      assert.equal(result.code, 0, `ocisync ${args.join(" ")}\n${shown(result)}`);
      return result;
    };
    await run(["push", "oci:./bundle:v1", "src", "--concurrency", "64", "--retries", "20"]);
    await run(["copy", "oci:./bundle:v1", "oci:./copied:v1", "--concurrency", "1"]);
    await run(["inspect", "oci:./bundle:v1", "--timeout", "24h", "--retries", "0"]);
    await run(["inspect", "oci:./bundle:v1", "--timeout", "1ms"]);
    // One byte is a valid limit, which this image's layer then exceeds: exit 7, not 2.
    const bomb = await ocisync([
      "pull",
      "oci:./bundle:v1",
      "-o",
      "pulled",
      "--max-extract-size",
      "1",
    ], {
      cwd: tmp,
    });
    assert.equal(bomb.code, 7, shown(bomb));
    await run([
      ...["sync", "oci:./bundle:v1", "-o", "live", "--once", "--interval", "24h"],
      ...["--max-extract-size", "8PiB"],
    ]);
  });
});

Deno.test('usage: an empty value is kept where it means something: push --entrypoint ""', async () => {
  await withWork(async (tmp) => {
    // Documented: `--entrypoint ""` (and `--cmd ""`) mean none. The option spec says so with
    // `allowEmpty`, and the Prefect plug-in passes it.
    for (const flag of ["--entrypoint", "--cmd"]) {
      const result = await ocisync(["push", "oci:./bundle:v1", "src", flag, ""], { cwd: tmp });
      assert.equal(result.code, 0, `${flag} "": ${shown(result)}`);
    }
  });
});

Deno.test("usage: a bad --semver or --tag-regex names the flag in its hint", async () => {
  // The message names the library's key (a --config file's); the hint, the command line's flag.
  const [semver, regex] = await Promise.all([
    ocisync(["pull", "localhost:1/app", "--semver", "garbage((", "-o", "unused"]),
    ocisync(["pull", "localhost:1/app", "--tag-regex", "(", "-o", "unused"]),
  ]);
  assert.equal(semver.code, 2, shown(semver));
  assert.match(semver.stderr, /\nhint: write it as .* \(--semver\)\n$/);
  assert.equal(regex.code, 2, shown(regex));
  assert.match(regex.stderr, /\nhint: give a JavaScript regular expression, .* \(--tag-regex\)\n$/);
});
