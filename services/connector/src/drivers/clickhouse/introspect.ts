/**
 * ClickHouse introspection: system.tables and system.columns in one query
 * each, plus row counts from system.tables.total_rows (20.x+) or, on older
 * servers, the active parts of MergeTree tables. Which optional columns a
 * server has is read first from system.columns itself (a fourth query).
 */
import type { SchemaTable } from "@dsb/contracts";
import { CLICKHOUSE_SYSTEM_DATABASES } from "./config.ts";
import { quoteClickhouse } from "./params.ts";
import { isNullableType } from "./types.ts";

/** Engines whose tables are views. */
const VIEW_ENGINES = new Set(["View", "MaterializedView", "LiveView", "WindowView"]);

/** Which optional columns system.tables / system.columns have on this server. */
export const CAPABILITIES_SQL =
  "SELECT table, name FROM system.columns WHERE database = 'system' AND table IN ('tables', 'columns') " +
  "AND name IN ('total_rows', 'comment', 'is_in_primary_key')";

export interface Capabilities {
  tableTotalRows: boolean;
  tableComment: boolean;
  columnPrimaryKey: boolean;
  columnComment: boolean;
}

export function capabilities(rows: readonly unknown[][]): Capabilities {
  const has = new Set(rows.map((r) => `${String(r[0])}.${String(r[1])}`));
  return {
    tableTotalRows: has.has("tables.total_rows"),
    tableComment: has.has("tables.comment"),
    columnPrimaryKey: has.has("columns.is_in_primary_key"),
    columnComment: has.has("columns.comment"),
  };
}

/** `database = 'x'`, or every database but the system ones when the config names the default one. */
export function databaseFilter(column: string, database: string): string {
  if (database && database !== "default") return `${column} = ${quoteClickhouse(database)}`;
  return `${column} NOT IN (${CLICKHOUSE_SYSTEM_DATABASES.map(quoteClickhouse).join(", ")})`;
}

export function introspectionQueries(database: string, caps: Capabilities) {
  return {
    tables:
      `SELECT database, name, engine, ${caps.tableTotalRows ? "total_rows" : "NULL"}, ${caps.tableComment ? "comment" : "''"} ` +
      `FROM system.tables WHERE ${databaseFilter("database", database)} AND NOT is_temporary AND NOT startsWith(name, '.inner') ORDER BY database, name`,
    columns:
      `SELECT database, table, name, type, ${caps.columnPrimaryKey ? "is_in_primary_key" : "0"}, ${caps.columnComment ? "comment" : "''"} ` +
      // No ORDER BY: ClickHouse's sort is not stable, and system.columns lists each table's columns in order.
      `FROM system.columns WHERE ${databaseFilter("database", database)}`,
    // Only needed without total_rows (before 20.x).
    rows: caps.tableTotalRows
      ? null
      : `SELECT database, table, sum(rows) FROM system.parts WHERE active AND ${databaseFilter("database", database)} GROUP BY database, table`,
  };
}

const s = (v: unknown) => (v === null || v === undefined ? "" : String(v));

export function buildTables(tableRows: readonly unknown[][], columnRows: readonly unknown[][], partRows: readonly unknown[][] | null): SchemaTable[] {
  const parts = new Map<string, number>();
  for (const [db, t, n] of partRows ?? []) parts.set(`${s(db)}\u0000${s(t)}`, Number(n));
  const byKey = new Map<string, SchemaTable>();
  const out: SchemaTable[] = [];
  for (const [db, name, engine, totalRows, comment] of tableRows) {
    const key = `${s(db)}\u0000${s(name)}`;
    const isView = VIEW_ENGINES.has(s(engine));
    // Before 20.x: a MergeTree table without active parts is empty (its rows live only in parts).
    const rows = totalRows !== null && totalRows !== undefined ? Number(totalRows) : parts.get(key) ?? (partRows && s(engine).endsWith("MergeTree") ? 0 : undefined);
    const t: SchemaTable = { schema: s(db), name: s(name), kind: isView ? "view" : "table", rowCount: isView ? null : rows ?? null, columns: [] };
    if (s(comment)) t.comment = s(comment);
    byKey.set(key, t);
    out.push(t);
  }
  for (const [db, table, name, type, pk, comment] of columnRows) {
    const t = byKey.get(`${s(db)}\u0000${s(table)}`);
    if (!t) continue;
    const col: SchemaTable["columns"][number] = { name: s(name), type: s(type), nullable: isNullableType(s(type)), primary_key: Number(pk) === 1 };
    if (s(comment)) col.comment = s(comment);
    t.columns.push(col);
  }
  return out;
}
