/**
 * Migration 5: what query analytics read instead of scanning a window of history
 * (handlers/stats.ts). Counted at a million history rows, a 30-day window meant
 * reading and sorting a third of a million rows per request (1.5 s); the rollups
 * below hold a few hundred rows per source and day, and the two indexes answer the
 * remaining exact questions (which duration is the median, which queries were the
 * slowest, what did one query text take) by short range scans.
 *
 * The rollups are kept by statement-level triggers, so the Python system's inserts
 * are counted too and a rollup can never disagree with the rows it counts. The
 * whole migration runs in the migration transaction: the column's table rewrite
 * holds the table's exclusive lock until the back-fill is done, so no row is missed
 * or counted twice.
 */

/** Bucket of the rows without a duration: counted as queries, left out of every duration figure. */
export const NO_DURATION = -2147483648;

/** Hash of the query text the analytics group by (the sql, else the query_config as JSON text); all zeros for neither. */
const QUERY_HASH = `coalesce(md5(coalesce(query, query_config::text))::uuid, '00000000-0000-0000-0000-000000000000'::uuid)`;

/** The row of a history entry in the rollups: its source, tenant and UTC day. */
const DAY = `(created_at at time zone 'UTC')::date`;

const BUCKET_COLUMNS = "(data_source_id, tenant_id, day, bucket, queries, errors, cached, rows)";
const TEXT_COLUMNS = "(data_source_id, tenant_id, day, query_hash, queries)";
/** Rollup rows of the history rows in `from`, each count multiplied by `sign` (the back-fill and both trigger directions). */
const bucketRows = (from: string, sign: string) => `select data_source_id, tenant_id, ${DAY}, data_queries_ms_bucket(execution_time_ms),
  ${sign} * count(*), ${sign} * count(*) filter (where status <> 'success'), ${sign} * count(*) filter (where cached),
  ${sign} * coalesce(sum(result_count), 0) from ${from} group by 1, 2, 3, 4`;
const textRows = (from: string, sign: string) => `select data_source_id, tenant_id, ${DAY}, query_hash, ${sign} * count(*) from ${from} group by 1, 2, 3, 4`;

export const ANALYTICS: string[] = [
  `set local maintenance_work_mem = '128MB'`,
  // Only analytics used it; the rollups answer per-tenant totals now, and each index costs every insert.
  `drop index if exists data_queries_tenant_time_idx`,
  `alter table data_queries add column if not exists query_hash uuid generated always as (${QUERY_HASH}) stored`,
  // Durations of a source by day, ordered: a percentile's exact value within its rollup bucket, the slowest
  // queries (read backwards), and the whole partial first day of a window, all without touching the table.
  `create index if not exists data_queries_day_time_idx
    on data_queries (data_source_id, tenant_id, (${DAY}), execution_time_ms, created_at)
    include (id, status, cached, result_count, query_hash)`,
  // The median duration of one query text (the frequent list) and one of its rows for the text itself.
  `create index if not exists data_queries_text_idx
    on data_queries (data_source_id, tenant_id, query_hash, created_at) include (execution_time_ms)`,
  // Durations in buckets of two significant digits (exact below 100 ms): at most ~90 buckets per decade and day.
  `create or replace function data_queries_ms_bucket(ms integer) returns integer language sql immutable parallel safe as $$
    select case when ms is null then ${NO_DURATION} when ms < 100 then ms else ms - ms % (10 ^ (length(ms::text) - 2))::integer end $$`,
  `create or replace function data_queries_ms_bucket_width(bucket integer) returns integer language sql immutable parallel safe as $$
    select case when bucket < 100 then 1 else (10 ^ (length(bucket::text) - 2))::integer end $$`,
  `create table if not exists data_query_buckets (
    data_source_id text not null,
    tenant_id text not null,
    day date not null,
    bucket integer not null,
    queries integer not null,
    errors integer not null,
    cached integer not null,
    rows bigint not null,
    primary key (data_source_id, tenant_id, day, bucket)
  )`,
  `create table if not exists data_query_texts (
    data_source_id text not null,
    tenant_id text not null,
    day date not null,
    query_hash uuid not null,
    queries integer not null,
    primary key (data_source_id, tenant_id, day, query_hash)
  )`,
  // Adds (argument 1) or takes away (-1) the rows of the statement's transition table. Each statement
  // upserts one row per source, day and bucket (or text) it touched, in key order, so two concurrent
  // writers lock rollup rows in the same order and cannot deadlock.
  `create or replace function data_queries_rollup() returns trigger language plpgsql as $$
  declare s integer := tg_argv[0]::integer;
  begin
    insert into data_query_buckets as b ${BUCKET_COLUMNS} ${bucketRows("changed", "s")} order by 1, 2, 3, 4
      on conflict (data_source_id, tenant_id, day, bucket) do update set queries = b.queries + excluded.queries,
        errors = b.errors + excluded.errors, cached = b.cached + excluded.cached, rows = b.rows + excluded.rows;
    insert into data_query_texts as t ${TEXT_COLUMNS} ${textRows("changed", "s")} order by 1, 2, 3, 4
      on conflict (data_source_id, tenant_id, day, query_hash) do update set queries = t.queries + excluded.queries;
    return null;
  end $$`,
  `create or replace function data_queries_rollup_truncate() returns trigger language plpgsql as $$
  begin
    truncate data_query_buckets, data_query_texts;
    return null;
  end $$`,
  `create trigger data_queries_rollup_insert after insert on data_queries
    referencing new table as changed for each statement execute function data_queries_rollup('1')`,
  `create trigger data_queries_rollup_delete after delete on data_queries
    referencing old table as changed for each statement execute function data_queries_rollup('-1')`,
  `create trigger data_queries_rollup_update_old after update on data_queries
    referencing old table as changed for each statement execute function data_queries_rollup('-1')`,
  `create trigger data_queries_rollup_update_new after update on data_queries
    referencing new table as changed for each statement execute function data_queries_rollup('1')`,
  `create trigger data_queries_rollup_truncate after truncate on data_queries
    for each statement execute function data_queries_rollup_truncate()`,
  // In key order: a source's days lie together on disk (scattered, a 30-day read of a tenant touched a page per two rows).
  `insert into data_query_buckets ${BUCKET_COLUMNS} ${bucketRows("data_queries", "1")} order by 1, 2, 3, 4`,
  `insert into data_query_texts ${TEXT_COLUMNS} ${textRows("data_queries", "1")} order by 1, 2, 3, 4`,
  // The planner needs the statistics of the new expression index and tables before the first stats request.
  `analyze data_queries`,
  `analyze data_query_buckets`,
  `analyze data_query_texts`,
];
