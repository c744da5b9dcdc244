/**
 * `ocisync sync REF OUTPUT...` and `ocisync sync --config FILE`: keep a host in step with one
 * reference, or with several in one process, for a Kubernetes sidecar, a systemd service or an
 * init container (`--once`).
 *
 * @module
 */
import { resolve } from "node:path";
import type { CommandSpec, ParsedArgs } from "../args.ts";
import { OUTPUT_OPTIONS, positiveInteger, REGISTRY_OPTIONS, registryOptions } from "../common.ts";
import { formatBytes, type Output } from "../output.ts";
import { parseSize } from "../../units/mod.ts";
import { DEFAULT_MAX_EXTRACT_SIZE, MAX_ENTRIES_OPTION, parseMaxEntries } from "./pull.ts";
import { exitCodeOf, NotFoundError, OcisyncError, UsageError } from "../../errors/mod.ts";
import { formatReference } from "../../ref/mod.ts";
import { Session, type SessionOptions } from "../../target/mod.ts";
import {
  directoryOutput,
  eventsOutput,
  execOutput,
  lockSyncPaths,
  parseListenAddress,
  parseSyncConfig,
  serveSyncHttp,
  SYNC_DEFAULTS,
  syncLoop,
  SyncMetrics,
  type SyncOutput,
  SyncState,
  type SyncTargetConfig,
  syncTargetConfig,
  type SyncTargetKey,
  type SyncTick,
  webhookOutput,
} from "../../sync/mod.ts";

/** Options that describe one target: on the command line without `--config`, else in the file. */
const TARGET_OPTIONS: SyncTargetKey[] = [
  "interval",
  "jitter",
  "platform",
  "state",
  "events",
  "encoding",
  "output",
  "keep",
  "exec",
  "webhook",
];

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
    { name: "once", type: "boolean", description: "run one tick and exit: 0, or its error's code" },
    {
      name: "force-pull",
      type: "boolean",
      description: "deliver the current digest even when the state has it",
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
      name: "output",
      short: "o",
      type: "string",
      value: "DIR",
      description: "materialise into DIR/.ocisync/<digest>/ and swap the symlink DIR/current",
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
      name: "max-extract-size",
      type: "string",
      value: "SIZE",
      description: "the most bytes one version's layers may decompress to",
      default: DEFAULT_MAX_EXTRACT_SIZE,
    },
    MAX_ENTRIES_OPTION,
    ...REGISTRY_OPTIONS,
    ...OUTPUT_OPTIONS.filter((o) => o.name !== "json" && o.name !== "quiet"),
  ],
  examples: [
    "ocisync sync ghcr.io/acme/flows:prod -o /srv/flows --exec 'systemctl reload flows'",
    "ocisync sync localhost:5000/config:prod --events --state /var/lib/ocisync/state.json",
    "ocisync sync ghcr.io/acme/flows:prod -o /srv/flows --once",
    "ocisync sync --config /etc/ocisync/sync.yaml --http :9090 --log-format json",
  ],
};

/** Runs `sync`. */
export async function sync(args: ParsedArgs, out: Output): Promise<void> {
  const { options } = args;
  const targets = await syncTargets(args);
  const once = options.once === true;
  const maxFailures = positiveInteger(
    options["max-failures"] as string | undefined,
    "--max-failures",
  );
  const maxExtractSize = parseSize(
    options["max-extract-size"] as string | undefined ?? DEFAULT_MAX_EXTRACT_SIZE,
    "--max-extract-size",
  );
  const maxEntries = parseMaxEntries(options);
  const logFormat = options["log-format"] ?? "text";
  if (logFormat !== "text" && logFormat !== "json") {
    throw new UsageError(`--log-format must be text or json, not "${logFormat}"`);
  }
  const log = (fields: Record<string, unknown>, text: string) =>
    out.info(logFormat === "json" ? JSON.stringify({ time: new Date(), ...fields }) : text);
  const address = options.http === undefined
    ? undefined
    : parseListenAddress(options.http as string);
  const registry = await registryOptions(options, out);
  // Owned until this function returns, from before the states are read and before any tick.
  await using _owned = await lockSyncPaths({
    outputs: targets.flatMap((t) => t.output ?? []),
    states: targets.flatMap((t) => t.state ?? []),
  });
  const states = await openStates(targets);

  // One session for every loop: loops on one registry share its challenge and tokens.
  const session = new Session(registry);
  const stop = new AbortController();
  const onSignal = (signal: Deno.Signal) => () => {
    log({ msg: "stopping", signal }, `ocisync sync: ${signal}: stopping`);
    stop.abort();
  };
  const handlers = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const handler = onSignal(signal);
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  const metrics = new SyncMetrics(
    targets.map((t) => ({ reference: formatReference(t.reference), interval: t.interval })),
  );
  const server = address && serveSyncHttp({
    address,
    metrics,
    signal: stop.signal,
    onListen: ({ hostname, port }) => {
      const url = `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
      log({ msg: "listening", url }, `ocisync sync: serving /healthz and /metrics on ${url}`);
    },
  });
  const stdout = targets.some((t) => t.events) ? Deno.stdout.writable.getWriter() : undefined;
  try {
    const loops = targets.map(async (target) => {
      const ticks = syncLoop({
        reference: target.reference,
        outputs: outputsOf(target, { stdout, maxExtractSize, maxEntries, registry }),
        interval: target.interval,
        jitter: target.jitter,
        state: target.state === undefined ? undefined : states.get(resolve(target.state)),
        open: (reference) => session.open(reference),
        platform: target.platform,
        forcePull: options["force-pull"] === true,
        once,
        maxFailures,
        signal: stop.signal,
      });
      try {
        for await (const tick of ticks) {
          metrics.record(tick);
          log(tickFields(tick), tickText(tick));
        }
      } catch (error) {
        // One target giving up stops the others: the process exits with its error.
        stop.abort();
        throw error;
      }
    });
    const failed = (await Promise.allSettled(loops)).find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  } finally {
    stop.abort();
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
    await server?.finished;
    stdout?.releaseLock();
    await session.close();
  }
}

/** The targets, from the command line or from `--config`. */
async function syncTargets(args: ParsedArgs): Promise<SyncTargetConfig[]> {
  const { options, positionals } = args;
  const file = options.config as string | undefined;
  if (file === undefined) {
    if (positionals.length === 0) {
      throw new UsageError("sync needs a REF, or --config FILE", {
        hint: `usage: ${syncSpec.usage}`,
      });
    }
    const values = Object.fromEntries(TARGET_OPTIONS.map((key) => [key, options[key]]));
    const target = syncTargetConfig(
      { ...values, reference: positionals[0] },
      (key) => key === "reference" ? "REF" : `--${key}`,
    );
    if (!target.events && !target.output && !target.exec && !target.webhook) {
      throw new UsageError("sync needs an output", {
        hint: "give --events, -o DIR, --exec CMD or --webhook URL, or several",
      });
    }
    return [target];
  }
  if (positionals.length > 0) {
    throw new UsageError(`give either REF or --config, not both: "${positionals[0]}"`);
  }
  const given = TARGET_OPTIONS.find((key) => options[key] !== undefined);
  if (given !== undefined) {
    throw new UsageError(`--${given} cannot be used with --config`, {
      hint: `set ${given} in ${file}, for a target or at the top for all`,
    });
  }
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`no such config file: ${file}`);
    }
    throw new OcisyncError(`cannot read ${file}: ${(error as Error).message}`);
  }
  return parseSyncConfig(text, file).targets;
}

/** One state per file, by absolute path, shared by the targets that name it. */
async function openStates(targets: SyncTargetConfig[]): Promise<Map<string, SyncState>> {
  const states = new Map<string, SyncState>();
  for (const { state } of targets) {
    if (state === undefined || states.has(resolve(state))) continue;
    states.set(resolve(state), await SyncState.open(state));
  }
  return states;
}

/** A target's outputs, in the order they run: the folder first, for the hook's OCISYNC_DIR. */
function outputsOf(
  target: SyncTargetConfig,
  context: {
    stdout?: WritableStreamDefaultWriter<Uint8Array>;
    maxExtractSize: number;
    maxEntries: number;
    registry: SessionOptions;
  },
): SyncOutput[] {
  const outputs: SyncOutput[] = [];
  if (target.output !== undefined) {
    outputs.push(directoryOutput(target.output, {
      keep: target.keep,
      maxExtractSize: context.maxExtractSize,
      maxEntries: context.maxEntries,
    }));
  }
  if (target.events) outputs.push(eventsOutput(context.stdout!, { encoding: target.encoding }));
  if (target.exec !== undefined) {
    outputs.push(execOutput(target.exec, { directory: target.output }));
  }
  if (target.webhook !== undefined) {
    const { retries, timeout, log } = context.registry;
    outputs.push(webhookOutput(target.webhook, { retries, timeout, log }));
  }
  return outputs;
}

/** A tick as the fields of a JSON log line. */
function tickFields(tick: SyncTick): Record<string, unknown> {
  const { error, startedAt: _, ...fields } = tick;
  if (error === undefined) return fields;
  return {
    ...fields,
    error: error instanceof Error ? error.message : String(error),
    ...(error instanceof OcisyncError && error.hint ? { hint: error.hint } : {}),
    exitCode: exitCodeOf(error),
  };
}

/** A tick as one line of text. */
function tickText(tick: SyncTick): string {
  const parts = [new Date(tick.startedAt).toISOString(), tick.reference, tick.status];
  if (tick.status === "changed") {
    const layers = tick.paths?.length ?? 0;
    parts.push(
      `${tick.previous ?? "(none)"} -> ${tick.digest}`,
      `${layers} layer${layers === 1 ? "" : "s"}, ${formatBytes(tick.bytes)} pulled`,
    );
  } else if (tick.status === "failed") {
    const error = tick.error;
    parts.push(
      `(exit ${exitCodeOf(error)}, ${tick.failures} in a row):`,
      error instanceof Error ? error.message : String(error),
    );
  } else if (tick.digest !== undefined) {
    parts.push(tick.digest);
  }
  parts.push(`in ${tick.durationMs} ms`);
  if (tick.nextTickMs !== undefined) parts.push(`next in ${(tick.nextTickMs / 1000).toFixed(1)}s`);
  return parts.join(" ");
}
