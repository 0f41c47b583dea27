import { AppError } from "@dsb/contracts";

/** How a delimited file is written; found by the sniffer. */
export interface Dialect {
  delimiter: string;
  /** null when fields are never quoted. */
  quote: string | null;
  /** "double": `""` inside quotes is one quote; "backslash": `\"` and `\\`. */
  escape: "double" | "backslash";
}

const LF = 10;
const CR = 13;
const BACKSLASH = 92;
/** A single row longer than this (bytes) means an unbalanced quote swallowed the file; refuse instead of buffering it all. */
const MAX_ROW = 64 * 1024 * 1024;

const unclosedQuote = (line: number): AppError =>
  new AppError(
    "PARSE_FAILED",
    `Line ${line} has a quoted field that is never closed. Add the closing quote or escape the quote character inside the field`,
  );

/** A row still open after 64 MB: almost always a quote that is never closed. */
const rowTooLong = (line: number): AppError => new AppError(
  "PARSE_FAILED",
  `Line ${line} starts a row longer than 64 MB, which usually means a quote is never closed. Check the quotes on that line`,
);

/**
 * The fields of one row as byte ranges. Field k is `start[k]..end[k]` of `buf`,
 * or of `scratch` when `inScratch[k]` is 1 (quoted fields whose escapes had to be
 * removed). Everything is reused between rows: copy what must be kept.
 */
export interface ByteFields {
  buf: Buffer;
  scratch: Buffer;
  start: Int32Array;
  end: Int32Array;
  inScratch: Uint8Array;
}

/** Receives each row: `count` fields of `f`; `line` is the physical (1-based) line the row starts on. */
export type ByteRowSink = (f: ByteFields, count: number, line: number) => void;


export const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Field k of a row as text (UTF-8). */
export function fieldText(f: ByteFields, k: number): string {
  return (f.inScratch[k] ? f.scratch : f.buf).toString("utf8", f.start[k], f.end[k]);
}

/**
 * The streaming state machine of the delimited-text reader (and of the dialect
 * sniffer), over UTF-8 bytes, so typed fields are read without building a
 * string per value and text fields are copied into Arrow buffers as they are.
 * Only complete rows are emitted; an incomplete tail is carried to the next
 * `push` (so a chunk may end anywhere, even inside a quoted field or between CR
 * and LF); blank lines are skipped; lines are physical (newlines inside quotes count).
 * Delimiter and quote must be ASCII (the sniffer only picks ASCII ones).
 */
export class ByteRowParser {
  /** Holds the incomplete row of the last push (its first `kept` bytes) and the chunk appended to it. */
  private work: Buffer = Buffer.allocUnsafe(64 * 1024);
  private kept = 0;
  private line = 1;
  private start = new Int32Array(64);
  private end = new Int32Array(64);
  private inScratch = new Uint8Array(64);
  private scratch = Buffer.allocUnsafe(4096);
  private readonly delim: number;
  private readonly quote: number;
  private readonly backslash: boolean;
  /** Whether any field so far began with the quote (a quote-less file parses the same with or without one). */
  sawQuote = false;

  constructor(dialect: Dialect, private readonly sink: ByteRowSink) {
    this.delim = dialect.delimiter.charCodeAt(0);
    this.quote = dialect.quote === null ? -1 : dialect.quote.charCodeAt(0);
    this.backslash = dialect.escape === "backslash";
  }

  /** Lines consumed so far. */
  get currentLine(): number {
    return this.line;
  }

  private grow(n: number): void {
    const size = Math.max(n + 1, this.start.length * 2);
    const s = new Int32Array(size); s.set(this.start); this.start = s;
    const e = new Int32Array(size); e.set(this.end); this.end = e;
    const q = new Uint8Array(size); q.set(this.inScratch); this.inScratch = q;
  }

  /** A bigger buffer with the first `keep` bytes of `b`. */
  private grown(b: Buffer, keep: number, need: number): Buffer {
    const bigger = Buffer.allocUnsafe(Math.max(need, b.length * 2));
    b.copy(bigger, 0, 0, keep);
    return bigger;
  }

  /** Appends buf[a..b) to the scratch buffer at `pos`; returns the new position. */
  private toScratch(buf: Buffer, a: number, b: number, pos: number): number {
    const need = pos + (b - a);
    if (need > this.scratch.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.scratch.length * 2));
      this.scratch.copy(bigger, 0, 0, pos);
      this.scratch = bigger;
    }
    buf.copy(this.scratch, pos, a, b);
    return need;
  }

  push(chunk: Uint8Array, final: boolean): void {
    let buf: Buffer;
    if (this.kept > 0) {
      // The incomplete row kept from the last push sits at the start of `work`: append the chunk behind it.
      const need = this.kept + chunk.length;
      if (this.work.length < need) this.work = this.grown(this.work, this.kept, need);
      this.work.set(chunk, this.kept);
      buf = this.work.subarray(0, need);
    } else buf = asBuffer(chunk);
    this.kept = 0;
    const len = buf.length;
    const D = this.delim;
    const Q = this.quote;
    const bs = this.backslash;
    // Most bytes (digits, letters, UTF-8) are above the delimiter, LF and CR: one comparison passes them.
    const above = Math.max(D, LF, CR);
    let i = 0;
    let rowStart = 0;
    let incomplete = false;
    const view: ByteFields = { buf, scratch: this.scratch, start: this.start, end: this.end, inScratch: this.inScratch };

    rows: while (i < len) {
      rowStart = i;
      let c = buf[i]!;
      if (c === LF || c === CR) {
        // Blank line: skip it (a CR at the very end may still pair with an LF of the next chunk).
        if (c === CR) {
          if (i + 1 >= len && !final) { incomplete = true; break; }
          i += buf[i + 1] === LF ? 2 : 1;
        } else i++;
        this.line++;
        continue;
      }
      let n = 0;
      let lineAdd = 0;
      let spos = 0;
      for (;;) {
        if (n >= this.start.length) this.grow(n);
        if (i >= len) {
          // EOF right after a delimiter: the row ends with an empty field.
          if (!final) { incomplete = true; break rows; }
          this.start[n] = i; this.end[n] = i; this.inScratch[n] = 0; n++;
          this.emit(view, n, this.line);
          this.line += lineAdd;
          break rows;
        }
        c = buf[i]!;
        if (c === Q) {
          this.sawQuote = true;
          let j = i + 1;
          const first = j;
          let seg = j;
          let escaped = false;
          let fieldStart = 0;
          let fieldEnd = 0;
          if (!bs) {
            // Doubled-quote escaping (the common case).
            for (;;) {
              let q = j;
              while (q < len) {
                const cc = buf[q]!;
                if (cc === Q) break;
                if (cc === LF) lineAdd++;
                else if (cc === CR && buf[q + 1] !== LF) lineAdd++;
                q++;
              }
              if (q >= len) {
                if (!final) { incomplete = true; break rows; }
                throw unclosedQuote(this.line);
              }
              if (q + 1 >= len && !final) { incomplete = true; break rows; }
              if (buf[q + 1] === Q) {
                if (!escaped) { escaped = true; fieldStart = spos; }
                spos = this.toScratch(buf, seg, q + 1, spos);
                j = q + 2;
                seg = j;
                continue;
              }
              if (escaped) spos = this.toScratch(buf, seg, q, spos);
              else { fieldStart = first; fieldEnd = q; }
              j = q + 1;
              break;
            }
          } else {
            for (;;) {
              if (j >= len) {
                if (!final) { incomplete = true; break rows; }
                throw unclosedQuote(this.line);
              }
              const cc = buf[j]!;
              if (cc === Q) {
                if (escaped) spos = this.toScratch(buf, seg, j, spos);
                else { fieldStart = first; fieldEnd = j; }
                j++;
                break;
              }
              if (cc === BACKSLASH) {
                if (j + 1 >= len && !final) { incomplete = true; break rows; }
                if (!escaped) { escaped = true; fieldStart = spos; }
                spos = this.toScratch(buf, seg, j, spos);
                const next = buf[j + 1];
                if (next === LF || (next === CR && buf[j + 2] !== LF)) lineAdd++;
                seg = j + 1;
                j += 2;
                continue;
              }
              if (cc === LF) lineAdd++;
              else if (cc === CR) {
                if (j + 1 >= len && !final) { incomplete = true; break rows; }
                if (buf[j + 1] !== LF) lineAdd++;
              }
              j++;
            }
          }
          i = j;
          if (i >= len && !final) { incomplete = true; break rows; }
          if (i < len) {
            c = buf[i]!;
            if (c !== D && c !== LF && c !== CR) {
              // Text after the closing quote (`"a"b`): keep it rather than fail, as lenient readers do.
              let k = i;
              while (k < len) {
                const kc = buf[k]!;
                if (kc === D || kc === LF || kc === CR) break;
                k++;
              }
              if (k >= len && !final) { incomplete = true; break rows; }
              if (!escaped) {
                escaped = true;
                fieldStart = spos;
                spos = this.toScratch(buf, first, fieldEnd, spos);
              }
              spos = this.toScratch(buf, i, k, spos);
              i = k;
            }
          }
          if (escaped) {
            this.start[n] = fieldStart; this.end[n] = spos; this.inScratch[n] = 1;
          } else {
            this.start[n] = fieldStart; this.end[n] = fieldEnd; this.inScratch[n] = 0;
          }
          n++;
        } else {
          let j = i;
          while (j < len) {
            const cc = buf[j]!;
            if (cc > above) { j++; continue; }
            if (cc === D || cc === LF || cc === CR) break;
            j++;
          }
          if (j >= len && !final) { incomplete = true; break rows; }
          this.start[n] = i; this.end[n] = j; this.inScratch[n] = 0; n++;
          i = j;
        }
        if (i >= len) {
          this.emit(view, n, this.line);
          this.line += lineAdd;
          break rows;
        }
        c = buf[i]!;
        if (c === D) {
          i++;
          continue;
        }
        if (c === CR) {
          if (i + 1 >= len && !final) { incomplete = true; break rows; }
          i += buf[i + 1] === LF ? 2 : 1;
        } else i++;
        this.emit(view, n, this.line);
        this.line += lineAdd + 1;
        break;
      }
    }

    if (incomplete) {
      if (len - rowStart > MAX_ROW) {
        throw rowTooLong(this.line);
      }
      // Kept in our own buffer: the caller may reuse its chunk, and a fresh buffer per push would only feed the GC.
      const n = len - rowStart;
      if (buf.buffer === this.work.buffer && buf.byteOffset === this.work.byteOffset) this.work.copyWithin(0, rowStart, len);
      else {
        if (this.work.length < n) this.work = Buffer.allocUnsafe(Math.max(n, this.work.length * 2));
        buf.copy(this.work, 0, rowStart, len);
      }
      this.kept = n;
    }
  }

  private emit(view: ByteFields, n: number, line: number): void {
    // The arrays may have grown (wide rows) or the scratch moved during this row.
    view.start = this.start;
    view.end = this.end;
    view.inScratch = this.inScratch;
    view.scratch = this.scratch;
    this.sink(view, n, line);
  }
}
