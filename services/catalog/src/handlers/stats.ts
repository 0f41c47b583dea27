import { sql, type Transaction } from "kysely";
import type { CatalogDatabase, CatalogDb } from "../db/types.ts";
import type { Handlers } from "@dsb/bus";
import type { QueryStats, SourceStats } from "@dsb/contracts";
import { NO_DURATION } from "../db/migrate-analytics.ts";
import { findActiveSource, type CatalogDeps } from "./deps.ts";
import { TOTALS, windowCtes } from "./stats-window.ts";

/**
 * Runs `f` in a transaction whose sorts may use STATS_WORK_MEM: the median of a frequent
 * query text sorts every duration of that text in the window, and with the default 4 MB
 * a third of a million of them spilled to disk (measured in test/bench/stats-history.ts).
 */
const STATS_WORK_MEM = "64MB";
function withSortMemory<T>(db: CatalogDb, f: (tx: Transaction<CatalogDatabase>) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (tx) => {
    await sql.raw(`set local work_mem = '${STATS_WORK_MEM}'`).execute(tx);
    return f(tx);
  });
}

/**
 * Query analytics from data_queries, one statement per request, from the per-day rollups
 * of migration 5 and short index range scans (stats-window.ts): the answer is the exact one
 * of the history rows, without reading the window's rows. Tenant-scoped like every catalog query.
 * `frequent` ranks query texts by count, ties by the md5 of the text (which texts share the
 * tenth place is otherwise arbitrary), and lists them by count, then text.
 */
export function statsHandlers({ db }: CatalogDeps): Handlers<"catalog.stats.source" | "catalog.stats.tenant"> {
  return {
    "catalog.stats.source": async ({ actor, id, since }) => {
      await findActiveSource(db, actor.tenant_id, id);
      const tenant = actor.tenant_id;
      /** One source's history rows in the window. */
      const mine = sql`q.data_source_id = ${id} and q.tenant_id = ${tenant} and q.created_at >= (select since from w)`;
      const { rows } = await withSortMemory(db, (tx) => sql<{ stats: QueryStats }>`
        with src as (select ${id}::text as id), ${windowCtes(tenant, since, true)},
        totals as (${TOTALS}),
        days as (
          select to_char(b.day, 'YYYY-MM-DD') as day, sum(b.queries)::int as queries, sum(b.errors)::int as errors,
            (select ms from pv where pv.g = b.day and pv.p = 0.5) as p50_ms
          from bk b group by b.day having sum(b.queries) > 0
        ),
        -- the 10 slowest of each day with durations (read backwards from the day/duration index), then of all
        top as (
          select x.* from (select distinct day from bk where bucket <> ${sql.lit(NO_DURATION)} and queries > 0) d
          cross join lateral (
            select q.id, q.execution_time_ms, q.created_at from data_queries q
            where ${mine} and (q.created_at at time zone 'UTC')::date = d.day and q.execution_time_ms is not null
            order by q.execution_time_ms desc, q.created_at desc limit 10) x
          order by x.execution_time_ms desc, x.created_at desc limit 10
        ),
        slowest as (
          select q.id as query_id, coalesce(q.query, q.query_config::text) as query, q.execution_time_ms,
            to_char(q.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at
          from top join data_queries q on q.id = top.id
        ),
        texts as (
          select query_hash, sum(n)::int as count from (
            select t.query_hash, t.queries as n from data_query_texts t cross join w
            where t.data_source_id = ${id} and t.tenant_id = ${tenant} and t.day >= w.full_day
            union all
            select query_hash, count(*) from raw group by 1) x
          group by 1 having sum(n) > 0 order by 2 desc, 1 limit 10
        ),
        frequent as (
          select (select coalesce(q.query, q.query_config::text) from data_queries q where ${mine} and q.query_hash = t.query_hash limit 1) as query,
            t.count,
            (select round((percentile_cont(0.5) within group (order by q.execution_time_ms))::numeric, 1)::float8
             from data_queries q where ${mine} and q.query_hash = t.query_hash) as p50_ms
          from texts t
        )
        select (to_jsonb(t) - 'data_source_id') || jsonb_build_object(
          'by_day', coalesce((select jsonb_agg(d order by d.day) from days d), '[]'::jsonb),
          'slowest', coalesce((select jsonb_agg(s order by s.execution_time_ms desc, s.created_at desc) from slowest s), '[]'::jsonb),
          'frequent', coalesce((select jsonb_agg(f order by f.count desc, f.query) from frequent f), '[]'::jsonb)) as stats
        from totals t`.execute(tx));
      return { stats: rows[0]!.stats };
    },

    "catalog.stats.tenant": async ({ actor, since }) => {
      const tenant = actor.tenant_id;
      const { rows } = await withSortMemory(db, (tx) => sql<SourceStats>`
        with src as (select id from data_sources where tenant_id = ${tenant} and is_active), ${windowCtes(tenant, since, false)},
        totals as (${TOTALS})
        select s.id, s.name, s.type, s.db_type, t.queries, t.errors, t.cached, t.p50_ms, t.p95_ms, t.max_ms, t.rows
        from data_sources s join totals t on t.data_source_id = s.id
        order by t.queries desc, s.name, s.id`.execute(tx));
      return { sources: rows };
    },
  };
}
