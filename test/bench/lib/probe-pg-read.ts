/**
 * A capped read through the connector's PostgreSQL driver alone, at c=32 (PROBE_ROUNDS turns of PROBE_N reads each way):
 * `tsx test/bench/lib/probe-pg-read.ts` prints the CPU per read of this process (the driver's side)
 * and of the reads' own PostgreSQL backends, from /proc. Timeout 999 ms (under the driver's
 * KEEP_TIMEOUT_FROM_MS: SET LOCAL in every read) alternates with 30000 (kept by the session).
 */
import { readFileSync } from "node:fs";
import type { ConfigOf } from "@dsb/contracts";
import { connectChecked } from "../../../services/connector/src/address-policy.ts";
import { postgresqlDriver } from "../../../services/connector/src/drivers/postgresql/driver.ts";
import { cleanup } from "./setup.ts";
import { scratchDb } from "./source-db.ts";

const cpuMs = (pid: number) => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
};

try {
  const db = await scratchDb("dsb_bench_pgread");
  await db.client.query("create table small10 as select g as id, 'item ' || g as name from generate_series(1, 10) g");
  const u = new URL(db.url);
  const config = { type: "postgresql", host: u.hostname, port: Number(u.port || 5432), username: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: db.name, allow_writes: false } as ConfigOf<"postgresql">;
  const conn = await connectChecked(postgresqlDriver, config, { allowPrivateHosts: true });
  const read = async (timeoutMs: number) => {
    const s = await conn.query("select * from small10", [], { readOnly: true, timeoutMs, signal: new AbortController().signal, batchRows: 101, maxRows: 101 });
    for (let r = await s.batches.next(); !r.done; r = await s.batches.next());
  };
  const n = Number(process.env.PROBE_N ?? 2000);
  const pass = async (timeoutMs: number) => {
    let next = 0;
    await Promise.all(Array.from({ length: 32 }, async () => { while (next++ < n) await read(timeoutMs); }));
  };
  await pass(30000);
  await pass(999);
  const backends = (await db.client.query("select pid from pg_stat_activity where datname = $1 and application_name = 'dsb-connector'", [db.name])).rows.map((r) => r.pid as number);
  const backendMs = () => backends.reduce((a, p) => a + cpuMs(p), 0);
  // Short passes taking turns, summed per timeout: the machine's load drifts alike under both.
  const total = { 999: { cpu: 0, backends: 0, s: 0 }, 30000: { cpu: 0, backends: 0, s: 0 } };
  const rounds = Number(process.env.PROBE_ROUNDS ?? 20);
  for (let round = 0; round < rounds; round++) {
    for (const timeoutMs of [999, 30000] as const) {
      const b0 = backendMs();
      const self0 = process.cpuUsage();
      const t = performance.now();
      await pass(timeoutMs);
      const self = process.cpuUsage(self0);
      total[timeoutMs].cpu += (self.user + self.system) / 1000;
      total[timeoutMs].backends += backendMs() - b0;
      total[timeoutMs].s += (performance.now() - t) / 1000;
    }
  }
  for (const timeoutMs of [999, 30000] as const) {
    const { cpu, backends: b, s } = total[timeoutMs];
    const us = (ms: number) => ((ms * 1000) / (n * rounds)).toFixed(0);
    console.log(`timeout ${String(timeoutMs).padStart(5)} ms: ${Math.round((n * rounds) / s)} reads/s  CPU µs per read: driver ${us(cpu)}  backends ${us(b)} (${backends.length})`);
  }
  await conn.close();
} finally {
  await cleanup();
}
