/**
 * Embedded mode's small query next to its floors, CPU per query read from /proc:
 * `tsx test/bench/lib/probe-embedded.ts`. Targets, each at c=32 for PROBE_SECONDS (3) per round,
 * PROBE_ROUNDS (3) rounds interleaved: `pg` queried directly from this process, `http-pg.ts` (one
 * Node process: HTTP, a cached token check, the query on a pg pool: the floor of a one-process
 * server), embedded mode (`node dist/start-all.js`), and embedded mode's cached answer. For the
 * servers, the server process's CPU per query; for all, the database backends' CPU is not counted.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { SignJWT } from "jose";
import pg from "pg";
import { cleanup, JWT_SECRET, ROOT, stopChild } from "./setup.ts";
import { startEmbedded } from "./embedded.ts";
import { call } from "./http.ts";
import { connectSource, scratchDb } from "./source-db.ts";
import type { Ctx } from "./scenario.ts";

const SQL = "select * from small10";
const BODY = { sql: SQL, limit: 100 };
const statMs = (path: string) => {
  const f = readFileSync(path, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
};
const cpuMs = (pid: number) => statMs(`/proc/${pid}/stat`);
/** The main thread's CPU alone: the rest is V8's compiler and GC threads, libuv's pool. */
const mainThreadMs = (pid: number) => statMs(`/proc/${pid}/task/${pid}/stat`);

/** Completed calls per second at c=32 and the server's CPU µs per call (pid 0: none). */
async function load(fn: () => Promise<unknown>, pid: number, seconds: number): Promise<{ qps: number; cpuUs: number; mainUs: number; selfUs: number }> {
  const warmEnd = performance.now() + 300;
  const end = warmEnd + seconds * 1000;
  let done = 0;
  let before = 0;
  let mainBefore = 0;
  let selfBefore = 0;
  const worker = async () => {
    while (performance.now() < warmEnd) await fn();
    while (performance.now() < end) { await fn(); done++; }
  };
  setTimeout(() => { before = pid ? cpuMs(pid) : 0; mainBefore = pid ? mainThreadMs(pid) : 0; selfBefore = cpuMs(process.pid); }, 300);
  await Promise.all(Array.from({ length: 32 }, worker));
  const elapsed = (performance.now() - warmEnd) / 1000;
  const cpu = pid ? cpuMs(pid) - before : 0;
  const main = pid ? mainThreadMs(pid) - mainBefore : 0;
  return { qps: done / elapsed, cpuUs: (cpu * 1000) / done, mainUs: (main * 1000) / done, selfUs: ((cpuMs(process.pid) - selfBefore) * 1000) / done };
}

const ok = (what: string) => (r: { status: number; body: Buffer }) => {
  if (r.status !== 200) throw new Error(`${what} ${r.status}: ${r.body.toString().slice(0, 300)}`);
};

try {
  const token = await new SignJWT({ tenant_id: "probe" }).setProtectedHeader({ alg: "HS256" }).setSubject("u1").setExpirationTime("6h").sign(new TextEncoder().encode(JWT_SECRET));
  const db = await scratchDb("dsb_probe_emb");
  await db.client.query("create table small10 (id int primary key, name text not null, price float8, day date, active boolean)");
  await db.client.query("insert into small10 select g, 'item ' || g, g * 1.25, date '2024-01-01' + g, g % 2 = 0 from generate_series(1, 10) g");
  const emb = await startEmbedded();
  const ctx = { token, cluster: { url: emb.url } } as unknown as Ctx;
  const sourceId = await connectSource(ctx, db.name, "probe small", emb.url);
  const floor = spawn(process.execPath, ["--import", "tsx", "test/bench/lib/http-pg.ts", db.url], { cwd: ROOT, env: { ...process.env, JWT_SECRET }, stdio: ["ignore", "pipe", "inherit"] });
  const floorPort = await new Promise<number>((res) => floor.stdout!.once("data", (d: Buffer) => res(Number(d.toString().trim()))));
  const pool = new pg.Pool({ connectionString: db.url, max: 32 });
  const path = `/api/data/sources/${sourceId}/query`;
  const targets: [string, number, () => Promise<unknown>][] = [
    ["pg direct", 0, () => pool.query(SQL)],
    ["http-pg floor", floor.pid!, async () => ok("floor")(await call(`http://127.0.0.1:${floorPort}`, token, "POST", path, BODY))],
    ["embedded", emb.pid, async () => ok("embedded")(await call(emb.url, token, "POST", path, BODY))],
    ["embedded cached", emb.pid, async () => ok("cached")(await call(emb.url, token, "POST", path, { ...BODY, cache_ttl_seconds: 3600 }))],
    ["embedded /healthz", emb.pid, async () => ok("healthz")(await call(emb.url, token, "GET", "/healthz"))],
  ];
  const only = process.env.PROBE_ONLY?.split(",");
  const seconds = Number(process.env.PROBE_SECONDS ?? 3);
  for (let round = 0; round < Number(process.env.PROBE_ROUNDS ?? 3); round++) {
    for (const [name, pid, fn] of targets) {
      if (only && !only.includes(name)) continue;
      const r = await load(fn, pid, seconds);
      console.log(`${name.padEnd(18)} c32 ${Math.round(r.qps)} q/s  server CPU ${pid ? Math.round(r.cpuUs) : "-"} µs/q (main thread ${pid ? Math.round(r.mainUs) : "-"})  client CPU ${Math.round(r.selfUs)} µs/q`);
    }
    console.log(`-- round ${round + 1}, load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
  }
  await pool.end();
  await stopChild(floor);
} finally {
  await cleanup();
}
