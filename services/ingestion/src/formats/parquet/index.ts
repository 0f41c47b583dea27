import { asyncBufferFromFile, parquetMetadataAsync, parquetRead, parquetSchema } from "hyparquet";
import type { AsyncBuffer, SchemaElement } from "hyparquet";
import { AppError } from "@dsb/contracts";
import { jsonText, naiveTimestamp, pad, uniqueNames } from "../infer.ts";
import type { ColumnType, FormatReader, ParsedTable } from "../../dataset/table.ts";
import type { ArrowValue } from "../../dataset/columns.ts";
import { columnarBatches, fileChunks, memoryChunks, type ChunkBytes } from "./columnar.ts";

/** hyparquet parsers for the columnar path: dates as days and timestamps as epoch ms, never Date objects. */
const NATIVE_PARSERS = {
  timestampFromMilliseconds: (v: bigint) => Number(v),
  timestampFromMicroseconds: (v: bigint) => Number(v / 1000n),
  timestampFromNanoseconds: (v: bigint) => Number(v / 1_000_000n),
  dateFromDays: (d: number) => d,
};

/** Milliseconds of day from a TIME value in its unit. */
function timeMs(v: unknown, el: SchemaElement): number | null {
  if (v === null || v === undefined) return null;
  const lt = el.logical_type;
  const unit = lt?.type === "TIME" ? lt.unit : el.converted_type === "TIME_MICROS" ? "MICROS" : "MILLIS";
  return unit === "MILLIS" ? Number(v) : unit === "MICROS" ? Number(BigInt(v as bigint) / 1000n) : Number(BigInt(v as bigint) / 1_000_000n);
}

/** Per column: turns a value hyparquet decoded (with NATIVE_PARSERS) into the Arrow-native value, or null when it passes as is. */
function nativeConverter(t: ColumnType, el: SchemaElement): ((v: unknown) => ArrowValue) | null {
  switch (t) {
    case "boolean": case "integer": case "bigint": case "double": case "date": case "timestamp": case "timestamptz": return null;
    case "time": return (v) => timeMs(v, el);
    default: return (v) => convert(v, t, el) as ArrowValue;
  }
}

const broken = (e: unknown) =>
  new AppError("PARSE_FAILED", `The Parquet file is truncated or corrupt (${e instanceof Error ? e.message : String(e)}); write it again and re-upload`);

/** Column type of a top-level Parquet field from its physical, logical and legacy converted types. */
export function parquetColumnType(el: SchemaElement, nested: boolean): ColumnType {
  if (nested) return "json";
  const lt = el.logical_type;
  if (lt) {
    switch (lt.type) {
      case "STRING": case "ENUM": case "UUID": return "string";
      case "JSON": case "BSON": case "MAP": case "LIST": case "VARIANT": case "GEOMETRY": case "GEOGRAPHY": return "json";
      case "DATE": return "date";
      case "TIME": return "time";
      case "TIMESTAMP": return lt.isAdjustedToUTC ? "timestamptz" : "timestamp";
      case "DECIMAL": return "decimal";
      case "FLOAT16": return "double";
      case "INTEGER": return lt.bitWidth === 64 || (lt.bitWidth === 32 && !lt.isSigned) ? (lt.bitWidth === 64 ? "bigint" : "integer") : "integer";
      default: break;
    }
  }
  switch (el.converted_type) {
    case "UTF8": case "ENUM": return "string";
    case "JSON": case "BSON": case "MAP": case "MAP_KEY_VALUE": case "LIST": case "INTERVAL": return "json";
    case "DATE": return "date";
    case "TIME_MILLIS": case "TIME_MICROS": return "time";
    // Legacy TIMESTAMP_* are UTC-normalised by definition.
    case "TIMESTAMP_MILLIS": case "TIMESTAMP_MICROS": return "timestamptz";
    case "DECIMAL": return "decimal";
    case "UINT_64": case "INT_64": return "bigint";
    case "UINT_8": case "UINT_16": case "UINT_32": case "INT_8": case "INT_16": case "INT_32": return "integer";
    default: break;
  }
  switch (el.type) {
    case "BOOLEAN": return "boolean";
    case "INT32": return "integer";
    case "INT64": return "bigint";
    case "INT96": return "timestamp";
    case "FLOAT": case "DOUBLE": return "double";
    default: return "string"; // BYTE_ARRAY / FIXED_LEN_BYTE_ARRAY without annotation (utf8-decoded by hyparquet)
  }
}

/** Time of day from milliseconds (number) or micro/nanoseconds (bigint), per the column's unit. */
function timeText(v: unknown, el: SchemaElement): string | null {
  const lt = el.logical_type;
  const unit = lt?.type === "TIME" ? lt.unit : el.converted_type === "TIME_MICROS" ? "MICROS" : "MILLIS";
  const ms = unit === "MILLIS" ? Number(v) : unit === "MICROS" ? Number(BigInt(v as bigint) / 1000n) : Number(BigInt(v as bigint) / 1_000_000n);
  if (!Number.isFinite(ms)) return null;
  const s = Math.floor(ms / 1000);
  const frac = ms % 1000;
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}${frac ? `.${pad(frac, 3)}` : ""}`;
}

function convert(v: unknown, t: ColumnType, el: SchemaElement): unknown {
  if (v === null || v === undefined) return null;
  switch (t) {
    case "boolean": return Boolean(v);
    case "integer": return typeof v === "bigint" ? Number(v) : Number(v);
    case "bigint": return typeof v === "bigint" ? v : BigInt(Math.trunc(Number(v)));
    case "double": return Number(v);
    case "decimal": {
      // hyparquet hands decimals over as numbers; keep the declared scale in the text ("5.00").
      const scale = el.scale ?? (el.logical_type?.type === "DECIMAL" ? el.logical_type.scale : undefined);
      return typeof v === "number" && scale !== undefined && scale <= 20 ? v.toFixed(scale) : String(v);
    }
    case "date": return v instanceof Date ? v.toISOString().slice(0, 10) : null;
    case "timestamp": return v instanceof Date ? naiveTimestamp(v) : null;
    case "timestamptz": return v instanceof Date ? v.toISOString() : null;
    case "time": return timeText(v, el);
    case "json": return typeof v === "string" ? v : jsonText(v);
    case "string": return typeof v === "string" ? v : v instanceof Uint8Array ? Buffer.from(v).toString("base64") : String(v);
  }
}

/** Parquet: schema from the footer, rows read one row group at a time. */
export const readParquet: FormatReader = async (path, opts) => {
  let file;
  try {
    file = await asyncBufferFromFile(path);
  } catch (e) {
    throw broken(e);
  }
  return parquetTables(file, () => fileChunks(path), opts);
};

/** readParquet of an upload held in memory (no local copy). */
export const readParquetBytes = (bytes: Uint8Array, opts: { tableName: string }): Promise<ParsedTable[]> => {
  // A copy of exactly the range (a Buffer's slice would be a view of its whole pool).
  const file: AsyncBuffer = { byteLength: bytes.length, slice: (start, end) => new Uint8Array(bytes.subarray(start, end)).buffer };
  return parquetTables(file, async () => memoryChunks(bytes), opts);
};

async function parquetTables(file: AsyncBuffer, chunks: () => Promise<ChunkBytes>, opts: { tableName: string }): Promise<ParsedTable[]> {
  let metadata;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (e) {
    throw broken(e);
  }
  const tree = parquetSchema(metadata);
  const fields = tree.children;
  const names = uniqueNames(fields.map((f) => f.element.name));
  const types = fields.map((f) => parquetColumnType(f.element, f.children.length > 0));
  const columns = fields.map((f, i) => ({ name: names[i]!, type: types[i]!, nullable: f.element.repetition_type !== "REQUIRED" }));
  if (columns.length === 0) throw new AppError("PARSE_FAILED", "The Parquet file has no columns");
  const groups = metadata.row_groups.map((g) => Number(g.num_rows));
  const table: ParsedTable = {
    name: opts.tableName,
    columns,
    rowCount: Number(metadata.num_rows),
    async *rows() {
      let start = 0;
      for (const n of groups) {
        let rows: unknown[][] = [];
        try {
          await parquetRead({ file, metadata, rowStart: start, rowEnd: start + n, rowFormat: "array", onComplete: (r) => { rows = r; } });
        } catch (e) {
          throw broken(e);
        }
        start += n;
        yield rows.map((r) => r.map((v, i) => convert(v, types[i]!, fields[i]!.element)));
      }
    },
    // One row group at a time, decoded column-wise straight into Arrow buffers (columnar.ts).
    columnar(batchRows) {
      const conv = fields.map((f, i) => nativeConverter(types[i]!, f.element));
      return columnarBatches({ chunks, file, metadata, fields, types, conv, parsers: NATIVE_PARSERS, broken }, batchRows);
    },
  };
  return [table];
}
