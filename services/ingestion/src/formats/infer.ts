import type { ColumnType } from "../dataset/table.ts";

/**
 * Type inference shared by the JSON/NDJSON and XLSX readers: each value has a
 * kind, a column's type is the widening of its values' kinds.
 */
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const TIMESTAMP = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)$/;
const TIMESTAMPTZ = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i;
const TIME = /^\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?$/;

/** The kind of one string value: ISO dates, timestamps and times are recognised, anything else is a string. */
export function stringKind(s: string): ColumnType {
  if (s.length < 8 || s.length > 35) return "string";
  if (DATE.test(s)) return validDate(s) ? "date" : "string";
  if (TIMESTAMP.test(s)) return validDate(s.slice(0, 10)) ? "timestamp" : "string";
  if (TIMESTAMPTZ.test(s)) return Number.isNaN(Date.parse(s)) ? "string" : "timestamptz";
  if (TIME.test(s)) return "time";
  return "string";
}

function validDate(s: string): boolean {
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

/** The kind of a JavaScript value from a parsed file; null/undefined have none. */
export function kindOf(v: unknown): ColumnType | null {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case "boolean": return "boolean";
    case "number": return Number.isFinite(v) ? (Number.isSafeInteger(v) ? "integer" : "double") : "string";
    case "bigint": return "bigint";
    case "string": return stringKind(v);
    case "object":
      if (v instanceof Date) return "timestamp";
      return "json";
    default: return "string";
  }
}

const NUMERIC: readonly ColumnType[] = ["integer", "bigint", "decimal", "double"];

/** The narrowest type holding values of both types: integer+double → double, date+timestamp → timestamp, anything else mixed → string. */
export function widen(a: ColumnType | null, b: ColumnType | null): ColumnType | null {
  if (a === null) return b;
  if (b === null || a === b) return a;
  if (NUMERIC.includes(a) && NUMERIC.includes(b)) {
    if (a === "double" || b === "double") return "double";
    if (a === "decimal" || b === "decimal") return "decimal";
    return "bigint";
  }
  if ((a === "date" && b === "timestamp") || (a === "timestamp" && b === "date")) return "timestamp";
  return "string";
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** A Date as a wall-clock timestamp "YYYY-MM-DDTHH:MM:SS[.fff]" read in UTC. */
export function naiveTimestamp(d: Date): string {
  const iso = d.toISOString();
  return iso.endsWith(".000Z") ? iso.slice(0, 19) : iso.slice(0, 23);
}

/** Converts a raw value to the representation of `type` that ParsedTable rows carry (see types.ts). */
export function toTyped(v: unknown, type: ColumnType): unknown {
  if (v === null || v === undefined) return null;
  switch (type) {
    case "boolean": return typeof v === "boolean" ? v : null;
    case "integer":
    case "double": return typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : null;
    case "bigint": return typeof v === "bigint" ? v : typeof v === "number" ? BigInt(v) : null;
    case "decimal": return String(v);
    case "date":
      if (v instanceof Date) return v.toISOString().slice(0, 10);
      return typeof v === "string" ? v : null;
    case "timestamp":
      if (v instanceof Date) return naiveTimestamp(v);
      if (typeof v === "string") return v.length === 10 ? `${v}T00:00:00` : v.replace(" ", "T");
      return null;
    case "timestamptz": {
      const d = v instanceof Date ? v : new Date(String(v));
      return Number.isNaN(d.getTime()) ? null : d.toISOString();
    }
    case "time": return typeof v === "string" ? v : null;
    case "json": return jsonText(v);
    case "string":
      if (typeof v === "string") return v;
      if (v instanceof Date) return naiveTimestamp(v);
      if (typeof v === "object") return jsonText(v);
      return String(v);
  }
}

/** JSON text of a value; bigints become numbers' digits, not an exception. */
export function jsonText(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x instanceof Uint8Array ? Buffer.from(x).toString("base64") : x));
}

/** Unique, non-empty column names: blanks become column_N, repeats get _2, _3. */
export function uniqueNames(raw: readonly (string | null | undefined)[]): string[] {
  const seen = new Set<string>();
  return raw.map((r, i) => {
    const base = (r ?? "").trim() || `column_${i + 1}`;
    let name = base;
    for (let n = 2; seen.has(name); n++) name = `${base}_${n}`;
    seen.add(name);
    return name;
  });
}

export { pad };
