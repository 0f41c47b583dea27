import type { SchemaTable } from "@dsb/contracts";

const quote = (s: string) => "`" + s.replace(/[`\\]/g, "") + "`";

/**
 * One query per dataset (never per table) over the dataset's INFORMATION_SCHEMA:
 * columns with type, nullability, primary key (BigQuery's unenforced PRIMARY KEY),
 * column and table descriptions, and row counts from __TABLES__. Dataset-qualified
 * views need only dataset-level permissions and no region.
 */
export function datasetSchemaSql(project: string, dataset: string): string {
  const ds = quote(`${project}.${dataset}`);
  return `SELECT c.table_name, t.table_type, c.column_name, c.data_type, c.is_nullable,
  pk.column_name IS NOT NULL AS is_pk, fp.description AS column_comment, o.option_value AS table_comment, s.row_count
FROM ${ds}.INFORMATION_SCHEMA.COLUMNS c
JOIN ${ds}.INFORMATION_SCHEMA.TABLES t ON t.table_name = c.table_name
LEFT JOIN (
  SELECT k.table_name, k.column_name FROM ${ds}.INFORMATION_SCHEMA.KEY_COLUMN_USAGE k
  JOIN ${ds}.INFORMATION_SCHEMA.TABLE_CONSTRAINTS tc ON tc.constraint_name = k.constraint_name AND tc.table_name = k.table_name
  WHERE tc.constraint_type = 'PRIMARY KEY'
) pk ON pk.table_name = c.table_name AND pk.column_name = c.column_name
LEFT JOIN ${ds}.INFORMATION_SCHEMA.COLUMN_FIELD_PATHS fp ON fp.table_name = c.table_name AND fp.field_path = c.column_name
LEFT JOIN ${ds}.INFORMATION_SCHEMA.TABLE_OPTIONS o ON o.table_name = c.table_name AND o.option_name = 'description'
LEFT JOIN ${ds}.__TABLES__ s ON s.table_id = c.table_name
ORDER BY c.table_name, c.ordinal_position`;
}

/** TABLE_OPTIONS values are SQL literals: `"a \"quoted\" text"`. */
function unquoteOption(v: unknown): string | undefined {
  if (typeof v !== "string" || v === "") return undefined;
  try {
    const parsed: unknown = JSON.parse(v);
    return typeof parsed === "string" ? parsed : v;
  } catch {
    return v;
  }
}

/** Rows of datasetSchemaSql (already value-mapped, in its column order) as the seed's tables. */
export function assembleDataset(dataset: string, rows: unknown[][]): SchemaTable[] {
  const tables = new Map<string, SchemaTable>();
  for (const [table, tableType, column, dataType, isNullable, isPk, columnComment, tableComment, rowCount] of rows) {
    const name = String(table);
    let t = tables.get(name);
    if (!t) {
      const isView = typeof tableType === "string" && tableType.includes("VIEW");
      t = { schema: dataset, name, kind: isView ? "view" : "table", rowCount: isView || rowCount == null ? null : Number(rowCount), columns: [] };
      const tc = unquoteOption(tableComment);
      if (tc) t.comment = tc;
      tables.set(name, t);
    }
    t.columns.push({
      name: String(column), type: String(dataType), nullable: isNullable === "YES", primary_key: isPk === true,
      ...(typeof columnComment === "string" && columnComment ? { comment: columnComment } : {}),
    });
  }
  return [...tables.values()];
}
