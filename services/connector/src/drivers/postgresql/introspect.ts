import type { SchemaColumn, SchemaTable } from "@dsb/contracts";
import type { TablesJson } from "../types.ts";

/**
 * Runs one catalog query and returns its rows as objects; given `onRow`, it may instead hand each
 * row there as it arrives and resolve to no rows (the PostgreSQL driver does).
 */
export type CatalogQuery = (sql: string, params?: unknown[], onRow?: (row: Record<string, unknown>) => void) => Promise<Record<string, unknown>[]>;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * A relation's row count without reading it: the planner's estimate (reltuples)
 * once ANALYZE or VACUUM ran; before that (reltuples -1 on PG 14+, 0 before) the
 * statistics' live-tuple count, which counts inserts without an ANALYZE; and
 * when that is 0 too (say the statistics were reset) the relation's size over
 * an estimated row width (fixed-width columns their length, others 32 bytes,
 * plus a 28-byte tuple header and pointer). Null for views and for foreign or
 * partitioned tables without statistics. One expression per relation, no query
 * per table; PG_INTROSPECT_SQL and PG_INTROSPECT_JSON_SQL share it.
 */
const ROW_ESTIMATE = `case when c.relkind in ('r', 'p', 'f', 'm') then
         case when c.reltuples > 0 then c.reltuples::float8
              when pg_catalog.pg_stat_get_live_tuples(c.oid) > 0 then pg_catalog.pg_stat_get_live_tuples(c.oid)::float8
              when c.relkind in ('r', 'm') and c.reltuples < 0 then (
                select case when z.bytes = 0 then 0::float8 else floor(z.bytes
                  * (current_setting('block_size')::float8 - 24) / current_setting('block_size')::float8
                  / (28 + coalesce((select sum(case when w.attlen > 0 then w.attlen else 32 end) from pg_catalog.pg_attribute w
                                    where w.attrelid = c.oid and w.attnum > 0 and not w.attisdropped), 0))) end
                from (select pg_catalog.pg_relation_size(c.oid)::float8 as bytes) z)
              when c.reltuples = 0 then 0::float8
         end
       end`;

/**
 * PostgreSQL: every relation with its columns, primary key flags and comments
 * in one set-based query over pg_class / pg_namespace / pg_attribute /
 * pg_index / pg_description; rowCount from ROW_ESTIMATE.
 */
export const PG_INTROSPECT_SQL = `
select n.nspname as schema_name, c.relname as table_name,
       case when c.relkind in ('v', 'm') then 'view' else 'table' end as kind,
       est.row_estimate,
       td.description as table_comment,
       a.attname as column_name, format_type(a.atttypid, a.atttypmod) as column_type, a.attnotnull as not_null,
       cd.description as column_comment,
       coalesce(a.attnum = any (i.indkey), false) as is_pk
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
-- Once per relation, not per column row (offset 0 keeps it from being pulled up into the select list).
cross join lateral (select ${ROW_ESTIMATE} as row_estimate offset 0) est
left join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
left join pg_catalog.pg_index i on i.indrelid = c.oid and i.indisprimary
left join pg_catalog.pg_description td on td.objoid = c.oid and td.classoid = 'pg_catalog.pg_class'::regclass and td.objsubid = 0
left join pg_catalog.pg_description cd on cd.objoid = c.oid and cd.classoid = 'pg_catalog.pg_class'::regclass and cd.objsubid = a.attnum
where c.relkind in ('r', 'p', 'v', 'm', 'f')
  and not c.relispartition
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname !~ '^pg_(toast|temp_)'
order by n.nspname, c.relname, a.attnum`;

/**
 * Groups column rows into tables in one pass. The rows come ordered by relation, so a
 * row belongs to the previous row's table unless its names differ (no key string per
 * row: 100k columns are common); the map only catches rows that come out of order.
 */
function group(rows: Record<string, unknown>[], meta: (r: Record<string, unknown>) => Omit<SchemaTable, "columns">): SchemaTable[] {
  const out: SchemaTable[] = [];
  const byKey = new Map<string, SchemaTable>();
  let t: SchemaTable | undefined;
  let schemaName: unknown;
  let tableName: unknown;
  for (const r of rows) {
    if (!t || r.schema_name !== schemaName || r.table_name !== tableName) {
      schemaName = r.schema_name;
      tableName = r.table_name;
      const key = `${String(schemaName)}\u0000${String(tableName)}`;
      t = byKey.get(key);
      if (!t) {
        t = { ...meta(r), columns: [] };
        byKey.set(key, t);
        out.push(t);
      }
    }
    if (r.column_name !== null && r.column_name !== undefined) {
      const c: SchemaColumn = { name: String(r.column_name), type: String(r.column_type), nullable: !r.not_null, primary_key: !!r.is_pk };
      if (r.column_comment) c.comment = String(r.column_comment);
      t.columns.push(c);
    }
  }
  return out;
}

export async function introspectPostgres(q: CatalogQuery): Promise<SchemaTable[]> {
  const rows = await q(PG_INTROSPECT_SQL);
  return group(rows, (r) => ({
    schema: String(r.schema_name),
    name: String(r.table_name),
    kind: r.kind === "view" ? "view" : "table",
    rowCount: num(r.row_estimate),
    ...(r.table_comment ? { comment: String(r.table_comment) } : {}),
  }));
}

/**
 * PG_INTROSPECT_SQL with one row per relation whose columns PostgreSQL prints as the
 * JSON of `SchemaColumn[]` (same keys, order and escaping as JSON.stringify; empty
 * comments left out as `group` does): 5,000 rows instead of 100,000, and no objects.
 * The relations are sorted before their columns are printed: sorting the printed rows
 * (megabytes) spilled to disk past work_mem (7.8 MB at 5,000 tables × 20 columns).
 * The outer ORDER BY costs nothing (the planner sees the input sorted) and keeps the order guaranteed.
 */
export const PG_INTROSPECT_JSON_SQL = `
select r.schema_name, r.table_name, r.kind, r.row_estimate, r.table_comment,
       (select coalesce('[' || string_agg('{"name":' || to_json(a.attname::text)::text
                  || ',"type":' || to_json(format_type(a.atttypid, a.atttypmod))::text
                  || ',"nullable":' || (not a.attnotnull)::text
                  || ',"primary_key":' || coalesce(a.attnum = any (r.pk), false)::text
                  || coalesce(',"comment":' || to_json(nullif(cd.description, ''))::text, '') || '}', ',' order by a.attnum) || ']', '[]')
        from pg_catalog.pg_attribute a
        left join pg_catalog.pg_description cd on cd.objoid = r.oid and cd.classoid = 'pg_catalog.pg_class'::regclass and cd.objsubid = a.attnum
        where a.attrelid = r.oid and a.attnum > 0 and not a.attisdropped) as columns_json
from (select c.oid, i.indkey as pk, n.nspname as schema_name, c.relname as table_name,
             case when c.relkind in ('v', 'm') then 'view' else 'table' end as kind,
             ${ROW_ESTIMATE} as row_estimate,
             td.description as table_comment
      from pg_catalog.pg_class c
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      left join pg_catalog.pg_index i on i.indrelid = c.oid and i.indisprimary
      left join pg_catalog.pg_description td on td.objoid = c.oid and td.classoid = 'pg_catalog.pg_class'::regclass and td.objsubid = 0
      where c.relkind in ('r', 'p', 'v', 'm', 'f')
        and not c.relispartition
        and n.nspname not in ('pg_catalog', 'information_schema')
        and n.nspname !~ '^pg_(toast|temp_)'
      order by n.nspname, c.relname) r
order by r.schema_name, r.table_name`;

/**
 * How the connector sends PG_INTROSPECT_JSON_SQL: in one simple-query message after
 * `set local jit = off` (which ends with the message's implicit transaction). The
 * statement's cost estimate passes jit_above_cost at a few thousand tables, and
 * compiling its expressions with LLVM took ~100 ms of a ~300 ms query.
 */
export const PG_INTROSPECT_JSON_STATEMENT = `set local jit = off; ${PG_INTROSPECT_JSON_SQL}`;

/** PostgreSQL before 11 has no `jit` setting: "unrecognized configuration parameter". */
const noJitSetting = (e: unknown) => (e as { code?: unknown } | null)?.code === "42704" && /"jit"/.test(String((e as Error).message));

/** `introspectPostgres` as JSON text: each table's fields in `group`'s order around the columns PostgreSQL printed. */
export async function introspectPostgresJson(q: CatalogQuery, onTable?: (json: string) => void): Promise<TablesJson> {
  const parts: string[] = [];
  const emit = onTable ?? ((json: string) => void parts.push(json));
  const schemas = new Set<string>();
  let totalRows = 0;
  const add = (r: Record<string, unknown>) => {
    const schema = String(r.schema_name);
    const kind = r.kind === "view" ? "view" : "table";
    const rowCount = num(r.row_estimate);
    schemas.add(schema);
    if (kind === "table" && rowCount && rowCount > 0) totalRows += rowCount;
    emit(`{"schema":${JSON.stringify(schema)},"name":${JSON.stringify(String(r.table_name))},"kind":"${kind}","rowCount":${JSON.stringify(rowCount)}` +
      `${r.table_comment ? `,"comment":${JSON.stringify(String(r.table_comment))}` : ""},"columns":${String(r.columns_json)}}`);
  };
  // The SET fails before any row, so the fallback never repeats a table.
  const rows = await q(PG_INTROSPECT_JSON_STATEMENT, undefined, add).catch((e: unknown) => {
    if (noJitSetting(e)) return q(PG_INTROSPECT_JSON_SQL, undefined, add);
    throw e;
  });
  for (const r of rows) add(r);
  return { tablesJson: onTable ? "" : `[${parts.join(",")}]`, schemas: [...schemas].filter(Boolean).sort(), totalRows };
}

const SYSTEM_FILTER = (col: string) => `${col} not in ('pg_catalog', 'information_schema') and ${col} !~ '^pg_'`;

/**
 * Redshift: information_schema (tables, columns, key constraints) plus
 * pg_class/pg_description for estimates and comments. Every query here also
 * runs on PostgreSQL, which is how it is tested. Four queries whatever the
 * number of tables.
 */
export const REDSHIFT_INTROSPECT_SQL = {
  tables: `select table_schema as schema_name, table_name, table_type from information_schema.tables
           where ${SYSTEM_FILTER("table_schema")} and table_type in ('BASE TABLE', 'VIEW')`,
  columns: `select table_schema as schema_name, table_name, column_name, data_type, is_nullable, ordinal_position,
                   character_maximum_length, numeric_precision, numeric_scale
            from information_schema.columns where ${SYSTEM_FILTER("table_schema")}
            order by table_schema, table_name, ordinal_position`,
  keys: `select kcu.table_schema as schema_name, kcu.table_name, kcu.column_name
         from information_schema.table_constraints tc
         join information_schema.key_column_usage kcu
           on kcu.constraint_schema = tc.constraint_schema and kcu.constraint_name = tc.constraint_name and kcu.table_name = tc.table_name
         where tc.constraint_type = 'PRIMARY KEY' and ${SYSTEM_FILTER("tc.table_schema")}`,
  stats: `select n.nspname as schema_name, c.relname as table_name, c.reltuples::float8 as row_estimate, d.description as table_comment
          from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
          left join pg_catalog.pg_description d on d.objoid = c.oid and d.objsubid = 0
          where c.relkind in ('r', 'v') and ${SYSTEM_FILTER("n.nspname")}`,
} as const;

function typeOf(r: Record<string, unknown>): string {
  const t = String(r.data_type);
  if (r.character_maximum_length !== null && r.character_maximum_length !== undefined) return `${t}(${String(r.character_maximum_length)})`;
  if (t === "numeric" && r.numeric_precision !== null && r.numeric_precision !== undefined)
    return `numeric(${String(r.numeric_precision)},${String(r.numeric_scale ?? 0)})`;
  return t;
}

export async function introspectRedshift(q: CatalogQuery): Promise<SchemaTable[]> {
  const [tables, columns, keys, stats] = [
    await q(REDSHIFT_INTROSPECT_SQL.tables), await q(REDSHIFT_INTROSPECT_SQL.columns),
    await q(REDSHIFT_INTROSPECT_SQL.keys), await q(REDSHIFT_INTROSPECT_SQL.stats),
  ];
  const k = (r: Record<string, unknown>) => `${String(r.schema_name)}\u0000${String(r.table_name)}`;
  const pk = new Set(keys.map((r) => `${k(r)}\u0000${String(r.column_name)}`));
  const stat = new Map(stats.map((r) => [k(r), r]));
  const out = new Map<string, SchemaTable>();
  for (const r of [...tables].sort((a, b) => k(a).localeCompare(k(b)))) {
    const s = stat.get(k(r));
    const view = r.table_type === "VIEW";
    const est = s ? num(s.row_estimate) : null;
    out.set(k(r), {
      schema: String(r.schema_name), name: String(r.table_name), kind: view ? "view" : "table",
      rowCount: view || est === null || est < 0 ? null : est,
      ...(s?.table_comment ? { comment: String(s.table_comment) } : {}),
      columns: [],
    });
  }
  for (const r of columns) {
    const t = out.get(k(r));
    if (!t) continue;
    t.columns.push({
      name: String(r.column_name), type: typeOf(r), nullable: r.is_nullable === "YES",
      primary_key: pk.has(`${k(r)}\u0000${String(r.column_name)}`),
    });
  }
  return [...out.values()];
}
