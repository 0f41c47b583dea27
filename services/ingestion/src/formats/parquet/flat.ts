import { isUtf8 } from "node:buffer";
import { snappyUncompress, type ColumnMetaData } from "hyparquet";
// Not re-exported from the package root, but a public subpath ("./src/*.js" in its exports).
import { parquetHeader } from "hyparquet/src/column.js";
import type { Slab, SlabKind } from "../../dataset/bulk.ts";
import { setBits } from "../../dataset/bulk.ts";
import type { FastPlan } from "./plan.ts";
import { readHybrid } from "./rle.ts";

/**
 * Decodes one column chunk (one row group) of a flat column straight into an
 * Arrow-layout slab: definition levels to a validity bitmap, PLAIN or
 * dictionary values to typed arrays, dictionaries converted once per entry and
 * gathered by index. Anything it does not know (other encodings or codecs, odd
 * page counts) throws, and the caller reads the chunk through hyparquet instead.
 */

/** Values of a page or dictionary in Arrow form, before nulls are spread in. */
type Dense =
  | { kind: 8; v: Int32Array; n: number } // lo/hi int32 pairs
  | { kind: 4; v: Int32Array; n: number }
  | { kind: "bool"; v: Uint8Array; n: number } // 0/1 per value
  | { kind: "utf8"; src: Uint8Array; starts: Int32Array; lens: Int32Array; n: number };

export const FAST_ENCODINGS = new Set(["PLAIN", "PLAIN_DICTIONARY", "RLE_DICTIONARY", "RLE", "BIT_PACKED"]);
export const FAST_CODECS = new Set(["UNCOMPRESSED", "SNAPPY"]);

const TWO32 = 4294967296;
const decoder = new TextDecoder();

function decompress(bytes: Uint8Array, size: number, codec: string): Uint8Array {
  if (codec === "UNCOMPRESSED") {
    if (bytes.length !== size) throw new Error("parquet page size does not match its header");
    return bytes;
  }
  const out = new Uint8Array(size);
  snappyUncompress(bytes, out);
  return out;
}

/** A copy aligned for typed-array views (page buffers start anywhere). */
const aligned = (bytes: Uint8Array, start: number, n: number): ArrayBuffer => {
  if (start + n > bytes.length) throw new Error("parquet page is shorter than its values");
  const copy = new Uint8Array(n);
  copy.set(bytes.subarray(start, start + n));
  return copy.buffer;
};

/** Writes the number t (an integer) as an int64 lo/hi pair, like ColumnBuilder.push. */
function putNum(out: Int32Array, i: number, t: number): void {
  const hi = Math.floor(t / TWO32);
  out[2 * i] = (t - hi * TWO32) | 0;
  out[2 * i + 1] = hi | 0;
}

/** trunc(v / d) of the int64 (lo, hi) as a number, exactly what Number(v / BigInt(d)) gives. */
function divInt64(lo: number, hi: number, d: number): number {
  let neg = hi < 0;
  let l = lo >>> 0;
  let h = hi >>> 0;
  if (neg) { // two's complement negate
    l = (~l + 1) >>> 0;
    h = (~h + (l === 0 ? 1 : 0)) >>> 0;
  }
  // long division in 16-bit limbs: every intermediate stays below 2^53
  let r = 0;
  const limbs = [h >>> 16, h & 0xffff, l >>> 16, l & 0xffff];
  const q = [0, 0, 0, 0];
  for (let k = 0; k < 4; k++) {
    const cur = r * 65536 + limbs[k]!;
    q[k] = Math.floor(cur / d);
    r = cur - q[k]! * d;
  }
  if (q[0]! >= 32) {
    // beyond 2^53: let BigInt round the way Number() does
    const big = (BigInt(hi) << 32n) | BigInt(lo >>> 0);
    return Number(big / BigInt(d));
  }
  const mag = q[0]! * 281474976710656 + q[1]! * TWO32 + q[2]! * 65536 + q[3]!;
  neg &&= mag !== 0;
  return neg ? -mag : mag;
}

/** `n` PLAIN values from bytes[start..] in the plan's Arrow form. */
function plainDense(bytes: Uint8Array, start: number, n: number, plan: FastPlan, kind: SlabKind): Dense {
  switch (plan.phys) {
    case "BOOLEAN": {
      if (start + ((n + 7) >> 3) > bytes.length) throw new Error("parquet page is shorter than its values");
      const v = new Uint8Array(n);
      for (let i = 0; i < n; i++) v[i] = (bytes[start + (i >> 3)]! >> (i & 7)) & 1;
      return { kind: "bool", v, n };
    }
    case "INT32": {
      const src = new Int32Array(aligned(bytes, start, n * 4));
      if (kind === 4) return { kind: 4, v: src, n };
      const v = new Int32Array(2 * n);
      if (plan.conv === "zext") for (let i = 0; i < n; i++) v[2 * i] = src[i]!;
      else for (let i = 0; i < n; i++) { const x = src[i]!; v[2 * i] = x; v[2 * i + 1] = x >> 31; }
      return { kind: 8, v, n };
    }
    case "INT64":
      return int64Dense(new Int32Array(aligned(bytes, start, n * 8)), n, plan, kind);
    case "DOUBLE":
      return { kind: 8, v: new Int32Array(aligned(bytes, start, n * 8)), n };
    case "FLOAT": {
      const f = new Float32Array(aligned(bytes, start, n * 4));
      return { kind: 8, v: new Int32Array(Float64Array.from(f).buffer), n };
    }
    case "BYTE_ARRAY":
      return stringsDense(bytes, start, n);
  }
}

function int64Dense(src: Int32Array, n: number, plan: FastPlan, kind: SlabKind): Dense {
  if (plan.conv === "raw") return { kind: 8, v: src, n };
  if (kind === 4) {
    // time of day from micro/nanoseconds: ToInt32 like ColumnBuilder's Int32Array store
    const v = new Int32Array(n);
    for (let i = 0; i < n; i++) v[i] = divInt64(src[2 * i]!, src[2 * i + 1]!, plan.div) | 0;
    return { kind: 4, v, n };
  }
  const v = src; // converted in place (src is a private copy)
  for (let i = 0; i < n; i++) {
    const lo = v[2 * i]!;
    const hi = v[2 * i + 1]!;
    if (plan.conv === "num") {
      // below 2^53 Number() is exact and the pair stays as it is
      if (hi >= -0x200000 && hi < 0x200000) continue;
      putNum(v, i, hi * TWO32 + (lo >>> 0));
    } else {
      putNum(v, i, divInt64(lo, hi, plan.div));
    }
  }
  return { kind: 8, v, n };
}

/** BYTE_ARRAY values (4-byte length + bytes each), kept in place; values that are not plain UTF-8 are re-encoded like TextDecoder would. */
function stringsDense(bytes: Uint8Array, start: number, n: number): Dense {
  const starts = new Int32Array(n);
  const lens = new Int32Array(n);
  let pos = start;
  let odd = false;
  const len = bytes.length;
  for (let i = 0; i < n; i++) {
    if (pos + 4 > len) throw new Error("parquet string runs past the end of the page");
    const l = (bytes[pos]! | (bytes[pos + 1]! << 8) | (bytes[pos + 2]! << 16) | (bytes[pos + 3]! << 24)) >>> 0;
    pos += 4;
    if (pos + l > len) throw new Error("parquet string runs past the end of the page");
    starts[i] = pos;
    lens[i] = l;
    let hi = 0;
    for (let k = pos, e = pos + l; k < e; k++) hi |= bytes[k]!;
    if (hi & 0x80) odd = true;
    pos += l;
  }
  const d: Dense = { kind: "utf8", src: bytes, starts, lens, n };
  return odd ? sanitize(d) : d;
}

/**
 * The slow path decodes with TextDecoder (invalid sequences → U+FFFD, a leading BOM dropped) and
 * writes the string back as UTF-8; only values with non-ASCII bytes can differ, so only those are redone.
 */
function sanitize(d: Extract<Dense, { kind: "utf8" }>): Dense {
  const { src, starts, lens, n } = d;
  const fixed = new Map<number, Uint8Array>();
  for (let i = 0; i < n; i++) {
    const v = src.subarray(starts[i]!, starts[i]! + lens[i]!);
    const bom = v.length >= 3 && v[0] === 0xef && v[1] === 0xbb && v[2] === 0xbf;
    if (bom || !isUtf8(v)) fixed.set(i, Buffer.from(decoder.decode(v), "utf8"));
  }
  if (fixed.size === 0) return d;
  let total = 0;
  for (let i = 0; i < n; i++) total += fixed.get(i)?.length ?? lens[i]!;
  const out = new Uint8Array(total);
  const s2 = new Int32Array(n);
  const l2 = new Int32Array(n);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const v = fixed.get(i) ?? src.subarray(starts[i]!, starts[i]! + lens[i]!);
    out.set(v, pos);
    s2[i] = pos;
    l2[i] = v.length;
    pos += v.length;
  }
  return { kind: "utf8", src: out, starts: s2, lens: l2, n };
}

/** The slab being filled for one column chunk. */
class SlabWriter {
  readonly validity: Uint8Array;
  nullCount = 0;
  readonly fixed: Uint8Array;
  readonly i32: Int32Array;
  readonly offsets: Int32Array | null;
  text: Uint8Array;
  pos = 0;

  constructor(readonly kind: SlabKind, readonly rows: number, textHint: number) {
    this.validity = new Uint8Array((rows >> 3) + 1);
    this.fixed = new Uint8Array(typeof kind === "number" ? rows * kind : kind === "bool" ? (rows >> 3) + 1 : 0);
    this.i32 = new Int32Array(this.fixed.buffer, 0, this.fixed.length >> 2);
    this.offsets = kind === "utf8" ? new Int32Array(rows + 1) : null;
    this.text = new Uint8Array(kind === "utf8" ? Math.max(1024, textHint) : 0);
  }

  private room(n: number): void {
    if (this.pos + n <= this.text.length) return;
    if (this.pos + n > 0x7fffffff) throw new Error("a text column holds more than 2 GiB in one row group");
    const bigger = new Uint8Array(Math.min(0x7fffffff, Math.max(this.text.length * 2, this.pos + n)));
    bigger.set(this.text.subarray(0, this.pos));
    this.text = bigger;
  }

  /**
   * Rows [at, at + count): `defs` (1 = present, null = all present) and the
   * present values, either `d` in order or d[idx[k]] for dictionary pages.
   */
  put(at: number, count: number, defs: Uint8Array | null, d: Dense, idx: Int32Array | null, present: number): void {
    if (defs) {
      for (let j = 0; j < count; j++) if (defs[j]) { const r = at + j; this.validity[r >> 3]! |= 1 << (r & 7); }
      this.nullCount += count - present;
    } else setBits(this.validity, at, count);
    if (idx) for (let k = 0; k < present; k++) if ((idx[k]! >>> 0) >= d.n) throw new Error("parquet dictionary index out of range");
    if (!idx && d.n < present) throw new Error("parquet page has fewer values than rows");
    switch (d.kind) {
      case 8: {
        const o = this.i32;
        const v = d.v;
        if (!defs && !idx) { o.set(v.subarray(0, 2 * count), 2 * at); break; }
        for (let j = 0, k = 0; j < count; j++) {
          if (defs && !defs[j]) continue;
          const s = idx ? idx[k]! : k;
          k++;
          o[2 * (at + j)] = v[2 * s]!;
          o[2 * (at + j) + 1] = v[2 * s + 1]!;
        }
        break;
      }
      case 4: {
        const o = this.i32;
        const v = d.v;
        if (!defs && !idx) { o.set(v.subarray(0, count), at); break; }
        for (let j = 0, k = 0; j < count; j++) {
          if (defs && !defs[j]) continue;
          o[at + j] = v[idx ? idx[k]! : k]!;
          k++;
        }
        break;
      }
      case "bool": {
        const o = this.fixed;
        const v = d.v;
        for (let j = 0, k = 0; j < count; j++) {
          if (defs && !defs[j]) continue;
          if (v[idx ? idx[k]! : k]) { const r = at + j; o[r >> 3]! |= 1 << (r & 7); }
          k++;
        }
        break;
      }
      case "utf8": {
        const { src, starts, lens } = d;
        let need = 0;
        if (idx) for (let k = 0; k < present; k++) need += lens[idx[k]!]!;
        else for (let k = 0; k < present; k++) need += lens[k]!;
        this.room(need);
        const out = this.text;
        const offs = this.offsets!;
        let pos = this.pos;
        for (let j = 0, k = 0; j < count; j++) {
          if (!defs || defs[j]) {
            const s = idx ? idx[k]! : k;
            k++;
            const b = starts[s]!;
            const l = lens[s]!;
            if (l < 24) for (let x = 0; x < l; x++) out[pos + x] = src[b + x]!;
            else out.set(src.subarray(b, b + l), pos);
            pos += l;
          }
          offs[at + j + 1] = pos;
        }
        this.pos = pos;
        break;
      }
    }
  }

  slab(): Slab {
    const utf8 = this.kind === "utf8";
    return {
      length: this.rows,
      nullCount: this.nullCount,
      validity: this.nullCount ? this.validity : null,
      values: utf8 ? this.text.subarray(0, this.pos) : this.fixed,
      offsets: this.offsets,
    };
  }
}

/** Decodes a column chunk's bytes (dictionary page first, as stored) into a slab of `rows` rows. */
export function decodeChunk(buf: Uint8Array, meta: ColumnMetaData, plan: FastPlan, kind: SlabKind, rows: number): Slab {
  if (!FAST_CODECS.has(meta.codec)) throw new Error(`codec ${meta.codec} is left to hyparquet`);
  const out = new SlabWriter(kind, rows, kind === "utf8" ? Math.min(Number(meta.total_uncompressed_size) * 2, 1 << 30) : 0);
  const reader = { view: new DataView(buf.buffer, buf.byteOffset, buf.byteLength), offset: 0 };
  let dict: Dense | null = null;
  let at = 0;
  let defs: Uint8Array | null = null;
  while (at < rows) {
    if (reader.offset >= buf.length) throw new Error("parquet column chunk ends before its rows");
    const h = parquetHeader(reader);
    const start = reader.offset;
    const end = start + h.compressed_page_size;
    if (end > buf.length || h.compressed_page_size < 0) throw new Error("parquet page runs past its column chunk");
    reader.offset = end;
    const raw = buf.subarray(start, end);
    if (h.type === "DICTIONARY_PAGE") {
      const dh = h.dictionary_page_header!;
      const page = decompress(raw, h.uncompressed_page_size, meta.codec);
      dict = plainDense(page, 0, dh.num_values, plan, kind);
      continue;
    }
    let page: Uint8Array;
    let pos = 0;
    let count: number;
    let encoding: string;
    let present: number;
    if (h.type === "DATA_PAGE") {
      const dp = h.data_page_header!;
      count = dp.num_values;
      encoding = dp.encoding;
      if (at + count > rows) throw new Error("parquet pages hold more values than the row group's rows");
      page = decompress(raw, h.uncompressed_page_size, meta.codec);
      present = count;
      if (plan.optional) {
        if (page.length < 4) throw new Error("parquet page too short");
        const len = (page[0]! | (page[1]! << 8) | (page[2]! << 16) | (page[3]! << 24)) >>> 0;
        pos = 4 + len;
        if (pos > page.length) throw new Error("parquet definition levels run past the page");
        ({ defs, present } = levels(page, 4, pos, count, defs));
      }
    } else if (h.type === "DATA_PAGE_V2") {
      const dp = h.data_page_header_v2!;
      count = dp.num_values;
      encoding = dp.encoding;
      if (at + count > rows || dp.num_rows !== count) throw new Error("parquet v2 page rows do not match its values");
      const rl = dp.repetition_levels_byte_length;
      const dl = dp.definition_levels_byte_length;
      if (rl !== 0 || rl + dl > raw.length) throw new Error("parquet v2 page levels do not fit a flat column");
      present = count;
      if (plan.optional) ({ defs, present } = levels(raw, 0, dl, count, defs));
      const body = raw.subarray(dl);
      page = dp.is_compressed === false ? body : decompress(body, h.uncompressed_page_size - dl, meta.codec);
    } else {
      continue; // index pages
    }
    const pageDefs = present === count ? null : defs;
    if (present === 0) {
      out.put(at, count, pageDefs, EMPTY[kind === 8 ? "w8" : kind === 4 ? "w4" : kind === "bool" ? "bool" : "utf8"], null, 0);
    } else if (encoding === "PLAIN_DICTIONARY" || encoding === "RLE_DICTIONARY") {
      if (!dict) throw new Error("parquet dictionary page missing");
      if (pos >= page.length) throw new Error("parquet page too short");
      const width = page[pos]!;
      if (width > 32) throw new Error("parquet dictionary index width out of range");
      const idx = new Int32Array(present);
      readHybrid(page, pos + 1, page.length, width, idx, 0, present);
      out.put(at, count, pageDefs, dict, idx, present);
    } else if (encoding === "PLAIN") {
      out.put(at, count, pageDefs, plainDense(page, pos, present, plan, kind), null, present);
    } else if (encoding === "RLE" && plan.phys === "BOOLEAN") {
      if (pos + 4 > page.length) throw new Error("parquet page too short");
      const v = new Uint8Array(present);
      readHybrid(page, pos + 4, page.length, 1, v, 0, present);
      out.put(at, count, pageDefs, { kind: "bool", v, n: present }, null, present);
    } else {
      throw new Error(`encoding ${encoding} is left to hyparquet`);
    }
    at += count;
  }
  return out.slab();
}

const EMPTY = {
  w8: { kind: 8, v: new Int32Array(0), n: 0 },
  w4: { kind: 4, v: new Int32Array(0), n: 0 },
  bool: { kind: "bool", v: new Uint8Array(0), n: 0 },
  utf8: { kind: "utf8", src: new Uint8Array(0), starts: new Int32Array(0), lens: new Int32Array(0), n: 0 },
} as const satisfies Record<string, Dense>;

/** Definition levels (max 1, bit width 1) of `count` rows into a reused byte array, with how many are present. */
function levels(buf: Uint8Array, from: number, to: number, count: number, reuse: Uint8Array | null): { defs: Uint8Array; present: number } {
  const defs = reuse && reuse.length >= count ? reuse : new Uint8Array(count);
  readHybrid(buf, from, to, 1, defs, 0, count);
  let present = 0;
  for (let j = 0; j < count; j++) present += defs[j]!;
  return { defs, present };
}
