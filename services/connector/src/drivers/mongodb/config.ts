import { resolveSrv as dnsResolveSrv, resolveTxt as dnsResolveTxt } from "node:dns/promises";
import { isIP, type LookupFunction } from "node:net";
import type { MongoClientOptions } from "mongodb";
import { AppError, type ConfigOf } from "@dsb/contracts";
import type { DialTarget } from "../types.ts";
import { configError } from "../shared/config-error.ts";

export type MongodbConfig = ConfigOf<"mongodb">;

/** What a `mongodb://` or `mongodb+srv://` connection string says. */
export interface MongoUrl {
  srv: boolean;
  hosts: { hostname: string; port: number }[];
  username?: string;
  password?: string;
  database?: string;
  /** URI options under their canonical names (the URI's are case-insensitive). */
  options: Record<string, string>;
}

/**
 * URI options that may be given. Left out on purpose: those that read files on the
 * connector (tlsCAFile, tlsCertificateKeyFile), dial elsewhere (proxyHost…), or fetch
 * credentials from the machine's environment or metadata endpoint (authMechanismProperties,
 * MONGODB-AWS, MONGODB-OIDC, GSSAPI, MONGODB-X509).
 */
const URI_OPTIONS = [
  "authSource", "authMechanism", "replicaSet", "tls", "ssl", "tlsAllowInvalidCertificates", "tlsAllowInvalidHostnames", "tlsInsecure",
  "readPreference", "readPreferenceTags", "maxStalenessSeconds", "readConcernLevel", "appName", "retryReads", "retryWrites", "w",
  "journal", "wtimeoutMS", "directConnection", "loadBalanced", "connectTimeoutMS", "socketTimeoutMS", "serverSelectionTimeoutMS",
  "heartbeatFrequencyMS", "maxPoolSize", "minPoolSize", "maxIdleTimeMS", "compressors", "zlibCompressionLevel", "srvServiceName",
  "srvMaxHosts", "localThresholdMS", "waitQueueTimeoutMS", "maxConnecting",
] as const;
const CANONICAL = new Map<string, string>(URI_OPTIONS.map((o) => [o.toLowerCase(), o]));
const AUTH_MECHANISMS = new Set(["DEFAULT", "SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN"]);

const badUrl = (why: string) =>
  configError(`connection_string: ${why}. Expected mongodb://user:password@host:27017/database?authSource=admin or mongodb+srv://user:password@cluster.example.net/database`);

/** Parses a MongoDB connection string (several hosts, IPv6 in brackets, percent-encoded credentials). */
export function parseMongoUrl(s: string): MongoUrl {
  const m = /^(mongodb(?:\+srv)?):\/\/(?:([^@/]*)@)?([^/?]*)(?:\/([^?]*))?(?:\?(.*))?$/.exec(s.trim());
  if (!m) throw badUrl("not a MongoDB URI");
  const srv = m[1] === "mongodb+srv";
  const decode = (x: string) => {
    try { return decodeURIComponent(x); } catch { throw badUrl("bad percent-encoding"); }
  };
  let username: string | undefined;
  let password: string | undefined;
  if (m[2] !== undefined) {
    const i = m[2].indexOf(":");
    username = decode(i < 0 ? m[2] : m[2].slice(0, i));
    if (i >= 0) password = decode(m[2].slice(i + 1));
  }
  const hosts = (m[3] ?? "").split(",").filter(Boolean).map((h) => {
    const hm = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(h);
    if (!hm) throw badUrl(`bad host ${JSON.stringify(h)}`);
    return { hostname: decode(hm[1]!.replace(/^\[|\]$/g, "")), port: hm[2] ? Number(hm[2]) : 27017 };
  });
  if (hosts.length === 0) throw badUrl("no host");
  if (srv && (hosts.length > 1 || /:\d+$/.test(m[3] ?? ""))) throw badUrl("mongodb+srv:// takes one host name and no port");
  const options: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(m[5] ?? "")) {
    const name = CANONICAL.get(k.toLowerCase());
    if (!name) throw badUrl(`option ${k} is not supported here (supported: ${URI_OPTIONS.join(", ")})`);
    options[name] = v;
  }
  if (options.authMechanism && !AUTH_MECHANISMS.has(options.authMechanism.toUpperCase()))
    throw badUrl(`authMechanism ${options.authMechanism} is not supported here (use SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN)`);
  const database = m[4] ? decode(m[4]) : undefined;
  return { srv, hosts, options, ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}), ...(database ? { database } : {}) };
}

/** DNS answers SRV resolution needs (injectable for tests). */
export interface SrvResolver {
  resolveSrv(name: string): Promise<{ name: string; port: number }[]>;
  resolveTxt(name: string): Promise<string[][]>;
}
export const systemResolver: SrvResolver = { resolveSrv: dnsResolveSrv, resolveTxt: dnsResolveTxt };

/**
 * The hosts a `mongodb+srv://` name stands for, resolved here rather than by the driver so the
 * address policy checks each one before anything is dialled. As the driver would, every host
 * must sit under the SRV name's parent domain (a spoofed record cannot point elsewhere).
 */
export async function srvHosts(hostname: string, serviceName: string, resolver: SrvResolver): Promise<{ hostname: string; port: number }[]> {
  let records: { name: string; port: number }[];
  try {
    records = await resolver.resolveSrv(`_${serviceName}._tcp.${hostname}`);
  } catch (e) {
    throw new AppError("CONNECTION_FAILED", `Could not resolve the SRV records of ${hostname} (${(e as { code?: string }).code ?? "DNS error"}): check the cluster's host name`);
  }
  const labels = hostname.toLowerCase().replace(/\.$/, "").split(".");
  const domain = labels.length >= 3 ? labels.slice(1).join(".") : labels.join(".");
  const hosts = records.map((r) => ({ hostname: r.name.toLowerCase().replace(/\.$/, ""), port: r.port }));
  if (hosts.length === 0) throw new AppError("CONNECTION_FAILED", `${hostname} has no SRV records for _${serviceName}._tcp; check the cluster's host name`);
  for (const h of hosts) {
    if (!h.hostname.endsWith(`.${domain}`) || h.hostname === domain)
      throw new AppError("CONNECTION_FAILED", `The SRV record of ${hostname} points at ${h.hostname}, outside ${domain}; refused`);
  }
  return hosts;
}

/** Options a `mongodb+srv://` name's TXT record gives (the spec allows only these three). */
export async function srvTxtOptions(hostname: string, resolver: SrvResolver): Promise<Record<string, string>> {
  let txt: string[][];
  try {
    txt = await resolver.resolveTxt(hostname);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENODATA" || code === "ENOTFOUND") return {};
    throw new AppError("CONNECTION_FAILED", `Could not resolve the TXT record of ${hostname} (${code ?? "DNS error"})`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(txt.map((parts) => parts.join("")).join("&"))) {
    const name = CANONICAL.get(k.toLowerCase());
    if (name === "authSource" || name === "replicaSet" || name === "loadBalanced") out[name] = v;
  }
  return out;
}

/** The hosts to check and dial: the discrete host, the string's seed list, or an SRV name's records. */
export async function mongoTargets(config: MongodbConfig, resolver: SrvResolver = systemResolver): Promise<{ hostname: string; port: number }[]> {
  if (!config.connection_string) {
    if (!config.host) throw configError("host (or connection_string) is required");
    return [{ hostname: config.host, port: config.port }];
  }
  const url = parseMongoUrl(config.connection_string);
  if (!url.srv) return url.hosts;
  return srvHosts(url.hosts[0]!.hostname, url.options.srvServiceName ?? "mongodb", resolver);
}

/**
 * A DNS lookup for the driver's sockets that answers only the names the address policy
 * checked, with the address it checked: no second resolution can rebind them, and a replica
 * set member announced under any other name is not dialled.
 */
export function pinnedLookup(targets: readonly DialTarget[]): LookupFunction {
  const pinned = new Map(targets.map((t) => [t.hostname.toLowerCase(), t.address]));
  return (hostname, options, callback) => {
    const address = pinned.get(hostname.toLowerCase().replace(/^\[|\]$/g, ""));
    if (!address) {
      const err = Object.assign(new Error(`${hostname} is not one of the checked hosts of this source; list every replica set member in the connection string`), { code: "ENOTFOUND" });
      callback(err as NodeJS.ErrnoException, "", 0);
      return;
    }
    const family = isIP(address);
    if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]);
    else callback(null, address, family);
  };
}

/** The database whose collections are the source's tables. */
export function mongoDatabase(config: MongodbConfig): string {
  const db = config.database ?? (config.connection_string ? parseMongoUrl(config.connection_string).database : undefined);
  if (!db) throw configError("database is required (the database whose collections to list)");
  return db;
}

const hostPort = (t: { hostname: string; port: number }) => `${isIP(t.hostname) === 6 ? `[${t.hostname}]` : t.hostname}:${t.port}`;

/**
 * The one place a config becomes a MongoClient URL and options: the checked hosts as the seed
 * list (by name, so TLS verifies the name; the pinned lookup gives the checked address),
 * credentials as options (no escaping), a single host connected directly (no discovery of
 * members by other names), and fail-fast timeouts.
 */
export function mongoClientSetup(config: MongodbConfig, targets: readonly DialTarget[], txt: Record<string, string> = {}): { url: string; options: MongoClientOptions } {
  const url = config.connection_string ? parseMongoUrl(config.connection_string) : null;
  const uriOptions: Record<string, string> = { ...txt, ...(url?.options ?? {}) };
  delete uriOptions.srvServiceName;
  delete uriOptions.srvMaxHosts;
  const username = config.username ?? url?.username;
  const password = config.password ?? url?.password;
  const tls = config.tls || /^true$/i.test(uriOptions.tls ?? uriOptions.ssl ?? "") || (!!url?.srv && !/^false$/i.test(uriOptions.tls ?? uriOptions.ssl ?? ""));
  delete uriOptions.tls;
  delete uriOptions.ssl;
  const options: MongoClientOptions = {
    appName: "dsb-connector",
    serverSelectionTimeoutMS: 10_000, connectTimeoutMS: 10_000,
    maxPoolSize: 10, minPoolSize: 0, maxIdleTimeMS: 60_000,
    retryReads: true, tls, lookup: pinnedLookup(targets),
  };
  if (username) {
    options.auth = { username, ...(password !== undefined ? { password } : {}) };
    options.authSource = config.auth_source ?? uriOptions.authSource ?? url?.database ?? "admin";
  }
  delete uriOptions.authSource;
  if (targets.length === 1 && !url?.srv && !uriOptions.replicaSet && !uriOptions.loadBalanced && uriOptions.directConnection === undefined) options.directConnection = true;
  const qs = new URLSearchParams(uriOptions).toString();
  return { url: `mongodb://${targets.map(hostPort).join(",")}/${qs ? `?${qs}` : ""}`, options };
}
