import { isAscii, isUtf8 } from "node:buffer";
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
  | Strings;

/** Strings in place in a page: value i is src[starts[i], starts[i] + lens[i]). */
interface Strings {
  kind: "utf8";
  src: Uint8Array;
  starts: Int32Array;
  lens: Int32Array;
  n: number;
  /** Longest value and all bytes together (to size the output once). */
  maxLen: number;
  total: number;
  /** Dictionaries used many times over: one view per entry, copied with `set` (faster than a byte loop past a few bytes). */
  views?: Uint8Array[];
}

export const FAST_ENCODINGS = new Set(["PLAIN", "PLAIN_DICTIONARY", "RLE_DICTIONARY", "RLE", "BIT_PACKED"]);
export const FAST_CODECS = new Set(["UNCOMPRESSED", "SNAPPY"]);

const TWO32 = 4294967296;
const decoder = new TextDecoder();

/** A page's bytes, uncompressed into `into`'s scratch buffer when given, else a new one. */
function decompress(bytes: Uint8Array, size: number, codec: string, into: { page(n: number): Uint8Array } | null): Uint8Array {
  if (codec === "UNCOMPRESSED") {
    if (bytes.length !== size) throw new Error("parquet page size does not match its header");
    return bytes;
  }
  if (!(size >= 0)) throw new Error("parquet page size is negative");
  const out = into ? into.page(size) : new Uint8Array(size);
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
export function divInt64(lo: number, hi: number, d: number): number {
  if (hi >= -0x100000 && hi < 0x100000) {
    // |v| < 2^52: v, q * d and the remainder are exact doubles; fix the quotient's rounding
    const v = hi * TWO32 + (lo >>> 0);
    let q = Math.trunc(v / d);
    const r = v - q * d;
    if (v >= 0) { if (r < 0) q--; else if (r >= d) q++; } else if (r > 0) q++; else if (r <= -d) q--;
    return q === 0 ? 0 : q; // no -0
  }
  const big = (BigInt(hi) << 32n) | BigInt(lo >>> 0);
  return Number(big / BigInt(d));
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
  let maxLen = 0;
  const len = bytes.length;
  for (let i = 0; i < n; i++) {
    if (pos + 4 > len) throw new Error("parquet string runs past the end of the page");
    const l = (bytes[pos]! | (bytes[pos + 1]! << 8) | (bytes[pos + 2]! << 16) | (bytes[pos + 3]! << 24)) >>> 0;
    pos += 4;
    if (pos + l > len) throw new Error("parquet string runs past the end of the page");
    starts[i] = pos;
    lens[i] = l;
    if (l > maxLen) maxLen = l;
    pos += l;
  }
  const d: Strings = { kind: "utf8", src: bytes, starts, lens, n, maxLen, total: pos - start - 4 * n };
  // all ASCII (length prefixes included, so values under 128 bytes): nothing to check
  return isAscii(bytes.subarray(start, pos)) ? d : sanitize(d);
}

/**
 * The slow path decodes with TextDecoder (invalid sequences → U+FFFD, a leading BOM dropped) and
 * writes the string back as UTF-8; only values with non-ASCII bytes can differ, so only those are checked.
 */
function sanitize(d: Strings): Strings {
  const { src, starts, lens, n } = d;
  const fixed = new Map<number, Uint8Array>();
  for (let i = 0; i < n; i++) {
    const b = starts[i]!;
    const e = b + lens[i]!;
    let hi = 0;
    for (let k = b; k < e; k++) hi |= src[k]!;
    if (!(hi & 0x80)) continue;
    const v = src.subarray(b, e);
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
  let maxLen = 0;
  for (let i = 0; i < n; i++) {
    const v = fixed.get(i) ?? src.subarray(starts[i]!, starts[i]! + lens[i]!);
    out.set(v, pos);
    s2[i] = pos;
    l2[i] = v.length;
    if (v.length > maxLen) maxLen = v.length;
    pos += v.length;
  }
  return { kind: "utf8", src: out, starts: s2, lens: l2, n, maxLen, total };
}

const EMPTY: Record<SlabKind, Dense> = {
  8: { kind: 8, v: new Int32Array(0), n: 0 },
  4: { kind: 4, v: new Int32Array(0), n: 0 },
  bool: { kind: "bool", v: new Uint8Array(0), n: 0 },
  utf8: { kind: "utf8", src: new Uint8Array(0), starts: new Int32Array(0), lens: new Int32Array(0), n: 0, maxLen: 0, total: 0 },
};

/**
 * Decodes the column chunks of one flat column, row group after row group,
 * into a slab. The slab and all scratch buffers are reused: a slab is valid
 * until the next `decode`.
 */
export class ChunkDecoder {
  private cap = -1;
  private validity = new Uint8Array(0);
  private fixed = new Uint8Array(0);
  private i32 = new Int32Array(0);
  private offsets: Int32Array | null = null;
  private text = new Uint8Array(0);
  private pos = 0;
  private nullCount = 0;
  private scratch = new Uint8Array(0);
  private defs = new Uint8Array(0);
  private idx = new Int32Array(0);

  constructor(readonly plan: FastPlan, readonly kind: SlabKind) {}

  /** Decodes a column chunk's bytes (from its first page) into a slab of `rows` rows. */
  decode(buf: Uint8Array, meta: ColumnMetaData, rows: number): Slab {
    if (!FAST_CODECS.has(meta.codec)) throw new Error(`codec ${meta.codec} is left to hyparquet`);
    this.reset(rows, Number(meta.total_uncompressed_size));
    const { plan, kind } = this;
    const reader = { view: new DataView(buf.buffer, buf.byteOffset, buf.byteLength), offset: 0 };
    let dict: Dense | null = null;
    let at = 0;
    while (at < rows) {
      if (reader.offset >= buf.length) throw new Error("parquet column chunk ends before its rows");
      const h = parquetHeader(reader);
      const start = reader.offset;
      const end = start + h.compressed_page_size;
      if (end > buf.length || h.compressed_page_size < 0) throw new Error("parquet page runs past its column chunk");
      reader.offset = end;
      const raw = buf.subarray(start, end);
      if (h.type === "DICTIONARY_PAGE") {
        // own buffer: dictionary strings point into it for the whole chunk
        const page = decompress(raw, h.uncompressed_page_size, meta.codec, null);
        dict = plainDense(page, 0, h.dictionary_page_header!.num_values, plan, kind);
        if (dict.kind === "utf8" && dict.n * 4 <= rows && dict.total >= 8 * dict.n) {
          const { src, starts, lens } = dict;
          dict.views = Array.from({ length: dict.n }, (_, i) => src.subarray(starts[i]!, starts[i]! + lens[i]!));
        }
        continue;
      }
      let page: Uint8Array;
      let pos = 0;
      let count: number;
      let encoding: string;
      let defs: Uint8Array | null = null;
      if (h.type === "DATA_PAGE") {
        const dp = h.data_page_header!;
        count = dp.num_values;
        encoding = dp.encoding;
        if (at + count > rows) throw new Error("parquet pages hold more values than the row group's rows");
        page = decompress(raw, h.uncompressed_page_size, meta.codec, this);
        if (plan.optional) {
          if (page.length < 4) throw new Error("parquet page too short");
          const len = (page[0]! | (page[1]! << 8) | (page[2]! << 16) | (page[3]! << 24)) >>> 0;
          pos = 4 + len;
          if (pos > page.length) throw new Error("parquet definition levels run past the page");
          defs = this.levels(page, 4, pos, count);
        }
      } else if (h.type === "DATA_PAGE_V2") {
        const dp = h.data_page_header_v2!;
        count = dp.num_values;
        encoding = dp.encoding;
        if (at + count > rows || dp.num_rows !== count) throw new Error("parquet v2 page rows do not match its values");
        const rl = dp.repetition_levels_byte_length;
        const dl = dp.definition_levels_byte_length;
        if (rl !== 0 || dl > raw.length) throw new Error("parquet v2 page levels do not fit a flat column");
        if (plan.optional) defs = this.levels(raw, 0, dl, count);
        const body = raw.subarray(dl);
        page = dp.is_compressed === false ? body : decompress(body, h.uncompressed_page_size - dl, meta.codec, this);
      } else {
        continue; // index pages
      }
      // (the per-row loops live in small functions: they get optimized sooner than this one)
      const present = defs ? countOnes(defs, count) : count;
      if (present === count) defs = null;
      if (defs) {
        this.nullCount += count - present;
        validityOf(this.validity, at, defs, count);
      } else {
        setBits(this.validity, at, count);
      }
      if (present === 0) {
        this.put(at, count, defs, EMPTY[kind], null, 0);
      } else if (encoding === "PLAIN_DICTIONARY" || encoding === "RLE_DICTIONARY") {
        if (!dict) throw new Error("parquet dictionary page missing");
        if (pos >= page.length) throw new Error("parquet page too short");
        const width = page[pos]!;
        if (width > 32) throw new Error("parquet dictionary index width out of range");
        const idx = this.idx.length >= present ? this.idx : (this.idx = new Int32Array(present));
        readHybrid(page, pos + 1, page.length, width, idx, 0, present);
        if (!indexesBelow(idx, present, dict.n)) throw new Error("parquet dictionary index out of range");
        this.put(at, count, defs, dict, idx, present);
      } else if (encoding === "PLAIN") {
        const k = kind;
        if (!defs && typeof k === "number" && plan.conv === "raw" && (plan.phys === "INT64" || plan.phys === "INT32" || plan.phys === "DOUBLE")) {
          // values already in Arrow form: straight copy
          if (pos + count * k > page.length) throw new Error("parquet page is shorter than its values");
          this.fixed.set(page.subarray(pos, pos + count * k), at * k);
        } else {
          this.put(at, count, defs, plainDense(page, pos, present, plan, kind), null, present);
        }
      } else if (encoding === "RLE" && plan.phys === "BOOLEAN") {
        if (pos + 4 > page.length) throw new Error("parquet page too short");
        const v = new Uint8Array(present);
        readHybrid(page, pos + 4, page.length, 1, v, 0, present);
        this.put(at, count, defs, { kind: "bool", v, n: present }, null, present);
      } else {
        throw new Error(`encoding ${encoding} is left to hyparquet`);
      }
      at += count;
    }
    const values = this.kind === "utf8" ? this.text.subarray(0, this.pos) : typeof this.kind === "number" ? this.fixed.subarray(0, rows * this.kind) : this.fixed.subarray(0, (rows >> 3) + 1);
    return {
      length: rows,
      nullCount: this.nullCount,
      validity: this.nullCount ? this.validity : null,
      values,
      offsets: this.offsets,
    };
  }

  /** A buffer of at least n bytes for decompressed data pages (reused: nothing points into it after the page). */
  page(n: number): Uint8Array {
    if (this.scratch.length < n) this.scratch = new Uint8Array(Math.max(n, this.scratch.length * 2));
    return this.scratch.subarray(0, n);
  }

  /** Clears (or grows) the slab buffers for a row group of `rows` rows. */
  private reset(rows: number, textHint: number): void {
    const k = this.kind;
    if (rows > this.cap) {
      this.cap = rows;
      this.validity = new Uint8Array((rows >> 3) + 1);
      this.fixed = new Uint8Array(typeof k === "number" ? rows * k : k === "bool" ? (rows >> 3) + 1 : 0);
      this.i32 = new Int32Array(this.fixed.buffer, 0, this.fixed.length >> 2);
      this.offsets = k === "utf8" ? new Int32Array(rows + 1) : null;
      if (k === "utf8" && this.text.length < textHint) this.text = new Uint8Array(Math.max(1024, Math.min(textHint, 1 << 30)));
    } else {
      this.validity.fill(0);
      this.fixed.fill(0);
    }
    this.pos = 0;
    this.nullCount = 0;
  }

  /** Definition levels (max 1, bit width 1) of `count` rows; null when every row is present. */
  private levels(buf: Uint8Array, from: number, to: number, count: number): Uint8Array | null {
    // the common case: one run of 1s (a varint header, then the byte 1)
    let header = 0;
    let p = from;
    for (let shift = 0; p < to && shift <= 28; shift += 7) {
      const b = buf[p++]!;
      header |= (b & 0x7f) << shift;
      if (!(b & 0x80)) {
        if (!(header & 1) && header >>> 1 >= count && p < to && buf[p] === 1) return null;
        break;
      }
    }
    const defs = this.defs.length >= count ? this.defs : (this.defs = new Uint8Array(count));
    readHybrid(buf, from, to, 1, defs, 0, count);
    return defs;
  }

  private room(n: number): void {
    if (this.pos + n <= this.text.length) return;
    if (this.pos + n > 0x7fffffff) throw new Error("a text column holds more than 2 GiB in one row group");
    const bigger = new Uint8Array(Math.min(0x7fffffff, Math.max(this.text.length * 2, this.pos + n)));
    bigger.set(this.text.subarray(0, this.pos));
    this.text = bigger;
  }

  /**
   * Values of rows [at, at + count): `defs` (1 = present, null = all present) and the
   * present values, either `d` in order or d[idx[k]] for dictionary pages.
   */
  private put(at: number, count: number, defs: Uint8Array | null, d: Dense, idx: Int32Array | null, present: number): void {
    if (!idx && d.n < present) throw new Error("parquet page has fewer values than rows");
    switch (d.kind) {
      case 8: put8(this.i32, at, count, defs, d.v, idx); break;
      case 4: put4(this.i32, at, count, defs, d.v, idx); break;
      case "bool": putBool(this.fixed, at, count, defs, d.v, idx); break;
      case "utf8": {
        const lens = d.lens;
        if (!idx) this.room(d.total);
        else if (present * d.maxLen <= 1 << 24) this.room(present * d.maxLen);
        else {
          let need = 0;
          for (let k = 0; k < present; k++) need += lens[idx[k]!]!;
          this.room(need);
        }
        this.pos = idx && d.views
          ? putViews(this.text, this.pos, this.offsets!, at, count, defs, d.views, idx)
          : putUtf8(this.text, this.pos, this.offsets!, at, count, defs, d.src, d.starts, lens, idx);
        break;
      }
    }
  }
}

function indexesBelow(idx: Int32Array, count: number, n: number): boolean {
  for (let k = 0; k < count; k++) if ((idx[k]! >>> 0) >= n) return false;
  return true;
}

function countOnes(defs: Uint8Array, count: number): number {
  let n = 0;
  for (let j = 0; j < count; j++) n += defs[j]!;
  return n;
}

function validityOf(valid: Uint8Array, at: number, defs: Uint8Array, count: number): void {
  for (let j = 0; j < count; j++) if (defs[j]) { const r = at + j; valid[r >> 3]! |= 1 << (r & 7); }
}

function put8(o: Int32Array, at: number, count: number, defs: Uint8Array | null, v: Int32Array, idx: Int32Array | null): void {
  if (!defs) {
    if (!idx) { o.set(v.subarray(0, 2 * count), 2 * at); return; }
    for (let j = 0, r = 2 * at; j < count; j++, r += 2) { const s = 2 * idx[j]!; o[r] = v[s]!; o[r + 1] = v[s + 1]!; }
    return;
  }
  for (let j = 0, k = 0; j < count; j++) {
    if (!defs[j]) continue;
    const s = idx ? 2 * idx[k]! : 2 * k;
    k++;
    o[2 * (at + j)] = v[s]!;
    o[2 * (at + j) + 1] = v[s + 1]!;
  }
}

function put4(o: Int32Array, at: number, count: number, defs: Uint8Array | null, v: Int32Array, idx: Int32Array | null): void {
  if (!defs) {
    if (!idx) { o.set(v.subarray(0, count), at); return; }
    for (let j = 0; j < count; j++) o[at + j] = v[idx[j]!]!;
    return;
  }
  for (let j = 0, k = 0; j < count; j++) {
    if (!defs[j]) continue;
    o[at + j] = v[idx ? idx[k]! : k]!;
    k++;
  }
}

function putBool(o: Uint8Array, at: number, count: number, defs: Uint8Array | null, v: Uint8Array, idx: Int32Array | null): void {
  for (let j = 0, k = 0; j < count; j++) {
    if (defs && !defs[j]) continue;
    if (v[idx ? idx[k]! : k]) { const r = at + j; o[r >> 3]! |= 1 << (r & 7); }
    k++;
  }
}

/** Copies the strings of rows [at, at + count) to out[pos..], filling offsets; returns the new pos. */
function putUtf8(out: Uint8Array, pos: number, offs: Int32Array, at: number, count: number, defs: Uint8Array | null,
  src: Uint8Array, starts: Int32Array, lens: Int32Array, idx: Int32Array | null): number {
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
  return pos;
}

/** putUtf8 for dictionary pages with per-entry views. */
function putViews(out: Uint8Array, pos: number, offs: Int32Array, at: number, count: number, defs: Uint8Array | null, views: Uint8Array[], idx: Int32Array): number {
  for (let j = 0, k = 0; j < count; j++) {
    if (!defs || defs[j]) {
      const v = views[idx[k++]!]!;
      out.set(v, pos);
      pos += v.length;
    }
    offs[at + j + 1] = pos;
  }
  return pos;
}

/** One-shot decode of a column chunk (tests; the reader keeps a ChunkDecoder per column). */
export function decodeChunk(buf: Uint8Array, meta: ColumnMetaData, plan: FastPlan, kind: SlabKind, rows: number): Slab {
  return new ChunkDecoder(plan, kind).decode(buf, meta, rows);
}
