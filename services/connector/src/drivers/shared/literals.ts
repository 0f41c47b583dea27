/**
 * Parameter values written as SQL literals, for drivers that bind on the client
 * (MySQL's text protocol, ClickHouse servers without query parameters). The
 * value kinds and their errors are the same everywhere; each dialect says how
 * it spells booleans, strings, timestamps and lists.
 */
import { DriverError } from "../types.ts";

/** How one dialect writes the value kinds whose spelling differs. */
export interface LiteralStyle {
  boolean(v: boolean): string;
  string(v: string): string;
  date(v: Date): string;
  /** `literal` writes one item in the same style. */
  array(items: readonly unknown[], literal: (v: unknown) => string): string;
}

/** One SQL literal for a JSON-ish parameter value (null, boolean, number, bigint, string, Date or an array of those). */
export function sqlLiteral(v: unknown, style: LiteralStyle): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "boolean") return style.boolean(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new DriverError("query", `Parameter ${v} is not a finite number; send a number or a string`);
    return String(v);
  }
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "string") return style.string(v);
  if (v instanceof Date) return style.date(v);
  if (Array.isArray(v)) return style.array(v, (x) => sqlLiteral(x, style));
  throw new DriverError("query", "Parameters must be strings, numbers, booleans, null or arrays of those; send objects as JSON strings");
}
