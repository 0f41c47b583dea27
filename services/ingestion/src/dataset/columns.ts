import { batchType, Column, type DataType } from "@uwdata/flechette";
import { AppError } from "@dsb/contracts";
import type { ColumnType } from "./column-type.ts";
import { arrowType } from "./column-type.ts";

/**
 * Arrow-native values a builder takes (what readers push on the columnar path):
 * integer/bigint → number or bigint, double → number, date → days since epoch,
 * timestamp/timestamptz → epoch ms, time → ms of day, boolean → boolean,
 * decimal/string/json → string. null/undefined (and NaN outside double) are null.
 */
export type ArrowValue = number | bigint | boolean | string | null | undefined;

const TWO32 = 4294967296;
const TWO_NEG32 = 1 / TWO32;

/**
 * One column of one record batch, written straight into typed arrays (no JS
 * array of values, no per-value builder objects), so memory per batch is the
 * Arrow buffers themselves.
 */
export class ColumnBuilder {
  readonly arrow: DataType;
  length = 0;
  nullCount = 0;
  private validity: Uint8Array;
  private f64: Float64Array | null = null;
  private i32: Int32Array | null = null;
  private i64: Int32Array | null = null;
  private bits: Uint8Array | null = null;
  private offsets: Int32Array | null = null;
  private text: Buffer | null = null;
  private pos = 0;
  private readonly kind: "f64" | "i32" | "i64" | "bool" | "utf8";

  /** `int32`: an "integer" column whose values all fit 32 bits (the reader guarantees it), stored as Arrow int32. */
  constructor(readonly type: ColumnType, readonly capacity: number, int32 = false) {
    const narrow = int32 && type === "integer";
    this.arrow = arrowType(type, narrow);
    this.validity = new Uint8Array((capacity >> 3) + 1);
    // A 32-bit integer column has the layout of a date column.
    switch (narrow ? "date" : type) {
      case "double": this.kind = "f64"; this.f64 = new Float64Array(capacity); break;
      case "date": case "time": this.kind = "i32"; this.i32 = new Int32Array(capacity); break;
      case "integer": case "bigint": case "timestamp": case "timestamptz": this.kind = "i64"; this.i64 = new Int32Array(capacity * 2); break;
      case "boolean": this.kind = "bool"; this.bits = new Uint8Array((capacity >> 3) + 1); break;
      default:
        this.kind = "utf8";
        this.offsets = new Int32Array(capacity + 1);
        this.text = Buffer.allocUnsafe(Math.max(1024, capacity * 16));
    }
  }

  get full(): boolean {
    return this.length >= this.capacity;
  }

  /** Whether any null was pushed so far (the manifest's nullable flag). */
  nullAt(): void {
    const i = this.length++;
    this.nullCount++;
    if (this.offsets) this.offsets[i + 1] = this.pos;
  }

  push(v: ArrowValue): void {
    if (v === null || v === undefined) { this.nullAt(); return; }
    const i = this.length;
    switch (this.kind) {
      case "f64": this.f64![i] = typeof v === "number" ? v : Number(v); break;
      case "i32": {
        const n = typeof v === "number" ? v : Number(v);
        if (n !== n) { this.nullAt(); return; }
        this.i32![i] = n;
        break;
      }
      case "i64": {
        if (typeof v === "bigint") {
          const lo = Number(BigInt.asUintN(32, v));
          const hi = Number(BigInt.asIntN(32, v >> 32n));
          this.i64![2 * i] = lo | 0;
          this.i64![2 * i + 1] = hi;
          break;
        }
        const n = typeof v === "number" ? v : Number(v);
        if (n !== n) { this.nullAt(); return; }
        const t = Math.trunc(n);
        const hi = Math.floor(t / TWO32);
        this.i64![2 * i] = (t - hi * TWO32) | 0;
        this.i64![2 * i + 1] = hi | 0;
        break;
      }
      case "bool": if (v) this.bits![i >> 3]! |= 1 << (i & 7); break;
      case "utf8": {
        const s = typeof v === "string" ? v : String(v);
        if (this.text!.length - this.pos < s.length * 3) {
          const bigger = Buffer.allocUnsafe(Math.max(this.text!.length * 2, this.pos + s.length * 3));
          this.text!.copy(bigger, 0, 0, this.pos);
          this.text = bigger;
        }
        this.pos += this.text!.write(s, this.pos, "utf8");
        if (this.pos > 0x7fffffff) throw new AppError("PARSE_FAILED", "A text column holds more than 2 GiB in one batch");
        this.offsets![i + 1] = this.pos;
        break;
      }
    }
    this.validity[i >> 3]! |= 1 << (i & 7);
    this.length = i + 1;
  }

  /*
   * Typed pushes of non-null values for readers that know the column's type
   * (the CSV byte converters). They are small enough to be inlined into the
   * caller, so a double is written without being boxed on the JS heap first,
   * which push(v) cannot avoid: a 100 MB file would otherwise allocate tens of
   * MB of heap numbers and grow the young generation (RSS) for them.
   */

  /** Into a "double" column. */
  pushF64(v: number): void {
    const i = this.length;
    this.f64![i] = v;
    this.validity[i >> 3]! |= 1 << (i & 7);
    this.length = i + 1;
  }

  /** A whole number below 2^53 into an integer, bigint, timestamp or timestamptz column. */
  pushI64(n: number): void {
    const i = this.length;
    // Times 2^-32 rather than divided by 2^32: the same exact result, without a division per value.
    const hi = Math.floor(n * TWO_NEG32);
    this.i64![2 * i] = (n - hi * TWO32) | 0;
    this.i64![2 * i + 1] = hi | 0;
    this.validity[i >> 3]! |= 1 << (i & 7);
    this.length = i + 1;
  }

  /** Into a date, time or 32-bit integer column. */
  pushI32(n: number): void {
    const i = this.length;
    this.i32![i] = n;
    this.validity[i >> 3]! |= 1 << (i & 7);
    this.length = i + 1;
  }

  /** Into a boolean column. */
  pushBool(v: boolean): void {
    const i = this.length;
    if (v) this.bits![i >> 3]! |= 1 << (i & 7);
    this.validity[i >> 3]! |= 1 << (i & 7);
    this.length = i + 1;
  }

  /**
   * Empties the builder for the next record batch, keeping its buffers. Only
   * once nothing reads the Arrow column of the last finish() any more: that
   * column is a view of these buffers.
   */
  reset(): void {
    this.length = 0;
    this.nullCount = 0;
    this.pos = 0;
    this.validity.fill(0);
    this.bits?.fill(0);
  }

  /** A non-null text value given as UTF-8 bytes b[s..e): copied as they are, no string in between. */
  pushUtf8(b: Buffer, s: number, e: number): void {
    if (this.kind !== "utf8") { this.push(b.toString("utf8", s, e)); return; }
    const i = this.length;
    const n = e - s;
    if (this.text!.length - this.pos < n) {
      const bigger = Buffer.allocUnsafe(Math.max(this.text!.length * 2, this.pos + n));
      this.text!.copy(bigger, 0, 0, this.pos);
      this.text = bigger;
    }
    // Short values byte by byte: Buffer.copy makes a view object per call (garbage for the GC), and costs more below ~64 bytes.
    if (n <= 64) {
      const t = this.text!;
      let p = this.pos;
      for (let k = s; k < e; k++) t[p++] = b[k]!;
    } else b.copy(this.text!, this.pos, s, e);
    this.pos += n;
    if (this.pos > 0x7fffffff) throw new AppError("PARSE_FAILED", "A text column holds more than 2 GiB in one batch");
    this.offsets![i + 1] = this.pos;
    this.validity[i >> 3]! |= 1 << (i & 7);
    this.length = i + 1;
  }

  /** The Arrow column of what was pushed. */
  finish(): Column<unknown> {
    const n = this.length;
    const validity = this.nullCount ? this.validity.subarray(0, (n >> 3) + 1) : new Uint8Array(0);
    let values: ArrayBufferView;
    let offsets: Int32Array | undefined;
    switch (this.kind) {
      case "f64": values = this.f64!.subarray(0, n); break;
      case "i32": values = this.i32!.subarray(0, n); break;
      case "i64": values = new BigInt64Array(this.i64!.buffer, 0, n); break;
      case "bool": values = this.bits!.subarray(0, (n >> 3) + 1); break;
      default:
        values = new Uint8Array(this.text!.buffer, this.text!.byteOffset, this.pos);
        offsets = this.offsets!.subarray(0, n + 1);
    }
    const B = batchType(this.arrow);
    const batch = new B({ length: n, nullCount: this.nullCount, type: this.arrow, validity, values, ...(offsets ? { offsets } : {}) });
    return new Column([batch]);
  }
}

/** Builders of every column of one record batch. */
export function batchBuilders(types: readonly ColumnType[], capacity: number, int32?: readonly boolean[]): ColumnBuilder[] {
  return types.map((t, k) => new ColumnBuilder(t, capacity, int32?.[k] ?? false));
}

/**
 * Record batches for a reader whose consumer is done with a batch once it asks
 * for the next (the dataset writer: see writeArrowTable): yielded batches come
 * back through `recycle` and are handed out again, so a large file fills the
 * same few buffers instead of allocating megabytes per batch for the GC.
 */
export class BatchPool {
  private readonly spare: ColumnBuilder[][] = [];
  /** `int32[k]`: column k is an "integer" column whose values all fit 32 bits (see ColumnBuilder). */
  constructor(private readonly types: readonly ColumnType[], private readonly capacity: number, private readonly int32?: readonly boolean[]) {}

  take(): ColumnBuilder[] {
    const b = this.spare.pop();
    if (!b) return batchBuilders(this.types, this.capacity, this.int32);
    for (const c of b) c.reset();
    return b;
  }

  recycle(b: ColumnBuilder[]): void {
    this.spare.push(b);
  }

  /**
   * Yields the full batches waiting in `ready`, oldest first; the consumer is done with a
   * batch when it asks for the next one, so it goes back to the pool then.
   */
  *handOut(ready: ColumnBuilder[][]): Generator<ColumnBuilder[]> {
    while (ready.length > 0) {
      const done = ready.shift()!;
      yield done;
      this.recycle(done);
    }
  }
}

/**
 * Values per record batch. A reader fills one batch while the writer still holds the last
 * (BatchPool), so two batches are resident: at 500k values (~64k rows of the bench's 8-column
 * CSV, ~5 MiB a batch) ingestion peaked ~10 MiB higher per 100 MB upload than at 250k.
 */
const BATCH_CELLS = 250_000;

/** Rows per record batch: up to 64k rows, fewer for wider tables so one batch stays a few MB. */
export const batchRowsFor = (ncol: number): number => Math.max(1024, Math.min(65_536, Math.floor(BATCH_CELLS / Math.max(1, ncol))));
