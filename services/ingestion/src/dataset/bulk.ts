import { batchType, Column } from "@uwdata/flechette";
import { AppError } from "@dsb/contracts";
import type { ColumnType } from "./column-type.ts";
import { ColumnBuilder, type ArrowValue } from "./columns.ts";

/**
 * A run of decoded values of one column in Arrow layout (e.g. one Parquet row
 * group), which bulk builders copy ranges of with `set` instead of pushing
 * value by value. Layout per kind (see {@link slabKind}):
 * fixed-width (8 or 4 bytes a value, little-endian, nulls hold zeroes) in `values`;
 * bool as a bitmap in `values`; utf8 as bytes in `values` and `offsets` (length + 1).
 */
export interface Slab {
  length: number;
  nullCount: number;
  /** Arrow validity bitmap (bit set = value present); null when there is no null. */
  validity: Uint8Array | null;
  values: Uint8Array;
  offsets: Int32Array | null;
}

export type SlabKind = 8 | 4 | "bool" | "utf8";

/** Byte width or layout of a column type's Arrow values (must match columns.ts). */
export function slabKind(t: ColumnType): SlabKind {
  switch (t) {
    case "double": case "integer": case "bigint": case "timestamp": case "timestamptz": return 8;
    case "date": case "time": return 4;
    case "boolean": return "bool";
    default: return "utf8";
  }
}

/** Sets `count` bits from bit `at`. */
export function setBits(bits: Uint8Array, at: number, count: number): void {
  let i = at;
  const end = at + count;
  while (i < end && (i & 7)) { bits[i >> 3]! |= 1 << (i & 7); i++; }
  if (end - i >= 8) { bits.fill(0xff, i >> 3, end >> 3); i = end & ~7; }
  while (i < end) { bits[i >> 3]! |= 1 << (i & 7); i++; }
}

/** ORs `count` bits of `src` from bit `from` into `dst` from bit `at` (dst bits there must be 0); returns how many were 0. */
export function copyBits(dst: Uint8Array, at: number, src: Uint8Array, from: number, count: number): number {
  let zeros = 0;
  let i = 0;
  // bit by bit until dst is byte-aligned
  for (; i < count && ((at + i) & 7); i++) {
    const s = from + i;
    if ((src[s >> 3]! >> (s & 7)) & 1) { const d = at + i; dst[d >> 3]! |= 1 << (d & 7); } else zeros++;
  }
  // then whole dst bytes, each from (at most) two src bytes
  const whole = (count - i) >> 3;
  if (whole > 0) {
    let s = from + i;
    let d = (at + i) >> 3;
    const sh = s & 7;
    const last = src.length - 1;
    for (let k = 0; k < whole; k++, s += 8, d++) {
      const j = s >> 3;
      const b = sh ? ((src[j]! >> sh) | ((j < last ? src[j + 1]! : 0) << (8 - sh))) & 0xff : src[j]!;
      dst[d] = b;
      if (b !== 0xff) zeros += 8 - popcount8(b);
    }
    i += whole << 3;
  }
  for (; i < count; i++) {
    const s = from + i;
    if ((src[s >> 3]! >> (s & 7)) & 1) { const d = at + i; dst[d >> 3]! |= 1 << (d & 7); } else zeros++;
  }
  return zeros;
}

/** dst[at + i] = src[from + i] + shift for i in 1..count (offsets moved to another text buffer). */
function rebase(dst: Int32Array, at: number, src: Int32Array, from: number, count: number, shift: number): void {
  for (let i = 1; i <= count; i++) dst[at + i] = src[from + i]! + shift;
}

function popcount8(b: number): number {
  b = b - ((b >> 1) & 0x55);
  b = (b & 0x33) + ((b >> 2) & 0x33);
  return (b + (b >> 4)) & 0x0f;
}

/** The slab of a finished ColumnBuilder's column (the slow path's values, for bulk appends next to fast ones). */
export function slabOfColumn(col: Column<unknown>): Slab {
  const b = col.data[0] as unknown as { length: number; nullCount: number; validity: Uint8Array | null; values: ArrayBufferView; offsets?: Int32Array };
  const v = b.values;
  return {
    length: b.length,
    nullCount: b.nullCount,
    validity: b.nullCount > 0 && b.validity && b.validity.length ? b.validity : null,
    values: new Uint8Array(v.buffer, v.byteOffset, v.byteLength),
    offsets: b.offsets ?? null,
  };
}

/**
 * A record-batch column filled by copying ranges of slabs. It is a ColumnBuilder
 * to the dataset writer (length, nullCount, full, finish) but keeps its own
 * buffers, so it allocates none through the base class (capacity 0 there).
 */
export class BulkColumn extends ColumnBuilder {
  readonly #kind: SlabKind;
  readonly #rows: number;
  readonly #valid: Uint8Array;
  readonly #fixed: Uint8Array;
  readonly #offs: Int32Array | null;
  #bytes: Uint8Array;
  #pos = 0;

  /** `textBytes`: expected text bytes of a full batch (utf8), to size the buffer once. */
  constructor(type: ColumnType, rows: number, textBytes = rows * 16) {
    super(type, 0);
    this.#rows = rows;
    this.#kind = slabKind(type);
    this.#valid = new Uint8Array((rows >> 3) + 1);
    const k = this.#kind;
    this.#fixed = typeof k === "number" ? new Uint8Array(rows * k) : k === "bool" ? new Uint8Array((rows >> 3) + 1) : new Uint8Array(0);
    this.#offs = k === "utf8" ? new Int32Array(rows + 1) : null;
    this.#bytes = new Uint8Array(k === "utf8" ? Math.max(1024, Math.min(textBytes, 1 << 30)) : 0);
  }

  override get full(): boolean {
    return this.length >= this.#rows;
  }

  override push(_v: ArrowValue): void {
    throw new Error("BulkColumn is filled with append(slab), not value by value");
  }

  override nullAt(): void {
    throw new Error("BulkColumn is filled with append(slab), not value by value");
  }

  /** Bytes held by its buffers. */
  get held(): number {
    return this.#valid.byteLength + this.#fixed.byteLength + (this.#offs?.byteLength ?? 0) + this.#bytes.byteLength;
  }

  /** Room left in this batch. */
  get room(): number {
    return this.#rows - this.length;
  }

  /** Appends rows [from, from + count) of `s`. */
  append(s: Slab, from: number, count: number): void {
    if (count <= 0) return;
    const at = this.length;
    if (at + count > this.#rows) throw new Error(`batch overflow: ${at} + ${count} > ${this.#rows}`);
    const k = this.#kind;
    if (typeof k === "number") {
      this.#fixed.set(s.values.subarray(from * k, (from + count) * k), at * k);
    } else if (k === "bool") {
      copyBits(this.#fixed, at, s.values, from, count);
    } else {
      const o = s.offsets!;
      const base = o[from]!;
      const n = o[from + count]! - base;
      if (this.#pos + n > 0x7fffffff) throw new AppError("PARSE_FAILED", "A text column holds more than 2 GiB in one batch");
      if (this.#pos + n > this.#bytes.length) {
        const bigger = new Uint8Array(Math.max(this.#bytes.length * 2, this.#pos + n));
        bigger.set(this.#bytes.subarray(0, this.#pos));
        this.#bytes = bigger;
      }
      this.#bytes.set(s.values.subarray(base, base + n), this.#pos);
      rebase(this.#offs!, at, o, from, count, this.#pos - base);
      this.#pos += n;
    }
    if (s.validity) this.nullCount += copyBits(this.#valid, at, s.validity, from, count);
    else setBits(this.#valid, at, count);
    this.length = at + count;
  }

  /** Empties the column for the next batch, keeping its buffers (text grown to the largest batch so far). */
  override reset(): void {
    super.reset();
    this.#pos = 0;
    this.#valid.fill(0);
    // bitmaps are ORed into; fixed-width values are overwritten
    if (this.#kind === "bool") this.#fixed.fill(0);
  }

  override finish(): Column<unknown> {
    const n = this.length;
    const validity = this.nullCount ? this.#valid.subarray(0, (n >> 3) + 1) : new Uint8Array(0);
    const buf = this.#fixed.buffer;
    let values: ArrayBufferView;
    switch (this.#kind) {
      case 8: values = this.type === "double" ? new Float64Array(buf, 0, n) : new BigInt64Array(buf, 0, n); break;
      case 4: values = new Int32Array(buf, 0, n); break;
      case "bool": values = this.#fixed.subarray(0, (n >> 3) + 1); break;
      default: values = this.#bytes.subarray(0, this.#pos);
    }
    const offsets = this.#offs ? this.#offs.subarray(0, n + 1) : undefined;
    const B = batchType(this.arrow);
    const batch = new B({ length: n, nullCount: this.nullCount, type: this.arrow, validity, values, ...(offsets ? { offsets } : {}) });
    return new Column([batch]);
  }
}
