import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import pg from "pg";
import { freePort, NATS_URL, ROOT, stopChild } from "../lib/setup.ts";
import { startEmbedded } from "../lib/embedded.ts";
import { call } from "../lib/http.ts";
import { atLeast, plusAtMost, timeWithin, type Ctx, type Round, type Scenario } from "../lib/scenario.ts";
import { startSeedPeer, type SeedPeer } from "../lib/seed-peer.ts";
import { scratchDb, connectSource } from "../lib/source-db.ts";
import { latencies, quantile, throughput } from "../lib/stats.ts";

const SQL = "select * from small10";
/** The one body every HTTP target gets (the seed-python peer reads `sql` and `limit` too). */
const BODY = { sql: SQL, limit: 100 };
const PEER_WORKERS = [1, 2];

interface State {
  db: Awaited<ReturnType<typeof scratchDb>>;
  pool: pg.Pool;
  sourceId: string;
  embedded: { url: string; sourceId: string };
  peer: SeedPeer | null;
  nc: NatsConnection;
  echoSubject: string;
  stopEcho(): Promise<void>;
  httpEchoUrl: string;
  stopHttpEcho(): Promise<void>;
}

/** A POST of BODY that must answer 200 (a failing target must not count as fast). */
const queryOf = (url: string, token: string, sourceId: string) => async () => {
  const r = await call(url, token, "POST", `/api/data/sources/${sourceId}/query`, BODY);
  if (r.status !== 200) throw new Error(`${url} query ${r.status}: ${r.body.toString().slice(0, 300)}`);
};

/** The small query with a cache TTL: after the first, answered from the result cache. */
const cachedQuery = (url: string, token: string, sourceId: string) => async () => {
  const r = await call(url, token, "POST", `/api/data/sources/${sourceId}/query`, { ...BODY, cache_ttl_seconds: 3600 });
  if (r.status !== 200) throw new Error(`${url} cached query ${r.status}: ${r.body.toString().slice(0, 300)}`);
};

async function checkTenRows(url: string, token: string, sourceId: string, what: string) {
  const r = await call(url, token, "POST", `/api/data/sources/${sourceId}/query`, BODY);
  const rows = r.status === 200 ? (JSON.parse(r.body.toString()) as { row_count: number }).row_count : -1;
  if (rows !== 10) throw new Error(`small query through ${what}: ${r.status} ${r.body.toString().slice(0, 300)}`);
}

const run = promisify(execFile);

/**
 * The pg baseline's query. PostgreSQL is shared by everyone's tests here: when it is at
 * max_connections (53300) a new pool connection waits and tries again rather than failing the run.
 */
async function pgQuery(pool: pg.Pool): Promise<unknown> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await pool.query(SQL);
    } catch (e) {
      if ((e as { code?: string }).code !== "53300" || attempt >= 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** probe-gateway.ts (gateway + stub services over NATS, no database): the floor of the distributed path. */
async function probeFloor(): Promise<Round> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", "test/bench/lib/probe-gateway.ts"], {
    cwd: ROOT, env: { ...process.env, PROBE_PORT: String(await freePort()) }, timeout: 120_000,
  });
  const m = stdout.match(/^query .*c32 (\d+) \/s\s+p50 ([\d.]+) ms/m);
  if (!m) throw new Error(`probe-gateway printed no query line: ${stdout.slice(0, 300)}`);
  return { "probe.qps": Number(m[1]), "probe.p50": Number(m[2]) };
}

/** p50/p99 at c=1 and throughput at c=32 of one target, as `<key>.p50`, `<key>.p99`, `<key>.qps`. */
async function measureTarget(ctx: Ctx, key: string, fn: () => Promise<unknown>): Promise<Round> {
  const n = ctx.opts.quick ? 300 : 2000;
  const seconds = ctx.opts.quick ? 2 : 5;
  const lat = await latencies(fn, n, 50);
  const qps = await throughput(fn, 32, seconds);
  return { [`${key}.p50`]: quantile(lat, 0.5), [`${key}.p99`]: quantile(lat, 0.99), [`${key}.qps`]: qps };
}

/**
 * `select` of 10 rows: the gateway (distributed and embedded) vs the pg driver directly, the
 * seed-python peer (the system we replace, 1 and 2 uvicorn workers), a raw NATS round trip, a bare
 * HTTP echo and probe-gateway.ts's floor.
 */
export const smallQuery: Scenario<State> = {
  name: "small-query",
  describe: "select of 10 rows: p50/p99 at concurrency 1, throughput at concurrency 32; baselines pg, seed-python peer, floors",
  async setup(ctx) {
    const db = await scratchDb("dsb_bench_small");
    await db.client.query("create table small10 (id int primary key, name text not null, price float8, day date, active boolean)");
    await db.client.query("insert into small10 select g, 'item ' || g, g * 1.25, date '2024-01-01' + g, g % 2 = 0 from generate_series(1, 10) g");
    const sourceId = await connectSource(ctx, db.name, "bench small");
    await checkTenRows(ctx.cluster.url, ctx.token, sourceId, "the gateway");
    const emb = await startEmbedded();
    const embSourceId = await connectSource(ctx, db.name, "bench small", emb.url);
    await checkTenRows(emb.url, ctx.token, embSourceId, "embedded mode");
    ctx.log("  setting up the seed-python peer (its setup.sh may install Debian packages)");
    const peerSetup = await startSeedPeer(db.name, PEER_WORKERS);
    let peer: SeedPeer | null = null;
    if (peerSetup.ok) {
      peer = peerSetup.peer;
      for (const w of PEER_WORKERS) await checkTenRows(peer.urls[w]!, peer.token, peer.sourceId, `the seed-python peer (${w} worker(s))`);
    } else ctx.note(`skipped the seed-python peer rows: ${peerSetup.reason}`);
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
    return {
      db, pool, sourceId, embedded: { url: emb.url, sourceId: embSourceId }, peer,
      nc, echoSubject, stopEcho: () => stopChild(echo), httpEchoUrl: `http://127.0.0.1:${port}`, stopHttpEcho: () => stopChild(httpEcho),
    };
  },
  async round(ctx, s) {
    // About the size of a connector.query request.
    const payload = new TextEncoder().encode(JSON.stringify({ tenant_id: "bench", id: s.sourceId, sql: SQL, limit: 1000, timeout_ms: 30000, read_only: true, stream: false }));
    const out: Round = {
      ...await measureTarget(ctx, "gw", queryOf(ctx.cluster.url, ctx.token, s.sourceId)),
      ...await measureTarget(ctx, "emb", queryOf(s.embedded.url, ctx.token, s.embedded.sourceId)),
      ...await measureTarget(ctx, "pg", () => pgQuery(s.pool)),
      ...await measureTarget(ctx, "nats", () => s.nc.request(s.echoSubject, payload, { timeout: 5000 })),
      ...await measureTarget(ctx, "http", () => call(s.httpEchoUrl, ctx.token, "POST", `/api/data/sources/${s.sourceId}/query`, BODY)),
      // The result cache: the same query answered from it (distributed: the JetStream KV bucket behind a
      // one-second local copy), next to an HTTP answer of the same gateway process that does nothing (/healthz).
      ...await measureTarget(ctx, "cached", cachedQuery(ctx.cluster.url, ctx.token, s.sourceId)),
      ...await measureTarget(ctx, "gwecho", () => call(ctx.cluster.url, ctx.token, "GET", "/healthz")),
    };
    for (const w of s.peer ? PEER_WORKERS : []) {
      // The peer's pools (5 + 10 per engine and process, as the seed has them) can meet the shared
      // server's max_connections: a failed baseline is noted, its rows stay empty, the rest stands.
      try {
        Object.assign(out, await measureTarget(ctx, `peer${w}`, queryOf(s.peer!.urls[w]!, s.peer!.token, s.peer!.sourceId)));
      } catch (e) {
        ctx.note(`seed-python peer (${w} worker(s)) not measured: ${e instanceof Error ? e.message.slice(0, 200) : e}`);
      }
    }
    try {
      Object.assign(out, await probeFloor());
    } catch (e) {
      ctx.note(`probe-gateway floor not measured: ${e instanceof Error ? e.message : e}`);
    }
    return out;
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
    ...PEER_WORKERS.flatMap((w) => [
      { label: `small query p50 (c=1) vs the seed, ${w} worker${w > 1 ? "s" : ""}`, unit: "ms", system: "gw.p50", baseline: `peer${w}.p50`, baselineName: `seed-python ${w}w`, target: timeWithin(0.25) },
      { label: `small query c=32 vs the seed, ${w} worker${w > 1 ? "s" : ""}`, unit: "q/s", system: "gw.qps", baseline: `peer${w}.qps`, baselineName: `seed-python ${w}w`, target: atLeast(10) },
    ]),
    { label: "seed-python peer p99 (c=1), 1 worker", unit: "ms", system: "peer1.p99" },
    { label: "embedded: small query p50 (c=1)", unit: "ms", system: "emb.p50", baseline: "pg.p50", baselineName: "pg direct" },
    { label: "embedded: small query throughput (c=32)", unit: "q/s", system: "emb.qps", baseline: "pg.qps", baselineName: "pg direct", target: atLeast(0.4) },
    { label: "embedded: c=32 vs the seed, 1 worker", unit: "q/s", system: "emb.qps", baseline: "peer1.qps", baselineName: "seed-python 1w" },
    { label: "small query c=32 vs probe-gateway floor", unit: "q/s", system: "gw.qps", baseline: "probe.qps", baselineName: "gateway + stubs" },
    { label: "small query p50 vs probe-gateway floor", unit: "ms", system: "gw.p50", baseline: "probe.p50", baselineName: "gateway + stubs" },
    { label: "small query p50 vs NATS echo (bus floor)", unit: "ms", system: "gw.p50", baseline: "nats.p50", baselineName: "NATS req-reply" },
    { label: "small query c=32 vs NATS echo", unit: "q/s", system: "gw.qps", baseline: "nats.qps", baselineName: "NATS req-reply" },
    { label: "small query p50 vs bare HTTP echo (HTTP floor)", unit: "ms", system: "gw.p50", baseline: "http.p50", baselineName: "node:http echo" },
    { label: "small query c=32 vs bare HTTP echo", unit: "q/s", system: "gw.qps", baseline: "http.qps", baselineName: "node:http echo" },
    { label: "cached small query p50 (c=1)", unit: "ms", system: "cached.p50", baseline: "gwecho.p50", baselineName: "gateway GET /healthz", target: plusAtMost(0.3) },
    { label: "cached small query p99 (c=1)", unit: "ms", system: "cached.p99", baseline: "pg.p99", baselineName: "pg direct" },
    { label: "cached small query throughput (c=32)", unit: "q/s", system: "cached.qps", baseline: "pg.qps", baselineName: "pg direct", target: atLeast(0.5) },
  ],
};
