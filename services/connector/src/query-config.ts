import {
  DummyDriver, Kysely, MssqlAdapter, MssqlIntrospector, MssqlQueryCompiler, MysqlAdapter, MysqlIntrospector, MysqlQueryCompiler,
  PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql, type Expression, type RawBuilder, type SqlBool,
} from "kysely";
import { AppError, type QueryConfig, type SchemaTable, type SourceSchema } from "@dsb/contracts";
import type { Dialect } from "./drivers/types.ts";
import { nativeText } from "./drivers/mongodb/native.ts";
import { queryConfigPipeline } from "./drivers/mongodb/translate.ts";

/** SQL text plus the values bound to its placeholders, in order. */
export interface CompiledQuery {
  sql: string;
  params: unknown[];
}

// Kysely only compiles here (DummyDriver never connects), so the database shape is untyped.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

const kyselyFor = {
  postgres: () => new Kysely<Record<string, never>>({ dialect: {
    createAdapter: () => new PostgresAdapter(), createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db), createQueryCompiler: () => new PostgresQueryCompiler(),
  } }),
  mysql: () => new Kysely<Record<string, never>>({ dialect: {
    createAdapter: () => new MysqlAdapter(), createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new MysqlIntrospector(db), createQueryCompiler: () => new MysqlQueryCompiler(),
  } }),
  mssql: () => new Kysely<Record<string, never>>({ dialect: {
    createAdapter: () => new MssqlAdapter(), createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new MssqlIntrospector(db), createQueryCompiler: () => new MssqlQueryCompiler(),
  } }),
} as const;
const kyselies = new Map<string, AnyDb>();
const kysely = (d: keyof typeof kyselyFor): AnyDb => {
  let k = kyselies.get(d);
  if (!k) kyselies.set(d, (k = kyselyFor[d]() as AnyDb));
  return k;
};

const list = (xs: string[], max = 30) => (xs.length > max ? `${xs.slice(0, max).join(", ")}, … (${xs.length - max} more)` : xs.join(", "));
const tableLabel = (t: SchemaTable) => (t.schema ? `${t.schema}.${t.name}` : t.name);

/** Finds `query_config.table` in the stored schema (`schema.table`, or a bare name that is unique). */
export function resolveTable(schema: SourceSchema | null | undefined, name: string | undefined): SchemaTable {
  const tables = schema?.tables ?? [];
  if (!name) throw new AppError("VALIDATION", `query_config.table is required for database sources. Known tables: ${list(tables.map(tableLabel))}`);
  if (tables.length === 0) throw new AppError("VALIDATION", "This source has no stored schema yet; refresh it (GET /sources/{id}/schema?refresh=true) before using query_config");
  const exact = tables.find((t) => tableLabel(t) === name);
  if (exact) return exact;
  const bare = tables.filter((t) => t.name === name);
  if (bare.length === 1) return bare[0]!;
  if (bare.length > 1) throw new AppError("VALIDATION", `Table ${name} exists in several schemas (${list(bare.map(tableLabel))}); name it as schema.table`);
  const ci = tables.filter((t) => tableLabel(t).toLowerCase() === name.toLowerCase() || t.name.toLowerCase() === name.toLowerCase());
  if (ci.length === 1) return ci[0]!;
  throw new AppError("VALIDATION", `Unknown table ${name}. Known tables: ${list(tables.map(tableLabel))}`);
}

type Op = NonNullable<QueryConfig["filters"]>[number]["op"];

/** Per-dialect pieces; `val` records a bound value and returns its placeholder. */
interface Emitter {
  id(...parts: string[]): string;
  val(v: unknown): string;
  contains(col: string, placeholder: string): string;
  params: unknown[];
}

const quoteWith = (q: string) => (s: string) => q + s.split(q).join(q + q) + q;

function simpleEmitter(dialect: "clickhouse" | "snowflake" | "bigquery"): Emitter {
  const params: unknown[] = [];
  const quote = dialect === "snowflake" ? quoteWith('"') : quoteWith("`");
  const chType = (v: unknown) =>
    typeof v === "number" ? (Number.isInteger(v) ? "Int64" : "Float64") : typeof v === "boolean" ? "Bool" : typeof v === "bigint" ? "Int64" : "String";
  return {
    params,
    id: (...parts) => parts.map(quote).join("."),
    val(v) {
      params.push(v);
      return dialect === "clickhouse" ? `{p${params.length}:${chType(v)}}` : "?";
    },
    contains: (col, p) =>
      dialect === "clickhouse" ? `positionCaseInsensitiveUTF8(toString(${col}), ${p}) > 0`
        : dialect === "snowflake" ? `CONTAINS(LOWER(TO_VARCHAR(${col})), LOWER(${p}))`
          : `STRPOS(LOWER(CAST(${col} AS STRING)), LOWER(${p})) > 0`,
  };
}

function checkColumns(table: SchemaTable, qc: QueryConfig): void {
  const known = new Set(table.columns.map((c) => c.name));
  const aliases = new Set((qc.aggregates ?? []).map((a) => aggAlias(a)));
  const unknown = (c: string, allowAlias = false) => {
    if (known.has(c) || (allowAlias && aliases.has(c))) return;
    throw new AppError("VALIDATION", `Unknown column ${c} in table ${tableLabel(table)}. Known columns: ${list([...known])}`);
  };
  for (const c of qc.select ?? []) unknown(c);
  for (const f of qc.filters ?? []) unknown(f.column);
  for (const c of qc.group_by ?? []) unknown(c);
  for (const a of qc.aggregates ?? []) {
    if (a.column !== undefined && a.column !== "*") unknown(a.column);
    else if (a.fn !== "count") throw new AppError("VALIDATION", `Aggregate ${a.fn} needs a column`);
  }
  for (const o of qc.order_by ?? []) unknown(o.column, true);
}

type Agg = NonNullable<QueryConfig["aggregates"]>[number];
export const aggAlias = (a: Agg) => a.as ?? (a.column && a.column !== "*" ? `${a.fn}_${a.column}` : a.fn);

export function filterValue(op: Op, column: string, value: unknown): unknown {
  if (op === "in") {
    if (!Array.isArray(value)) throw new AppError("VALIDATION", `Filter "in" on ${column} needs an array value`);
    return value;
  }
  if (op === "is_null") return value;
  if (value === undefined || value === null) throw new AppError("VALIDATION", `Filter ${op} on ${column} needs a value (use is_null for NULL checks)`);
  if (typeof value === "object") throw new AppError("VALIDATION", `Filter ${op} on ${column} needs a scalar value`);
  return op === "contains" ? String(value) : value;
}

/** Without an explicit select, a grouped query returns its group keys before the aggregates. */
export const selectedColumns = (qc: QueryConfig): string[] => qc.select ?? (qc.aggregates?.length ? qc.group_by ?? [] : []);

/** The one builder for every dialect, over an Emitter. */
function buildText(e: Emitter, table: SchemaTable, qc: QueryConfig, dialect: Dialect): string {
  const tref = table.schema ? e.id(table.schema, table.name) : e.id(table.name);
  const cols: string[] = [];
  for (const c of selectedColumns(qc)) cols.push(e.id(c));
  for (const a of qc.aggregates ?? []) {
    const arg = a.column && a.column !== "*" ? e.id(a.column) : "*";
    cols.push(`${a.fn}(${arg}) as ${e.id(aggAlias(a))}`);
  }
  const where: string[] = [];
  for (const f of qc.filters ?? []) {
    const col = e.id(f.column);
    const v = filterValue(f.op, f.column, f.value);
    if (f.op === "is_null") where.push(v === false ? `${col} is not null` : `${col} is null`);
    else if (f.op === "in") where.push((v as unknown[]).length === 0 ? "1 = 0" : `${col} in (${(v as unknown[]).map((x) => e.val(x)).join(", ")})`);
    else if (f.op === "contains") where.push(e.contains(col, e.val(v)));
    else where.push(`${col} ${f.op === "!=" ? "<>" : f.op} ${e.val(v)}`);
  }
  let text = `select ${cols.length ? cols.join(", ") : "*"} from ${tref}`;
  if (where.length) text += ` where ${where.join(" and ")}`;
  if (qc.group_by?.length) text += ` group by ${qc.group_by.map((c) => e.id(c)).join(", ")}`;
  if (qc.order_by?.length) text += ` order by ${qc.order_by.map((o) => `${e.id(o.column)}${o.desc ? " desc" : " asc"}`).join(", ")}`;
  if (qc.limit !== undefined) text += ` limit ${qc.limit}`;
  if (qc.offset !== undefined) text += dialect === "clickhouse" && qc.limit === undefined ? ` limit ${qc.offset}, 18446744073709551615` : ` offset ${qc.offset}`;
  return text;
}

/** Kysely's compilers: quoting and placeholders of postgres, mysql and mssql. */
function buildKysely(dialect: "postgres" | "mysql" | "mssql", table: SchemaTable, qc: QueryConfig): CompiledQuery {
  const db = kysely(dialect);
  const id = (c: string) => sql.id(c);
  const tref = table.schema ? sql.id(table.schema, table.name) : sql.id(table.name);
  // The alias keeps names with dots intact (selectFrom would split "a.b").
  const q = db.selectFrom(sql`${tref}`.as("t"));
  const selections: ReturnType<RawBuilder<unknown>["as"]>[] = [];
  for (const c of selectedColumns(qc)) selections.push(sql`${id(c)}`.as(c));
  for (const a of qc.aggregates ?? []) {
    const arg = a.column && a.column !== "*" ? sql`${id(a.column)}` : sql.raw("*");
    selections.push(sql`${sql.raw(a.fn)}(${arg})`.as(aggAlias(a)));
  }
  let s = selections.length ? q.select(selections) : q.selectAll();
  for (const f of qc.filters ?? []) {
    const col = id(f.column);
    const v = filterValue(f.op, f.column, f.value);
    let cond: Expression<SqlBool>;
    if (f.op === "is_null") cond = v === false ? sql<SqlBool>`${col} is not null` : sql<SqlBool>`${col} is null`;
    else if (f.op === "in") cond = (v as unknown[]).length === 0 ? sql<SqlBool>`1 = 0` : sql<SqlBool>`${col} in (${sql.join((v as unknown[]).map((x) => sql.val(x)))})`;
    else if (f.op === "contains")
      cond = dialect === "postgres" ? sql<SqlBool>`strpos(lower(${col}::text), lower(${v})) > 0`
        : dialect === "mysql" ? sql<SqlBool>`locate(lower(${v}), lower(${col})) > 0`
          : sql<SqlBool>`charindex(lower(${v}), lower(cast(${col} as nvarchar(max)))) > 0`;
    else cond = sql<SqlBool>`${col} ${sql.raw(f.op === "!=" ? "<>" : f.op)} ${sql.val(v)}`;
    s = s.where(cond);
  }
  for (const c of qc.group_by ?? []) s = s.groupBy(sql`${id(c)}`);
  for (const o of qc.order_by ?? []) s = s.orderBy(sql`${id(o.column)} ${sql.raw(o.desc ? "desc" : "asc")}`);
  // Limits are validated integers: inlined as literals (prepared LIMIT ? is fussy on MySQL).
  if (dialect === "mssql") {
    if (qc.offset !== undefined) {
      if (!qc.order_by?.length) s = s.orderBy(sql`(select null)`);
      s = s.offset(sql.lit(qc.offset) as never);
      if (qc.limit !== undefined) s = s.fetch(qc.limit);
    } else if (qc.limit !== undefined) s = s.top(qc.limit);
  } else {
    if (qc.limit !== undefined) s = s.limit(sql.lit(qc.limit) as never);
    else if (qc.offset !== undefined && dialect === "mysql") s = s.limit(sql.raw("18446744073709551615") as never);
    if (qc.offset !== undefined) s = s.offset(sql.lit(qc.offset) as never);
  }
  const c = s.compile();
  return { sql: dialect === "mssql" ? mssqlNamedParams(c.sql) : c.sql, params: [...c.parameters] };
}

/** Kysely writes `@1`; the mssql driver binds API.md's `@p1` names. Quoted identifiers and strings are left alone. */
export function mssqlNamedParams(text: string): string {
  return text.replace(/("(?:[^"]|"")*"|'(?:[^']|'')*'|\[(?:[^\]]|\]\])*\])|@(\d+)\b/g, (m, quoted: string | undefined, n: string | undefined) => (quoted ? m : `@p${n}`));
}

/**
 * Compiles a structured query to SQL for a dialect. Table and column names
 * are checked against the stored schema; every value is a bound parameter.
 */
export function compileQueryConfig(dialect: Dialect, qc: QueryConfig, schema: SourceSchema | null | undefined): CompiledQuery {
  const table = resolveTable(schema, qc.table);
  checkColumns(table, qc);
  // MongoDB: an aggregation pipeline (Extended JSON text) instead of SQL; values are in it, not bound.
  if (dialect === "mongodb") return { sql: nativeText(queryConfigPipeline(table, qc)), params: [] };
  if (dialect === "postgres" || dialect === "mysql" || dialect === "mssql") return buildKysely(dialect, table, qc);
  const e = simpleEmitter(dialect);
  const text = buildText(e, table, qc, dialect);
  return { sql: text, params: e.params };
}
