/**
 * ClickHouse errors → DriverError. Server text comes in two shapes:
 * 18.x `Code: 193, e.displayText() = DB::Exception: Wrong password..., e.what() = DB::Exception`
 * and newer `Code: 516. DB::Exception: default: Authentication failed... (AUTHENTICATION_FAILED) (version ...)`.
 */
import { DriverError } from "../types.ts";
import { scrubSecrets } from "../shared/scrub.ts";

export interface ErrorContext {
  host: string;
  port: number;
  protocol: "http" | "https";
  user: string;
  database: string;
  secrets: readonly (string | undefined)[];
}

/** Server error codes that mean the credentials or user are wrong. */
const AUTH_CODES = new Set([192 /* UNKNOWN_USER */, 193 /* WRONG_PASSWORD */, 194 /* REQUIRED_PASSWORD */, 516 /* AUTHENTICATION_FAILED */]);
export const TIMEOUT_CODE = 159; // TIMEOUT_EXCEEDED
export const CANCELLED_CODE = 394; // QUERY_WAS_CANCELLED
const UNKNOWN_DATABASE = 81;

/** Code and readable message of a server error text, or null when it is not one. */
export function parseServerError(text: string): { code: number; message: string } | null {
  const m = /Code: (\d+)[.,]\s*(?:e\.displayText\(\) = )?(?:DB::Exception: )?([\s\S]*)$/.exec(text.trim());
  if (!m) return null;
  const message = m[2]!
    .replace(/, e\.what\(\) = DB::Exception\s*$/, "")
    .replace(/\s*\(version [^)]*\)\s*$/, "")
    .replace(/\s*\([A-Z_]+\)\s*$/, "")
    .trim();
  return { code: Number(m[1]), message };
}

const codeOf = (e: unknown) => (e && typeof e === "object" ? (e as { code?: unknown }).code : undefined);

/** Error of a request to the server, connection-phase or query-phase. */
export function clickhouseError(e: unknown, ctx: ErrorContext, phase: "connect" | "query"): DriverError {
  if (e instanceof DriverError) return e;
  const where = `${ctx.host}:${ctx.port}`;
  const sys = codeOf(e);
  const text = e instanceof Error ? e.message : String(e);
  const parsed = parseServerError(text);
  let kind: DriverError["kind"] = phase === "connect" ? "connection" : "query";
  let msg: string;
  if (parsed && AUTH_CODES.has(parsed.code)) {
    kind = "connection";
    msg = `Access denied for user '${ctx.user}' — check the username and password`;
  } else if (parsed && parsed.code === UNKNOWN_DATABASE && phase === "connect") {
    kind = "connection";
    msg = `Unknown database '${ctx.database}' — check the database name`;
  } else if (parsed && parsed.code === TIMEOUT_CODE) {
    kind = "timeout";
    msg = `The query ran longer than its timeout and was stopped by the server (${parsed.message})`;
  } else if (parsed) {
    msg = parsed.message;
  } else if (sys === "ECONNREFUSED") {
    kind = "connection";
    msg = `Connection refused by ${where} — check the host and the HTTP port (8123, or 8443 for https)`;
  } else if (sys === "ENOTFOUND" || sys === "EAI_AGAIN") {
    kind = "connection";
    msg = `Could not resolve host ${ctx.host} — check the host name`;
  } else if (sys === "ETIMEDOUT" || sys === "EHOSTUNREACH" || sys === "ENETUNREACH") {
    kind = "connection";
    msg = `Could not reach ${where} (${String(sys)}) — check the host, port and any firewall in between`;
  } else if (sys === "ECONNRESET" || sys === "EPROTO" || /socket hang up|wrong version number|ssl/i.test(text)) {
    kind = "connection";
    msg = ctx.protocol === "https"
      ? `The connection to ${where} failed during TLS (${String(sys ?? "reset")}) — check that the port serves HTTPS`
      : `The server at ${where} closed the connection — check the port, and set protocol "https" if it serves TLS`;
  } else if (typeof sys === "string" && /CERT|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(sys)) {
    kind = "connection";
    msg = `TLS to ${where} failed (${sys}) — check ssl.ca and that the certificate names ${ctx.host}, or use ssl.mode "require" to skip verification`;
  } else {
    msg = phase === "connect" ? `Could not connect to ${where}: ${text}` : text;
  }
  return new DriverError(kind, scrubSecrets(msg, ctx.secrets), { cause: { code: parsed?.code ?? sys, message: scrubSecrets(text, ctx.secrets) } });
}
