/**
 * CPU time each process spends per small query, in distributed mode: `tsx test/bench/lib/probe-cpu.ts`
 * (PROBE_N queries per pass, PROBE_C at once (8), PROBE_CACHED=1 for the cached query).
 * Read from /proc rather than timed, so it stays comparable on a busy machine where latencies do not
 * (a ratio between two trees is meaningful; the absolute µs grow with contention).
 */
import { readdirSync, readFileSync } from "node:fs";
import { cleanup, startCluster } from "./setup.ts";
import { call } from "./http.ts";
import { connectSource, scratchDb } from "./source-db.ts";
import type { Ctx } from "./scenario.ts";

const cpuMs = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
};

/** Machine-wide busy CPU ms (all cores), and the CPU of the shared servers on the path (others' load included when the machine is shared). */
const machineBusyMs = () => {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) * 10;
};
const pidsNamed = (comm: string) => readdirSync("/proc").filter((d) => /^\d+$/.test(d)).filter((d) => {
  try { return readFileSync(`/proc/${d}/comm`, "utf8").trim() === comm; } catch { return false; }
}).map(Number);
const sumCpuMs = (pids: number[]) => pids.reduce((a, p) => { try { return a + cpuMs(p); } catch { return a; } }, 0);

/** PROBE_CACHED=1: the query with a cache TTL, answered from the gateway's result cache after the first. */
const cached = process.env.PROBE_CACHED === "1";

try {
  const cluster = await startCluster();
  const token = await cluster.token();
  const ctx = { cluster, token, log: () => {}, note: () => {} } as unknown as Ctx;
  const db = await scratchDb("dsb_bench_cpu");
  await db.client.query("create table small10 as select g as id, 'item ' || g as name from generate_series(1, 10) g");
  const id = await connectSource(ctx, db.name, "cpu");
  const one = async () => {
    const r = await call(cluster.url, token, "POST", `/api/data/sources/${id}/query`, { sql: "select * from small10", ...(cached ? { cache_ttl_seconds: 3600 } : {}) });
    if (r.status !== 200) throw new Error(r.body.toString());
  };
  const n = Number(process.env.PROBE_N ?? 3000);
  const c = Number(process.env.PROBE_C ?? 8);
  for (let i = 0; i < 500; i++) await one();
  const pids = Object.entries(cluster.pids).filter(([s]) => s !== "ingestion");
  for (let round = 0; round < 3; round++) {
    const before = pids.map(([, pid]) => cpuMs(pid));
    const self = process.cpuUsage();
    const shared = { nats: sumCpuMs(pidsNamed("nats-server")), pg: sumCpuMs(pidsNamed("postgres")), all: machineBusyMs() };
    let next = 0;
    const t = performance.now();
    await Promise.all(Array.from({ length: c }, async () => { while (next++ < n) await one(); }));
    const s = (performance.now() - t) / 1000;
    const per = pids.map(([svc, pid], i) => `${svc} ${Math.round(((cpuMs(pid) - before[i]!) * 1000) / n)}`);
    const client = process.cpuUsage(self);
    per.push(`client ${Math.round((client.user + client.system) / n)}`);
    const us = (ms: number) => Math.round((ms * 1000) / n);
    per.push(`| nats-server ${us(sumCpuMs(pidsNamed("nats-server")) - shared.nats)}  postgres ${us(sumCpuMs(pidsNamed("postgres")) - shared.pg)}  machine ${us(machineBusyMs() - shared.all)} of ${Math.round((2e6 * s) / n)}`);
    console.log(`${cached ? "cached " : ""}c=${c} ${Math.round(n / s)} q/s  CPU µs per query: ${per.join("  ")}`);
  }
} finally {
  await cleanup();
}
