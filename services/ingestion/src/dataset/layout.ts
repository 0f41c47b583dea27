import { z } from "zod";
import { COLUMN_TYPES, type ColumnType } from "./column-type.ts";

/** Where the datasets of an upload live: beside it, so file_path (the upload key) finds them. */
export const datasetPrefix = (uploadKey: string) => `${uploadKey}.dataset/`;
export const manifestKey = (uploadKey: string) => `${datasetPrefix(uploadKey)}manifest.json`;
export const tableFileKey = (uploadKey: string, index: number) => `${datasetPrefix(uploadKey)}t${index}.arrow`;
/**
 * The name of a table's i-th column in its Arrow file and in the arquero table a query
 * runs on. Arquero keeps columns in a plain object, so a column's own name (`__proto__`,
 * `constructor`) never names one there; the manifest maps these back to the real names.
 */
export const columnKey = (i: number) => `c${i}`;

/** SQL-ish names of column types in the schema object (seed format). */
export const SQL_TYPE: Record<ColumnType, string> = {
  boolean: "BOOLEAN", integer: "INTEGER", bigint: "BIGINT", double: "DOUBLE", decimal: "DECIMAL",
  date: "DATE", timestamp: "TIMESTAMP", timestamptz: "TIMESTAMPTZ", time: "TIME", string: "VARCHAR", json: "JSON",
};

export const ManifestTableSchema = z.object({
  name: z.string(),
  key: z.string(),
  rowCount: z.number().int(),
  bytes: z.number().int(),
  /** How the Arrow IPC stream is stored: absent as it is, "lz4" in LZ4 frames (lz4.ts). */
  compression: z.literal("lz4").optional(),
  columns: z.array(z.object({ name: z.string(), type: z.enum(COLUMN_TYPES), nullable: z.boolean() })),
});
export type ManifestTable = z.infer<typeof ManifestTableSchema>;

/** What a dataset holds; written last, so a dataset without a manifest is incomplete. */
export const ManifestSchema = z.object({
  version: z.literal(1),
  format: z.string(),
  tables: z.array(ManifestTableSchema),
});
export type Manifest = z.infer<typeof ManifestSchema>;
