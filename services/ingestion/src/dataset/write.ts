import { tableFromColumns, tableToIPC, type Column } from "@uwdata/flechette";
import { AppError } from "@dsb/contracts";
import type { BlobStore } from "@dsb/storage";
import type { ColumnType } from "./column-type.ts";
import type { ParsedColumn, ParsedTable, StartOver } from "./table.ts";
import { batchBuilders, batchRowsFor, type ArrowValue, type ColumnBuilder } from "./columns.ts";
import { columnKey } from "./layout.ts";
import { lz4Frames, type Lz4Native } from "./lz4.ts";

export { arrowType } from "./column-type.ts";

const DAY_MS = 86_400_000;

/** "YYYY-MM-DD" → days since epoch without Date.parse (the hot path of date columns). */
function days(s: string): number {
  const ms = s.length === 10 && s.charCodeAt(4) === 45 && s.charCodeAt(7) === 45
    ? Date.UTC(+s.slice(0, 4), +s.slice(5, 7) - 1, +s.slice(8, 10))
    : Date.parse(`${s}T00:00:00Z`);
  return Math.floor(ms / DAY_MS);
}

const timeMs = (s: string) => {
  const [h, m, rest] = s.split(":");
  return (Number(h) * 3600 + Number(m) * 60) * 1000 + Math.round(Number(rest ?? 0) * 1000);
};

/** Turns a row value (types.ts representation) into the Arrow-native value of columns.ts. */
export function toArrow(v: unknown, t: ColumnType): ArrowValue {
  if (v === null || v === undefined) return null;
  switch (t) {
    case "date": return days(String(v));
    case "timestamp": return Date.parse(`${String(v)}Z`);
    case "timestamptz": return Date.parse(String(v));
    case "time": return timeMs(String(v));
    case "integer": return typeof v === "bigint" ? v : Math.trunc(Number(v));
    case "bigint": return typeof v === "bigint" ? v : Math.trunc(Number(v));
    case "double": return Number(v);
    case "boolean": return Boolean(v);
    default: return typeof v === "string" ? v : String(v);
  }
}

const EOS_BYTES = 8;

/** Record batches of builders from a row-wise reader. */
async function* batchesFromRows(table: ParsedTable, batchRows: number): AsyncGenerator<ColumnBuilder[]> {
  const types = table.columns.map((c) => c.type);
  const ncol = types.length;
  const text = types.map((t) => t === "string" || t === "json" || t === "decimal");
  let b = batchBuilders(types, batchRows);
  let rowCount = 0;
  for await (const rows of table.rows()) {
    for (const row of rows) {
      rowCount++;
      if (row.length !== ncol) throw new AppError("PARSE_FAILED", `Row ${rowCount} of table "${table.name}" has ${row.length} values, expected ${ncol}`);
      for (let i = 0; i < ncol; i++) {
        const raw = row[i];
        b[i]!.push(text[i] ? (raw as ArrowValue) : toArrow(raw, types[i]!));
      }
      if (b[0]!.full) { yield b; b = batchBuilders(types, batchRows); }
    }
  }
  if (b[0]!.length > 0) yield b;
}

/**
 * An IPC sink that keeps the pieces flechette writes (message headers and the
 * builders' own buffers) instead of joining them into a new buffer per batch;
 * the store copies them into its chunks before the writer asks for the next
 * batch, which is when a reader may reuse the builders.
 */
class Pieces {
  readonly pieces: Uint8Array[] = [];
  size = 0;
  write(bytes: Uint8Array): void {
    this.pieces.push(bytes);
    this.size += bytes.byteLength;
  }
  pad(byteCount: number): void {
    this.write(new Uint8Array(byteCount));
  }
  finish(): null {
    return null;
  }
  /** Little-endian int32 at a stream offset (it may straddle pieces). */
  int32At(offset: number): number {
    const b = new Uint8Array(4);
    let k = 0;
    for (const chunk of this.range(offset, offset + 4)) { b.set(chunk, k); k += chunk.byteLength; }
    return new DataView(b.buffer).getInt32(0, true);
  }
  /** Views of the stream bytes from..to. */
  *range(from: number, to: number): Generator<Uint8Array> {
    let at = 0;
    for (const p of this.pieces) {
      const end = at + p.byteLength;
      if (end > from && at < to) yield p.subarray(Math.max(0, from - at), Math.min(p.byteLength, to - at));
      at = end;
      if (at >= to) return;
    }
  }
}

/**
 * Streams a table into one Arrow IPC stream: values go straight into typed
 * arrays of one record batch at a time (bounded memory), each batch encoded on
 * its own; the schema message is kept from the first batch only and the
 * end-of-stream marker written once at the end. Readers with a `columnar()`
 * path fill the builders themselves; others give rows. The next batch is only
 * asked for once the store consumed every byte of the last one (BlobStore.put
 * copies each chunk before taking the next), so readers may reuse a batch's
 * builders then (BatchPool).
 */
export async function writeArrowTable(store: BlobStore, key: string, table: ParsedTable, opts: { lz4?: Lz4Native | null } = {}): Promise<{ rowCount: number; bytes: number; columns: ParsedColumn[]; compression?: "lz4" }> {
  const cols = table.columns;
  const types = cols.map((c) => c.type);
  const batchRows = batchRowsFor(cols.length);
  const hasNull = cols.map(() => false);
  let rowCount = 0;

  const encode = (b: ColumnBuilder[]): Pieces => {
    const columns: Record<string, Column<unknown>> = {};
    b.forEach((builder, i) => {
      if (builder.nullCount > 0) hasNull[i] = true;
      columns[columnKey(i)] = builder.finish();
    });
    const sink = new Pieces();
    tableToIPC(tableFromColumns(columns), { format: "stream", sink });
    return sink;
  };

  /** Set when the reader's columnar pass ended with a StartOver: the put is abandoned and this table written instead. */
  const restart: { with?: StartOver } = {};

  async function* chunks(): AsyncGenerator<Uint8Array> {
    let first = true;
    // The stream of one batch is schema message, record batch message, end-of-stream marker.
    const flush = (p: Pieces): Generator<Uint8Array> => {
      const body = p.range(first ? 0 : 8 + p.int32At(4), p.size - EOS_BYTES);
      first = false;
      return body;
    };
    const source = table.columnar ? table.columnar(batchRows) : batchesFromRows(table, batchRows);
    for (;;) {
      const next = await source.next();
      if (next.done) {
        if (next.value) {
          restart.with = next.value;
          // Failing the put makes the store drop what it has; writeArrowTable then writes the exact table.
          throw new Error("the reader starts over");
        }
        break;
      }
      const b = next.value;
      rowCount += b[0]?.length ?? 0;
      yield* flush(encode(b));
    }
    if (first) yield* flush(encode(batchBuilders(types, 0)));
    yield new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
  }

  // Column names in the Arrow file are positional (c0, c1, …) so duplicate or odd names never clash; the manifest names them.
  let size: number;
  try {
    ({ size } = await store.put(key, opts.lz4 ? lz4Frames(chunks(), opts.lz4) : chunks(), { maxBytes: Number.MAX_SAFE_INTEGER }));
  } catch (e) {
    // The failed put left nothing; write the reader's exact table instead.
    if (restart.with) return writeArrowTable(store, key, restart.with.startOver, opts);
    throw e;
  }
  return { rowCount, bytes: size, columns: cols.map((c, i) => ({ ...c, nullable: hasNull[i]! })), ...(opts.lz4 ? { compression: "lz4" as const } : {}) };
}
