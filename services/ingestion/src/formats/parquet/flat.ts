import { snappyUncompress, type ColumnMetaData, type PageHeader } from "hyparquet";
// Not re-exported from the package root, but a public subpath ("./src/*.js" in its exports).
import { parquetHeader } from "hyparquet/src/column.js";
import { setBits, type Slab, type SlabKind } from "../../dataset/bulk.ts";
import { countOnes, indexesBelow, put4, put8, putBool, putUtf8, putWords, validityOf } from "./gather.ts";
import type { FastPlan } from "./plan.ts";
import { readHybrid } from "./rle.ts";
import { EMPTY, plainDense, type Dense } from "./values.ts";

/**
 * Decodes the column chunks of a flat column page by page straight into
 * Arrow-layout slabs: definition levels to a validity bitmap, PLAIN or
 * dictionary values to typed arrays, dictionaries converted once per entry and
 * gathered by index. A chunk is taken only when its page headers show nothing
 * else (encodings, codecs, page kinds); otherwise hyparquet reads it as before.
 * Memory: one decoded page per column, whatever the row group size.
 */

export { divInt64 } from "./values.ts";

export const FAST_ENCODINGS = new Set(["PLAIN", "PLAIN_DICTIONARY", "RLE_DICTIONARY", "RLE", "BIT_PACKED"]);
export const FAST_CODECS = new Set(["UNCOMPRESSED", "SNAPPY"]);

interface PageRef { h: PageHeader; start: number; end: number }

/** Rows a page buffer is made for when `rows` do not fit: an eighth more, so pages a little longer than the last still fit. */
const roomFor = (rows: number): number => rows + (rows >> 3);

/**
 * Buffers whose contents are used up within one `next` call (decompressed page,
 * definition levels, dictionary indices), shared by all columns of a read so a
 * wide table does not keep one of each per column.
 */
export class Scratch {
  private bytes = new Uint8Array(0);
  private levels = new Uint8Array(0);
  private indexes = new Int32Array(0);

  /** Bytes held (for keeping it after a read). */
  get held(): number {
    return this.bytes.byteLength + this.levels.byteLength + this.indexes.byteLength;
  }

  /** A buffer of n bytes for a decompressed data page. */
  page(n: number): Uint8Array {
    if (this.bytes.length < n) this.bytes = new Uint8Array(Math.max(n, this.bytes.length * 2));
    return this.bytes.subarray(0, n);
  }

  defs(n: number): Uint8Array {
    return this.levels.length >= n ? this.levels : (this.levels = new Uint8Array(roomFor(n)));
  }

  idx(n: number): Int32Array {
    return this.indexes.length >= n ? this.indexes : (this.indexes = new Int32Array(roomFor(n)));
  }
}

/** A page's bytes, uncompressed into the scratch buffer when given, else a new one. */
function decompress(bytes: Uint8Array, size: number, codec: string, into: Scratch | null): Uint8Array {
  if (codec === "UNCOMPRESSED") {
    if (bytes.length !== size) throw new Error("parquet page size does not match its header");
    return bytes;
  }
  if (!(size >= 0)) throw new Error("parquet page size is negative");
  const out = into ? into.page(size) : new Uint8Array(size);
  snappyUncompress(bytes, out);
  return out;
}

/** The pages of a column chunk of `rows` rows, from their headers; throws when one is not for the fast path. */
function scanPages(buf: Uint8Array, meta: ColumnMetaData, plan: FastPlan, rows: number): PageRef[] {
  if (!FAST_CODECS.has(meta.codec)) throw new Error(`codec ${meta.codec} is left to hyparquet`);
  const reader = { view: new DataView(buf.buffer, buf.byteOffset, buf.byteLength), offset: 0 };
  const pages: PageRef[] = [];
  let dict = false;
  for (let at = 0; at < rows;) {
    if (reader.offset >= buf.length) throw new Error("parquet column chunk ends before its rows");
    const h = parquetHeader(reader);
    const start = reader.offset;
    const end = start + h.compressed_page_size;
    if (!(h.compressed_page_size >= 0) || end > buf.length) throw new Error("parquet page runs past its column chunk");
    reader.offset = end;
    let count: number;
    let encoding: string;
    if (h.type === "DICTIONARY_PAGE" && h.dictionary_page_header) {
      dict = true;
      pages.push({ h, start, end });
      continue;
    } else if (h.type === "DATA_PAGE" && h.data_page_header) {
      ({ num_values: count, encoding } = h.data_page_header);
    } else if (h.type === "DATA_PAGE_V2" && h.data_page_header_v2) {
      const dp = h.data_page_header_v2;
      if (dp.num_rows !== dp.num_values || dp.repetition_levels_byte_length !== 0 || !(dp.definition_levels_byte_length <= end - start)) {
        throw new Error("parquet v2 page levels do not fit a flat column");
      }
      ({ num_values: count, encoding } = dp);
    } else {
      throw new Error(`parquet page type ${h.type} is left to hyparquet`);
    }
    if (!(count >= 0) || at + count > rows) throw new Error("parquet pages hold more values than the row group's rows");
    const ok = encoding === "PLAIN" || ((encoding === "PLAIN_DICTIONARY" || encoding === "RLE_DICTIONARY") && dict) || (encoding === "RLE" && plan.phys === "BOOLEAN");
    if (!ok) throw new Error(`encoding ${encoding} is left to hyparquet`);
    pages.push({ h, start, end });
    at += count;
  }
  return pages;
}

/**
 * Reads the column chunks of one flat column, row group after row group, one
 * data page at a time. The page slab and the scratch buffers are reused: a slab
 * is valid until the next call to `next`.
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
  private buf: Uint8Array = new Uint8Array(0);
  private codec = "";
  private pages: PageRef[] = [];
  private k = 0;
  private rows = 0;
  private dict: Dense | null = null;

  constructor(readonly plan: FastPlan, readonly kind: SlabKind, private readonly scratch = new Scratch()) {}

  /** Lets go of the last chunk (its bytes and dictionary); the page buffers stay for another read. */
  drop(): void {
    this.buf = new Uint8Array(0);
    this.pages = [];
    this.dict = null;
  }

  /** Bytes held by its page buffers (the scratch is counted apart). */
  get held(): number {
    return this.validity.byteLength + this.fixed.byteLength + (this.offsets?.byteLength ?? 0) + this.text.byteLength;
  }

  /** Takes a column chunk (its bytes from the first page) of `rows` rows when every page header suits the fast path; false leaves it to hyparquet. */
  begin(buf: Uint8Array, meta: ColumnMetaData, rows: number): boolean {
    try {
      this.pages = scanPages(buf, meta, this.plan, rows);
    } catch {
      return false;
    }
    this.buf = buf;
    this.codec = meta.codec;
    this.k = 0;
    this.rows = rows;
    this.dict = null;
    return true;
  }

  /** The rows of the chunk's next data page as a slab, null after the last one. Throws on corrupt page bodies. */
  next(): Slab | null {
    const { plan, kind } = this;
    while (this.k < this.pages.length) {
      const { h, start, end } = this.pages[this.k++]!;
      const raw = this.buf.subarray(start, end);
      if (h.type === "DICTIONARY_PAGE") {
        // own buffer: dictionary strings point into it for the whole chunk
        const page = decompress(raw, h.uncompressed_page_size, this.codec, null);
        const dict = plainDense(page, 0, h.dictionary_page_header!.num_values, plan, kind);
        if (dict.kind === "utf8" && dict.n * 4 <= this.rows && dict.total >= 8 * dict.n) {
          dict.words = new DataView(dict.src.buffer, dict.src.byteOffset, dict.src.byteLength);
        }
        this.dict = dict;
        continue;
      }
      let page: Uint8Array;
      let pos = 0;
      let count: number;
      let encoding: string;
      let defs: Uint8Array | null = null;
      if (h.type === "DATA_PAGE") {
        ({ num_values: count, encoding } = h.data_page_header!);
        page = decompress(raw, h.uncompressed_page_size, this.codec, this.scratch);
        if (plan.optional) {
          if (page.length < 4) throw new Error("parquet page too short");
          const len = (page[0]! | (page[1]! << 8) | (page[2]! << 16) | (page[3]! << 24)) >>> 0;
          pos = 4 + len;
          if (pos > page.length) throw new Error("parquet definition levels run past the page");
          defs = this.levels(page, 4, pos, count);
        }
      } else {
        const dp = h.data_page_header_v2!;
        ({ num_values: count, encoding } = dp);
        const dl = dp.definition_levels_byte_length;
        if (plan.optional) defs = this.levels(raw, 0, dl, count);
        const body = raw.subarray(dl);
        page = dp.is_compressed === false ? body : decompress(body, h.uncompressed_page_size - dl, this.codec, this.scratch);
      }
      this.reset(count, h.uncompressed_page_size);
      // (the per-row loops live in small functions: they get optimized sooner than this one)
      const present = defs ? countOnes(defs, count) : count;
      if (present === count) defs = null;
      if (defs) {
        this.nullCount = count - present;
        validityOf(this.validity, 0, defs, count);
      } else {
        setBits(this.validity, 0, count);
      }
      if (present === 0) {
        this.put(count, defs, EMPTY[kind], null, 0);
      } else if (encoding === "PLAIN_DICTIONARY" || encoding === "RLE_DICTIONARY") {
        const dict = this.dict!;
        if (pos >= page.length) throw new Error("parquet page too short");
        const width = page[pos]!;
        if (width > 32) throw new Error("parquet dictionary index width out of range");
        const idx = this.scratch.idx(present);
        readHybrid(page, pos + 1, page.length, width, idx, 0, present);
        if (!indexesBelow(idx, present, dict.n)) throw new Error("parquet dictionary index out of range");
        this.put(count, defs, dict, idx, present);
      } else if (encoding === "PLAIN") {
        if (!defs && typeof kind === "number" && plan.conv === "raw" && (plan.phys === "INT64" || plan.phys === "INT32" || plan.phys === "DOUBLE")) {
          // values already in Arrow form: straight copy
          if (pos + count * kind > page.length) throw new Error("parquet page is shorter than its values");
          this.fixed.set(page.subarray(pos, pos + count * kind), 0);
        } else {
          this.put(count, defs, plainDense(page, pos, present, plan, kind), null, present);
        }
      } else {
        // RLE booleans (scanPages lets nothing else through)
        if (pos + 4 > page.length) throw new Error("parquet page too short");
        const v = new Uint8Array(present);
        readHybrid(page, pos + 4, page.length, 1, v, 0, present);
        this.put(count, defs, { kind: "bool", v, n: present }, null, present);
      }
      return {
        length: count,
        nullCount: this.nullCount,
        validity: this.nullCount ? this.validity : null,
        values: kind === "utf8" ? this.text.subarray(0, this.pos) : typeof kind === "number" ? this.fixed.subarray(0, count * kind) : this.fixed.subarray(0, (count >> 3) + 1),
        offsets: this.offsets,
      };
    }
    return null;
  }

  /** Clears (or grows) the slab buffers for a page of `rows` rows. */
  private reset(rows: number, textHint: number): void {
    const k = this.kind;
    if (rows > this.cap) {
      // an eighth more: the pages of later row groups are often a few rows longer (a first read grew three times per column)
      const cap = (this.cap = roomFor(rows));
      this.validity = new Uint8Array((cap >> 3) + 1);
      this.fixed = new Uint8Array(typeof k === "number" ? cap * k : k === "bool" ? (cap >> 3) + 1 : 0);
      this.i32 = new Int32Array(this.fixed.buffer, 0, this.fixed.length >> 2);
      this.offsets = k === "utf8" ? new Int32Array(cap + 1) : null;
    } else {
      this.validity.fill(0, 0, (rows >> 3) + 1);
      this.fixed.fill(0, 0, typeof k === "number" ? rows * k : k === "bool" ? (rows >> 3) + 1 : 0);
    }
    if (k === "utf8" && this.text.length < textHint) this.text = new Uint8Array(Math.max(1024, Math.min(textHint, 1 << 30)));
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
    const defs = this.scratch.defs(count);
    readHybrid(buf, from, to, 1, defs, 0, count);
    return defs;
  }

  private room(n: number): void {
    if (this.pos + n <= this.text.length) return;
    if (this.pos + n > 0x7fffffff) throw new Error("a text column holds more than 2 GiB in one page");
    const bigger = new Uint8Array(Math.min(0x7fffffff, Math.max(this.text.length * 2, this.pos + n)));
    bigger.set(this.text.subarray(0, this.pos));
    this.text = bigger;
  }

  /**
   * Values of the page's `count` rows: `defs` (1 = present, null = all present) and the
   * present values, either `d` in order or d[idx[k]] for dictionary pages.
   */
  private put(count: number, defs: Uint8Array | null, d: Dense, idx: Int32Array | null, present: number): void {
    if (!idx && d.n < present) throw new Error("parquet page has fewer values than rows");
    switch (d.kind) {
      case 8: put8(this.i32, 0, count, defs, d.v, idx); break;
      case 4: put4(this.i32, 0, count, defs, d.v, idx); break;
      case "bool": putBool(this.fixed, 0, count, defs, d.v, idx); break;
      case "utf8": {
        const lens = d.lens;
        if (!idx) this.room(d.total);
        else if (present * d.maxLen <= 1 << 24) this.room(present * d.maxLen);
        else {
          let need = 0;
          for (let k = 0; k < present; k++) need += lens[idx[k]!]!;
          this.room(need);
        }
        this.pos = idx && d.words
          ? putWords(this.text, new DataView(this.text.buffer, this.text.byteOffset, this.text.byteLength), this.pos, this.offsets!, 0, count, defs, d.src, d.words, d.starts, lens, idx)
          : putUtf8(this.text, this.pos, this.offsets!, 0, count, defs, d.src, d.starts, lens, idx);
        break;
      }
    }
  }
}

/** Rows of a whole column chunk through the fast decoder (tests and the micro bench); throws when it would be left to hyparquet. */
export function decodeChunk(buf: Uint8Array, meta: ColumnMetaData, plan: FastPlan, kind: SlabKind, rows: number, dec = new ChunkDecoder(plan, kind)): number {
  if (!dec.begin(buf, meta, rows)) throw new Error(`column ${meta.path_in_schema.join(".")} is left to hyparquet`);
  let n = 0;
  for (let s = dec.next(); s; s = dec.next()) n += s.length;
  if (n !== rows) throw new Error(`decoded ${n} rows of ${rows}`);
  return n;
}
