/**
 * CPU per history row of the catalog's PostgreSQL writer (createHistoryWriter), in bursts of N
 * concurrent writes (a cached small query at c=32 makes one row each): the catalog's Node CPU and
 * its PostgreSQL backends', from /proc. A scratch database is made and dropped.
 *   npx tsx test/bench/lib/probe-history-pg.ts           # N=100 R=200
 *   DROP=trig,idx npx tsx test/bench/lib/probe-history-pg.ts   # without the rollup trigger / analytics indexes
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import pg from "pg";
import { openDatabase } from "../../../services/catalog/src/db/open.ts";
import { migrate } from "../../../services/catalog/src/db/migrate.ts";
import { createHistoryWriter, type HistoryRow } from "../../../services/catalog/src/handlers/history-writer.ts";

const base = process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432";
const N = Number(process.env.N ?? 100), ROUNDS = Number(process.env.R ?? 200);
const admin = new pg.Client({ connectionString: `${base}/postgres` });
await admin.connect();
await admin.query("drop database if exists dsb_probe_history");
await admin.query("create database dsb_probe_history");
const url = `${base}/dsb_probe_history`;
const db = await openDatabase({ DATABASE_URL: url, DATA_DIR: "/tmp" });
const c = new pg.Client({ connectionString: url });
try {
  await migrate(db);
  await c.connect();
  await c.query(`insert into data_sources (id, tenant_id, user_id, name, type, is_active) values ('src1', 't1', 'u1', 's', 'database', true)`);
  if (process.env.DROP?.includes("trig")) await c.query("drop trigger data_queries_rollup_insert on data_queries");
  if (process.env.DROP?.includes("idx")) await c.query("drop index data_queries_day_time_idx; drop index data_queries_text_idx");
  const writer = createHistoryWriter(db);
  const row = (): HistoryRow => ({ id: randomUUID(), data_source_id: "src1", user_id: "u1", tenant_id: "t1", natural_language_query: null,
    query: "select * from small_table", query_config: null, result_count: 10, execution_time_ms: 1, status: "success", error: null, cached: false });
  const ticks = (pid: number) => { const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" "); return (Number(f[11]) + Number(f[12])) * 10; };
  const backends = (await c.query<{ pid: number }>("select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()")).rows.map((r) => r.pid);
  for (let pass = 0; pass < 3; pass++) {
    const pg0 = backends.map(ticks), node0 = process.cpuUsage(), t0 = performance.now();
    for (let r = 0; r < ROUNDS; r++) await Promise.all(Array.from({ length: N }, () => writer.write(row())));
    const wall = performance.now() - t0, node = process.cpuUsage(node0), pgMs = backends.reduce((a, p, i) => a + ticks(p) - pg0[i]!, 0);
    const per = (x: number) => (x / (N * ROUNDS)).toFixed(1);
    console.log(`pass ${pass}: wall ${per(wall * 1000)} µs/row, node ${per(node.user + node.system)} µs/row, postgresql ${per(pgMs * 1000)} µs/row`);
  }
} finally {
  await db.destroy();
  await c.end();
  await admin.query("drop database if exists dsb_probe_history");
  await admin.end();
}
