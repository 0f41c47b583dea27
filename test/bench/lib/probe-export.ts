/**
 * Where a CSV export's time goes: `tsx test/bench/lib/probe-export.ts`. Runs PROBE_ROWS (1M) rows
 * through the gateway PROBE_ROUNDS (3) times next to `psql \copy` and prints, per round, the wall
 * time and the CPU each process spent per million rows, read from /proc: gateway, connector, the
 * PostgreSQL backend serving the COPY, nats-server (shared with other users of the machine, so an
 * upper bound) and this client. CPU over wall time says whether the pipeline is CPU-bound on the
 * machine's cores or waits on its round trips. PROBE_FORMAT=ndjson exports NDJSON instead.
 */
import { readFileSync, readdirSync } from "node:fs";
import { cleanup, startCluster } from "./setup.ts";
import { drain } from "./http.ts";
import { timeCommand } from "./child.ts";
import { connectSource, createExportTable, scratchDb } from "./source-db.ts";
import type { Ctx } from "./scenario.ts";

const cpuMs = (pid: number): number => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
};
const hwmMb = (pid: number) => Number(/^VmHWM:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
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
  const id = await connectSource(ctx, db.name, "probe export");
  const nats = pidOf("nats-server");
  // The backend of a COPY from this database, found while it runs.
  const backend = async (): Promise<number | undefined> => {
    for (let i = 0; i < 100; i++) {
      const r = await db.client.query<{ pid: number }>("select pid from pg_stat_activity where datname = $1 and state = 'active' and query ilike 'copy%' and pid <> pg_backend_pid() limit 1", [db.name]);
      if (r.rows[0]) return r.rows[0].pid;
      await new Promise((ok) => setTimeout(ok, 20));
    }
    return undefined;
  };
  const accept = format === "csv" ? "text/csv" : "application/x-ndjson";
  await drain(cluster.url, token, `/api/data/sources/${id}/query`, { sql: `select * from export_t limit 50000`, timeout_ms: 600_000 }, accept);
  for (let round = 0; round < rounds; round++) {
    const procs: Record<string, number | undefined> = { gateway: cluster.pids.gateway, connector: cluster.pids.connector, nats };
    const before = Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, p ? cpuMs(p) : 0]));
    const client0 = process.cpuUsage();
    const t0 = performance.now();
    const running = drain(cluster.url, token, `/api/data/sources/${id}/query`, { sql, timeout_ms: 600_000 }, accept);
    const pgPid = format === "csv" ? await backend() : undefined;
    const pg0 = pgPid ? cpuMs(pgPid) : 0;
    const r = await running;
    const wall = performance.now() - t0;
    const pgMs = pgPid ? cpuMs(pgPid) - pg0 : NaN;
    const c = process.cpuUsage(client0);
    const per = (ms: number) => Math.round((ms * 1e6) / rows);
    const cpu: Record<string, number> = Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, p ? cpuMs(p) - before[k]! : 0]));
    cpu.postgres = pgMs;
    cpu.client = (c.user + c.system) / 1000;
    const total = Object.values(cpu).filter(Number.isFinite).reduce((a, b) => a + b, 0);
    const psqlMs = await timeCommand("psql", ["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", db.name, "-c", `\\copy (${sql}) to stdout csv`]);
    console.log(`${format} ${rows} rows: ${Math.round(wall)} ms (${Math.round(rows / wall * 1000)} rows/s, ${(r.bytes / 2 ** 20 / (wall / 1000)).toFixed(0)} MiB/s), psql ${Math.round(psqlMs)} ms → ${(psqlMs / wall).toFixed(2)}×; ` +
      `CPU ms per 1M rows: ${Object.entries(cpu).map(([k, v]) => `${k} ${per(v)}`).join(", ")}; total CPU / wall ${(total / wall).toFixed(2)} cores; ` +
      `HWM gateway ${hwmMb(cluster.pids.gateway).toFixed(0)} connector ${hwmMb(cluster.pids.connector).toFixed(0)} MiB`);
  }
} finally {
  await cleanup();
}
