import type { ConnectionConfiguration } from "tedious";
import type { ConfigOf } from "@dsb/contracts";
import type { DialTarget } from "../types.ts";
import { openForwardedSocket } from "../../ssh/forwarded-socket.ts";
import { configError } from "../shared/config-error.ts";

export type MssqlConfig = ConfigOf<"mssql">;

/** The settings a SQL Server connection needs, after connection_string and fields are merged. */
export interface MssqlSettings {
  host: string;
  port: number;
  database: string | undefined;
  user: string | undefined;
  password: string | undefined;
  instanceName: string | undefined;
  encrypt: boolean;
  trustServerCertificate: boolean;
  ca: string | undefined;
}

const truthy = (v: string) => /^(true|yes|1|mandatory|strict)$/i.test(v.trim());

/**
 * Parses an ADO.NET connection string (`Server=tcp:host,1433;Database=db;User Id=u;Password=p;Encrypt=true`)
 * or a URL (`mssql://user:pass@host:1433/db?encrypt=false`). Only the keys this driver understands are kept.
 */
export function parseMssqlConnectionString(s: string): Partial<MssqlSettings> {
  const out: Partial<MssqlSettings> = {};
  if (/^(mssql|sqlserver):\/\//i.test(s.trim())) {
    let url: URL;
    try {
      url = new URL(s.trim());
    } catch {
      throw configError("connection_string is not a valid mssql:// URL");
    }
    out.host = decodeURIComponent(url.hostname.replace(/^\[|\]$/g, ""));
    if (url.port) out.port = Number(url.port);
    const db = decodeURIComponent(url.pathname.replace(/^\//, ""));
    if (db) out.database = db;
    if (url.username) out.user = decodeURIComponent(url.username);
    if (url.password) out.password = decodeURIComponent(url.password);
    const enc = url.searchParams.get("encrypt");
    if (enc !== null) out.encrypt = truthy(enc);
    const trust = url.searchParams.get("trustServerCertificate") ?? url.searchParams.get("trust_server_certificate");
    if (trust !== null) out.trustServerCertificate = truthy(trust);
    const inst = url.searchParams.get("instanceName") ?? url.searchParams.get("instance");
    if (inst) out.instanceName = inst;
    return out;
  }
  for (const part of s.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim().toLowerCase().replace(/\s+/g, " ");
    const value = part.slice(eq + 1).trim();
    switch (key) {
      case "server": case "data source": case "address": case "addr": case "network address": {
        // "tcp:host\\instance,1433"
        let v = value.replace(/^tcp:/i, "");
        const comma = v.lastIndexOf(",");
        if (comma >= 0) { out.port = Number(v.slice(comma + 1)); v = v.slice(0, comma); }
        const slash = v.indexOf("\\");
        if (slash >= 0) { out.instanceName = v.slice(slash + 1); v = v.slice(0, slash); }
        out.host = v;
        break;
      }
      case "database": case "initial catalog": out.database = value; break;
      case "user id": case "uid": case "user": case "username": out.user = value; break;
      case "password": case "pwd": out.password = value; break;
      case "encrypt": out.encrypt = truthy(value); break;
      case "trustservercertificate": case "trust server certificate": out.trustServerCertificate = truthy(value); break;
      default: break;
    }
  }
  return out;
}

/** Merges connection_string (wins, it is what the user pasted) over the discrete fields. */
export function mssqlSettings(config: MssqlConfig): MssqlSettings {
  const fromString = config.connection_string ? parseMssqlConnectionString(config.connection_string) : {};
  const host = fromString.host ?? config.host;
  if (!host) throw configError("SQL Server host is required (set host or a connection_string with Server=)");
  const sslMode = config.ssl?.mode;
  const encrypt = sslMode === "disable" ? false : (fromString.encrypt ?? config.encrypt);
  const verify = sslMode === "verify-ca" || sslMode === "verify-full";
  return {
    host,
    port: fromString.port ?? config.port,
    database: fromString.database ?? config.database,
    user: fromString.user ?? config.username,
    password: fromString.password ?? config.password,
    instanceName: fromString.instanceName ?? config.instance_name,
    encrypt,
    trustServerCertificate: verify ? false : (fromString.trustServerCertificate ?? config.trust_server_certificate),
    ca: config.ssl?.ca,
  };
}

/**
 * The one place a config becomes tedious options. Dials `target.address` (the IP the
 * address policy checked) and verifies TLS against the name the user typed.
 */
export function tediousOptions(s: MssqlSettings, target: DialTarget, opts: { connectTimeoutMs?: number } = {}): ConnectionConfiguration {
  const forward = target.forward;
  if (forward && s.instanceName)
    throw configError("instance_name cannot be used with ssh (SQL Browser answers over UDP, which SSH does not carry); give the instance's port instead");
  return {
    server: target.address,
    authentication: { type: "default", options: { userName: s.user ?? "", password: s.password ?? "" } },
    options: {
      ...(s.instanceName ? { instanceName: s.instanceName } : { port: target.port }),
      database: s.database,
      encrypt: s.encrypt,
      trustServerCertificate: s.trustServerCertificate,
      serverName: target.hostname,
      ...(s.ca ? { cryptoCredentialsDetails: { ca: s.ca } } : {}),
      connectTimeout: opts.connectTimeoutMs ?? 15_000,
      // The driver times statements itself and cancels on the server (see driver.ts).
      requestTimeout: 0,
      rowCollectionOnDone: false,
      rowCollectionOnRequestCompletion: false,
      useColumnNames: false,
      useUTC: true,
      appName: "dsb-connector",
      maxRetriesOnTransientErrors: 0,
      // Behind SSH the session is a channel of the source's tunnel; tedious takes it as a socket.
      ...(forward ? { connector: () => openForwardedSocket(forward) } : {}),
    },
  };
}
