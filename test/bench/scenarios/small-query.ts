import { spawn } from "node:child_process";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import pg from "pg";
import { NATS_URL, ROOT, stopChild } from "../lib/cluster.ts";
import { call } from "../lib/http.ts";
import { atLeast, plusAtMost, type Scenario } from "../lib/scenario.ts";
import { scratchDb, connectSource } from "../lib/source-db.ts";
import { latencies, quantile, throughput } from "../lib/stats.ts";

const SQL = "select * from small10";

interface State {
  db: Awaited<ReturnType<typeof scratchDb>>;
  pool: pg.Pool;
  sourceId: string;
  nc: NatsConnection;
  echoSubject: string;
  stopEcho(): Promise<void>;
  httpEchoUrl: string;
  stopHttpEcho(): Promise<void>;
}

/** `select` of 10 rows: gateway vs the pg driver directly vs a raw NATS round trip. */
export const smallQuery: Scenario<State> = {
  name: "small-query",
  describe: "select of 10 rows: p50/p99 at concurrency 1, throughput at concurrency 32",
  async setup(ctx) {
    const db = await scratchDb("dsb_bench_small");
    await db.client.query("create table small10 (id int primary key, name text not null, price float8, day date, active boolean)");
    await db.client.query("insert into small10 select g, 'item ' || g, g * 1.25, date '2024-01-01' + g, g % 2 = 0 from generate_series(1, 10) g");
    const sourceId = await connectSource(ctx, db.name, "bench small");
    const r = await call(ctx.cluster.url, ctx.token, "POST", `/api/data/sources/${sourceId}/query`, { sql: SQL });
    const rows = r.status === 200 ? (JSON.parse(r.body.toString()) as { row_count: number }).row_count : -1;
    if (rows !== 10) throw new Error(`small query through the gateway: ${r.status} ${r.body.toString().slice(0, 300)}`);
    const pool = new pg.Pool({ connectionString: db.url, max: 32 });
    const echoSubject = `${ctx.cluster.namespace}.bench.echo`;
    const echo = spawn(process.execPath, ["--import", "tsx", "test/bench/lib/nats-echo.ts", NATS_URL, echoSubject], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((ok, fail) => {
      echo.stdout!.once("data", () => ok());
      echo.once("exit", (c) => fail(new Error(`nats echo exited with ${c}`)));
    });
    const nc = await connect({ servers: NATS_URL });
    const httpEcho = spawn(process.execPath, ["--import", "tsx", "test/bench/lib/http-echo.ts"], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    const port = await new Promise<number>((ok, fail) => {
      httpEcho.stdout!.once("data", (d: Buffer) => ok(Number(d.toString().trim())));
      httpEcho.once("exit", (c) => fail(new Error(`http echo exited with ${c}`)));
    });
    return { db, pool, sourceId, nc, echoSubject, stopEcho: () => stopChild(echo), httpEchoUrl: `http://127.0.0.1:${port}`, stopHttpEcho: () => stopChild(httpEcho) };
  },
  async round(ctx, s) {
    const n = ctx.opts.quick ? 300 : 2000;
    const seconds = ctx.opts.quick ? 2 : 5;
    const path = `/api/data/sources/${s.sourceId}/query`;
    const gw = async () => {
      const r = await call(ctx.cluster.url, ctx.token, "POST", path, { sql: SQL });
      if (r.status !== 200) throw new Error(`gateway query ${r.status}: ${r.body.toString().slice(0, 300)}`);
    };
    const direct = () => s.pool.query(SQL);
    // About the size of a connector.query request.
    const payload = new TextEncoder().encode(JSON.stringify({ tenant_id: "bench", id: s.sourceId, sql: SQL, limit: 1000, timeout_ms: 30000, read_only: true, stream: false }));
    const nats = () => s.nc.request(s.echoSubject, payload, { timeout: 5000 });
    const http = () => call(s.httpEchoUrl, ctx.token, "POST", path, { sql: SQL });

    const g1 = await latencies(gw, n, 50);
    const p1 = await latencies(direct, n, 50);
    const n1 = await latencies(nats, n, 50);
    const h1 = await latencies(http, n, 50);
    const gT = await throughput(gw, 32, seconds);
    const pT = await throughput(direct, 32, seconds);
    const nT = await throughput(nats, 32, seconds);
    const hT = await throughput(http, 32, seconds);
    return {
      "gw.p50": quantile(g1, 0.5), "gw.p99": quantile(g1, 0.99), "gw.qps": gT,
      "pg.p50": quantile(p1, 0.5), "pg.p99": quantile(p1, 0.99), "pg.qps": pT,
      "nats.p50": quantile(n1, 0.5), "nats.p99": quantile(n1, 0.99), "nats.qps": nT,
      "http.p50": quantile(h1, 0.5), "http.qps": hT,
    };
  },
  async teardown(_ctx, s) {
    await s.pool.end();
    await s.nc.close();
    await s.stopEcho();
    await s.stopHttpEcho();
  },
  rows: () => [
    { label: "small query p50 (c=1)", unit: "ms", system: "gw.p50", baseline: "pg.p50", baselineName: "pg direct", target: plusAtMost(1) },
    { label: "small query p99 (c=1)", unit: "ms", system: "gw.p99", baseline: "pg.p99", baselineName: "pg direct" },
    { label: "small query throughput (c=32)", unit: "q/s", system: "gw.qps", baseline: "pg.qps", baselineName: "pg direct", target: atLeast(0.4) },
    { label: "small query p50 vs NATS echo (bus floor)", unit: "ms", system: "gw.p50", baseline: "nats.p50", baselineName: "NATS req-reply" },
    { label: "small query c=32 vs NATS echo", unit: "q/s", system: "gw.qps", baseline: "nats.qps", baselineName: "NATS req-reply" },
    { label: "small query p50 vs bare HTTP echo (HTTP floor)", unit: "ms", system: "gw.p50", baseline: "http.p50", baselineName: "node:http echo" },
    { label: "small query c=32 vs bare HTTP echo", unit: "q/s", system: "gw.qps", baseline: "http.qps", baselineName: "node:http echo" },
  ],
};
