/**
 * Where a CSV export's time goes: `tsx test/bench/lib/probe-export.ts`. Runs PROBE_ROWS (1M) rows
 * through the gateway PROBE_ROUNDS (3) times next to `psql \copy` and prints, per round, the wall
 * time and the CPU each process spent per million rows, read from /proc: gateway, connector, the
 * PostgreSQL backend serving the COPY, nats-server (shared with other users of the machine, so an
 * upper bound) and the client (a process of its own, as in the bench). CPU over wall time says
 * whether the pipeline is CPU-bound on the machine's cores or waits on its round trips. PROBE_FORMAT=ndjson exports NDJSON instead.
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { cleanup, onCleanup, startCluster } from "./setup.ts";
import { drainer } from "./drain-child.ts";
import { timeCommand } from "./child.ts";
import { connectSource, copyBackend, createExportTable, scratchDb } from "./source-db.ts";
import type { Ctx } from "./scenario.ts";
import { formatSplit, watchTimeSplit } from "./schedstat.ts";

/** User and system CPU ms of a process. */
const times = (pid: number): [number, number] => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return [Number(f[11]) * 10, Number(f[12]) * 10];
  } catch {
    return [0, 0];
  }
};
const cpuMs = (pid: number): number => times(pid)[0] + times(pid)[1];
const PROBE_SYS = process.env.PROBE_SYS === "1";
const statusMb = (pid: number, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
const hwmMb = (pid: number) => statusMb(pid, "VmHWM");
const rssMb = (pid: number) => statusMb(pid, "VmRSS");
const pidOf = (name: string) => readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number).find((p) => {
  try { return readFileSync(`/proc/${p}/comm`, "utf8").trim() === name; } catch { return false; }
});

const rows = Number(process.env.PROBE_ROWS ?? 1_000_000);
const rounds = Number(process.env.PROBE_ROUNDS ?? 3);
const format = process.env.PROBE_FORMAT === "ndjson" ? "ndjson" : "csv";
const sql = `select * from export_t limit ${rows}`;

try {
  const cluster = await startCluster();
  const token = await cluster.token();
  const ctx = { cluster, token, log: () => {}, note: () => {} } as unknown as Ctx;
  const db = await scratchDb("dsb_probe_export");
  await createExportTable(db.client, rows);
  const trace = (what: string) => process.env.PROBE_TRACE === "1" && console.log(`  connector RSS ${what}: ${rssMb(cluster.pids.connector).toFixed(0)} MiB`);
  trace("at start");
  const id = await connectSource(ctx, db.name, "probe export");
  const client = await drainer();
  onCleanup(() => client.stop());
  const drain = client.drain;
  trace("after connect");
  const nats = pidOf("nats-server");
  // The backend of a COPY from this database, found while it runs.
  const backend = () => copyBackend(db);
  const accept = format === "csv" ? "text/csv" : "application/x-ndjson";
  await drain(cluster.url, token, `/api/data/sources/${id}/query`, { sql: `select * from export_t limit 50000`, timeout_ms: 600_000 }, accept);
  trace("after a 50k-row export");
  for (let round = 0; round < rounds; round++) {
    const procs: Record<string, number | undefined> = { gateway: cluster.pids.gateway, connector: cluster.pids.connector, nats };
    const idle = [cluster.pids.gateway, cluster.pids.connector].map((pid) => rssMb(pid).toFixed(0)).join(" / ");
    for (const pid of [cluster.pids.gateway, cluster.pids.connector]) writeFileSync(`/proc/${pid}/clear_refs`, "5");
    const before = Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, p ? cpuMs(p) : 0]));
    const sysBefore = Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, p ? times(p)[1] : 0]));
    const t0 = performance.now();
    const running = drain(cluster.url, token, `/api/data/sources/${id}/query`, { sql, timeout_ms: 600_000 }, accept);
    const pgPid = format === "csv" ? await backend() : undefined;
    const pg0 = pgPid ? cpuMs(pgPid) : 0;
    const pgSplit = pgPid ? watchTimeSplit(pgPid) : undefined;
    const series: number[] = [];
    const sampler = process.env.PROBE_TRACE === "1" ? setInterval(() => series.push(Math.round(rssMb(cluster.pids.connector))), 100) : undefined;
    const r = await running;
    const ourBackend = pgSplit?.stop();
    clearInterval(sampler);
    if (sampler) console.log(`  connector RSS every 100 ms: ${series.join(" ")}`);
    const wall = performance.now() - t0;
    const pgMs = pgPid ? cpuMs(pgPid) - pg0 : NaN;
    const per = (ms: number) => Math.round((ms * 1e6) / rows);
    const cpu: Record<string, number> = Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, p ? cpuMs(p) - before[k]! : 0]));
    cpu.postgres = pgMs;
    cpu.client = r.cpuMs;
    const total = Object.values(cpu).filter(Number.isFinite).reduce((a, b) => a + b, 0);
    if (PROBE_SYS) console.log(`  of which system (kernel) CPU ms per 1M rows: ${Object.entries(procs).map(([k, p]) => `${k} ${per((p ? times(p)[1] : 0) - sysBefore[k]!)}`).join(", ")}`);
    const psql = timeCommand("psql", ["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", db.name, "-c", `\\copy (${sql}) to stdout csv`]);
    const psqlPid = format === "csv" ? await backend() : undefined;
    const psqlSplit = psqlPid ? watchTimeSplit(psqlPid) : undefined;
    const psqlMs = await psql;
    // The backend of a COPY: on a core, waiting for one (other processes had both), or asleep (its client was not reading).
    if (format === "csv") console.log(`  PostgreSQL backend, ours: ${formatSplit(ourBackend ?? null)}; psql's: ${formatSplit(psqlSplit?.stop() ?? null)}`);
    console.log(`${format} ${rows} rows: ${Math.round(wall)} ms (${Math.round(rows / wall * 1000)} rows/s, ${(r.bytes / 2 ** 20 / (wall / 1000)).toFixed(0)} MiB/s), psql ${Math.round(psqlMs)} ms → ${(psqlMs / wall).toFixed(2)}×; ` +
      `CPU ms per 1M rows: ${Object.entries(cpu).map(([k, v]) => `${k} ${per(v)}`).join(", ")}; total CPU / wall ${(total / wall).toFixed(2)} cores; ` +
      `peak RSS gateway ${hwmMb(cluster.pids.gateway).toFixed(0)} connector ${hwmMb(cluster.pids.connector).toFixed(0)} MiB (before: ${idle})`);
  }
  if (process.env.PROBE_SMAPS === "1") {
    // The connector's largest mappings by resident size: heap, WASM, malloc arenas, code.
    const maps = readFileSync(`/proc/${cluster.pids.connector}/smaps`, "utf8").split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/);
    const sized = maps.map((m) => ({ head: m.split("\n")[0]!, rss: Number(/^Rss:\s+(\d+)/m.exec(m)?.[1] ?? 0) / 1024 }));
    for (const m of sized.sort((a, b) => b.rss - a.rss).slice(0, 12)) console.log(`  ${m.rss.toFixed(1).padStart(6)} MiB  ${m.head}`);
    const anon = sized.filter((m) => !m.head.includes("/")).reduce((a, m) => a + m.rss, 0);
    console.log(`  anonymous ${anon.toFixed(0)} MiB, file-backed ${(sized.reduce((a, m) => a + m.rss, 0) - anon).toFixed(0)} MiB; ${readFileSync(`/proc/${cluster.pids.connector}/maps`, "utf8").includes("jemalloc") ? "jemalloc" : "glibc malloc"}`);
  }
} finally {
  await cleanup();
}
