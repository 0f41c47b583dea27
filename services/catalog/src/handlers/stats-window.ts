import { sql, type RawBuilder } from "kysely";
import { NO_DURATION } from "../db/migrate-analytics.ts";

/**
 * The parts of a stats statement that read one window of history (created_at >= since)
 * of the sources in a CTE `src(id)` the caller defines, from the rollups of migration 5:
 *
 * - `w`: the window; its whole UTC days come from the rollups, the partial first day
 *   (since → next midnight) from the history rows themselves (`raw`).
 * - `bk`: the window's rows per source, day and duration bucket (counts, errors, cache hits, rows);
 *   `bw` the same per source and bucket over the window, with the days holding the bucket.
 * - `pv`: exact percentiles per source over the window (g = 'infinity': p 0.5, 0.95 and 1, the
 *   maximum) and, with `byDay`, per source and day (g = the day: p 0.5). As percentile_cont
 *   computes them: the values at ranks floor and ceil of p·(n−1), interpolated in float8.
 *   A rank's bucket comes from the cumulated bucket counts; its value is the bucket itself
 *   when the bucket is 1 ms wide, else the k-th of the window's durations in the bucket,
 *   read day by day from the day/duration index (a few hundred rows, not the window).
 */
export function windowCtes(tenant: string, since: string, byDay: boolean): RawBuilder<unknown> {
  const nod = sql.lit(NO_DURATION);
  const perDay = byDay ? sql`union all
      select data_source_id, day, bucket, queries::bigint, (sum(queries) over (partition by data_source_id, day order by bucket) - queries)::bigint,
        (sum(queries) over (partition by data_source_id, day))::bigint
      from bk where bucket <> ${nod} and queries > 0` : sql``;
  return sql`
    w as materialized (
      select since, d0, full_day, full_day::timestamp at time zone 'UTC' as full_from
      from (select since, d0, case when since = d0::timestamp at time zone 'UTC' then d0 else d0 + 1 end as full_day
            from (select ${since}::timestamptz as since, (${since}::timestamptz at time zone 'UTC')::date as d0) a) b
    ),
    raw as materialized (
      select q.data_source_id, w.d0 as day, q.execution_time_ms, q.status, q.cached, q.result_count, q.query_hash
      from src cross join w
      join data_queries q on q.data_source_id = src.id and q.tenant_id = ${tenant}
        and (q.created_at at time zone 'UTC')::date = w.d0 and q.created_at >= w.since and q.created_at < w.full_from
    ),
    bk as materialized (
      select b.data_source_id, b.day, b.bucket, b.queries, b.errors, b.cached, b.rows
      from src cross join w
      join data_query_buckets b on b.data_source_id = src.id and b.tenant_id = ${tenant} and b.day >= w.full_day
      union all
      select data_source_id, day, data_queries_ms_bucket(execution_time_ms), count(*)::int, (count(*) filter (where status <> 'success'))::int,
        (count(*) filter (where cached))::int, coalesce(sum(result_count), 0)::bigint
      from raw group by 1, 2, 3
    ),
    bw as materialized (
      select data_source_id, bucket, sum(queries)::bigint as n, sum(errors)::bigint as errors, sum(cached)::bigint as cached, sum(rows) as rows,
        array_agg(day) filter (where queries > 0) as days
      from bk group by 1, 2
    ),
    cum as (
      select data_source_id, 'infinity'::date as g, bucket, n, (sum(n) over (partition by data_source_id order by bucket) - n)::bigint as before,
        (sum(n) over (partition by data_source_id))::bigint as total
      from bw where bucket <> ${nod} and n > 0
      ${perDay}
    ),
    picks as (
      select r.data_source_id, r.g, r.p, r.pos, c.bucket, k.rank - c.before as k
      from (select c.data_source_id, c.g, p.p, p.p * (c.total - 1)::float8 as pos
            from (select distinct data_source_id, g, total from cum) c
            join (values (0.5::float8, true), (0.95, true), (1, true), (0.5, false)) p(p, whole) on p.whole = (c.g = 'infinity')) r
      cross join lateral (select distinct x from unnest(array[floor(r.pos), ceil(r.pos)]) x) k(rank)
      join cum c on c.data_source_id = r.data_source_id and c.g = r.g and c.before <= k.rank and k.rank < c.before + c.n
    ),
    wide as (
      select p.*, coalesce(d.days, array[p.g]) as days
      from picks p
      left join bw d on p.g = 'infinity' and d.data_source_id = p.data_source_id and d.bucket = p.bucket
      where data_queries_ms_bucket_width(p.bucket) > 1
    ),
    vals as (
      select data_source_id, g, p, pos, bucket as v from picks where data_queries_ms_bucket_width(bucket) = 1
      union all
      select p.data_source_id, p.g, p.p, p.pos, (
        select x.ms from unnest(p.days) d(day)
        cross join lateral (
          select q.execution_time_ms as ms from data_queries q
          where q.data_source_id = p.data_source_id and q.tenant_id = ${tenant} and (q.created_at at time zone 'UTC')::date = d.day
            and q.execution_time_ms >= p.bucket and q.execution_time_ms < p.bucket::bigint + data_queries_ms_bucket_width(p.bucket)
            and q.created_at >= (select since from w)) x
        order by x.ms offset p.k::bigint limit 1)
      from wide p
    ),
    pv as (
      select data_source_id, g, p,
        round((min(v)::float8 + (max(v)::float8 - min(v)::float8) * (pos - floor(pos)))::numeric, 1)::float8 as ms
      from vals group by data_source_id, g, p, pos
    )`;
}

/** The totals of API.md per source of `src`, from the CTEs above (zeros and nulls for a source without rows in the window). */
export const TOTALS = sql`
  select src.id as data_source_id, coalesce(t.queries, 0)::int as queries, coalesce(t.errors, 0)::int as errors, coalesce(t.cached, 0)::int as cached,
    (select ms from pv where pv.data_source_id = src.id and g = 'infinity' and p = 0.5) as p50_ms,
    (select ms from pv where pv.data_source_id = src.id and g = 'infinity' and p = 0.95) as p95_ms,
    (select ms::int from pv where pv.data_source_id = src.id and g = 'infinity' and p = 1) as max_ms,
    coalesce(t.rows, 0)::float8 as rows
  from src left join (
    select data_source_id, sum(n) as queries, sum(errors) as errors, sum(cached) as cached, sum(rows) as rows from bw group by 1
  ) t on t.data_source_id = src.id`;
