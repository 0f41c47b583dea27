import type { SchemaColumn, SchemaTable } from "@dsb/contracts";

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
const prefix = (database: string | undefined) => (database ? `${ident(database)}.` : "");

/** Tables and views with row counts and comments: one query over INFORMATION_SCHEMA.TABLES. */
export const tablesSql = (database?: string) =>
  `SELECT table_schema, table_name, table_type, row_count, comment FROM ${prefix(database)}information_schema.tables WHERE table_schema <> 'INFORMATION_SCHEMA' ORDER BY table_schema, table_name`;

/** Every column: one query over INFORMATION_SCHEMA.COLUMNS. */
export const columnsSql = (database?: string) =>
  `SELECT table_schema, table_name, column_name, data_type, is_nullable, comment, numeric_precision, numeric_scale, character_maximum_length FROM ${prefix(database)}information_schema.columns WHERE table_schema <> 'INFORMATION_SCHEMA' ORDER BY table_schema, table_name, ordinal_position`;

/** Primary keys of the whole database in one statement (INFORMATION_SCHEMA has no key columns view). */
export const primaryKeysSql = (database?: string) => (database ? `SHOW PRIMARY KEYS IN DATABASE ${ident(database)}` : "SHOW PRIMARY KEYS IN DATABASE");

function columnType(dataType: string, precision: unknown, scale: unknown, length: unknown): string {
  const t = dataType.toUpperCase();
  if (t === "NUMBER" && precision != null) return `NUMBER(${String(precision)},${String(scale ?? 0)})`;
  if (t === "TEXT") return length != null ? `VARCHAR(${String(length)})` : "VARCHAR";
  return t;
}

const key = (schema: unknown, table: unknown) => `${String(schema)}\u0000${String(table)}`;

/** Joins the three results (rows in the column order of the SQL above; pks as schema/table/column). */
export function assembleSchema(tables: unknown[][], columns: unknown[][], pks: { schema: string; table: string; column: string }[]): SchemaTable[] {
  const pkSet = new Set(pks.map((p) => `${key(p.schema, p.table)}\u0000${p.column}`));
  const byKey = new Map<string, SchemaTable>();
  const out: SchemaTable[] = [];
  for (const [schema, name, type, rowCount, comment] of tables) {
    const isView = String(type).includes("VIEW");
    const t: SchemaTable = { schema: String(schema), name: String(name), kind: isView ? "view" : "table", rowCount: isView || rowCount == null ? null : Number(rowCount), columns: [] };
    if (typeof comment === "string" && comment) t.comment = comment;
    byKey.set(key(schema, name), t);
    out.push(t);
  }
  for (const [schema, table, column, dataType, nullable, comment, precision, scale, length] of columns) {
    const t = byKey.get(key(schema, table));
    if (!t) continue;
    const c: SchemaColumn = {
      name: String(column), type: columnType(String(dataType), precision, scale, length), nullable: nullable === "YES",
      primary_key: pkSet.has(`${key(schema, table)}\u0000${String(column)}`),
    };
    if (typeof comment === "string" && comment) c.comment = comment;
    t.columns.push(c);
  }
  return out;
}
