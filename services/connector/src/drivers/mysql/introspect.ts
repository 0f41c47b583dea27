/**
 * MySQL/MariaDB introspection in two set-based queries over information_schema:
 * one for tables and views (with TABLE_ROWS, the engine's estimate), one for
 * every column of them. System schemas are left out.
 */
import type { SchemaTable } from "@dsb/contracts";

export const SYSTEM_SCHEMAS = ["mysql", "information_schema", "performance_schema", "sys"] as const;

/** WHERE clause and its `?` values: the configured database, or every non-system schema. */
function scope(database: string | undefined): { where: string; values: string[] } {
  if (database) return { where: "TABLE_SCHEMA = ?", values: [database] };
  return { where: `TABLE_SCHEMA NOT IN (${SYSTEM_SCHEMAS.map(() => "?").join(", ")})`, values: [...SYSTEM_SCHEMAS] };
}

export function introspectionQueries(database: string | undefined) {
  const s = scope(database);
  return {
    tables: {
      sql:
        "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, TABLE_ROWS, TABLE_COMMENT FROM information_schema.TABLES " +
        `WHERE ${s.where} ORDER BY TABLE_SCHEMA, TABLE_NAME`,
      values: s.values,
    },
    columns: {
      sql:
        "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY, COLUMN_COMMENT FROM information_schema.COLUMNS " +
        `WHERE ${s.where} ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION`,
      values: s.values,
    },
  };
}

const str = (v: unknown) => (v === null || v === undefined ? "" : Buffer.isBuffer(v) ? v.toString("utf8") : String(v));

/** Joins the two result sets (rows as arrays in the SELECT order above) into the seed's tables. */
export function buildTables(tableRows: readonly unknown[][], columnRows: readonly unknown[][]): SchemaTable[] {
  const byKey = new Map<string, SchemaTable>();
  const out: SchemaTable[] = [];
  for (const [schema, name, type, rows, comment] of tableRows) {
    const isView = str(type).toUpperCase().includes("VIEW");
    const t: SchemaTable = {
      schema: str(schema),
      name: str(name),
      kind: isView ? "view" : "table",
      // Views report NULL; InnoDB's TABLE_ROWS is an estimate.
      rowCount: isView || rows === null || rows === undefined ? null : Number(rows),
      columns: [],
    };
    // MariaDB writes "VIEW" as the comment of every view: not a user comment.
    const c = str(comment);
    if (c && !(isView && c === "VIEW")) t.comment = c;
    byKey.set(`${t.schema}\u0000${t.name}`, t);
    out.push(t);
  }
  for (const [schema, table, name, type, nullable, key, comment] of columnRows) {
    const t = byKey.get(`${str(schema)}\u0000${str(table)}`);
    if (!t) continue; // created between the two queries
    const col: SchemaTable["columns"][number] = {
      name: str(name),
      type: str(type).toUpperCase(),
      nullable: str(nullable) === "YES",
      primary_key: str(key) === "PRI",
    };
    const c = str(comment);
    if (c) col.comment = c;
    t.columns.push(col);
  }
  return out;
}
