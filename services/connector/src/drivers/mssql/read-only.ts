import { afterNestedComment } from "../sql-tokens.ts";

/**
 * SQL Server has no read-only transaction or session, so read-only is two layers:
 * 1. this check refuses a batch containing a T-SQL reserved word that writes, runs
 *    code or ends a transaction. They are reserved words, so outside strings, comments
 *    and quoted identifiers they cannot be column or table names: no false positives
 *    on honest SELECTs (a column named [update] is quoted and skipped).
 * 2. the driver runs the batch inside BEGIN TRANSACTION and always rolls back, so
 *    anything that slips past (a function with side effects via a linked server aside)
 *    is undone by the database.
 * Besides the write words, a read-only batch must start with SELECT, WITH, DECLARE or WAITFOR
 * (a batch that starts with a name calls that procedure, EXEC or not: `xp_cmdshell 'id'`),
 * may not SET session options (they outlive the batch on a pooled connection), and may
 * not name an extended or system procedure (xp_…, sp_…) or a function that reads
 * server files (fn_xe_file_target_read_file, fn_get_audit_file, fn_trace_gettable).
 * The honest limit: a login with only db_datareader is the real guarantee.
 */
const WRITE_WORDS = new Set([
  "INSERT", "UPDATE", "DELETE", "MERGE", "INTO", "CREATE", "ALTER", "DROP", "TRUNCATE", "RENAME",
  "EXEC", "EXECUTE", "GRANT", "REVOKE", "DENY", "BULK", "BACKUP", "RESTORE", "DBCC", "KILL",
  "SHUTDOWN", "RECONFIGURE", "COMMIT", "ROLLBACK", "SAVE", "TRAN", "TRANSACTION", "WRITETEXT",
  "UPDATETEXT", "SETUSER", "OPENROWSET", "OPENDATASOURCE", "OPENQUERY", "USE", "CHECKPOINT",
]);

/** Words a read-only batch may start with. */
const READ_STARTS = new Set(["SELECT", "WITH", "DECLARE", "WAITFOR"]);
/** Functions that read files on the server. */
const FILE_FUNCTIONS = /^(FN_XE_.*READ_FILE|FN_GET_AUDIT_FILE|FN_TRACE_GETTABLE)$/;

/** Uppercase bare words of a T-SQL batch, skipping strings, comments and quoted identifiers. */
export function bareWords(sql: string): string[] {
  const words: string[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === "-" && sql[i + 1] === "-") {
      const nl = sql.indexOf("\n", i);
      i = nl < 0 ? n : nl + 1;
    } else if (c === "/" && sql[i + 1] === "*") {
      // T-SQL block comments nest.
      i = afterNestedComment(sql, i);
    } else if (c === "'" || c === '"' || c === "[") {
      const close = c === "[" ? "]" : c;
      i++;
      while (i < n) {
        if (sql[i] === close) {
          if (sql[i + 1] === close) { i += 2; continue; } // doubled quote escapes itself
          i++;
          break;
        }
        i++;
      }
    } else if (/[A-Za-z_@#]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_@#$]/.test(sql[j]!)) j++;
      const w = sql.slice(i, j);
      // @variables and #temp names are not keywords.
      if (c !== "@" && c !== "#") words.push(w.toUpperCase());
      i = j;
    } else i++;
  }
  return words;
}

/** The first reserved word that makes the batch unfit for read-only, or null. */
export function writeKeyword(sql: string): string | null {
  for (const w of bareWords(sql)) if (WRITE_WORDS.has(w)) return w;
  return null;
}

/** Why a batch cannot run read-only, or null when it may. */
export function mssqlReadOnlyViolation(sql: string): string | null {
  const write = writeKeyword(sql);
  if (write) return `${write} can write, run code or end a transaction`;
  const words = bareWords(sql);
  if (words.length === 0) return null;
  const first = words[0]!;
  if (first === "SET") return "SET changes session options that would outlive this batch on a pooled connection";
  if (!READ_STARTS.has(first)) return `${first} is not a query (a batch that starts with a name calls that procedure)`;
  for (const w of words) {
    if (w === "SET") return "SET changes session options that would outlive this batch on a pooled connection";
    if (w.startsWith("XP_") || w.startsWith("SP_")) return `${w.toLowerCase()} is an extended or system procedure`;
    if (FILE_FUNCTIONS.test(w)) return `${w.toLowerCase()}() reads files on the database server`;
  }
  return null;
}
