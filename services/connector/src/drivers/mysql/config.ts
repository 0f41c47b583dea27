/**
 * MySQL/MariaDB config → mysql2 options, at one trust boundary: everything the
 * user controls (fields or a connection_string) is read here and only the
 * options listed below reach mysql2. Notably no `flags`, no `infileStreamFactory`,
 * no `socketPath`, no `stream` from the user: LOCAL INFILE stays off and the
 * socket dials only the address the policy checked.
 */
import { connect as netConnect, isIP, type Socket } from "node:net";
import type { ConnectionOptions, PoolOptions } from "mysql2";
import type { ConfigOf, SslMode } from "@dsb/contracts";
import type { DialTarget } from "../types.ts";
import { ForwardedSocket } from "../../ssh/forwarded-socket.ts";
import { configError } from "../shared/config-error.ts";

export type MysqlConfig = ConfigOf<"mysql">;

/** The effective settings after merging a connection_string with the discrete fields. */
export interface ResolvedMysql {
  host: string;
  port: number;
  user: string | undefined;
  password: string | undefined;
  database: string | undefined;
  ssl: { mode: SslMode; ca?: string | undefined; cert?: string | undefined; key?: string | undefined };
}

const URL_SHAPE = "mysql://user:password@host:3306/database";

/** `ssl-mode` values of the MySQL client and `sslmode` values of libpq, both accepted. */
const SSL_MODE_ALIASES: Readonly<Record<string, SslMode>> = {
  disabled: "disable", disable: "disable", false: "disable", "0": "disable",
  preferred: "prefer", prefer: "prefer",
  required: "require", require: "require", true: "require", "1": "require",
  verify_ca: "verify-ca", "verify-ca": "verify-ca",
  verify_identity: "verify-full", "verify-identity": "verify-full", "verify-full": "verify-full",
};

function parseConnectionString(cs: string): Partial<Omit<ResolvedMysql, "ssl">> & { sslMode?: SslMode } {
  let url: URL;
  try {
    url = new URL(cs.trim());
  } catch {
    // Never echo the string: it carries the password.
    throw configError(`connection_string is not a valid URL; expected ${URL_SHAPE}`);
  }
  if (url.protocol !== "mysql:" && url.protocol !== "mariadb:")
    throw configError(`connection_string must start with mysql:// (or mariadb://); expected ${URL_SHAPE}`);
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw configError("connection_string has a malformed %-escape in the user name or password");
    }
  };
  const out: ReturnType<typeof parseConnectionString> = {};
  if (url.hostname) out.host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (url.port) out.port = Number(url.port);
  if (url.username) out.user = decode(url.username);
  if (url.password) out.password = decode(url.password);
  const db = decode(url.pathname.replace(/^\//, ""));
  if (db) out.database = db;
  const rawMode = url.searchParams.get("ssl-mode") ?? url.searchParams.get("sslmode") ?? url.searchParams.get("ssl");
  if (rawMode !== null) {
    const mode = SSL_MODE_ALIASES[rawMode.toLowerCase()];
    if (!mode) throw configError(`connection_string has an unknown ssl-mode "${rawMode}"; use DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY`);
    out.sslMode = mode;
  }
  return out;
}

/**
 * Merges the connection_string (which wins for what it names) with the
 * discrete fields (which fill the rest). Without an `ssl` object the mode is
 * `prefer`, the MySQL client's default.
 */
export function resolveMysqlConfig(config: MysqlConfig): ResolvedMysql {
  const fromUrl = config.connection_string ? parseConnectionString(config.connection_string) : {};
  const host = fromUrl.host ?? config.host;
  if (!host) throw configError("host (or connection_string) is required");
  return {
    host,
    port: fromUrl.port ?? config.port,
    user: fromUrl.user ?? config.username,
    password: fromUrl.password ?? config.password,
    database: fromUrl.database ?? (config.database || undefined),
    ssl: { mode: fromUrl.sslMode ?? config.ssl?.mode ?? "prefer", ca: config.ssl?.ca, cert: config.ssl?.cert, key: config.ssl?.key },
  };
}

/** The host the address policy must check (the one inside a connection_string too). */
export function mysqlTargets(config: MysqlConfig): { hostname: string; port: number }[] {
  const r = resolveMysqlConfig(config);
  return [{ hostname: r.host, port: r.port }];
}

/** mysql2's `ssl` option for a mode; `prefer` first tries TLS without verification (see driver). */
export function sslOptions(ssl: ResolvedMysql["ssl"]): ConnectionOptions["ssl"] | undefined {
  const files = { ...(ssl.ca ? { ca: ssl.ca } : {}), ...(ssl.cert ? { cert: ssl.cert } : {}), ...(ssl.key ? { key: ssl.key } : {}) };
  switch (ssl.mode) {
    case "disable":
      return undefined;
    case "prefer":
    case "require":
      return { ...files, rejectUnauthorized: false };
    case "verify-ca":
      return { ...files, rejectUnauthorized: true, verifyIdentity: false };
    case "verify-full":
      return { ...files, rejectUnauthorized: true, verifyIdentity: true };
  }
}

/** Pool sizing of DESIGN.md: 5 kept idle, 15 at most. */
export const POOL_LIMITS = { connectionLimit: 15, maxIdle: 5, idleTimeoutMs: 60_000, connectTimeoutMs: 10_000 } as const;

/**
 * Options for one pool. `host` stays the name the user typed so mysql2 uses it
 * as TLS servername (SNI and identity check); the socket itself is opened by
 * `stream` to the checked address, so there is no second DNS lookup.
 */
export function mysqlPoolOptions(r: ResolvedMysql, target: DialTarget, withTls: boolean): PoolOptions {
  const ssl = withTls ? sslOptions(r.ssl) : undefined;
  return {
    host: isIP(target.hostname) ? target.address : target.hostname,
    port: target.port,
    stream: () => dial(target),
    user: r.user,
    password: r.password,
    database: r.database,
    ...(ssl ? { ssl } : {}),
    // LOCAL INFILE off: the client never advertises CLIENT_LOCAL_FILES, and no infileStreamFactory is set.
    flags: ["-LOCAL_FILES"],
    multipleStatements: false,
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    decimalNumbers: false,
    rowsAsArray: true,
    // JSON as text: the value rules want JSON columns as they are, not re-serialised.
    jsonStrings: true,
    charset: "utf8mb4",
    timezone: "Z",
    connectionLimit: POOL_LIMITS.connectionLimit,
    maxIdle: POOL_LIMITS.maxIdle,
    idleTimeout: POOL_LIMITS.idleTimeoutMs,
    connectTimeout: POOL_LIMITS.connectTimeoutMs,
    queueLimit: 0,
    waitForConnections: true,
    enableKeepAlive: true,
    maxPreparedStatements: 64,
  };
}

function dial(target: DialTarget): Socket | ForwardedSocket {
  // Behind SSH every session is a channel of the source's tunnel.
  if (target.forward) return new ForwardedSocket(target.forward);
  const s = netConnect({ host: target.address, port: target.port });
  s.setNoDelay(true);
  s.setKeepAlive(true, 30_000);
  return s;
}
