import { DriverError } from "../types.ts";
import { scrubSecrets } from "../shared/scrub.ts";

interface RawTdsError { code?: string; number?: number; message?: string; cause?: unknown; errors?: unknown[] }

/** All messages and codes of an error, its cause chain and AggregateError members (tedious nests them). */
function innerText(e: unknown, depth = 0): string {
  if (!e || typeof e !== "object" || depth > 4) return "";
  const r = e as RawTdsError;
  const parts = [String(r.message ?? ""), String(r.code ?? "")];
  if (r.cause) parts.push(innerText(r.cause, depth + 1));
  if (Array.isArray(r.errors)) for (const x of r.errors) parts.push(innerText(x, depth + 1));
  return parts.join(" ");
}

/** A failed connect (tedious ConnectionError) as a DriverError whose message says how to fix it. */
export function mssqlConnectError(err: unknown, where: { host: string; port: number; user?: string | undefined; password?: string | undefined }): DriverError {
  const e = (err ?? {}) as RawTdsError;
  const text = innerText(e);
  const at = `${where.host}:${where.port}`;
  let message: string;
  if (e.code === "ELOGIN") {
    const server = (e.message ?? "").trim();
    message = /login failed/i.test(server)
      ? `SQL Server rejected the login${where.user ? ` for user '${where.user}'` : ""}: check the username and password (SQL Server authentication must be enabled on the server). Server said: ${server}`
      : `SQL Server refused the login: ${server || "no reason given"}. Check the database name and that the login may use it.`;
  } else if (/ECONNREFUSED/.test(text)) {
    message = `Connection refused by ${at}: check that SQL Server is running, listens for TCP on that port, and that a firewall allows it.`;
  } else if (/ENOTFOUND|EAI_AGAIN/.test(text)) {
    message = `Unknown host ${where.host}: check the host name.`;
  } else if (/certificate|self[- ]signed|SSL|TLS/i.test(text)) {
    message = `TLS to ${at} failed (${e.message ?? "certificate error"}): provide ssl.ca, set trust_server_certificate: true for a self-signed certificate, or encrypt: false if the server does not support encryption.`;
  } else if (e.code === "ETIMEOUT" || /ETIMEDOUT|timeout/i.test(text)) {
    message = `Timed out connecting to ${at}: check the host, port and firewall.`;
  } else if (e.code === "EINSTLOOKUP") {
    message = `Could not find SQL Server instance on ${where.host}: check instance_name and that the SQL Server Browser service (UDP 1434) is reachable, or set the port instead.`;
  } else {
    message = `Could not connect to SQL Server at ${at}: ${e.message ?? String(err)}`;
  }
  return new DriverError("connection", scrubSecrets(message, [where.password]));
}

/** A failed statement (tedious RequestError) as a DriverError with the server's own message. */
export function mssqlQueryError(err: unknown, secrets: readonly (string | undefined)[]): DriverError {
  const e = (err ?? {}) as RawTdsError;
  if (e.code === "ESOCKET" || e.code === "ECLOSE" || e.code === "EINVALIDSTATE") {
    return new DriverError("connection", scrubSecrets(`Lost the connection to SQL Server: ${e.message ?? "socket closed"}`, secrets));
  }
  return new DriverError("query", scrubSecrets(e.message ?? String(err), secrets));
}
