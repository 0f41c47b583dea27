import { stat } from "node:fs/promises";
import { AppError } from "@dsb/contracts";
import type { ParsedColumn, ParsedTable, StartOver } from "../../dataset/table.ts";
import { ByteRowParser, fieldText, type ByteFields } from "./byte-parser.ts";
import {
  BOOL_CLASS, ISO_DATE_CLASS, ISO_TS_CLASS, SHORT_DECIMAL_CLASS, SMALL_INT_CLASS,
  boolWord, byteConverterFor, converterFor, int32Columns, isoDay, isoSeconds, shortDecimal, smallInt,
} from "./convert.ts";
import { BatchPool, type ColumnBuilder } from "../../dataset/columns.ts";
import {
  type TextEncodingName, bomEncoding, bomlessUtf16, fileChunks, isUtf8Slice, utf8Bytes,
} from "./encoding.ts";
import { columnNames, detectHeader } from "./header.ts";
import { NUMERIC, T_ALL, T_BOOL, T_DATE_ISO, T_DOUBLE, T_INT, T_TS_ISO, classify, classifyBytes, formatToType, isNullBytes, isNullMarker, pickFormat } from "./infer.ts";
import type { Dialect } from "./byte-parser.ts";
import {
  HEAD_SAMPLE_BYTES, SLICE_SAMPLE_BYTES, type ReadAt, type SniffResult, fileReader, readSamples, slicePositions, sniffDialect,
} from "./sniff.ts";

/** Rows per batch yielded by `rows()`. */
export const CSV_BATCH_ROWS = 8192;

/** What the first pass learned about the whole file. */
export interface CsvInference {
  encoding: TextEncodingName;
  dialect: Dialect;
  hasHeader: boolean;
  columns: ParsedColumn[];
  /** Leading one-field lines (titles, comments) skipped before the first row. */
  skipRows: number;
  /** Format bit of infer.ts per column (0 = string). */
  formats: number[];
  rowCount: number;
}

const emptyFile = (): AppError => new AppError("PARSE_FAILED", "The file is empty. Upload a file with a header row and data rows");

function raggedRow(line: number, got: number, want: number, header: boolean): AppError {
  return new AppError(
    "PARSE_FAILED",
    `Line ${line} has ${got} fields but the ${header ? "header" : "first row"} has ${want}. Fix the row or quote fields that contain the delimiter`,
    { details: { line, fields: got, expected: want } },
  );
}

const isDecodeError = (e: unknown): boolean => (e as { code?: unknown } | null)?.code === "ERR_ENCODING_INVALID_ENCODED_DATA";

/** What the first 64 KiB say: a BOM, UTF-16 zero bytes, invalid UTF-8 (windows-1252), else UTF-8 so far. */
function headEncoding(bytes: Uint8Array): TextEncodingName {
  const head = bytes.subarray(0, 64 * 1024);
  const fromBom = bomEncoding(head) ?? bomlessUtf16(head);
  if (fromBom !== null) return fromBom;
  return isUtf8Slice(head, false) ? "utf-8" : "windows-1252";
}

/** Encoding from the BOM, zero-byte pattern, or a UTF-8 validity check of the head, middle and end. */
async function detectEncoding(read: ReadAt, size: number): Promise<TextEncodingName> {
  const fromHead = headEncoding(await read(0, ENCODING_SAMPLE_BYTES));
  if (fromHead !== "utf-8") return fromHead;
  for (const pos of encodingSlices(size)) {
    if (!isUtf8Slice(await read(pos, ENCODING_SAMPLE_BYTES), true)) return "windows-1252";
  }
  return "utf-8";
}

const ENCODING_SAMPLE_BYTES = 64 * 1024;
/** Where detectEncoding checks UTF-8 past the head: the middle and the end. */
const encodingSlices = (size: number): number[] =>
  [0.5, 1].map((at) => Math.max(0, Math.floor(size * at) - ENCODING_SAMPLE_BYTES)).filter((pos) => pos > 0);

/** Leading lines with a single field ("Report of May", "# exported by X") are skipped when rows have several; at most this many. */
const MAX_PREAMBLE_ROWS = 20;

const rowTexts = (f: ByteFields, n: number): string[] => {
  const out = new Array<string>(n);
  for (let k = 0; k < n; k++) out[k] = fieldText(f, k);
  return out;
};

/** Row-by-row state of the inference: the first row, preamble lines skipped, and per column the type mask, whether a value was seen, whether a null was. */
class Inference {
  first: string[] | null = null;
  skipRows = 0;
  ncol = 0;
  masks = new Int32Array(0);
  seen = new Uint8Array(0);
  nulls = new Uint8Array(0);
  rows = 0;

  constructor(private readonly sniffed: SniffResult, private readonly cellLimit: number) {}

  /** Takes preamble lines and the first row; for a data row checks its width and the cell cap and returns true. */
  dataRow(f: ByteFields, n: number, line: number): boolean {
    if (this.first === null) {
      if (n === 1 && this.sniffed.fields > 1 && this.skipRows < MAX_PREAMBLE_ROWS) {
        this.skipRows++;
        return false;
      }
      this.first = rowTexts(f, n);
      this.ncol = n;
      this.masks = new Int32Array(n).fill(T_ALL);
      this.seen = new Uint8Array(n);
      this.nulls = new Uint8Array(n);
      return false;
    }
    if (n !== this.ncol) throw raggedRow(line, n, this.ncol, detectHeader(this.first, this.masks, this.seen));
    this.rows++;
    if ((this.rows + 1) * this.ncol > this.cellLimit) {
      throw new AppError("PARSE_FAILED", `The file has more than ${this.cellLimit} cells, the most one upload may have. Split it into smaller files`);
    }
    return true;
  }

  /** Classifies fields `from`..n-1 of a data row. */
  classify(f: ByteFields, from: number, n: number): void {
    const { buf, scratch, start, end, inScratch } = f;
    const { masks, seen, nulls } = this;
    for (let k = from; k < n; k++) {
      const b = inScratch[k] ? scratch : buf;
      const s = start[k]!;
      const e = end[k]!;
      if (isNullBytes(b, s, e)) {
        nulls[k] = 1;
        continue;
      }
      seen[k] = 1;
      const m = masks[k]!;
      if (m !== 0) masks[k] = m & classifyBytes(b, s, e, m);
    }
  }

  /** The header decision and column types once every row was seen (call once). */
  finish(encoding: TextEncodingName, dialect: Dialect): CsvInference {
    const { masks, seen, nulls, ncol } = this;
    const head = this.first;
    if (head === null) throw emptyFile();
    const hasHeader = detectHeader(head, masks, seen);
    if (!hasHeader) {
      this.rows++;
      for (let k = 0; k < ncol; k++) {
        const v = head[k]!;
        if (isNullMarker(v)) nulls[k] = 1;
        else {
          seen[k] = 1;
          masks[k] = masks[k]! & classify(v, masks[k]!);
        }
      }
    }
    const names = columnNames(hasHeader ? head : null, ncol);
    const formats = names.map((_, k) => (seen[k] ? pickFormat(masks[k]!) : 0));
    const columns = names.map((name, k) => ({ name, type: formatToType(formats[k]!), nullable: nulls[k] === 1 }));
    return { encoding, dialect, hasHeader, skipRows: this.skipRows, columns, formats, rowCount: this.rows };
  }
}

/**
 * Pass 1: every row is parsed and every value classified, so a late contradicting value widens its column.
 * `partial` reads a prefix of the file: only its complete rows count.
 */
async function inferPass(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, encoding: TextEncodingName, sniffed: SniffResult, maxCells: number | undefined, partial = false,
): Promise<CsvInference> {
  const st = new Inference(sniffed, maxCells ?? Number.POSITIVE_INFINITY);
  const parser = new ByteRowParser(sniffed.dialect, (f, n, line) => {
    if (st.dataRow(f, n, line)) st.classify(f, 0, n);
  });
  // Only UTF-8 can be invalid; the caller retries as windows-1252 on a decode error.
  for await (const chunk of utf8Bytes(source, encoding, encoding === "utf-8" && !partial)) parser.push(chunk, false);
  if (!partial) parser.push(new Uint8Array(0), true);
  return st.finish(encoding, sniffed.dialect);
}

/** Encoding and dialect of a file, from its head and slices of its middle and end. */
async function sniffCsv(path: string): Promise<{ size: number; encoding: TextEncodingName; sniffed: SniffResult }> {
  const { size } = await stat(path);
  if (size === 0) throw emptyFile();
  const read = fileReader(path);
  const encoding = await detectEncoding(read, size);
  const sniffed = sniffDialect(await readSamples(read, size, encoding));
  return { size, encoding, sniffed };
}

/** Pass 1 over the whole file, retried as windows-1252 when UTF-8 turns out invalid past the sampled places. */
async function inferWhole(path: string, encoding: TextEncodingName, sniffed: SniffResult, maxCells: number | undefined): Promise<CsvInference> {
  try {
    return await inferPass(fileChunks(path), encoding, sniffed, maxCells);
  } catch (e) {
    // Invalid UTF-8 past the sampled places: the file is a single-byte encoding after all.
    if (encoding === "utf-8" && isDecodeError(e)) return inferPass(fileChunks(path), "windows-1252", sniffed, maxCells);
    throw e;
  }
}

/** Sniffs and infers the whole file (pass 1). Exported for tests and the benchmark. */
export async function inferCsv(path: string, maxCells?: number): Promise<CsvInference> {
  const { encoding, sniffed } = await sniffCsv(path);
  return inferWhole(path, encoding, sniffed, maxCells);
}

/** Pass 2: converts rows to the inferred types, in batches of CSV_BATCH_ROWS. */
export async function* convertedRows(path: string, inf: CsvInference): AsyncGenerator<unknown[][]> {
  const ncol = inf.columns.length;
  const convert = inf.formats.map(converterFor);
  let skip = inf.skipRows + (inf.hasHeader ? 1 : 0);
  let batch: unknown[][] = [];
  const ready: unknown[][][] = [];
  const parser = new ByteRowParser(inf.dialect, (f, n, line) => {
    if (skip > 0) {
      skip--;
      return;
    }
    if (n !== ncol) throw raggedRow(line, n, ncol, inf.hasHeader);
    const row = new Array<unknown>(ncol);
    const { buf, scratch, start, end, inScratch } = f;
    for (let k = 0; k < ncol; k++) {
      const src = inScratch[k] ? scratch : buf;
      const s = start[k]!;
      const e = end[k]!;
      row[k] = isNullBytes(src, s, e) ? null : convert[k]!(src, s, e);
    }
    batch.push(row);
    if (batch.length >= CSV_BATCH_ROWS) {
      ready.push(batch);
      batch = [];
    }
  });
  for await (const chunk of utf8Bytes(fileChunks(path), inf.encoding, false)) {
    parser.push(chunk, false);
    while (ready.length > 0) yield ready.shift()!;
  }
  parser.push(new Uint8Array(0), true);
  while (ready.length > 0) yield ready.shift()!;
  if (batch.length > 0) yield batch;
}

/** Pass 2 for the dataset writer: fields converted straight from their bytes into Arrow builders, `batchRows` rows per batch. */
export async function* columnarBatches(source: AsyncIterable<Uint8Array>, inf: CsvInference, batchRows: number): AsyncGenerator<ColumnBuilder[]> {
  const ncol = inf.columns.length;
  const types = inf.columns.map((c) => c.type);
  const convert = inf.formats.map((f, k) => byteConverterFor(f, types[k]!));
  let skip = inf.skipRows + (inf.hasHeader ? 1 : 0);
  const pool = new BatchPool(types, batchRows, int32Columns(inf.formats));
  let b = pool.take();
  const ready: ColumnBuilder[][] = [];
  const parser = new ByteRowParser(inf.dialect, (f, n, line) => {
    if (skip > 0) {
      skip--;
      return;
    }
    if (n !== ncol) throw raggedRow(line, n, ncol, inf.hasHeader);
    const { buf, scratch, start, end, inScratch } = f;
    for (let k = 0; k < ncol; k++) {
      const src = inScratch[k] ? scratch : buf;
      const s = start[k]!;
      const e = end[k]!;
      if (isNullBytes(src, s, e)) b[k]!.push(null);
      else convert[k]!(src, s, e, b[k]!);
    }
    if (b[0]!.full) {
      ready.push(b);
      b = pool.take();
    }
  });
  const flush = () => pool.handOut(ready);
  for await (const chunk of utf8Bytes(source, inf.encoding, false)) {
    parser.push(chunk, false);
    yield* flush();
  }
  parser.push(new Uint8Array(0), true);
  yield* flush();
  if (b[0]!.length > 0) yield b;
}

/** How much of the file the single-pass reader infers its guess from. */
export const GUESS_BYTES = 1024 * 1024;

const sameInference = (a: CsvInference, b: CsvInference): boolean =>
  a.hasHeader === b.hasHeader && a.skipRows === b.skipRows && a.encoding === b.encoding &&
  a.formats.length === b.formats.length && a.formats.every((f, k) => f === b.formats[k]);

/** The two-pass table of an exact inference: small files, and what a single pass starts over with. */
const exactTable = (path: string, name: string, inf: CsvInference): ParsedTable => ({
  name,
  columns: inf.columns,
  rowCount: inf.rowCount,
  rows: () => convertedRows(path, inf),
  columnar: (batchRows) => columnarBatches(fileChunks(path), inf, batchRows),
});

/** What the single pass starts from: a sniff and the types guessed from the first GUESS_BYTES. */
interface Guess {
  name: string;
  maxCells: number | undefined;
  encoding: TextEncodingName;
  sniffed: SniffResult;
  inference: CsvInference;
  /** The whole file, once. */
  chunks(): AsyncIterable<Uint8Array>;
  /**
   * After the pass (or a parse error in it): the exact table when the
   * whole-file sniff differs from `encoding`/`sniffed`, else null.
   * `sawQuote`: whether the pass met a field that began with the quote.
   */
  verify(sawQuote: boolean): Promise<ParsedTable | null>;
  /** The file on disk, for a reread. */
  local(): Promise<string>;
}

/**
 * The single pass of the dataset writer: every row is classified as in pass 1
 * (the same whole-file inference) and, at the same time, converted with the
 * types guessed from the first GUESS_BYTES. When the whole file confirms the
 * guess (the usual case) the batches already written are the dataset; when a
 * later value contradicts it, the writer is told to start again with the exact
 * two-pass table (it ends with a StartOver), so the result never depends on the guess.
 */
async function* guessedBatches(g: Guess, batchRows: number): AsyncGenerator<ColumnBuilder[], StartOver | void> {
  const guess = g.inference;
  const st = new Inference(g.sniffed, g.maxCells ?? Number.POSITIVE_INFINITY);
  const F = guess.formats;
  const types = guess.columns.map((c) => c.type);
  const convert = F.map((f, k) => byteConverterFor(f, types[k]!));
  let ok = true;
  const pool = new BatchPool(types, batchRows, int32Columns(F));
  let b = pool.take();
  const ready: ColumnBuilder[][] = [];
  const roll = () => {
    if (b[0]!.full) {
      ready.push(b);
      b = pool.take();
    }
  };
  const flush = () => pool.handOut(ready);
  /** The first row is data when the guess says so: converted from its text. */
  const firstRow = (first: string[]) => {
    if (first.length !== F.length) { ok = false; return; }
    if (guess.hasHeader) return;
    for (let k = 0; k < F.length; k++) {
      const v = first[k]!;
      if (isNullMarker(v)) { b[k]!.push(null); continue; }
      if (F[k] !== 0 && (classify(v, F[k]!) & F[k]!) === 0) { ok = false; return; }
      const bytes = Buffer.from(v);
      convert[k]!(bytes, 0, bytes.length, b[k]!);
    }
    roll();
  };
  const parser = new ByteRowParser(g.sniffed.dialect, (f, n, line) => {
    const hadFirst = st.first !== null;
    if (!st.dataRow(f, n, line)) {
      if (!hadFirst && st.first !== null && ok) firstRow(st.first);
      return;
    }
    if (!ok) { st.classify(f, 0, n); return; }
    const { buf, scratch, start, end, inScratch } = f;
    const { masks, seen, nulls } = st;
    for (let k = 0; k < n; k++) {
      const src = inScratch[k] ? scratch : buf;
      const s = start[k]!;
      const e = end[k]!;
      if (isNullBytes(src, s, e)) {
        nulls[k] = 1;
        b[k]!.push(null);
        continue;
      }
      seen[k] = 1;
      let m = masks[k]!;
      const fk = F[k]!;
      // The commonest shapes of numbers and ISO dates are classified and converted in one scan (see convert.ts).
      if ((m & ~NUMERIC) === 0) {
        if (fk === T_INT) {
          if (smallInt(src, s, e, b[k]!)) { masks[k] = m & SMALL_INT_CLASS; continue; }
        } else if (fk === T_DOUBLE) {
          if (shortDecimal(src, s, e, b[k]!)) { masks[k] = m & SHORT_DECIMAL_CLASS; continue; }
        }
      } else if (fk === T_DATE_ISO && (m & ~ISO_DATE_CLASS) === 0) {
        if (isoDay(src, s, e, b[k]!)) { masks[k] = m & ISO_DATE_CLASS; continue; }
      } else if (fk === T_TS_ISO && (m & ~ISO_TS_CLASS) === 0) {
        if (isoSeconds(src, s, e, b[k]!)) { masks[k] = m & ISO_TS_CLASS; continue; }
      } else if (fk === T_BOOL) {
        if (boolWord(src, s, e, b[k]!)) { masks[k] = m & BOOL_CLASS; continue; }
      }
      if (m !== 0) masks[k] = m = m & classifyBytes(src, s, e, m);
      if (fk !== 0 && (m & fk) === 0) {
        // The guess is wrong: only infer from here on.
        ok = false;
        st.classify(f, k + 1, n);
        return;
      }
      convert[k]!(src, s, e, b[k]!);
    }
    roll();
  });
  let inf: CsvInference;
  try {
    for await (const chunk of utf8Bytes(g.chunks(), g.encoding, g.encoding === "utf-8")) {
      parser.push(chunk, false);
      if (ok) yield* flush();
      else ready.length = 0;
    }
    parser.push(new Uint8Array(0), true);
    inf = st.finish(g.encoding, g.sniffed.dialect);
  } catch (e) {
    // What the parser found may come from a dialect the whole file does not have; a failed read stays a failed read.
    if (!(e instanceof AppError && e.code === "PARSE_FAILED") && !isDecodeError(e)) throw e;
    const exact = await g.verify(parser.sawQuote);
    if (exact) return { startOver: exact };
    if (!isDecodeError(e) || g.encoding !== "utf-8") throw e;
    // Invalid UTF-8 past the sampled places: the file is a single-byte encoding after all.
    const path = await g.local();
    return { startOver: exactTable(path, g.name, await inferPass(fileChunks(path), "windows-1252", g.sniffed, g.maxCells)) };
  }
  const exact = await g.verify(parser.sawQuote);
  if (exact) return { startOver: exact };
  if (!ok || !sameInference(inf, guess)) return { startOver: exactTable(await g.local(), g.name, inf) };
  yield* flush();
  if (b[0]!.length > 0) yield b;
}

async function* prefix(path: string, bytes: number): AsyncGenerator<Buffer> {
  let got = 0;
  for await (const chunk of fileChunks(path)) {
    const take = Math.min(chunk.length, bytes - got);
    yield chunk.subarray(0, take);
    got += take;
    if (got >= bytes) return;
  }
}

/**
 * Delimited text (CSV, TSV, `;` or `|` separated) from a local file, as one
 * table named `opts.tableName`: one pass instead of two in the usual case
 * (see guessedBatches). `columns` and `rowCount` are the guess until the
 * writer has run; the writer reports the exact ones. Small files take the
 * exact path.
 */
export async function readCsvDataset(path: string, opts: { tableName: string; maxCells?: number }): Promise<ParsedTable[]> {
  const { size, encoding, sniffed } = await sniffCsv(path);
  const exactly = async (): Promise<ParsedTable[]> => [exactTable(path, opts.tableName, await inferWhole(path, encoding, sniffed, opts.maxCells))];
  if (size <= GUESS_BYTES) return exactly();
  // A prefix that fails to parse (a huge first row) just means no guess.
  const inference = await inferPass(prefix(path, GUESS_BYTES), encoding, sniffed, undefined, true).catch(() => null);
  if (inference === null) return exactly();
  const g: Guess = {
    name: opts.tableName, maxCells: opts.maxCells, encoding, sniffed, inference,
    chunks: () => fileChunks(path), verify: async () => null, local: async () => path,
  };
  return [{
    name: opts.tableName,
    columns: inference.columns,
    rowCount: null,
    rows: async function* () {
      yield* (await exactly())[0]!.rows();
    },
    columnar: (batchRows) => guessedBatches(g, batchRows),
  }];
}

/** Where the streaming reader reads: the object's bytes once, its size, and a local copy on demand (rereads only). */
export interface CsvStream {
  /** The object's size; null while it is still being stored (then `after` has it once `source` ended). */
  size: number | null;
  /** The object from its first byte; `next()` only, so a parse error does not close it. */
  source: AsyncIterator<Uint8Array>;
  local(): Promise<string>;
  /** For a size of null, once `source` ended: the size and the bytes at any place. */
  after?: { size(): number; read: ReadAt };
  /** Called with each chunk of `source` once the reader is done with it (nothing refers to it any more): its memory may be reused. */
  consumed?(chunk: Uint8Array): void;
}

/** Bytes of the places readSamples and detectEncoding look at, kept as the stream passes them. */
class SampleBytes {
  private readonly ranges: { start: number; bytes: Uint8Array; got: number }[];

  constructor(size: number, encoding: TextEncodingName) {
    const want: [number, number][] = [[0, HEAD_SAMPLE_BYTES]];
    for (const pos of slicePositions(size, encoding)) want.push([pos, SLICE_SAMPLE_BYTES]);
    for (const pos of encodingSlices(size)) want.push([pos, ENCODING_SAMPLE_BYTES]);
    this.ranges = want.map(([start, length]) => ({ start, bytes: new Uint8Array(Math.max(0, Math.min(length, size - start))), got: 0 }));
  }

  /** `chunk` sits at `offset` of the file. */
  feed(offset: number, chunk: Uint8Array): void {
    const end = offset + chunk.byteLength;
    for (const r of this.ranges) {
      const rEnd = r.start + r.bytes.length;
      if (end <= r.start || offset >= rEnd) continue;
      const from = Math.max(offset, r.start);
      const to = Math.min(end, rEnd);
      r.bytes.set(chunk.subarray(from - offset, to - offset), from - r.start);
      r.got += to - from;
    }
  }

  /** A ReadAt over the kept places (only those are ever asked for). */
  readonly read: ReadAt = async (position, length) => {
    for (const r of this.ranges) {
      if (position >= r.start && position - r.start <= r.bytes.length && r.got === r.bytes.length) {
        return r.bytes.subarray(position - r.start, Math.min(r.bytes.length, position - r.start + length));
      }
    }
    throw new Error(`sample at ${position} was not kept`);
  };
}

const sameQuoting = (a: Dialect, b: Dialect): boolean => a.quote === b.quote && a.escape === b.escape;

const DQUOTE = 0x22;

/**
 * The dialect the streaming pass reads with. A head without any `"` sniffs as
 * "no quote", but spreadsheets' exports often quote only later rows (the first
 * text with a comma): reading with `"` costs nothing while no field begins
 * with one, and spares a reread of the whole file when the whole-file sniff
 * then finds quotes. If it finds none, the pass stands as long as no field
 * began with `"` (verify's `sawQuote`), since it parsed exactly as "no quote".
 */
function quoteAssumed(sniffed: SniffResult, head: Uint8Array): SniffResult {
  if (sniffed.dialect.quote !== null || head.includes(DQUOTE)) return sniffed;
  return { ...sniffed, dialect: { ...sniffed.dialect, quote: '"', escape: "double" } };
}

/**
 * readCsvDataset over a stream instead of a file: the single pass reads the
 * object as it arrives (no local copy). Encoding and dialect come from the
 * head; the bytes the whole-file sniff needs are kept on the way and the sniff
 * is checked once the stream ends (a mismatch rereads the exact two-pass way
 * from a local copy, as does any other surprise). Small files go the file way.
 */
export async function readCsvStream(src: CsvStream, opts: { tableName: string; maxCells?: number }): Promise<ParsedTable[]> {
  if (src.size !== null && src.size <= GUESS_BYTES) return readCsvDataset(await src.local(), opts);
  // The first GUESS_BYTES, kept to guess from and then replayed to the pass.
  const ahead: Uint8Array[] = [];
  let aheadBytes = 0;
  let ended = false;
  while (aheadBytes < GUESS_BYTES) {
    const r = await src.source.next();
    if (r.done) { ended = true; break; }
    ahead.push(r.value);
    aheadBytes += r.value.byteLength;
  }
  const head = Buffer.concat(ahead).subarray(0, GUESS_BYTES);
  const encoding = headEncoding(head);
  const headSniff = sniffDialect([{ text: new TextDecoder(encoding).decode(head.subarray(0, HEAD_SAMPLE_BYTES)), atStart: true, atEnd: false }]);
  const sniffed = quoteAssumed(headSniff, head);
  // A prefix that fails to parse (a huge first row) just means no guess.
  const inference = ended ? null : await inferPass([head], encoding, sniffed, undefined, true).catch(() => null);
  if (inference === null) return readCsvDataset(await src.local(), opts);

  // The places the whole-file sniff looks at depend on the size: kept on the way when it is known, else read at the end.
  const samples = src.size === null ? null : new SampleBytes(src.size, encoding);
  let offset = 0;
  let done = false;
  /** The chunk handed out last: its reader asks for the next one only once it is done with it (the parser copies what it keeps). */
  let last: Uint8Array | undefined;
  const next = async (): Promise<Uint8Array | null> => {
    if (last) src.consumed?.(last);
    last = undefined;
    let chunk = ahead.shift();
    if (chunk === undefined && !done) {
      const r = await src.source.next();
      if (!r.done) chunk = r.value;
    }
    if (chunk === undefined) { done = true; return null; }
    samples?.feed(offset, chunk);
    offset += chunk.byteLength;
    return (last = chunk);
  };
  const g: Guess = {
    name: opts.tableName, maxCells: opts.maxCells, encoding, sniffed, inference,
    chunks: () => ({
      // No return(): a parse error must leave the rest of the stream for verify() to read.
      [Symbol.asyncIterator]: () => ({ next: async () => { const c = await next(); return c === null ? { done: true, value: undefined } : { done: false, value: c }; } }),
    }),
    verify: async (sawQuote) => {
      while ((await next()) !== null) { /* the samples at the end */ }
      const [size, read] = samples ? [src.size!, samples.read] : [src.after!.size(), src.after!.read];
      const exactEncoding = await detectEncoding(read, size);
      const exactSniffed = sniffDialect(await readSamples(read, size, exactEncoding));
      const same = exactEncoding === encoding && exactSniffed.fields === sniffed.fields &&
        exactSniffed.dialect.delimiter === sniffed.dialect.delimiter &&
        (sameQuoting(exactSniffed.dialect, sniffed.dialect) || (sniffed !== headSniff && !sawQuote && sameQuoting(exactSniffed.dialect, headSniff.dialect)));
      if (same) return null;
      const path = await src.local();
      return exactTable(path, opts.tableName, await inferWhole(path, exactEncoding, exactSniffed, opts.maxCells));
    },
    local: () => src.local(),
  };
  return [{
    name: opts.tableName,
    columns: inference.columns,
    rowCount: null,
    rows: async function* () {
      yield* (await readCsvDataset(await src.local(), opts))[0]!.rows();
    },
    columnar: (batchRows) => guessedBatches(g, batchRows),
  }];
}
