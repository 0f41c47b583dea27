import { AppError } from "@dsb/contracts";

/** How a delimited file is written; found by the sniffer. */
export interface Dialect {
  delimiter: string;
  /** null when fields are never quoted. */
  quote: string | null;
  /** "double": `""` inside quotes is one quote; "backslash": `\"` and `\\`. */
  escape: "double" | "backslash";
}

/**
 * Receives each row. `fields` is reused between rows: only the first `count`
 * entries belong to this row, and the array must be copied if kept.
 * `line` is the physical (1-based) line the row starts on, counting newlines inside quotes.
 */
export type RowSink = (fields: string[], count: number, line: number) => void;

export const LF = 10;
export const CR = 13;
export const BACKSLASH = 92;
/** A single row longer than this (chars or bytes) means an unbalanced quote swallowed the file; refuse instead of buffering it all. */
export const MAX_ROW = 64 * 1024 * 1024;

export const unclosedQuote = (line: number): AppError =>
  new AppError(
    "PARSE_FAILED",
    `Line ${line} has a quoted field that is never closed. Add the closing quote or escape the quote character inside the field`,
  );

/**
 * Streaming state machine over decoded text chunks. Only complete rows are
 * emitted; an incomplete tail is carried to the next `push` (so a chunk may
 * end anywhere, even inside a quoted field or between CR and LF).
 * Blank lines are skipped.
 */
export class RowParser {
  private leftover = "";
  /** Physical line number where the next row starts. */
  private line = 1;
  private readonly fields: string[] = [];
  private readonly delim: number;
  private readonly delimStr: string;
  private readonly quoteStr: string;
  private readonly quote: number;
  private readonly backslash: boolean;

  constructor(dialect: Dialect, private readonly sink: RowSink) {
    this.delim = dialect.delimiter.charCodeAt(0);
    this.delimStr = dialect.delimiter;
    this.quoteStr = dialect.quote ?? "";
    this.quote = dialect.quote === null ? -1 : dialect.quote.charCodeAt(0);
    this.backslash = dialect.escape === "backslash";
  }

  /** Lines consumed so far (for messages about the end of the file). */
  get currentLine(): number {
    return this.line;
  }

  push(chunk: string, final: boolean): void {
    const buf = this.leftover.length > 0 ? this.leftover + chunk : chunk;
    this.leftover = "";
    const len = buf.length;
    const D = this.delim;
    const Q = this.quote;
    const bs = this.backslash;
    const fields = this.fields;
    let i = 0;
    let rowStart = 0;
    let incomplete = false;
    const dStr = this.delimStr;
    const qStr = this.quoteStr;
    let nextD = -1;
    let nextLf = -1;
    let nextCr = -1;

    rows: while (i < len) {
      rowStart = i;
      let c = buf.charCodeAt(i);
      if (c === LF || c === CR) {
        // Blank line: skip it (a CR at the very end may still pair with an LF of the next chunk).
        if (c === CR) {
          if (i + 1 >= len && !final) { incomplete = true; break; }
          i += buf.charCodeAt(i + 1) === LF ? 2 : 1;
        } else i++;
        this.line++;
        continue;
      }
      let n = 0;
      let lineAdd = 0;
      for (;;) {
        if (i >= len) {
          // EOF right after a delimiter: the row ends with an empty field.
          if (!final) { incomplete = true; break rows; }
          fields[n++] = "";
          this.sink(fields, n, this.line);
          this.line += lineAdd;
          break rows;
        }
        c = buf.charCodeAt(i);
        if (c === Q) {
          let j = i + 1;
          let seg = j;
          let value = "";
          // Doubled-quote escaping (the common case): jump from quote to quote with indexOf.
          while (!bs) {
            const q = buf.indexOf(qStr, j);
            if (q < 0) {
              if (!final) { incomplete = true; break rows; }
              throw unclosedQuote(this.line);
            }
            if (nextLf < j) { nextLf = buf.indexOf("\n", j); if (nextLf < 0) nextLf = len; }
            while (nextLf < q) {
              lineAdd++;
              nextLf = buf.indexOf("\n", nextLf + 1);
              if (nextLf < 0) nextLf = len;
            }
            if (nextCr < j) { nextCr = buf.indexOf("\r", j); if (nextCr < 0) nextCr = len; }
            while (nextCr < q) {
              if (buf.charCodeAt(nextCr + 1) !== LF) lineAdd++;
              nextCr = buf.indexOf("\r", nextCr + 1);
              if (nextCr < 0) nextCr = len;
            }
            if (q + 1 >= len && !final) { incomplete = true; break rows; }
            if (buf.charCodeAt(q + 1) === Q) {
              value += buf.slice(seg, q + 1);
              j = q + 2;
              seg = j;
              continue;
            }
            value += buf.slice(seg, q);
            j = q + 1;
            break;
          }
          while (bs) {
            if (j >= len) {
              if (!final) { incomplete = true; break rows; }
              throw unclosedQuote(this.line);
            }
            const cc = buf.charCodeAt(j);
            if (cc === Q) {
              value += buf.slice(seg, j);
              j++;
              break;
            }
            if (cc === BACKSLASH) {
              if (j + 1 >= len && !final) { incomplete = true; break rows; }
              value += buf.slice(seg, j);
              const next = buf.charCodeAt(j + 1);
              if (next === LF || (next === CR && buf.charCodeAt(j + 2) !== LF)) lineAdd++;
              seg = j + 1;
              j += 2;
              continue;
            }
            if (cc === LF) lineAdd++;
            else if (cc === CR) {
              if (j + 1 >= len && !final) { incomplete = true; break rows; }
              if (buf.charCodeAt(j + 1) !== LF) lineAdd++;
            }
            j++;
          }
          i = j;
          if (i >= len && !final) { incomplete = true; break rows; }
          if (i < len) {
            c = buf.charCodeAt(i);
            if (c !== D && c !== LF && c !== CR) {
              // Text after the closing quote (`"a"b`): keep it rather than fail, as lenient readers do.
              let k = i;
              while (k < len) {
                const kc = buf.charCodeAt(k);
                if (kc === D || kc === LF || kc === CR) break;
                k++;
              }
              if (k >= len && !final) { incomplete = true; break rows; }
              value += buf.slice(i, k);
              i = k;
            }
          }
          fields[n++] = value;
        } else {
          // indexOf scans much faster than a charCodeAt loop; the next positions are cached until passed.
          if (nextD < i) { nextD = buf.indexOf(dStr, i); if (nextD < 0) nextD = len; }
          if (nextLf < i) { nextLf = buf.indexOf("\n", i); if (nextLf < 0) nextLf = len; }
          if (nextCr < i) { nextCr = buf.indexOf("\r", i); if (nextCr < 0) nextCr = len; }
          let j = nextD < nextLf ? nextD : nextLf;
          if (nextCr < j) j = nextCr;
          if (j >= len && !final) { incomplete = true; break rows; }
          fields[n++] = buf.slice(i, j);
          i = j;
        }
        if (i >= len) {
          this.sink(fields, n, this.line);
          this.line += lineAdd;
          break rows;
        }
        c = buf.charCodeAt(i);
        if (c === D) {
          i++;
          continue;
        }
        if (c === CR) {
          if (i + 1 >= len && !final) { incomplete = true; break rows; }
          i += buf.charCodeAt(i + 1) === LF ? 2 : 1;
        } else i++;
        this.sink(fields, n, this.line);
        this.line += lineAdd + 1;
        break;
      }
    }

    if (incomplete) {
      if (len - rowStart > MAX_ROW) {
        throw rowTooLong(this.line);
      }
      this.leftover = buf.slice(rowStart);
    }
  }
}

/** A row still open after 64 MB: almost always a quote that is never closed. */
export const rowTooLong = (line: number): AppError => new AppError(
  "PARSE_FAILED",
  `Line ${line} starts a row longer than 64 MB, which usually means a quote is never closed. Check the quotes on that line`,
);
