import type { ColumnMeta } from "@dsb/contracts";

export const EXPORT_FORMATS = ["json", "csv", "ndjson"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const CONTENT_TYPES: Record<Exclude<ExportFormat, "json">, string> = {
  csv: "text/csv; charset=utf-8",
  ndjson: "application/x-ndjson",
};

/** `?format=` wins, then the Accept header; JSON otherwise. */
export function pickFormat(formatParam: string | undefined, accept: string | undefined): ExportFormat {
  if (formatParam === "csv" || formatParam === "ndjson" || formatParam === "json") return formatParam;
  const a = (accept ?? "").toLowerCase();
  if (a.includes("text/csv")) return "csv";
  if (a.includes("application/x-ndjson") || a.includes("application/ndjson")) return "ndjson";
  return "json";
}

const NEEDS_QUOTES = /[",\r\n]/;

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v);
  if (s === "" && typeof v === "string") return '""';
  return NEEDS_QUOTES.test(s) || s.startsWith(" ") || s.endsWith(" ") ? `"${s.replaceAll('"', '""')}"` : s;
}

/** RFC 4180 lines; an empty string is quoted so it differs from NULL. */
export function csvLines(rows: readonly unknown[][]): string {
  let out = "";
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) {
      if (i) out += ",";
      out += csvCell(row[i]);
    }
    out += "\r\n";
  }
  return out;
}

export const csvHeader = (columns: ColumnMeta[]) => csvLines([columns.map((c) => c.name)]);

/** Object keys for NDJSON: duplicate column names get a numeric suffix so none is lost. */
export function distinctNames(columns: ColumnMeta[]): string[] {
  const seen = new Map<string, number>();
  return columns.map((c) => {
    const n = seen.get(c.name) ?? 0;
    seen.set(c.name, n + 1);
    return n === 0 ? c.name : `${c.name}_${n + 1}`;
  });
}

/** The JSON text of one value inside an object (what JSON.stringify gives for it as a property). */
function jsonValue(v: unknown): string {
  switch (typeof v) {
    case "number":
      return Number.isFinite(v) ? String(v) : "null";
    case "boolean":
      return v ? "true" : "false";
    case "undefined":
      return "null";
    default:
      return v === null ? "null" : JSON.stringify(v);
  }
}

/**
 * One JSON object per row. Written from precomputed `"key":` prefixes instead of
 * building an object per row and stringifying it (half the gateway's CPU on a
 * large NDJSON export went there); the text is the same.
 */
export function ndjsonLines(names: string[], rows: readonly unknown[][]): string {
  if (names.length === 0) return "{}\n".repeat(rows.length);
  const keys = names.map((n, i) => (i ? "," : "{") + JSON.stringify(n) + ":");
  let out = "";
  for (const row of rows) {
    let line = "";
    for (let i = 0; i < keys.length; i++) line += keys[i]! + jsonValue(row[i]);
    out += line + "}\n";
  }
  return out;
}
