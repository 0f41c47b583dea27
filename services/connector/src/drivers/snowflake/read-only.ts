/**
 * Snowflake has no read-only transaction, and DDL commits implicitly, so a rollback
 * cannot undo it. Read-only is therefore: one statement only (the server enforces
 * MULTI_STATEMENT_COUNT=1, set on every execute) whose first keyword is a query
 * (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN), and a WITH that does not lead into DML.
 * The honest limit: a SELECT may still call a function with side effects
 * (e.g. SYSTEM$CANCEL_QUERY); a role granted only SELECT is the real guarantee.
 */
const QUERY_WORDS = new Set(["SELECT", "WITH", "SHOW", "DESC", "DESCRIBE", "EXPLAIN"]);
const DML_WORDS = /\b(INSERT|UPDATE|DELETE|MERGE|TRUNCATE|CREATE|ALTER|DROP|COPY|PUT|REMOVE|GRANT|REVOKE|CALL|EXECUTE|BEGIN|COMMIT|ROLLBACK)\b/i;

/** Removes comments and the contents of strings, quoted identifiers and $$ blocks. */
export function stripLiterals(sql: string): string {
  return sql
    .replace(/\$\$[\s\S]*?\$\$/g, " '' ")
    .replace(/'(?:[^'\\]|\\.|'')*'/g, " '' ")
    .replace(/"(?:[^"]|"")*"/g, ' "" ')
    .replace(/\/\*[\s\S]*?\*\//g, " ")
    .replace(/(--|\/\/)[^\n]*/g, " ");
}

/** Why `sql` cannot run read-only, or null when it may. */
export function readOnlyViolation(sql: string): string | null {
  const s = stripLiterals(sql).trim().replace(/^\(+\s*/, "");
  const first = /^[A-Za-z]+/.exec(s)?.[0]?.toUpperCase() ?? "";
  if (!QUERY_WORDS.has(first)) return `${first || "this statement"} is not a query`;
  if (first === "WITH") {
    const m = DML_WORDS.exec(s);
    if (m) return `${m[1]!.toUpperCase()} inside WITH can write`;
  }
  return null;
}
