/**
 * The gateway alone: its HTTP server and its NATS client in one process, the catalog and
 * connector replaced by stubs in another that answer at once. `tsx test/bench/lib/probe-gateway.ts`
 * prints /healthz and a small query (c=32 throughput, c=1 p50): the cost of the gateway and one
 * bus hop without a database. GWPROF=1 writes a CPU profile of the gateway to /tmp/gwprof2.
 */
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { serve } from "@hono/node-server";
import { SignJWT } from "jose";
import { connectBus, createLogger, parseEnv } from "@dsb/runtime";
import { call } from "./http.ts";

const ns = process.env.NS ?? `gwn${process.pid}`;
const env = parseEnv({ NATS_URL: "nats://127.0.0.1:4222", BUS_NAMESPACE: ns, LOG_LEVEL: "silent", ENCRYPTION_KEY: "x" });
const log = createLogger("x", "silent");
const SECRET = "x".repeat(40);
const mode = process.argv[2];
/** PROBE_PORT: the gateway's port (the bench passes a free one). */
const PORT = Number(process.env.PROBE_PORT ?? 18090);
if (mode === "stub") {
  const bus = await connectBus(env, "stub", log);
  const src = { id: "s1", name: "n", type: "database", format: null, db_type: "postgresql", schema: null, connection_config: null, file_path: null, user_id: "u1", tenant_id: "t1", is_active: true, created_at: "2025-01-01T00:00:00.000Z", updated_at: "2025-01-01T00:00:00.000Z" };
  const rows = Array.from({ length: 10 }, (_, i) => [i + 1, `item ${i + 1}`, (i + 1) * 1.25, "2024-01-02", i % 2 === 0]);
  await bus.serve("catalog", {
    "catalog.source.get": async () => ({ source: src as never }),
    "catalog.history.record_batch": async ({ records }) => ({ ids: records.map((r) => r.entry.id ?? null) }),
  }, { replicaId: "r1" });
  await bus.serve("connector", {
    "connector.query": async () => ({ columns: [{ name: "id", type: "int4" }], rows, done: true, truncated: false, row_count: 10, execution_time_ms: 0 }),
  }, { replicaId: "r1" });
  process.send!("up");
} else if (mode === "gw") {
  const { createApp } = await import("../../../gateway/src/app.ts");
  const { createVerifier } = await import("../../../gateway/src/auth.ts");
  const { createMetrics } = await import("../../../gateway/src/metrics.ts");
  const { createQueryCache, MemoryCacheStore } = await import("../../../gateway/src/cache/index.ts");
  const bus = await connectBus(env, "gateway", log);
  // PROBE_LOG=info: the access and query lines written as in production (stdout is /dev/null here).
  const gwLog = process.env.PROBE_LOG ? createLogger("gateway", process.env.PROBE_LOG) : undefined;
  // The result cache as embedded mode has it (in memory): the cached query's row.
  const cache = createQueryCache({ store: new MemoryCacheStore(64 * 1024 * 1024), maxEntryBytes: 1024 * 1024 });
  const app = createApp({ bus, log: gwLog, cache, verifier: createVerifier({ secret: SECRET, tenantClaim: "tenant_id" }), metrics: createMetrics(),
    limits: { maxUploadBytes: 1024, maxBodyBytes: 1024 * 1024, queryMaxRows: 1000, defaultTimeoutMs: 5000, busTimeoutMs: 5000 } });
  serve({ fetch: app.fetch, port: PORT, createServer }, () => process.send!("up"));
  // A normal exit, so --cpu-prof writes its profile.
  process.on("SIGINT", () => process.exit(0));
} else {
  const stub = fork(process.argv[1]!, ["stub"], { execArgv: ["--import", "tsx"], env: { ...process.env, NS: ns } });
  await new Promise((r) => stub.once("message", r));
  const gw = fork(process.argv[1]!, ["gw"], { execArgv: ["--import", "tsx", ...(process.env.GWPROF ? ["--cpu-prof", "--cpu-prof-dir=/tmp/gwprof2"] : [])], env: { ...process.env, NS: ns }, stdio: ["inherit", process.env.PROBE_LOG ? "ignore" : "inherit", "inherit", "ipc"] });
  await new Promise((r) => gw.once("message", r));
  const token = await new SignJWT({ tenant_id: "t1" }).setProtectedHeader({ alg: "HS256" }).setSubject("u1").setExpirationTime("1h").sign(new TextEncoder().encode(SECRET));
  const url = `http://127.0.0.1:${PORT}`;
  const one = async () => { const r = await call(url, token, "POST", "/api/data/sources/s1/query", { sql: "select 1" }); if (r.status !== 200) throw new Error(r.body.toString()); };
  const cached = async () => { const r = await call(url, token, "POST", "/api/data/sources/s1/query", { sql: "select 1", cache_ttl_seconds: 3600 }); if (r.status !== 200) throw new Error(r.body.toString()); };
  const health = () => call(url, token, "GET", "/healthz");
  // The gateway's CPU time per request: steadier than wall-clock rates on a shared machine.
  const gwCpuMs = () => { const f = readFileSync(`/proc/${gw.pid}/stat`, "utf8").split(") ")[1]!.split(" "); return (Number(f[11]) + Number(f[12])) * 10; };
  for (const [label, fn] of [["healthz", health], ["query (stub services over NATS)", one], ["cached query (in-memory cache)", cached]] as const) {
    for (let i = 0; i < 2000; i++) await fn();
    const cpu0 = gwCpuMs();
    const end = performance.now() + 3000; let n = 0;
    await Promise.all(Array.from({ length: 32 }, async () => { while (performance.now() < end) { await fn(); n++; } }));
    const cpuPerReq = ((gwCpuMs() - cpu0) * 1000) / n;
    const lat: number[] = []; for (let i = 0; i < 1000; i++) { const t = performance.now(); await fn(); lat.push(performance.now() - t); }
    lat.sort((a, b) => a - b);
    console.log(label.padEnd(34), "c32", Math.round(n / 3), "/s  p50", lat[500]!.toFixed(3), "ms  gateway cpu", Math.round(cpuPerReq), "µs/req");
  }
  gw.kill("SIGINT"); stub.kill();
  await new Promise((r) => setTimeout(r, 500));
  process.exit(0);
}
