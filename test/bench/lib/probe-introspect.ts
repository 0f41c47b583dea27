/**
 * Where the time of a live schema fetch goes, measured from outside the system in
 * distributed mode: `tsx test/bench/lib/probe-introspect.ts [tables]` (default 5,000).
 * Times the HTTP refresh, `connector.introspect` on the bus with and without storing,
 * the statement the connector sends run directly, and the per-column form of that query.
 */
import { connectBus, createLogger, parseEnv } from "@dsb/runtime";
import { PG_INTROSPECT_JSON_STATEMENT, PG_INTROSPECT_SQL } from "../../../services/connector/src/drivers/postgresql/introspect.ts";
import { createTables } from "../scenarios/introspection.ts";
import { cleanup, NATS_URL, startCluster } from "./setup.ts";
import { call } from "./http.ts";
import type { Ctx } from "./scenario.ts";
import { connectSource, scratchDb } from "./source-db.ts";

const tables = Number(process.argv[2] ?? 5000);
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
      await time("bus introspect+store", () => bus.request("connector.introspect", { tenant_id: "bench", id, store: { actor } }, { timeoutMs: 120_000 })),
      await time("bus introspect", () => bus.request("connector.introspect", { tenant_id: "bench", id }, { timeoutMs: 120_000 })),
      await time("pg connector's statement", () => db.client.query(PG_INTROSPECT_JSON_STATEMENT)),
      await time("pg per-column rows", () => db.client.query(PG_INTROSPECT_SQL)),
    ].join(" | "));
  }
  await bus.close();
} finally {
  await cleanup();
}
