import type { ColumnBuilder } from "../dataset/columns.ts";

/** Column types a parsed file can have; the dataset and the schema use these names. */
export const COLUMN_TYPES = ["boolean", "integer", "bigint", "double", "decimal", "date", "timestamp", "timestamptz", "time", "string", "json"] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

export interface ParsedColumn {
  name: string;
  type: ColumnType;
  nullable: boolean;
}

/**
 * One table of a file (one per sheet for xlsx). `rows()` may be called more than
 * once and streams the file each time; values per type:
 * boolean → boolean, integer/double → number, bigint → bigint, decimal → string,
 * date → "YYYY-MM-DD", timestamp → "YYYY-MM-DDTHH:MM:SS[.fff]", timestamptz → ISO with "Z",
 * time → "HH:MM:SS[.fff]", string → string, json → JSON text; null for missing values.
 */
export interface ParsedTable {
  name: string;
  columns: ParsedColumn[];
  /** Exact when the reader knows it up front (Parquet footer), else null until read. */
  rowCount: number | null;
  rows(): AsyncIterable<unknown[][]>;
  /**
   * Optional faster path for the dataset writer: record batches of at most
   * `batchRows` rows, values pushed straight into Arrow builders (dataset/columns.ts).
   */
  columnar?(batchRows: number): AsyncIterable<ColumnBuilder[]>;
}

/** A reader turns a local file into tables; it throws AppError PARSE_FAILED with a line or cell when the file is broken. */
export type FormatReader = (path: string, opts: { tableName: string; maxCells?: number }) => Promise<ParsedTable[]>;
