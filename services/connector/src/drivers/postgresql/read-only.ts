/**
 * The read-only guard of the pg-wire drivers (PostgreSQL, Redshift), decided on
 * the statement's parse tree from PostgreSQL's own parser (libpg-query, WASM)
 * before anything reaches the server.
 *
 * A read-only transaction does not stop a superuser (or a member of
 * pg_execute_server_program / pg_read_server_files / pg_write_server_files)
 * from running programs (COPY … TO PROGRAM), reading and writing server files
 * (COPY … TO '/path', pg_read_file, lo_import/lo_export), signalling backends
 * or reloading the configuration; and a session-level SET outlives the
 * transaction and reaches the next user of the pooled connection. So in
 * read-only mode:
 * - exactly one statement, and it must be a SELECT (incl. VALUES, TABLE, WITH),
 *   an EXPLAIN of one, or SHOW; no other statement anywhere inside it (no
 *   data-modifying CTE), no SELECT … INTO;
 * - no call, anywhere in the tree (CTEs, subqueries, arguments, FROM), of a
 *   function that touches files, programs, large objects, other backends, the
 *   server's configuration or state, session state, or that runs SQL given as
 *   text. Names are compared by their last part, case-insensitively, so
 *   `pg_catalog.pg_read_file` and `"PG_READ_FILE"` are caught too;
 * - text the parser cannot read is refused (it would fail on the server too).
 * Functions already defined in the database are opaque here: what they do is
 * bounded by the read-only transaction and the login's grants (docs/security.md).
 */
import { loadModule, parseSync } from "libpg-query";
import { readOnlyRefusal, VerdictCache } from "../read-only.ts";
import { DriverError } from "../types.ts";
import { inPlainWords } from "./errors.ts";

/** A parse tree node as libpg-query prints it: `{ NodeType: { …fields } }`, arrays and scalars. */
type Tree = unknown;

/** Why a function may not run in read-only mode, by exact (lowercase) name. */
const DENIED_FUNCTIONS = new Map<string, string>();
/** The same by name prefix. */
const DENIED_PREFIXES: [string, string][] = [];

const FILES = "reads or writes files on the database server";
const LARGE_OBJECTS = "creates, changes or exports large objects";
const SIGNALS = "signals other server processes";
const SERVER = "changes the server's configuration or state";
const SESSION = "changes session state that would outlive this query on a pooled connection";
const DYNAMIC = "runs SQL given as text, which this check cannot see";
const REMOTE = "connects to another database";

const deny = (reason: string, names: string[]) => { for (const n of names) DENIED_FUNCTIONS.set(n, reason); };
const denyPrefix = (reason: string, prefixes: string[]) => { for (const p of prefixes) DENIED_PREFIXES.push([p, reason]); };

deny(FILES, ["pg_stat_file", "pg_current_logfile", "pg_logdir_ls"]);
denyPrefix(FILES, ["pg_read_", "pg_ls_", "pg_file_"]);
deny(LARGE_OBJECTS, ["lowrite", "loread"]);
denyPrefix(LARGE_OBJECTS, ["lo_"]);
deny(SIGNALS, ["pg_terminate_backend", "pg_cancel_backend", "pg_signal_backend", "pg_reload_conf", "pg_rotate_logfile",
  "pg_rotate_logfile_old", "pg_log_backend_memory_contexts", "pg_promote"]);
deny(SERVER, ["pg_switch_wal", "pg_switch_xlog", "pg_start_backup", "pg_stop_backup", "pg_backup_start", "pg_backup_stop",
  "pg_import_system_collations", "pg_nextoid", "setval", "nextval", "brin_summarize_new_values", "brin_summarize_range",
  "brin_desummarize_range", "gin_clean_pending_list", "pg_truncate_visibility_map", "pg_stat_statements_reset", "pg_notify"]);
denyPrefix(SERVER, ["pg_stat_reset", "pg_create_", "pg_drop_", "pg_copy_", "pg_replication_", "pg_logical_", "pg_wal_replay_",
  "pg_xlog_", "binary_upgrade_"]);
deny(SESSION, ["set_config"]);
denyPrefix(SESSION, ["pg_advisory_", "pg_try_advisory_"]);
deny(DYNAMIC, ["ts_stat", "connectby", "xpath_table"]);
denyPrefix(DYNAMIC, ["query_to_xml", "cursor_to_xml", "crosstab"]);
denyPrefix(REMOTE, ["dblink"]);

/** Large-object and advisory-lock functions that only read, or whose effect ends with the transaction. */
const ALLOWED_FUNCTIONS = new Set(["lo_get", "pg_advisory_xact_lock", "pg_advisory_xact_lock_shared",
  "pg_try_advisory_xact_lock", "pg_try_advisory_xact_lock_shared"]);

/** Why calling `name` is refused in read-only mode, or null. */
export function deniedFunction(name: string): string | null {
  const n = name.toLowerCase();
  if (ALLOWED_FUNCTIONS.has(n)) return null;
  const exact = DENIED_FUNCTIONS.get(n);
  if (exact) return exact;
  for (const [p, reason] of DENIED_PREFIXES) if (n.startsWith(p)) return reason;
  return null;
}

/** Statement names for messages (node type → what a user typed). */
const STATEMENT_NAMES: Record<string, string> = {
  InsertStmt: "INSERT", UpdateStmt: "UPDATE", DeleteStmt: "DELETE", MergeStmt: "MERGE", CopyStmt: "COPY",
  VariableSetStmt: "SET / RESET", DiscardStmt: "DISCARD", TransactionStmt: "transaction control (BEGIN, COMMIT, ROLLBACK…)",
  PrepareStmt: "PREPARE", ExecuteStmt: "EXECUTE", DeallocateStmt: "DEALLOCATE", DeclareCursorStmt: "DECLARE CURSOR",
  FetchStmt: "FETCH", ClosePortalStmt: "CLOSE", ListenStmt: "LISTEN", UnlistenStmt: "UNLISTEN", NotifyStmt: "NOTIFY",
  LoadStmt: "LOAD", DoStmt: "DO", CallStmt: "CALL", LockStmt: "LOCK", VacuumStmt: "VACUUM / ANALYZE", CheckPointStmt: "CHECKPOINT",
  AlterSystemStmt: "ALTER SYSTEM", TruncateStmt: "TRUNCATE", DropStmt: "DROP", CreateStmt: "CREATE TABLE",
  CreateTableAsStmt: "CREATE TABLE AS", GrantStmt: "GRANT / REVOKE", GrantRoleStmt: "GRANT / REVOKE of a role",
  ReindexStmt: "REINDEX", ClusterStmt: "CLUSTER", RefreshMatViewStmt: "REFRESH MATERIALIZED VIEW",
};

/** Why a statement of this node type is refused. */
function statementReason(type: string, node: Record<string, unknown>): string {
  if (type === "CopyStmt") {
    if (node.is_program) return "COPY … PROGRAM runs a program on the database server";
    if (node.filename) return "COPY to or from a file reads or writes files on the database server";
    return "COPY is not a query (use the CSV export, Accept: text/csv, instead)";
  }
  if (type === "VariableSetStmt") return `${node.name === "role" ? "SET ROLE" : node.name === "session_authorization" ? "SET SESSION AUTHORIZATION" : "SET / RESET"} changes session state that would outlive this query on a pooled connection`;
  if (type === "DiscardStmt") return "DISCARD changes session state";
  const name = STATEMENT_NAMES[type] ?? `this statement (${type.replace(/Stmt$/, "")})`;
  return `${name} is not a query`;
}

/** Top-level statements read-only mode runs. */
const READ_STATEMENTS = new Set(["SelectStmt", "ExplainStmt", "VariableShowStmt"]);

/** The last part of a FuncCall's name. */
function funcName(call: Record<string, unknown>): string {
  const parts = (call.funcname as { String?: { sval?: string } }[] | undefined) ?? [];
  return parts[parts.length - 1]?.String?.sval ?? "";
}

/** Names that may be a function applied in attribute notation: field selections after the first part. */
function attributeNames(type: "A_Indirection" | "ColumnRef", node: Record<string, unknown>): string[] {
  const parts = ((type === "A_Indirection" ? node.indirection : node.fields) as { String?: { sval?: string } }[] | undefined) ?? [];
  const names = parts.map((p) => p.String?.sval).filter((n): n is string => typeof n === "string");
  return type === "ColumnRef" ? names.slice(1) : names;
}

/**
 * First reason the tree below a top-level statement is unfit for read-only,
 * or null. Walks every node: no other statement nested anywhere (a SELECT's
 * subqueries and CTEs are SelectStmt; EXPLAIN's inner statement must be one
 * too), no SELECT … INTO, no denied function.
 */
function nestedViolation(tree: Tree): string | null {
  const stack: Tree[] = [tree];
  while (stack.length > 0) {
    const t = stack.pop();
    if (t === null || typeof t !== "object") continue;
    if (Array.isArray(t)) {
      for (const x of t) stack.push(x);
      continue;
    }
    for (const [k, v] of Object.entries(t as Record<string, unknown>)) {
      if (k === "FuncCall") {
        const name = funcName(v as Record<string, unknown>);
        const reason = deniedFunction(name);
        if (reason) return `${name}() ${reason}`;
      } else if (k === "A_Indirection" || k === "ColumnRef") {
        // Attribute notation calls a function too: `(x).pg_read_file` and `t.x.pg_read_file` run pg_read_file(x).
        for (const name of attributeNames(k, v as Record<string, unknown>)) {
          const reason = deniedFunction(name);
          if (reason) return `${name} (a function called in attribute notation) ${reason}`;
        }
      } else if (k.endsWith("Stmt") && k !== "SelectStmt") {
        return statementReason(k, v as Record<string, unknown>);
      } else if (k === "intoClause") {
        return "SELECT … INTO creates a table";
      }
      if (v !== null && typeof v === "object") stack.push(v);
    }
  }
  return null;
}

/** What the guard decided about one SQL text. */
export interface PgVerdict {
  /** Why read-only mode refuses it, or null. */
  refusal: string | null;
  /** The parser's complaint when the text is not valid SQL (refused too: it cannot be checked). */
  syntax?: string;
}

function decide(sql: string): PgVerdict {
  let stmts: { stmt?: Record<string, unknown> }[];
  try {
    stmts = (parseSync(sql) as { stmts?: { stmt?: Record<string, unknown> }[] }).stmts ?? [];
  } catch (e) {
    const msg = (e as Error).message || "it is not valid SQL";
    const pos = (e as { sqlDetails?: { cursorPosition?: number } }).sqlDetails?.cursorPosition;
    const syntax = `${msg}${pos !== undefined ? ` at character ${pos + 1}` : ""}`;
    return { refusal: `PostgreSQL's parser could not read it (${syntax}), so it cannot be checked; fix the SQL`, syntax };
  }
  if (stmts.length > 1) return { refusal: `the text holds ${stmts.length} statements; send one statement per query` };
  const stmt = stmts[0]?.stmt;
  if (!stmt) return { refusal: null }; // empty or only comments: nothing runs
  const [type, node] = Object.entries(stmt)[0] as [string, Record<string, unknown>];
  if (!READ_STATEMENTS.has(type)) return { refusal: statementReason(type, node) };
  return { refusal: nestedViolation(type === "ExplainStmt" ? node.query : node) };
}

const verdicts = new VerdictCache<PgVerdict>(1000);
let ready: Promise<void> | null = null;

/** The guard's verdict on `sql` (loads the parser on first use). */
export async function pgReadOnlyVerdict(sql: string): Promise<PgVerdict> {
  const hit = verdicts.get(sql);
  if (hit) return hit;
  ready ??= loadModule();
  await ready;
  return verdicts.of(sql, decide);
}

/** The refusal for `sql` in read-only mode, or null when it may run. */
export async function pgReadOnlyRefusal(sql: string): Promise<DriverError | null> {
  if (sql.trim() === "") return null;
  const { refusal, syntax } = await pgReadOnlyVerdict(sql);
  // Invalid SQL is the user's typo, not a write: say what the server would have said.
  if (syntax) return new DriverError("query", inPlainWords({ code: "42601", message: syntax }) ?? `The SQL is not valid: ${syntax}; fix it and send it again`);
  return refusal ? readOnlyRefusal(refusal) : null;
}
