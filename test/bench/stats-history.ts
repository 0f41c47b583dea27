/**
 * `npx tsx test/bench/stats-history.ts [rows]`: query analytics over a generated history
 * (default 1,000,000 rows of one source among 20 of a tenant, plus another tenant's rows)
 * in a scratch PostgreSQL database; prints each stats query's time (median of 5). With
 * STATS_DB naming a database the bench made before migration 5, the first run also times the
 * migration on it (rewrite, indexes, rollup back-fill).
 */
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { migrate } from "../../services/catalog/src/db/migrate.ts";
import type { CatalogDatabase } from "../../services/catalog/src/db/types.ts";
import { statsHandlers } from "../../services/catalog/src/handlers/stats.ts";
import type { CatalogDeps } from "../../services/catalog/src/handlers/deps.ts";

const ROWS = Number(process.argv[2] ?? 1_000_000);
const ADMIN = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
/** STATS_DB=<name>: keep the scratch database (created once, reused) to look at plans with psql. */
const KEEP = process.env.STATS_DB;
const NAME = KEEP ?? `dsb_stats_${Date.now().toString(36)}`;

async function main() {
  const admin = new pg.Client({ connectionString: ADMIN });
  await admin.connect();
  const exists = KEEP && (await admin.query("select 1 from pg_database where datname = $1", [KEEP])).rowCount;
  if (!exists) await admin.query(`create database ${NAME}`);
  const url = new URL(ADMIN);
  url.pathname = `/${NAME}`;
  const db = new Kysely<CatalogDatabase>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url.toString(), max: 2 }) }) });
  try {
    const t0 = performance.now();
    const applied = await migrate(db);
    if (applied.length) console.log(`migrations ${applied.join(", ")} applied in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    if (!exists) await generate(db);
    await measure(db);
  } finally {
    await db.destroy();
    if (!KEEP) await admin.query(`drop database ${NAME}`);
    await admin.end();
  }
}

async function generate(db: Kysely<CatalogDatabase>) {
    await sql`insert into data_sources (id, name, type, db_type, user_id, tenant_id)
      select 's' || g, 'source ' || g, 'database', 'postgresql', 'u1', case when g <= 20 then 'acme' else 'globex' end from generate_series(1, 40) g`.execute(db);
    const t0 = performance.now();
    // 1M rows on s1 (90 days, 500 distinct texts, 3% errors, 20% cached), and as many spread over the other sources.
    await sql`insert into data_queries (id, data_source_id, user_id, tenant_id, query, result_count, execution_time_ms, status, error, cached, created_at)
      select 'q' || g, 's1', 'u1', 'acme', 'select * from t where k = ' || (g % 500), g % 1000, (random() * random() * 5000)::int,
        case when g % 33 = 0 then 'error' else 'success' end, null, g % 5 = 0, now() - (random() * interval '90 days')
      from generate_series(1, ${ROWS}) g`.execute(db);
    await sql`insert into data_queries (id, data_source_id, user_id, tenant_id, query, result_count, execution_time_ms, status, cached, created_at)
      select 'r' || g, 's' || (2 + g % 39), 'u1', case when 2 + g % 39 <= 20 then 'acme' else 'globex' end, 'select ' || (g % 50), 1, (random() * 100)::int, 'success', false, now() - (random() * interval '90 days')
      from generate_series(1, ${ROWS}) g`.execute(db);
    // As autovacuum leaves a table that has stopped growing: visibility map set, so index-only scans stay off the heap.
    for (const t of ["data_queries", "data_query_buckets", "data_query_texts"]) await sql`vacuum analyze ${sql.table(t)}`.execute(db);
    console.log(`generated ${2 * ROWS} history rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

async function measure(db: Kysely<CatalogDatabase>) {

    const h = statsHandlers({ db } as CatalogDeps);
    const actor = { tenant_id: "acme", user_id: "u1", role: "admin" } as const;
    const since = new Date(Date.now() - 30 * 86_400_000).toISOString();
    const time = async (label: string, f: () => Promise<unknown>) => {
      const ms: number[] = [];
      let out: unknown;
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        out = await f();
        ms.push(performance.now() - t);
      }
      ms.sort((a, b) => a - b);
      console.log(`${label}: median ${ms[2]!.toFixed(0)} ms (min ${ms[0]!.toFixed(0)}, max ${ms[4]!.toFixed(0)})`);
      return out;
    };
    const one = await time("source stats, 30 days (≈333k of its 1M rows)", () => h["catalog.stats.source"]({ actor, id: "s1", since }, {} as never));
    await time("source stats, all 90 days (1M rows)", () => h["catalog.stats.source"]({ actor, id: "s1", since: "2000-01-01T00:00:00Z" }, {} as never));
    await time("tenant stats, 30 days (20 sources)", () => h["catalog.stats.tenant"]({ actor, since }, {} as never));
    const s = (one as { stats: Record<string, unknown> }).stats;
    console.log(JSON.stringify({ ...s, by_day: `${(s.by_day as unknown[]).length} days`, slowest: (s.slowest as unknown[])[0], frequent: (s.frequent as unknown[])[0] }));
}
await main();
