import type { SchemaColumn, SchemaTable } from "@dsb/contracts";

/** Schemas that belong to SQL Server itself, never the user's. */
const SYSTEM_SCHEMAS = "('sys','INFORMATION_SCHEMA','guest','db_owner','db_accessadmin','db_securityadmin','db_ddladmin','db_backupoperator','db_datareader','db_datawriter','db_denydatareader','db_denydatawriter')";

/** Tables and views with their comment and row count (sys.partitions, heap or clustered index). */
export const OBJECTS_SQL = `
SELECT s.name AS schema_name, o.name AS object_name, o.kind, CAST(ep.value AS NVARCHAR(4000)) AS comment, pc.row_count
FROM (
  SELECT object_id, schema_id, name, 'table' AS kind FROM sys.tables WHERE is_ms_shipped = 0
  UNION ALL
  SELECT object_id, schema_id, name, 'view' AS kind FROM sys.views WHERE is_ms_shipped = 0
) o
JOIN sys.schemas s ON s.schema_id = o.schema_id
LEFT JOIN (SELECT object_id, SUM(rows) AS row_count FROM sys.partitions WHERE index_id IN (0, 1) GROUP BY object_id) pc ON pc.object_id = o.object_id
LEFT JOIN sys.extended_properties ep ON ep.class = 1 AND ep.major_id = o.object_id AND ep.minor_id = 0 AND ep.name = 'MS_Description'
WHERE s.name NOT IN ${SYSTEM_SCHEMAS}
ORDER BY s.name, o.name`;

/** Every column of those objects, with its type, nullability, primary-key flag and comment. */
export const COLUMNS_SQL = `
SELECT s.name AS schema_name, o.name AS object_name, c.name AS column_name, t.name AS type_name,
  c.max_length, c.precision, c.scale, c.is_nullable,
  CASE WHEN pk.column_id IS NULL THEN 0 ELSE 1 END AS is_pk,
  CAST(ep.value AS NVARCHAR(4000)) AS comment
FROM sys.columns c
JOIN sys.objects o ON o.object_id = c.object_id AND o.type IN ('U', 'V') AND o.is_ms_shipped = 0
JOIN sys.schemas s ON s.schema_id = o.schema_id
JOIN sys.types t ON t.user_type_id = c.user_type_id
LEFT JOIN (
  SELECT ic.object_id, ic.column_id FROM sys.indexes i
  JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id
  WHERE i.is_primary_key = 1
) pk ON pk.object_id = c.object_id AND pk.column_id = c.column_id
LEFT JOIN sys.extended_properties ep ON ep.class = 1 AND ep.major_id = c.object_id AND ep.minor_id = c.column_id AND ep.name = 'MS_Description'
WHERE s.name NOT IN ${SYSTEM_SCHEMAS}
ORDER BY s.name, o.name, c.column_id`;

/** sys.columns' type fields as the type a user would write: decimal(12,2), nvarchar(100), varchar(max). */
export function columnTypeName(type: string, maxLength: number, precision: number, scale: number): string {
  const t = type.toLowerCase();
  if (t === "decimal" || t === "numeric") return `${t}(${precision},${scale})`;
  if (["varchar", "char", "varbinary", "binary"].includes(t)) return `${t}(${maxLength === -1 ? "max" : maxLength})`;
  if (["nvarchar", "nchar"].includes(t)) return `${t}(${maxLength === -1 ? "max" : maxLength / 2})`;
  if (["datetime2", "datetimeoffset", "time"].includes(t) && scale !== 7) return `${t}(${scale})`;
  return t;
}

type Row = unknown[];
const str = (v: unknown) => (v === null || v === undefined ? undefined : String(v));

/** Joins the two result sets into the seed's table list. Rows are in the column order of the SQL above. */
export function assembleSchema(objects: Row[], columns: Row[]): SchemaTable[] {
  const byKey = new Map<string, SchemaTable>();
  const tables: SchemaTable[] = [];
  for (const [schema, name, kind, comment, rowCount] of objects) {
    const t: SchemaTable = {
      schema: String(schema), name: String(name), kind: kind === "view" ? "view" : "table",
      rowCount: kind === "view" || rowCount === null || rowCount === undefined ? null : Number(rowCount),
      columns: [],
    };
    const c = str(comment);
    if (c) t.comment = c;
    byKey.set(`${t.schema}\u0000${t.name}`, t);
    tables.push(t);
  }
  for (const [schema, name, col, type, maxLength, precision, scale, nullable, isPk, comment] of columns) {
    const t = byKey.get(`${String(schema)}\u0000${String(name)}`);
    if (!t) continue;
    const c: SchemaColumn = {
      name: String(col),
      type: columnTypeName(String(type), Number(maxLength), Number(precision), Number(scale)),
      nullable: nullable === true || nullable === 1,
      primary_key: isPk === 1 || isPk === true,
    };
    const cm = str(comment);
    if (cm) c.comment = cm;
    t.columns.push(c);
  }
  return tables;
}
