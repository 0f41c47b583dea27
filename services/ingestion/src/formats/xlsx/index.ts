import ExcelJS from "exceljs";
import { AppError } from "@dsb/contracts";
import { kindOf, naiveTimestamp, toTyped, uniqueNames, widen } from "../infer.ts";
import type { ColumnType, FormatReader, ParsedColumn, ParsedTable } from "../../dataset/table.ts";
import { inspectZip } from "./zip-guard.ts";
import { exceljsUnzipper, fixUnzipperEnd } from "./unzip-end.ts";

fixUnzipperEnd(exceljsUnzipper());

/** Caps per workbook: past these a sheet is refused as a zip bomb (or simply too big to ingest). */
export const XLSX_MAX_ROWS = 5_000_000;
export const XLSX_MAX_CELLS = 100_000_000;
/** Rows looked at to find the header row. */
const HEADER_SCAN_ROWS = 20;
const BATCH = 2000;

type Cell = string | number | boolean | Date | null;

/** The value a cell shows: formulas' cached results, rich text joined, hyperlinks' text, errors as null. */
export function cellValue(v: unknown): Cell {
  if (v === null || v === undefined) return null;
  if (typeof v === "string") return v === "" ? null : v;
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "boolean" || v instanceof Date) return v;
  if (typeof v === "object") {
    const o = v as Record<string, unknown>;
    if ("result" in o || "formula" in o || "sharedFormula" in o) return cellValue(o.result);
    if (Array.isArray(o.richText)) return (o.richText as { text?: string }[]).map((r) => r.text ?? "").join("") || null;
    if ("text" in o) return cellValue(o.text);
    if ("error" in o) return null;
  }
  return null;
}

/** A Date cell holding only a day is a date; with a time of day, a naive timestamp (Excel has no zones). */
function cellKind(v: Cell): ColumnType | null {
  if (v instanceof Date) return v.getUTCHours() || v.getUTCMinutes() || v.getUTCSeconds() || v.getUTCMilliseconds() ? "timestamp" : "date";
  if (typeof v === "string") return v.trim() === "" ? null : "string";
  return kindOf(v);
}

function typed(v: Cell, t: ColumnType): unknown {
  if (v === null) return null;
  if (t === "string" && v instanceof Date) return cellKind(v) === "date" ? v.toISOString().slice(0, 10) : naiveTimestamp(v);
  if (t === "string" && typeof v === "string") return v;
  return toTyped(v, t);
}

interface SheetRows { name: string; index: number; rows: AsyncGenerator<Cell[]> }

/** Streams the workbook once, yielding each worksheet with an iterator over its rows (cells by column, 0-based). */
async function* sheets(path: string): AsyncGenerator<SheetRows> {
  const wb = new ExcelJS.stream.xlsx.WorkbookReader(path, { sharedStrings: "cache", styles: "cache", hyperlinks: "ignore", worksheets: "emit", entries: "ignore" });
  let index = 0;
  for await (const ws of wb) {
    const wsr = ws as unknown as AsyncIterable<ExcelJS.Row> & { name: string; state?: string };
    async function* rows(): AsyncGenerator<Cell[]> {
      let expect = 1;
      for await (const row of wsr) {
        // Rows missing from the XML are empty rows; keep them so row numbers stay true.
        for (; expect < row.number; expect++) yield [];
        expect = row.number + 1;
        const values = row.values as unknown[]; // 1-based sparse array
        const out: Cell[] = [];
        for (let c = 1; c < values.length; c++) out.push(cellValue(values[c]));
        yield out;
      }
    }
    yield { name: wsr.name, index: index++, rows: rows() };
  }
}

const wrapParse = (e: unknown): AppError =>
  e instanceof AppError ? e : new AppError("PARSE_FAILED", `The Excel file could not be read (${e instanceof Error ? e.message : String(e)}); is it a valid .xlsx?`);

const nonEmpty = (r: Cell[]) => r.reduce<number>((n, v) => (v === null ? n : n + 1), 0);

/** Picks the header row among the first rows: the first row of mostly-filled, distinct text cells before any numeric data. */
function findHeader(head: Cell[][]): number {
  const width = Math.max(0, ...head.map(nonEmpty));
  for (let i = 0; i < head.length; i++) {
    const r = head[i]!;
    const n = nonEmpty(r);
    if (n === 0) continue;
    const allText = r.every((v) => v === null || typeof v === "string");
    if (!allText) return -1; // data before any header: the sheet has none
    const distinct = new Set(r.filter((v) => v !== null)).size === n;
    // A lone title cell above a wider table is not the header.
    if (distinct && (n >= Math.ceil(width / 2) || width <= 1)) {
      const next = head.slice(i + 1).find((x) => nonEmpty(x) > 0);
      if (!next || next.some((v) => v !== null && typeof v !== "string") || width <= 1 || n > 1) return i;
    }
  }
  return -1;
}

interface SheetPlan { name: string; index: number; headerAt: number; columns: ParsedColumn[]; rowCount: number }

/** Every sheet with data becomes a table named after the sheet; caps on rows and cells refuse zip bombs. */
export const readXlsx: FormatReader = async (path, opts) => {
  await inspectZip(path);
  const maxCells = opts.maxCells ?? XLSX_MAX_CELLS;
  const plans: SheetPlan[] = [];
  let cells = 0;
  try {
    for await (const sheet of sheets(path)) {
      const head: Cell[][] = [];
      const types: (ColumnType | null)[] = [];
      const nulls: boolean[] = [];
      let rowsSeen = 0;
      let headerAt = -2;
      let dataRows = 0;
      let width = 0;
      const account = (r: Cell[]) => {
        if (nonEmpty(r) === 0) return; // blank rows are skipped
        dataRows++;
        width = Math.max(width, r.length);
        for (let c = 0; c < Math.max(r.length, types.length); c++) {
          const k = cellKind(r[c] ?? null);
          if (c >= types.length) { types.push(null); nulls.push(dataRows > 1); }
          if (k === null) nulls[c] = true;
          else types[c] = widen(types[c]!, k);
        }
      };
      for await (const r of sheet.rows) {
        rowsSeen++;
        cells += r.length;
        if (rowsSeen > XLSX_MAX_ROWS || cells > maxCells)
          throw new AppError("PARSE_FAILED", `Sheet "${sheet.name}" has more than ${rowsSeen > XLSX_MAX_ROWS ? `${XLSX_MAX_ROWS} rows` : `${maxCells} cells`}; the workbook looks like a zip bomb or is too large to ingest — split it or export it as CSV`);
        if (headerAt === -2) {
          head.push(r);
          if (head.length < HEADER_SCAN_ROWS) continue;
          headerAt = findHeader(head);
          head.slice(headerAt + 1).forEach(account);
        } else account(r);
      }
      if (headerAt === -2) { headerAt = findHeader(head); head.slice(headerAt + 1).forEach(account); }
      const header = headerAt >= 0 ? head[headerAt]! : [];
      const ncols = Math.max(types.length, header.length);
      if (ncols === 0 || (dataRows === 0 && headerAt < 0)) continue; // an empty sheet is no table
      const names = uniqueNames(Array.from({ length: ncols }, (_, c) => { const h = header[c]; return h == null ? null : String(h); }));
      plans.push({
        name: sheet.name, index: sheet.index, headerAt, rowCount: dataRows,
        columns: names.map((name, c) => ({ name, type: types[c] ?? "string", nullable: nulls[c] ?? true })),
      });
    }
  } catch (e) {
    throw wrapParse(e);
  }
  if (plans.length === 0) throw new AppError("PARSE_FAILED", "The workbook has no data in any sheet");

  return plans.map((plan): ParsedTable => ({
    name: plan.name,
    columns: plan.columns,
    rowCount: plan.rowCount,
    async *rows() {
      try {
        for await (const sheet of sheets(path)) {
          if (sheet.index !== plan.index) { for await (const _ of sheet.rows) { /* skip other sheets */ } continue; }
          let i = -1;
          let batch: unknown[][] = [];
          for await (const r of sheet.rows) {
            i++;
            if (i <= plan.headerAt || nonEmpty(r) === 0) continue;
            batch.push(plan.columns.map((c, ci) => typed(r[ci] ?? null, c.type)));
            if (batch.length >= BATCH) { yield batch; batch = []; }
          }
          if (batch.length) yield batch;
        }
      } catch (e) {
        throw wrapParse(e);
      }
    },
  }));
};
