import type { ColumnMeta } from "./query.ts";

/** Export records as text, the same bytes whoever writes them: the gateway (rows it holds) or the connector (rows it reads). */

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

/** Bytes an NDJSON line of `names` has beyond the row's JSON array (its keys, colons and newline). */
export function ndjsonKeyBytes(names: string[]): number {
  let n = 1;
  for (const name of names) n += new TextEncoder().encode(JSON.stringify(name)).byteLength + 1;
  return n;
}

/**
 * One JSON object per row, written as text: column names are data, and `__proto__` as
 * a key of a plain object would set its prototype instead of holding the value.
 */
export function ndjsonLines(names: string[], rows: readonly unknown[][]): string {
  const keys = names.map((n, i) => `${i ? "," : "{"}${JSON.stringify(n)}:`);
  let out = "";
  for (const row of rows) {
    for (let i = 0; i < keys.length; i++) out += keys[i] + JSON.stringify(row[i] ?? null);
    out += keys.length ? "}\n" : "{}\n";
  }
  return out;
}
