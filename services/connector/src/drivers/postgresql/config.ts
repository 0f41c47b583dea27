import type { ConnectionOptions } from "node:tls";
import { PostgresConfigSchema, RedshiftConfigSchema, SSL_MODES, type ConfigOf, type SslMode } from "@dsb/contracts";
import type { DialTarget } from "../types.ts";
import { configError } from "../shared/config-error.ts";

export { PostgresConfigSchema, RedshiftConfigSchema };

/** Configs the pg wire driver serves (PostgreSQL and Redshift share it). */
export type PgWireConfig = ConfigOf<"postgresql"> | ConfigOf<"redshift">;


/** The connection fields after the connection string and discrete fields are merged. */
export interface PgOptions {
  host: string;
  port: number;
  database: string | undefined;
  user: string | undefined;
  password: string | undefined;
  sslMode: SslMode;
  ca: string | undefined;
  cert: string | undefined;
  key: string | undefined;
  applicationName: string | undefined;
}

/** Connection string keys we honour; file paths (sslrootcert, sslcert…) are ignored on purpose: they would read the connector's own files. */
const KEYWORDS = new Set(["host", "hostaddr", "port", "dbname", "user", "password", "sslmode", "application_name"]);

const badString = () =>
  configError("connection_string is not a valid PostgreSQL URL (postgresql://user:password@host:5432/database) or key=value string");

/** Parses `postgresql://…` URLs and libpq `key=value` strings into keywords. */
export function parseConnectionString(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  const str = s.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(str)) {
    let url: URL;
    try {
      url = new URL(str);
    } catch {
      throw badString();
    }
    if (!/^(postgres|postgresql|redshift|jdbc:postgresql|jdbc:redshift)$/i.test(url.protocol.replace(/:$/, ""))) throw badString();
    if (url.hostname) out.host = decodeURIComponent(url.hostname).replace(/^\[(.*)\]$/, "$1");
    if (url.port) out.port = url.port;
    if (url.username) out.user = decodeURIComponent(url.username);
    if (url.password) out.password = decodeURIComponent(url.password);
    const db = decodeURIComponent(url.pathname.replace(/^\//, ""));
    if (db) out.dbname = db;
    for (const [k, v] of url.searchParams) if (KEYWORDS.has(k)) out[k] = v;
    if (url.searchParams.get("ssl") === "true" && !out.sslmode) out.sslmode = "require";
    return out;
  }
  // key=value pairs, values optionally single-quoted with \' and \\ escapes.
  const re = /\s*([a-z_]+)\s*=\s*('((?:[^'\\]|\\.)*)'|\S*)/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while ((m = re.exec(str))) {
    pos = re.lastIndex;
    const v = m[3] !== undefined ? m[3].replace(/\\(.)/g, "$1") : m[2]!;
    if (KEYWORDS.has(m[1]!)) out[m[1]!] = v;
  }
  if (str.slice(pos).trim() !== "" || Object.keys(out).length === 0) throw badString();
  return out;
}

const asMode = (m: string | undefined): SslMode | undefined => {
  if (m === undefined) return undefined;
  if (m === "allow") return "prefer";
  if ((SSL_MODES as readonly string[]).includes(m)) return m as SslMode;
  throw configError(`Unknown sslmode "${m}": use one of ${SSL_MODES.join(", ")}`);
};

/**
 * Merges the connection string (it wins for what it names) with the discrete
 * fields. Refuses Unix socket paths: only network hosts pass the address policy.
 */
export function resolvePgOptions(config: PgWireConfig, defaultPort: number): PgOptions {
  const cs = config.connection_string ? parseConnectionString(config.connection_string) : {};
  const host = cs.hostaddr ?? cs.host ?? config.host;
  if (!host) throw configError("host (or connection_string) is required");
  if (host.includes(",")) throw configError("Multiple hosts in one connection string are not supported; use one host");
  if (host.startsWith("/")) throw configError("Unix socket paths are not allowed as host; use a network host name or address");
  const port = Number(cs.port ?? config.port ?? defaultPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw configError("port must be a number between 1 and 65535");
  return {
    host, port,
    database: cs.dbname ?? config.database,
    user: cs.user ?? config.username,
    password: cs.password ?? config.password,
    sslMode: asMode(cs.sslmode) ?? config.ssl?.mode ?? "prefer",
    ca: config.ssl?.ca, cert: config.ssl?.cert, key: config.ssl?.key,
    applicationName: cs.application_name,
  };
}

const isIpLiteral = (h: string) => /^[\d.]+$/.test(h) || h.includes(":");

/**
 * node-postgres `ssl` option for a mode. `prefer` starts with TLS without
 * verification and the driver falls back to plain text when the server has no TLS.
 * `servername` carries the typed host name because we dial the checked IP.
 */
export function pgSsl(o: PgOptions, target: DialTarget, mode: SslMode = o.sslMode): false | ConnectionOptions {
  if (mode === "disable") return false;
  const base: ConnectionOptions = {
    ...(isIpLiteral(target.hostname) ? {} : { servername: target.hostname }),
    ...(o.cert ? { cert: o.cert } : {}),
    ...(o.key ? { key: o.key } : {}),
  };
  if (mode === "prefer" || mode === "require") return { ...base, rejectUnauthorized: false };
  const ca = o.ca ? { ca: o.ca } : {};
  // verify-ca: chain checked, host name not (libpq semantics).
  if (mode === "verify-ca") return { ...base, ...ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
  return { ...base, ...ca, rejectUnauthorized: true };
}
