import * as aq from "arquero";
import { AppError, integerValue, type ColumnMeta, type QueryConfig } from "@dsb/contracts";
import type { ColumnType } from "../dataset/column-type.ts";
import { columnKey, SQL_TYPE, type ManifestTable } from "../dataset/layout.ts";
import { naiveTimestamp, pad } from "../formats/infer.ts";
import type { ArqueroTable } from "./load.ts";

type Row = Record<string, unknown>;
type Pred = (d: Row) => boolean;

/** The result of a file query before paging: its columns and a row source in batches. */
export interface FileResult {
  columns: ColumnMeta[];
  numRows: number;
  batches(size?: number): AsyncGenerator<unknown[][]>;
}

const bad = (m: string) => new AppError("VALIDATION", m);
const SHADOW = "\u0000n:"; // prefix of derived numeric columns; cannot collide with a real name

/** Comparable form of a stored value: dates as epoch ms, decimals as numbers. */
function norm(v: unknown, t: ColumnType): unknown {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.getTime();
  if (t === "decimal") return Number(v);
  return v;
}

/** A filter value converted to the comparable form of the column's type; VALIDATION when it cannot be. */
function operand(v: unknown, t: ColumnType, column: string): unknown {
  const fail = () => bad(`Filter value ${JSON.stringify(v)} does not fit column "${column}" of type ${SQL_TYPE[t]}`);
  if (v === null || v === undefined) throw bad(`Filter on "${column}" needs a value`);
  switch (t) {
    case "integer": case "double": case "decimal": {
      const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
      if (Number.isNaN(n)) throw fail();
      return n;
    }
    case "bigint":
      try { return BigInt(typeof v === "number" ? Math.trunc(v) : String(v)); } catch { throw fail(); }
    case "boolean":
      if (typeof v === "boolean") return v;
      if (v === "true" || v === "false") return v === "true";
      throw fail();
    case "date": case "timestamp": case "timestamptz": {
      const s = String(v);
      const ms = t === "date" && /^\d{4}-\d{2}-\d{2}$/.test(s) ? Date.parse(`${s}T00:00:00Z`)
        : t !== "timestamptz" && !/(Z|[+-]\d{2}:?\d{2})$/i.test(s) ? Date.parse(`${s.replace(" ", "T")}${s.length === 10 ? "T00:00:00" : ""}Z`) : Date.parse(s);
      if (Number.isNaN(ms)) throw fail();
      return ms;
    }
    case "time": {
      const m = /^(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?$/.exec(String(v));
      if (!m) throw fail();
      return (Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3] ?? 0)) * 1000;
    }
    default: return typeof v === "string" ? v : JSON.stringify(v);
  }
}

/** A column of the query's table: its name in arquero (see columnKey) and its type. */
interface TableColumn { key: string; type: ColumnType }

function predicate(f: NonNullable<QueryConfig["filters"]>[number], { key: c, type: t }: TableColumn): Pred {
  const name = f.column;
  switch (f.op) {
    case "is_null": {
      const want = f.value === undefined || f.value === null || f.value === true || f.value === "true";
      return (d) => (d[c] === null || d[c] === undefined) === want;
    }
    case "contains": {
      if (f.value === undefined || f.value === null) throw bad(`Filter "contains" on "${name}" needs a value`);
      const needle = String(f.value).toLowerCase();
      return (d) => { const v = d[c]; return v !== null && v !== undefined && display(v, t).toLowerCase().includes(needle); };
    }
    case "in": {
      if (!Array.isArray(f.value)) throw bad(`Filter "in" on "${name}" needs an array value`);
      const set = new Set(f.value.map((v) => operand(v, t, name)));
      return (d) => set.has(norm(d[c], t));
    }
    default: {
      const x = operand(f.value, t, name) as number;
      const cmp = { "=": (a: number) => a === x, "!=": (a: number) => a !== x, "<": (a: number) => a < x, "<=": (a: number) => a <= x, ">": (a: number) => a > x, ">=": (a: number) => a >= x }[f.op];
      return (d) => { const v = norm(d[c], t); return v !== null && cmp(v as number); };
    }
  }
}

const timeText = (ms: number) => {
  const s = Math.floor(ms / 1000);
  const f = ms % 1000;
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}${f ? `.${pad(f, 3)}` : ""}`;
};

/** Text of a value for `contains`. */
function display(v: unknown, t: ColumnType): string {
  const o = out(v, t);
  return typeof o === "string" ? o : String(o);
}

/** A stored value as API.md wants it: bigints as numbers within ±(2^53−1) (text beyond), decimals as strings, dates as ISO strings. */
function out(v: unknown, t: ColumnType): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint") return integerValue(v);
  if (v instanceof Date) return t === "date" ? v.toISOString().slice(0, 10) : t === "timestamptz" ? v.toISOString() : naiveTimestamp(v);
  if (t === "time" && typeof v === "number") return timeText(v);
  if (typeof v === "number" && !Number.isFinite(v)) return null;
  return v;
}

/**
 * Runs a structured query on a loaded table with arquero: filters, then
 * grouping with aggregates (or a selection), ordering, offset and limit.
 * Arquero only ever sees names made here (columnKey, `a<n>` for aggregates):
 * column names are data and may be `__proto__` or `constructor`.
 */
export function runQuery(meta: ManifestTable, table: ArqueroTable, q: QueryConfig, capRows?: number): FileResult & { truncated: boolean } {
  const columns = new Map<string, TableColumn>(meta.columns.map((c, i) => [c.name, { key: columnKey(i), type: c.type }]));
  const known = () => meta.columns.map((c) => c.name).join(", ");
  const need = (c: string): TableColumn => {
    const col = columns.get(c);
    if (!col) throw bad(`Unknown column "${c}". Known columns: ${known()}`);
    return col;
  };
  let t = table;

  const filters = q.filters ?? [];
  if (filters.length) {
    const preds = filters.map((f) => predicate(f, need(f.column)));
    t = t.filter(aq.escape((d: Row) => { for (const p of preds) if (!p(d)) return false; return true; }));
  }

  let outCols: { name: string; src: string; type: ColumnType; sqlType: string }[];
  const groupBy = q.group_by ?? [];
  const aggs = q.aggregates ?? [];
  if (groupBy.length || aggs.length) {
    const groupCols = groupBy.map(need);
    const shadows: Record<string, unknown> = {};
    const spec: Record<string, unknown> = {};
    outCols = groupBy.map((g, i) => ({ name: g, src: groupCols[i]!.key, type: groupCols[i]!.type, sqlType: SQL_TYPE[groupCols[i]!.type] }));
    const taken = new Set(groupBy);
    for (const [k, a] of aggs.entries()) {
      const source = a.column !== undefined ? need(a.column) : undefined;
      const ct = source?.type;
      if (a.fn !== "count" && a.column === undefined) throw bad(`Aggregate ${a.fn} needs a column`);
      if ((a.fn === "sum" || a.fn === "avg") && ct && !["integer", "bigint", "double", "decimal"].includes(ct))
        throw bad(`Cannot ${a.fn} column "${a.column}" of type ${SQL_TYPE[ct]}; use count, min or max`);
      const alias = a.as ?? (a.column ? `${a.fn}_${a.column}` : a.fn);
      if (taken.has(alias)) throw bad(`Two result columns are named "${alias}"; give aggregates distinct "as" names`);
      taken.add(alias);
      let col = source?.key;
      // Decimals are text and bigints do not mix with numbers in sums: aggregate a numeric copy.
      if (col && (ct === "decimal" || (ct === "bigint" && (a.fn === "sum" || a.fn === "avg")))) {
        const sh = `${SHADOW}${col}`;
        const src = col;
        shadows[sh] = aq.escape((d: Row) => (d[src] === null || d[src] === undefined ? null : Number(d[src])));
        col = sh;
      }
      const key = `a${k}`;
      spec[key] = a.fn === "count" ? (col ? aq.op.valid(col) : aq.op.count())
        : a.fn === "sum" ? aq.op.sum(col!) : a.fn === "avg" ? aq.op.mean(col!) : a.fn === "min" ? aq.op.min(col!) : aq.op.max(col!);
      const rt: ColumnType = a.fn === "count" ? "integer" : a.fn === "avg" ? "double" : a.fn === "sum" ? (ct === "integer" ? "integer" : "double") : ct!;
      outCols.push({ name: alias, src: key, type: rt, sqlType: a.fn === "count" ? "BIGINT" : SQL_TYPE[rt] });
    }
    if (Object.keys(shadows).length) t = t.derive(shadows as Parameters<typeof t.derive>[0]);
    t = (groupCols.length ? t.groupby(...groupCols.map((g) => g.key)) : t).rollup(spec as Parameters<typeof t.rollup>[0]);
  } else {
    const sel = q.select?.length ? q.select : meta.columns.map((c) => c.name);
    outCols = sel.map((c) => ({ name: c, src: need(c).key, type: need(c).type, sqlType: SQL_TYPE[need(c).type] }));
  }

  const order = q.order_by ?? [];
  if (order.length) {
    const outByName = new Map(outCols.map((c) => [c.name, { key: c.src, type: c.type }]));
    const grouped = groupBy.length > 0 || aggs.length > 0;
    const keys = order.map((o) => {
      const oc = grouped ? outByName.get(o.column) : columns.get(o.column);
      if (!oc) throw bad(grouped ? `Cannot order by "${o.column}": order by a group_by column or an aggregate alias (${[...outByName.keys()].join(", ")})` : `Unknown column "${o.column}". Known columns: ${known()}`);
      let key = oc.key;
      if (oc.type === "decimal") {
        const src = key;
        key = `${SHADOW}o:${src}`;
        t = t.derive({ [key]: aq.escape((d: Row) => (d[src] === null || d[src] === undefined ? null : Number(d[src]))) } as Parameters<typeof t.derive>[0]);
      }
      return o.desc ? aq.desc(key) : key;
    });
    t = t.orderby(...(keys as Parameters<typeof t.orderby>));
  }

  const total = t.numRows();
  const offset = Math.min(q.offset ?? 0, total);
  let end = q.limit !== undefined ? Math.min(total, offset + q.limit) : total;
  let truncated = false;
  if (capRows !== undefined && end - offset > capRows) { end = offset + capRows; truncated = true; }
  const result = t.slice(offset, end).reify();
  const numRows = result.numRows();
  const cols = outCols.map((c) => ({ get: result.column(c.src)!, type: c.type }));

  return {
    columns: outCols.map((c) => ({ name: c.name, type: c.sqlType })),
    numRows,
    truncated,
    async *batches(size = 2000) {
      for (let start = 0; start < numRows; start += size) {
        const stop = Math.min(numRows, start + size);
        const batch: unknown[][] = [];
        for (let r = start; r < stop; r++) batch.push(cols.map((c) => out(c.get.at(r), c.type)));
        yield batch;
      }
    },
  };
}
