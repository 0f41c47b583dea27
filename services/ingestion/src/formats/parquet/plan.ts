import type { SchemaElement } from "hyparquet";
import type { ColumnType } from "../../dataset/table.ts";

/**
 * How the fast reader turns a flat column's physical values into the Arrow
 * values the slow path (hyparquet + NATIVE_PARSERS + ColumnBuilder) gives:
 * - raw: the bits as they are (INT64 → int64, INT32 → date/time ms, DOUBLE, BOOLEAN, BYTE_ARRAY utf8)
 * - sext / zext: INT32 widened to int64, signed or unsigned
 * - f32: FLOAT widened to double
 * - num: INT64 milliseconds through a JS number (exact below 2^53, rounded like Number() above)
 * - div: INT64 divided by `div`, truncated (micro/nanoseconds → milliseconds)
 */
export interface FastPlan {
  phys: "BOOLEAN" | "INT32" | "INT64" | "FLOAT" | "DOUBLE" | "BYTE_ARRAY";
  conv: "raw" | "sext" | "zext" | "f32" | "num" | "div";
  div: number;
  /** Whether values have definition levels (anything not REQUIRED, like hyparquet). */
  optional: boolean;
}

const INT_CTYPES = new Set([undefined, "INT_8", "INT_16", "INT_32", "UINT_8", "UINT_16", "UINT_32"]);
const unitDiv = (u: string) => (u === "MILLIS" ? 1 : u === "MICROS" ? 1000 : 1_000_000);

/** The fast plan of a flat (non-nested, non-repeated) top-level column, or null when only hyparquet reads it right. */
export function fastPlan(el: SchemaElement, type: ColumnType): FastPlan | null {
  if (el.repetition_type === "REPEATED" || el.num_children) return null;
  const ct = el.converted_type;
  const lt = el.logical_type;
  const optional = el.repetition_type !== "REQUIRED";
  const p = (phys: FastPlan["phys"], conv: FastPlan["conv"] = "raw", div = 1): FastPlan => ({ phys, conv, div, optional });
  switch (type) {
    case "boolean":
      return el.type === "BOOLEAN" && !ct && !lt ? p("BOOLEAN") : null;
    case "integer": {
      if (el.type !== "INT32" || !INT_CTYPES.has(ct) || (lt && lt.type !== "INTEGER")) return null;
      const unsigned = ct === "UINT_32" || (lt?.type === "INTEGER" && lt.bitWidth === 32 && !lt.isSigned);
      return p("INT32", unsigned ? "zext" : "sext");
    }
    case "bigint":
      return el.type === "INT64" && (!ct || ct === "INT_64" || ct === "UINT_64") && (!lt || lt.type === "INTEGER") ? p("INT64") : null;
    case "double":
      if (ct || lt) return null;
      return el.type === "DOUBLE" ? p("DOUBLE") : el.type === "FLOAT" ? p("FLOAT", "f32") : null;
    case "date":
      return el.type === "INT32" && (!ct || ct === "DATE") && (!lt || lt.type === "DATE") ? p("INT32") : null;
    case "time": {
      if (ct && ct !== "TIME_MILLIS" && ct !== "TIME_MICROS") return null;
      if (lt && lt.type !== "TIME") return null;
      // same unit rule as the slow path's timeMs
      const unit = lt?.type === "TIME" ? lt.unit : ct === "TIME_MICROS" ? "MICROS" : "MILLIS";
      if (el.type === "INT32" && unit === "MILLIS") return p("INT32");
      if (el.type === "INT64" && unit !== "MILLIS") return p("INT64", "div", unitDiv(unit));
      return null;
    }
    case "timestamp": case "timestamptz": {
      if (el.type !== "INT64" || (lt && lt.type !== "TIMESTAMP")) return null;
      if (ct && ct !== "TIMESTAMP_MILLIS" && ct !== "TIMESTAMP_MICROS") return null;
      // hyparquet's order: the legacy converted type first, then the logical unit
      const unit = ct === "TIMESTAMP_MILLIS" ? "MILLIS" : ct === "TIMESTAMP_MICROS" ? "MICROS" : lt?.type === "TIMESTAMP" ? lt.unit : null;
      if (!unit) return null;
      return unit === "MILLIS" ? p("INT64", "num") : p("INT64", "div", unitDiv(unit));
    }
    case "string":
      if (el.type !== "BYTE_ARRAY") return null;
      if (ct && ct !== "UTF8" && ct !== "ENUM") return null;
      if (lt && lt.type !== "STRING" && lt.type !== "ENUM") return null;
      return p("BYTE_ARRAY");
    default:
      return null;
  }
}
