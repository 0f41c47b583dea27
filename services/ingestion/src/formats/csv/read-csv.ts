import { stat } from "node:fs/promises";
import { AppError } from "@dsb/contracts";
import type { FormatReader, ParsedColumn, ParsedTable } from "../types.ts";
import { ByteRowParser, fieldText, type ByteFields } from "./byte-parser.ts";
import { byteConverterFor, converterFor } from "./convert.ts";
import { batchBuilders, type ColumnBuilder } from "../../dataset/columns.ts";
import {
  type TextEncodingName, bomEncoding, bomlessUtf16, fileChunks, isUtf8Slice, readBytes, utf8Bytes,
} from "./encoding.ts";
import { columnNames, detectHeader } from "./header.ts";
import { T_ALL, classify, classifyBytes, formatToType, isNullBytes, isNullMarker, pickFormat } from "./infer.ts";
import type { Dialect } from "./parser.ts";
import { type SniffResult, readSamples, sniffDialect } from "./sniff.ts";

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

/** Encoding from the BOM, zero-byte pattern, or a UTF-8 validity check of the head, middle and end. */
async function detectEncoding(path: string, size: number): Promise<TextEncodingName> {
  const head = await readBytes(path, 0, 64 * 1024);
  const fromBom = bomEncoding(head) ?? bomlessUtf16(head);
  if (fromBom !== null) return fromBom;
  if (!isUtf8Slice(head, false)) return "windows-1252";
  for (const at of [0.5, 1]) {
    const pos = Math.max(0, Math.floor(size * at) - 64 * 1024);
    if (pos === 0) continue;
    if (!isUtf8Slice(await readBytes(path, pos, 64 * 1024), true)) return "windows-1252";
  }
  return "utf-8";
}

/** Leading lines with a single field ("Report of May", "# exported by X") are skipped when rows have several; at most this many. */
const MAX_PREAMBLE_ROWS = 20;

const rowTexts = (f: ByteFields, n: number): string[] => {
  const out = new Array<string>(n);
  for (let k = 0; k < n; k++) out[k] = fieldText(f, k);
  return out;
};

/** Pass 1: every row is parsed and every value classified, so a late contradicting value widens its column. */
async function inferPass(
  source: AsyncIterable<Uint8Array>, encoding: TextEncodingName, sniffed: SniffResult, maxCells: number | undefined,
): Promise<CsvInference> {
  const { dialect } = sniffed;
  let first: string[] | null = null;
  let skipRows = 0;
  let ncol = 0;
  let masks = new Int32Array(0);
  let seen = new Uint8Array(0);
  let nulls = new Uint8Array(0);
  let rows = 0;
  const cellLimit = maxCells ?? Number.POSITIVE_INFINITY;

  const parser = new ByteRowParser(dialect, (f, n, line) => {
    if (first === null) {
      if (n === 1 && sniffed.fields > 1 && skipRows < MAX_PREAMBLE_ROWS) {
        skipRows++;
        return;
      }
      first = rowTexts(f, n);
      ncol = n;
      masks = new Int32Array(n).fill(T_ALL);
      seen = new Uint8Array(n);
      nulls = new Uint8Array(n);
      return;
    }
    if (n !== ncol) throw raggedRow(line, n, ncol, detectHeader(first, masks, seen));
    rows++;
    if ((rows + 1) * ncol > cellLimit) {
      throw new AppError("PARSE_FAILED", `The file has more than ${cellLimit} cells, the most one upload may have. Split it into smaller files`);
    }
    const { buf, scratch, start, end, inScratch } = f;
    for (let k = 0; k < n; k++) {
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
  });
  // Only UTF-8 can be invalid; the caller retries as windows-1252 on a decode error.
  for await (const chunk of utf8Bytes(source, encoding, encoding === "utf-8")) parser.push(chunk, false);
  parser.push(new Uint8Array(0), true);

  const head = first as string[] | null;
  if (head === null) throw emptyFile();
  const hasHeader = detectHeader(head, masks, seen);
  if (!hasHeader) {
    rows++;
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
  return { encoding, dialect, hasHeader, skipRows, columns, formats, rowCount: rows };
}

/** Sniffs and infers the whole file (pass 1). Exported for tests and the benchmark. */
export async function inferCsv(path: string, maxCells?: number): Promise<CsvInference> {
  const { size } = await stat(path);
  if (size === 0) throw emptyFile();
  const encoding = await detectEncoding(path, size);
  const sniffed = sniffDialect(await readSamples(path, size, encoding));
  try {
    return await inferPass(fileChunks(path), encoding, sniffed, maxCells);
  } catch (e) {
    // Invalid UTF-8 past the sampled places: the file is a single-byte encoding after all.
    if (encoding === "utf-8" && isDecodeError(e)) return inferPass(fileChunks(path), "windows-1252", sniffed, maxCells);
    throw e;
  }
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
    for (let k = 0; k < ncol; k++) {
      const v = fieldText(f, k);
      row[k] = isNullMarker(v) ? null : convert[k]!(v);
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
  let b = batchBuilders(types, batchRows);
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
      b = batchBuilders(types, batchRows);
    }
  });
  for await (const chunk of utf8Bytes(source, inf.encoding, false)) {
    parser.push(chunk, false);
    while (ready.length > 0) yield ready.shift()!;
  }
  parser.push(new Uint8Array(0), true);
  while (ready.length > 0) yield ready.shift()!;
  if (b[0]!.length > 0) yield b;
}

/**
 * Delimited text (CSV, TSV, `;` or `|` separated) as one table named
 * `opts.tableName`. Reads the file twice as a stream: once to sniff and infer
 * (rowCount is then exact), once per `rows()` call to convert.
 */
export const readCsv: FormatReader = async (path, opts) => {
  const inf = await inferCsv(path, opts.maxCells);
  const table: ParsedTable = {
    name: opts.tableName,
    columns: inf.columns,
    rowCount: inf.rowCount,
    rows: () => convertedRows(path, inf),
    columnar: (batchRows) => columnarBatches(fileChunks(path), inf, batchRows),
  };
  return [table];
};
