/**
 * Latency of each hop of a small query, measured from outside the system in
 * distributed mode: `tsx test/bench/lib/probe-hops.ts`. Each bus subject is
 * called directly (the bench process joins the system's bus namespace).
 */
import { connectBus, createLogger, parseEnv } from "@dsb/runtime";
import { cleanup, NATS_URL, startCluster } from "./setup.ts";
import { call } from "./http.ts";
import { connectSource, scratchDb } from "./source-db.ts";
import type { Ctx } from "./scenario.ts";
import { latencies, quantile, throughput } from "./stats.ts";

try {
  const cluster = await startCluster();
  const token = await cluster.token();
  const ctx = { cluster, token, log: console.log, note: console.log } as unknown as Ctx;
  const db = await scratchDb("dsb_bench_probe");
  await db.client.query("create table small10 as select g as id, 'item ' || g as name from generate_series(1, 10) g");
  const id = await connectSource(ctx, db.name, "probe");
  const env = parseEnv({ NATS_URL, BUS_NAMESPACE: cluster.namespace, LOG_LEVEL: "silent", ENCRYPTION_KEY: "x" });
  const bus = await connectBus(env, "gateway", createLogger("probe", "silent"));
  const actor = { tenant_id: "bench", user_id: "bench-user", role: "admin" };
  const n = Number(process.env.PROBE_N ?? 300);
  const hops: [string, () => Promise<unknown>][] = [
    ["HTTP GET /healthz", () => call(cluster.url, token, "GET", "/healthz")],
    ["HTTP GET /api/data/sources/{id} (auth + catalog.source.get)", () => call(cluster.url, token, "GET", `/api/data/sources/${id}`)],
    ["bus catalog.source.get", () => bus.request("catalog.source.get", { actor, id })],
    ["bus catalog.config.resolve", () => bus.request("catalog.config.resolve", { tenant_id: "bench", id })],
    ["bus catalog.history.record_batch", () => bus.request("catalog.history.record_batch", { records: [{ actor, entry: { data_source_id: id, query: "select 1", query_config: null, natural_language_query: null, status: "success", error: null, result_count: 1, execution_time_ms: 1 } }] })],
    ["bus connector.query (incl. config.resolve)", () => bus.request("connector.query", { tenant_id: "bench", id, sql: "select * from small10", limit: 1000, timeout_ms: 30000, read_only: true, stream: false })],
    ["HTTP POST query (everything)", () => call(cluster.url, token, "POST", `/api/data/sources/${id}/query`, { sql: "select * from small10" })],
  ];
  const only = process.env.PROBE_ONLY;
  for (const [name, fn] of hops.filter(([h]) => !only || h.includes(only))) {
    const l = await latencies(fn, n, 30);
    const qps = await throughput(fn, 32, Number(process.env.PROBE_SECONDS ?? 2));
    console.log(`${name.padEnd(62)} p50 ${quantile(l, 0.5).toFixed(2).padStart(6)} ms  p99 ${quantile(l, 0.99).toFixed(2).padStart(6)} ms  c=32 ${qps.toFixed(0).padStart(6)}/s`);
  }
  await bus.close();
} finally {
  await cleanup();
}
