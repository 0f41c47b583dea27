import { sql, type Transaction } from "kysely";
import type { CatalogDatabase, CatalogDb } from "../db/types.ts";
import type { Handlers } from "@dsb/bus";
import type { QueryStats, SourceStats } from "@dsb/contracts";
import { findActiveSource, type CatalogDeps } from "./deps.ts";

const iso = (col: string) => sql.raw(`to_char(${col} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);
/** Query text for grouping and display: the sql, else the query_config as JSON text. */
const TEXT = sql.raw(`coalesce(query, query_config::text)`);
/** percentile_cont gives double precision; ms rounded to 0.1 in the answer. `t`: the history table's alias with its dot, or "". */
const pct = (p: number, t = "") => `round((percentile_cont(${p}) within group (order by ${t}execution_time_ms))::numeric, 1)::float8`;
/** The totals of API.md over history rows `t` (counted by id: a left-joined source without history has none). */
const totals = (t = "") => sql.raw(`count(${t}id)::int as queries, (count(${t}id) filter (where ${t}status <> 'success'))::int as errors,
  (count(${t}id) filter (where ${t}cached))::int as cached, ${pct(0.5, t)} as p50_ms, ${pct(0.95, t)} as p95_ms,
  max(${t}execution_time_ms)::int as max_ms, coalesce(sum(${t}result_count), 0)::float8 as rows`);

/**
 * Runs `f` in a transaction whose sorts may use STATS_WORK_MEM: percentiles sort every
 * row they cover, and with the default 4 MB a third of a million history rows spilled
 * to disk (measured in test/bench/stats-history.ts).
 */
const STATS_WORK_MEM = "64MB";
function withSortMemory<T>(db: CatalogDb, f: (tx: Transaction<CatalogDatabase>) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (tx) => {
    await sql.raw(`set local work_mem = '${STATS_WORK_MEM}'`).execute(tx);
    return f(tx);
  });
}

/**
 * Query analytics from data_queries, computed in the catalog's database with one
 * statement per request: the rows of one source since a time are read once (a CTE
 * over the history index) and totals, days, slowest and frequent are aggregated
 * from them. Tenant-scoped like every catalog query.
 */
export function statsHandlers({ db }: CatalogDeps): Handlers<"catalog.stats.source" | "catalog.stats.tenant"> {
  return {
    "catalog.stats.source": async ({ actor, id, since }) => {
      await findActiveSource(db, actor.tenant_id, id);
      const { rows } = await withSortMemory(db, (tx) => sql<{ stats: QueryStats }>`
        with q as materialized (
          select id, query, query_config, status, cached, result_count, execution_time_ms, created_at
          from data_queries where data_source_id = ${id} and tenant_id = ${actor.tenant_id} and created_at >= ${since}::timestamptz
        ), totals as (select ${totals()} from q),
        days as (
          select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD') as day, count(*)::int as queries,
            (count(*) filter (where status <> 'success'))::int as errors, ${sql.raw(pct(0.5))} as p50_ms
          from q group by 1
        ), slowest as (
          select id as query_id, ${TEXT} as query, execution_time_ms, ${iso("created_at")} as created_at
          from q where execution_time_ms is not null order by execution_time_ms desc, created_at desc limit 10
        ), frequent as (
          select ${TEXT} as query, count(*)::int as count, ${sql.raw(pct(0.5))} as p50_ms
          from q group by 1 order by count(*) desc, 1 limit 10
        )
        select to_jsonb(t) || jsonb_build_object(
          'by_day', coalesce((select jsonb_agg(d order by d.day) from days d), '[]'::jsonb),
          'slowest', coalesce((select jsonb_agg(s order by s.execution_time_ms desc, s.created_at desc) from slowest s), '[]'::jsonb),
          'frequent', coalesce((select jsonb_agg(f order by f.count desc, f.query) from frequent f), '[]'::jsonb)) as stats
        from totals t`.execute(tx));
      return { stats: rows[0]!.stats };
    },

    "catalog.stats.tenant": async ({ actor, since }) => {
      const { rows } = await withSortMemory(db, (tx) => sql<SourceStats>`
        select s.id, s.name, s.type, s.db_type, ${totals("q.")}
        from data_sources s
        left join data_queries q on q.data_source_id = s.id and q.tenant_id = s.tenant_id and q.created_at >= ${since}::timestamptz
        where s.tenant_id = ${actor.tenant_id} and s.is_active
        group by s.id, s.name, s.type, s.db_type
        order by count(q.id) desc, s.name, s.id`.execute(tx));
      return { sources: rows };
    },
  };
}
