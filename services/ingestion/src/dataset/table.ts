/*
 * What a format reader hands the dataset writer: the one module readers
 * (formats/) and the writer (dataset/) share. Readers import it; nothing here
 * imports a reader.
 */
import type { ColumnType } from "./column-type.ts";
import type { ColumnBuilder } from "./columns.ts";

export { COLUMN_TYPES, type ColumnType } from "./column-type.ts";

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
   * A reader that built them on a guess the rest of the file contradicted ends
   * with a StartOver instead: the writer drops what it wrote and writes that table.
   */
  columnar?(batchRows: number): AsyncGenerator<ColumnBuilder[], StartOver | void>;
}

/**
 * How a columnar pass ends when its batches cannot stand: `table` is the exact
 * one to write instead. A return value of the reader to the writer, never an
 * error, so it cannot leak onto the bus.
 */
export interface StartOver {
  startOver: ParsedTable;
}

/** A reader turns a local file into tables; it throws AppError PARSE_FAILED with a line or cell when the file is broken. */
export type FormatReader = (path: string, opts: { tableName: string; maxCells?: number }) => Promise<ParsedTable[]>;
