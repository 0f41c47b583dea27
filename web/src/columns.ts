import type { QueryConfig } from "./types.ts";

export type Filter = NonNullable<QueryConfig["filters"]>[number];
export type FilterOp = Filter["op"];
export type AggFn = NonNullable<QueryConfig["aggregates"]>[number]["fn"];
export const AGG_FNS: readonly AggFn[] = ["count", "sum", "avg", "min", "max"];

export const COLUMN_KINDS = ["number", "temporal", "boolean", "text"] as const;
export type ColumnKind = (typeof COLUMN_KINDS)[number];

/** What a database or file type name is, for operators, alignment and charts. */
export function kindOf(type: string): ColumnKind {
  const t = type.toLowerCase();
  if (/bool/.test(t)) return "boolean";
  if (/date|time|interval/.test(t)) return "temporal";
  if (/int|numeric|decimal|float|double|real|number|serial|money|bigint/.test(t)) return "number";
  return "text";
}

const ORDERED: FilterOp[] = ["=", "!=", "<", "<=", ">", ">=", "in", "is_null"];
/** The operators that make sense for a column of this kind. */
export function opsFor(kind: ColumnKind): FilterOp[] {
  if (kind === "boolean") return ["=", "!=", "is_null"];
  if (kind === "text") return ["=", "!=", "contains", "in", "<", ">", "is_null"];
  return ORDERED;
}

export const OP_LABELS: Record<FilterOp, string> = {
  "=": "equals", "!=": "is not", "<": "less than", "<=": "at most", ">": "greater than", ">=": "at least",
  in: "is one of", contains: "contains", is_null: "is empty",
};

/** The typed value of a filter from what was typed: numbers as numbers, lists split on commas. */
export function filterValue(op: FilterOp, kind: ColumnKind, text: string): unknown {
  if (op === "is_null") return text !== "false";
  const one = (s: string): unknown => {
    const v = s.trim();
    if (kind === "number" && v !== "" && !Number.isNaN(Number(v))) return Number(v);
    if (kind === "boolean") return v === "true";
    return v;
  };
  if (op === "in") return text.split(",").map(one).filter((v) => v !== "");
  return one(text);
}

/** The text box content for a stored filter value (history → builder). */
export function filterText(value: unknown): string {
  if (Array.isArray(value)) return value.map(String).join(", ");
  if (value === undefined || value === null) return "";
  return String(value);
}
