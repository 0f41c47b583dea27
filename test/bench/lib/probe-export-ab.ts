/**
 * CSV exports of two or more settings turn by turn: `tsx test/bench/lib/probe-export-ab.ts
 * "name:VAR=1 VAR2=x" "other:VAR=2" …` starts one system per setting (the variables reach its
 * processes; CLIENT=inline puts that setting's HTTP client in this process, as the bench had it
 * before drain-child.ts) on one private nats-server, then runs PROBE_ROUNDS (8) exports of
 * PROBE_ROWS (1M) rows through each in turn (the order rotated every round, after a discarded
 * first round each) and one `psql \copy` a round, and prints per setting the median and range of:
 * psql's time over the export's, the wall time, the CPU ms per million rows of gateway, connector,
 * nats-server (private: this probe's alone), the PostgreSQL backend serving the COPY and the
 * client, their voluntary context switches, and the peak RSS of gateway and connector. Turn by turn
 * in the same minutes, so a loaded machine inflates every setting alike; CPU is the steadier
 * figure. PROBE_PERF=<dir> records round 2 with `perf record` (BENCH_NODE_ARGS=--perf-basic-prof
 * names the JavaScript), PROBE_VERBOSE=1 prints every run.
 */
import { spawn } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { cleanup, startCluster, type Cluster } from "./setup.ts";
import { timeCommand } from "./child.ts";
import { drain } from "./http.ts";
import { drainer } from "./drain-child.ts";
import { connectSource, copyBackend, createExportTable, scratchDb } from "./source-db.ts";
import type { Ctx } from "./scenario.ts";
import { TestNatsServer } from "../../support/nats-server.ts";

const cpuMs = (pid: number): number => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
};
/** Voluntary context switches of all a process's threads: how often it went to sleep. */
const sleeps = (pid: number): number => readdirSync(`/proc/${pid}/task`).reduce((n, t) => {
  try {
    return n + Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${t}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return n;
  }
}, 0);

const hwmMb = (pid: number) => Math.round(Number(/^VmHWM:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024);
const rows = Number(process.env.PROBE_ROWS ?? 1_000_000);
const rounds = Number(process.env.PROBE_ROUNDS ?? 8);
const sql = `select * from export_t limit ${rows}`;
const settings = process.argv.slice(2).map((arg) => {
  const [name, vars = ""] = arg.split(/:(.*)/s);
  const env = Object.fromEntries(vars.split(/\s+/).filter(Boolean).map((kv) => kv.split(/=(.*)/s).slice(0, 2) as [string, string]));
  const inline = env.CLIENT === "inline";
  delete env.CLIENT;
  return { name: name!, env, inline };
});
if (settings.length === 0) throw new Error('usage: probe-export-ab.ts "name:VAR=value …" …');

const nats = await TestNatsServer.start();
/** A setting with CLIENT=inline has its client in this process (as the bench had it); the others share a client process. */
const client = await drainer();
try {
  const db = await scratchDb("dsb_probe_export_ab");
  await createExportTable(db.client, rows);
  const systems: { name: string; inline: boolean; cluster: Cluster; token: string; id: string; runs: Record<string, number>[] }[] = [];
  for (const s of settings) {
    const cluster = await startCluster({ natsUrl: nats.url, env: s.env });
    const token = await cluster.token();
    const ctx = { cluster, token, log: () => {}, note: () => {} } as unknown as Ctx;
    const id = await connectSource(ctx, db.name, `probe export ${s.name}`);
    await drain(cluster.url, token, `/api/data/sources/${id}/query`, { sql: `select * from export_t limit 50000`, timeout_ms: 600_000 }, "text/csv");
    systems.push({ name: s.name, inline: s.inline, cluster, token, id, runs: [] });
  }
  const per = (ms: number) => Math.round((ms * 1e6) / rows);
  const psqlMs: number[] = [];
  for (let round = 0; round <= rounds; round++) {
    const order = systems.map((_, i) => systems[(i + round) % systems.length]!);
    for (const s of order) {
      const procs: Record<string, number> = { gateway: s.cluster.pids.gateway, connector: s.cluster.pids.connector, nats: nats.pid! };
      const cpu0 = Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, cpuMs(p)]));
      const sleep0 = Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, sleeps(p)]));
      // PROBE_PERF=<dir>: round 2's exports sampled by `perf record` (cpu-clock, with kernel stacks) per process.
      const perfDir = round === 2 ? process.env.PROBE_PERF : undefined;
      const perfs = perfDir ? Object.entries({ ...procs, client: s.inline ? process.pid : client.pid }).map(([k, p]) => spawn("perf", ["record", "-q", "-e", "cpu-clock", "-F", "2000", "-g", "-p", String(p), "-o", `${perfDir}/${s.name}-${k}.data`], { stdio: "ignore" })) : [];
      if (perfs.length) await new Promise((ok) => setTimeout(ok, 300));
      for (const p of [procs.gateway!, procs.connector!]) writeFileSync(`/proc/${p}/clear_refs`, "5");
      const client0 = process.cpuUsage();
      const t0 = performance.now();
      const args = [s.cluster.url, s.token, `/api/data/sources/${s.id}/query`, { sql, timeout_ms: 600_000 }, "text/csv"] as const;
      const running = s.inline ? drain(...args).then((r) => ({ ...r, cpuMs: NaN })) : client.drain(...args);
      const pg = await copyBackend(db);
      const pg0 = pg ? cpuMs(pg) : NaN;
      const r = await running;
      await Promise.all(perfs.map((p) => new Promise((ok) => { p.once("exit", ok); p.kill("SIGINT"); })));
      const pgMs = pg ? cpuMs(pg) - pg0 : NaN;
      const wall = performance.now() - t0;
      const c = process.cpuUsage(client0);
      if (r.status !== 200 || r.lines !== rows + 1) throw new Error(`${s.name}: status ${r.status}, ${r.lines} lines: ${r.head.slice(0, 200)}`);
      const run: Record<string, number> = { wall: Math.round(wall), load: Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]) };
      for (const [k, p] of Object.entries(procs)) {
        run[k] = per(cpuMs(p) - cpu0[k]!);
        run[`${k}.sleeps`] = sleeps(p) - sleep0[k]!;
      }
      run["gateway.hwm"] = hwmMb(procs.gateway!);
      run["connector.hwm"] = hwmMb(procs.connector!);
      run.postgres = per(pgMs);
      run.client = per(!s.inline ? r.cpuMs : (c.user + c.system) / 1000);
      run.ours = run.gateway! + run.connector! + run.nats! + run.client!;
      if (round > 0) s.runs.push({ ...run, round });
      if (process.env.PROBE_VERBOSE === "1") console.log(`${round} ${s.name} ${JSON.stringify(run)}`);
    }
    // The baseline once a round, in the same minutes: `psql \copy` of the same select.
    const ms = await timeCommand("psql", ["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", db.name, "-c", `\\copy (${sql}) to stdout csv`]);
    if (round > 0) {
      psqlMs.push(Math.round(ms));
      for (const s of systems) { const r = s.runs.find((x) => x.round === round); if (r) r["psql/gw"] = Math.round((ms / r.wall!) * 100) / 100; }
    }
  }
  const keys = ["psql/gw", "wall", "postgres", "gateway", "connector", "nats", "client", "ours", "gateway.sleeps", "connector.sleeps", "nats.sleeps", "gateway.hwm", "connector.hwm", "load"];
  const med = (xs: number[]) => { const v = [...xs].sort((a, b) => a - b); return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2; };
  console.log(`median [min–max] over ${rounds} rounds, CPU in ms per ${rows.toLocaleString("en-US")} rows; psql \\copy ${med(psqlMs)} ms [${Math.min(...psqlMs)}–${Math.max(...psqlMs)}]`);
  for (const s of systems) {
    console.log(`${s.name.padEnd(10)} ${keys.map((k) => {
      const xs = s.runs.map((r) => r[k]!).filter(Number.isFinite);
      return `${k} ${med(xs)} [${Math.min(...xs)}–${Math.max(...xs)}]`;
    }).join(", ")}`);
  }
} finally {
  client.stop();
  await cleanup();
  await nats.dispose();
}
