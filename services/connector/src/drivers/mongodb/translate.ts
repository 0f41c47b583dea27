import { Decimal128, Long, ObjectId, type Document } from "bson";
import { AppError, type QueryConfig, type SchemaTable } from "@dsb/contracts";
import { aggAlias, filterValue, selectedColumns } from "../../query-config.ts";
import type { NativeColumn, NativeQuery } from "./native.ts";

type Filter = NonNullable<QueryConfig["filters"]>[number];
type Agg = NonNullable<QueryConfig["aggregates"]>[number];

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * A filter value typed like the column it is compared with (from the stored schema): an ISO
 * string for a date column becomes a date, 24 hex digits an ObjectId, a number string a
 * Decimal128 or a 64-bit integer — else MongoDB compares across types and matches nothing.
 */
export function typedValue(type: string | undefined, v: unknown): unknown {
  if (typeof v !== "string" && typeof v !== "number") return v;
  switch (type) {
    case "date": {
      const d = new Date(v);
      return typeof v === "string" && !Number.isNaN(d.getTime()) ? d : v;
    }
    case "objectId": return typeof v === "string" && /^[0-9a-f]{24}$/i.test(v) ? new ObjectId(v) : v;
    case "decimal": return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(String(v)) ? Decimal128.fromString(String(v)) : v;
    case "long": return typeof v === "string" && /^[+-]?\d{1,19}$/.test(v) ? Long.fromString(v) : v;
    default: return v;
  }
}

/** One filter as a $match condition, with SQL's semantics (NULL never equals, differs or contains). */
function condition(f: Filter, type: string | undefined): Document {
  const v = filterValue(f.op, f.column, f.value);
  const typed = (x: unknown) => typedValue(type, x);
  switch (f.op) {
    case "=": return { [f.column]: { $eq: typed(v) } };
    // SQL's `<>` is unknown for NULL: missing and null fields do not match.
    case "!=": return { [f.column]: { $nin: [typed(v), null] } };
    case "<": return { [f.column]: { $lt: typed(v) } };
    case "<=": return { [f.column]: { $lte: typed(v) } };
    case ">": return { [f.column]: { $gt: typed(v) } };
    case ">=": return { [f.column]: { $gte: typed(v) } };
    case "in": return { [f.column]: { $in: (v as unknown[]).filter((x) => x !== null).map(typed) } };
    case "is_null": return v === false ? { [f.column]: { $ne: null } } : { [f.column]: null };
    case "contains":
      // Case-insensitive substring of the value as text, as the SQL dialects do with a cast.
      return { $expr: { $regexMatch: {
        input: { $convert: { input: `$${f.column}`, to: "string", onError: "", onNull: "" } }, regex: escapeRegex(String(v)), options: "i",
      } } };
  }
}

function accumulator(a: Agg): Document {
  const col = a.column && a.column !== "*" ? `$${a.column}` : null;
  if (a.fn === "count") return col ? { $sum: { $cond: [{ $eq: [{ $ifNull: [col, null] }, null] }, 0, 1] } } : { $sum: 1 };
  return { [`$${a.fn}`]: col };
}

/**
 * A query_config as an aggregation pipeline with the SQL dialects' semantics: filters in one
 * $match, then either $group (group keys and aggregates; then order, offset, limit) or order,
 * offset, limit and a $project of the selected fields. Column names may be dotted paths
 * (`address.city`); the output columns say where each value is read from.
 */
export function queryConfigPipeline(table: SchemaTable, qc: QueryConfig): NativeQuery {
  const types = new Map(table.columns.map((c) => [c.name, c.type]));
  const pipeline: Document[] = [];
  const conds = (qc.filters ?? []).map((f) => condition(f, types.get(f.column)));
  if (conds.length) pipeline.push({ $match: conds.length === 1 ? conds[0]! : { $and: conds } });

  const grouped = !!(qc.group_by?.length || qc.aggregates?.length);
  let columns: NativeColumn[] | undefined;
  let sortPath = (c: string) => c;
  if (grouped) {
    const keys = qc.group_by ?? [];
    const aggs = qc.aggregates ?? [];
    const group: Document = { _id: keys.length ? Object.fromEntries(keys.map((k, i) => [`k${i}`, `$${k}`])) : null };
    aggs.forEach((a, i) => { group[`a${i}`] = accumulator(a); });
    pipeline.push({ $group: group });
    const pathOf = new Map<string, string>();
    keys.forEach((k, i) => pathOf.set(k, `_id.k${i}`));
    aggs.forEach((a, i) => pathOf.set(aggAlias(a), `a${i}`));
    columns = [];
    for (const c of selectedColumns(qc)) {
      const path = pathOf.get(c);
      if (!path) throw new AppError("VALIDATION", `Column ${c} is selected but neither grouped nor aggregated; add it to group_by`);
      columns.push({ name: c, path });
    }
    aggs.forEach((a, i) => columns!.push({ name: aggAlias(a), path: `a${i}` }));
    sortPath = (c) => {
      const p = pathOf.get(c);
      if (!p) throw new AppError("VALIDATION", `Cannot order a grouped query by ${c}: order by a group_by column or an aggregate's name`);
      return p;
    };
  }
  if (qc.order_by?.length) pipeline.push({ $sort: Object.fromEntries(qc.order_by.map((o) => [sortPath(o.column), o.desc ? -1 : 1])) });
  if (qc.offset) pipeline.push({ $skip: qc.offset });
  if (qc.limit !== undefined) pipeline.push(qc.limit === 0 ? { $match: { $expr: false } } : { $limit: qc.limit });
  if (!grouped && qc.select?.length) {
    pipeline.push({ $project: { ...(qc.select.includes("_id") ? {} : { _id: 0 }), ...Object.fromEntries(qc.select.map((c) => [c, 1])) } });
    columns = qc.select.map((c) => ({ name: c, path: c }));
  }
  return { collection: table.name, pipeline, ...(columns ? { columns } : {}) };
}
