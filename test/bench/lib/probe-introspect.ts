/**
 * Where the time of a live schema fetch goes, measured from outside the system in
 * distributed mode: `tsx test/bench/lib/probe-introspect.ts [tables]` (default 5,000).
 * Times the HTTP refresh, `connector.introspect` on the bus with and without storing,
 * the statement the connector sends run directly, and the per-column form of that query;
 * then the CPU time of each process over PROBE_N refreshes and over as many runs of the
 * statement (from /proc, 10 ms ticks: comparable on a busy machine where wall times are not).
 */
import { readFileSync } from "node:fs";
import { connectBus, createLogger, parseEnv } from "@dsb/runtime";
import { PG_INTROSPECT_JSON_STATEMENT, PG_INTROSPECT_SQL } from "../../../services/connector/src/drivers/postgresql/introspect.ts";
import { createTables } from "../scenarios/introspection.ts";
import { cleanup, NATS_URL, startCluster } from "./setup.ts";
import { call } from "./http.ts";
import type { Ctx } from "./scenario.ts";
import { connectSource, scratchDb } from "./source-db.ts";

const tables = Number(process.argv[2] ?? 5000);
const cpuMs = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
};
/** CPU ms per run of `fn` (n runs) of each named process, and wall ms per run. */
async function cpuPer(n: number, pids: Record<string, number>, fn: () => Promise<unknown>): Promise<string> {
  const before = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuMs(p)]));
  const self = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn();
  const wall = (performance.now() - t0) / n;
  const me = process.cpuUsage(self);
  const per = Object.entries(pids).map(([k, p]) => `${k} ${((cpuMs(p) - before[k]!) / n).toFixed(0)}`);
  return `wall ${wall.toFixed(0)} ms; CPU ms per run: ${[...per, `this client ${((me.user + me.system) / 1000 / n).toFixed(0)}`].join(", ")}`;
}
try {
  const cluster = await startCluster();
  const token = await cluster.token();
  const ctx = { cluster, token, log: console.log, note: console.log } as unknown as Ctx;
  const db = await scratchDb("dsb_bench_probe_intro");
  const id = await connectSource(ctx, db.name, "probe");
  await createTables(ctx, db.client, tables);
  const env = parseEnv({ NATS_URL, BUS_NAMESPACE: cluster.namespace, LOG_LEVEL: "silent", ENCRYPTION_KEY: "x" });
  const bus = await connectBus(env, "gateway", createLogger("probe", "silent"));
  const actor = { tenant_id: "bench", user_id: "bench-user", role: "admin" };
  const time = async (label: string, fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    await fn();
    return `${label} ${(performance.now() - t0).toFixed(0)} ms`;
  };
  for (let round = 1; round <= 4; round++) {
    console.log(`round ${round}:`, [
      await time("http refresh", () => call(cluster.url, token, "GET", `/api/data/sources/${id}/schema?refresh=true`)),
      await time("http refresh gzip", () => call(cluster.url, token, "GET", `/api/data/sources/${id}/schema?refresh=true`, undefined, undefined, true)),
      await time("bus introspect+store", () => bus.request("connector.introspect", { tenant_id: "bench", id, store: { actor } }, { timeoutMs: 120_000 })),
      await time("bus introspect", () => bus.request("connector.introspect", { tenant_id: "bench", id }, { timeoutMs: 120_000 })),
      await time("pg connector's statement", () => db.client.query(PG_INTROSPECT_JSON_STATEMENT)),
      await time("pg per-column rows", () => db.client.query(PG_INTROSPECT_SQL)),
    ].join(" | "));
  }
  const n = Number(process.env.PROBE_N ?? 10);
  const backend = async (app: string) => Number((await db.client.query(
    "select pid from pg_stat_activity where datname = current_database() and application_name = $1 order by backend_start limit 1", [app])).rows[0]?.pid ?? 0);
  const own = Number((await db.client.query("select pg_backend_pid() as pid")).rows[0].pid);
  const services = { gateway: cluster.pids.gateway, connector: cluster.pids.connector, catalog: cluster.pids.catalog, "connector's backend": await backend("dsb-connector") };
  console.log(`http refresh ×${n}:`, await cpuPer(n, services, () => call(cluster.url, token, "GET", `/api/data/sources/${id}/schema?refresh=true`)));
  console.log(`http refresh gzip ×${n}:`, await cpuPer(n, services, () => call(cluster.url, token, "GET", `/api/data/sources/${id}/schema?refresh=true`, undefined, undefined, true)));
  console.log(`connector's statement ×${n}:`, await cpuPer(n, { "its backend": own }, () => db.client.query(PG_INTROSPECT_JSON_STATEMENT)));
  await bus.close();
} finally {
  await cleanup();
}
