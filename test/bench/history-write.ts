/**
 * `npx tsx test/bench/history-write.ts [history rows]`: what recording history costs the
 * catalog's database (the writer behind every query's response), in a scratch PostgreSQL
 * database holding that much history first (default 200,000 rows): the time of a one-row
 * statement (light traffic) and of a 500-row statement (a burst), median and range of 5
 * rounds. Run it before and after a change to data_queries' indexes or triggers.
 */
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { migrate } from "../../services/catalog/src/db/migrate.ts";
import type { CatalogDatabase } from "../../services/catalog/src/db/types.ts";
import { createHistoryWriter, type HistoryRow } from "../../services/catalog/src/handlers/history-writer.ts";
import { createScratchDatabase } from "../support/pg.ts";

const HISTORY = Number(process.argv[2] ?? 200_000);
const ROUNDS = 5;

const scratch = await createScratchDatabase("dsb_history_write");
const db = new Kysely<CatalogDatabase>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: scratch.url, max: 2 }) }) });
try {
  await migrate(db);
  await sql`insert into data_sources (id, name, type, db_type, user_id, tenant_id)
    select 's' || g, 'source ' || g, 'database', 'postgresql', 'u1', 'acme' from generate_series(1, 20) g`.execute(db);
  await sql`insert into data_queries (id, data_source_id, user_id, tenant_id, query, result_count, execution_time_ms, status, cached, created_at)
    select 'h' || g, 's' || (1 + g % 20), 'u1', 'acme', 'select * from t where k = ' || (g % 500), g % 1000, (random() * random() * 5000)::int,
      'success', false, now() - (random() * interval '90 days') from generate_series(1, ${HISTORY}) g`.execute(db);
  await sql`vacuum analyze data_queries`.execute(db);

  const writer = createHistoryWriter(db);
  let n = 0;
  const row = (): HistoryRow => {
    n++;
    return { id: `w${n}`, data_source_id: `s${1 + (n % 3)}`, user_id: "u1", tenant_id: "acme", natural_language_query: null,
      query: `select * from t where k = ${n % 200}`, query_config: null, result_count: n % 100, execution_time_ms: n % 3000,
      status: n % 30 ? "success" : "error", error: null, cached: n % 5 === 0 };
  };
  const measure = async (label: string, rows: number, statements: number) => {
    const perStatement: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const t = performance.now();
      for (let s = 0; s < statements; s++) await Promise.all(Array.from({ length: rows }, () => writer.write(row())));
      perStatement.push((performance.now() - t) / statements);
    }
    perStatement.sort((a, b) => a - b);
    const f = (x: number) => x.toFixed(2);
    console.log(`${label}: median ${f(perStatement[2]!)} ms per statement (${f(perStatement[0]!)}–${f(perStatement[4]!)}), ${f((perStatement[2]! * 1000) / rows)} µs per row`);
  };
  await measure("1-row statements", 1, 200);
  await measure("500-row statements", 500, 10);
} finally {
  await db.destroy();
  await scratch.drop();
}
