/**
 * The read-only guard of MySQL/MariaDB, on tokens (no MySQL parser runs here).
 * The server already runs read-only queries in a READ ONLY session and
 * transaction, which stops writes to tables; it does not stop reading server
 * files (LOAD_FILE), writing them (SELECT … INTO OUTFILE/DUMPFILE), or session
 * state that outlives the statement on a pooled connection (SET, `@x := …`,
 * SELECT … INTO @x, GET_LOCK). So in read-only mode:
 * - one statement, starting with SELECT, WITH, TABLE, VALUES, SHOW, DESCRIBE/DESC,
 *   EXPLAIN or `(`;
 * - no INTO, no `:=`, and no LOAD_FILE, GET_LOCK, RELEASE_LOCK, RELEASE_ALL_LOCKS,
 *   LAST_INSERT_ID(expr), sys_exec/sys_eval (the usual command UDFs) anywhere,
 *   bare, `quoted` or "quoted" (ANSI_QUOTES makes "…" a name).
 * Strings, comments and quoted names are skipped as the server skips them;
 * executable comments are code. The text is checked in each reading the
 * server's sql_mode allows (backslash escapes in '…' and "…"; ANSI_QUOTES makes
 * "…" a name, where a backslash escapes nothing; NO_BACKSLASH_ESCAPES turns
 * them off everywhere) and refused if any reading is unfit.
 * Limits (docs/security.md): user-defined functions and stored functions are
 * opaque; the FILE privilege and grants are the real guarantee.
 */
import { textGuard } from "../read-only.ts";
import { firstViolation, nameOf, statementShapeViolation, type SqlDialect, type SqlToken } from "../sql-tokens.ts";

const READ_STARTS = new Set(["SELECT", "WITH", "TABLE", "VALUES", "SHOW", "DESCRIBE", "DESC", "EXPLAIN"]);

const SESSION = "changes session state that would outlive this query on a pooled connection";
const DENIED_NAMES: Record<string, string> = {
  LOAD_FILE: "reads files on the database server",
  SYS_EXEC: "runs a program on the database server",
  SYS_EVAL: "runs a program on the database server",
  GET_LOCK: SESSION,
  RELEASE_LOCK: SESSION,
  RELEASE_ALL_LOCKS: SESSION,
};

/** Why a statement starting with this word is refused. */
function startReason(word: string): string {
  if (word === "SET") return `SET ${SESSION}`;
  if (word === "LOAD") return "LOAD DATA / LOAD XML reads files into tables";
  if (word === "DO") return "DO evaluates expressions for their side effects";
  return `${word} is not a query`;
}

function violation(tokens: SqlToken[]): string | null {
  const shape = statementShapeViolation(tokens, READ_STARTS, startReason);
  if (shape !== null || tokens.length === 0) return shape;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.type === "op" && t.text === ":=") return `:= assigns a user variable, which ${SESSION}`;
    if (t.type === "word" && t.text === "INTO") {
      const target = tokens[k + 1];
      if (target?.type === "word" && (target.text === "OUTFILE" || target.text === "DUMPFILE"))
        return `SELECT … INTO ${target.text} writes a file on the database server`;
      return `SELECT … INTO sets variables, which ${SESSION}`;
    }
    const name = nameOf(t);
    if (name === null) continue;
    const why = DENIED_NAMES[name];
    if (why) return `${name}() ${why}`;
    // LAST_INSERT_ID(expr) sets the session's value; LAST_INSERT_ID() only reads it.
    if (name === "LAST_INSERT_ID" && tokens[k + 1]?.text === "(" && tokens[k + 2]?.text !== ")") return `LAST_INSERT_ID(expr) ${SESSION}`;
  }
  return null;
}

/** The server's possible readings of a text: default, ANSI_QUOTES, NO_BACKSLASH_ESCAPES. */
const MYSQL_READINGS: SqlDialect[] = [[true, true], [true, false], [false, false]].map(([single, double]) => ({
  backslashInSingle: single!, backslashInDouble: double!, backtickBackslash: false, dashDashNeedsSpace: true,
  hashComments: true, nestedComments: false, dollarQuotes: false, executableComments: true,
}));

const guard = textGuard((s) => firstViolation(s, MYSQL_READINGS, violation));

/** Why read-only mode refuses `sql` (both backslash readings), or null. */
export const mysqlReadOnlyViolation = guard.violation;

/** The refusal for `sql` in read-only mode, or null when it may run. */
export const mysqlReadOnlyRefusal = guard.refusal;
