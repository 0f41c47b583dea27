/**
 * ClickHouse config → @clickhouse/client options, at one trust boundary.
 * The URL keeps the host name the user typed (Host header, TLS SNI and
 * certificate check), while the agent's `lookup` always answers with the
 * address the policy checked, so no second DNS lookup can rebind it.
 */
import http from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";
import { ClickHouseLogLevel, type ClickHouseClientConfigOptions } from "@clickhouse/client";
import type { ConfigOf } from "@dsb/contracts";
import type { DialTarget } from "../types.ts";
import { ForwardedSocket, type Forward } from "../../ssh/forwarded-socket.ts";

export type ClickhouseConfig = ConfigOf<"clickhouse">;

/** The system databases introspection leaves out. */
export const CLICKHOUSE_SYSTEM_DATABASES = ["system", "INFORMATION_SCHEMA", "information_schema"] as const;

export function clickhouseTargets(config: ClickhouseConfig): { hostname: string; port: number }[] {
  return [{ hostname: config.host.trim().replace(/^\[(.*)\]$/, "$1"), port: config.port }];
}

/** A lookup that resolves every name to the checked address. */
export function pinnedLookup(address: string): LookupFunction {
  const family = isIP(address) === 6 ? 6 : 4;
  return ((_host: string, options: { all?: boolean }, cb: (...args: unknown[]) => void) => {
    if (options?.all) cb(null, [{ address, family }]);
    else cb(null, address, family);
  }) as LookupFunction;
}

/** TLS options per ssl.mode; https defaults to full verification. */
export function clickhouseTls(config: ClickhouseConfig): https.AgentOptions {
  const ssl = config.ssl;
  const mode = ssl?.mode ?? "verify-full";
  const files = { ...(ssl?.ca ? { ca: ssl.ca } : {}), ...(ssl?.cert ? { cert: ssl.cert } : {}), ...(ssl?.key ? { key: ssl.key } : {}) };
  if (mode === "disable" || mode === "prefer" || mode === "require") return { ...files, rejectUnauthorized: false };
  if (mode === "verify-ca") return { ...files, rejectUnauthorized: true, checkServerIdentity: () => undefined };
  return { ...files, rejectUnauthorized: true };
}

/** How many HTTP sockets one source may hold: the pool sizing of DESIGN.md (5 + 10). */
export const MAX_SOCKETS = 15;

export function clickhouseClientOptions(config: ClickhouseConfig, target: DialTarget): ClickHouseClientConfigOptions {
  const https_ = config.protocol === "https";
  const host = isIP(target.hostname) === 6 ? `[${target.hostname}]` : target.hostname;
  const agentOpts = { keepAlive: true, maxSockets: MAX_SOCKETS, maxFreeSockets: 5, timeout: 0, lookup: pinnedLookup(target.address) };
  const http_agent = target.forward
    ? tunnelAgent(target.forward, https_ ? { ...clickhouseTls(config), ...(isIP(target.hostname) ? {} : { servername: target.hostname }) } : null, agentOpts)
    : https_ ? new https.Agent({ ...agentOpts, ...clickhouseTls(config), servername: isIP(target.hostname) ? undefined : target.hostname }) : new http.Agent(agentOpts);
  return {
    url: `${https_ ? "https" : "http"}://${host}:${target.port}`,
    username: config.username,
    password: config.password ?? "",
    database: config.database,
    http_agent,
    // Keep-alive sockets are closed by the client before the server's keep_alive_timeout (3 s by default).
    keep_alive: { enabled: true, idle_socket_ttl: 2500 },
    max_open_connections: MAX_SOCKETS,
    // Our own timers stop queries (timeoutMs); this only guards a socket silent for an hour.
    request_timeout: 3_600_000,
    compression: { request: false, response: false },
    application: "dsb-connector",
    // Off: the driver maps and reports errors itself; the client would log request details.
    log: { level: ClickHouseLogLevel.OFF },
  };
}

/** Behind SSH: an agent whose sockets are channels of the source's tunnel (TLS on top for https). */
function tunnelAgent(forward: Forward, tls: ConnectionOptions | null, opts: http.AgentOptions): http.Agent {
  return new (class extends http.Agent {
    override createConnection(): ForwardedSocket | ReturnType<typeof tlsConnect> {
      const socket = new ForwardedSocket(forward);
      return tls ? tlsConnect({ ...tls, socket }) : socket;
    }
  })(opts);
}
