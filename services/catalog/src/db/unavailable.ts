import { AppError } from "@dsb/contracts";

/**
 * SQLSTATEs of a server that is going away or not back yet: class 08 (connection exception),
 * 57P01 admin shutdown (`pg_ctl stop/restart -m fast`), 57P02 crash shutdown, 57P03 cannot
 * connect now (starting up, shutting down, in recovery), 53300 too many connections.
 */
const UNAVAILABLE_STATES = /^(08...|57P0[123]|53300)$/;
/** Socket errors on the way to the server. */
const NET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ENOTFOUND"]);
/** node-postgres and pg-pool say a connection died or never came in words, not codes. */
const LOST = /Connection terminated|timeout exceeded when trying to connect|not queryable|Client was closed|server closed the connection/i;

/** True when `e` says the catalog database cannot be reached right now, not that the statement was wrong. */
export function isDatabaseUnavailable(e: unknown): boolean {
  if (!(e instanceof Error) || e instanceof AppError) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === "string" && NET_CODES.has(code)) return true;
  // A server's answer with a SQLSTATE is about that statement unless the state says otherwise, whatever its words.
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return UNAVAILABLE_STATES.test(code);
  if (e instanceof AggregateError && e.errors.some(isDatabaseUnavailable)) return true;
  return LOST.test(e.message) || (e.cause !== undefined && isDatabaseUnavailable(e.cause));
}

/** What a caller gets while the catalog database is away: 503, retryable, nothing about the server. */
export const databaseUnavailable = (cause?: unknown) =>
  new AppError("UNAVAILABLE", "The catalog database is unavailable; retry shortly", { retryable: true, cause });
