import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import type { Actor, QueryStats, SourceStats } from "@dsb/contracts";
import { migrate } from "../db/migrate.ts";
import type { CatalogDb } from "../db/types.ts";
import { createHistoryWriter } from "./history-writer.ts";
import { statsHandlers } from "./stats.ts";
import type { CatalogDeps } from "./deps.ts";
import { pgliteBackend, postgresBackend, type Backend } from "../../../../test/support/catalog/backends.ts";

/**
 * The analytics read rollups and short index scans (stats-window.ts); these tests hold
 * them to the answer of the straightforward statement that reads every history row of
 * the window (`expected` below, the implementation before migration 5), on a history
 * made to hit the edges: durations on both sides of bucket edges and in wide buckets,
 * ties, rows without a duration, without text or result count, several UTC days, rows
 * deleted and updated afterwards, windows starting mid-day, at midnight, before all
 * rows and after them.
 */

const TEXT = sql.raw(`coalesce(query, query_config::text)`);
const pct = (p: number, t = "") => `round((percentile_cont(${p}) within group (order by ${t}execution_time_ms))::numeric, 1)::float8`;
const totals = (t = "") => sql.raw(`count(${t}id)::int as queries, (count(${t}id) filter (where ${t}status <> 'success'))::int as errors,
  (count(${t}id) filter (where ${t}cached))::int as cached, ${pct(0.5, t)} as p50_ms, ${pct(0.95, t)} as p95_ms,
  max(${t}execution_time_ms)::int as max_ms, coalesce(sum(${t}result_count), 0)::float8 as rows`);
/** Frequent texts tie by md5 of the text, as documented in stats.ts. */
const HASH = sql.raw(`coalesce(md5(coalesce(query, query_config::text))::uuid, '00000000-0000-0000-0000-000000000000'::uuid)`);

async function expectedSource(db: CatalogDb, tenant: string, id: string, since: string): Promise<QueryStats> {
  const { rows } = await sql<{ stats: QueryStats }>`
    with q as materialized (
      select * from data_queries where data_source_id = ${id} and tenant_id = ${tenant} and created_at >= ${since}::timestamptz
    ), totals as (select ${totals()} from q),
    days as (
      select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD') as day, count(*)::int as queries,
        (count(*) filter (where status <> 'success'))::int as errors, ${sql.raw(pct(0.5))} as p50_ms
      from q group by 1
    ), slowest as (
      select id as query_id, ${TEXT} as query, execution_time_ms, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at
      from q where execution_time_ms is not null order by execution_time_ms desc, created_at desc limit 10
    ), frequent as (
      select ${TEXT} as query, count(*)::int as count, ${sql.raw(pct(0.5))} as p50_ms
      from q group by 1, ${HASH} order by count(*) desc, ${HASH} limit 10
    )
    select to_jsonb(t) || jsonb_build_object(
      'by_day', coalesce((select jsonb_agg(d order by d.day) from days d), '[]'::jsonb),
      'slowest', coalesce((select jsonb_agg(s order by s.execution_time_ms desc, s.created_at desc) from slowest s), '[]'::jsonb),
      'frequent', coalesce((select jsonb_agg(f order by f.count desc, f.query) from frequent f), '[]'::jsonb)) as stats
    from totals t`.execute(db);
  return rows[0]!.stats;
}

async function expectedTenant(db: CatalogDb, tenant: string, since: string): Promise<SourceStats[]> {
  const { rows } = await sql<SourceStats>`
    select s.id, s.name, s.type, s.db_type, ${totals("q.")}
    from data_sources s
    left join data_queries q on q.data_source_id = s.id and q.tenant_id = s.tenant_id and q.created_at >= ${since}::timestamptz
    where s.tenant_id = ${tenant} and s.is_active
    group by s.id, s.name, s.type, s.db_type
    order by count(q.id) desc, s.name, s.id`.execute(db);
  return rows;
}

/** Deterministic pseudo-random numbers (mulberry32): the same history on every run and engine. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DAY = 86_400_000;
/** Midnight UTC four days back: the history runs from 12 days before it to 2 days after it; today's rows come from the writer. */
const MIDNIGHT = Math.floor(Date.now() / DAY) * DAY - 4 * DAY;
const EDGES = [0, 1, 99, 100, 101, 109, 110, 999, 1000, 1099, 1100, 9999, 10_000, 123_456];

describe.each([["postgresql", postgresBackend], ["pglite", pgliteBackend]] as const)("query analytics on %s", (_name, open) => {
  let backend: Backend;
  let db: CatalogDb;
  const acme: Actor = { tenant_id: "acme", user_id: "u1" };
  const globex: Actor = { tenant_id: "globex", user_id: "u2" };
  /** The handlers' replies (their type admits raw JSON replies too; these are plain objects). */
  const sourceStats = async (actor: Actor, id: string, since: string) =>
    ((await statsHandlers({ db } as CatalogDeps)["catalog.stats.source"]({ actor, id, since }, {} as never)) as { stats: QueryStats }).stats;
  const tenantStats = async (actor: Actor, since: string) =>
    ((await statsHandlers({ db } as CatalogDeps)["catalog.stats.tenant"]({ actor, since }, {} as never)) as { sources: SourceStats[] }).sources;

  beforeAll(async () => {
    backend = await open();
    db = backend.db;
    await migrate(db);
    await sql`insert into data_sources (id, name, type, db_type, user_id, tenant_id) values
      ('s1', 'one', 'database', 'postgresql', 'u1', 'acme'), ('s2', 'two', 'database', 'mysql', 'u1', 'acme'),
      ('s3', 'quiet', 'file', null, 'u1', 'acme'), ('s4', 'theirs', 'database', 'postgresql', 'u2', 'globex')`.execute(db);
    const next = random(15);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!;
    const duration = () => {
      const r = next();
      if (r < 0.05) return null;
      if (r < 0.25) return pick(EDGES);
      if (r < 0.55) return Math.floor(next() * 100);
      if (r < 0.75) return 1000 + Math.floor(next() * 40);
      return Math.floor(next() * next() * 20_000);
    };
    const rows = Array.from({ length: 2400 }, (_, i) => {
      const text = Math.floor(next() * 14);
      return {
        id: `h${i}`, user_id: "u1", data_source_id: i % 7 === 0 ? "s2" : i % 11 === 0 ? "s4" : "s1", tenant_id: i % 11 === 0 && i % 7 !== 0 ? "globex" : "acme",
        query: text < 10 ? `select ${text % 6}` : null, query_config: text >= 10 && text < 13 ? JSON.stringify({ table: `t${text}` }) : null,
        result_count: next() < 0.1 ? null : Math.floor(next() * 500), execution_time_ms: duration(),
        status: next() < 0.08 ? "error" : "success", cached: next() < 0.1 ? null : next() < 0.2,
        // Whole milliseconds apart, so no two rows tie on created_at as the API shows it.
        created_at: new Date(MIDNIGHT - 12 * DAY + i * Math.floor((14 * DAY) / 2400)),
      };
    });
    // In statements of varying size, shuffled: the rollups add up many statements touching the same days and buckets.
    for (let i = rows.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [rows[i], rows[j]] = [rows[j]!, rows[i]!];
    }
    for (let at = 0; at < rows.length;) {
      const size = pick([1, 1, 3, 50, 200]);
      await db.insertInto("data_queries").values(rows.slice(at, at + size)).execute();
      at += size;
    }
    // Today's rows through the writer the gateway's batches reach, as the service records them.
    const writer = createHistoryWriter(db);
    await Promise.all(Array.from({ length: 40 }, (_, i) => writer.write({
      id: `w${i}`, data_source_id: "s1", tenant_id: "acme", user_id: "u1", natural_language_query: null, query: `select ${i % 3}`,
      query_config: null, result_count: i, execution_time_ms: i % 5 === 0 ? null : 950 + i, status: "success", error: null, cached: i % 4 === 0,
    })));
    // Rows leave and change (an operator's clean-up, the Python system): the rollups follow.
    await sql`delete from data_queries where id in (select id from data_queries where id like 'h%' order by md5(id) limit 150)`.execute(db);
    await sql`update data_queries set execution_time_ms = execution_time_ms + 37, created_at = created_at - interval '1 day'
      where id in (select id from data_queries where id like 'h%' order by md5(id || 'u') limit 80)`.execute(db);
    await sql`update data_queries set query = 'select 99', status = 'error' where id in (select id from data_queries order by md5(id || 'v') limit 60)`.execute(db);
  }, 120_000);
  afterAll(async () => { await backend?.close(); });

  const windows: [string, string][] = [
    ["30 days back (before every row)", new Date(Date.now() - 30 * DAY).toISOString()],
    ["mid-day, a week back", new Date(MIDNIGHT - 7 * DAY + 13.5 * 3_600_000).toISOString()],
    ["a midnight", new Date(MIDNIGHT - 5 * DAY).toISOString()],
    ["a minute before a midnight", new Date(MIDNIGHT - 2 * DAY - 60_000).toISOString()],
    ["the last hour", new Date(Date.now() - 3_600_000).toISOString()],
    ["after every row", new Date(Date.now() + DAY).toISOString()],
  ];

  it.each(windows)("a source's stats since %s are those of its rows", async (_label, since) => {
    for (const id of ["s1", "s2", "s3"]) {
      expect(await sourceStats(acme, id, since)).toEqual(await expectedSource(db, "acme", id, since));
    }
    const s1 = await sourceStats(acme, "s1", since);
    if (since < new Date(MIDNIGHT - 5 * DAY).toISOString()) expect(s1.by_day.length).toBeGreaterThan(4);
  });

  it.each(windows)("a tenant's stats since %s are those of its rows", async (_label, since) => {
    for (const actor of [acme, globex]) {
      expect(await tenantStats(actor, since)).toEqual(await expectedTenant(db, actor.tenant_id, since));
    }
  });

  it("the rollups hold exactly the counts of the history rows", async () => {
    const diff = await sql<{ n: number }>`
      with r as (
        select data_source_id, tenant_id, (created_at at time zone 'UTC')::date as day, data_queries_ms_bucket(execution_time_ms) as bucket,
          count(*)::int as queries, (count(*) filter (where status <> 'success'))::int as errors,
          (count(*) filter (where cached))::int as cached, coalesce(sum(result_count), 0)::bigint as rows
        from data_queries group by 1, 2, 3, 4
      ), b as (select data_source_id, tenant_id, day, bucket, queries, errors, cached, rows from data_query_buckets where queries <> 0)
      select ((select count(*) from (select * from r except select * from b) x) + (select count(*) from (select * from b except select * from r) y))::int as n`.execute(db);
    expect(diff.rows[0]!.n).toBe(0);
    const texts = await sql<{ n: number }>`
      with r as (select data_source_id, tenant_id, (created_at at time zone 'UTC')::date as day, query_hash, count(*)::int as queries from data_queries group by 1, 2, 3, 4),
      t as (select data_source_id, tenant_id, day, query_hash, queries from data_query_texts where queries <> 0)
      select ((select count(*) from (select * from r except select * from t) x) + (select count(*) from (select * from t except select * from r) y))::int as n`.execute(db);
    expect(texts.rows[0]!.n).toBe(0);
    // The edges above land in the buckets meant: exact below 100 ms, two significant digits from there.
    const buckets = await sql<{ ms: number; bucket: number; width: number }>`
      select ms, data_queries_ms_bucket(ms) as bucket, data_queries_ms_bucket_width(data_queries_ms_bucket(ms)) as width from unnest(${EDGES}::int[]) ms`.execute(db);
    expect(buckets.rows.map((r) => [r.ms, r.bucket, r.width])).toEqual([[0, 0, 1], [1, 1, 1], [99, 99, 1], [100, 100, 10], [101, 100, 10], [109, 100, 10],
      [110, 110, 10], [999, 990, 10], [1000, 1000, 100], [1099, 1000, 100], [1100, 1100, 100], [9999, 9900, 100], [10_000, 10_000, 1000], [123_456, 120_000, 10_000]]);
  });

  it("a truncated history leaves empty rollups", async () => {
    await sql`truncate data_queries`.execute(db);
    expect(await sourceStats(acme, "s1", "2000-01-01T00:00:00Z")).toMatchObject({ queries: 0, p50_ms: null, max_ms: null, by_day: [], slowest: [], frequent: [] });
    const left = await sql<{ n: number }>`select ((select count(*) from data_query_buckets) + (select count(*) from data_query_texts))::int as n`.execute(db);
    expect(left.rows[0]!.n).toBe(0);
  });
});
