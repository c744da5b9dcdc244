/**
 * Small network fixtures for fault tests: a port where nothing listens, a TCP listener that
 * never answers, a plain-HTTP server that counts what it gets, a token server that answers with
 * whatever body a test gives it, and an environment that hides every credential and proxy of
 * the machine from the CLI.
 *
 * @module
 */

/**
 * A port on `hostname` that was free a moment ago and that nothing listens on now: it was bound,
 * then closed.
 *
 * @example
 * ```ts
 * import { closedPort } from "./servers.ts";
 * const refused = `127.0.0.1:${closedPort()}`;
 * ```
 */
export function closedPort(hostname = "127.0.0.1"): number {
  const listener = Deno.listen({ hostname, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A running fixture: where it listens, and how to stop it. */
export interface Fixture {
  /** `HOST:PORT`. */
  host: string;
  /** How many requests (or connections, for {@linkcode silentListener}) it got. */
  hits(): number;
  /** Stops it and closes every connection. */
  close(): Promise<void>;
}

/**
 * A TCP listener on 127.0.0.1 that accepts connections and never answers, as a hung server does.
 *
 * @example
 * ```ts
 * import { silentListener } from "./servers.ts";
 * const silent = silentListener();
 * await silent.close();
 * ```
 */
export function silentListener(): Fixture {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const connection of listener) connections.push(connection);
    } catch {
      // The listener was closed.
    }
  })();
  return {
    host: `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    hits: () => connections.length,
    async close() {
      listener.close();
      for (const connection of connections) connection.close();
      await accepting;
    },
  };
}

/**
 * A plain-HTTP server on `hostname` that answers every request 200 with a short text, and counts
 * them.
 *
 * @example
 * ```ts
 * import { plainHttpServer } from "./servers.ts";
 * const server = plainHttpServer("127.0.0.2");
 * await server.close();
 * ```
 */
export function plainHttpServer(hostname: string): Fixture {
  let hits = 0;
  const server = Deno.serve({ hostname, port: 0, onListen() {} }, async (request) => {
    hits++;
    await request.body?.cancel();
    return new Response("plain HTTP\n");
  });
  return {
    host: `${hostname}:${server.addr.port}`,
    hits: () => hits,
    close: () => server.shutdown(),
  };
}

/** A token server that answers with a body chosen by the test; see {@linkcode tokenServer}. */
export interface TokenServerFixture extends Fixture {
  /** The realm to put in a `Bearer` challenge: `http://127.0.0.1:PORT/token`. */
  realm: string;
}

/**
 * A token server on 127.0.0.1 that answers every request 200 with `body` as JSON, whatever
 * credentials it gets: a hostile or broken token server.
 *
 * @example
 * ```ts
 * import { tokenServer } from "./servers.ts";
 * const hostile = tokenServer({ token: "abc\r\nSet-Cookie: x=1" });
 * await hostile.close();
 * ```
 */
export function tokenServer(body: unknown): TokenServerFixture {
  let hits = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    hits++;
    await request.body?.cancel();
    return Response.json(body);
  });
  const host = `127.0.0.1:${server.addr.port}`;
  return {
    host,
    realm: `http://${host}/token`,
    hits: () => hits,
    close: () => server.shutdown(),
  };
}

/**
 * Environment variables for the CLI that hide the machine's own credentials and proxies: the
 * Docker config folder and the XDG config folder are under `dir`, no auth file is named, and no
 * proxy is used. `HOME` is kept, as Deno finds its module cache there; with these set, ocisync
 * looks for no credentials under it.
 *
 * @example
 * ```ts
 * import { isolatedEnv } from "./servers.ts";
 * const env = isolatedEnv(await Deno.makeTempDir());
 * console.log(env.DOCKER_CONFIG);
 * ```
 */
export function isolatedEnv(dir: string): Record<string, string> {
  const env: Record<string, string> = {
    DOCKER_CONFIG: `${dir}/docker`,
    REGISTRY_AUTH_FILE: "",
    XDG_RUNTIME_DIR: "",
    XDG_CONFIG_HOME: `${dir}/xdg`,
    NO_PROXY: "*",
    no_proxy: "*",
  };
  for (const name of ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"]) {
    env[name] = "";
  }
  return env;
}
