import { batchType, bool, Column, columnFromArray, dateDay, float64, int64, tableFromColumns, tableToIPC, time, timestamp, TimeUnit, utf8, type DataType } from "@uwdata/flechette";
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

/** "YYYY-MM-DD" → epoch ms without Date.parse (the hot path of date columns). */
function dayMs(s: string): number {
  if (s.length === 10 && s.charCodeAt(4) === 45 && s.charCodeAt(7) === 45) return Date.UTC(+s.slice(0, 4), +s.slice(5, 7) - 1, +s.slice(8, 10));
  return Date.parse(`${s}T00:00:00Z`);
}

const UTF8 = utf8();
const Utf8Batch = batchType(UTF8);

/**
 * A utf8 column built straight into one buffer. flechette's builder encodes each
 * string with TextEncoder, which dominates ingest time for text-heavy files.
 */
function utf8Column(values: readonly unknown[]): Column<string> {
  const n = values.length;
  const offsets = new Int32Array(n + 1);
  const validity = new Uint8Array((n >> 3) + 1);
  let buf = Buffer.allocUnsafe(Math.max(1024, n * 16));
  let pos = 0;
  let nulls = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null || v === undefined) { nulls++; offsets[i + 1] = pos; continue; }
    validity[i >> 3]! |= 1 << (i & 7);
    const str = typeof v === "string" ? v : String(v);
    if (buf.length - pos < str.length * 3) {
      const bigger = Buffer.allocUnsafe(Math.max(buf.length * 2, pos + str.length * 3));
      buf.copy(bigger, 0, 0, pos);
      buf = bigger;
    }
    pos += buf.write(str, pos, "utf8");
    if (pos > 0x7fffffff) throw new AppError("PARSE_FAILED", "A text column holds more than 2 GiB in one batch");
    offsets[i + 1] = pos;
  }
  const batch = new Utf8Batch({ length: n, nullCount: nulls, type: UTF8, validity: nulls ? validity : new Uint8Array(0), offsets, values: new Uint8Array(buf.buffer, buf.byteOffset, pos) });
  return new Column([batch]) as Column<string>;
}

const timeMs = (s: string) => {
  const [h, m, rest] = s.split(":");
  return (Number(h) * 3600 + Number(m) * 60) * 1000 + Math.round(Number(rest ?? 0) * 1000);
};

/** Turns a row value (types.ts representation) into what the Arrow builder takes. */
function toArrow(v: unknown, t: ColumnType): unknown {
  if (v === null || v === undefined) return null;
  switch (t) {
    case "date": return dayMs(String(v));
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
  const batchRows = Math.max(1024, Math.min(65_536, Math.floor(500_000 / Math.max(1, cols.length))));
  const hasNull = cols.map(() => false);
  let rowCount = 0;

  const encode = (buf: unknown[][]): Uint8Array => {
    const columns: Record<string, Column<unknown>> = {};
    cols.forEach((c, i) => {
      const a = new Array<unknown>(buf.length);
      const text = c.type === "string" || c.type === "json" || c.type === "decimal";
      for (let r = 0; r < buf.length; r++) {
        const raw = buf[r]![i];
        const v = text ? raw : toArrow(raw, c.type);
        if (v === null || v === undefined || (typeof v === "number" && Number.isNaN(v) && c.type !== "double")) { a[r] = null; hasNull[i] = true; } else a[r] = v;
      }
      columns[`c${i}`] = text ? utf8Column(a) : columnFromArray(a, types[`c${i}`]!, { maxBatchRows: buf.length || 1 });
    });
    return tableToIPC(tableFromColumns(columns), { format: "stream" })!;
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
