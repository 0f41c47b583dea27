import { z } from "zod";

export const SchemaColumnSchema = z.object({
  name: z.string(),
  type: z.string(),
  nullable: z.boolean(),
  primary_key: z.boolean().optional(),
  comment: z.string().optional(),
});
export type SchemaColumn = z.infer<typeof SchemaColumnSchema>;

export const SchemaTableSchema = z.object({
  schema: z.string().optional(),
  name: z.string(),
  /** `collection` for MongoDB collections. */
  kind: z.enum(["table", "view", "collection"]).default("table"),
  /** The database's estimate for databases; exact for files. */
  rowCount: z.number().nullable().optional(),
  comment: z.string().optional(),
  columns: z.array(SchemaColumnSchema),
});
export type SchemaTable = z.infer<typeof SchemaTableSchema>;

/** The seed's schema object, stored in data_sources.schema. */
export const SourceSchemaSchema = z.object({
  tables: z.array(SchemaTableSchema),
  schemas: z.array(z.string()),
  total_rows: z.number(),
  last_updated: z.string(),
});
export type SourceSchema = z.infer<typeof SourceSchemaSchema>;

export const SchemaChangeSchema = z.object({
  kind: z.enum(["table_added", "table_removed", "column_added", "column_removed", "column_retyped"]),
  table: z.string(),
  column: z.string().optional(),
  from: z.string().optional(),
  to: z.string().optional(),
});
export type SchemaChange = z.infer<typeof SchemaChangeSchema>;

const tableKey = (t: SchemaTable) => (t.schema ? `${t.schema}.${t.name}` : t.name);

/** What changed between a stored schema and a fresh one. */
export function diffSchemas(before: SourceSchema | null | undefined, after: SourceSchema): SchemaChange[] {
  const changes: SchemaChange[] = [];
  const old = new Map((before?.tables ?? []).map((t) => [tableKey(t), t]));
  const now = new Map(after.tables.map((t) => [tableKey(t), t]));
  for (const [k, t] of now) {
    const prev = old.get(k);
    if (!prev) { changes.push({ kind: "table_added", table: k }); continue; }
    const prevCols = new Map(prev.columns.map((c) => [c.name, c]));
    const cols = new Map(t.columns.map((c) => [c.name, c]));
    for (const [name, c] of cols) {
      const p = prevCols.get(name);
      if (!p) changes.push({ kind: "column_added", table: k, column: name, to: c.type });
      else if (p.type !== c.type) changes.push({ kind: "column_retyped", table: k, column: name, from: p.type, to: c.type });
    }
    for (const [name, p] of prevCols) if (!cols.has(name)) changes.push({ kind: "column_removed", table: k, column: name, from: p.type });
  }
  for (const k of old.keys()) if (!now.has(k)) changes.push({ kind: "table_removed", table: k });
  return changes;
}

/** Builds the seed object from tables, counting rows and listing schemas. */
export function buildSchema(tables: SchemaTable[], now = new Date()): SourceSchema {
  const schemas = [...new Set(tables.map((t) => t.schema).filter((s): s is string => !!s))].sort();
  const total_rows = tables.reduce((n, t) => n + (t.kind !== "view" && t.rowCount && t.rowCount > 0 ? t.rowCount : 0), 0);
  return { tables, schemas, total_rows, last_updated: now.toISOString() };
}
