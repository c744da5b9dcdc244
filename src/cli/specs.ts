/**
 * The spec of every command: its options, positionals and help. `--help`, the shell completions,
 * `docs/cli.md` and the dispatcher read only these, so this module is light on purpose: it
 * imports no command's code, and each command's run function is loaded when that command runs
 * (see `commands/mod.ts`).
 *
 * @module
 */
import type { CommandSpec, OptionSpec } from "./args.ts";
import {
  COMPRESSION_OPTION,
  KEYLESS_OPTIONS,
  LAYER_OPTIONS,
  LIBC_OPTION,
  OUTPUT_OPTIONS,
  REGISTRY_OPTIONS,
  TAG_POLICY_OPTIONS,
  VERIFY_OPTIONS,
} from "./options.ts";
import { DEFAULT_MAX_ENTRIES } from "../unpack/limits.ts";

// `sync`'s and `deps`'s defaults, from modules light enough for `--help`.
import { SYNC_DEFAULTS } from "../sync/defaults.ts";
import { DEFAULT_DEPS_PREFIX, INSTALLER_COMMAND_ENV } from "../python/defaults.ts";

/** The spec of `pack`. */
export const packSpec: CommandSpec = {
  name: "pack",
  summary: "build one deterministic layer from a folder",
  usage:
    "ocisync pack SRC -o FILE [--prefix PATH] [--exclude GLOB]... [--compression gzip|zstd|none]",
  positionals: [1, 1],
  options: [
    {
      name: "output",
      short: "o",
      type: "string",
      value: "FILE",
      description: "where to write the layer; - for stdout",
    },
    {
      name: "prefix",
      type: "string",
      value: "PATH",
      description: "where SRC lands in the layer",
      default: "/",
    },
    {
      name: "exclude",
      type: "list",
      value: "GLOB",
      description:
        "leave out paths that match (gitignore syntax), beside .ociignore's and .git, .hg, .svn; '!.git' brings one back",
    },
    COMPRESSION_OPTION,
    {
      name: "mtime",
      type: "string",
      value: "EPOCH",
      description: "the mtime of every entry",
      default: "$SOURCE_DATE_EPOCH or 0",
    },
    ...OUTPUT_OPTIONS,
  ],
  examples: [
    "ocisync pack ./flows -o flows.tar.gz",
    "ocisync pack ./flows --prefix /opt/prefect/flows --exclude '*.log' -o flows.tar.zst --compression zstd",
    "SOURCE_DATE_EPOCH=1700000000 ocisync pack ./site -o site.tar --compression none --json",
  ],
};

/** `--concurrency N`, the blobs uploaded at once; `build` takes it too. */
export const CONCURRENCY_OPTION: OptionSpec = {
  name: "concurrency",
  type: "string",
  value: "N",
  description: "blobs uploaded at once",
  default: "4",
};

// The artifact type of `--files` without `--artifact-type`, as ORAS defaults it.
import { DEFAULT_ARTIFACT_TYPE } from "../api/defaults.ts";
export { DEFAULT_ARTIFACT_TYPE };

/** `-t, --tag` of push and build, which check every tag before they pack or send anything. */
const TAG_OPTION: OptionSpec = {
  name: "tag",
  short: "t",
  type: "list",
  value: "TAG",
  description: "also tag the image TAG; one the destination cannot hold is refused before " +
    "anything is packed or sent",
};

/**
 * The default limit on what a pull may decompress, a copy into a docker-archive (which holds
 * the layers uncompressed) and the checks of a pushed layer file: a decompression bomb stops here. The library's default for the
 * archive, `DEFAULT_MAX_EXTRACT_BYTES` of `../archive/mod.ts`, is the same size.
 */
export const DEFAULT_MAX_EXTRACT_SIZE = "32GiB";

/** `--max-extract-size SIZE` of `pull`; `copy`, `push` and `sync` word it for what they do. */
export const MAX_EXTRACT_SIZE_OPTION: OptionSpec = {
  name: "max-extract-size",
  type: "string",
  value: "SIZE",
  description: "the most bytes the layers may decompress to",
  default: DEFAULT_MAX_EXTRACT_SIZE,
};

/** The spec of `push`. */
export const pushSpec: CommandSpec = {
  name: "push",
  summary: "push folders and layer files as an image, or files as an artifact",
  usage: "ocisync push REF SOURCE... [--tag T]... [--base REF [--platform all|OS/ARCH,...]] | " +
    "ocisync push REF --files FILE[:TYPE]... [--artifact-type TYPE]",
  positionals: [1, Infinity],
  options: [
    TAG_OPTION,
    {
      name: "platform",
      type: "list",
      value: "OS/ARCH",
      description: "the image's platform; with --base, the one chosen from its index. " +
        "Several (comma-separated), or all with --base (every platform of its " +
        "index), push an image index of the same layers on each",
      default: "linux/amd64",
    },
    {
      name: "base",
      type: "string",
      value: "REF",
      description: "append the layers to this image, keeping its layers, config and history",
    },
    {
      name: "keep-index-entries",
      type: "boolean",
      description: "with --base and several platforms: keep the base index's other entries " +
        "(attestations) as they are; left out by default",
    },
    {
      name: "env",
      type: "list",
      value: "K=V",
      description: "set a variable; $NAME expands, so PATH=/opt/x/bin:$PATH prepends",
    },
    { name: "workdir", type: "string", value: "DIR", description: "the working directory" },
    {
      name: "entrypoint",
      type: "string",
      value: "CMD",
      description: 'the entrypoint: a program, or a JSON array ["prog", "arg"]; "" for none',
      allowEmpty: true,
    },
    {
      name: "cmd",
      type: "string",
      value: "CMD",
      description: "the default arguments, as for --entrypoint",
      allowEmpty: true,
    },
    { name: "user", type: "string", value: "USER", description: "the user, NAME or UID[:GID]" },
    { name: "annotation", type: "list", value: "K=V", description: "a manifest annotation" },
    { name: "label", type: "list", value: "K=V", description: "a config label" },
    COMPRESSION_OPTION,
    {
      name: "exclude",
      type: "list",
      value: "GLOB",
      description:
        "leave out paths of folders (gitignore syntax), beside .ociignore's and .git, .hg, .svn; '!.git' brings one back",
    },
    {
      ...MAX_EXTRACT_SIZE_OPTION,
      description: "the most bytes each layer file SOURCE may decompress to, for its checks",
    },
    {
      name: "files",
      type: "boolean",
      description: "push the SOURCEs as artifact files (ORAS style)",
    },
    {
      name: "artifact-type",
      type: "string",
      value: "TYPE",
      description: "the artifact type, with --files",
      default: DEFAULT_ARTIFACT_TYPE,
    },
    CONCURRENCY_OPTION,
    ...REGISTRY_OPTIONS,
    ...OUTPUT_OPTIONS,
  ],
  examples: [
    "ocisync push oci:./bundle:v1 ./flows:/opt/prefect/flows",
    "ocisync push ghcr.io/acme/flows:v1 ./flows:/opt/flows deps.tar.gz --tag latest -q",
    "ocisync push ghcr.io/acme/app:v1 ./app:/app --base docker.io/library/python:3.12-slim " +
    "--env PYTHONPATH=/opt/ocisync/deps --env 'PATH=/app/bin:$PATH' --workdir /app " +
    '--entrypoint \'["python3", "main.py"]\'',
    "ocisync push ghcr.io/acme/flow:v1 deps.tar.gz ./flows:/opt/prefect/flows " +
    "--base docker.io/prefecthq/prefect-client:3-python3.12 --platform all -q",
    "ocisync push localhost:5000/config:v2 --files app.yaml policy.rego:application/vnd.opa.policy " +
    "--artifact-type application/vnd.acme.config",
  ],
};

/**
 * The default limit on the JSON lines one change may write with `sync --events`, held in memory
 * until written: events carry configuration. The library's default, `DEFAULT_MAX_EVENTS_BYTES`
 * of `../sync/outputs.ts`, is the same size.
 */
export const DEFAULT_MAX_EVENTS_SIZE = "32MiB";

/** `--max-entries N`, for `pull` and `sync`. */
export const MAX_ENTRIES_OPTION: OptionSpec = {
  name: "max-entries",
  type: "string",
  value: "N",
  description: "the most tar entries the layers may hold",
  default: String(DEFAULT_MAX_ENTRIES),
};

/** The spec of `pull`. */
export const pullSpec: CommandSpec = {
  name: "pull",
  summary: "pull an image's files, or an artifact's, into a folder",
  usage: "ocisync pull REF [-o DIR] [--platform OS/ARCH] [--semver RANGE | --tag-regex RE] " +
    "[--verify-key FILE]... [--layer-media-type GLOB]... [--layer-operation extract|copy]",
  positionals: [1, 1],
  options: [
    {
      name: "output",
      short: "o",
      type: "string",
      value: "DIR",
      description: "where to write",
      default: ".",
    },
    {
      name: "platform",
      type: "string",
      value: "OS/ARCH",
      description: "the platform to choose from an index",
      default: "the host's",
    },
    {
      name: "delete",
      type: "boolean",
      description:
        "make DIR exactly the image, deleting what else it holds (without it, a folder with content is merged into and keeps every path the image does not have)",
    },
    {
      name: "force",
      type: "boolean",
      description: "allow DIR to be / or the root of a mounted file system",
    },
    MAX_EXTRACT_SIZE_OPTION,
    MAX_ENTRIES_OPTION,
    ...TAG_POLICY_OPTIONS,
    ...LAYER_OPTIONS,
    ...VERIFY_OPTIONS,
    ...REGISTRY_OPTIONS,
    ...OUTPUT_OPTIONS,
  ],
  examples: [
    "ocisync pull oci:./bundle:v1 -o ./flows",
    "ocisync pull oci:./bundle:v1 -o ./flows --delete",
    "ocisync pull ghcr.io/acme/flows:v1 -o /opt/prefect/flows --json",
    "ocisync pull localhost:5000/app@sha256:… --platform linux/arm64 -o ./rootfs",
    "ocisync pull ghcr.io/acme/flows:v1 -o ./flows --verify-key cosign.pub",
    "ocisync pull ghcr.io/acme/flows --semver '^1' -o ./flows",
    "ocisync pull ghcr.io/acme/models:v3 --layer-media-type 'application/vnd.acme.model*' " +
    "--layer-operation copy -o ./models",
  ],
};

/** The spec of `copy`. */
export const copySpec: CommandSpec = {
  name: "copy",
  summary: "copy images between registries, oci: layouts and archives, digests preserved",
  usage: "ocisync copy SRC... DST [--all-tags] [--platform all|OS/ARCH[,OS/ARCH]]... " +
    "[--referrers] [--signatures] [--skip-blobs-in REF]... [--semver RANGE | --tag-regex RE] " +
    "[--verify-key FILE]...",
  positionals: [2, Infinity],
  options: [
    {
      name: "all-tags",
      short: "a",
      type: "boolean",
      description: "copy every tag of SRC's repository (of each SRC's)",
    },
    {
      name: "platform",
      type: "list",
      value: "all|OS/ARCH[,OS/ARCH]",
      description: "copy one platform's manifest of an index, or with several a reduced index " +
        "of those (the digest changes); all: every platform, the default but for a " +
        "docker-archive DST",
    },
    {
      name: "skip-blobs-in",
      type: "list",
      value: "REF",
      description: "write a delta oci-archive: leave out the blobs REF (a registry image or " +
        "repository, a layout, an archive) has, and list them as expected",
    },
    {
      ...MAX_EXTRACT_SIZE_OPTION,
      description: "with a docker-archive DST: the most bytes the layers may decompress to " +
        "(it holds them uncompressed)",
    },
    {
      name: "referrers",
      type: "boolean",
      description: "also copy signatures and SBOMs that refer to it",
    },
    {
      name: "signatures",
      type: "boolean",
      description: "also copy cosign signatures: the sha256-<hex>.sig tag and bundle referrers",
    },
    {
      name: "concurrency",
      type: "string",
      value: "N",
      description: "blobs transferred at once",
      default: "4",
    },
    ...TAG_POLICY_OPTIONS,
    ...VERIFY_OPTIONS,
    ...REGISTRY_OPTIONS,
    ...OUTPUT_OPTIONS,
  ],
  examples: [
    "ocisync copy registry.example.com/app:1 oci:./bundle:1",
    "ocisync copy oci:./bundle:1 internal.registry/app:1",
    "ocisync copy registry.example.com/app:1 internal.registry/app   # writes app:latest, as pull reads it",
    "ocisync copy registry.example.com/app:1 internal.registry/app@sha256:…   # that digest or nothing",
    "ocisync copy --all-tags ghcr.io/acme/app oci:./mirror",
    "ocisync copy ghcr.io/acme/app:2 oci:./mirror --platform linux/amd64,linux/arm64",
    "ocisync copy ghcr.io/acme/app:2 oci-archive:delta.tar --skip-blobs-in oci-archive:full.tar",
    "ocisync copy --all-tags ghcr.io/acme/app ghcr.io/acme/tools oci-archive:release.tar",
    "ocisync copy ghcr.io/acme/flows:v1 oci:./bundle:v1 --signatures --verify-key cosign.pub",
  ],
};

/** The spec of `inspect`. */
export const inspectSpec: CommandSpec = {
  name: "inspect",
  summary: "show a manifest or index, its layers and platforms, and the config",
  usage: "ocisync inspect REF [--raw | --config] [--json | -q]",
  positionals: [1, 1],
  options: [
    { name: "raw", type: "boolean", description: "print the exact manifest bytes" },
    {
      name: "config",
      type: "boolean",
      description: "print the image config JSON; of an index, the host's platform's",
    },
    ...REGISTRY_OPTIONS,
    ...OUTPUT_OPTIONS,
  ],
  examples: [
    "ocisync inspect oci:./bundle:v1",
    "ocisync inspect ghcr.io/acme/app:v1 --raw | jq .",
    "ocisync inspect localhost:5000/app:v1 -q   # only the digest, from one HEAD",
  ],
};

/** The spec of `tags`. */
export const tagsSpec: CommandSpec = {
  name: "tags",
  summary: "list a repository's tags",
  usage: "ocisync tags REPO [--json]",
  positionals: [1, 1],
  options: [...REGISTRY_OPTIONS, ...OUTPUT_OPTIONS],
  examples: ["ocisync tags ghcr.io/acme/app", "ocisync tags oci:./bundle --json"],
};

export const DEFAULT_GRACE = "1h";

/** The spec of `gc`. */
export const gcSpec: CommandSpec = {
  name: "gc",
  summary: "remove unreachable blobs from an oci: layout",
  usage: "ocisync gc oci:PATH [--grace DURATION]",
  positionals: [1, 1],
  options: [
    {
      name: "grace",
      type: "string",
      value: "DURATION",
      description: "keep unreachable blobs written or reused less than this long ago, for a " +
        "push under way may need them; 0 only when nothing writes to the layout",
      default: DEFAULT_GRACE,
    },
    ...OUTPUT_OPTIONS,
  ],
  examples: [
    "ocisync gc oci:./bundle",
    "ocisync gc oci:/var/lib/flows --json",
    "ocisync gc oci:./bundle --grace 0",
  ],
};

/** The spec of `login`. */
export const loginSpec: CommandSpec = {
  name: "login",
  summary: "check credentials against a registry and save them in the Docker config",
  usage: "ocisync login HOST[/NAMESPACE] -u USER [--password-stdin]",
  positionals: [1, 1],
  options: [...REGISTRY_OPTIONS.filter((o) => o.name !== "credentials"), ...OUTPUT_OPTIONS],
  examples: [
    'echo "$GITHUB_TOKEN" | ocisync login ghcr.io -u octocat --password-stdin',
    "ocisync login localhost:5000 -u admin --password-stdin < password.txt",
    "ocisync login ghcr.io -u octocat   # on a terminal: asks for the password, without echo",
    "ocisync login ghcr.io/acme/app -u deployer   # for that repository alone, as podman keeps it",
  ],
};

/** The spec of `logout`. */
export const logoutSpec: CommandSpec = {
  name: "logout",
  summary: "remove a registry's saved credentials",
  usage: "ocisync logout HOST[/NAMESPACE]",
  positionals: [1, 1],
  options: OUTPUT_OPTIONS,
  examples: [
    "ocisync logout ghcr.io",
    "ocisync logout ghcr.io/acme/app   # that repository's own alone",
  ],
};

/** The spec of `sync`. */
export const syncSpec: CommandSpec = {
  name: "sync",
  summary: "keep a host in step with a reference",
  usage: "ocisync sync REF [--interval 30s] [--once] [--state FILE] " +
    "(--events | -o DIR | --exec CMD | --webhook URL)... | ocisync sync --config FILE",
  positionals: [0, 1],
  options: [
    {
      name: "interval",
      type: "string",
      value: "DURATION",
      description: "time between ticks",
      default: SYNC_DEFAULTS.interval,
    },
    {
      name: "jitter",
      type: "string",
      value: "PERCENT",
      description: "shorten each wait by up to this share of the interval, at random",
      default: SYNC_DEFAULTS.jitter,
    },
    {
      name: "once",
      type: "boolean",
      description:
        "run one tick and exit: 0, its error's code, or 128 + N when signal N stopped it",
    },
    {
      name: "force-pull",
      type: "boolean",
      description: "deliver (and pull) the current digest even when the state has it",
    },
    {
      name: "state",
      type: "string",
      value: "FILE",
      description: "keep the last good digest here, so a restart does not pull again",
    },
    {
      name: "platform",
      type: "string",
      value: "OS/ARCH",
      description: "the platform to choose from an index",
      default: "the host's",
    },
    {
      name: "events",
      type: "boolean",
      description: "write put/delete/synced JSON lines on stdout",
    },
    {
      name: "encoding",
      type: "string",
      value: "utf-8|base64",
      description: "how events carry layer contents",
      default: SYNC_DEFAULTS.encoding,
    },
    {
      name: "max-events-size",
      type: "string",
      value: "SIZE",
      description: "the most bytes of events one change may write (held in memory meanwhile)",
      default: DEFAULT_MAX_EVENTS_SIZE,
    },
    {
      name: "output",
      short: "o",
      type: "string",
      value: "DIR",
      description: "materialise into DIR/.ocisync/<hex>/ and swap the symlink DIR/current",
    },
    {
      name: "keep",
      type: "string",
      value: "N",
      description: "versions kept in DIR",
      default: SYNC_DEFAULTS.keep,
    },
    {
      name: "exec",
      type: "string",
      value: "CMD",
      description: "run CMD with sh after each change; OCISYNC_REF, OCISYNC_DIGEST, OCISYNC_DIR",
    },
    {
      name: "exec-timeout",
      type: "string",
      value: "DURATION",
      description: "stop the --exec hook (SIGTERM, then SIGKILL) and fail the tick after DURATION",
    },
    {
      name: "webhook",
      type: "string",
      value: "URL",
      description: "POST a JSON summary of changes",
    },
    {
      name: "config",
      type: "string",
      value: "FILE",
      description: "a YAML file of targets, run in one process (see docs/sync.md)",
    },
    {
      name: "max-failures",
      type: "string",
      value: "N",
      description: "exit with the last error's code after N failed ticks in a row",
      default: "never",
    },
    {
      name: "http",
      type: "string",
      value: "HOST:PORT",
      description: "serve /healthz and /metrics",
    },
    {
      name: "log-format",
      type: "string",
      value: "text|json",
      description: "one line per tick on stderr",
      default: "text",
    },
    {
      ...MAX_EXTRACT_SIZE_OPTION,
      description: "the most bytes one version's layers may decompress to",
    },
    MAX_ENTRIES_OPTION,
    ...TAG_POLICY_OPTIONS,
    ...LAYER_OPTIONS.map((o) => ({ ...o, description: `with -o: ${o.description}` })),
    ...VERIFY_OPTIONS,
    ...REGISTRY_OPTIONS,
    ...OUTPUT_OPTIONS.filter((o) => o.name !== "json" && o.name !== "quiet"),
  ],
  examples: [
    "ocisync sync ghcr.io/acme/flows:prod -o /srv/flows --exec 'systemctl reload flows'",
    "ocisync sync localhost:5000/config:prod --events --state /var/lib/ocisync/state.json",
    "ocisync sync ghcr.io/acme/flows:prod -o /srv/flows --once",
    "ocisync sync --config /etc/ocisync/sync.yaml --http :9090 --log-format json",
    "ocisync sync ghcr.io/acme/flows --semver '^1' -o /srv/flows --verify-key cosign.pub",
  ],
};

/** `-a, --annotations K=V`, for `sign` and `verify`, as cosign names it. */
const ANNOTATIONS_OPTION: OptionSpec = {
  name: "annotations",
  short: "a",
  type: "list",
  value: "K=V",
  description: "an annotation signed into the payload's optional",
};

/** The spec of `sign`. */
export const signSpec: CommandSpec = {
  name: "sign",
  summary: "sign an image with a key, as cosign sign --key does",
  usage: "ocisync sign REF --key FILE [-a K=V]... [--sign-container-identity NAME]",
  positionals: [1, 1],
  options: [
    {
      name: "key",
      type: "string",
      value: "FILE",
      description: "the private key: PKCS#8, SEC1 or cosign-encrypted PEM " +
        "(password from $COSIGN_PASSWORD)",
    },
    ANNOTATIONS_OPTION,
    {
      name: "tlog-upload",
      type: "boolean",
      description: "cosign's default; ocisync writes no Rekor entry, so only " +
        "--tlog-upload=false is taken",
    },
    {
      name: "yes",
      short: "y",
      type: "boolean",
      description: "taken for cosign's scripts: ocisync asks for no confirmation",
    },
    {
      name: "sign-container-identity",
      type: "string",
      value: "NAME",
      description: "the payload's critical.identity.docker-reference",
      default: "REF's registry/repository",
    },
    ...REGISTRY_OPTIONS,
    ...OUTPUT_OPTIONS,
  ],
  examples: [
    "COSIGN_PASSWORD=… ocisync sign ghcr.io/acme/flows:v1 --key cosign.key",
    "ocisync sign oci:./bundle:v1 --key ec.pem -a git_sha=$GITHUB_SHA --json",
  ],
};

/** The spec of `verify`. */
export const verifySpec: CommandSpec = {
  name: "verify",
  summary: "check an image's signatures, as cosign verify does",
  usage: "ocisync verify REF (--key FILE... | --trusted-root FILE " +
    "--certificate-identity[-regexp] ID --certificate-oidc-issuer[-regexp] ISS) " +
    "[--insecure-ignore-tlog] [--insecure-ignore-sct] [-a K=V]...",
  positionals: [1, 1],
  options: [
    {
      name: "key",
      type: "list",
      value: "FILE",
      description: "a PEM public key (SPKI, EC P-256); any one of them may verify",
    },
    ...KEYLESS_OPTIONS,
    {
      ...ANNOTATIONS_OPTION,
      description: "require this annotation in a verified classic payload",
    },
    {
      name: "platform",
      type: "string",
      value: "OS/ARCH",
      description: "for an index without its own signature, the platform's manifest to try",
      default: "the host's",
    },
    ...REGISTRY_OPTIONS,
    ...OUTPUT_OPTIONS,
  ],
  examples: [
    "ocisync verify ghcr.io/acme/flows:v1 --key cosign.pub",
    "ocisync verify oci:./bundle:v1 --key a.pub --key b.pub --json",
    'ocisync pull "ghcr.io/acme/flows@$(ocisync verify ghcr.io/acme/flows:v1 --key cosign.pub -q)" -o ./flows',
    "ocisync verify ghcr.io/acme/flows:v1 --trusted-root trusted_root.json " +
    "--certificate-identity-regexp '^https://github.com/acme/' " +
    "--certificate-oidc-issuer https://token.actions.githubusercontent.com",
  ],
};

export const INSTALLERS = ["auto", "pip", "uv"];

/** One of `pack`'s options: the layer is written as `pack` writes it. */
export function packOption(name: string): OptionSpec {
  return packSpec.options.find((option) => option.name === name)!;
}

/** The spec of `deps`. */
export const depsSpec: CommandSpec = {
  name: "deps",
  summary: "install Python dependencies into a layer",
  usage: "ocisync deps -r requirements.txt -o FILE [--python-version V] " +
    "[--platform TAG|OS/ARCH]... [--libc glibc|musl]",
  positionals: [0, 0],
  options: [
    {
      name: "requirements",
      short: "r",
      type: "string",
      value: "FILE",
      description: "the requirements file",
    },
    packOption("output"),
    {
      name: "prefix",
      type: "string",
      value: "PATH",
      description: "where the packages land in the image",
      default: DEFAULT_DEPS_PREFIX,
    },
    {
      name: "python-version",
      type: "string",
      value: "X.Y",
      description: "the target image's Python",
      default: "the installer's",
    },
    {
      name: "platform",
      type: "list",
      value: "TAG|OS/ARCH",
      description: "the target's platform: pip's tag (manylinux2014_x86_64), or an OCI platform " +
        "(linux/arm64), mapped to pip's tags (see --libc) with --implementation cp and, with " +
        "--python-version, --abi; comma-separated too",
    },
    LIBC_OPTION,
    {
      name: "implementation",
      type: "string",
      value: "IMPL",
      description: "the target's Python implementation, e.g. cp",
    },
    { name: "index-url", type: "string", value: "URL", description: "the package index" },
    { name: "extra-index-url", type: "list", value: "URL", description: "another index" },
    {
      name: "find-links",
      type: "list",
      value: "URL",
      description: "a folder or page of archives",
    },
    { name: "no-index", type: "boolean", description: "use no index, only --find-links" },
    {
      name: "installer",
      type: "string",
      value: "NAME",
      description: "pip, uv, or auto: uv when it is on PATH",
      default: "auto",
    },
    {
      name: "installer-command",
      type: "string",
      value: "CMD",
      description: "run the installer as CMD, e.g. 'python3.12 -m pip'",
      default: `$${INSTALLER_COMMAND_ENV}, else python3 -m pip or uv`,
    },
    { name: "no-cache", type: "boolean", description: "install again, ignoring the cache" },
    COMPRESSION_OPTION,
    packOption("mtime"),
    ...OUTPUT_OPTIONS,
  ],
  examples: [
    "ocisync deps -r requirements.txt -o deps.tar.gz",
    "ocisync deps -r requirements.txt -o deps.tar.gz --python-version 3.12 " +
    "--platform manylinux2014_x86_64 --implementation cp",
    "ocisync deps -r requirements.txt -o deps-arm64.tar.gz --python-version 3.12 " +
    "--platform linux/arm64",
    "ocisync deps -r requirements.txt -o deps.tar.gz --no-index --find-links ./wheels --json",
  ],
};

/** The spec of `build`. */
export const buildSpec: CommandSpec = {
  name: "build",
  summary: "build and push an image from an ocisync.yaml recipe",
  usage: "ocisync build [-f ocisync.yaml] [--image REF] [--tag T]... " +
    "[--platform OS/ARCH,...] [--libc glibc|musl] [--dry-run]",
  positionals: [0, 0],
  options: [
    {
      name: "file",
      short: "f",
      type: "string",
      value: "FILE",
      description: "the recipe",
      default: "ocisync.yaml",
    },
    {
      name: "image",
      type: "string",
      value: "REF",
      description: "push here instead of the recipe's image",
    },
    TAG_OPTION,
    {
      name: "platform",
      type: "list",
      value: "OS/ARCH",
      description: "build for these platforms (comma-separated), over the recipe's " +
        "platform: and platforms:; several make an image index, one manifest per platform, " +
        "each with its own wheels",
      default: "the recipe's",
    },
    { ...LIBC_OPTION, default: "the recipe's libc:, else glibc" },
    {
      name: "dry-run",
      type: "boolean",
      description: "push nothing; still install the dependencies (unless cached), pack the " +
        "code, read the base's manifest and config from its registry (unless pinned by digest " +
        "and read before) and show the digests",
    },
    { name: "no-cache", type: "boolean", description: "install dependencies again" },
    {
      name: "installer-command",
      type: "string",
      value: "CMD",
      description: "run the Python installer as CMD",
      default: `$${INSTALLER_COMMAND_ENV}`,
    },
    CONCURRENCY_OPTION,
    ...REGISTRY_OPTIONS,
    ...OUTPUT_OPTIONS,
  ],
  examples: [
    "ocisync build",
    "ocisync build -f deploy/ocisync.yaml --tag latest -q",
    "ocisync build --image oci:./bundle:dev --dry-run --json",
    "ocisync build --platform linux/amd64,linux/arm64 -q",
  ],
};

/**
 * The spec of `completions`.
 *
 * @example
 * ```ts
 * import { completionsSpec } from "./specs.ts";
 * import { parseArgs } from "./args.ts";
 * parseArgs(completionsSpec, ["bash"]); // { options: {}, positionals: ["bash"] }
 * ```
 */
export const completionsSpec: CommandSpec = {
  name: "completions",
  summary: "print shell completions for bash, zsh or fish",
  usage: "ocisync completions bash|zsh|fish",
  positionals: [1, 1],
  options: OUTPUT_OPTIONS.filter((option) => option.name === "help"),
  examples: [
    "source <(ocisync completions bash)      # in ~/.bashrc",
    'ocisync completions zsh > "${fpath[1]}/_ocisync"',
    "ocisync completions fish > ~/.config/fish/completions/ocisync.fish",
  ],
};
