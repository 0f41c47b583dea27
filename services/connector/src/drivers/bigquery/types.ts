import { integerValue } from "@dsb/contracts";

/** A field of a BigQuery table or result schema (REST `TableFieldSchema`). */
export interface BqField {
  name: string;
  type: string;
  mode?: string | undefined;
  description?: string | undefined;
  fields?: BqField[] | undefined;
}

/** The type as BigQuery's SQL names it: INT64, NUMERIC, ARRAY<STRING>, STRUCT<a INT64>. */
export function bigqueryTypeName(f: BqField): string {
  const legacy: Record<string, string> = { INTEGER: "INT64", FLOAT: "FLOAT64", BOOLEAN: "BOOL", RECORD: "STRUCT" };
  let t = legacy[f.type] ?? f.type;
  if (t === "STRUCT" && f.fields) t = `STRUCT<${f.fields.map((x) => `${x.name} ${bigqueryTypeName(x)}`).join(", ")}>`;
  return f.mode === "REPEATED" ? `ARRAY<${t}>` : t;
}

/** Microseconds since the epoch (what `formatOptions.useInt64Timestamp` returns) as ISO-8601 UTC. */
function microsToIso(micros: string): string {
  const n = BigInt(micros);
  const ms = n / 1000n;
  const sub = ((n % 1_000_000n) + 1_000_000n) % 1_000_000n;
  const base = new Date(Number(ms)).toISOString(); // 2024-01-02T03:04:05.123Z
  return `${base.slice(0, 19)}.${sub.toString().padStart(6, "0")}Z`;
}

function timestampIso(v: string): string {
  if (/^-?\d+$/.test(v)) return microsToIso(v);
  // Older responses: float seconds such as "1.7041646450E9".
  const secs = Number(v);
  return Number.isFinite(secs) ? new Date(Math.round(secs * 1000)).toISOString() : v;
}

/** One REST cell (`{v}` payload) mapped to API.md's rules. */
export function bigqueryValue(f: BqField, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (f.mode === "REPEATED") {
    return Array.isArray(v) ? v.map((x) => bigqueryValue({ ...f, mode: "NULLABLE" }, (x as { v: unknown }).v)) : v;
  }
  switch (f.type) {
    case "INT64": case "INTEGER":
      return integerValue(String(v));
    case "NUMERIC": case "BIGNUMERIC":
      return String(v);
    case "FLOAT64": case "FLOAT": {
      const n = Number(v);
      return Number.isFinite(n) ? n : String(v);
    }
    case "BOOL": case "BOOLEAN":
      return v === true || v === "true";
    case "TIMESTAMP":
      return timestampIso(String(v));
    case "RECORD": case "STRUCT": {
      const cells = (v as { f?: { v: unknown }[] }).f ?? [];
      // fromEntries defines each field, so one named __proto__ is a field like any other.
      return Object.fromEntries((f.fields ?? []).map((sub, i) => [sub.name, bigqueryValue(sub, cells[i]?.v)]));
    }
    default:
      // STRING, BYTES (already base64), DATE, DATETIME, TIME, GEOGRAPHY (WKT), JSON (text), INTERVAL, RANGE.
      return v;
  }
}

/** A positional parameter's BigQuery type, so nulls and big integers bind with a type. */
export function bigqueryParamType(v: unknown): string {
  if (typeof v === "boolean") return "BOOL";
  if (typeof v === "bigint") return "INT64";
  if (typeof v === "number") return Number.isInteger(v) ? "INT64" : "FLOAT64";
  if (v instanceof Date) return "TIMESTAMP";
  if (Buffer.isBuffer(v)) return "BYTES";
  return "STRING";
}
