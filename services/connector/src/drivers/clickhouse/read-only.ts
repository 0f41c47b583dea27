/**
 * The read-only guard of ClickHouse, on tokens. The server's `readonly=1`
 * (sent with every read-only query, see driver.ts) refuses writes, DDL and
 * settings changes; it does not stop table functions that read files on the
 * server or reach other servers and programs (file, url, s3, remote, mysql,
 * executable…), nor every SYSTEM statement. So in read-only mode:
 * - one statement, starting with SELECT, WITH, SHOW, DESC/DESCRIBE, EXISTS,
 *   EXPLAIN or `(` (so no SYSTEM, KILL, SET, INSERT…);
 * - no call of those table functions anywhere, bare or quoted ("file"(…),
 *   `url`(…)), and no INTO OUTFILE.
 * The HTTP interface keeps no session between requests (the driver sends no
 * session_id), so nothing a query sets outlives it.
 * Limits (docs/security.md): dictionaries and tables already defined with such
 * sources or engines are read as any table is; a readonly user profile without
 * the remote/file grants is the real guarantee.
 */
import { textGuard } from "../read-only.ts";
import { firstViolation, nameOf, readings, statementShapeViolation, type SqlToken } from "../sql-tokens.ts";

const READ_STARTS = new Set(["SELECT", "WITH", "SHOW", "DESC", "DESCRIBE", "EXISTS", "EXPLAIN"]);

const FILES = "reads or writes files or object storage from the database server";
const REMOTE = "connects to other servers";
const PROGRAM = "runs a program on the database server";
const DENIED: Record<string, string> = {};
for (const n of ["FILE", "FILECLUSTER", "URL", "URLCLUSTER", "S3", "S3CLUSTER", "GCS", "OSS", "COSN", "HDFS", "HDFSCLUSTER", "INPUT"]) DENIED[n] = FILES;
for (const n of ["REMOTE", "REMOTESECURE", "CLUSTER", "CLUSTERALLREPLICAS", "MYSQL", "POSTGRESQL", "JDBC", "ODBC", "MONGODB", "REDIS", "SQLITE", "ARROWFLIGHT"]) DENIED[n] = REMOTE;
for (const n of ["EXECUTABLE", "EXECUTABLEPOOL"]) DENIED[n] = PROGRAM;
const DENIED_PREFIXES: [string, string][] = [["AZUREBLOBSTORAGE", FILES], ["ICEBERG", FILES], ["DELTALAKE", FILES], ["HUDI", FILES]];

/** Why calling `name` (any case) is refused, or null. */
export function clickhouseDeniedFunction(name: string): string | null {
  const n = name.toUpperCase();
  return DENIED[n] ?? DENIED_PREFIXES.find(([p]) => n.startsWith(p))?.[1] ?? null;
}

function startReason(word: string): string {
  if (word === "SYSTEM") return "SYSTEM statements change the server's state";
  if (word === "KILL") return "KILL stops other queries";
  if (word === "SET") return "SET changes settings";
  return `${word} is not a query`;
}

function violation(tokens: SqlToken[]): string | null {
  const shape = statementShapeViolation(tokens, READ_STARTS, startReason);
  if (shape !== null || tokens.length === 0) return shape;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.type === "word" && t.text === "INTO" && tokens[k + 1]?.text === "OUTFILE") return "INTO OUTFILE writes a file";
    const name = nameOf(t);
    if (name === null || tokens[k + 1]?.text !== "(") continue;
    const why = clickhouseDeniedFunction(name);
    if (why) return `${t.type === "word" ? t.text.toLowerCase() : t.text}() ${why}`;
  }
  return null;
}

/**
 * The server's possible readings of a text: which of `#` comments, nested
 * comments and $$ strings it has depends on its version, so all are checked.
 */
const CLICKHOUSE_READINGS = readings({
  backslashInSingle: true, backslashInDouble: true, backtickBackslash: true, dashDashNeedsSpace: false,
  hashComments: false, nestedComments: false, dollarQuotes: false, executableComments: false,
}, ["hashComments", "nestedComments", "dollarQuotes"]);

const guard = textGuard((s) => firstViolation(s, CLICKHOUSE_READINGS, violation));

/** Why read-only mode refuses `sql`, or null. */
export const clickhouseReadOnlyViolation = guard.violation;

/** The refusal for `sql` in read-only mode, or null when it may run. */
export const clickhouseReadOnlyRefusal = guard.refusal;
