import { DriverError } from "../types.ts";
import { scrubSecrets } from "../shared/scrub.ts";

interface PgErrorLike {
  code?: string;
  message?: string;
  severity?: string;
  detail?: string;
  hint?: string;
}

const TLS_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN", "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED", "ERR_TLS_CERT_ALTNAME_INVALID", "CERT_UNTRUSTED",
]);

/** Where the error came from, for messages (host names are not secrets; credentials are). */
export interface ErrorContext {
  hostname: string;
  port: number;
  user: string | undefined;
  secrets: (string | undefined)[];
}

/** Turns an error while connecting into a DriverError with a sentence that says how to fix it. */
export function connectionError(e: unknown, ctx: ErrorContext): DriverError {
  if (e instanceof DriverError) return e;
  const err = (e ?? {}) as PgErrorLike;
  const code = err.code ?? "";
  const raw = err.message ?? String(e);
  const where = `${ctx.hostname}:${ctx.port}`;
  let msg: string;
  if (code === "28P01") msg = `Password authentication failed for user ${ctx.user ?? "(none)"}; check the username and password`;
  else if (code === "28000" && /no pg_hba\.conf entry.*(SSL off|no encryption)/i.test(raw))
    msg = `The server requires an encrypted connection (${raw}); set ssl.mode to "require"`;
  else if (code === "28000") msg = `The server refused the login: ${raw}`;
  else if (code === "3D000") msg = `${raw}; check the database name`;
  else if (code === "53300") msg = `The server has too many connections: ${raw}; try again later`;
  else if (code.startsWith("08") || code.startsWith("57P")) msg = `The server closed the connection: ${raw}`;
  else if (code === "ENOTFOUND" || code === "EAI_AGAIN") msg = `Unknown host ${ctx.hostname}: check the host name`;
  else if (code === "ECONNREFUSED") msg = `Connection refused by ${where}: check the host and port, and that the server accepts TCP connections`;
  else if (code === "ETIMEDOUT" || /timeout expired|timed out/i.test(raw)) msg = `Timed out connecting to ${where}: check the host, the port and any firewall between us`;
  else if (code === "EHOSTUNREACH" || code === "ENETUNREACH") msg = `Host ${where} is unreachable from the connector: check the network path`;
  else if (code === "ECONNRESET" || /terminated unexpectedly/i.test(raw)) msg = `The server at ${where} closed the connection during login; check that this is a PostgreSQL server and its TLS settings`;
  else if (/does not support SSL/i.test(raw)) msg = `The server at ${where} does not support SSL; set ssl.mode to "disable" or "prefer"`;
  else if (TLS_CODES.has(code)) msg = `The server's TLS certificate could not be verified (${raw}); provide ssl.ca, or use ssl.mode "require" to encrypt without verification`;
  else if (/SASL|SCRAM|password must be a string/i.test(raw)) msg = `The server asked for a password: set a password for user ${ctx.user ?? "(none)"}`;
  else msg = `Could not connect to ${where}: ${raw}`;
  return new DriverError("connection", scrubSecrets(msg, ctx.secrets), { cause: e });
}

/** True for errors that mean the session is unusable rather than the statement was wrong. */
export function isConnectionLevel(e: unknown): boolean {
  const code = (e as PgErrorLike | undefined)?.code ?? "";
  // 08P01 is what a statement with the wrong number of parameters gets: the statement's fault.
  if (code === "08P01" && /parameters?/i.test((e as PgErrorLike | undefined)?.message ?? "")) return false;
  // Any other SQLSTATE the server sent is about the statement: its message may say "unterminated /* comment".
  if (/^[0-9A-Z]{5}$/.test(code) && !/^(08|57P|28|3D000)/.test(code)) return false;
  return code.startsWith("08") || code.startsWith("57P") || code.startsWith("28") || code === "3D000" || /^E[A-Z]+$/.test(code) || TLS_CODES.has(code)
    || /terminated|not queryable|Connection terminated/i.test((e as PgErrorLike | undefined)?.message ?? "");
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/**
 * A sentence a user understands for driver and protocol jargon, followed by
 * PostgreSQL's own message; null when the server's message says it plainly.
 */
export function inPlainWords(err: PgErrorLike): string | null {
  const raw = err.message ?? "";
  const said = `PostgreSQL said: ${raw}`;
  const bind = /bind message supplies (\d+) parameters?, but prepared statement "[^"]*" requires (\d+)/.exec(raw);
  if (bind) {
    const [given, wanted] = [Number(bind[1]), Number(bind[2])];
    return `The query has ${plural(wanted, "placeholder", "placeholders")}${wanted ? ` ($1${wanted > 1 ? `…$${wanted}` : ""})` : ""} but ${plural(given, "parameter was", "parameters were")} given; send one value in params for each placeholder. ${said}`;
  }
  if (/cannot insert multiple commands into a prepared statement/i.test(raw))
    return `A query runs one statement; remove the statements after the first ";" (or send each as its own query). ${said}`;
  if (err.code === "42601" && /at end of input/i.test(raw))
    return `The SQL ends before the statement is complete (an unfinished clause, a missing closing parenthesis or quote, or a trailing comma?). ${said}`;
  const untyped = /could not determine data type of parameter \$(\d+)/.exec(raw);
  if (untyped) return `PostgreSQL cannot tell the type of parameter $${untyped[1]}; add a cast, e.g. $${untyped[1]}::text or $${untyped[1]}::int. ${said}`;
  const missing = /there is no parameter \$(\d+)/.exec(raw);
  if (missing) return `The query uses $${missing[1]} but fewer parameters were given; send one value in params for each placeholder. ${said}`;
  return null;
}

/** A statement's error: the database's own message, no connection details. */
export function queryError(e: unknown, ctx: ErrorContext, opts: { timeoutMs: number; reason: "timeout" | "cancelled" | null }): DriverError {
  if (e instanceof DriverError) return e;
  const err = (e ?? {}) as PgErrorLike;
  if (err.code === "57014" || opts.reason) {
    const byTimeout = opts.reason === "timeout" || (opts.reason === null && /statement timeout/i.test(err.message ?? ""));
    return byTimeout
      ? new DriverError("timeout", `Query exceeded its timeout of ${opts.timeoutMs} ms and was cancelled`, { cause: e })
      : new DriverError("cancelled", "Query was cancelled", { cause: e });
  }
  if (isConnectionLevel(e)) {
    // The session was open when the statement was sent: a reset now is not a login or TLS problem.
    if (err.code === "ECONNRESET" || /terminated unexpectedly|Connection terminated/i.test(err.message ?? ""))
      return new DriverError("connection", `The server at ${ctx.hostname}:${ctx.port} closed the connection while the query ran (it restarted, or something on the network cut the connection); run the query again`, { cause: e });
    return connectionError(e, ctx);
  }
  let msg = inPlainWords(err) ?? err.message ?? "Query failed";
  if (err.code === "25006") msg += " (queries run read-only unless the source allows writes and the query sets read_only: false)";
  if (err.detail) msg += `. ${err.detail}`;
  if (err.hint) msg += ` Hint: ${err.hint}`;
  return new DriverError("query", scrubSecrets(msg, ctx.secrets), { cause: e });
}
