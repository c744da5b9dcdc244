/**
 * `ocisync sync REF OUTPUT...` and `ocisync sync --config FILE`: keep a host in step with one
 * reference, or with several in one process, for a Kubernetes sidecar, a systemd service or an
 * init container (`--once`).
 *
 * @module
 */
import { absolutePath } from "../../fs/paths.ts";
import type { ParsedArgs, ParsedOptions } from "../args.ts";
import { parseMaxEntries, positiveInteger } from "../common.ts";
import { registryOptions } from "../registry_flags.ts";
import { formatBytes, type Output } from "../output.ts";
import { parseSize } from "../../units/mod.ts";
import {
  escapeRemote,
  NotFoundError,
  OcisyncError,
  stringifyJson,
  UsageError,
} from "../../errors/mod.ts";
import { exitCodeOf, STOP_SIGNALS } from "../exit.ts";
import { formatReference, redactCredentials, registryOf } from "../../ref/mod.ts";
import { Session, type SessionOptions } from "../../target/mod.ts";
import {
  directoryOutput,
  eventsOutput,
  execOutput,
  lockSyncPaths,
  parseListenAddress,
  serveSyncHttp,
  stateFile,
  type SyncLocks,
  syncLoop,
  SyncMetrics,
  type SyncOutput,
  SyncState,
  type SyncTargetConfig,
  syncTargetConfig,
  type SyncTargetKey,
  type SyncTick,
} from "../../sync/mod.ts";
import { DEFAULT_MAX_EVENTS_SIZE, DEFAULT_MAX_EXTRACT_SIZE, syncSpec } from "../specs.ts";
import { refuseChangeableAsRoot } from "../../fs/shielded.ts";
import { readNamedText } from "../../fs/read.ts";
import { SignatureError } from "../../trust/errors.ts";
export { syncSpec } from "../specs.ts";

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
  "execTimeout",
  "webhook",
  "semver",
  "tagRegex",
  "verifyKey",
  "trustedRoot",
  "certificateIdentity",
  "certificateIdentityRegexp",
  "certificateOidcIssuer",
  "certificateOidcIssuerRegexp",
  "insecureIgnoreTlog",
  "insecureIgnoreSct",
  "layerMediaTypes",
  "layerOperation",
];

/** The flag of a target's key: its kebab-case, but `--layer-media-type` (one per value). */
function flagOf(key: SyncTargetKey): string {
  if (key === "layerMediaTypes") return "layer-media-type";
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * The registry that `--username` is for: the targets' one registry. Targets on several
 * registries need the credentials stored for each (`ocisync login`), for one password would
 * otherwise go to all of them; a credentials file's credential that names no registry is for
 * the first target's.
 */
function credentialRegistry(
  targets: SyncTargetConfig[],
  options: ParsedOptions,
): string | undefined {
  const registries = new Set(targets.map((t) => registryOf(t.reference)));
  registries.delete(undefined);
  if (registries.size > 1 && options.username !== undefined) {
    throw new UsageError(
      `--username is for one registry, and the targets use ${registries.size}: ${
        [...registries].join(", ")
      }`,
      { hint: "log in to each: ocisync login REGISTRY -u USER" },
    );
  }
  return registryOf(...targets.map((t) => t.reference));
}

/**
 * Runs `sync`. Returns the exit code of a `--once` run that a stop signal ended before its
 * tick did, 128 and the signal's number as for any other command that stops half-way: its
 * content was not delivered. A loop that a signal stops exits 0, as a service stopping should.
 */
export async function sync(args: ParsedArgs, out: Output): Promise<number | undefined> {
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
  const maxEventsSize = parseSize(
    options["max-events-size"] as string | undefined ?? DEFAULT_MAX_EVENTS_SIZE,
    "--max-events-size",
  );
  const maxEntries = parseMaxEntries(options);
  const logFormat = options["log-format"] ?? "text";
  if (logFormat !== "text" && logFormat !== "json") {
    throw new UsageError(`--log-format must be text or json, not "${logFormat}"`);
  }
  // A tick's line is made only in the format asked for: an idle loop writes one every tick.
  const log = (fields: () => Record<string, unknown>, text: () => string) =>
    out.info(logFormat === "json" ? stringifyJson({ time: new Date(), ...fields() }) : text());
  const address = options.http === undefined
    ? undefined
    : parseListenAddress(options.http as string);
  const registry = await registryOptions(options, out, credentialRegistry(targets, options));
  // Owned until this function returns, from before the states are read and before any tick.
  // Which also ends the hooks that a sync killed before left running.
  await using owned = await lockSyncPaths({
    outputs: targets.flatMap((t) => t.output ?? []),
    states: targets.flatMap((t) => t.state ?? []),
  }, { log: (line) => out.warn(line) });
  const states = await openStates(targets, out);
  // Keys and trusted roots are read once, before the first tick: a bad one stops start-up.
  for (const { verify } of targets) {
    for (const path of [...verify?.verifyKeys ?? [], verify?.trustedRoot ?? []].flat()) {
      await refuseChangeableAsRoot(path, (why) =>
        new UsageError(
          `refusing to trust ${path} as root: ${why}, so that user could choose what root ` +
            "delivers as verified",
          { hint: "keep keys and trusted roots in a folder only root can change, owned by root" },
        ));
    }
  }
  // The signature formats and key parsers load only when a target verifies.
  const verifier = targets.some((t) => t.verify)
    ? await import("../../trust/verifier.ts")
    : undefined;
  const verifiers = await Promise.all(
    targets.map((t) => t.verify ? verifier!.openVerifier(t.verify) : Promise.resolve(undefined)),
  );

  // One session for every loop: loops on one registry share its challenge and tokens.
  const session = new Session(registry);
  const stop = new AbortController();
  let stoppedBy: Deno.Signal | undefined;
  let abandoned = false;
  const onSignal = (signal: Deno.Signal) => () => {
    log(() => ({ msg: "stopping", signal }), () => `ocisync sync: ${signal}: stopping`);
    stoppedBy ??= signal;
    stop.abort();
  };
  const handlers = (Object.keys(STOP_SIGNALS) as Deno.Signal[]).map((signal) => {
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
    // The ticks go on: a flood of connections can make the server fail, not the sync.
    onError: (error) =>
      log(
        () => ({ msg: "http server failed", error: (error as Error).message }),
        () =>
          `ocisync sync: the /healthz and /metrics server failed (${
            (error as Error).message
          }); it starts again`,
      ),
    onListen: ({ hostname, port }) => {
      const url = `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
      log(
        () => ({ msg: "listening", url }),
        () => `ocisync sync: serving /healthz and /metrics on ${url}`,
      );
    },
  });
  try {
    const loops = targets.map(async (target, i) => {
      const ticks = syncLoop({
        reference: target.reference,
        ...(target.tagPolicy ? { tagPolicy: target.tagPolicy } : {}),
        verifier: verifiers[i],
        // The verifier's own: its files are read once.
        verifierPolicy: verifiers[i]?.policy,
        outputs: await outputsOf(target, {
          maxExtractSize,
          maxEventsSize,
          maxEntries,
          registry,
          locks: owned,
        }),
        interval: target.interval,
        jitter: target.jitter,
        state: target.state === undefined ? undefined : states.get(absolutePath(target.state)),
        open: (reference) => session.open(reference),
        platform: target.platform,
        forcePull: options["force-pull"] === true,
        once,
        maxFailures,
        signal: stop.signal,
        // Checked before each change and state write: a folder removed by hand loses its lock.
        locks: owned,
        // Why a tick delivers again what the state has: an output lost it (a wiped folder).
        log: (line) => out.warn(line),
      });
      try {
        for await (const tick of ticks) {
          if (tick.status === "aborted") abandoned = true;
          metrics.record(tick, i);
          log(() => tickFields(tick), () => tickText(tick));
        }
      } catch (error) {
        // One target giving up stops the others: the process exits with its error.
        stop.abort();
        throw error;
      }
    });
    const failed = (await Promise.allSettled(loops)).find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    if (once && abandoned && stoppedBy) return 128 + STOP_SIGNALS[stoppedBy]!;
  } finally {
    stop.abort();
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
    await server?.finished;
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
    const values = Object.fromEntries(TARGET_OPTIONS.map((key) => [key, options[flagOf(key)]]));
    const target = await syncTargetConfig(
      { ...values, reference: positionals[0] },
      (key) => key === "reference" ? "REF" : `--${flagOf(key)}`,
    );
    if (!target.events && !target.output && !target.exec && !target.webhook) {
      throw new UsageError("sync needs an output", {
        hint: "give --events, -o DIR, --exec CMD or --webhook URL, or several",
      });
    }
    return [target];
  }
  if (positionals.length > 0) {
    throw new UsageError(
      `give either REF or --config, not both: ${JSON.stringify(redactCredentials(positionals[0]))}`,
    );
  }
  const given = TARGET_OPTIONS.find((key) => options[flagOf(key)] !== undefined);
  if (given !== undefined) {
    throw new UsageError(`--${flagOf(given)} cannot be used with --config`, {
      hint: `set ${given} in ${file}, for a target or at the top for all`,
    });
  }
  await refuseChangeableAsRoot(file, (why) =>
    new UsageError(
      `refusing to read the config ${file} as root: ${why}, so that user could choose the ` +
        "hooks root runs and where it writes",
      {
        hint: "keep the config in a folder only root can change, owned by root, mode 0644 or less",
      },
    ));
  let text: string;
  try {
    text = await readNamedText(file, "the config");
  } catch (error) {
    if (error instanceof OcisyncError) throw error;
    if (error instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`no such config file: ${file}`);
    }
    throw new OcisyncError(`cannot read ${file}: ${(error as Error).message}`);
  }
  // The file's parser loads npm:yaml: only for a config file.
  const { parseSyncConfig } = await import("../../sync/config_file.ts");
  return (await parseSyncConfig(text, file)).targets;
}

/**
 * The state of each state file named, by its absolute path: one state per file, by its real
 * path ({@linkcode stateFile}), shared by the targets that name it, by whatever name. An
 * invalid file is set aside with a warning (see `SyncState.open`).
 */
async function openStates(
  targets: SyncTargetConfig[],
  out: Output,
): Promise<Map<string, SyncState>> {
  const byFile = new Map<string, SyncState>();
  const states = new Map<string, SyncState>();
  for (const { state } of targets) {
    if (state === undefined || states.has(absolutePath(state))) continue;
    const file = await stateFile(state);
    if (!byFile.has(file)) {
      byFile.set(file, await SyncState.open(state, { setAside: (m) => out.warn(m) }));
    }
    states.set(absolutePath(state), byFile.get(file)!);
  }
  return states;
}

/** A target's outputs, in the order they run: the folder first, for the hook's OCISYNC_DIR. */
async function outputsOf(
  target: SyncTargetConfig,
  context: {
    maxExtractSize: number;
    maxEventsSize: number;
    maxEntries: number;
    registry: SessionOptions;
    locks: Pick<SyncLocks, "lockOf">;
  },
): Promise<SyncOutput[]> {
  const outputs: SyncOutput[] = [];
  if (target.output !== undefined) {
    outputs.push(directoryOutput(target.output, {
      keep: target.keep,
      layerMediaTypes: target.layerMediaTypes,
      layerOperation: target.layerOperation,
      maxExtractSize: context.maxExtractSize,
      maxEntries: context.maxEntries,
    }));
  }
  if (target.events) {
    const { encoding } = target;
    outputs.push(eventsOutput(Deno.stdout, { encoding, maxEventsSize: context.maxEventsSize }));
  }
  if (target.exec !== undefined) {
    const { layerMediaTypes, layerOperation } = target;
    // Beside the state file's lock, else the folder's; without either, this process holds no
    // lock that would keep the record its own, and none is kept.
    const place = target.state ?? target.output;
    outputs.push(
      execOutput(target.exec, {
        directory: target.output,
        layerMediaTypes,
        layerOperation,
        timeout: target.execTimeout,
        recordBeside: place === undefined ? undefined : context.locks.lockOf(place),
      }),
    );
  }
  if (target.webhook !== undefined) {
    const { retries, timeout, caFile, log } = context.registry;
    // The HTTP client loads only for a webhook.
    const { webhookOutput } = await import("../../sync/webhook.ts");
    outputs.push(webhookOutput(target.webhook, { retries, timeout, caFile, log }));
  }
  return outputs;
}

/** A tick as the fields of a JSON log line. */
function tickFields(tick: SyncTick): Record<string, unknown> {
  const { error, startedAt: _, ...fields } = tick;
  if (error === undefined) return fields;
  return {
    ...fields,
    error: errorText(error),
    ...(error instanceof OcisyncError && error.hint ? { hint: error.hint } : {}),
    ...(error instanceof SignatureError && error.rejected.length > 0
      ? { rejected: error.rejected }
      : {}),
    exitCode: exitCodeOf(error),
  };
}

/** A failed tick's error as text; a refused signature says so first. */
function errorText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return error instanceof SignatureError ? `signature refused: ${message}` : message;
}

/**
 * A tick as one line of text, always one: a line break in an error's words (a registry's, an
 * image's titles) is written out, so that it cannot forge a tick line of its own.
 */
function tickText(tick: SyncTick): string {
  const reference = tick.tag === undefined ? tick.reference : `${tick.reference} (tag ${tick.tag})`;
  const parts = [new Date(tick.startedAt).toISOString(), reference, tick.status];
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
      errorText(error),
    );
  } else if (tick.digest !== undefined) {
    parts.push(tick.digest);
  }
  parts.push(`in ${tick.durationMs} ms`);
  if (tick.nextTickMs !== undefined) parts.push(`next in ${(tick.nextTickMs / 1000).toFixed(1)}s`);
  return escapeRemote(parts.join(" "));
}
