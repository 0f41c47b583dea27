/**
 * mysql2 errors → DriverError with a sentence that says how to fix the problem.
 * Server messages are kept for query errors (the user's SQL is theirs to fix);
 * connection messages are written here and never carry the password.
 */
import { DriverError } from "../types.ts";
import { scrubSecrets } from "../shared/scrub.ts";

interface MysqlErrorLike {
  code?: string;
  errno?: number;
  sqlMessage?: string;
  message?: string;
  fatal?: boolean;
}

/** Where the pool dials, for messages (host as typed, never credentials). */
export interface ErrorContext {
  host: string;
  port: number;
  user: string | undefined;
  database: string | undefined;
  /** Secrets to scrub from any server text, whatever it says. */
  secrets: readonly (string | undefined)[];
}

/** Server errors that mean "the statement ran out of time". */
export const TIMEOUT_ERRNOS: ReadonlySet<number> = new Set([1969 /* MariaDB ER_STATEMENT_TIMEOUT */, 3024 /* MySQL ER_QUERY_TIMEOUT */]);
/** KILL QUERY from our side. */
export const INTERRUPTED_ERRNO = 1317;

const CONNECTION_CODES = new Set([
  "ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET", "EPIPE",
  "PROTOCOL_CONNECTION_LOST", "HANDSHAKE_NO_SSL_SUPPORT", "HANDSHAKE_SSL_ERROR", "ER_ACCESS_DENIED_ERROR",
  "ER_DBACCESS_DENIED_ERROR", "ER_BAD_DB_ERROR", "ER_HOST_NOT_PRIVILEGED", "ER_HOST_IS_BLOCKED", "ER_CON_COUNT_ERROR",
  "ER_TOO_MANY_USER_CONNECTIONS", "ER_NOT_SUPPORTED_AUTH_MODE", "ER_SECURE_TRANSPORT_REQUIRED", "ER_ACCOUNT_HAS_BEEN_LOCKED",
  "ER_MUST_CHANGE_PASSWORD_LOGIN", "DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN", "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "CERT_HAS_EXPIRED", "ERR_TLS_CERT_ALTNAME_INVALID", "ERR_SSL_WRONG_VERSION_NUMBER",
]);

/** True for errors raised while opening or authenticating a connection. */
export function isConnectionError(e: unknown): boolean {
  const err = e as MysqlErrorLike;
  return !!err && typeof err === "object" && ((err.code !== undefined && CONNECTION_CODES.has(err.code)) || /^ERR_TLS|CERT/.test(err.code ?? ""));
}

/** A connection-phase error (dial, TLS, handshake, auth, database selection). */
export function connectionError(e: unknown, ctx: ErrorContext): DriverError {
  const err = (e ?? {}) as MysqlErrorLike;
  const where = `${ctx.host}:${ctx.port}`;
  const user = ctx.user ?? "";
  let msg: string;
  switch (err.code) {
    case "ER_ACCESS_DENIED_ERROR":
      msg = `Access denied for user '${user}' — check the username and password`;
      break;
    case "ER_DBACCESS_DENIED_ERROR":
      msg = `User '${user}' may not use database '${ctx.database ?? ""}' — grant access or pick another database`;
      break;
    case "ER_BAD_DB_ERROR":
      msg = `Unknown database '${ctx.database ?? ""}' — check the database name`;
      break;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      msg = `Could not resolve host ${ctx.host} — check the host name`;
      break;
    case "ECONNREFUSED":
      msg = `Connection refused by ${where} — check the host and port and that MySQL accepts TCP connections there`;
      break;
    case "ETIMEDOUT":
      msg = `Timed out connecting to ${where} — check the host, port and any firewall between this service and the database`;
      break;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      msg = `Host ${where} is unreachable from this service — check the host and network routes`;
      break;
    case "ECONNRESET":
    case "EPIPE":
    case "PROTOCOL_CONNECTION_LOST":
      msg = `The server at ${where} closed the connection — check that it is a MySQL/MariaDB port and whether it requires TLS`;
      break;
    case "HANDSHAKE_NO_SSL_SUPPORT":
      msg = `The server at ${where} does not support TLS but ssl.mode requires it — enable TLS on the server or set ssl.mode to "prefer" or "disable"`;
      break;
    case "ER_SECURE_TRANSPORT_REQUIRED":
      msg = `The server requires TLS — set ssl.mode to "require" (or "verify-full" with the server's CA)`;
      break;
    case "ER_HOST_NOT_PRIVILEGED":
      msg = `The server does not let user '${user}' connect from this service's address — allow the host in the user's grants`;
      break;
    case "ER_CON_COUNT_ERROR":
    case "ER_TOO_MANY_USER_CONNECTIONS":
      msg = `The server at ${where} has too many connections — try again later or raise max_connections`;
      break;
    default:
      if (/CERT|TLS|SSL/.test(err.code ?? ""))
        msg = `TLS to ${where} failed (${err.code}) — check ssl.ca and that the certificate names ${ctx.host}, or use ssl.mode "require" to skip verification`;
      else msg = `Could not connect to ${where}: ${err.sqlMessage ?? err.message ?? "unknown error"}`;
  }
  return new DriverError("connection", scrubSecrets(msg, ctx.secrets), { cause: scrubbedCause(err, ctx) });
}

/** A statement's error: the server's own message (no connection details in it). */
export function queryError(e: unknown, ctx: ErrorContext): DriverError {
  if (e instanceof DriverError) return e;
  if (isConnectionError(e)) return connectionError(e, ctx);
  const err = (e ?? {}) as MysqlErrorLike;
  const text = err.sqlMessage ?? err.message ?? "Query failed";
  return new DriverError("query", scrubSecrets(text, ctx.secrets), { cause: scrubbedCause(err, ctx) });
}

/** Keeps code/errno for logs without the original object (which may hold config). */
function scrubbedCause(err: MysqlErrorLike, ctx: ErrorContext) {
  return { code: err.code, errno: err.errno, message: scrubSecrets(err.sqlMessage ?? err.message ?? "", ctx.secrets) };
}
