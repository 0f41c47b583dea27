import { bool, dateDay, float64, int64, tableFromArrays, tableToIPC, time, timestamp, TimeUnit, utf8, type DataType } from "@uwdata/flechette";
import { AppError } from "@dsb/contracts";
import type { BlobStore } from "@dsb/storage";
import type { ColumnType, ParsedColumn, ParsedTable } from "../formats/types.ts";

/** Arrow type of each column type. Decimals stay exact as text; the query engine reads them as numbers where it must compare or add. */
export function arrowType(t: ColumnType): DataType {
  switch (t) {
    case "boolean": return bool();
    case "integer":
    case "bigint": return int64();
    case "double": return float64();
    case "date": return dateDay();
    case "timestamp": return timestamp(TimeUnit.MILLISECOND);
    case "timestamptz": return timestamp(TimeUnit.MILLISECOND, "UTC");
    case "time": return time(TimeUnit.MILLISECOND);
    case "decimal":
    case "string":
    case "json": return utf8();
  }
}

const timeMs = (s: string) => {
  const [h, m, rest] = s.split(":");
  return (Number(h) * 3600 + Number(m) * 60) * 1000 + Math.round(Number(rest ?? 0) * 1000);
};

/** Turns a row value (types.ts representation) into what the Arrow builder takes. */
function toArrow(v: unknown, t: ColumnType): unknown {
  if (v === null || v === undefined) return null;
  switch (t) {
    case "date": return Date.parse(`${String(v)}T00:00:00Z`);
    case "timestamp": return Date.parse(`${String(v)}Z`);
    case "timestamptz": return Date.parse(String(v));
    case "time": return timeMs(String(v));
    case "integer": return typeof v === "bigint" ? v : Math.trunc(Number(v));
    case "bigint": return typeof v === "bigint" ? v : BigInt(v as number);
    case "double": return Number(v);
    case "boolean": return Boolean(v);
    default: return typeof v === "string" ? v : String(v);
  }
}

const EOS_BYTES = 8;

/**
 * Streams a table into one Arrow IPC stream: rows are cut into record batches
 * (bounded memory), each encoded on its own; the schema message is kept from the
 * first batch only and the end-of-stream marker written once at the end.
 */
export async function writeArrowTable(store: BlobStore, key: string, table: ParsedTable): Promise<{ rowCount: number; bytes: number; columns: ParsedColumn[] }> {
  const cols = table.columns;
  const types = Object.fromEntries(cols.map((c, i) => [`c${i}`, arrowType(c.type)]));
  const batchRows = Math.max(1024, Math.floor(1_000_000 / Math.max(1, cols.length)));
  const hasNull = cols.map(() => false);
  let rowCount = 0;

  const encode = (buf: unknown[][]): Uint8Array => {
    const arrays: Record<string, unknown[]> = {};
    cols.forEach((c, i) => {
      const a = new Array<unknown>(buf.length);
      for (let r = 0; r < buf.length; r++) {
        const v = toArrow(buf[r]![i], c.type);
        if (v === null || (typeof v === "number" && Number.isNaN(v) && c.type !== "double")) { a[r] = null; hasNull[i] = true; } else a[r] = v;
      }
      arrays[`c${i}`] = a;
    });
    return tableToIPC(tableFromArrays(arrays, { types, maxBatchRows: buf.length || 1 }), { format: "stream" })!;
  };

  async function* chunks(): AsyncGenerator<Uint8Array> {
    let first = true;
    let buf: unknown[][] = [];
    const flush = (bytes: Uint8Array): Uint8Array => {
      const metaLen = new DataView(bytes.buffer, bytes.byteOffset).getInt32(4, true);
      const body = first ? bytes.subarray(0, bytes.length - EOS_BYTES) : bytes.subarray(8 + metaLen, bytes.length - EOS_BYTES);
      first = false;
      return body;
    };
    for await (const rows of table.rows()) {
      for (const row of rows) {
        if (row.length !== cols.length) throw new AppError("PARSE_FAILED", `Row ${rowCount + 1} of table "${table.name}" has ${row.length} values, expected ${cols.length}`);
        buf.push(row);
        rowCount++;
        if (buf.length >= batchRows) { yield flush(encode(buf)); buf = []; }
      }
    }
    if (buf.length > 0 || first) yield flush(encode(buf));
    yield new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
  }

  // Column names in the Arrow file are positional (c0, c1, …) so duplicate or odd names never clash; the manifest names them.
  const { size } = await store.put(key, chunks(), { maxBytes: Number.MAX_SAFE_INTEGER });
  return { rowCount, bytes: size, columns: cols.map((c, i) => ({ ...c, nullable: hasNull[i]! })) };
}
