/**
 * Test harness that runs the real CNCF Distribution registry (Debian package
 * `docker-registry`, distribution 2.8) on 127.0.0.1, in one of three auth modes:
 *
 * - `anonymous`: no auth at all;
 * - `basic`: an htpasswd file (bcrypt) with one user;
 * - `token`: Docker token auth, backed by a token server implemented here
 *   (`Deno.serve`), which signs ES256 JWTs with a key and a self-signed
 *   certificate made by `openssl`.
 *
 * Everything listens on 127.0.0.1 only, on ports picked at run time.
 *
 * Notes on distribution 2.8 learned the hard way:
 *
 * - Requests answered 401 by the auth layer (and 404s for unknown routes) never
 *   get a `"response completed"` line in the JSON application log; only the
 *   Apache "combined" access log, which the registry writes to **stdout**, has
 *   one line per request. `requests()` therefore parses stdout.
 * - Failed requests are logged as `"response completed with error"` at level
 *   `error`, not as `"response completed"`.
 * - Token auth verifies the JWT offline: the header's `x5c` certificate must
 *   chain to `rootcertbundle` (a self-signed cert listed there is enough); the
 *   registry never contacts the token server. A token whose `access` list lacks
 *   the needed action gets 401 with `error="insufficient_scope"`, not 403.
 *
 * @module
 */
import { requireTool } from "./tools.ts";

/** How the registry authenticates clients. */
export type AuthMode = "anonymous" | "basic" | "token";

/** Options of {@link startRegistry}. */
export interface RegistryOptions {
  /** Auth mode; default `"anonymous"`. */
  auth?: AuthMode;
  /** The one user's name (basic and token modes); default `"ocisync"`. */
  username?: string;
  /** The one user's password; default a random string. */
  password?: string;
  /**
   * More users, by name, with their passwords (basic and token modes), for tests that tell
   * apart whose credentials reached the registry. Each may do what the main user may.
   */
  users?: Record<string, string>;
  /**
   * Token mode only: when true, a token asked for without credentials grants the
   * `pull` action of every requested scope (and nothing else). Default false:
   * anonymous tokens have an empty access list, so the registry answers 401.
   */
  anonymousPull?: boolean;
  /** Token mode only: lifetime of issued access tokens in seconds; default 300. */
  tokenExpiresIn?: number;
}

/** One HTTP request served by the registry, parsed from its access log. */
export interface RegistryRequest {
  /** HTTP method, e.g. `"GET"`. */
  method: string;
  /** Request URI (path and query) as sent by the client, e.g. `"/v2/t/x/manifests/1"`. */
  path: string;
  /** HTTP status of the response. */
  status: number;
  /** Response body size in bytes, when logged. */
  bytes?: number;
  /** The client's User-Agent, when logged. */
  userAgent?: string;
}

/** One request served by the token server (token mode). */
export interface TokenRequest {
  /** Scopes asked for, e.g. `["repository:t/x:pull,push"]`. */
  scope: string[];
  /** The authenticated account, if credentials (or a refresh token) were valid. */
  account?: string;
  /** The user name of the credentials sent, valid or not: what reached this server. */
  presented?: string;
  /** `"GET"` (Docker token protocol) or `"POST"` (OAuth2). */
  method: string;
  /** OAuth2 `grant_type` of a POST request. */
  grantType?: string;
  /** `service` parameter as sent by the client. */
  service?: string;
  /** HTTP status the token server answered with. */
  status: number;
}

/** A running registry; see {@link startRegistry}. */
export interface TestRegistry {
  /** `"127.0.0.1:PORT"` */
  host: string;
  /** The user's name (meaningful in basic and token modes). */
  username: string;
  /** The user's password (meaningful in basic and token modes). */
  password: string;
  /** The registry's storage directory. */
  root: string;
  /** The auth mode the registry runs in. */
  auth: AuthMode;
  /**
   * HTTP requests the registry has served so far (its readiness probes excluded),
   * in order, parsed from its access log. Waits briefly for the log to settle,
   * since the registry writes a line just after sending the response.
   */
  requests(): Promise<RegistryRequest[]>;
  /** The token endpoint URL (`http://127.0.0.1:PORT/token`) when auth is `"token"`. */
  tokenRealm?: string;
  /** The `service` name the registry expects in tokens when auth is `"token"`. */
  tokenService?: string;
  /** Requests served by the token server so far (live array) when auth is `"token"`. */
  tokenRequests?: TokenRequest[];
  /** Kills the process, stops the token server and removes the temp dirs. Idempotent. */
  stop(): Promise<void>;
  /** Stops the registry process and starts it again on the same port and storage. */
  restart(): Promise<void>;
  /** Stops the registry process only, keeping storage and port; see {@link TestRegistry.resume}. */
  pause(): Promise<void>;
  /** Starts the registry process again after {@link TestRegistry.pause}. */
  resume(): Promise<void>;
}

const SERVICE = "test-registry";
const ISSUER = "ocisync-test";
const PROBE_AGENT = "ocisync-test-harness-probe";
const START_TIMEOUT_MS = 10_000;
const KILL_GRACE_MS = 2_000;

/** Registry processes still alive, killed synchronously if the test process unloads. */
const live = new Set<Deno.ChildProcess>();
let unloadHooked = false;
function track(child: Deno.ChildProcess): void {
  live.add(child);
  if (!unloadHooked) {
    unloadHooked = true;
    globalThis.addEventListener("unload", () => {
      for (const c of live) {
        try {
          c.kill("SIGKILL");
        } catch { /* already gone */ }
      }
    });
  }
}

/**
 * Starts a real Distribution registry on `127.0.0.1` with a fresh storage
 * directory, waits until `GET /v2/` answers, and returns a handle to inspect,
 * pause, restart and stop it. Always call `stop()` (in `finally`).
 *
 * @param options auth mode and credentials; see {@link RegistryOptions}
 * @returns the running registry
 * @throws {Error} when a needed tool is missing, or when the registry does not
 * answer within ~10 s (the message includes the tail of its logs)
 *
 * @example
 * ```ts
 * const reg = await startRegistry({ auth: "basic" });
 * try {
 *   const res = await fetch(`http://${reg.host}/v2/`, {
 *     headers: { authorization: `Basic ${btoa(`${reg.username}:${reg.password}`)}` },
 *   });
 *   await res.body?.cancel();
 *   console.log(res.status, (await reg.requests()).length); // 200 1
 * } finally {
 *   await reg.stop();
 * }
 * ```
 */
export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  requireTool("docker-registry", "docker-registry");
  const auth: AuthMode = options.auth ?? "anonymous";
  if (!["anonymous", "basic", "token"].includes(auth)) {
    throw new Error(`unknown auth mode ${JSON.stringify(auth)}`);
  }
  if (auth === "basic") requireTool("htpasswd", "apache2-utils");
  if (auth === "token") requireTool("openssl", "openssl");
  const username = options.username ?? "ocisync";
  // Never led by "-": a test that passes the password where an argument goes would read as an option
  // one run in 64 (base64url's alphabet holds "-").
  const password = options.password ?? `p${randomString(18)}`;

  const dir = await Deno.makeTempDir({ prefix: "ocisync-registry-" });
  const root = `${dir}/storage`;
  const configPath = `${dir}/config.yml`;
  const accessLog = `${dir}/access.log`; // stdout: Apache combined log, one line per request
  const appLog = `${dir}/registry.log`; // stderr: JSON application log
  let token: TokenServer | undefined;
  let child: Deno.ChildProcess | undefined;
  let port = 0;
  let stopped = false;

  const authYaml: string[] = [];
  try {
    await Deno.mkdir(root, { recursive: true });
    if (auth === "basic") {
      const htpasswdPath = `${dir}/htpasswd`;
      const lines: string[] = [];
      for (const [name, secret] of Object.entries({ ...options.users, [username]: password })) {
        const out = await new Deno.Command("htpasswd", {
          args: ["-Bbn", name, secret],
          stdin: "null",
        }).output();
        if (!out.success) {
          throw new Error(`htpasswd failed: ${new TextDecoder().decode(out.stderr)}`);
        }
        lines.push(new TextDecoder().decode(out.stdout).trim());
      }
      await Deno.writeTextFile(htpasswdPath, `${lines.join("\n")}\n`);
      authYaml.push(
        "auth:",
        "  htpasswd:",
        `    realm: ${yamlString("ocisync-test")}`,
        `    path: ${yamlString(htpasswdPath)}`,
      );
    } else if (auth === "token") {
      token = await startTokenServer(dir, {
        users: { ...options.users, [username]: password },
        anonymousPull: options.anonymousPull ?? false,
        expiresIn: options.tokenExpiresIn ?? 300,
      });
      authYaml.push(
        "auth:",
        "  token:",
        `    realm: ${yamlString(token.realm)}`,
        `    service: ${yamlString(SERVICE)}`,
        `    issuer: ${yamlString(ISSUER)}`,
        `    rootcertbundle: ${yamlString(token.certPath)}`,
      );
    }

    const writeConfig = async (p: number) => {
      const lines = [
        "version: 0.1",
        "log:",
        "  level: info",
        "  formatter: json",
        "  accesslog:",
        "    disabled: false",
        "storage:",
        "  filesystem:",
        `    rootdirectory: ${yamlString(root)}`,
        "  delete:",
        "    enabled: true",
        "  maintenance:",
        "    uploadpurging:",
        "      enabled: false",
        "http:",
        `  addr: ${yamlString(`127.0.0.1:${p}`)}`,
        `  secret: ${yamlString(randomString(24))}`,
        "health:",
        "  storagedriver:",
        "    enabled: false",
        ...authYaml,
      ];
      await Deno.writeTextFile(configPath, lines.join("\n") + "\n");
    };

    // The port can be taken between our probe and the registry's bind (parallel
    // tests): retry a few times with a new port on "address already in use".
    for (let attempt = 1;; attempt++) {
      port = freePort();
      await writeConfig(port);
      try {
        child = await launch(configPath, accessLog, appLog, port);
        break;
      } catch (e) {
        if (attempt < 4 && String(e).includes("address already in use")) continue;
        throw e;
      }
    }
  } catch (e) {
    await token?.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }

  const pause = async () => {
    if (child) {
      const c = child;
      child = undefined;
      await terminate(c);
    }
  };
  const resume = async () => {
    if (stopped) throw new Error("registry was stopped");
    if (!child) child = await launch(configPath, accessLog, appLog, port);
  };

  const registry: TestRegistry = {
    host: `127.0.0.1:${port}`,
    username,
    password,
    root,
    auth,
    requests: () => readRequests(accessLog, appLog),
    pause,
    resume,
    async restart() {
      await pause();
      await resume();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await pause();
      } finally {
        await token?.close();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    },
  };
  if (token) {
    registry.tokenRealm = token.realm;
    registry.tokenService = SERVICE;
    registry.tokenRequests = token.requests;
  }
  return registry;
}

// ---------------------------------------------------------------------------
// process management

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function registryEnv(): Record<string, string> {
  // REGISTRY_* variables override config.yml: never inherit them.
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (!k.startsWith("REGISTRY_")) env[k] = v;
  }
  return env;
}

async function launch(
  configPath: string,
  accessLog: string,
  appLog: string,
  port: number,
): Promise<Deno.ChildProcess> {
  // `exec` so that the child's pid is the registry's own; logs are appended so
  // requests() keeps counting across pause/resume.
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      'exec docker-registry serve "$1" >>"$2" 2>>"$3"',
      "sh",
      configPath,
      accessLog,
      appLog,
    ],
    clearEnv: true,
    env: registryEnv(),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  track(child);

  let exited: Deno.CommandStatus | undefined;
  const statusPromise = child.status.then((s) => (exited = s));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (true) {
    if (exited) {
      live.delete(child);
      throw new Error(
        `docker-registry exited with code ${exited.code} before answering on port ${port}\n` +
          (await logTail(appLog, accessLog)),
      );
    }
    if (await probe(port)) return child;
    if (Date.now() > deadline) {
      await terminate(child);
      await statusPromise;
      throw new Error(
        `docker-registry did not answer GET http://127.0.0.1:${port}/v2/ within ` +
          `${START_TIMEOUT_MS / 1000} s\n${await logTail(appLog, accessLog)}`,
      );
    }
    await delay(50);
  }
}

async function probe(port: number): Promise<boolean> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 1000);
  try {
    const res = await fetch(`http://127.0.0.1:${port}/v2/`, {
      headers: { "user-agent": PROBE_AGENT },
      signal: ctl.signal,
    });
    await res.body?.cancel();
    return res.status === 200 || res.status === 401;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** SIGTERM, then SIGKILL after 2 s; always awaits the exit status. */
async function terminate(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* already exited */ }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killed = await Promise.race([
    child.status.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), KILL_GRACE_MS);
    }),
  ]);
  clearTimeout(timer);
  if (killed) {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
  }
  await child.status;
  live.delete(child);
}

async function logTail(appLog: string, accessLog: string, lines = 30): Promise<string> {
  const tail = async (path: string) => {
    try {
      return (await Deno.readTextFile(path)).trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  };
  return `--- registry log (stderr) tail ---\n${await tail(appLog)}\n` +
    `--- access log (stdout) tail ---\n${await tail(accessLog)}`;
}

// ---------------------------------------------------------------------------
// access log parsing

// 127.0.0.1 - - [23/Nov/2026:04:12:57 +0000] "GET /v2/ HTTP/1.1" 401 87 "" "curl/7.88.1"
const COMBINED =
  /^\S+ \S+ \S+ \[[^\]]*\] "(\S+) (\S+)(?: [^"]*)?" (\d{3}) (\d+|-)(?: "(?:[^"\\]|\\.)*" "((?:[^"\\]|\\.)*)")?/;

function parseCombined(text: string): RegistryRequest[] {
  const out: RegistryRequest[] = [];
  for (const line of completeLines(text)) {
    const m = COMBINED.exec(line);
    if (!m) continue;
    const userAgent = m[5]?.replace(/\\(.)/g, "$1");
    if (userAgent === PROBE_AGENT) continue;
    out.push({
      method: m[1],
      path: m[2],
      status: Number(m[3]),
      ...(m[4] !== "-" ? { bytes: Number(m[4]) } : {}),
      ...(userAgent !== undefined ? { userAgent } : {}),
    });
  }
  return out;
}

/** Fallback: "response completed" lines of the JSON log (misses auth failures). */
function parseJsonLog(text: string): RegistryRequest[] {
  const out: RegistryRequest[] = [];
  for (const line of completeLines(text)) {
    if (!line.startsWith("{")) continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    const msg = entry["msg"];
    if (typeof msg !== "string" || !msg.startsWith("response completed")) continue;
    if (entry["http.request.useragent"] === PROBE_AGENT) continue;
    out.push({
      method: String(entry["http.request.method"] ?? ""),
      path: String(entry["http.request.uri"] ?? ""),
      status: Number(entry["http.response.status"] ?? 0),
      ...(typeof entry["http.response.written"] === "number"
        ? { bytes: entry["http.response.written"] as number }
        : {}),
      ...(typeof entry["http.request.useragent"] === "string"
        ? { userAgent: entry["http.request.useragent"] as string }
        : {}),
    });
  }
  return out;
}

function completeLines(text: string): string[] {
  const end = text.lastIndexOf("\n");
  return end < 0 ? [] : text.slice(0, end).split("\n");
}

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "";
    throw e;
  }
}

async function readRequests(accessLog: string, appLog: string): Promise<RegistryRequest[]> {
  // The access log line is written right after the response went out: wait
  // until the file stops changing (bounded), so a just-finished request counts.
  let text = await readText(accessLog);
  for (let i = 0; i < 20; i++) {
    await delay(25);
    const again = await readText(accessLog);
    if (again === text) break;
    text = again;
  }
  const parsed = parseCombined(text);
  if (parsed.length > 0 || text.trim() !== "") return parsed;
  return parseJsonLog(await readText(appLog));
}

// ---------------------------------------------------------------------------
// token server

interface TokenServer {
  realm: string;
  certPath: string;
  requests: TokenRequest[];
  close(): Promise<void>;
}

interface TokenServerOptions {
  /** Every user the token server knows, by name, with their passwords. */
  users: Record<string, string>;
  anonymousPull: boolean;
  expiresIn: number;
}

/** One entry of a token's `access` claim. */
export interface TokenAccess {
  /** Resource type, e.g. `"repository"`. */
  type: string;
  /** Resource name, e.g. `"team/app"`. */
  name: string;
  /** Granted actions, e.g. `["pull", "push"]`. */
  actions: string[];
}

/**
 * Parses a Docker token scope `type:name:actions`, splitting on the first colon
 * for the type and on the last colon for the comma-separated actions, so names
 * may contain colons and slashes.
 *
 * @param scope e.g. `"repository:team/app:pull,push"`
 * @returns the parsed access entry, or undefined when malformed
 *
 * @example
 * ```ts
 * parseScope("repository:a/b:pull,push");
 * // { type: "repository", name: "a/b", actions: ["pull", "push"] }
 * ```
 */
export function parseScope(scope: string): TokenAccess | undefined {
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first <= 0 || last <= first + 1) return undefined;
  const actions = scope.slice(last + 1).split(",").map((a) => a.trim()).filter((a) => a !== "");
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions };
}

async function startTokenServer(dir: string, opts: TokenServerOptions): Promise<TokenServer> {
  const keyPath = `${dir}/token-key.pem`;
  const certPath = `${dir}/token-cert.pem`;
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-days",
      "2",
      "-subj",
      "/CN=ocisync-test-token-signer",
      // distribution 2.8 does not check key usage; set it anyway, it signs tokens
      "-addext",
      "keyUsage=critical,digitalSignature,keyCertSign",
    ],
    stdin: "null",
  }).output();
  if (!out.success) {
    throw new Error(`openssl failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  const key = await crypto.subtle.importKey(
    "pkcs8",
    pemToDer(await Deno.readTextFile(keyPath), "PRIVATE KEY"),
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
  const certB64 = pemBody(await Deno.readTextFile(certPath), "CERTIFICATE");

  const requests: TokenRequest[] = [];
  const refreshTokens = new Map<string, string>(); // refresh token -> account

  const sign = async (account: string | undefined, access: TokenAccess[]) => {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: "ES256", typ: "JWT", x5c: [certB64] };
    const claims = {
      iss: ISSUER,
      sub: account ?? "",
      aud: SERVICE,
      exp: now + opts.expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomString(16),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-256" },
      key,
      new TextEncoder().encode(input),
    );
    return `${input}.${b64url(new Uint8Array(sig))}`;
  };

  const grant = (scopes: string[], account: string | undefined): TokenAccess[] => {
    const access: TokenAccess[] = [];
    for (const s of scopes) {
      const a = parseScope(s);
      if (!a) continue;
      if (account !== undefined) access.push(a);
      else if (opts.anonymousPull && a.actions.includes("pull")) {
        access.push({ ...a, actions: ["pull"] });
      }
    }
    return access;
  };

  const issue = async (
    account: string | undefined,
    scopes: string[],
    offline: boolean,
  ): Promise<Response> => {
    const token = await sign(account, grant(scopes, account));
    const body: Record<string, unknown> = {
      token,
      access_token: token,
      expires_in: opts.expiresIn,
      issued_at: new Date().toISOString(),
    };
    if (offline && account !== undefined) {
      const refresh = randomString(32);
      refreshTokens.set(refresh, account);
      body.refresh_token = refresh;
    }
    return Response.json(body);
  };

  const unauthorized = (message: string) =>
    Response.json({ errors: [{ code: "UNAUTHORIZED", message }] }, {
      status: 401,
      headers: { "www-authenticate": `Basic realm="${ISSUER}"` },
    });

  const splitScopes = (values: string[]) =>
    values.flatMap((v) => v.split(/\s+/)).filter((v) => v !== "");

  const handle = async (req: Request): Promise<{ res: Response; rec: TokenRequest }> => {
    const url = new URL(req.url);
    if (url.pathname !== "/token") {
      await req.body?.cancel();
      return {
        res: new Response("not found\n", { status: 404 }),
        rec: { method: req.method, scope: [], status: 404 },
      };
    }
    const basic = parseBasic(req.headers.get("authorization"));
    const credsOk = (u: string, p: string) => Object.hasOwn(opts.users, u) && opts.users[u] === p;

    if (req.method === "GET") {
      const scope = splitScopes(url.searchParams.getAll("scope"));
      const rec: TokenRequest = {
        method: "GET",
        scope,
        service: url.searchParams.get("service") ?? undefined,
        status: 200,
      };
      if (basic) {
        rec.presented = basic.user;
        if (!credsOk(basic.user, basic.pass)) {
          return { res: unauthorized("invalid username or password"), rec };
        }
        rec.account = basic.user;
      } else if (req.headers.has("authorization")) {
        return { res: unauthorized("unsupported authorization"), rec };
      }
      const offline = url.searchParams.get("offline_token") === "true";
      return { res: await issue(rec.account, scope, offline), rec };
    }

    if (req.method === "POST") {
      const form = new URLSearchParams(await req.text());
      const grantType = form.get("grant_type") ?? undefined;
      const scope = splitScopes(form.getAll("scope"));
      const rec: TokenRequest = {
        method: "POST",
        scope,
        grantType,
        service: form.get("service") ?? undefined,
        status: 200,
      };
      const offline = form.get("access_type") === "offline";
      if (grantType === "password") {
        const user = form.get("username") ?? basic?.user ?? "";
        const pass = form.get("password") ?? basic?.pass ?? "";
        rec.presented = user;
        if (!credsOk(user, pass)) return { res: unauthorized("invalid username or password"), rec };
        rec.account = user;
        return { res: await issue(user, scope, offline), rec };
      }
      if (grantType === "refresh_token") {
        const account = refreshTokens.get(form.get("refresh_token") ?? "");
        if (account === undefined) return { res: unauthorized("invalid refresh token"), rec };
        rec.account = account;
        return { res: await issue(account, scope, offline), rec };
      }
      return {
        res: Response.json({ error: "unsupported_grant_type" }, { status: 400 }),
        rec,
      };
    }

    await req.body?.cancel();
    return {
      res: new Response("method not allowed\n", { status: 405 }),
      rec: { method: req.method, scope: [], status: 405 },
    };
  };

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  }, async (req) => {
    const { res, rec } = await handle(req);
    rec.status = res.status;
    requests.push(rec);
    return res;
  });
  let closed = false;
  return {
    realm: `http://127.0.0.1:${server.addr.port}/token`,
    certPath,
    requests,
    async close() {
      if (closed) return;
      closed = true;
      await server.shutdown();
    },
  };
}

// ---------------------------------------------------------------------------
// small utilities

function parseBasic(header: string | null): { user: string; pass: string } | undefined {
  const m = header?.match(/^Basic\s+(\S+)\s*$/i);
  if (!m) return undefined;
  let decoded: string;
  try {
    decoded = new TextDecoder().decode(Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0)));
  } catch {
    return { user: "", pass: "\0invalid" };
  }
  const i = decoded.indexOf(":");
  if (i < 0) return { user: decoded, pass: "\0invalid" };
  return { user: decoded.slice(0, i), pass: decoded.slice(i + 1) };
}

function pemBody(pem: string, label: string): string {
  const m = pem.match(new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`));
  if (!m) throw new Error(`no ${label} block in PEM`);
  return m[1].replace(/\s+/g, "");
}

function pemToDer(pem: string, label: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(pemBody(pem, label)), (c) => c.charCodeAt(0));
}

function b64url(data: string | Uint8Array): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(bytes: number): string {
  return b64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** JSON strings are valid YAML double-quoted scalars. */
function yamlString(s: string): string {
  return JSON.stringify(s);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `body` with a fresh registry and a fresh temporary folder, and always stops the one and
 * removes the other. The folder's name is short: podman refuses a runroot path longer than 50
 * characters, and tests keep podman's state in this folder.
 *
 * @example
 * ```ts
 * import { withRegistry } from "./registry.ts";
 * await withRegistry({ auth: "basic" }, async (registry, tmp) => {
 *   console.log(registry.host, tmp);
 * });
 * ```
 */
export async function withRegistry(
  options: RegistryOptions,
  body: (registry: TestRegistry, tmp: string) => Promise<void>,
): Promise<void> {
  const registry = await startRegistry(options);
  const tmp = await Deno.makeTempDir({ prefix: "ob-" });
  try {
    await body(registry, tmp);
  } finally {
    await registry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
}
