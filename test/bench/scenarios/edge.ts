import { execFileSync } from "node:child_process";
import { JWT_SECRET, onCleanup, startCluster, type Cluster } from "../lib/setup.ts";
import { call, drain } from "../lib/http.ts";
import { watchRss } from "../lib/rss.ts";
import type { Ctx, Round, Scenario } from "../lib/scenario.ts";
import { connectSource, createExportTable, scratchDb } from "../lib/source-db.ts";
import { latencies, quantile, throughput } from "../lib/stats.ts";
import { TestNatsServer } from "../../support/nats-server.ts";
import { EDGE_RUNTIMES, startEdgeGateway } from "../../support/edge-gateway.ts";

const ENTRIES = ["node", ...EDGE_RUNTIMES] as const;
type Entry = (typeof ENTRIES)[number];
const SMALL_SQL = "select * from small10";
const exportRowsOf = (ctx: Ctx) => Number(process.env.BENCH_EXPORT_ROWS ?? (ctx.opts.quick ? 200_000 : 1_000_000));

interface State {
  cluster: Cluster;
  token: string;
  urls: Record<Entry, string>;
  /** The process whose memory is the runtime's (workerd itself, not the script that starts it). */
  pids: Record<Entry, number>;
  smallId: string;
  exportId: string;
  rows: number;
}

/** The child process a start script runs (scripts/workerd.mjs → workerd). */
const childOf = (pid: number): number => Number(execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" }).trim().split("\n")[0]);
const rssMb = (pid: number): number => Number(/^VmRSS:\s+(\d+) kB/m.exec(execFileSync("cat", [`/proc/${pid}/status`], { encoding: "utf8" }))?.[1] ?? 0) / 1024;

/**
 * The same system behind three gateways at once: Node (the cluster's), workerd and Deno (NATS over
 * WebSocket), on a private nats-server with a WebSocket listener. Small query p50 (c=1) and
 * throughput (c=32), a 1M-row CSV export, and each gateway process's memory.
 */
export const edge: Scenario<State> = {
  name: "edge",
  describe: "gateway on Node vs workerd vs Deno: small query p50 / c=32, 1M-row CSV export, RSS",
  async setup(ctx) {
    const nats = await TestNatsServer.startWithWebSocket();
    onCleanup(() => nats.dispose());
    const cluster = await startCluster({ natsUrl: nats.url });
    const token = await cluster.token();
    const own: Ctx = { ...ctx, cluster, token };
    const urls = { node: cluster.url } as Record<Entry, string>;
    const pids = { node: cluster.pids.gateway } as Record<Entry, number>;
    for (const runtime of EDGE_RUNTIMES) {
      const gw = await startEdgeGateway(runtime, { NATS_URL: nats.wsUrl, JWT_SECRET, BUS_NAMESPACE: cluster.namespace, LOG_LEVEL: "warn" });
      onCleanup(() => gw.stop());
      urls[runtime] = gw.url;
      pids[runtime] = runtime === "workerd" ? childOf(gw.pid) : gw.pid;
    }
    const rows = exportRowsOf(ctx);
    const db = await scratchDb("dsb_bench_edge");
    await db.client.query("create table small10 (id int primary key, name text not null, price float8, day date, active boolean)");
    await db.client.query("insert into small10 select g, 'item ' || g, g * 1.25, date '2024-01-01' + g, g % 2 = 0 from generate_series(1, 10) g");
    ctx.log(`  creating export_t with ${rows.toLocaleString("en-US")} rows`);
    await createExportTable(db.client, rows);
    const smallId = await connectSource(own, db.name, "bench edge small");
    const exportId = smallId; // one source, two tables
    for (const entry of ENTRIES) {
      const r = await call(urls[entry], token, "POST", `/api/data/sources/${smallId}/query`, { sql: SMALL_SQL });
      if (r.status !== 200) throw new Error(`small query through ${entry}: ${r.status} ${r.body.toString().slice(0, 300)}`);
    }
    return { cluster, token, urls, pids, smallId, exportId, rows };
  },
  async round(ctx, s, index) {
    const n = ctx.opts.quick ? 300 : 2000;
    const seconds = ctx.opts.quick ? 2 : 5;
    const out: Round = {};
    // Each round starts with another entry, so a busy moment of the machine does not always land on the same one.
    const order = ENTRIES.map((_, i) => ENTRIES[(i + index) % ENTRIES.length]!);
    for (const entry of order) {
      out[`${entry}.idle_rss`] = rssMb(s.pids[entry]);
      const q = async () => {
        const r = await call(s.urls[entry], s.token, "POST", `/api/data/sources/${s.smallId}/query`, { sql: SMALL_SQL });
        if (r.status !== 200) throw new Error(`${entry} small query ${r.status}: ${r.body.toString().slice(0, 300)}`);
      };
      const lat = await latencies(q, n, 50);
      out[`${entry}.p50`] = quantile(lat, 0.5);
      out[`${entry}.qps`] = await throughput(q, 32, seconds);
      const rss = watchRss({ gw: s.pids[entry] });
      const t0 = performance.now();
      const r = await drain(s.urls[entry], s.token, `/api/data/sources/${s.exportId}/query`, { sql: `select * from export_t limit ${s.rows}` }, "text/csv");
      const secs = (performance.now() - t0) / 1000;
      const peak = rss.stop().gw!;
      if (r.status !== 200 || r.lines !== s.rows + 1) throw new Error(`${entry} export: status ${r.status}, ${r.lines} lines: ${r.head.slice(0, 300)}`);
      out[`${entry}.export_rows_s`] = s.rows / secs;
      out[`${entry}.export_rss`] = peak.hwmMb;
    }
    return out;
  },
  rows: (o) => {
    const n = o.quick ? "small" : "1M";
    return EDGE_RUNTIMES.flatMap((rt) => [
      { label: `small query p50 (c=1), ${rt}`, unit: "ms", system: `${rt}.p50`, baseline: "node.p50", baselineName: "Node gateway" },
      { label: `small query c=32, ${rt}`, unit: "q/s", system: `${rt}.qps`, baseline: "node.qps", baselineName: "Node gateway" },
      { label: `export ${n} rows CSV, ${rt}`, unit: "rows/s", system: `${rt}.export_rows_s`, baseline: "node.export_rows_s", baselineName: "Node gateway" },
      { label: `gateway RSS idle, ${rt}`, unit: "MiB", system: `${rt}.idle_rss`, baseline: "node.idle_rss", baselineName: "Node gateway" },
      { label: `gateway peak RSS in export ${n}, ${rt}`, unit: "MiB", system: `${rt}.export_rss`, baseline: "node.export_rss", baselineName: "Node gateway" },
    ]);
  },
};
